//! Pieces the EC2, IAM and EKS providers share: idempotency tokens, polling with
//! backoff, JSON documents as spec values, and lists the cloud returns in its own order.

use std::future::Future;
use std::time::Duration;

use md5::{Digest, Md5};

use crate::provider::{
    AttributeChange, ChangeClass, Live, ObservedOwnership, ProviderError, ResourceProvider,
};
use crate::stack::{Address, Resource, Value};

/// Returns the idempotency token of creating `desired`: the same profile, address and
/// spec give the same token, so a run killed after its create call and run again gets
/// the resource the first call made instead of a second one.
///
/// The spec (with its references resolved) is part of it on purpose: after `down`, the
/// next `up` creates against new ids (subnets, EIPs, security groups), hence a new
/// token, and AWS does not answer with the resource that was deleted.
pub(crate) fn client_token(desired: &Resource) -> String {
    client_token_of(desired, "")
}

/// Returns the idempotency token of one step of changing `desired` (`salt` names it),
/// for APIs that take a token on updates too.
pub(crate) fn client_token_of(desired: &Resource, salt: &str) -> String {
    let mut hasher = Md5::new();
    hasher.update(desired.profile_tag().unwrap_or_default().as_bytes());
    hasher.update([0]);
    hasher.update(desired.address.to_string().as_bytes());
    hasher.update([0]);
    hasher.update(serde_json::to_vec(&desired.spec).unwrap_or_default());
    hasher.update([0]);
    hasher.update(salt.as_bytes());
    // 36 characters: within every AWS limit (EC2 64, EKS 64).
    format!("bpa-{:x}", hasher.finalize())
}

/// How long to wait between two looks at a resource that is changing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    /// For resources that take minutes (clusters, node groups, NAT gateways).
    pub const SLOW: Backoff = Backoff {
        first: Duration::from_secs(5),
        max: Duration::from_secs(30),
    };
    /// For resources that take seconds (VPC pieces, IAM, launch templates).
    pub const FAST: Backoff = Backoff {
        first: Duration::from_millis(500),
        max: Duration::from_secs(5),
    };
}

/// What one look at a changing resource found.
pub(crate) enum Poll<T> {
    Done(T),
    Pending,
}

/// Looks with `check` until it says done, sleeping with growing delays in between.
///
/// There is no deadline here: the executor wraps every wait in the resource kind's
/// timeout and drops this future when it runs out.
pub(crate) async fn poll<T, F, Fut>(backoff: Backoff, mut check: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, ProviderError>>,
{
    let mut delay = backoff.first;
    loop {
        if let Poll::Done(value) = check().await? {
            return Ok(value);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 3 / 2).min(backoff.max);
    }
}

/// Converts a JSON document (a policy, addon configuration values) into a spec value, so
/// that documents are compared as data and never as text.
pub(crate) fn json_to_value(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            // Specs hold no fractions; keep the number's text so it still compares.
            None => Value::Str(n.to_string()),
        },
        serde_json::Value::String(s) => Value::Str(s),
        serde_json::Value::Array(items) => {
            Value::List(items.into_iter().map(json_to_value).collect())
        }
        serde_json::Value::Object(map) => Value::Map(
            map.into_iter()
                .map(|(k, v)| (k, json_to_value(v)))
                .collect(),
        ),
    }
}

/// Renders a resolved spec value as compact JSON text for an API that takes a document.
pub(crate) fn value_to_json(
    address: &Address,
    attribute: &str,
    value: &Value,
) -> Result<String, ProviderError> {
    if !value.is_known() {
        return Err(ProviderError::rejected(
            address,
            "UnresolvedReference",
            format!("{attribute} still refers to another resource's output"),
        ));
    }
    serde_json::to_string(value).map_err(|err| {
        ProviderError::rejected(address, "InvalidDocument", format!("{attribute}: {err}"))
    })
}

/// Parses a JSON document an API returned; `None` when it is not JSON.
pub(crate) fn parse_json(text: &str) -> Option<Value> {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .map(json_to_value)
}

/// Returns the strings of a spec list attribute (none when absent or not yet known).
pub(crate) fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Returns a spec string attribute when it is known (not a reference).
pub(crate) fn known_str(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str)
}

/// Orders strings the cloud returned in no particular order the way `hint` (the spec's
/// list) orders them, the rest after in sorted order: a list attribute that holds the
/// same set as the spec then compares equal, and one that differs shows what differs.
pub(crate) fn order_like(hint: Option<&Value>, mut found: Vec<String>) -> Value {
    let mut ordered = Vec::with_capacity(found.len());
    for wanted in strings(hint) {
        if let Some(i) = found.iter().position(|f| *f == wanted) {
            ordered.push(found.remove(i));
        }
    }
    found.sort();
    ordered.extend(found);
    Value::strings(ordered)
}

