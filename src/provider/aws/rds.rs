//! RDS for PostgreSQL: the (cluster) parameter group, the DB subnet group, and the
//! Multi-AZ DB cluster or Multi-AZ DB instance (AWS-FACTS.md, RDS).
//!
//! One [`RdsProvider`] serves the five RDS kinds. Besides the trait it offers
//! [`RdsProvider::preflight`], the read-only checks `plan` makes before proposing a
//! database (the engine version exists, the instance class is orderable in that mode),
//! and it enforces safe teardown: a protected database is never deleted unless the
//! options say so, and a final snapshot is taken unless they say not to.
//!
//! The master password, when it comes from the environment, is resolved through the
//! [`SecretLookup`](super::SecretLookup) only while building the create or modify call;
//! no password is ever put in a `Live`, an error or a log.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::types::{ApplyMethod, DbCluster, DbInstance, Parameter, Tag};

use super::options::{FinalSnapshot, ProviderOptions, TeardownOptions};
use super::{sdk_error, spec_tags, tags_value};
use crate::profile::{RdsMode, check_master_password};
use crate::provider::{
    AttributeChange, ChangeClass, Live, ObservedOwnership, ProviderError, Providers,
    ResourceProvider, Status, default_change_class, diff_attributes,
};
use crate::stack::{Address, Resource, ResourceKind, Spec, Value};

/// The RDS kinds this module provides.
pub const KINDS: [ResourceKind; 5] = [
    ResourceKind::DbClusterParameterGroup,
    ResourceKind::DbParameterGroup,
    ResourceKind::DbSubnetGroup,
    ResourceKind::DbCluster,
    ResourceKind::DbInstance,
];

const ENGINE: &str = "postgres";

/// ModifyDB(Cluster)ParameterGroup takes at most 20 parameters per call.
const PARAMETERS_PER_CALL: usize = 20;

/// Registers the RDS provider for its kinds.
pub fn register(
    providers: &mut Providers,
    config: &aws_config::SdkConfig,
    options: &ProviderOptions,
) {
    let provider = Arc::new(RdsProvider::new(Client::new(config), options.clone()));
    for kind in KINDS {
        providers.insert(kind, provider.clone());
    }
}

/// Runs the pre-flight checks of every database in `resources` (see
/// [`RdsProvider::preflight`]); other resources have none.
pub async fn preflight(
    config: &aws_config::SdkConfig,
    resources: &[Resource],
) -> Result<Vec<Finding>, ProviderError> {
    let provider = RdsProvider::new(Client::new(config), ProviderOptions::default());
    let mut findings = Vec::new();
    for resource in resources {
        findings.extend(provider.preflight(resource).await?);
    }
    Ok(findings)
}

/// Runs the pre-flight checks of the databases `plan` creates or replaces in `stack`, or
/// updates in one of [`PREFLIGHT_ATTRIBUTES`], and refuses in `plan` every change an
/// error finding is about (RDS said it would reject it), so that neither `plan` nor `up`
/// goes on as if it could be applied. Returns every finding, warnings included.
pub async fn check_plan(
    config: &aws_config::SdkConfig,
    stack: &crate::stack::Stack,
    plan: &mut crate::plan::Plan,
) -> Result<Vec<Finding>, ProviderError> {
    let provider = RdsProvider::new(Client::new(config), ProviderOptions::default());
    provider.check_plan(stack, plan).await
}

/// The database attributes whose change calls for the pre-flight checks again (besides
/// a create or replace): what the orderable options and the engine versions constrain.
pub const PREFLIGHT_ATTRIBUTES: [&str; 6] = [
    "engine_version",
    "db_cluster_instance_class",
    "db_instance_class",
    "storage_type",
    "allocated_storage",
    "iops",
];

/// How serious a pre-flight finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// RDS answered, and the answer says creating the resource would fail.
    Error,
    /// Something could not be checked, or will work but deserves attention.
    Warning,
}

/// One result of a pre-flight check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub address: Address,
    pub severity: Severity,
    pub message: String,
}

/// The RDS side of the provider boundary.
pub struct RdsProvider {
    client: Client,
    options: ProviderOptions,
}

/// Which API family a parameter group kind uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupApi {
    Cluster,
    Instance,
}

impl GroupApi {
    fn of(kind: ResourceKind) -> Self {
        if kind == ResourceKind::DbClusterParameterGroup {
            Self::Cluster
        } else {
            Self::Instance
        }
    }
}

/// A parameter group as read.
struct GroupInfo {
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

impl RdsProvider {
    /// Makes the provider over an RDS client; `options` says how `down` treats the
    /// database and how the master password reference is resolved.
    pub fn new(client: Client, options: ProviderOptions) -> Self {
        Self { client, options }
    }

    fn teardown(&self) -> &TeardownOptions {
        &self.options.teardown
    }

    // --- pre-flight ----------------------------------------------------------------------

    /// See [`check_plan`].
    pub async fn check_plan(
        &self,
        stack: &crate::stack::Stack,
        plan: &mut crate::plan::Plan,
    ) -> Result<Vec<Finding>, ProviderError> {
        let mut findings = Vec::new();
        for resource in plan.resources_changing(stack, &PREFLIGHT_ATTRIBUTES) {
            findings.extend(self.preflight(&resource).await?);
        }
        for finding in &findings {
            if finding.severity == Severity::Error {
                let kind = stack
                    .get(&finding.address)
                    .map_or(ResourceKind::DbCluster, |r| r.kind);
                plan.refuse(
                    finding.address.clone(),
                    kind,
                    format!("pre-flight check: {}", finding.message),
                );
            }
        }
        Ok(findings)
    }

