//! The DB cluster parameter group (of a Multi-AZ DB cluster) and the DB parameter group
//! (of a Multi-AZ DB instance): the same resource over two API families, one provider
//! type each ([`DbClusterParameterGroupProvider`], [`DbParameterGroupProvider`]).
//!
//! A parameter is compared one by one (`parameters.<name>`), so the plan says for each
//! whether it applies at once (`dynamic`) or after a reboot (`static`), as RDS reports
//! in each parameter's `ApplyType` (RDS API Reference, `Parameter`).

use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::types::{ApplyMethod, Parameter, Tag};

use super::super::sdk_error;
use super::super::support::{Backoff, Poll, poll};
use super::super::tags_value;
use super::{
    Owner, Rds, cannot_change_in_place, check_owned, check_resolved, gone, in_use_or_gone, name_of,
    not_found_is_none, rds_tags, required_str, str_attr,
};
use crate::provider::{
    AttributeChange, ChangeClass, Live, ProviderError, ResourceProvider, Status,
    default_change_class, diff_attributes,
};
use crate::stack::{Address, Resource, ResourceKind, Spec, Value};

/// ModifyDB(Cluster)ParameterGroup takes at most 20 parameters per call (RDS API
/// Reference, `ModifyDBParameterGroup`: "You can modify up to 20 parameters in a single
/// request").
const PARAMETERS_PER_CALL: usize = 20;

/// How often a group is read back while RDS writes its parameters.
const WRITING: Backoff = Backoff {
    first: std::time::Duration::from_secs(2),
    max: std::time::Duration::from_secs(15),
};

/// The provider of the DB cluster parameter group.
pub(crate) type DbClusterParameterGroupProvider = ParameterGroupProvider<ClusterFamily>;
/// The provider of the DB parameter group.
pub(crate) type DbParameterGroupProvider = ParameterGroupProvider<InstanceFamily>;

/// A parameter group provider over the calls of one API family.
pub(crate) struct ParameterGroupProvider<F> {
    rds: Rds,
    family: PhantomData<F>,
}

impl<F: Family> ParameterGroupProvider<F> {
    pub(crate) fn new(rds: Rds) -> Self {
        Self {
            rds,
            family: PhantomData,
        }
    }
}

/// A parameter group as read.
pub(crate) struct GroupInfo {
    name: String,
    family: String,
    description: String,
    arn: String,
}

/// One parameter as read: its value (`None`: unset, no default) and how it applies.
struct ParameterInfo {
    value: Option<String>,
    apply_type: Option<String>,
}

/// The calls of one parameter group API family (`…DBClusterParameterGroup…` or
/// `…DBParameterGroup…`).
#[async_trait]
pub(crate) trait Family: Send + Sync + 'static {
    const KIND: ResourceKind;

    /// Creates the group; returns its ARN when RDS gives it.
    async fn create(
        client: &Client,
        address: &Address,
        name: &str,
        family: &str,
        description: &str,
        tags: Vec<Tag>,
    ) -> Result<Option<String>, ProviderError>;

    /// Sets at most [`PARAMETERS_PER_CALL`] parameters.
    async fn modify(
        client: &Client,
        address: &Address,
        name: &str,
        parameters: Vec<Parameter>,
    ) -> Result<(), ProviderError>;

    async fn delete(client: &Client, address: &Address, name: &str) -> Result<(), ProviderError>;

    /// Describes the group `name`, `NotFound` when there is none.
    async fn describe(
        client: &Client,
        address: &Address,
        name: &str,
    ) -> Result<Option<GroupInfo>, ProviderError>;

    /// Reads one page of the group's parameters: the page and the next marker.
    async fn parameters_page(
        client: &Client,
        address: &Address,
        name: &str,
        source: Option<&str>,
        marker: Option<String>,
    ) -> Result<(Vec<Parameter>, Option<String>), ProviderError>;
}

/// The `…DBClusterParameterGroup…` calls.
pub(crate) struct ClusterFamily;

/// The `…DBParameterGroup…` calls.
pub(crate) struct InstanceFamily;

#[async_trait]
impl Family for ClusterFamily {
    const KIND: ResourceKind = ResourceKind::DbClusterParameterGroup;