/// Drops the changes of `attributes` whose before and after hold the same items in
/// another order: for lists AWS treats as sets.
pub(crate) fn ignore_order(changes: &mut Vec<AttributeChange>, attributes: &[&str]) {
    changes.retain(|change| {
        if !attributes.contains(&change.attribute.as_str()) {
            return true;
        }
        match (&change.before, &change.after) {
            (Some(Value::List(a)), Some(Value::List(b))) => {
                let mut a: Vec<String> = a
                    .iter()
                    .map(|v| serde_json::to_string(v).unwrap_or_default())
                    .collect();
                let mut b: Vec<String> = b
                    .iter()
                    .map(|v| serde_json::to_string(v).unwrap_or_default())
                    .collect();
                a.sort();
                b.sort();
                a != b
            }
            _ => true,
        }
    });
}

/// Finds what an earlier attempt to create `desired` left (the executor retries a
/// create after a throttled or failed call, and a killed run is run again) and finishes
/// it with the in-place changes it still lacks. `None`: there is nothing of ours yet.
///
/// Creates made of several calls start with this, as most EC2 and IAM creates take no
/// idempotency token and a second create would make a second resource.
pub(crate) async fn resume<P>(
    provider: &P,
    desired: &Resource,
) -> Result<Option<Live>, ProviderError>
where
    P: ResourceProvider + ?Sized,
{
    match provider.read(desired).await? {
        Some(live) if live.ownership == ObservedOwnership::Owned => {
            let changes: Vec<AttributeChange> = provider
                .diff(desired, &live)
                .into_iter()
                .filter(|c| c.class == ChangeClass::InPlace)
                .collect();
            if changes.is_empty() {
                Ok(Some(live))
            } else {
                provider.update(desired, &live, &changes).await.map(Some)
            }
        }
        _ => Ok(None),
    }
}

/// Turns the "already exists" (or "in use") answer to a create into the resource, when
/// it is this profile's: an earlier attempt made it and its answer was lost (the SDK
/// retried, or an emulator does not honour the idempotency token).
pub(crate) async fn own_or<P>(
    provider: &P,
    desired: &Resource,
    err: ProviderError,
) -> Result<Live, ProviderError>
where
    P: ResourceProvider + ?Sized,
{
    if matches!(
        err,
        ProviderError::AlreadyExists { .. } | ProviderError::InUse { .. }
    ) {
        if let Some(live) = provider.read(desired).await? {
            if live.ownership == ObservedOwnership::Owned {
                return Ok(live);
            }
        }
    }
    Err(err)
}

/// Treats "already exists" as done: for calls that add something (a rule, a route)
/// that an earlier attempt of the same change may have added already.
pub(crate) fn done_if_exists(result: Result<(), ProviderError>) -> Result<(), ProviderError> {
    match result {
        Err(ProviderError::AlreadyExists { .. }) => Ok(()),
        other => other,
    }
}

/// Treats "not found" as done: for calls that remove something.
pub(crate) fn done_if_absent(result: Result<(), ProviderError>) -> Result<(), ProviderError> {
    match result {
        Err(ProviderError::NotFound { .. }) => Ok(()),
        other => other,
    }
}

/// Makes the error of a resource the cloud reports as failed.
pub(crate) fn failed(address: &Address, code: &str, message: impl Into<String>) -> ProviderError {
    ProviderError::rejected(address, code, message)
}

/// Makes the error of a resource that vanished while the tool was waiting for it.
pub(crate) fn vanished(address: &Address, id: &str) -> ProviderError {
    ProviderError::NotFound {
        address: address.clone(),
        code: "NotFound".to_owned(),
        message: format!("{id} no longer exists"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::{Component, ResourceKind, Spec};

    fn resource(spec: Spec) -> Resource {
        Resource::managed(
            Address::keyed(Component::Network, "nat_gateway", "us-west-2a"),
            ResourceKind::NatGateway,
            spec,
        )
    }

    #[test]
    fn tokens_are_deterministic_and_follow_the_spec() {
        let a = resource(Spec::new().with("subnet_id", "subnet-1"));
        let b = resource(Spec::new().with("subnet_id", "subnet-2"));
        assert_eq!(client_token(&a), client_token(&a.clone()));
        assert_ne!(client_token(&a), client_token(&b));
        assert_ne!(client_token(&a), client_token_of(&a, "version"));
        assert!(client_token(&a).len() <= 64);
        assert!(client_token(&a).is_ascii());
    }

    #[test]
    fn orders_like_the_spec_and_ignores_order_where_asked() {
        let hint = Value::strings(["b", "a"]);
        assert_eq!(
            order_like(Some(&hint), vec!["c".into(), "a".into(), "b".into()]),
            Value::strings(["b", "a", "c"])
        );
        let mut changes = vec![AttributeChange {
            attribute: "subnet_ids".into(),
            before: Some(Value::strings(["a", "b"])),
            after: Some(Value::strings(["b", "a"])),
            class: ChangeClass::NeedsReplacement,
            note: None,
        }];
        ignore_order(&mut changes, &["subnet_ids"]);
        assert!(changes.is_empty());
    }

    #[test]
    fn json_round_trips_as_values() {
        let value = parse_json(r#"{"a": [1, "x", true, null], "b": {"c": 1.5}}"#).unwrap();
        let json = value_to_json(
            &Address::new(Component::Iam, "node_role"),
            "document",
            &value,
        )
        .unwrap();
        assert_eq!(json, r#"{"a":[1,"x",true,null],"b":{"c":"1.5"}}"#);
        assert_eq!(parse_json("not json"), None);
    }
}