    /// Checks, with read-only calls, that RDS can create the database `desired`
    /// describes: the engine version exists (DescribeDBEngineVersions) and the instance
    /// class is orderable for it in the chosen mode, with the storage asked for
    /// (DescribeOrderableDBInstanceOptions: `SupportsClusters` for a Multi-AZ DB cluster,
    /// `MultiAZCapable` for a Multi-AZ DB instance). Returns nothing for other kinds.
    ///
    /// A check that cannot be made (no permission, the service failing) is a warning,
    /// not an error: the plan is still worth showing.
    pub async fn preflight(&self, desired: &Resource) -> Result<Vec<Finding>, ProviderError> {
        let cluster = match desired.kind {
            ResourceKind::DbCluster => true,
            ResourceKind::DbInstance => false,
            _ => return Ok(Vec::new()),
        };
        let spec = &desired.spec;
        let address = &desired.address;
        let finding = |severity, message: String| Finding {
            address: address.clone(),
            severity,
            message,
        };
        let mut findings = Vec::new();
        let Some(version) = str_attr(spec, "engine_version") else {
            return Ok(findings);
        };
        let class_attribute = if cluster {
            "db_cluster_instance_class"
        } else {
            "db_instance_class"
        };
        let class = str_attr(spec, class_attribute).unwrap_or_default();
        let mode = if cluster {
            "a Multi-AZ DB cluster"
        } else {
            "a Multi-AZ DB instance"
        };

        match self.engine_version_exists(address, version).await {
            Ok(Some(status)) if status == "deprecated" => findings.push(finding(
                Severity::Warning,
                format!("PostgreSQL {version} is deprecated on RDS: new databases may soon be refused; choose a newer minor version"),
            )),
            Ok(Some(_)) => {}
            Ok(None) => {
                let others = self.versions_of_family(address, version).await.unwrap_or_default();
                let hint = if others.is_empty() {
                    String::new()
                } else {
                    format!("; versions offered: {}", others.join(", "))
                };
                findings.push(finding(
                    Severity::Error,
                    format!("RDS does not offer PostgreSQL {version} in this region{hint}"),
                ));
                // The class check would only repeat that the version is not offered.
                return Ok(findings);
            }
            Err(err) => findings.push(finding(
                Severity::Warning,
                format!("could not check that PostgreSQL {version} exists: {err}"),
            )),
        }

        let options = match self.orderable_options(address, version, class).await {
            Ok(options) => options,
            Err(err) => {
                findings.push(finding(
                    Severity::Warning,
                    format!(
                        "could not check that {class} is orderable for PostgreSQL {version}: {err}"
                    ),
                ));
                return Ok(findings);
            }
        };
        let in_mode: Vec<&aws_sdk_rds::types::OrderableDbInstanceOption> = options
            .iter()
            .filter(|o| {
                if cluster {
                    o.supports_clusters() == Some(true)
                } else {
                    o.multi_az_capable() == Some(true)
                }
            })
            .collect();
        if options.is_empty() {
            findings.push(finding(
                Severity::Error,
                format!("instance class {class} is not orderable for PostgreSQL {version} in this region"),
            ));
            return Ok(findings);
        }
        if in_mode.is_empty() {
            findings.push(finding(
                Severity::Error,
                format!("instance class {class} is orderable for PostgreSQL {version}, but not as {mode}"),
            ));
            return Ok(findings);
        }
        let Some(storage_type) = str_attr(spec, "storage_type") else {
            return Ok(findings);
        };
        let with_storage: Vec<_> = in_mode
            .iter()
            .filter(|o| o.storage_type() == Some(storage_type))
            .collect();
        let Some(option) = with_storage.first() else {
            let offered: BTreeSet<&str> = in_mode.iter().filter_map(|o| o.storage_type()).collect();
            findings.push(finding(
                Severity::Error,
                format!(
                    "{class} as {mode} does not offer {storage_type} storage for PostgreSQL {version}; offered: {}",
                    offered.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ));
            return Ok(findings);
        };
        if let Some(size) = int_attr(spec, "allocated_storage") {
            let (min, max) = (option.min_storage_size(), option.max_storage_size());
            if min.is_some_and(|m| size < i64::from(m)) || max.is_some_and(|m| size > i64::from(m))
            {
                findings.push(finding(
                    Severity::Error,
                    format!(
                        "{size} GiB of {storage_type} is outside what RDS allows for {class} ({}–{} GiB)",
                        min.unwrap_or_default(),
                        max.unwrap_or_default()
                    ),
                ));
            }
        }
        if let Some(iops) = int_attr(spec, "iops") {
            let (min, max) = (
                option.min_iops_per_db_instance(),
                option.max_iops_per_db_instance(),
            );
            if min.is_some_and(|m| iops < i64::from(m)) || max.is_some_and(|m| iops > i64::from(m))
            {
                findings.push(finding(
                    Severity::Error,
                    format!(
                        "{iops} IOPS is outside what RDS allows for {class} with {storage_type} ({}–{})",
                        min.unwrap_or_default(),
                        max.unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(findings)
    }

    /// Returns the status of the engine version (`available`, `deprecated`), or `None`
    /// when RDS does not offer it.
    async fn engine_version_exists(
        &self,
        address: &Address,
        version: &str,
    ) -> Result<Option<String>, ProviderError> {
        let output = self
            .client
            .describe_db_engine_versions()
            .engine(ENGINE)
            .engine_version(version)
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:DescribeDBEngineVersions", e))?;
        Ok(output
            .db_engine_versions()
            .iter()
            .find(|v| v.engine_version() == Some(version))
            .map(|v| v.status().unwrap_or("available").to_owned()))
    }

    /// Lists the versions offered in `version`'s major line, for the hint of an error.
    async fn versions_of_family(
        &self,
        address: &Address,
        version: &str,
    ) -> Result<Vec<String>, ProviderError> {
        let major = version.split('.').next().unwrap_or(version);
        let output = self
            .client
            .describe_db_engine_versions()
            .engine(ENGINE)
            .db_parameter_group_family(format!("postgres{major}"))
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:DescribeDBEngineVersions", e))?;
        Ok(output
            .db_engine_versions()
            .iter()
            .filter_map(|v| v.engine_version().map(str::to_owned))
            .collect())
    }

    async fn orderable_options(
        &self,
        address: &Address,
        version: &str,
        class: &str,
    ) -> Result<Vec<aws_sdk_rds::types::OrderableDbInstanceOption>, ProviderError> {
        let mut options = Vec::new();
        let mut marker = None;
        loop {
            let output = self
                .client
                .describe_orderable_db_instance_options()
                .engine(ENGINE)
                .engine_version(version)
                .db_instance_class(class)
                .vpc(true)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| sdk_error(address, "rds:DescribeOrderableDBInstanceOptions", e))?;
            options.extend(output.orderable_db_instance_options().iter().cloned());
            marker = output.marker().map(str::to_owned);
            if marker.is_none() {
                return Ok(options);
            }
        }
    }

    // --- parameter groups ----------------------------------------------------------------

    async fn describe_group(
        &self,
        api: GroupApi,
        address: &Address,
        name: &str,
    ) -> Result<Option<GroupInfo>, ProviderError> {
        let result = match api {
            GroupApi::Cluster => self
                .client
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
                }),
            GroupApi::Instance => self
                .client
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
                }),
        };
        not_found_is_none(result).map(Option::flatten)
    }

    /// Reads a group's parameters, every page; `source` narrows to e.g. `user`.
    async fn describe_parameters(
        &self,
        api: GroupApi,
        address: &Address,
        name: &str,
        source: Option<&str>,
    ) -> Result<BTreeMap<String, ParameterInfo>, ProviderError> {
        let mut parameters = BTreeMap::new();
        let mut marker = None;
        loop {
            let (page, next) = match api {
                GroupApi::Cluster => {
                    let output = self
                        .client
                        .describe_db_cluster_parameters()
                        .db_cluster_parameter_group_name(name)
                        .set_source(source.map(str::to_owned))
                        .set_marker(marker)
                        .send()
                        .await
                        .map_err(|e| sdk_error(address, "rds:DescribeDBClusterParameters", e))?;
                    (
                        output.parameters().to_vec(),
                        output.marker().map(str::to_owned),
                    )
                }
                GroupApi::Instance => {
                    let output = self
                        .client
                        .describe_db_parameters()
                        .db_parameter_group_name(name)
                        .set_source(source.map(str::to_owned))
                        .set_marker(marker)
                        .send()
                        .await
                        .map_err(|e| sdk_error(address, "rds:DescribeDBParameters", e))?;
                    (
                        output.parameters().to_vec(),
                        output.marker().map(str::to_owned),
                    )
                }
            };
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

    /// Reads the group `name` and the values of the parameters in `wanted`.
    ///
    /// The parameters set by hand come in one short page (`Source=user`); only when a
    /// wanted one is not among them (a parameter the profile just added, or one reset)
    /// is the whole list read, for its default value and its apply type.
    async fn read_parameter_group(
        &self,
        kind: ResourceKind,
        address: &Address,
        name: &str,
        wanted: &BTreeSet<String>,
        ownership: impl FnOnce(Option<&str>) -> ObservedOwnership,
    ) -> Result<Option<Live>, ProviderError> {
        let api = GroupApi::of(kind);
        let Some(group) = self.describe_group(api, address, name).await? else {
            return Ok(None);
        };
        let tags = self.tags_of(address, &group.arn).await?;
        let mut parameters = self
            .describe_parameters(api, address, &group.name, Some("user"))
            .await?;
        if wanted.iter().any(|w| !parameters.contains_key(w)) {
            for (name, info) in self
                .describe_parameters(api, address, &group.name, None)
                .await?
            {
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
        let ownership = ownership(tags.get(crate::stack::PROFILE_TAG).map(String::as_str));
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
            kind,
            id: group.name,
            ownership,
            status: Status::Ready,
            attributes,
            outputs,
        }))
    }

    async fn create_parameter_group(&self, desired: &Resource) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let name = required_str(desired, "name")?;
        let family = required_str(desired, "family")?;
        let description = str_attr(&desired.spec, "description").unwrap_or(name);
        let tags = rds_tags(&desired.spec);
        let arn = match GroupApi::of(desired.kind) {
            GroupApi::Cluster => self
                .client
                .create_db_cluster_parameter_group()
                .db_cluster_parameter_group_name(name)
                .db_parameter_group_family(family)
                .description(description)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| sdk_error(address, "rds:CreateDBClusterParameterGroup", e))?
                .db_cluster_parameter_group()
                .and_then(|g| g.db_cluster_parameter_group_arn().map(str::to_owned)),
            GroupApi::Instance => self
                .client
                .create_db_parameter_group()
                .db_parameter_group_name(name)
                .db_parameter_group_family(family)
                .description(description)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| sdk_error(address, "rds:CreateDBParameterGroup", e))?
                .db_parameter_group()
                .and_then(|g| g.db_parameter_group_arn().map(str::to_owned)),
        };
        // Nothing uses the new group yet, so `pending-reboot` is right for every
        // parameter (a static one refuses `immediate`), and no apply types need reading:
        // the database created with the group starts with these values.
        let parameters: Vec<(String, String, ApplyMethod)> = desired_parameters(&desired.spec)
            .into_iter()
            .map(|(k, v)| (k, v, ApplyMethod::PendingReboot))
            .collect();
        self.modify_parameters(desired.kind, address, name, parameters)
            .await?;
        let mut outputs = BTreeMap::from([("id".to_owned(), Value::from(name))]);
        if let Some(arn) = arn {
            outputs.insert("arn".to_owned(), arn.into());
        }
        Ok(Live {
            address: address.clone(),
            kind: desired.kind,
            id: name.to_owned(),
            ownership: ObservedOwnership::Owned,
            // `wait_ready` reads the values back before the database may use the group.
            status: Status::InProgress("setting parameters".to_owned()),
            attributes: desired.spec.clone(),
            outputs,
        })
    }