    async fn create(
        client: &Client,
        address: &Address,
        name: &str,
        family: &str,
        description: &str,
        tags: Vec<Tag>,
    ) -> Result<Option<String>, ProviderError> {
        Ok(client
            .create_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(name)
            .db_parameter_group_family(family)
            .description(description)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:CreateDBClusterParameterGroup", e))?
            .db_cluster_parameter_group()
            .and_then(|g| g.db_cluster_parameter_group_arn().map(str::to_owned)))
    }

    async fn modify(
        client: &Client,
        address: &Address,
        name: &str,
        parameters: Vec<Parameter>,
    ) -> Result<(), ProviderError> {
        client
            .modify_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(name)
            .set_parameters(Some(parameters))
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:ModifyDBClusterParameterGroup", e))?;
        Ok(())
    }

    async fn delete(client: &Client, address: &Address, name: &str) -> Result<(), ProviderError> {
        client
            .delete_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error(address, "rds:DeleteDBClusterParameterGroup", e))
    }

    async fn describe(
        client: &Client,
        address: &Address,
        name: &str,
    ) -> Result<Option<GroupInfo>, ProviderError> {
        client
            .describe_db_cluster_parameter_groups()
            .db_cluster_parameter_group_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:DescribeDBClusterParameterGroups", e))
            .map(|o| {
                o.db_cluster_parameter_groups().first().map(|g| GroupInfo {
                    name: g
                        .db_cluster_parameter_group_name()
                        .unwrap_or(name)
                        .to_owned(),
                    family: g.db_parameter_group_family().unwrap_or_default().to_owned(),
                    description: g.description().unwrap_or_default().to_owned(),
                    arn: g
                        .db_cluster_parameter_group_arn()
                        .unwrap_or_default()
                        .to_owned(),
                })
            })
    }

    async fn parameters_page(
        client: &Client,
        address: &Address,
        name: &str,
        source: Option<&str>,
        marker: Option<String>,
    ) -> Result<(Vec<Parameter>, Option<String>), ProviderError> {
        let output = client
            .describe_db_cluster_parameters()
            .db_cluster_parameter_group_name(name)
            .set_source(source.map(str::to_owned))
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:DescribeDBClusterParameters", e))?;
        Ok((
            output.parameters().to_vec(),
            output.marker().map(str::to_owned),
        ))
    }
}

#[async_trait]
impl Family for InstanceFamily {
    const KIND: ResourceKind = ResourceKind::DbParameterGroup;

    async fn create(
        client: &Client,
        address: &Address,
        name: &str,
        family: &str,
        description: &str,
        tags: Vec<Tag>,
    ) -> Result<Option<String>, ProviderError> {
        Ok(client
            .create_db_parameter_group()
            .db_parameter_group_name(name)
            .db_parameter_group_family(family)
            .description(description)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:CreateDBParameterGroup", e))?
            .db_parameter_group()
            .and_then(|g| g.db_parameter_group_arn().map(str::to_owned)))
    }

    async fn modify(
        client: &Client,
        address: &Address,
        name: &str,
        parameters: Vec<Parameter>,
    ) -> Result<(), ProviderError> {
        client
            .modify_db_parameter_group()
            .db_parameter_group_name(name)
            .set_parameters(Some(parameters))
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:ModifyDBParameterGroup", e))?;
        Ok(())
    }

    async fn delete(client: &Client, address: &Address, name: &str) -> Result<(), ProviderError> {
        client
            .delete_db_parameter_group()
            .db_parameter_group_name(name)
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error(address, "rds:DeleteDBParameterGroup", e))
    }

    async fn describe(
        client: &Client,
        address: &Address,
        name: &str,
    ) -> Result<Option<GroupInfo>, ProviderError> {
        client
            .describe_db_parameter_groups()
            .db_parameter_group_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:DescribeDBParameterGroups", e))
            .map(|o| {
                o.db_parameter_groups().first().map(|g| GroupInfo {
                    name: g.db_parameter_group_name().unwrap_or(name).to_owned(),
                    family: g.db_parameter_group_family().unwrap_or_default().to_owned(),
                    description: g.description().unwrap_or_default().to_owned(),
                    arn: g.db_parameter_group_arn().unwrap_or_default().to_owned(),
                })
            })
    }

    async fn parameters_page(
        client: &Client,
        address: &Address,
        name: &str,
        source: Option<&str>,
        marker: Option<String>,
    ) -> Result<(Vec<Parameter>, Option<String>), ProviderError> {
        let output = client
            .describe_db_parameters()
            .db_parameter_group_name(name)
            .set_source(source.map(str::to_owned))
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:DescribeDBParameters", e))?;
        Ok((
            output.parameters().to_vec(),
            output.marker().map(str::to_owned),
        ))
    }
}

