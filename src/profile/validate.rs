//! Turns a profile's text into a [`Profile`], collecting every problem at once.
//!
//! Three stages:
//! 1. YAML syntax: one error at the parser's position, and nothing more, since
//!    nothing after a syntax error can be trusted;
//! 2. structure: the document against the profile's JSON Schema, which reports every
//!    unknown field (with "did you mean"), wrong type and missing field in one pass
//!    ([`structure`]);
//! 3. meaning: AWS's, PostgreSQL's and Kubernetes' rules ([`rules`], with the checks
//!    of single values in [`checks`]), deriving the defaults that depend on other
//!    fields.
//!
//! So that one run reports every kind of mistake, stage 3 also runs when stage 2
//! found some: on a repaired copy of the document, where a misspelt field is read
//! under the name it most likely means and a refused value is taken out. Each
//! top-level section is read on its own, so only a section still unreadable is
//! skipped, and problems about values stage 2 already reported are dropped.
//!
//! Every error carries its YAML path; the [`SourceMap`] turns the path into a line and
//! column.

mod checks;
mod rules;
mod structure;
#[cfg(test)]
mod tests;

use super::diagnostics::{ProfileError, ProfileErrors};
use super::input::{MAX_PROFILE_DEPTH, yaml_depth_beyond};
use super::model::Profile;
use super::raw::RawProfile;
use super::source::{Location, SourceMap};

pub use checks::{Problem, check_master_password};

/// Parses and validates a profile's text; `origin` names it in errors (usually its path).
pub fn parse_and_validate(text: &str, origin: &str) -> Result<Profile, ProfileErrors> {
    // Indexing paths costs time quadratic in the nesting depth; a text nested beyond
    // any profile is refused first, in time linear in the part read.
    if let Some(depth) = yaml_depth_beyond(text, MAX_PROFILE_DEPTH) {
        let error = ProfileError::new(
            "",
            format!("the profile nests more than {MAX_PROFILE_DEPTH} levels deep (found {depth} before stopping)"),
        )
        .with_hint("a profile nests a few levels; check that this is the file you mean");
        return Err(ProfileErrors::new(origin, text, vec![error]));
    }
    let map = SourceMap::new(text);
    let fail = |errors: Vec<ProfileError>| ProfileErrors::new(origin, text, locate(errors, &map));

    let document: serde_yaml::Value = match serde_yaml::from_str(text) {
        Ok(document) => document,
        Err(error) => {
            let mut found = syntax_error(&error, text);
            relocate_duplicate_key(&mut found, &map);
            return Err(fail(vec![found]));
        }
    };
    let document = match serde_json::to_value(&document) {
        Ok(document) => document,
        Err(error) => {
            return Err(fail(vec![
                ProfileError::new(
                    "",
                    format!("the YAML cannot be read as plain data: {error}"),
                )
                .with_hint("use only strings as mapping keys, and no YAML tags"),
            ]));
        }
    };

    let findings = structure::check(&document, text, &map);
    // Rules still run on what the schema check left intact, so one run reports every
    // kind of mistake; problems about values the schema already refused are dropped.
    let (repaired, renames) = structure::repair(&document, &findings);
    let mut settled: Vec<String> = findings
        .broken
        .iter()
        .map(|pointer| structure::pointer_to_path(pointer, &document))
        .collect();
    settled.extend(findings.missing.iter().cloned());
    let mut errors = findings.errors;

    let (sections, failures) = rules::Sections::read(&repaired);
    for (field, message) in failures {
        // serde refuses a few values the schema lets through, e.g. integers beyond u32.
        if !errors.iter().any(|e| related(&e.path, &field)) {
            errors.push(unexplained_failure(text, &field, message));
        }
    }

    let (profile, problems) = rules::check(&sections, &repaired);
    for mut problem in problems {
        if settled.iter().any(|path| related(path, &problem.path)) {
            continue;
        }
        for (seen, written) in &renames {
            if related(seen, &problem.path) && problem.path.len() >= seen.len() {
                problem.path = format!("{written}{}", &problem.path[seen.len()..]);
            }
        }
        errors.push(problem);
    }

    match profile {
        Some(profile) if errors.is_empty() => Ok(profile),
        _ => {
            if errors.is_empty() {
                // A section failed without saying why; never let that pass as valid.
                errors.push(ProfileError::new("", "the profile could not be read"));
            }
            Err(fail(errors))
        }
    }
}

