//! The profile: one YAML file describing a whole BPA deployment.
//!
//! `RawProfile` (`raw`) mirrors the file; validation ([`parse`], [`load`]) checks it,
//! collecting every error at once with its YAML path and position, and returns a
//! [`Profile`] (`model`) that can only hold valid values.

mod diagnostics;
pub mod input;
pub mod model;
pub mod raw;
mod source;
mod validate;
pub mod versions;

use std::path::{Path, PathBuf};

pub use diagnostics::{ProfileError, ProfileErrors};
pub use model::*;
pub use raw::{API_VERSION, RawProfile};
pub use source::SourceMap;
pub use validate::{Problem, check_master_password};

/// Directory where profiles given by name live.
pub const PROFILES_DIR: &str = "profiles";

/// Turns `-p` into a file path: a name (no `/`, no `.yaml`) resolves to
/// `profiles/<name>.yaml`; anything else is taken as a path.
pub fn resolve_path(name_or_path: &str) -> PathBuf {
    let looks_like_path = name_or_path.contains(std::path::MAIN_SEPARATOR)
        || name_or_path.contains('/')
        || name_or_path.ends_with(".yaml")
        || name_or_path.ends_with(".yml");
    if looks_like_path {
        PathBuf::from(name_or_path)
    } else {
        Path::new(PROFILES_DIR).join(format!("{name_or_path}.yaml"))
    }
}

/// Parses and validates a profile's text; `origin` names it in errors (usually its path).
pub fn parse(text: &str, origin: &str) -> Result<Profile, ProfileErrors> {
    validate::parse_and_validate(text, origin)
}

/// Reads and validates the profile at `path`: a regular file of at most
/// [`input::MAX_PROFILE_BYTES`], nested at most [`input::MAX_PROFILE_DEPTH`] deep.
pub fn load(path: &Path) -> Result<Profile, LoadError> {
    let text =
        input::read_text(path, "the profile", input::MAX_PROFILE_BYTES).map_err(|source| {
            LoadError::Read {
                path: path.to_path_buf(),
                source,
            }
        })?;
    parse(&text, &path.display().to_string()).map_err(LoadError::Invalid)
}

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read profile {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: input::InputError,
    },
    #[error(transparent)]
    Invalid(ProfileErrors),
}

/// Returns the JSON Schema of the profile format.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RawProfile)).expect("a schema is plain JSON")
}

impl Profile {
    /// Lists the environment variables holding secrets that `up` and `db init` need,
    /// with whether `lookup` finds them set. The core never reads the environment itself.
    pub fn missing_secret_env(&self, lookup: impl Fn(&str) -> bool) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        if let MasterPassword::FromEnv(var) = &self.rds.master_password {
            names.push(var.clone());
        }
        names.extend(self.rds.databases.iter().map(|db| db.password_env.clone()));
        names.dedup();
        names.into_iter().filter(|name| !lookup(name)).collect()
    }
}
