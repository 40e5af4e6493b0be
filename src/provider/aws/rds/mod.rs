//! RDS for PostgreSQL: the (cluster) parameter group, the DB subnet group, and the
//! Multi-AZ DB cluster or Multi-AZ DB instance, one provider per resource kind over the
//! shared [`Rds`] client.
//!
//! The two database modes are RDS's Multi-AZ deployments with readable standbys (a DB
//! cluster of three instances) and with one standby (a DB instance): Amazon RDS User
//! Guide, "Configuring and managing a Multi-AZ deployment" and "Multi-AZ DB cluster
//! deployments". The databases enforce safe teardown: a protected database is never
//! deleted unless the options say so, and a final snapshot is taken unless they say not
//! to. Their pre-flight checks ask RDS, read-only, whether it would accept the database.
//!
//! The master password, when it comes from the environment, is resolved through the
//! [`SecretLookup`](super::SecretLookup) only while building the create or modify call;
//! no password is ever put in a `Live`, an error or a log.

mod database;
mod db_cluster;
mod db_instance;
mod parameter_group;
mod preflight;
mod subnet_group;
#[cfg(test)]
pub(crate) mod test_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_rds::Client;
use aws_sdk_rds::types::Tag;

use super::options::{ProviderOptions, TeardownOptions};
use super::support::strings;
use super::{sdk_error, spec_tags};
use crate::provider::{ChangeClass, Live, ObservedOwnership, ProviderError, Providers};
use crate::stack::{Address, Resource, ResourceKind, Spec, Value};

pub use database::final_snapshot_identifier;
pub(crate) use db_cluster::DbClusterProvider;
pub(crate) use db_instance::DbInstanceProvider;
pub(crate) use parameter_group::{DbClusterParameterGroupProvider, DbParameterGroupProvider};
pub(crate) use subnet_group::DbSubnetGroupProvider;

/// The RDS kinds this module provides.
pub const KINDS: [ResourceKind; 5] = [
    ResourceKind::DbClusterParameterGroup,
    ResourceKind::DbParameterGroup,
    ResourceKind::DbSubnetGroup,
    ResourceKind::DbCluster,
    ResourceKind::DbInstance,
];

const ENGINE: &str = "postgres";

/// Registers the provider of each RDS kind, all over one client.
pub fn register(
    providers: &mut Providers,
    config: &aws_config::SdkConfig,
    options: &ProviderOptions,
) {
    let rds = Rds::new(Client::new(config), options.clone());
    providers.insert(
        ResourceKind::DbClusterParameterGroup,
        Arc::new(DbClusterParameterGroupProvider::new(rds.clone())),
    );
    providers.insert(
        ResourceKind::DbParameterGroup,
        Arc::new(DbParameterGroupProvider::new(rds.clone())),
    );
    providers.insert(
        ResourceKind::DbSubnetGroup,
        Arc::new(DbSubnetGroupProvider::new(rds.clone())),
    );
    providers.insert(
        ResourceKind::DbCluster,
        Arc::new(DbClusterProvider::new(rds.clone())),
    );
    providers.insert(
        ResourceKind::DbInstance,
        Arc::new(DbInstanceProvider::new(rds)),
    );
}

/// The RDS client and the options every RDS provider shares.
#[derive(Clone)]
pub(crate) struct Rds {
    client: Client,
    options: ProviderOptions,
}

impl Rds {
    /// Makes the shared client; `options` say how `down` treats the databases and how
    /// the master password reference is resolved.
    pub(crate) fn new(client: Client, options: ProviderOptions) -> Self {
        Self { client, options }
    }

    fn teardown(&self) -> &TeardownOptions {
        &self.options.teardown
    }

    async fn tags_of(
        &self,
        address: &Address,
        arn: &str,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        if arn.is_empty() {
            return Ok(BTreeMap::new());
        }
        let output = self
            .client
            .list_tags_for_resource()
            .resource_name(arn)
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:ListTagsForResource", e))?;
        Ok(tag_map(output.tag_list()))
    }

    /// Adds or overwrites the spec's tags; tags someone else added stay.
    async fn add_tags(
        &self,
        address: &Address,
        live: &Live,
        spec: &Spec,
    ) -> Result<(), ProviderError> {
        let Some(arn) = live.outputs.get("arn").and_then(Value::as_str) else {
            return Err(ProviderError::rejected(
                address,
                "NoArn",
                "the resource's ARN is unknown, so it cannot be tagged",
            ));
        };
        self.client
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(rds_tags(spec)))
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:AddTagsToResource", e))?;
        Ok(())
    }
}

/// How a read decides the ownership of what it finds.
enum Owner<'a> {
    /// From the ownership tag, for the desired resource (a plan's read).
    Of(&'a Resource),
    /// As already known (a re-read after a change, a wait).
    Known(ObservedOwnership),
}

impl Owner<'_> {
    fn decide(self, profile_tag: Option<&str>) -> ObservedOwnership {
        match self {
            Self::Of(desired) => ObservedOwnership::of(desired, profile_tag),
            Self::Known(ownership) => ownership,
        }
    }

    /// Decides from the RDS tags read with the resource.
    fn from_tags(self, tags: &BTreeMap<String, String>) -> ObservedOwnership {
        self.decide(tags.get(crate::stack::PROFILE_TAG).map(String::as_str))
    }
}

