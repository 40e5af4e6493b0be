//! Checks a profile document against the JSON Schema derived from `RawProfile`.

use serde_json::Value;

use crate::profile::diagnostics::ProfileError;

/// Returns one error per schema violation in `document`.
pub(super) fn check(document: &Value) -> Vec<ProfileError> {
    let schema = crate::profile::schema();
    let validator = jsonschema::validator_for(&schema).expect("the profile schema is a valid JSON Schema");
    validator
        .iter_errors(document)
        .map(|error| ProfileError::new(pointer_to_path(error.instance_path().as_str()), error.to_string()))
        .collect()
}

/// Turns a JSON pointer (`/network/node_subnets/1/cidr`) into a YAML path
/// (`network.node_subnets[1].cidr`).
pub(super) fn pointer_to_path(pointer: &str) -> String {
    let mut path = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.chars().all(|c| c.is_ascii_digit()) {
            path.push_str(&format!("[{segment}]"));
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&segment);
        }
    }
    path
}