    async fn modify_parameters(
        &self,
        kind: ResourceKind,
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
            match GroupApi::of(kind) {
                GroupApi::Cluster => {
                    self.client
                        .modify_db_cluster_parameter_group()
                        .db_cluster_parameter_group_name(name)
                        .set_parameters(Some(chunk.to_vec()))
                        .send()
                        .await
                        .map_err(|e| sdk_error(address, "rds:ModifyDBClusterParameterGroup", e))?;
                }
                GroupApi::Instance => {
                    self.client
                        .modify_db_parameter_group()
                        .db_parameter_group_name(name)
                        .set_parameters(Some(chunk.to_vec()))
                        .send()
                        .await
                        .map_err(|e| sdk_error(address, "rds:ModifyDBParameterGroup", e))?;
                }
            }
        }
        Ok(())
    }

    async fn update_parameter_group(
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
                "tags" => self.add_tags(address, live, &desired.spec).await?,
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
        self.modify_parameters(desired.kind, address, &live.id, parameters)
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

    /// Reads the group back until every parameter the last write set shows its value:
    /// the database must not be created on a group RDS has not finished writing.
    async fn wait_parameter_group(&self, live: &Live) -> Result<Live, ProviderError> {
        let expected = live
            .attributes
            .get("parameters")
            .and_then(Value::as_map)
            .cloned()
            .unwrap_or_default();
        let wanted: BTreeSet<String> = expected.keys().cloned().collect();
        let mut delay = Backoff::new(Duration::from_secs(2), Duration::from_secs(15));
        loop {
            let ownership = live.ownership.clone();
            let read = self
                .read_parameter_group(live.kind, &live.address, &live.id, &wanted, |_| ownership)
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
                return Ok(read);
            }
            delay.sleep().await;
        }
    }

    async fn delete_parameter_group(&self, live: &Live) -> Result<(), ProviderError> {
        let address = &live.address;
        let result = match GroupApi::of(live.kind) {
            GroupApi::Cluster => self
                .client
                .delete_db_cluster_parameter_group()
                .db_cluster_parameter_group_name(&live.id)
                .send()
                .await
                .map(drop)
                .map_err(|e| sdk_error(address, "rds:DeleteDBClusterParameterGroup", e)),
            GroupApi::Instance => self
                .client
                .delete_db_parameter_group()
                .db_parameter_group_name(&live.id)
                .send()
                .await
                .map(drop)
                .map_err(|e| sdk_error(address, "rds:DeleteDBParameterGroup", e)),
        };
        in_use_or_gone(result)
    }

    // --- subnet group --------------------------------------------------------------------

    async fn read_subnet_group(
        &self,
        address: &Address,
        name: &str,
        reference: &Spec,
        ownership: impl FnOnce(Option<&str>) -> ObservedOwnership,
    ) -> Result<Option<Live>, ProviderError> {
        let result = self
            .client
            .describe_db_subnet_groups()
            .db_subnet_group_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:DescribeDBSubnetGroups", e));
        let Some(output) = not_found_is_none(result)? else {
            return Ok(None);
        };
        let Some(group) = output.db_subnet_groups().first() else {
            return Ok(None);
        };
        let arn = group.db_subnet_group_arn().unwrap_or_default().to_owned();
        let tags = self.tags_of(address, &arn).await?;
        let subnets: Vec<String> = group
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_identifier().map(str::to_owned))
            .collect();
        let name = group.db_subnet_group_name().unwrap_or(name).to_owned();
        let attributes = Spec::new()
            .with("name", name.as_str())
            .with(
                "description",
                group.db_subnet_group_description().unwrap_or_default(),
            )
            .with(
                "subnet_ids",
                as_set_in_order(subnets, reference.get("subnet_ids")),
            )
            .with("tags", tags_value(tags.clone()));
        let mut outputs = BTreeMap::from([
            ("id".to_owned(), Value::from(name.as_str())),
            ("arn".to_owned(), Value::from(arn)),
        ]);
        if let Some(vpc) = group.vpc_id() {
            outputs.insert("vpc_id".to_owned(), vpc.into());
        }
        Ok(Some(Live {
            address: address.clone(),
            kind: ResourceKind::DbSubnetGroup,
            id: name,
            ownership: ownership(tags.get(crate::stack::PROFILE_TAG).map(String::as_str)),
            status: Status::Ready,
            attributes,
            outputs,
        }))
    }

    async fn create_subnet_group(&self, desired: &Resource) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let name = required_str(desired, "name")?;
        let subnets = strings(desired.spec.get("subnet_ids"));
        self.client
            .create_db_subnet_group()
            .db_subnet_group_name(name)
            .db_subnet_group_description(str_attr(&desired.spec, "description").unwrap_or(name))
            .set_subnet_ids(Some(subnets))
            .set_tags(Some(rds_tags(&desired.spec)))
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:CreateDBSubnetGroup", e))?;
        self.read_subnet_group(address, name, &desired.spec, |_| ObservedOwnership::Owned)
            .await?
            .ok_or_else(|| {
                gone(
                    address,
                    "the DB subnet group was created but cannot be read",
                )
            })
    }

    async fn update_subnet_group(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let mut modify = false;
        for change in changes {
            match change.attribute.as_str() {
                "tags" => self.add_tags(address, live, &desired.spec).await?,
                "subnet_ids" | "description" => modify = true,
                other => return Err(cannot_change_in_place(address, other, &change.class)),
            }
        }
        if modify {
            // ModifyDBSubnetGroup replaces the whole list, so it always gets all of it.
            self.client
                .modify_db_subnet_group()
                .db_subnet_group_name(&live.id)
                .set_db_subnet_group_description(
                    str_attr(&desired.spec, "description").map(str::to_owned),
                )
                .set_subnet_ids(Some(strings(desired.spec.get("subnet_ids"))))
                .send()
                .await
                .map_err(|e| sdk_error(address, "rds:ModifyDBSubnetGroup", e))?;
        }
        let ownership = live.ownership.clone();
        self.read_subnet_group(address, &live.id, &desired.spec, |_| ownership)
            .await?
            .ok_or_else(|| {
                gone(
                    address,
                    "the DB subnet group disappeared while it was changed",
                )
            })
    }

    // --- database ------------------------------------------------------------------------

    async fn describe_cluster(
        &self,
        address: &Address,
        id: &str,
    ) -> Result<Option<DbCluster>, ProviderError> {
        let result = self
            .client
            .describe_db_clusters()
            .db_cluster_identifier(id)
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:DescribeDBClusters", e));
        Ok(not_found_is_none(result)?.and_then(|o| o.db_clusters().first().cloned()))
    }

    async fn describe_instance(
        &self,
        address: &Address,
        id: &str,
    ) -> Result<Option<DbInstance>, ProviderError> {
        let result = self
            .client
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:DescribeDBInstances", e));
        Ok(not_found_is_none(result)?.and_then(|o| o.db_instances().first().cloned()))
    }

    /// Reads the database `id` of `kind` as a `Live`; `reference` (the desired spec, or
    /// the last `Live`'s attributes) only decides how equal sets are ordered.
    async fn read_database(
        &self,
        kind: ResourceKind,
        address: &Address,
        id: &str,
        reference: &Spec,
        ownership: impl FnOnce(Option<&str>) -> ObservedOwnership,
    ) -> Result<Option<Live>, ProviderError> {
        Ok(match kind {
            ResourceKind::DbCluster => self
                .describe_cluster(address, id)
                .await?
                .map(|c| cluster_live(address, &c, reference, ownership)),
            _ => self
                .describe_instance(address, id)
                .await?
                .map(|i| instance_live(address, &i, reference, ownership)),
        })
    }

    /// Resolves the master password reference of `spec`, if it has one, and checks it
    /// against RDS's rules — without ever putting the value in an error.
    fn master_password(
        &self,
        address: &Address,
        kind: ResourceKind,
        spec: &Spec,
    ) -> Result<Option<String>, ProviderError> {
        let Some(Value::Secret(reference)) = spec.get("master_user_password") else {
            return Ok(None);
        };
        let Some(password) = (self.options.secrets)(reference) else {
            return Err(ProviderError::rejected(
                address,
                "MissingSecret",
                format!("the master password comes from {reference}, which is not set"),
            ));
        };
        // The profile's rule, checked again here because the value is read only now.
        let mode = if kind == ResourceKind::DbCluster {
            RdsMode::MultiAzCluster
        } else {
            RdsMode::MultiAzInstance
        };
        if let Err(problem) = check_master_password(&password, mode) {
            return Err(ProviderError::rejected(
                address,
                "InvalidMasterPassword",
                format!(
                    "the master password from {reference}: {}; {}",
                    problem.message, problem.hint
                ),
            ));
        }
        Ok(Some(password))
    }

    async fn create_database(&self, desired: &Resource) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let spec = &desired.spec;
        let id = required_str(desired, "name")?;
        let password = self.master_password(address, desired.kind, spec)?;
        let managed =
            password.is_none() && bool_attr(spec, "manage_master_user_password").unwrap_or(true);
        let copy_tags = bool_attr(spec, "copy_tags_to_snapshot").unwrap_or(true);
        let public = bool_attr(spec, "publicly_accessible").unwrap_or(false);
        let iops = int_attr(spec, "iops").map(to_i32);
        if desired.kind == ResourceKind::DbCluster {
            let output = self
                .client
                .create_db_cluster()
                .db_cluster_identifier(id)
                .engine(str_attr(spec, "engine").unwrap_or(ENGINE))
                .set_engine_version(str_attr(spec, "engine_version").map(str::to_owned))
                .set_db_cluster_instance_class(
                    str_attr(spec, "db_cluster_instance_class").map(str::to_owned),
                )
                .set_storage_type(str_attr(spec, "storage_type").map(str::to_owned))
                .set_allocated_storage(int_attr(spec, "allocated_storage").map(to_i32))
                .set_iops(iops)
                .set_master_username(str_attr(spec, "master_username").map(str::to_owned))
                .set_manage_master_user_password(managed.then_some(true))
                .set_master_user_password(password)
                .set_db_cluster_parameter_group_name(
                    str_attr(spec, "db_cluster_parameter_group_name").map(str::to_owned),
                )
                .set_db_subnet_group_name(str_attr(spec, "db_subnet_group_name").map(str::to_owned))
                .set_vpc_security_group_ids(Some(strings(spec.get("vpc_security_group_ids"))))
                .set_port(int_attr(spec, "port").map(to_i32))
                .set_backup_retention_period(int_attr(spec, "backup_retention_period").map(to_i32))
                .set_storage_encrypted(bool_attr(spec, "storage_encrypted"))
                .set_kms_key_id(str_attr(spec, "kms_key_id").map(str::to_owned))
                .set_deletion_protection(bool_attr(spec, "deletion_protection"))
                .copy_tags_to_snapshot(copy_tags)
                .publicly_accessible(public)
                .set_tags(Some(rds_tags(spec)))
                .send()
                .await
                .map_err(|e| sdk_error(address, "rds:CreateDBCluster", e))?;
            let cluster = output
                .db_cluster()
                .ok_or_else(|| gone(address, "CreateDBCluster answered without the cluster"))?;
            Ok(cluster_live(address, cluster, spec, |_| {
                ObservedOwnership::Owned
            }))
        } else {
            let output = self
                .client
                .create_db_instance()
                .db_instance_identifier(id)
                .engine(str_attr(spec, "engine").unwrap_or(ENGINE))
                .set_engine_version(str_attr(spec, "engine_version").map(str::to_owned))
                .set_db_instance_class(str_attr(spec, "db_instance_class").map(str::to_owned))
                .set_storage_type(str_attr(spec, "storage_type").map(str::to_owned))
                .set_allocated_storage(int_attr(spec, "allocated_storage").map(to_i32))
                .set_iops(iops)
                .set_master_username(str_attr(spec, "master_username").map(str::to_owned))
                .set_manage_master_user_password(managed.then_some(true))
                .set_master_user_password(password)
                .set_db_parameter_group_name(
                    str_attr(spec, "db_parameter_group_name").map(str::to_owned),
                )
                .set_db_subnet_group_name(str_attr(spec, "db_subnet_group_name").map(str::to_owned))
                .set_vpc_security_group_ids(Some(strings(spec.get("vpc_security_group_ids"))))
                .set_port(int_attr(spec, "port").map(to_i32))
                .set_backup_retention_period(int_attr(spec, "backup_retention_period").map(to_i32))
                .set_storage_encrypted(bool_attr(spec, "storage_encrypted"))
                .set_kms_key_id(str_attr(spec, "kms_key_id").map(str::to_owned))
                .set_deletion_protection(bool_attr(spec, "deletion_protection"))
                .multi_az(bool_attr(spec, "multi_az").unwrap_or(true))
                .copy_tags_to_snapshot(copy_tags)
                .publicly_accessible(public)
                .set_tags(Some(rds_tags(spec)))
                .send()
                .await
                .map_err(|e| sdk_error(address, "rds:CreateDBInstance", e))?;
            let instance = output
                .db_instance()
                .ok_or_else(|| gone(address, "CreateDBInstance answered without the instance"))?;
            Ok(instance_live(address, instance, spec, |_| {
                ObservedOwnership::Owned
            }))
        }
    }

    async fn update_database(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let spec = &desired.spec;
        let cluster = desired.kind == ResourceKind::DbCluster;
        let mut modify = ModifyDatabase::default();
        for change in changes {
            if let ChangeClass::Forbidden(_) | ChangeClass::NeedsReplacement = change.class {
                return Err(cannot_change_in_place(
                    address,
                    &change.attribute,
                    &change.class,
                ));
            }
            let after = change.after.as_ref();
            match change.attribute.as_str() {
                "tags" => self.add_tags(address, live, spec).await?,
                "engine_version" => {
                    modify.engine_version = after.and_then(Value::as_str).map(str::to_owned)
                }
                "db_cluster_instance_class" | "db_instance_class" => {
                    modify.instance_class = after.and_then(Value::as_str).map(str::to_owned);
                }
                "storage_type" => {
                    modify.storage_type = after.and_then(Value::as_str).map(str::to_owned);
                    // RDS wants the IOPS with a storage type change of a Multi-AZ DB cluster.
                    modify.iops = int_attr(spec, "iops").map(to_i32);
                }
                "allocated_storage" => {
                    modify.allocated_storage = after.and_then(Value::as_int).map(to_i32)
                }
                "iops" => modify.iops = after.and_then(Value::as_int).map(to_i32),
                "backup_retention_period" => {
                    modify.backup_retention_period = after.and_then(Value::as_int).map(to_i32);
                }
                "deletion_protection" => {
                    modify.deletion_protection = after.and_then(Value::as_bool)
                }
                "copy_tags_to_snapshot" => {
                    modify.copy_tags_to_snapshot = after.and_then(Value::as_bool)
                }
                "publicly_accessible" if !cluster => {
                    modify.publicly_accessible = after.and_then(Value::as_bool)
                }
                "multi_az" if !cluster => modify.multi_az = after.and_then(Value::as_bool),
                "db_cluster_parameter_group_name" | "db_parameter_group_name" => {
                    modify.parameter_group = after.and_then(Value::as_str).map(str::to_owned);
                }
                "vpc_security_group_ids" => modify.security_groups = Some(strings(after)),
                "manage_master_user_password" => match after.and_then(Value::as_bool) {
                    Some(true) => modify.manage_master_user_password = Some(true),
                    _ => {
                        modify.manage_master_user_password = Some(false);
                        modify.master_user_password =
                            self.master_password(address, desired.kind, spec)?;
                        if modify.master_user_password.is_none() {
                            return Err(ProviderError::rejected(
                                address,
                                "MissingSecret",
                                "turning the managed master password off needs a password from the environment",
                            ));
                        }
                    }
                },
                other => return Err(cannot_change_in_place(address, other, &change.class)),
            }
        }
        if modify.is_empty() {
            let ownership = live.ownership.clone();
            return self
                .read_database(desired.kind, address, &live.id, spec, |_| ownership)
                .await?
                .ok_or_else(|| gone(address, "the database disappeared while it was changed"));
        }
        if cluster {
            let output = self
                .client
                .modify_db_cluster()
                .db_cluster_identifier(&live.id)
                .apply_immediately(true)
                .set_engine_version(modify.engine_version)
                .set_db_cluster_instance_class(modify.instance_class)
                .set_storage_type(modify.storage_type)
                .set_allocated_storage(modify.allocated_storage)
                .set_iops(modify.iops)
                .set_backup_retention_period(modify.backup_retention_period)
                .set_deletion_protection(modify.deletion_protection)
                .set_copy_tags_to_snapshot(modify.copy_tags_to_snapshot)
                .set_db_cluster_parameter_group_name(modify.parameter_group)
                .set_vpc_security_group_ids(modify.security_groups)
                .set_manage_master_user_password(modify.manage_master_user_password)
                .set_master_user_password(modify.master_user_password)
                .send()
                .await
                .map_err(|e| sdk_error(address, "rds:ModifyDBCluster", e))?;
            let cluster = output
                .db_cluster()
                .ok_or_else(|| gone(address, "ModifyDBCluster answered without the cluster"))?;
            let ownership = live.ownership.clone();
            Ok(in_progress(
                cluster_live(address, cluster, spec, |_| ownership),
                "modifying",
            ))
        } else {
            let output = self
                .client
                .modify_db_instance()
                .db_instance_identifier(&live.id)
                .apply_immediately(true)
                .set_engine_version(modify.engine_version)
                .set_db_instance_class(modify.instance_class)
                .set_storage_type(modify.storage_type)
                .set_allocated_storage(modify.allocated_storage)
                .set_iops(modify.iops)
                .set_backup_retention_period(modify.backup_retention_period)
                .set_deletion_protection(modify.deletion_protection)
                .set_copy_tags_to_snapshot(modify.copy_tags_to_snapshot)
                .set_publicly_accessible(modify.publicly_accessible)
                .set_multi_az(modify.multi_az)
                .set_db_parameter_group_name(modify.parameter_group)
                .set_vpc_security_group_ids(modify.security_groups)
                .set_manage_master_user_password(modify.manage_master_user_password)
                .set_master_user_password(modify.master_user_password)
                .send()
                .await
                .map_err(|e| sdk_error(address, "rds:ModifyDBInstance", e))?;
            let instance = output
                .db_instance()
                .ok_or_else(|| gone(address, "ModifyDBInstance answered without the instance"))?;
            let ownership = live.ownership.clone();
            Ok(in_progress(
                instance_live(address, instance, spec, |_| ownership),
                "modifying",
            ))
        }
    }

    /// Deletes the database safely: refuses while deletion protection is on unless the
    /// options allow turning it off (then turns it off first), and takes a final
    /// snapshot unless the options skip it, recording its identifier.
    async fn delete_database(&self, live: &Live) -> Result<(), ProviderError> {
        let address = &live.address;
        let cluster = live.kind == ResourceKind::DbCluster;
        // Decide on what RDS says now, not on what the plan read.
        let ownership = live.ownership.clone();
        let Some(current) = self
            .read_database(live.kind, address, &live.id, &live.attributes, |_| {
                ownership
            })
            .await?
        else {
            return Ok(());
        };
        if current.status == Status::InProgress("deleting".to_owned()) {
            return Ok(());
        }
        if let Some(refusal) = deletion_refusal(&current, self.teardown()) {
            return Err(refusal);
        }
        if bool_attr(&current.attributes, "deletion_protection") == Some(true) {
            self.disable_deletion_protection(live).await?;
        }
        let snapshot = (!self.teardown().skip_final_snapshot)
            .then(|| final_snapshot_identifier(&live.id, jiff::Timestamp::now()));
        if cluster {
            self.client
                .delete_db_cluster()
                .db_cluster_identifier(&live.id)
                .skip_final_snapshot(snapshot.is_none())
                .set_final_db_snapshot_identifier(snapshot.clone())
                .send()
                .await
                .map_err(|e| sdk_error(address, "rds:DeleteDBCluster", e))?;
        } else {
            self.client
                .delete_db_instance()
                .db_instance_identifier(&live.id)
                .skip_final_snapshot(snapshot.is_none())
                .set_final_db_snapshot_identifier(snapshot.clone())
                .send()
                .await
                .map_err(|e| sdk_error(address, "rds:DeleteDBInstance", e))?;
        }
        if let Some(snapshot_identifier) = snapshot {
            self.teardown().final_snapshots.record(FinalSnapshot {
                address: address.clone(),
                db_identifier: live.id.clone(),
                snapshot_identifier,
            });
        }
        Ok(())
    }

    async fn disable_deletion_protection(&self, live: &Live) -> Result<(), ProviderError> {
        let address = &live.address;
        if live.kind == ResourceKind::DbCluster {
            self.client
                .modify_db_cluster()
                .db_cluster_identifier(&live.id)
                .deletion_protection(false)
                .apply_immediately(true)
                .send()
                .await
                .map_err(|e| sdk_error(address, "rds:ModifyDBCluster", e))?;
        } else {
            self.client
                .modify_db_instance()
                .db_instance_identifier(&live.id)
                .deletion_protection(false)
                .apply_immediately(true)
                .send()
                .await
                .map_err(|e| sdk_error(address, "rds:ModifyDBInstance", e))?;
        }
        // Deleting while the change is still being applied fails: wait until RDS shows it.
        let mut delay = Backoff::new(Duration::from_secs(2), Duration::from_secs(10));
        loop {
            let ownership = live.ownership.clone();
            let current = self
                .read_database(live.kind, address, &live.id, &live.attributes, |_| {
                    ownership
                })
                .await?;
            match current {
                None => return Ok(()),
                Some(c)
                    if bool_attr(&c.attributes, "deletion_protection") == Some(false)
                        && c.is_ready() =>
                {
                    return Ok(());
                }
                Some(_) => delay.sleep().await,
            }
        }
    }

    async fn wait_database(&self, live: &Live) -> Result<Live, ProviderError> {
        let mut delay = Backoff::new(Duration::from_secs(5), Duration::from_secs(30));
        loop {
            let ownership = live.ownership.clone();
            let Some(current) = self
                .read_database(live.kind, &live.address, &live.id, &live.attributes, |_| {
                    ownership
                })
                .await?
            else {
                return Err(gone(
                    &live.address,
                    "the database disappeared while waiting for it to become available",
                ));
            };
            match &current.status {
                Status::Ready => return Ok(current),
                Status::Failed(state) => {
                    return Err(ProviderError::rejected(
                        &live.address,
                        state,
                        format!(
                            "RDS reports {} in state {state}; see its events in the RDS console",
                            live.id
                        ),
                    ));
                }
                Status::InProgress(_) => delay.sleep().await,
            }
        }
    }

    // --- shared --------------------------------------------------------------------------

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

    async fn wait_gone(&self, live: &Live) -> Result<(), ProviderError> {
        let mut delay = Backoff::new(Duration::from_secs(5), Duration::from_secs(30));
        loop {
            let ownership = live.ownership.clone();
            let exists = match live.kind {
                ResourceKind::DbCluster | ResourceKind::DbInstance => self
                    .read_database(live.kind, &live.address, &live.id, &live.attributes, |_| {
                        ownership
                    })
                    .await?
                    .is_some(),
                ResourceKind::DbSubnetGroup => self
                    .read_subnet_group(&live.address, &live.id, &live.attributes, |_| ownership)
                    .await?
                    .is_some(),
                _ => self
                    .describe_group(GroupApi::of(live.kind), &live.address, &live.id)
                    .await?
                    .is_some(),
            };
            if !exists {
                return Ok(());
            }
            delay.sleep().await;
        }
    }
}

