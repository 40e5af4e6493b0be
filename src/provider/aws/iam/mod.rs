//! IAM providers: the EKS cluster and node roles with their trust policies and attached
//! managed policies, and the customer-managed ECR pull policy.
//!
//! Roles and policies have real, deterministic names, so they are read by name. Policy
//! documents come back URL-encoded and in whatever layout IAM keeps; they are decoded,
//! parsed and compared as data with IAM's equivalences (a single action is the same as
//! a list of one; statement and action order do not matter), never as text.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_iam::Client;
use aws_sdk_iam::types::Tag;
use tokio::sync::OnceCell;

use super::support::{
    failed, ignore_order, order_like, parse_json, resume, strings, value_to_json,
};
use super::{sdk_error, spec_tags, tags_value};
use crate::provider::{
    AttributeChange, Live, ObservedOwnership, ProviderError, Providers, ResourceProvider, Status,
    default_change_class, diff_attributes,
};
use crate::stack::build::legacy_name;
use crate::stack::{Address, Resource, ResourceKind, Spec, Value};

mod policy;
mod role;

use policy::PolicyProvider;
use role::RoleProvider;

/// Registers the IAM role and policy providers.
pub(crate) fn register(providers: &mut Providers, config: &aws_config::SdkConfig) {
    let client = Client::new(config);
    providers.insert(
        ResourceKind::IamRole,
        Arc::new(RoleProvider {
            client: client.clone(),
        }),
    );
    providers.insert(
        ResourceKind::IamPolicy,
        Arc::new(PolicyProvider {
            client,
            sts: aws_sdk_sts::Client::new(config),
            account: OnceCell::new(),
        }),
    );
}

fn iam_tags(address: &Address, spec: &Spec) -> Result<Vec<Tag>, ProviderError> {
    spec_tags(spec)
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ProviderError::rejected(address, "InvalidTag", e.to_string()))
        })
        .collect()
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

fn is_not_found(err: &ProviderError) -> bool {
    matches!(err, ProviderError::NotFound { .. })
}

/// Decodes a policy document as IAM returns it: URL-encoded (RFC 3986) JSON. A document
/// that is plain JSON already is taken as is, as a `%` in it is not an escape.
pub(crate) fn decode_document(text: &str) -> Option<Value> {
    if text.trim_start().starts_with('{') {
        return parse_json(text);
    }
    parse_json(&percent_decode(text)?)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Puts a policy document in a canonical form for comparison: every statement list a
/// list, single actions, resources and principals lists of one, those lists sorted.
pub(crate) fn canonical_policy(document: &Value) -> Value {
    fn as_sorted_list(value: &Value) -> Value {
        match value {
            Value::Str(_) => Value::List(vec![value.clone()]),
            Value::List(items) => {
                let mut items = items.clone();
                items.sort_by_key(|v| serde_json::to_string(v).unwrap_or_default());
                items.dedup();
                Value::List(items)
            }
            other => other.clone(),
        }
    }
    fn statement(value: &Value) -> Value {
        let Value::Map(map) = value else {
            return value.clone();
        };
        Value::Map(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("Action" | "NotAction" | "Resource" | "NotResource", _) => {
                            as_sorted_list(v)
                        }
                        ("Principal" | "NotPrincipal", Value::Map(principals)) => Value::Map(
                            principals
                                .iter()
                                .map(|(k, v)| (k.clone(), as_sorted_list(v)))
                                .collect(),
                        ),
                        _ => v.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        )
    }
    let Value::Map(map) = document else {
        return document.clone();
    };
    let mut map = map.clone();
    if let Some(statements) = map.get("Statement") {
        let mut list: Vec<Value> = match statements {
            Value::List(items) => items.iter().map(statement).collect(),
            single => vec![statement(single)],
        };
        list.sort_by_key(|v| serde_json::to_string(v).unwrap_or_default());
        map.insert("Statement".to_owned(), Value::List(list));
    }
    Value::Map(map)
}

/// Tells whether a resource found under its legacy name (see [`legacy_name`]) is kept
/// under that name: when it is this stack's, or may be (a release before 0.2 made it
/// and the plan decides). A legacy-named resource of another stack or of nobody is not
/// in the way of this stack's own name, so it is not reported at this address.
fn keeps_legacy_name(ownership: &ObservedOwnership) -> bool {
    matches!(
        ownership,
        ObservedOwnership::Owned | ObservedOwnership::Legacy
    )
}

/// Drops the change of `name` from the name of a new resource to the legacy name it was
/// found under: that name is kept (renaming a role would mean replacing what uses it).
fn ignore_legacy_name(changes: &mut Vec<AttributeChange>, desired: &Resource) {
    let legacy = legacy_name(&desired.spec);
    changes.retain(|c| {
        c.attribute != "name"
            || legacy.is_none()
            || c.before.as_ref().and_then(Value::as_str) != legacy.as_deref()
    });
}

/// Drops a change of `attribute` whose documents are equivalent policies.
fn ignore_equivalent_policy(changes: &mut Vec<AttributeChange>, attribute: &str) {
    changes.retain(|c| {
        c.attribute != attribute
            || match (&c.before, &c.after) {
                (Some(before), Some(after)) => canonical_policy(before) != canonical_policy(after),
                _ => true,
            }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_url_encoded_documents() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22eks.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D";
        let plain = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        assert_eq!(decode_document(encoded), decode_document(plain));
        assert!(decode_document(plain).is_some());
        assert_eq!(decode_document("%7B%ZZ"), None);
    }

    #[test]
    fn equivalent_policies_compare_equal() {
        let ours = parse_json(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"EcrToken","Effect":"Allow","Action":["ecr:GetAuthorizationToken"],"Resource":"*"},
                {"Sid":"EcrPull","Effect":"Allow","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Resource":["arn:b","arn:a"]}]}"#,
        )
        .unwrap();
        let theirs = parse_json(
            r#"{"Statement":[{"Sid":"EcrPull","Effect":"Allow","Action":["ecr:GetDownloadUrlForLayer","ecr:BatchGetImage"],"Resource":["arn:a","arn:b"]},
                {"Resource":["*"],"Action":"ecr:GetAuthorizationToken","Effect":"Allow","Sid":"EcrToken"}],"Version":"2012-10-17"}"#,
        )
        .unwrap();
        assert_eq!(canonical_policy(&ours), canonical_policy(&theirs));
        let wider = parse_json(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"EcrToken","Effect":"Allow","Action":"ecr:*","Resource":"*"}]}"#,
        )
        .unwrap();
        assert_ne!(canonical_policy(&ours), canonical_policy(&wider));
    }
}