/// Tells whether one YAML path contains the other (`a.b` and `a.b[0].c`, not `a.bc`).
fn related(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.is_empty()
        || long == short
        || (long.starts_with(short) && matches!(long.as_bytes()[short.len()], b'.' | b'['))
}

/// Explains why serde could not read `field` although the schema accepted it. Reading
/// the whole text with serde gives the exact path and position when that failure is
/// the first one in the file; otherwise the error points at the field.
fn unexplained_failure(text: &str, field: &str, message: String) -> ProfileError {
    let hint = "see `bpa-infra schema` for the format of this field";
    if let Err(error) = serde_yaml::from_str::<RawProfile>(text)
        && let Some(location) = error.location()
    {
        let full = syntax_error(&error, text);
        if let Some((path, detail)) = full.message.split_once(": ")
            && related(path, field)
        {
            let mut precise = ProfileError::new(path, detail).with_hint(hint);
            precise.location = full.location.map(|mut l| {
                l.line = location.line();
                l
            });
            return precise;
        }
    }
    ProfileError::new(field, message).with_hint(hint)
}

/// Makes one error of a YAML or serde failure, at the position it reports.
fn syntax_error(error: &serde_yaml::Error, text: &str) -> ProfileError {
    let full = error.to_string();
    // libyaml adds where the construct it was reading started (", while scanning a
    // quoted scalar at line L column C"). Keep that: an unclosed quote or bracket is
    // only noticed at the end of the file, and the line where it opened is the one to fix.
    let (problem, context) = match full.split_once(", while ") {
        Some((problem, context)) => (problem, Some(context)),
        None => (full.as_str(), None),
    };
    let mut message = problem.to_owned();
    // serde_yaml appends " at line L column C"; the position is shown separately.
    if let Some(at) = message.find(" at line ") {
        message.truncate(at);
    }
    let location = error.location().map(|location| {
        let offset = location.index().min(text.len());
        let found = text.get(offset..).and_then(|rest| rest.chars().next());
        (location, offset, found)
    });
    if let Some((_, _, Some('\t'))) = location {
        // libyaml only says the character "cannot start any token"; it is invisible.
        message.push_str(": a tab, which YAML does not allow for indentation");
    }
    // A context without a position of its own ("while scanning for the next token") adds
    // nothing the position does not say.
    if let Some((what, position)) = context.and_then(|c| c.split_once(" at line ")) {
        let position = position.replacen(" column ", ", column ", 1);
        message.push_str(&format!(" (while {what} that starts at line {position})"));
    }
    let mut error_out = ProfileError::new("", message)
        .with_hint("fix the YAML at this position; nothing after it could be checked");
    if let Some((location, offset, found)) = location {
        error_out.location = Some(Location {
            offset,
            len: found.map_or(0, char::len_utf8),
            line: location.line(),
            column: location.column(),
        });
    }
    error_out
}

/// Points a duplicate-key error at the repeated key rather than at the start of its
/// mapping, which is where serde_yaml reports it (the mapping is where it noticed).
/// The source map records the last occurrence of a key, the one to remove or rename.
fn relocate_duplicate_key(error: &mut ProfileError, map: &SourceMap) {
    const DUPLICATE: &str = "duplicate entry with key ";
    let Some(at) = error.message.find(DUPLICATE) else {
        return;
    };
    let parent = error.message[..at].trim_end_matches(": ");
    let key = error.message[at + DUPLICATE.len()..].trim_matches('"');
    let path = if parent.is_empty() || parent == "." {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    };
    if let Some(location) = map.key(&path) {
        error.location = Some(location);
    }
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