/// The fields of one ModifyDBCluster / ModifyDBInstance call.
#[derive(Default)]
struct ModifyDatabase {
    engine_version: Option<String>,
    instance_class: Option<String>,
    storage_type: Option<String>,
    allocated_storage: Option<i32>,
    iops: Option<i32>,
    backup_retention_period: Option<i32>,
    deletion_protection: Option<bool>,
    copy_tags_to_snapshot: Option<bool>,
    publicly_accessible: Option<bool>,
    multi_az: Option<bool>,
    parameter_group: Option<String>,
    security_groups: Option<Vec<String>>,
    manage_master_user_password: Option<bool>,
    master_user_password: Option<String>,
}

impl ModifyDatabase {
    fn is_empty(&self) -> bool {
        self.engine_version.is_none()
            && self.instance_class.is_none()
            && self.storage_type.is_none()
            && self.allocated_storage.is_none()
            && self.iops.is_none()
            && self.backup_retention_period.is_none()
            && self.deletion_protection.is_none()
            && self.copy_tags_to_snapshot.is_none()
            && self.publicly_accessible.is_none()
            && self.multi_az.is_none()
            && self.parameter_group.is_none()
            && self.security_groups.is_none()
            && self.manage_master_user_password.is_none()
    }
}

#[async_trait]
impl ResourceProvider for RdsProvider {
    fn deletion_refusal(&self, live: &Live) -> Option<String> {
        deletion_refusal(live, self.teardown()).map(|err| err.to_string())
    }

    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let address = &desired.address;
        let Some(name) = desired.spec.name() else {
            return Err(ProviderError::rejected(
                address,
                "NoName",
                "an RDS resource needs a name",
            ));
        };
        let ownership = |tag: Option<&str>| ObservedOwnership::of(desired, tag);
        match desired.kind {
            ResourceKind::DbClusterParameterGroup | ResourceKind::DbParameterGroup => {
                let wanted = desired_parameters(&desired.spec).into_keys().collect();
                self.read_parameter_group(desired.kind, address, name, &wanted, ownership)
                    .await
            }
            ResourceKind::DbSubnetGroup => {
                self.read_subnet_group(address, name, &desired.spec, ownership)
                    .await
            }
            ResourceKind::DbCluster | ResourceKind::DbInstance => {
                self.read_database(desired.kind, address, name, &desired.spec, ownership)
                    .await
            }
            other => Err(not_rds(address, other)),
        }
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        if let Some(r) = desired.spec.refs().first() {
            return Err(ProviderError::rejected(
                &desired.address,
                "UnresolvedReference",
                format!("the spec still refers to {r}"),
            ));
        }
        match desired.kind {
            ResourceKind::DbClusterParameterGroup | ResourceKind::DbParameterGroup => {
                self.create_parameter_group(desired).await
            }
            ResourceKind::DbSubnetGroup => self.create_subnet_group(desired).await,
            ResourceKind::DbCluster | ResourceKind::DbInstance => {
                self.create_database(desired).await
            }
            other => Err(not_rds(&desired.address, other)),
        }
    }

    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        check_owned(live)?;
        match desired.kind {
            ResourceKind::DbClusterParameterGroup | ResourceKind::DbParameterGroup => {
                self.update_parameter_group(desired, live, changes).await
            }
            ResourceKind::DbSubnetGroup => self.update_subnet_group(desired, live, changes).await,
            ResourceKind::DbCluster | ResourceKind::DbInstance => {
                self.update_database(desired, live, changes).await
            }
            other => Err(not_rds(&desired.address, other)),
        }
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        check_owned(live)?;
        match live.kind {
            ResourceKind::DbClusterParameterGroup | ResourceKind::DbParameterGroup => {
                self.delete_parameter_group(live).await
            }
            ResourceKind::DbSubnetGroup => {
                let result = self
                    .client
                    .delete_db_subnet_group()
                    .db_subnet_group_name(&live.id)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| sdk_error(&live.address, "rds:DeleteDBSubnetGroup", e));
                in_use_or_gone(result)
            }
            ResourceKind::DbCluster | ResourceKind::DbInstance => self.delete_database(live).await,
            other => Err(not_rds(&live.address, other)),
        }
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        match live.kind {
            ResourceKind::DbClusterParameterGroup | ResourceKind::DbParameterGroup => {
                self.wait_parameter_group(live).await
            }
            ResourceKind::DbCluster | ResourceKind::DbInstance => self.wait_database(live).await,
            // A subnet group is usable as soon as it is created.
            _ => Ok(Live {
                status: Status::Ready,
                ..live.clone()
            }),
        }
    }

    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        self.wait_gone(live).await
    }

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        let live = &in_desired_order(desired, live);
        match desired.kind {
            ResourceKind::DbClusterParameterGroup | ResourceKind::DbParameterGroup => {
                parameter_group_diff(desired, live)
            }
            ResourceKind::DbCluster | ResourceKind::DbInstance => database_diff(desired, live),
            _ => diff_attributes(desired, live, |kind, attribute, before, after| {
                classify(&desired.spec, kind, attribute, before, after)
            }),
        }
    }
}

