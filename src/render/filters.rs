//! Template filters that quote values for the file they land in.
//!
//! Every value from the profile or from AWS goes through one of these, so a placeholder
//! such as `<unknown: … — run `bpa-infra up` first>` never breaks YAML, shell or SQL syntax.

use minijinja::{Error, ErrorKind, Value};

use crate::dbinit::sql;

/// Registers the filters on a template environment.
pub(super) fn register(env: &mut minijinja::Environment<'_>) {
    env.add_filter("yaml", yaml);
    env.add_filter("sh", sh);
    env.add_filter("sql_ident", |s: &str| sql::quote_ident(s));
    env.add_filter("sql_literal", |s: &str| sql::quote_literal(s));
}

/// Renders a value as a YAML scalar: numbers and booleans as they are, strings plain when
/// that is unambiguous and double-quoted otherwise.
fn yaml(value: &Value) -> Result<String, Error> {
    if value.is_undefined() || value.is_none() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "`yaml` got no value; use `| default(...)` or check the variable name",
        ));
    }
    if let Some(s) = value.as_str() {
        return Ok(yaml_scalar(s));
    }
    if value.is_number() || value.kind() == minijinja::value::ValueKind::Bool {
        return Ok(value.to_string());
    }
    Err(Error::new(
        ErrorKind::InvalidOperation,
        format!("`yaml` quotes scalars, not a {}", value.kind()),
    ))
}

/// Quotes a string as a YAML scalar.
pub fn yaml_scalar(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_owned()
    } else {
        // A JSON string is a valid YAML double-quoted scalar.
        serde_json::to_string(s).expect("a string serialises")
    }
}

/// Tells whether a string reads back as the same string when written as a plain scalar
/// under both YAML 1.1 and 1.2 (no booleans like `on`, no numbers, no indicators).
fn is_plain_safe(s: &str) -> bool {
    const SPECIAL: &[&str] = &["y", "n", "yes", "no", "true", "false", "on", "off", "null"];
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))
        && !SPECIAL.contains(&s.to_ascii_lowercase().as_str())
}

/// Quotes a string as one shell word.
fn sh(value: &Value) -> Result<String, Error> {
    match value.as_str() {
        Some(s) => Ok(shell_word(s)),
        None if value.is_number() => Ok(value.to_string()),
        None => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("`sh` quotes strings, not a {}", value.kind()),
        )),
    }
}

/// Quotes a string as one POSIX shell word (single quotes; nothing expands inside).
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-' | ':' | '='))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_scalars_read_back_as_the_same_string() {
        for s in [
            "bpm-service",
            "/bpm/adapter/v1/liveness",
            "on",
            "No",
            "4711",
            "1.35",
            "10.0.0.0/16",
            "arn:aws:acm:us-west-2:123456789012:certificate/abc",
            "<unknown: rds writer endpoint — run `bpa-infra up` first>",
            "a: b # c",
            "it's \"quoted\"",
            "",
            "-dash",
        ] {
            let doc = format!("key: {}\n", yaml_scalar(s));
            let back: std::collections::BTreeMap<String, serde_yaml::Value> =
                serde_yaml::from_str(&doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
            assert_eq!(
                back["key"],
                serde_yaml::Value::String(s.to_owned()),
                "{doc}"
            );
        }
        assert_eq!(yaml_scalar("bpm-service"), "bpm-service");
        assert_eq!(yaml_scalar("443"), "\"443\"");
    }

    #[test]
    fn shell_words_do_not_expand() {
        assert_eq!(shell_word("bpa-db"), "bpa-db");
        assert_eq!(
            shell_word("<unknown: x — run `bpa-infra up` first>"),
            "'<unknown: x — run `bpa-infra up` first>'"
        );
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word("$HOME"), "'$HOME'");
    }
}
