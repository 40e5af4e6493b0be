//! Checks a profile document against the JSON Schema derived from `RawProfile`.
//!
//! serde stops at the first unknown field or wrong type; the schema validator reports
//! all of them. Each violation becomes a [`ProfileError`] in the profile's own words:
//! the YAML path, what was expected, and a hint (for unknown fields, the closest field
//! that is allowed at that place).

use jsonschema::ValidationError;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use crate::profile::diagnostics::ProfileError;
use crate::profile::source::SourceMap;

/// What the schema check found: the errors to report, and what to take out of (or
/// rename in) the document so that the rules can still check the rest of it.
#[derive(Debug, Default)]
pub(super) struct Findings {
    pub errors: Vec<ProfileError>,
    /// Unknown fields: JSON pointer of the mapping, the key, and the allowed key it
    /// most likely misspells.
    pub unknown: Vec<(String, String, Option<String>)>,
    /// JSON pointers of values of the wrong type or out of range.
    pub broken: Vec<String>,
    /// YAML paths of required fields that are missing.
    pub missing: Vec<String>,
}

/// Checks `document` against the profile's schema; `text` and `map` are the
/// document's YAML, used to quote values as written and to place unknown keys.
pub(super) fn check(document: &Value, text: &str, map: &SourceMap) -> Findings {
    let schema = crate::profile::schema();
    let mut findings = Findings::default();
    let validator = match jsonschema::validator_for(&schema) {
        Ok(validator) => validator,
        Err(error) => {
            findings.errors.push(
                ProfileError::new("", format!("the profile schema does not compile: {error}"))
                    .with_hint("this is a bug in bpa-infra; please report it"),
            );
            return findings;
        }
    };
    let context = Context {
        schema: &schema,
        document,
        text,
        map,
    };
    for error in validator.iter_errors(document) {
        context.describe(&error, &mut findings);
    }
    let mut seen = std::collections::HashSet::new();
    findings
        .errors
        .retain(|e| seen.insert((e.path.clone(), e.message.clone())));
    findings
}

/// Returns `document` with unknown fields renamed to the field they misspell (or
/// removed) and broken values removed, so that serde can read what is left; also the
/// renames as (path the rules see, path written in the file).
pub(super) fn repair(document: &Value, findings: &Findings) -> (Value, Vec<(String, String)>) {
    let mut repaired = document.clone();
    let mut renames = Vec::new();
    for (parent, key, suggestion) in &findings.unknown {
        let Some(Value::Object(fields)) = repaired.pointer_mut(parent) else {
            continue;
        };
        let Some(value) = fields.remove(key) else {
            continue;
        };
        if let Some(suggestion) = suggestion
            && !fields.contains_key(suggestion)
        {
            fields.insert(suggestion.clone(), value);
            let parent_path = pointer_to_path(parent, document);
            renames.push((join(&parent_path, suggestion), join(&parent_path, key)));
        }
    }
    for pointer in &findings.broken {
        remove_field(&mut repaired, pointer);
    }
    (repaired, renames)
}

/// Removes the mapping field holding `pointer`; a broken list item takes its whole
/// list with it, since removing only the item would renumber the others.
fn remove_field(document: &mut Value, pointer: &str) {
    let mut segments: Vec<&str> = pointer.split('/').skip(1).collect();
    while let Some(last) = segments.pop() {
        let parent = segments.iter().map(|s| format!("/{s}")).collect::<String>();
        match document.pointer_mut(&parent) {
            Some(Value::Object(fields)) => {
                fields.remove(&last.replace("~1", "/").replace("~0", "~"));
                return;
            }
            Some(Value::Array(_)) => continue,
            _ => return,
        }
    }
}

struct Context<'a> {
    schema: &'a Value,
    document: &'a Value,
    text: &'a str,
    map: &'a SourceMap,
}