// --- diff and classification -----------------------------------------------------------

/// Compares a parameter group, one change per parameter (`parameters.<name>`), so the
/// plan says for each whether it applies at once or after a reboot.
fn parameter_group_diff(desired: &Resource, live: &Live) -> Vec<AttributeChange> {
    let mut rest = desired.clone();
    rest.spec.remove("parameters");
    let mut changes = diff_attributes(&rest, live, |kind, attribute, before, after| {
        classify(&desired.spec, kind, attribute, before, after)
    });
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
/// it did not report, PostgreSQL's own context of a few well-known parameters decides,
/// and an unknown one is assumed to need a reboot — the cautious answer.
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

/// Compares a database. Besides the spec, it holds the settings the tool always uses
/// (copy tags to snapshots, not publicly accessible), tolerates a newer minor engine
/// version RDS applied by itself, and notices a switch between the managed master
/// password and one from the environment (the password itself is never read).
fn database_diff(desired: &Resource, live: &Live) -> Vec<AttributeChange> {
    let mut effective = desired.clone();
    for (attribute, value) in [
        ("copy_tags_to_snapshot", true),
        ("publicly_accessible", false),
    ] {
        if effective.spec.get(attribute).is_none() {
            effective.spec.insert(attribute, value);
        }
    }
    if let (Some(want), Some(have)) = (
        parse_version(str_attr(&desired.spec, "engine_version")),
        parse_version(str_attr(&live.attributes, "engine_version")),
    ) && want.0 == have.0
        && have > want
    {
        // Auto minor version upgrade moved it ahead; RDS cannot go back, nor need it.
        effective.spec.remove("engine_version");
    }
    let mut changes = diff_attributes(&effective, live, |kind, attribute, before, after| {
        classify(&desired.spec, kind, attribute, before, after)
    });
    for change in &mut changes {
        if change.attribute == "storage_type" && change.class == ChangeClass::InPlace {
            change.note = Some(STORAGE_TYPE_NOTE.to_owned());
        }
    }
    let from_env = matches!(
        desired.spec.get("master_user_password"),
        Some(Value::Secret(_))
    );
    if from_env && bool_attr(&live.attributes, "manage_master_user_password") == Some(true) {
        changes.push(AttributeChange {
            attribute: "manage_master_user_password".to_owned(),
            before: Some(Value::Bool(true)),
            after: Some(Value::Bool(false)),
            class: ChangeClass::InPlace,
            note: None,
        });
    }
    changes
}

/// What RDS does when it changes the storage type in place, said in the plan.
const STORAGE_TYPE_NOTE: &str = "RDS changes the storage type in place, with the provisioned IOPS in the same call; \
     the storage is then optimized, which can take several hours with the database available, \
     and RDS accepts no other storage change until 6 hours have passed and the optimization is over";

/// What changing an RDS attribute costs, where RDS differs from the shared table.
fn classify(
    spec: &Spec,
    kind: ResourceKind,
    attribute: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) -> ChangeClass {
    use ResourceKind as K;
    match (kind, attribute) {
        // ModifyDBSubnetGroup takes a new description.
        (K::DbSubnetGroup, "description" | "subnet_ids") => ChangeClass::InPlace,
        // Applied at once (the modify asks for it): RDS restarts the instances itself,
        // one after the other with a failover, so nobody has to reboot anything later.
        (K::DbCluster | K::DbInstance, "db_cluster_instance_class" | "db_instance_class") => {
            ChangeClass::InPlace
        }
        (K::DbCluster | K::DbInstance, "allocated_storage") => {
            match (
                before.and_then(Value::as_int),
                after.and_then(Value::as_int),
            ) {
                (Some(b), Some(a)) if a < b => ChangeClass::Forbidden(format!(
                    "RDS cannot shrink allocated storage (from {b} GiB to {a} GiB); keep {b} GiB or more"
                )),
                _ => ChangeClass::InPlace,
            }
        }
        (K::DbCluster, "storage_type") => cluster_storage_type_change(spec, after),
        (K::DbCluster, "max_allocated_storage") => ChangeClass::Forbidden(
            "Multi-AZ DB clusters do not support storage autoscaling".to_owned(),
        ),
        (K::DbCluster, "publicly_accessible") => ChangeClass::Forbidden(
            "ModifyDBCluster cannot change whether a Multi-AZ DB cluster is publicly accessible"
                .to_owned(),
        ),
        (
            K::DbCluster | K::DbInstance,
            "manage_master_user_password" | "copy_tags_to_snapshot" | "multi_az",
        ) => ChangeClass::InPlace,
        (K::DbInstance, "port") => ChangeClass::NeedsReboot,
        _ => default_change_class(kind, attribute, before, after),
    }
}

/// RDS changes a Multi-AZ DB cluster's storage type in place (ModifyDBCluster takes
/// io1, io2 or gp3), but only with the IOPS given in the same call; the storage is then
/// optimized for hours, during which no other storage change is accepted.
fn cluster_storage_type_change(spec: &Spec, after: Option<&Value>) -> ChangeClass {
    match after.and_then(Value::as_str) {
        Some(t) if !["io1", "io2", "gp3"].contains(&t) => {
            ChangeClass::Forbidden(format!("Multi-AZ DB clusters support io1, io2 and gp3 storage, not {t}"))
        }
        _ if int_attr(spec, "iops").is_none() => ChangeClass::Forbidden(
            "RDS changes a Multi-AZ DB cluster's storage type only together with its provisioned IOPS: set rds.storage.iops"
                .to_owned(),
        ),
        _ => ChangeClass::InPlace,
    }
}

fn parse_version(text: Option<&str>) -> Option<(u32, u32)> {
    let mut parts = text?.split('.');
    Some((
        parts.next()?.parse().ok()?,
        parts.next().unwrap_or("0").parse().ok()?,
    ))
}

// --- teardown ----------------------------------------------------------------------------

/// Tells why `live` (a DB cluster or instance) may not be deleted with `teardown`.
pub(crate) fn deletion_refusal(live: &Live, teardown: &TeardownOptions) -> Option<ProviderError> {
    let protected = bool_attr(&live.attributes, "deletion_protection") == Some(true);
    if !protected || teardown.disable_deletion_protection {
        return None;
    }
    let what = if live.kind == ResourceKind::DbCluster {
        "DB cluster"
    } else {
        "DB instance"
    };
    let snapshot = if teardown.skip_final_snapshot {
        ""
    } else {
        " (a final snapshot is still taken)"
    };
    Some(ProviderError::rejected(
        &live.address,
        "DeletionProtection",
        format!(
            "{what} {} has deletion protection on; run `down --disable-deletion-protection` to turn it off and delete it{snapshot}",
            live.id
        ),
    ))
}

/// Returns `<id>-final-<YYYYMMDDHHMMSS>` (UTC): a valid snapshot identifier for any
/// valid DB identifier, and sortable by time.
pub fn final_snapshot_identifier(id: &str, at: jiff::Timestamp) -> String {
    format!("{id}-final-{}", at.strftime("%Y%m%d%H%M%S"))
}

// --- conversions -------------------------------------------------------------------------

fn cluster_live(
    address: &Address,
    c: &DbCluster,
    reference: &Spec,
    ownership: impl FnOnce(Option<&str>) -> ObservedOwnership,
) -> Live {
    let id = c.db_cluster_identifier().unwrap_or_default().to_owned();
    let pending = c.pending_modified_values();
    let tags = tag_map(c.tag_list());
    let mut attributes = Spec::new()
        .with("name", id.as_str())
        .with("engine", c.engine().unwrap_or_default())
        .with("master_username", c.master_username().unwrap_or_default())
        .with(
            "db_cluster_parameter_group_name",
            c.db_cluster_parameter_group().unwrap_or_default(),
        )
        .with(
            "db_subnet_group_name",
            c.db_subnet_group().unwrap_or_default(),
        )
        .with(
            "vpc_security_group_ids",
            security_groups(c.vpc_security_groups(), reference),
        )
        .with("storage_encrypted", c.storage_encrypted().unwrap_or(false))
        .with(
            "deletion_protection",
            c.deletion_protection().unwrap_or(false),
        )
        .with(
            "manage_master_user_password",
            c.master_user_secret().is_some(),
        )
        .with(
            "copy_tags_to_snapshot",
            c.copy_tags_to_snapshot().unwrap_or(false),
        )
        .with(
            "publicly_accessible",
            c.publicly_accessible().unwrap_or(false),
        )
        .with("tags", tags_value(tags.clone()));
    // A change RDS has accepted but not yet applied counts as made: planning it again
    // would only send it again.
    insert_str(
        &mut attributes,
        "engine_version",
        pending
            .and_then(|p| p.engine_version())
            .or(c.engine_version()),
    );
    insert_str(
        &mut attributes,
        "db_cluster_instance_class",
        c.db_cluster_instance_class(),
    );
    insert_str(
        &mut attributes,
        "storage_type",
        pending.and_then(|p| p.storage_type()).or(c.storage_type()),
    );
    insert_int(
        &mut attributes,
        "allocated_storage",
        pending
            .and_then(|p| p.allocated_storage())
            .or(c.allocated_storage()),
    );
    insert_int(
        &mut attributes,
        "iops",
        pending.and_then(|p| p.iops()).or(c.iops()),
    );
    insert_int(&mut attributes, "port", c.port());
    insert_int(
        &mut attributes,
        "backup_retention_period",
        pending
            .and_then(|p| p.backup_retention_period())
            .or(c.backup_retention_period()),
    );
    if let Some(key) = c.kms_key_id() {
        attributes.insert("kms_key_id", kms_key(key, reference));
    }
    let mut outputs = BTreeMap::from([("id".to_owned(), Value::from(id.as_str()))]);
    insert_output(&mut outputs, "arn", c.db_cluster_arn());
    insert_output(&mut outputs, "endpoint", c.endpoint());
    insert_output(&mut outputs, "reader_endpoint", c.reader_endpoint());
    insert_output(
        &mut outputs,
        "master_user_secret_arn",
        c.master_user_secret().and_then(|s| s.secret_arn()),
    );
    if let Some(port) = c.port() {
        outputs.insert("port".to_owned(), i64::from(port).into());
    }
    Live {
        address: address.clone(),
        kind: ResourceKind::DbCluster,
        id,
        ownership: ownership(tags.get(crate::stack::PROFILE_TAG).map(String::as_str)),
        status: database_status(c.status().unwrap_or("unknown")),
        attributes,
        outputs,
    }
}

fn instance_live(
    address: &Address,
    i: &DbInstance,
    reference: &Spec,
    ownership: impl FnOnce(Option<&str>) -> ObservedOwnership,
) -> Live {
    let id = i.db_instance_identifier().unwrap_or_default().to_owned();
    let pending = i.pending_modified_values();
    let tags = tag_map(i.tag_list());
    let mut attributes = Spec::new()
        .with("name", id.as_str())
        .with("engine", i.engine().unwrap_or_default())
        .with("master_username", i.master_username().unwrap_or_default())
        .with(
            "db_parameter_group_name",
            i.db_parameter_groups()
                .first()
                .and_then(|g| g.db_parameter_group_name())
                .unwrap_or_default(),
        )
        .with(
            "db_subnet_group_name",
            i.db_subnet_group()
                .and_then(|g| g.db_subnet_group_name())
                .unwrap_or_default(),
        )
        .with(
            "vpc_security_group_ids",
            security_groups(i.vpc_security_groups(), reference),
        )
        .with("storage_encrypted", i.storage_encrypted().unwrap_or(false))
        .with(
            "deletion_protection",
            i.deletion_protection().unwrap_or(false),
        )
        .with(
            "manage_master_user_password",
            i.master_user_secret().is_some(),
        )
        .with(
            "copy_tags_to_snapshot",
            i.copy_tags_to_snapshot().unwrap_or(false),
        )
        .with(
            "publicly_accessible",
            i.publicly_accessible().unwrap_or(false),
        )
        .with(
            "multi_az",
            pending
                .and_then(|p| p.multi_az())
                .or(i.multi_az())
                .unwrap_or(false),
        )
        .with("tags", tags_value(tags.clone()));
    insert_str(
        &mut attributes,
        "engine_version",
        pending
            .and_then(|p| p.engine_version())
            .or(i.engine_version()),
    );
    insert_str(
        &mut attributes,
        "db_instance_class",
        pending
            .and_then(|p| p.db_instance_class())
            .or(i.db_instance_class()),
    );
    insert_str(
        &mut attributes,
        "storage_type",
        pending.and_then(|p| p.storage_type()).or(i.storage_type()),
    );
    insert_int(
        &mut attributes,
        "allocated_storage",
        pending
            .and_then(|p| p.allocated_storage())
            .or(i.allocated_storage()),
    );
    insert_int(
        &mut attributes,
        "iops",
        pending.and_then(|p| p.iops()).or(i.iops()),
    );
    let port = i
        .db_instance_port()
        .filter(|p| *p != 0)
        .or(i.endpoint().and_then(|e| e.port()));
    insert_int(&mut attributes, "port", port);
    insert_int(
        &mut attributes,
        "backup_retention_period",
        pending
            .and_then(|p| p.backup_retention_period())
            .or(i.backup_retention_period()),
    );
    if let Some(key) = i.kms_key_id() {
        attributes.insert("kms_key_id", kms_key(key, reference));
    }
    let mut outputs = BTreeMap::from([("id".to_owned(), Value::from(id.as_str()))]);
    insert_output(&mut outputs, "arn", i.db_instance_arn());
    insert_output(
        &mut outputs,
        "endpoint",
        i.endpoint().and_then(|e| e.address()),
    );
    insert_output(
        &mut outputs,
        "master_user_secret_arn",
        i.master_user_secret().and_then(|s| s.secret_arn()),
    );
    if let Some(port) = port {
        outputs.insert("port".to_owned(), i64::from(port).into());
    }
    Live {
        address: address.clone(),
        kind: ResourceKind::DbInstance,
        id,
        ownership: ownership(tags.get(crate::stack::PROFILE_TAG).map(String::as_str)),
        status: database_status(i.db_instance_status().unwrap_or("unknown")),
        attributes,
        outputs,
    }
}

/// Maps an RDS status onto the boundary's. A database that is backing up or optimizing
/// its storage serves traffic, so it counts as ready: storage optimization can last
/// hours and must not hold a run up.
fn database_status(status: &str) -> Status {
    match status {
        "available"
        | "backing-up"
        | "storage-optimization"
        | "configuring-enhanced-monitoring"
        | "configuring-log-exports" => Status::Ready,
        "failed"
        | "inaccessible-encryption-credentials"
        | "inaccessible-encryption-credentials-recoverable"
        | "incompatible-network"
        | "incompatible-option-group"
        | "incompatible-parameters"
        | "incompatible-restore"
        | "insufficient-capacity"
        | "restore-error"
        | "storage-full" => Status::Failed(status.to_owned()),
        other => Status::InProgress(other.to_owned()),
    }
}

fn in_progress(mut live: Live, word: &str) -> Live {
    if live.is_ready() {
        // RDS answers a modify before its status moves; the wait confirms it.
        live.status = Status::InProgress(word.to_owned());
    }
    live
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

fn security_groups(
    groups: &[aws_sdk_rds::types::VpcSecurityGroupMembership],
    reference: &Spec,
) -> Value {
    let ids: Vec<String> = groups
        .iter()
        .filter_map(|g| g.vpc_security_group_id().map(str::to_owned))
        .collect();
    as_set_in_order(ids, reference.get("vpc_security_group_ids"))
}

/// RDS reports the key's ARN; the profile may name it by id or ARN. An alias cannot be
/// checked without KMS, so an aliased key is taken as given.
fn kms_key(arn: &str, reference: &Spec) -> Value {
    match str_attr(reference, "kms_key_id") {
        Some(wanted)
            if arn == wanted
                || arn.ends_with(&format!("/{wanted}"))
                || wanted.contains("alias/") =>
        {
            wanted.into()
        }
        _ => arn.into(),
    }
}

/// An RDS tag list as a map (also used by the live outputs, `crate::aws::outputs`).
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

// --- small helpers -----------------------------------------------------------------------

fn str_attr<'a>(spec: &'a Spec, attribute: &str) -> Option<&'a str> {
    spec.get(attribute).and_then(Value::as_str)
}

fn int_attr(spec: &Spec, attribute: &str) -> Option<i64> {
    spec.get(attribute).and_then(Value::as_int)
}

fn bool_attr(spec: &Spec, attribute: &str) -> Option<bool> {
    spec.get(attribute).and_then(Value::as_bool)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
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

fn not_rds(address: &Address, kind: ResourceKind) -> ProviderError {
    ProviderError::rejected(
        address,
        "WrongProvider",
        format!("the RDS provider does not handle {kind} resources"),
    )
}

fn gone(address: &Address, message: &str) -> ProviderError {
    ProviderError::NotFound {
        address: address.clone(),
        code: "NotFound".to_owned(),
        message: message.to_owned(),
    }
}

/// Growing pauses between polls; the executor bounds the whole wait.
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    fn new(first: Duration, max: Duration) -> Self {
        Self { next: first, max }
    }

    async fn sleep(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(self.max);
    }
}

#[cfg(test)]
mod tests;
