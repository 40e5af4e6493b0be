//! Turns a profile's text into a [`Profile`], collecting every problem at once.
//!
//! Three stages, each only run when the one before found nothing, because later ones
//! need the shape the earlier ones guarantee:
//! 1. YAML syntax (one error at the parser's position: nothing after it is reliable);
//! 2. structure: the document against the profile's JSON Schema, which reports every
//!    unknown field, wrong type and missing field in one pass ([`structure`]);
//! 3. meaning: the typed [`RawProfile`] against AWS's and PostgreSQL's rules, deriving
//!    the defaults that depend on other fields ([`rules`]).
//!
//! Every error carries its YAML path; the [`SourceMap`] turns the path into a line and
//! column.

mod rules;
mod structure;
#[cfg(test)]
mod tests;

use super::diagnostics::{ProfileError, ProfileErrors};
use super::model::Profile;
use super::raw::RawProfile;
use super::source::{Location, SourceMap};

pub use rules::check_master_password;

/// Parses and validates a profile's text; `origin` names it in errors (usually its path).
pub fn parse_and_validate(text: &str, origin: &str) -> Result<Profile, ProfileErrors> {
    let map = SourceMap::new(text);
    let fail = |errors: Vec<ProfileError>| ProfileErrors::new(origin, text, locate(errors, &map));

    let document: serde_yaml::Value = match serde_yaml::from_str(text) {
        Ok(document) => document,
        Err(error) => return Err(fail(vec![syntax_error(&error, text)])),
    };
    let document = match serde_json::to_value(&document) {
        Ok(document) => document,
        Err(error) => {
            return Err(fail(vec![
                ProfileError::new("", format!("the YAML cannot be read as plain data: {error}"))
                    .with_hint("use only strings as mapping keys, and no YAML tags"),
            ]));
        }
    };

    let errors = structure::check(&document);
    if !errors.is_empty() {
        return Err(fail(errors));
    }

    // The schema accepts a few values serde refuses (integers beyond u32, for one);
    // deserializing the text rather than the value keeps serde's position for those.
    let raw: RawProfile = match serde_yaml::from_str(text) {
        Ok(raw) => raw,
        Err(error) => return Err(fail(vec![syntax_error(&error, text)])),
    };
    rules::check(&raw, &document).map_err(fail)
}

/// Makes one error of a YAML or serde failure, at the position it reports.
fn syntax_error(error: &serde_yaml::Error, text: &str) -> ProfileError {
    let mut message = error.to_string();
    // serde_yaml appends " at line L column C"; the position is shown separately.
    if let Some(at) = message.find(" at line ") {
        message.truncate(at);
    }
    let mut error_out = ProfileError::new("", message)
        .with_hint("fix the YAML at this position; nothing after it could be checked");
    if let Some(location) = error.location() {
        let offset = location.index().min(text.len());
        let len = text[offset..].chars().next().map_or(0, char::len_utf8);
        error_out.location =
            Some(Location { offset, len, line: location.line(), column: location.column() });
    }
    error_out
}

/// Gives every error without a position the position of its path's value.
fn locate(mut errors: Vec<ProfileError>, map: &SourceMap) -> Vec<ProfileError> {
    for error in &mut errors {
        if error.location.is_none() {
            error.location = map.value(&error.path);
        }
    }
    errors
}