#[async_trait]
impl<F: Family> ResourceProvider for ParameterGroupProvider<F> {
    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let name = name_of(desired)?;
        let wanted = desired_parameters(&desired.spec).into_keys().collect();
        self.read_group(&desired.address, name, &wanted, Owner::Of(desired))
            .await
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        check_resolved(desired)?;
        self.create_group(desired).await
    }

    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        check_owned(live)?;
        self.update_group(desired, live, changes).await
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        check_owned(live)?;
        in_use_or_gone(F::delete(&self.rds.client, &live.address, &live.id).await)
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        self.wait_written(live).await
    }

    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        poll(Backoff::SLOW, move || async move {
            Ok(match self.describe_group(&live.address, &live.id).await? {
                Some(_) => Poll::Pending,
                None => Poll::Done(()),
            })
        })
        .await
    }

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        parameter_group_diff(desired, live)
    }
}

impl<F: Family> ParameterGroupProvider<F> {
    // --- create --------------------------------------------------------------------------

    async fn create_group(&self, desired: &Resource) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let name = required_str(desired, "name")?;
        let family = required_str(desired, "family")?;
        let description = str_attr(&desired.spec, "description").unwrap_or(name);
        let arn = F::create(
            &self.rds.client,
            address,
            name,
            family,
            description,
            rds_tags(&desired.spec),
        )
        .await?;
        // Nothing uses the new group yet, so `pending-reboot` is right for every
        // parameter (a static one refuses `immediate`), and no apply types need reading:
        // the database created with the group starts with these values.
        let parameters: Vec<(String, String, ApplyMethod)> = desired_parameters(&desired.spec)
            .into_iter()
            .map(|(k, v)| (k, v, ApplyMethod::PendingReboot))
            .collect();
        self.modify_parameters(address, name, parameters).await?;
        let mut outputs = BTreeMap::from([("id".to_owned(), Value::from(name))]);
        if let Some(arn) = arn {
            outputs.insert("arn".to_owned(), arn.into());
        }
        Ok(Live {
            address: address.clone(),
            kind: desired.kind,
            id: name.to_owned(),
            ownership: crate::provider::ObservedOwnership::Owned,
            // `wait_ready` reads the values back before the database may use the group.
            status: Status::InProgress("setting parameters".to_owned()),
            attributes: desired.spec.clone(),
            outputs,
        })
    }

    // --- read ----------------------------------------------------------------------------

    /// Reads the group `name` and the values of the parameters in `wanted`.
    ///
    /// The parameters set by hand come in one short page (`Source=user`); only when a
    /// wanted one is not among them (a parameter the profile just added, or one reset)
    /// is the whole list read, for its default value and its apply type.
    async fn read_group(
        &self,
        address: &Address,
        name: &str,
        wanted: &BTreeSet<String>,
        owner: Owner<'_>,
    ) -> Result<Option<Live>, ProviderError> {
        let Some(group) = self.describe_group(address, name).await? else {
            return Ok(None);
        };
        let tags = self.rds.tags_of(address, &group.arn).await?;
        let mut parameters = self
            .describe_parameters(address, &group.name, Some("user"))
            .await?;
        if wanted.iter().any(|w| !parameters.contains_key(w)) {
            for (name, info) in self.describe_parameters(address, &group.name, None).await? {
                parameters.entry(name).or_insert(info);
            }
        }
        let values: BTreeMap<String, Value> = wanted
            .iter()
            .map(|w| {
                let value = parameters
                    .get(w)
                    .and_then(|p| p.value.clone())
                    .map_or(Value::Null, Value::from);
                (w.clone(), value)
            })
            .collect();
        let apply_types: BTreeMap<String, Value> = wanted
            .iter()
            .filter_map(|w| {
                Some((
                    w.clone(),
                    Value::from(parameters.get(w)?.apply_type.clone()?),
                ))
            })
            .collect();
        let ownership = owner.from_tags(&tags);
        let attributes = Spec::new()
            .with("name", group.name.as_str())
            .with("family", group.family.as_str())
            .with("description", group.description.as_str())
            .with("parameters", Value::Map(values))
            .with("tags", tags_value(tags));
        let outputs = BTreeMap::from([
            ("id".to_owned(), Value::from(group.name.as_str())),
            ("arn".to_owned(), Value::from(group.arn.as_str())),
            ("apply_types".to_owned(), Value::Map(apply_types)),
        ]);
        Ok(Some(Live {
            address: address.clone(),
            kind: F::KIND,
            id: group.name,
            ownership,
            status: Status::Ready,
            attributes,
            outputs,
        }))
    }

    // --- update --------------------------------------------------------------------------

    async fn update_group(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let wanted = desired_parameters(&desired.spec);
        let mut changed: BTreeSet<String> = BTreeSet::new();
        for change in changes {
            match change.attribute.as_str() {
                "tags" => self.rds.add_tags(address, live, &desired.spec).await?,
                // The whole map, as the shared diff would report it.
                "parameters" => changed.extend(wanted.keys().cloned()),
                other => match other.strip_prefix("parameters.") {
                    Some(name) => {
                        changed.insert(name.to_owned());
                    }
                    None => return Err(cannot_change_in_place(address, other, &change.class)),
                },
            }
        }
        let current = live.attributes.get("parameters").and_then(Value::as_map);
        let parameters: Vec<(String, String, ApplyMethod)> = wanted
            .iter()
            .filter(|(name, value)| {
                changed.contains(name.as_str())
                    && current.and_then(|c| c.get(*name)).and_then(Value::as_str)
                        != Some(value.as_str())
            })
            .map(|(name, value)| {
                let method = match parameter_class(name, apply_type_of(live, name).as_deref()) {
                    ChangeClass::InPlace => ApplyMethod::Immediate,
                    _ => ApplyMethod::PendingReboot,
                };
                (name.clone(), value.clone(), method)
            })
            .collect();
        self.modify_parameters(address, &live.id, parameters)
            .await?;
        let mut attributes = live.attributes.clone();
        if let Some(Value::Map(current)) = live.attributes.get("parameters") {
            let mut merged = current.clone();
            for (name, value) in &wanted {
                merged.insert(name.clone(), value.as_str().into());
            }
            attributes.insert("parameters", Value::Map(merged));
        }
        Ok(Live {
            status: Status::InProgress("setting parameters".to_owned()),
            attributes,
            ..live.clone()
        })
    }

    async fn modify_parameters(
        &self,
        address: &Address,
        name: &str,
        parameters: Vec<(String, String, ApplyMethod)>,
    ) -> Result<(), ProviderError> {
        let parameters: Vec<Parameter> = parameters
            .into_iter()
            .map(|(name, value, method)| {
                Parameter::builder()
                    .parameter_name(name)
                    .parameter_value(value)
                    .apply_method(method)
                    .build()
            })
            .collect();
        for chunk in parameters.chunks(PARAMETERS_PER_CALL) {
            F::modify(&self.rds.client, address, name, chunk.to_vec()).await?;
        }
        Ok(())
    }

    // --- finders -------------------------------------------------------------------------

    async fn describe_group(
        &self,
        address: &Address,
        name: &str,
    ) -> Result<Option<GroupInfo>, ProviderError> {
        not_found_is_none(F::describe(&self.rds.client, address, name).await).map(Option::flatten)
    }

    /// Reads a group's parameters, every page; `source` narrows to e.g. `user`.
    async fn describe_parameters(
        &self,
        address: &Address,
        name: &str,
        source: Option<&str>,
    ) -> Result<BTreeMap<String, ParameterInfo>, ProviderError> {
        let mut parameters = BTreeMap::new();
        let mut marker = None;
        loop {
            let (page, next) =
                F::parameters_page(&self.rds.client, address, name, source, marker).await?;
            for parameter in page {
                if let Some(name) = parameter.parameter_name() {
                    parameters.insert(
                        name.to_owned(),
                        ParameterInfo {
                            value: parameter.parameter_value().map(str::to_owned),
                            apply_type: parameter.apply_type().map(str::to_owned),
                        },
                    );
                }
            }
            marker = next;
            if marker.is_none() {
                return Ok(parameters);
            }
        }
    }

    // --- waiters -------------------------------------------------------------------------

    /// Reads the group back until every parameter the last write set shows its value:
    /// the database must not be created on a group RDS has not finished writing.
    async fn wait_written(&self, live: &Live) -> Result<Live, ProviderError> {
        let expected = live
            .attributes
            .get("parameters")
            .and_then(Value::as_map)
            .cloned()
            .unwrap_or_default();
        let wanted: BTreeSet<String> = expected.keys().cloned().collect();
        let (expected, wanted) = (&expected, &wanted);
        poll(WRITING, move || async move {
            let owner = Owner::Known(live.ownership.clone());
            let read = self
                .read_group(&live.address, &live.id, wanted, owner)
                .await?;
            let Some(mut read) = read else {
                return Err(gone(
                    &live.address,
                    "the parameter group disappeared while its parameters were set",
                ));
            };
            let current = read
                .attributes
                .get("parameters")
                .and_then(Value::as_map)
                .cloned()
                .unwrap_or_default();
            if expected.iter().all(|(k, v)| current.get(k) == Some(v)) {
                read.status = Status::Ready;
                return Ok(Poll::Done(read));
            }
            Ok(Poll::Pending)
        })
        .await
    }
}