impl Context<'_> {
    fn describe(&self, error: &ValidationError<'_>, out: &mut Findings) {
        let path = pointer_to_path(error.instance_path().as_str(), self.document);
        let instance = error.instance();
        let schema_path = error.schema_path().as_str();
        let pointer = error.instance_path().as_str();
        if !matches!(
            error.kind(),
            ValidationErrorKind::AdditionalProperties { .. } | ValidationErrorKind::Required { .. }
        ) {
            out.broken.push(pointer.to_string());
        }
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = self.allowed_properties(schema_path);
                for key in unexpected {
                    let key_path = join(&path, key);
                    let suggestion = closest(key, allowed.iter().map(String::as_str));
                    out.unknown.push((
                        pointer.to_string(),
                        key.clone(),
                        suggestion.map(str::to_string),
                    ));
                    let mut e = ProfileError::new(&key_path, format!("unknown field `{key}`"))
                        .with_hint(unknown_field_hint(key, &allowed));
                    e.location = self.map.key(&key_path);
                    out.errors.push(e);
                }
            }
            ValidationErrorKind::Required { property } => {
                let property = property.as_str().unwrap_or_default();
                // A misspelt required field is already reported as unknown, with a
                // "did you mean"; saying it is missing as well would be noise.
                let allowed = self.allowed_properties(schema_path);
                let misspelt = instance.as_object().is_some_and(|fields| {
                    let unknown = fields
                        .keys()
                        .filter(|k| !allowed.contains(k))
                        .map(String::as_str);
                    closest(property, unknown).is_some()
                });
                if misspelt {
                    return;
                }
                out.missing.push(join(&path, property));
                let description = self
                    .object_at(schema_path)
                    .and_then(|o| o.pointer(&format!("/properties/{property}/description")))
                    .and_then(Value::as_str)
                    .map(first_sentence);
                let place = if path.is_empty() {
                    "the profile".to_string()
                } else {
                    format!("`{path}`")
                };
                let hint = match description {
                    Some(d) => format!("add `{property}:` ({d})"),
                    None => format!("add `{property}:`"),
                };
                let mut e =
                    ProfileError::new(&path, format!("missing field `{property}` in {place}"))
                        .with_hint(hint);
                e.location = self.map.key(&path);
                out.errors.push(e);
            }
            ValidationErrorKind::Type { kind } => {
                out.errors.push(self.type_error(&path, kind, instance));
            }
            ValidationErrorKind::Enum { options } => {
                let options: Vec<String> = options
                    .as_array()
                    .map(|a| a.iter().map(render_plain).collect())
                    .unwrap_or_default();
                out.errors
                    .push(self.choice_error(&path, instance, &options));
            }
            ValidationErrorKind::Constant { expected_value } => {
                out.errors.push(self.choice_error(
                    &path,
                    instance,
                    &[render_plain(expected_value)],
                ));
            }
            ValidationErrorKind::Minimum { limit }
            | ValidationErrorKind::ExclusiveMinimum { limit } => {
                out.errors.push(
                    ProfileError::new(
                        &path,
                        format!(
                            "{} is below the minimum {limit}",
                            self.quote(&path, instance)
                        ),
                    )
                    .with_hint(format!("use a number of at least {limit}")),
                );
            }
            ValidationErrorKind::Maximum { limit }
            | ValidationErrorKind::ExclusiveMaximum { limit } => {
                out.errors.push(
                    ProfileError::new(
                        &path,
                        format!(
                            "{} is above the maximum {limit}",
                            self.quote(&path, instance)
                        ),
                    )
                    .with_hint(format!("use a number of at most {limit}")),
                );
            }
            ValidationErrorKind::AnyOf { context }
            | ValidationErrorKind::OneOfNotValid { context } => {
                self.alternatives(&path, instance, context, out);
            }
            _ => out.errors.push(
                ProfileError::new(&path, error.to_string())
                    .with_hint("see `bpa-infra schema` for the format"),
            ),
        }
    }

    /// Explains a value that matches none of several accepted forms (`anyOf`/`oneOf`).
    fn alternatives(
        &self,
        path: &str,
        instance: &Value,
        branches: &[Vec<ValidationError<'static>>],
        out: &mut Findings,
    ) {
        if path == "rds.master_password" && instance.is_string() {
            // Never echo the value: it may be a real password.
            out.errors.push(
                ProfileError::new(path, "`master_password` must be `managed` or `{from_env: VARIABLE}`; a password is never written in the profile")
                    .with_hint("use `master_password: managed` (Secrets Manager), or `master_password: {from_env: BPA_DB_MASTER_PASSWORD}` and export the password in that variable for `up`"),
            );
            return;
        }
        // Every branch is a fixed value: an enum whose variants have doc comments.
        let constants: Option<Vec<String>> = branches
            .iter()
            .map(|errors| match errors.as_slice() {
                [single] => match single.kind() {
                    ValidationErrorKind::Constant { expected_value } => {
                        Some(vec![render_plain(expected_value)])
                    }
                    ValidationErrorKind::Enum { options } => options
                        .as_array()
                        .map(|a| a.iter().map(render_plain).collect()),
                    _ => None,
                },
                _ => None,
            })
            .collect::<Option<Vec<Vec<String>>>>()
            .map(|lists| lists.concat());
        if let Some(options) = constants {
            out.errors.push(self.choice_error(path, instance, &options));
            return;
        }
        // A branch that refuses the value's type at this very place is a form the
        // writer did not mean; explain the remaining one.
        let here = |e: &ValidationError<'_>| {
            pointer_to_path(e.instance_path().as_str(), self.document) == path
        };
        let meant: Vec<&Vec<ValidationError<'static>>> = branches
            .iter()
            .filter(|errors| {
                !errors
                    .iter()
                    .any(|e| here(e) && matches!(e.kind(), ValidationErrorKind::Type { .. }))
            })
            .collect();
        if let [errors] = meant.as_slice() {
            for error in errors.iter() {
                self.describe(error, out);
            }
            return;
        }
        let mut kinds: Vec<&str> = Vec::new();
        for errors in branches {
            for e in errors {
                if let ValidationErrorKind::Type { kind } = e.kind() {
                    for name in type_names(kind) {
                        if !kinds.contains(&name) {
                            kinds.push(name);
                        }
                    }
                }
            }
        }
        if kinds.len() > 1 && !instance.is_null() {
            kinds.retain(|k| *k != "nothing");
        }
        let expected = if kinds.is_empty() {
            "a different value".to_string()
        } else {
            kinds.join(" or ")
        };
        let hint = match kinds.as_slice() {
            ["a mapping"] => "write `key: value` lines indented under it",
            ["a list"] => "write a list: `[a, b]`, or one `- item` per line",
            _ => "see `bpa-infra schema` for the accepted forms",
        };
        out.errors.push(
            ProfileError::new(
                path,
                format!("expected {expected}, found {}", self.quote(path, instance)),
            )
            .with_hint(hint),
        );
    }

    fn type_error(&self, path: &str, kind: &TypeKind, instance: &Value) -> ProfileError {
        let names = type_names(kind);
        let expected = names.join(" or ");
        if instance.is_null() && path.is_empty() {
            return ProfileError::new(path, "the profile is empty")
                .with_hint("start from `profiles/example.yaml`, or see `bpa-infra schema`");
        }
        if instance.is_null() {
            return ProfileError::new(
                path,
                format!("`{}` is empty; expected {expected}", leaf(path)),
            )
            .with_hint("give it a value, or remove the line to use the default");
        }
        let found = match instance {
            Value::Object(_) | Value::Array(_) => self.quote(path, instance),
            _ => format!("{} {}", type_of(instance), self.quote(path, instance)),
        };
        let message = format!("expected {expected}, found {found}");
        let hint = match (names.first().copied(), instance) {
            (Some("a string"), Value::Number(_) | Value::Bool(_)) => {
                format!(
                    "put it in quotes: `\"{}\"` (YAML reads it as a {} otherwise)",
                    self.source(path).unwrap_or_else(|| render_plain(instance)),
                    type_of(instance)
                )
            }
            (Some("an integer" | "a number"), Value::String(_)) => {
                "write the number without quotes".to_string()
            }
            (Some("a list"), _) => "write a list: `[a, b]`, or one `- item` per line".to_string(),
            (Some("a mapping"), _) => "write `key: value` lines indented under it".to_string(),
            (Some("true or false"), _) => "write `true` or `false` without quotes".to_string(),
            _ => "see `bpa-infra schema` for the format".to_string(),
        };
        ProfileError::new(path, message).with_hint(hint)
    }

    fn choice_error(&self, path: &str, instance: &Value, options: &[String]) -> ProfileError {
        let list = options
            .iter()
            .map(|o| format!("`{o}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let hint = match instance
            .as_str()
            .and_then(|given| closest(given, options.iter().map(String::as_str)))
        {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("use one of {list}"),
        };
        ProfileError::new(
            path,
            format!("{} is not one of {list}", self.quote(path, instance)),
        )
        .with_hint(hint)
    }

    /// The schema object holding the keyword at `schema_path` (e.g. `/$defs/RawVpc`).
    fn object_at(&self, schema_path: &str) -> Option<&Value> {
        let parent = schema_path
            .rsplit_once('/')
            .map_or("", |(parent, _)| parent);
        self.schema.pointer(parent)
    }

    /// The property names allowed where `additionalProperties` at `schema_path` refused one.
    /// Sorted, so hints do not depend on whether serde_json keeps insertion order.
    fn allowed_properties(&self, schema_path: &str) -> Vec<String> {
        let mut allowed: Vec<String> = self
            .object_at(schema_path)
            .and_then(|o| o.get("properties"))
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        allowed.sort();
        allowed
    }

    /// The value's text as written in the YAML, so `1.30` is not shown as `1.3`.
    fn source(&self, path: &str) -> Option<String> {
        let location = self.map.value(path)?;
        let text = self
            .text
            .get(location.offset..location.offset + location.len)?;
        (!text.is_empty() && !text.contains('\n') && text.len() <= 60).then(|| text.to_string())
    }

    fn quote(&self, path: &str, instance: &Value) -> String {
        match instance {
            Value::Object(_) => "a mapping".to_string(),
            Value::Array(_) => "a list".to_string(),
            _ => format!(
                "`{}`",
                self.source(path).unwrap_or_else(|| render_plain(instance))
            ),
        }
    }
}

fn unknown_field_hint(key: &str, allowed: &[String]) -> String {
    match closest(key, allowed.iter().map(String::as_str)) {
        Some(best) => format!("did you mean `{best}`?"),
        None if allowed.is_empty() => "remove it".to_string(),
        None => {
            let list = allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ");
            format!("remove it; the fields allowed here are {list}")
        }
    }
}

/// The candidate closest to `given`, if it is close enough to be a likely misspelling.
/// Case, `-` and `_` are ignored first, so `nodeGroups` finds `node_groups`.
pub(super) fn closest<'c>(
    given: &str,
    candidates: impl Iterator<Item = &'c str>,
) -> Option<&'c str> {
    let normalize = |s: &str| s.to_lowercase().replace(['-', '_'], "");
    let given_n = normalize(given);
    candidates
        .map(|c| (strsim::damerau_levenshtein(&given_n, &normalize(c)), c))
        .filter(|(distance, c)| *distance <= (c.chars().count() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

fn type_names(kind: &TypeKind) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = match kind {
        TypeKind::Single(t) => vec![type_name(&t.to_string())],
        TypeKind::Multiple(set) => set.iter().map(|t| type_name(&t.to_string())).collect(),
    };
    // `null` is how an optional field says "may be omitted"; it is not worth suggesting.
    if names.len() > 1 {
        names.retain(|n| *n != "nothing");
    }
    names
}

fn type_name(json_type: &str) -> &'static str {
    match json_type {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        "array" => "a list",
        "object" => "a mapping",
        "null" => "nothing",
        _ => "another type",
    }
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

/// Renders a scalar without JSON quotes (`managed`, not `"managed"`), truncated.
fn render_plain(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

/// The first sentence of a doc comment: up to a `. ` that starts a new sentence (so
/// `e.g. ` does not end it).
fn first_sentence(description: &str) -> String {
    let text = description.replace('\n', " ");
    let end = text
        .match_indices(". ")
        .find(|(i, _)| text[i + 2..].starts_with(|c: char| c.is_ascii_uppercase()))
        .map_or(text.len(), |(i, _)| i);
    text[..end].trim_end_matches('.').to_string()
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn leaf(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// Turns a JSON pointer (`/network/node_subnets/1/cidr`) into a YAML path
/// (`network.node_subnets[1].cidr`), the form [`SourceMap`] indexes. The document
/// tells list indexes from mapping keys that happen to be digits.
pub(super) fn pointer_to_path(pointer: &str, document: &Value) -> String {
    let mut path = String::new();
    let mut current = Some(document);
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        match current {
            Some(Value::Array(items)) => {
                path.push_str(&format!("[{segment}]"));
                current = segment.parse::<usize>().ok().and_then(|i| items.get(i));
            }
            other => {
                current = other.and_then(|v| v.get(&segment));
                path = join(&path, &segment);
            }
        }
    }
    path
}