/// An RDS tag list as a map.
pub(crate) fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn rds_tags(spec: &Spec) -> Vec<Tag> {
    spec_tags(spec)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Returns the name `desired` is read by: every RDS resource has one.
fn name_of(desired: &Resource) -> Result<&str, ProviderError> {
    desired.spec.name().ok_or_else(|| {
        ProviderError::rejected(&desired.address, "NoName", "an RDS resource needs a name")
    })
}

/// Refuses to create from a spec that still refers to another resource's output.
fn check_resolved(desired: &Resource) -> Result<(), ProviderError> {
    match desired.spec.refs().first() {
        Some(r) => Err(ProviderError::rejected(
            &desired.address,
            "UnresolvedReference",
            format!("the spec still refers to {r}"),
        )),
        None => Ok(()),
    }
}

/// Reports a list read from AWS in the order of `reference` when both hold the same
/// items, so that order alone never shows as a change.
fn as_set_in_order(mut items: Vec<String>, reference: Option<&Value>) -> Value {
    let wanted = strings(reference);
    let same = {
        let a: BTreeSet<&String> = items.iter().collect();
        let b: BTreeSet<&String> = wanted.iter().collect();
        a == b && items.len() == wanted.len()
    };
    if same {
        return Value::strings(wanted);
    }
    items.sort();
    Value::strings(items)
}

/// Lists AWS keeps as sets (subnets, security groups) in the order the desired spec
/// gives them, when they hold the same items. `read` cannot do it: at that time the
/// desired ids are still references to other resources' outputs.
fn in_desired_order(desired: &Resource, live: &Live) -> Live {
    let mut live = live.clone();
    for attribute in ["subnet_ids", "vpc_security_group_ids"] {
        let (Some(wanted), Some(found)) =
            (desired.spec.get(attribute), live.attributes.get(attribute))
        else {
            continue;
        };
        if !wanted.is_known() {
            continue;
        }
        let aligned = as_set_in_order(strings(Some(found)), Some(wanted));
        live.attributes.insert(attribute, aligned);
    }
    live
}

fn str_attr<'a>(spec: &'a Spec, attribute: &str) -> Option<&'a str> {
    spec.get(attribute).and_then(Value::as_str)
}

fn int_attr(spec: &Spec, attribute: &str) -> Option<i64> {
    spec.get(attribute).and_then(Value::as_int)
}

fn bool_attr(spec: &Spec, attribute: &str) -> Option<bool> {
    spec.get(attribute).and_then(Value::as_bool)
}

/// Narrows an attribute the stack keeps small (sizes, days, IOPS) to the SDK's `i32`.
fn to_i32(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn insert_str(spec: &mut Spec, attribute: &str, value: Option<&str>) {
    if let Some(value) = value {
        spec.insert(attribute, value);
    }
}

fn insert_int(spec: &mut Spec, attribute: &str, value: Option<i32>) {
    if let Some(value) = value {
        spec.insert(attribute, i64::from(value));
    }
}

fn insert_output(outputs: &mut BTreeMap<String, Value>, name: &str, value: Option<&str>) {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        outputs.insert(name.to_owned(), value.into());
    }
}

fn required_str<'a>(desired: &'a Resource, attribute: &str) -> Result<&'a str, ProviderError> {
    str_attr(&desired.spec, attribute).ok_or_else(|| {
        ProviderError::rejected(
            &desired.address,
            "MissingAttribute",
            format!("the spec has no {attribute}"),
        )
    })
}

fn not_found_is_none<T>(result: Result<T, ProviderError>) -> Result<Option<T>, ProviderError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(ProviderError::NotFound { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Deleting what is gone is not an error; a group still used by a database is "in use"
/// (RDS says `Invalid…StateFault`), which the executor reports as such.
fn in_use_or_gone(result: Result<(), ProviderError>) -> Result<(), ProviderError> {
    match result {
        Ok(()) | Err(ProviderError::NotFound { .. }) => Ok(()),
        Err(ProviderError::Rejected {
            address,
            code,
            message,
            ..
        }) if code == "InvalidDBParameterGroupState"
            || code == "InvalidDBSubnetGroupStateFault" =>
        {
            Err(ProviderError::InUse {
                address,
                code,
                message,
            })
        }
        Err(err) => Err(err),
    }
}

fn check_owned(live: &Live) -> Result<(), ProviderError> {
    if live.ownership == ObservedOwnership::Owned {
        return Ok(());
    }
    Err(ProviderError::rejected(
        &live.address,
        "NotOwned",
        format!(
            "{} is not owned by this profile ({:?}); it is never changed or deleted",
            live.id, live.ownership
        ),
    ))
}

fn cannot_change_in_place(
    address: &Address,
    attribute: &str,
    class: &ChangeClass,
) -> ProviderError {
    let reason = match class {
        ChangeClass::Forbidden(reason) => reason.clone(),
        ChangeClass::NeedsReplacement => "it needs the resource replaced".to_owned(),
        _ => "RDS has no call that changes it in place".to_owned(),
    };
    ProviderError::rejected(
        address,
        "NotUpdatable",
        format!("cannot change {attribute}: {reason}"),
    )
}

fn gone(address: &Address, message: &str) -> ProviderError {
    ProviderError::NotFound {
        address: address.clone(),
        code: "NotFound".to_owned(),
        message: message.to_owned(),
    }
}
