//! The template set: embedded in the binary, each one replaceable by a file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::RenderError;
use crate::profile::input::{MAX_TEMPLATE_BYTES, read_text};

/// Extension every template file carries; the output file is named without it.
pub const TEMPLATE_EXTENSION: &str = ".j2";

/// The templates shipped in `templates/`, compiled into the binary.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "_db-init.sql.j2",
        include_str!("../../templates/_db-init.sql.j2"),
    ),
    (
        "bpm-ingress.yaml.j2",
        include_str!("../../templates/bpm-ingress.yaml.j2"),
    ),
    (
        "bpm-service.yaml.j2",
        include_str!("../../templates/bpm-service.yaml.j2"),
    ),
    (
        "db-init-job.yaml.j2",
        include_str!("../../templates/db-init-job.yaml.j2"),
    ),
    (
        "db-init-secret.sh.j2",
        include_str!("../../templates/db-init-secret.sh.j2"),
    ),
    (
        "eniconfigs.yaml.j2",
        include_str!("../../templates/eniconfigs.yaml.j2"),
    ),
    (
        "ingress-tls-secret.sh.j2",
        include_str!("../../templates/ingress-tls-secret.sh.j2"),
    ),
    (
        "kie-server-config.yaml.j2",
        include_str!("../../templates/kie-server-config.yaml.j2"),
    ),
    (
        "values-overlay.yaml.j2",
        include_str!("../../templates/values-overlay.yaml.j2"),
    ),
];

/// Where a template came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Embedded,
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Embedded => f.write_str("built in"),
            Self::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A set of named templates.
///
/// A name starting with `_` is a partial: other templates include it, and it renders no
/// file of its own.
#[derive(Debug, Clone)]
pub struct Templates {
    entries: BTreeMap<String, (String, Origin)>,
}

impl Templates {
    /// Returns the templates built into the binary.
    pub fn embedded() -> Self {
        Self {
            entries: EMBEDDED
                .iter()
                .map(|(name, source)| {
                    ((*name).to_owned(), ((*source).to_owned(), Origin::Embedded))
                })
                .collect(),
        }
    }

    /// Returns the built-in templates, with every `*.j2` file directly in `dir` replacing
    /// the built-in one of the same name or adding a new one.
    pub fn with_overrides(dir: &Path) -> Result<Self, RenderError> {
        let mut templates = Self::embedded();
        let read_dir = |source| RenderError::ReadDir {
            path: dir.to_path_buf(),
            source,
        };
        let mut found = false;
        for entry in std::fs::read_dir(dir).map_err(read_dir)? {
            let path = entry.map_err(read_dir)?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            // `path.is_file()` follows links, so a link to `/dev/zero` is not skipped here
            // but refused by `read_text`, with the reason.
            if !name.ends_with(TEMPLATE_EXTENSION) || path.is_dir() {
                continue;
            }
            let source =
                read_text(&path, "the template", MAX_TEMPLATE_BYTES).map_err(|source| {
                    RenderError::ReadTemplate {
                        path: path.clone(),
                        source,
                    }
                })?;
            templates
                .entries
                .insert(name.to_owned(), (source, Origin::File(path.clone())));
            found = true;
        }
        if !found {
            return Err(RenderError::NoTemplates {
                path: dir.to_path_buf(),
            });
        }
        Ok(templates)
    }

    /// Adds or replaces one template.
    pub fn insert(&mut self, name: impl Into<String>, source: impl Into<String>) {
        self.entries
            .insert(name.into(), (source.into(), Origin::Embedded));
    }

    /// Iterates over every template: name, source and origin.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &Origin)> {
        self.entries
            .iter()
            .map(|(name, (source, origin))| (name.as_str(), source.as_str(), origin))
    }

    /// Returns where a template came from.
    pub fn origin(&self, name: &str) -> Option<&Origin> {
        self.entries.get(name).map(|(_, origin)| origin)
    }

    /// Names of the templates that render a file, in order.
    pub fn file_templates(&self) -> impl Iterator<Item = &str> {
        self.entries
            .keys()
            .map(String::as_str)
            .filter(|name| !name.starts_with('_'))
    }
}

/// Returns the output file name of a template: its name without `.j2`.
pub fn output_name(template: &str) -> &str {
    template
        .strip_suffix(TEMPLATE_EXTENSION)
        .unwrap_or(template)
}