// --- diff and classification -------------------------------------------------------------

/// Compares a parameter group, one change per parameter (`parameters.<name>`), so the
/// plan says for each whether it applies at once or after a reboot.
fn parameter_group_diff(desired: &Resource, live: &Live) -> Vec<AttributeChange> {
    let mut rest = desired.clone();
    rest.spec.remove("parameters");
    let mut changes = diff_attributes(&rest, live, default_change_class);
    let Some(current) = live.attributes.get("parameters").and_then(Value::as_map) else {
        return changes;
    };
    for (name, wanted) in desired_parameters(&desired.spec) {
        let before = current.get(&name);
        if before.and_then(Value::as_str) == Some(wanted.as_str()) {
            continue;
        }
        changes.push(AttributeChange {
            attribute: format!("parameters.{name}"),
            before: before.cloned(),
            after: Some(Value::from(wanted)),
            class: parameter_class(&name, apply_type_of(live, &name).as_deref()),
            note: None,
        });
    }
    changes
}

/// The profile's parameters as name → value.
fn desired_parameters(spec: &Spec) -> BTreeMap<String, String> {
    spec.get("parameters")
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn apply_type_of(live: &Live, name: &str) -> Option<String> {
    live.outputs
        .get("apply_types")?
        .as_map()?
        .get(name)?
        .as_str()
        .map(str::to_owned)
}

/// What changing a parameter costs: a `dynamic` one applies at once, a `static` one on
/// the next reboot. RDS reports the apply type of every parameter of the family; for one
/// it did not report, PostgreSQL's own context of a few well-known parameters decides
/// (PostgreSQL documentation, "Server Configuration": `postmaster` parameters need a
/// restart), and an unknown one is assumed to need a reboot — the cautious answer.
fn parameter_class(name: &str, apply_type: Option<&str>) -> ChangeClass {
    const DYNAMIC: &[&str] = &[
        "password_encryption",
        "log_min_duration_statement",
        "log_statement",
        "statement_timeout",
        "idle_in_transaction_session_timeout",
        "work_mem",
        "maintenance_work_mem",
        "rds.force_ssl",
        "timezone",
    ];
    const STATIC: &[&str] = &[
        "max_connections",
        "shared_buffers",
        "shared_preload_libraries",
        "max_wal_senders",
    ];
    let dynamic = match apply_type {
        Some(t) => t.eq_ignore_ascii_case("dynamic"),
        None if DYNAMIC.contains(&name) => true,
        None if STATIC.contains(&name) => false,
        None => false,
    };
    if dynamic {
        ChangeClass::InPlace
    } else {
        ChangeClass::NeedsReboot
    }
}

#[cfg(test)]
mod tests;
