//! EKS providers: the cluster, its managed node groups and its addons.
//!
//! Everything EKS makes has a unique name, so it is read by name. EKS runs one update
//! of a cluster, node group or addon at a time: an update call waits for each EKS
//! update it starts (through `DescribeUpdate`) before it starts the next, and creates
//! pass a client request token derived from the profile, address and spec.
//!
//! A version change of the cluster is classified by [`default_change_class`]: one minor
//! version up is an in-place upgrade, anything else is refused with the reason.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::config::http::HttpResponse;
use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eks::types::{
    Addon, AddonStatus, AmiTypes, AuthenticationMode, ClusterStatus, CreateAccessConfigRequest,
    LaunchTemplateSpecification, LogSetup, LogType, Logging, Nodegroup, NodegroupScalingConfig,
    NodegroupStatus, ResolveConflicts, UpdateLabelsPayload, UpdateStatus, VpcConfigRequest,
};
use futures::stream::{self, StreamExt};

use super::support::{
    Backoff, Poll, client_token, client_token_of, ignore_order, known_str, order_like, own_or,
    parse_json, poll, strings, value_to_json,
};
use super::{sdk_error, spec_tags, tags_value};
use crate::provider::{
    AttributeChange, Live, Observation, ObservedOwnership, ProviderError, Providers,
    READ_CONCURRENCY, ResourceProvider, Status, default_change_class, diff_attributes,
};
use crate::stack::{
    ADDRESS_TAG, Address, Component, PROFILE_TAG, Resource, ResourceKind, Spec, Value,
};

/// Registers the EKS cluster, node group and addon providers.
pub(crate) fn register(providers: &mut Providers, config: &aws_config::SdkConfig) {
    let client = Client::new(config);
    providers.insert(
        ResourceKind::EksCluster,
        Arc::new(ClusterProvider {
            client: client.clone(),
        }),
    );
    providers.insert(
        ResourceKind::NodeGroup,
        Arc::new(NodeGroupProvider {
            client: client.clone(),
        }),
    );
    providers.insert(ResourceKind::EksAddon, Arc::new(AddonProvider { client }));
}

/// What a kubeconfig needs to reach a cluster, read from EKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAccess {
    pub name: String,
    pub arn: String,
    /// The API server's URL.
    pub endpoint: String,
    /// The cluster CA certificate, base64-encoded PEM, as EKS returns it.
    pub certificate_authority_data: String,
    pub region: String,
}

/// Reads what a kubeconfig needs about the cluster `name`; `None` when there is no such
/// cluster or it has no endpoint yet (still being created).
pub async fn cluster_access(
    config: &aws_config::SdkConfig,
    name: &str,
) -> Result<Option<ClusterAccess>, ProviderError> {
    let address = Address::new(Component::Eks, "cluster");
    let client = Client::new(config);
    let Some(cluster) = describe_cluster(&client, &address, name).await? else {
        return Ok(None);
    };
    let (Some(endpoint), Some(ca)) = (
        cluster.endpoint(),
        cluster.certificate_authority().and_then(|c| c.data()),
    ) else {
        return Ok(None);
    };
    let arn = cluster.arn().unwrap_or_default().to_owned();
    // The region is part of the ARN: arn:aws:eks:<region>:<account>:cluster/<name>.
    let region = arn
        .split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .or_else(|| config.region().map(ToString::to_string))
        .unwrap_or_default();
    Ok(Some(ClusterAccess {
        name: name.to_owned(),
        arn,
        endpoint: endpoint.to_owned(),
        certificate_authority_data: ca.to_owned(),
        region,
    }))
}

fn eks_tags(spec: &Spec) -> HashMap<String, String> {
    spec_tags(spec).into_iter().collect()
}

fn tags_attribute(tags: Option<&HashMap<String, String>>) -> Value {
    tags_value(tags.cloned().unwrap_or_default())
}

fn profile_of(tags: Option<&HashMap<String, String>>) -> Option<&str> {
    tags?.get(PROFILE_TAG).map(String::as_str)
}

/// The address a node group or addon made by `profile` records in its tags.
fn owned_address(tags: Option<&HashMap<String, String>>, profile: &str) -> Option<Address> {
    if profile_of(tags)? != profile {
        return None;
    }
    tags?.get(ADDRESS_TAG)?.parse().ok()
}

/// The cluster the desired node groups or addons belong to; without any, the profile's
/// (the cluster is named after the profile, see the profile model).
fn cluster_of_desired<'a>(desired: &[&'a Resource], profile: &'a str) -> &'a str {
    desired
        .first()
        .and_then(|d| known_str(d.spec.get("cluster_name")))
        .unwrap_or(profile)
}

/// The names of a cluster's node groups or addons, as `list` lists them; none when the
/// cluster is missing, which is then asked nothing more: listing them for a missing
/// cluster is an error rather than "not found" on some EKS endpoints.
async fn member_names<E>(
    client: &Client,
    placeholder: &Address,
    cluster: &str,
    operation: &str,
    list: impl Future<Output = Result<Vec<String>, SdkError<E, HttpResponse>>>,
) -> Result<Vec<String>, ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if describe_cluster(client, placeholder, cluster)
        .await?
        .is_none()
    {
        return Ok(Vec::new());
    }
    match list.await {
        Ok(names) => Ok(names),
        Err(e) => match sdk_error(placeholder, operation, e) {
            err if is_not_found(&err) => Ok(Vec::new()),
            err => Err(err),
        },
    }
}

/// Sorts the described members of a cluster (node groups or addons, `None` for one
/// gone since the listing): one that `matches` a desired resource goes under its
/// address, with the ownership its tags give; one the profile owns elsewhere under the
/// address its tags record; anybody else's is left out.
fn sort_members<T>(
    desired: &[&Resource],
    profile: &str,
    members: Vec<Result<Option<T>, ProviderError>>,
    matches: impl Fn(&Resource, &T) -> bool,
    tags: impl Fn(&T) -> Option<&HashMap<String, String>>,
    live: impl Fn(&Address, &T, ObservedOwnership, &Spec) -> Live,
) -> Result<Observation, ProviderError> {
    let mut observation = Observation::default();
    for member in members {
        let Some(member) = member? else { continue };
        if let Some(wanted) = desired.iter().find(|d| matches(d, &member)) {
            let ownership = ObservedOwnership::of(wanted, profile_of(tags(&member)));
            observation
                .found
                .push(live(&wanted.address, &member, ownership, &wanted.spec));
        } else if let Some(address) = owned_address(tags(&member), profile) {
            observation.others.push(live(
                &address,
                &member,
                ObservedOwnership::Owned,
                &Spec::new(),
            ));
        }
    }
    Ok(observation)
}

fn is_not_found(err: &ProviderError) -> bool {
    matches!(err, ProviderError::NotFound { .. })
}

fn int(value: Option<&Value>) -> Option<i32> {
    value
        .and_then(Value::as_int)
        .and_then(|i| i32::try_from(i).ok())
}

fn unsupported(address: &Address, attribute: &str) -> ProviderError {
    ProviderError::rejected(
        address,
        "UnsupportedChange",
        format!("{attribute} cannot be changed in place"),
    )
}

async fn describe_cluster(
    client: &Client,
    address: &Address,
    name: &str,
) -> Result<Option<aws_sdk_eks::types::Cluster>, ProviderError> {
    match client.describe_cluster().name(name).send().await {
        Ok(output) => Ok(output.cluster().cloned()),
        Err(e) => match sdk_error(address, "eks:DescribeCluster", e) {
            err if is_not_found(&err) => Ok(None),
            err => Err(err),
        },
    }
}

/// The node group or addon an EKS update is about, besides the cluster.
#[derive(Clone, Copy)]
enum UpdateOf<'a> {
    Cluster,
    NodeGroup(&'a str),
    Addon(&'a str),
}

/// Waits for the EKS update `id` of `cluster` to finish; a failed or cancelled update
/// is an error carrying EKS's error code and message.
async fn wait_update(
    client: &Client,
    address: &Address,
    cluster: &str,
    of: UpdateOf<'_>,
    id: &str,
) -> Result<(), ProviderError> {
    poll(Backoff::SLOW, || async {
        let mut request = client.describe_update().name(cluster).update_id(id);
        request = match of {
            UpdateOf::Cluster => request,
            UpdateOf::NodeGroup(name) => request.nodegroup_name(name),
            UpdateOf::Addon(name) => request.addon_name(name),
        };
        let output = request
            .send()
            .await
            .map_err(|e| sdk_error(address, "eks:DescribeUpdate", e))?;
        let Some(update) = output.update() else {
            return Ok(Poll::Pending);
        };
        match update.status() {
            Some(UpdateStatus::Successful) => Ok(Poll::Done(())),
            Some(UpdateStatus::Failed | UpdateStatus::Cancelled) => {
                let first = update.errors().first();
                let code = first
                    .and_then(|e| e.error_code())
                    .map_or("UpdateFailed", |c| c.as_str())
                    .to_owned();
                let messages: Vec<&str> = update
                    .errors()
                    .iter()
                    .filter_map(|e| e.error_message())
                    .collect();
                Err(ProviderError::rejected(
                    address,
                    &code,
                    format!(
                        "EKS update {id} {}: {}",
                        update.status().map_or("failed", |s| s.as_str()),
                        messages.join("; ")
                    ),
                ))
            }
            _ => Ok(Poll::Pending),
        }
    })
    .await
}

// --- cluster --------------------------------------------------------------------------

struct ClusterProvider {
    client: Client,
}

fn cluster_live(
    address: &Address,
    cluster: &aws_sdk_eks::types::Cluster,
    ownership: ObservedOwnership,
    hint: &Spec,
) -> Live {
    let name = cluster.name().unwrap_or_default();
    let mut attributes = Spec::new().with("name", name);
    if let Some(version) = cluster.version() {
        attributes.insert("version", version);
    }
    if let Some(role) = cluster.role_arn() {
        attributes.insert("role_arn", role);
    }
    if let Some(vpc) = cluster.resources_vpc_config() {
        attributes.insert(
            "subnet_ids",
            order_like(hint.get("subnet_ids"), vpc.subnet_ids().to_vec()),
        );
        attributes.insert("endpoint_private_access", vpc.endpoint_private_access());
        attributes.insert("endpoint_public_access", vpc.endpoint_public_access());
        if let Some(cidrs) = &vpc.public_access_cidrs {
            attributes.insert(
                "public_access_cidrs",
                order_like(hint.get("public_access_cidrs"), cidrs.clone()),
            );
        }
    }
    if let Some(logging) = cluster.logging() {
        let enabled: Vec<String> = logging
            .cluster_logging()
            .iter()
            .filter(|setup| setup.enabled() == Some(true))
            .flat_map(|setup| setup.types().iter().map(|t| t.as_str().to_owned()))
            .collect();
        attributes.insert(
            "enabled_cluster_log_types",
            order_like(hint.get("enabled_cluster_log_types"), enabled),
        );
    }
    if let Some(access) = cluster.access_config() {
        if let Some(mode) = access.authentication_mode() {
            attributes.insert("authentication_mode", mode.as_str());
        }
        if let Some(bootstrap) = access.bootstrap_cluster_creator_admin_permissions() {
            attributes.insert("bootstrap_cluster_creator_admin_permissions", bootstrap);
        }
    }
    attributes.insert("tags", tags_attribute(cluster.tags()));
    let status = match cluster.status() {
        Some(ClusterStatus::Active) => Status::Ready,
        Some(ClusterStatus::Failed) => {
            let issues: Vec<String> = cluster
                .health()
                .map(|h| {
                    h.issues()
                        .iter()
                        .map(|i| {
                            format!(
                                "{}: {}",
                                i.code().map_or("", |c| c.as_str()),
                                i.message().unwrap_or_default()
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            Status::Failed(if issues.is_empty() {
                "the cluster is FAILED".to_owned()
            } else {
                issues.join("; ")
            })
        }
        Some(status) => Status::InProgress(status.as_str().to_owned()),
        None => Status::InProgress("CREATING".into()),
    };
    let mut outputs: BTreeMap<String, Value> = BTreeMap::new();
    let mut output = |key: &str, value: Option<&str>| {
        if let Some(value) = value {
            outputs.insert(key.to_owned(), Value::from(value));
        }
    };
    output("id", Some(name));
    output("name", Some(name));
    output("arn", cluster.arn());
    output("endpoint", cluster.endpoint());
    output("version", cluster.version());
    output("platform_version", cluster.platform_version());
    output(
        "certificate_authority_data",
        cluster.certificate_authority().and_then(|c| c.data()),
    );
    output(
        "cluster_security_group_id",
        cluster
            .resources_vpc_config()
            .and_then(|v| v.cluster_security_group_id()),
    );
    output(
        "vpc_id",
        cluster.resources_vpc_config().and_then(|v| v.vpc_id()),
    );
    output(
        "oidc_issuer",
        cluster
            .identity()
            .and_then(|i| i.oidc())
            .and_then(|o| o.issuer()),
    );
    Live {
        address: address.clone(),
        kind: ResourceKind::EksCluster,
        id: name.to_owned(),
        ownership,
        status,
        attributes,
        outputs,
    }
}

fn log_types(spec: &Spec) -> Vec<LogType> {
    strings(spec.get("enabled_cluster_log_types"))
        .iter()
        .map(|t| LogType::from(t.as_str()))
        .collect()
}

/// Logging with the spec's types on and every other type off, as EKS keeps the types
/// it was not told about as they were.
fn logging(spec: &Spec) -> Logging {
    let enabled = log_types(spec);
    let disabled: Vec<LogType> = LogType::values()
        .iter()
        .map(|t| LogType::from(*t))
        .filter(|t| !enabled.contains(t))
        .collect();
    let mut logging = Logging::builder();
    if !enabled.is_empty() {
        logging = logging.cluster_logging(
            LogSetup::builder()
                .set_types(Some(enabled))
                .enabled(true)
                .build(),
        );
    }
    if !disabled.is_empty() {
        logging = logging.cluster_logging(
            LogSetup::builder()
                .set_types(Some(disabled))
                .enabled(false)
                .build(),
        );
    }
    logging.build()
}

fn vpc_config(spec: &Spec, with_subnets: bool) -> VpcConfigRequest {
    let cidrs = strings(spec.get("public_access_cidrs"));
    let subnets = strings(spec.get("subnet_ids"));
    VpcConfigRequest::builder()
        .set_subnet_ids(with_subnets.then_some(subnets))
        .set_endpoint_private_access(spec.get("endpoint_private_access").and_then(Value::as_bool))
        .set_endpoint_public_access(spec.get("endpoint_public_access").and_then(Value::as_bool))
        .set_public_access_cidrs((!cidrs.is_empty()).then_some(cidrs))
        .build()
}

impl ClusterProvider {
    async fn reread(
        &self,
        address: &Address,
        name: &str,
        ownership: ObservedOwnership,
        hint: &Spec,
    ) -> Result<Live, ProviderError> {
        let cluster = describe_cluster(&self.client, address, name)
            .await?
            .ok_or_else(|| ProviderError::NotFound {
                address: address.clone(),
                code: "ResourceNotFoundException".into(),
                message: format!("cluster {name} no longer exists"),
            })?;
        Ok(cluster_live(address, &cluster, ownership, hint))
    }
}

#[async_trait]
impl ResourceProvider for ClusterProvider {
    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let name = desired.spec.name().unwrap_or_default();
        Ok(describe_cluster(&self.client, &desired.address, name)
            .await?
            .map(|cluster| {
                let ownership = ObservedOwnership::of(desired, profile_of(cluster.tags()));
                cluster_live(&desired.address, &cluster, ownership, &desired.spec)
            }))
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let spec = &desired.spec;
        let mut access = CreateAccessConfigRequest::builder()
            .set_bootstrap_cluster_creator_admin_permissions(
                spec.get("bootstrap_cluster_creator_admin_permissions")
                    .and_then(Value::as_bool),
            );
        if let Some(mode) = known_str(spec.get("authentication_mode")) {
            access = access.authentication_mode(AuthenticationMode::from(mode));
        }
        let output = self
            .client
            .create_cluster()
            .name(spec.name().unwrap_or_default())
            .set_version(known_str(spec.get("version")).map(str::to_owned))
            .set_role_arn(known_str(spec.get("role_arn")).map(str::to_owned))
            .resources_vpc_config(vpc_config(spec, true))
            .logging(logging(spec))
            .access_config(access.build())
            .set_tags(Some(eks_tags(spec)))
            .client_request_token(client_token(desired))
            .send()
            .await
            .map_err(|e| sdk_error(address, "eks:CreateCluster", e));
        let output = match output {
            Ok(output) => output,
            Err(err) => return own_or(self, desired, err).await,
        };
        let cluster = output.cluster().ok_or_else(|| {
            ProviderError::rejected(
                address,
                "EmptyResponse",
                "CreateCluster returned no cluster",
            )
        })?;
        Ok(cluster_live(
            address,
            cluster,
            ObservedOwnership::Owned,
            spec,
        ))
    }

    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let spec = &desired.spec;
        let name = live.id.as_str();
        let changed = |attribute: &str| changes.iter().any(|c| c.attribute == attribute);
        // The control plane first: an upgrade is the change that matters most and EKS
        // takes one update at a time.
        if changed("version") {
            let output = self
                .client
                .update_cluster_version()
                .name(name)
                .set_version(known_str(spec.get("version")).map(str::to_owned))
                .client_request_token(client_token_of(desired, "version"))
                .send()
                .await
                .map_err(|e| sdk_error(address, "eks:UpdateClusterVersion", e))?;
            if let Some(id) = output.update().and_then(|u| u.id()) {
                wait_update(&self.client, address, name, UpdateOf::Cluster, id).await?;
            }
        }
        if [
            "endpoint_private_access",
            "endpoint_public_access",
            "public_access_cidrs",
        ]
        .iter()
        .any(|a| changed(a))
        {
            let output = self
                .client
                .update_cluster_config()
                .name(name)
                .resources_vpc_config(vpc_config(spec, false))
                .client_request_token(client_token_of(desired, "endpoint"))
                .send()
                .await
                .map_err(|e| sdk_error(address, "eks:UpdateClusterConfig", e))?;
            if let Some(id) = output.update().and_then(|u| u.id()) {
                wait_update(&self.client, address, name, UpdateOf::Cluster, id).await?;
            }
        }
        if changed("enabled_cluster_log_types") {
            let output = self
                .client
                .update_cluster_config()
                .name(name)
                .logging(logging(spec))
                .client_request_token(client_token_of(desired, "logging"))
                .send()
                .await
                .map_err(|e| sdk_error(address, "eks:UpdateClusterConfig", e))?;
            if let Some(id) = output.update().and_then(|u| u.id()) {
                wait_update(&self.client, address, name, UpdateOf::Cluster, id).await?;
            }
        }
        if changed("tags") {
            let arn = live
                .outputs
                .get("arn")
                .and_then(Value::as_str)
                .unwrap_or_default();
            self.client
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(eks_tags(spec)))
                .send()
                .await
                .map_err(|e| sdk_error(address, "eks:TagResource", e))?;
        }
        let handled = [
            "version",
            "endpoint_private_access",
            "endpoint_public_access",
            "public_access_cidrs",
            "enabled_cluster_log_types",
            "tags",
        ];
        if let Some(other) = changes
            .iter()
            .find(|c| !handled.contains(&c.attribute.as_str()))
        {
            return Err(unsupported(address, &other.attribute));
        }
        self.reread(address, name, live.ownership.clone(), spec)
            .await
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        match self.client.delete_cluster().name(&live.id).send().await {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(&live.address, "eks:DeleteCluster", e) {
                err if is_not_found(&err) => Ok(()),
                err => Err(err),
            },
        }
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        poll(Backoff::SLOW, || async {
            let current = self
                .reread(
                    &live.address,
                    &live.id,
                    live.ownership.clone(),
                    &live.attributes,
                )
                .await?;
            match &current.status {
                Status::Ready => Ok(Poll::Done(current)),
                Status::Failed(reason) => Err(ProviderError::rejected(
                    &live.address,
                    "ClusterFailed",
                    reason.clone(),
                )),
                Status::InProgress(_) => Ok(Poll::Pending),
            }
        })
        .await
    }

    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        poll(Backoff::SLOW, || async {
            Ok(
                match describe_cluster(&self.client, &live.address, &live.id).await? {
                    Some(_) => Poll::Pending,
                    None => Poll::Done(()),
                },
            )
        })
        .await
    }

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        let mut changes = diff_attributes(desired, live, default_change_class);
        ignore_order(
            &mut changes,
            &[
                "subnet_ids",
                "public_access_cidrs",
                "enabled_cluster_log_types",
            ],
        );
        changes
    }
}

// --- node groups ----------------------------------------------------------------------

struct NodeGroupProvider {
    client: Client,
}

fn node_group_live(
    address: &Address,
    group: &aws_sdk_eks::types::Nodegroup,
    ownership: ObservedOwnership,
    hint: &Spec,
) -> Live {
    let name = group.nodegroup_name().unwrap_or_default();
    let mut attributes = Spec::new()
        .with("name", name)
        .with("cluster_name", group.cluster_name().unwrap_or_default());
    if let Some(role) = group.node_role() {
        attributes.insert("node_role_arn", role);
    }
    attributes.insert(
        "subnet_ids",
        order_like(hint.get("subnet_ids"), group.subnets().to_vec()),
    );
    attributes.insert(
        "instance_types",
        order_like(hint.get("instance_types"), group.instance_types().to_vec()),
    );
    if let Some(ami) = group.ami_type() {
        attributes.insert("ami_type", ami.as_str());
    }
    if let Some(scaling) = group.scaling_config() {
        let mut map = BTreeMap::new();
        for (key, value) in [
            ("min_size", scaling.min_size()),
            ("desired_size", scaling.desired_size()),
            ("max_size", scaling.max_size()),
        ] {
            if let Some(value) = value {
                map.insert(key.to_owned(), Value::Int(i64::from(value)));
            }
        }
        attributes.insert("scaling", Value::Map(map));
    }
    attributes.insert(
        "labels",
        Value::Map(
            group
                .labels()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect(),
        ),
    );
    if let Some(template) = group.launch_template() {
        let mut map = BTreeMap::new();
        if let Some(id) = template.id() {
            map.insert("id".to_owned(), Value::from(id));
        }
        if let Some(version) = template.version() {
            map.insert("version".to_owned(), Value::from(version));
        }
        attributes.insert("launch_template", Value::Map(map));
    }
    attributes.insert("tags", tags_attribute(group.tags()));
    let issues = || -> String {
        let issues: Vec<String> = group
            .health()
            .map(|h| {
                h.issues()
                    .iter()
                    .map(|i| {
                        format!(
                            "{}: {}",
                            i.code().map_or("", |c| c.as_str()),
                            i.message().unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        issues.join("; ")
    };
    let status = match group.status() {
        Some(NodegroupStatus::Active) => Status::Ready,
        Some(
            s @ (NodegroupStatus::CreateFailed
            | NodegroupStatus::DeleteFailed
            | NodegroupStatus::Degraded),
        ) => Status::Failed(format!("{}: {}", s.as_str(), issues())),
        Some(status) => Status::InProgress(status.as_str().to_owned()),
        None => Status::InProgress("CREATING".into()),
    };
    let mut outputs: BTreeMap<String, Value> = [
        ("id".to_owned(), Value::from(name)),
        ("name".to_owned(), Value::from(name)),
    ]
    .into();
    if let Some(arn) = group.nodegroup_arn() {
        outputs.insert("arn".to_owned(), Value::from(arn));
    }
    let groups: Vec<String> = group
        .resources()
        .map(|r| {
            r.auto_scaling_groups()
                .iter()
                .filter_map(|g| g.name().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if !groups.is_empty() {
        outputs.insert("autoscaling_group_names".to_owned(), Value::strings(groups));
    }
    Live {
        address: address.clone(),
        kind: ResourceKind::NodeGroup,
        id: name.to_owned(),
        ownership,
        status,
        attributes,
        outputs,
    }
}

fn scaling(spec: &Spec) -> NodegroupScalingConfig {
    let map = spec.get("scaling").and_then(Value::as_map);
    let get = |key: &str| int(map.and_then(|m| m.get(key)));
    NodegroupScalingConfig::builder()
        .set_min_size(get("min_size"))
        .set_desired_size(get("desired_size"))
        .set_max_size(get("max_size"))
        .build()
}

fn labels(spec: &Spec) -> HashMap<String, String> {
    spec.get("labels")
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn launch_template(spec: &Spec) -> Option<LaunchTemplateSpecification> {
    let map = spec.get("launch_template")?.as_map()?;
    let text = |key: &str| match map.get(key)? {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    };
    Some(
        LaunchTemplateSpecification::builder()
            .set_id(text("id"))
            .set_version(text("version"))
            .build(),
    )
}

impl NodeGroupProvider {
    async fn describe(
        &self,
        address: &Address,
        cluster: &str,
        name: &str,
    ) -> Result<Option<aws_sdk_eks::types::Nodegroup>, ProviderError> {
        match self
            .client
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await
        {
            Ok(output) => Ok(output.nodegroup().cloned()),
            Err(e) => match sdk_error(address, "eks:DescribeNodegroup", e) {
                err if is_not_found(&err) => Ok(None),
                err => Err(err),
            },
        }
    }

    async fn reread(
        &self,
        live: &Live,
        ownership: ObservedOwnership,
        hint: &Spec,
    ) -> Result<Live, ProviderError> {
        let cluster = cluster_of(live);
        let group = self
            .describe(&live.address, &cluster, &live.id)
            .await?
            .ok_or_else(|| ProviderError::NotFound {
                address: live.address.clone(),
                code: "ResourceNotFoundException".into(),
                message: format!(
                    "node group {} of cluster {cluster} no longer exists",
                    live.id
                ),
            })?;
        Ok(node_group_live(&live.address, &group, ownership, hint))
    }
}

fn cluster_of(live: &Live) -> String {
    known_str(live.attributes.get("cluster_name"))
        .unwrap_or_default()
        .to_owned()
}

#[async_trait]
impl ResourceProvider for NodeGroupProvider {
    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let cluster = known_str(desired.spec.get("cluster_name")).unwrap_or_default();
        let name = desired.spec.name().unwrap_or_default();
        Ok(self
            .describe(&desired.address, cluster, name)
            .await?
            .map(|group| {
                let ownership = ObservedOwnership::of(desired, profile_of(group.tags()));
                node_group_live(&desired.address, &group, ownership, &desired.spec)
            }))
    }

    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        Ok(self.observe(&[], profile).await?.others)
    }

    /// Lists the cluster's node groups once and describes each (a few at a time): a
    /// desired one under its address, one the profile owns elsewhere under the address
    /// its tags record. A missing cluster has none.
    async fn observe(
        &self,
        desired: &[&Resource],
        profile: &str,
    ) -> Result<Observation, ProviderError> {
        let placeholder = Address::new(Component::Eks, "nodegroup");
        let cluster = cluster_of_desired(desired, profile);
        let listed = self
            .client
            .list_nodegroups()
            .cluster_name(cluster)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>();
        let names = member_names(
            &self.client,
            &placeholder,
            cluster,
            "eks:ListNodegroups",
            listed,
        )
        .await?;
        let lookups: Vec<_> = names
            .iter()
            .map(|name| self.describe(&placeholder, cluster, name))
            .collect();
        let groups: Vec<_> = stream::iter(lookups)
            .buffered(READ_CONCURRENCY)
            .collect()
            .await;
        sort_members(
            desired,
            profile,
            groups,
            |wanted, group: &Nodegroup| {
                group
                    .nodegroup_name()
                    .is_some_and(|name| wanted.spec.name() == Some(name))
            },
            Nodegroup::tags,
            node_group_live,
        )
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let spec = &desired.spec;
        if !spec.refs().is_empty() {
            return Err(ProviderError::rejected(
                address,
                "UnresolvedReference",
                "the spec still refers to other resources' outputs",
            ));
        }
        let output = self
            .client
            .create_nodegroup()
            .cluster_name(known_str(spec.get("cluster_name")).unwrap_or_default())
            .nodegroup_name(spec.name().unwrap_or_default())
            .scaling_config(scaling(spec))
            .set_subnets(Some(strings(spec.get("subnet_ids"))))
            .set_instance_types(Some(strings(spec.get("instance_types"))))
            .set_ami_type(known_str(spec.get("ami_type")).map(AmiTypes::from))
            .set_node_role(known_str(spec.get("node_role_arn")).map(str::to_owned))
            .set_labels(Some(labels(spec)))
            .set_launch_template(launch_template(spec))
            .set_tags(Some(eks_tags(spec)))
            .client_request_token(client_token(desired))
            .send()
            .await
            .map_err(|e| sdk_error(address, "eks:CreateNodegroup", e));
        let output = match output {
            Ok(output) => output,
            Err(err) => return own_or(self, desired, err).await,
        };
        let group = output.nodegroup().ok_or_else(|| {
            ProviderError::rejected(
                address,
                "EmptyResponse",
                "CreateNodegroup returned no node group",
            )
        })?;
        Ok(node_group_live(
            address,
            group,
            ObservedOwnership::Owned,
            spec,
        ))
    }

    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let spec = &desired.spec;
        let cluster = cluster_of(live);
        let name = live.id.as_str();
        let changed = |attribute: &str| changes.iter().any(|c| c.attribute == attribute);
        if changed("scaling") || changed("labels") {
            let mut request = self
                .client
                .update_nodegroup_config()
                .cluster_name(&cluster)
                .nodegroup_name(name);
            if changed("scaling") {
                request = request.scaling_config(scaling(spec));
            }
            if changed("labels") {
                let wanted = labels(spec);
                let current: Vec<String> = live
                    .attributes
                    .get("labels")
                    .and_then(Value::as_map)
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                let removed: Vec<String> = current
                    .into_iter()
                    .filter(|k| !wanted.contains_key(k))
                    .collect();
                request = request.labels(
                    UpdateLabelsPayload::builder()
                        .set_add_or_update_labels((!wanted.is_empty()).then_some(wanted))
                        .set_remove_labels((!removed.is_empty()).then_some(removed))
                        .build(),
                );
            }
            let output = request
                .client_request_token(client_token_of(desired, "config"))
                .send()
                .await
                .map_err(|e| sdk_error(address, "eks:UpdateNodegroupConfig", e))?;
            if let Some(id) = output.update().and_then(|u| u.id()) {
                wait_update(
                    &self.client,
                    address,
                    &cluster,
                    UpdateOf::NodeGroup(name),
                    id,
                )
                .await?;
            }
        }
        if changed("launch_template") {
            // Rolls the nodes onto the new launch template version, respecting pod
            // disruption budgets.
            let output = self
                .client
                .update_nodegroup_version()
                .cluster_name(&cluster)
                .nodegroup_name(name)
                .set_launch_template(launch_template(spec))
                .client_request_token(client_token_of(desired, "version"))
                .send()
                .await
                .map_err(|e| sdk_error(address, "eks:UpdateNodegroupVersion", e))?;
            if let Some(id) = output.update().and_then(|u| u.id()) {
                wait_update(
                    &self.client,
                    address,
                    &cluster,
                    UpdateOf::NodeGroup(name),
                    id,
                )
                .await?;
            }
        }
        if changed("tags") {
            let arn = live
                .outputs
                .get("arn")
                .and_then(Value::as_str)
                .unwrap_or_default();
            self.client
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(eks_tags(spec)))
                .send()
                .await
                .map_err(|e| sdk_error(address, "eks:TagResource", e))?;
        }
        if let Some(other) = changes.iter().find(|c| {
            !["scaling", "labels", "launch_template", "tags"].contains(&c.attribute.as_str())
        }) {
            return Err(unsupported(address, &other.attribute));
        }
        self.reread(live, live.ownership.clone(), spec).await
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        match self
            .client
            .delete_nodegroup()
            .cluster_name(cluster_of(live))
            .nodegroup_name(&live.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(&live.address, "eks:DeleteNodegroup", e) {
                err if is_not_found(&err) => Ok(()),
                err => Err(err),
            },
        }
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        poll(Backoff::SLOW, || async {
            let current = self
                .reread(live, live.ownership.clone(), &live.attributes)
                .await?;
            match &current.status {
                Status::Ready => Ok(Poll::Done(current)),
                Status::Failed(reason) => Err(ProviderError::rejected(
                    &live.address,
                    "NodegroupFailed",
                    reason.clone(),
                )),
                Status::InProgress(_) => Ok(Poll::Pending),
            }
        })
        .await
    }

    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        let cluster = cluster_of(live);
        poll(Backoff::SLOW, || async {
            Ok(
                match self.describe(&live.address, &cluster, &live.id).await? {
                    Some(_) => Poll::Pending,
                    None => Poll::Done(()),
                },
            )
        })
        .await
    }

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        let mut changes = diff_attributes(desired, live, default_change_class);
        ignore_order(&mut changes, &["subnet_ids", "instance_types"]);
        changes
    }
}

// --- addons ---------------------------------------------------------------------------

struct AddonProvider {
    client: Client,
}

fn addon_issues(addon: &aws_sdk_eks::types::Addon) -> (Option<String>, String) {
    let issues = addon.health().map(|h| h.issues()).unwrap_or_default();
    let code = issues
        .first()
        .and_then(|i| i.code())
        .map(|c| c.as_str().to_owned());
    let text: Vec<String> = issues
        .iter()
        .map(|i| {
            format!(
                "{}: {}",
                i.code().map_or("", |c| c.as_str()),
                i.message().unwrap_or_default()
            )
        })
        .collect();
    (code, text.join("; "))
}

fn addon_live(
    address: &Address,
    addon: &aws_sdk_eks::types::Addon,
    ownership: ObservedOwnership,
) -> Live {
    let name = addon.addon_name().unwrap_or_default();
    let mut attributes = Spec::new()
        .with("name", name)
        .with("addon_name", name)
        .with("cluster_name", addon.cluster_name().unwrap_or_default());
    if let Some(version) = addon.addon_version() {
        attributes.insert("addon_version", version);
    }
    // Compared as data; no configuration reads as null, so a spec that sets one differs.
    let configuration = addon
        .configuration_values()
        .filter(|c| !c.trim().is_empty());
    attributes.insert(
        "configuration_values",
        configuration.map_or(Value::Null, |text| {
            parse_json(text).unwrap_or_else(|| Value::from(text))
        }),
    );
    attributes.insert("tags", tags_attribute(addon.tags()));
    let (_, issues) = addon_issues(addon);
    let status = match addon.status() {
        Some(AddonStatus::Active) => Status::Ready,
        Some(
            s @ (AddonStatus::CreateFailed | AddonStatus::UpdateFailed | AddonStatus::DeleteFailed),
        ) => Status::Failed(format!("{}: {issues}", s.as_str())),
        // Degraded is often passing (pods still scheduling): keep waiting, and show why.
        Some(AddonStatus::Degraded) => Status::InProgress(format!("DEGRADED: {issues}")),
        Some(status) => Status::InProgress(status.as_str().to_owned()),
        None => Status::InProgress("CREATING".into()),
    };
    let mut outputs: BTreeMap<String, Value> = [
        ("id".to_owned(), Value::from(name)),
        ("name".to_owned(), Value::from(name)),
    ]
    .into();
    if let Some(arn) = addon.addon_arn() {
        outputs.insert("arn".to_owned(), Value::from(arn));
    }
    if let Some(version) = addon.addon_version() {
        outputs.insert("addon_version".to_owned(), Value::from(version));
    }
    Live {
        address: address.clone(),
        kind: ResourceKind::EksAddon,
        id: name.to_owned(),
        ownership,
        status,
        attributes,
        outputs,
    }
}

fn configuration_values(address: &Address, spec: &Spec) -> Result<Option<String>, ProviderError> {
    match spec.get("configuration_values") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value_to_json(address, "configuration_values", value).map(Some),
    }
}

fn resolve_conflicts(spec: &Spec) -> Option<ResolveConflicts> {
    known_str(spec.get("resolve_conflicts")).map(ResolveConflicts::from)
}

impl AddonProvider {
    async fn describe(
        &self,
        address: &Address,
        cluster: &str,
        name: &str,
    ) -> Result<Option<aws_sdk_eks::types::Addon>, ProviderError> {
        match self
            .client
            .describe_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .send()
            .await
        {
            Ok(output) => Ok(output.addon().cloned()),
            Err(e) => match sdk_error(address, "eks:DescribeAddon", e) {
                err if is_not_found(&err) => Ok(None),
                err => Err(err),
            },
        }
    }

    async fn reread(&self, live: &Live) -> Result<aws_sdk_eks::types::Addon, ProviderError> {
        let cluster = cluster_of(live);
        self.describe(&live.address, &cluster, &live.id)
            .await?
            .ok_or_else(|| ProviderError::NotFound {
                address: live.address.clone(),
                code: "ResourceNotFoundException".into(),
                message: format!("addon {} of cluster {cluster} no longer exists", live.id),
            })
    }
}

#[async_trait]
impl ResourceProvider for AddonProvider {
    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let cluster = known_str(desired.spec.get("cluster_name")).unwrap_or_default();
        let name = known_str(desired.spec.get("addon_name")).unwrap_or_default();
        // An addon cannot outlive its cluster; and describing an addon of a missing
        // cluster is an error rather than "not found" on some EKS endpoints, which would
        // make `status` and `down` fail on a half-built stack.
        if describe_cluster(&self.client, &desired.address, cluster)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        Ok(self
            .describe(&desired.address, cluster, name)
            .await?
            .map(|addon| {
                let ownership = ObservedOwnership::of(desired, profile_of(addon.tags()));
                addon_live(&desired.address, &addon, ownership)
            }))
    }

    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        Ok(self.observe(&[], profile).await?.others)
    }

    /// Lists the cluster's addons once and describes each (a few at a time), as node
    /// groups are observed. A missing cluster has none.
    async fn observe(
        &self,
        desired: &[&Resource],
        profile: &str,
    ) -> Result<Observation, ProviderError> {
        let placeholder = Address::new(Component::Eks, "addon");
        let cluster = cluster_of_desired(desired, profile);
        let listed = self
            .client
            .list_addons()
            .cluster_name(cluster)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>();
        let names = member_names(
            &self.client,
            &placeholder,
            cluster,
            "eks:ListAddons",
            listed,
        )
        .await?;
        let lookups: Vec<_> = names
            .iter()
            .map(|name| self.describe(&placeholder, cluster, name))
            .collect();
        let addons: Vec<_> = stream::iter(lookups)
            .buffered(READ_CONCURRENCY)
            .collect()
            .await;
        sort_members(
            desired,
            profile,
            addons,
            |wanted, addon: &Addon| {
                addon
                    .addon_name()
                    .is_some_and(|name| known_str(wanted.spec.get("addon_name")) == Some(name))
            },
            Addon::tags,
            |address, addon, ownership, _spec| addon_live(address, addon, ownership),
        )
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let spec = &desired.spec;
        let output = self
            .client
            .create_addon()
            .cluster_name(known_str(spec.get("cluster_name")).unwrap_or_default())
            .addon_name(known_str(spec.get("addon_name")).unwrap_or_default())
            .set_addon_version(known_str(spec.get("addon_version")).map(str::to_owned))
            .set_resolve_conflicts(resolve_conflicts(spec))
            .set_configuration_values(configuration_values(address, spec)?)
            .set_tags(Some(eks_tags(spec)))
            .client_request_token(client_token(desired))
            .send()
            .await
            .map_err(|e| sdk_error(address, "eks:CreateAddon", e));
        let output = match output {
            Ok(output) => output,
            Err(err) => return own_or(self, desired, err).await,
        };
        let addon = output.addon().ok_or_else(|| {
            ProviderError::rejected(address, "EmptyResponse", "CreateAddon returned no addon")
        })?;
        Ok(addon_live(address, addon, ObservedOwnership::Owned))
    }

    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let spec = &desired.spec;
        let cluster = cluster_of(live);
        if changes.iter().any(|c| {
            ["addon_version", "configuration_values", "resolve_conflicts"]
                .contains(&c.attribute.as_str())
        }) {
            let output = self
                .client
                .update_addon()
                .cluster_name(&cluster)
                .addon_name(&live.id)
                .set_addon_version(known_str(spec.get("addon_version")).map(str::to_owned))
                .set_resolve_conflicts(resolve_conflicts(spec))
                // An empty document clears a configuration the spec no longer sets.
                .configuration_values(configuration_values(address, spec)?.unwrap_or_default())
                .client_request_token(client_token_of(desired, "update"))
                .send()
                .await
                .map_err(|e| sdk_error(address, "eks:UpdateAddon", e))?;
            if let Some(id) = output.update().and_then(|u| u.id()) {
                wait_update(
                    &self.client,
                    address,
                    &cluster,
                    UpdateOf::Addon(&live.id),
                    id,
                )
                .await?;
            }
        }
        for change in changes {
            match change.attribute.as_str() {
                "tags" => {
                    let arn = live
                        .outputs
                        .get("arn")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    self.client
                        .tag_resource()
                        .resource_arn(arn)
                        .set_tags(Some(eks_tags(spec)))
                        .send()
                        .await
                        .map_err(|e| sdk_error(address, "eks:TagResource", e))?;
                }
                "addon_version" | "configuration_values" | "resolve_conflicts" => {}
                other => return Err(unsupported(address, other)),
            }
        }
        let addon = self.reread(live).await?;
        Ok(addon_live(address, &addon, live.ownership.clone()))
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        match self
            .client
            .delete_addon()
            .cluster_name(cluster_of(live))
            .addon_name(&live.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(&live.address, "eks:DeleteAddon", e) {
                err if is_not_found(&err) => Ok(()),
                err => Err(err),
            },
        }
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        poll(Backoff::SLOW, || async {
            let addon = self.reread(live).await?;
            let current = addon_live(&live.address, &addon, live.ownership.clone());
            match &current.status {
                Status::Ready => Ok(Poll::Done(current)),
                Status::Failed(reason) => {
                    // The first health issue's code says what went wrong
                    // (ConfigurationConflict, InsufficientNumberOfReplicas, …).
                    let (code, _) = addon_issues(&addon);
                    let code = code.unwrap_or_else(|| {
                        addon
                            .status()
                            .map_or("AddonFailed", |s| s.as_str())
                            .to_owned()
                    });
                    Err(ProviderError::rejected(
                        &live.address,
                        &code,
                        format!("addon {} did not become active: {reason}", live.id),
                    ))
                }
                Status::InProgress(_) => Ok(Poll::Pending),
            }
        })
        .await
    }

    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        let cluster = cluster_of(live);
        poll(Backoff::SLOW, || async {
            Ok(
                match self.describe(&live.address, &cluster, &live.id).await? {
                    Some(_) => Poll::Pending,
                    None => Poll::Done(()),
                },
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eks::operation::create_addon::CreateAddonOutput;
    use aws_sdk_eks::operation::describe_addon::DescribeAddonOutput;
    use aws_sdk_eks::types::{Addon, AddonHealth, AddonIssue, AddonIssueCode};
    use aws_smithy_mocks::{
        MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock,
    };

    use crate::profile::Profile;
    use crate::stack::{Stack, build};

    const CLUSTER: &str = "example";

    fn example() -> Profile {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/example.yaml");
        crate::profile::load(&path).expect("the example profile is valid")
    }

    fn prod() -> Profile {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/prod-us-west-2.yaml");
        crate::profile::load(&path).expect("the prod profile is valid")
    }

    fn stack() -> Stack {
        build(&example()).unwrap()
    }

    fn resource(address: &str) -> Resource {
        stack().get(&address.parse().unwrap()).unwrap().clone()
    }

    /// An EKS client whose calls `rules` answer, built by hand rather than with
    /// `mock_client!`, which needs the SDK crates' `test-util` feature. SDK retries are
    /// off: what is tested is how each answer is classified.
    fn client(rules: &[&Rule]) -> Client {
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in rules {
            interceptor = interceptor.with_rule(rule);
        }
        let config = aws_sdk_eks::Config::builder()
            .behavior_version(aws_sdk_eks::config::BehaviorVersion::latest())
            .region(aws_sdk_eks::config::Region::new("us-west-2"))
            .credentials_provider(aws_sdk_eks::config::Credentials::new(
                "AKID", "SECRET", None, None, "test",
            ))
            .http_client(create_mock_http_client())
            .retry_config(aws_sdk_eks::config::retry::RetryConfig::disabled())
            .interceptor(interceptor)
            .build();
        Client::from_conf(config)
    }

    fn addon(status: AddonStatus) -> Addon {
        Addon::builder()
            .addon_name("vpc-cni")
            .cluster_name(CLUSTER)
            .addon_version("v1.19.2-eksbuild.1")
            .addon_arn("arn:aws:eks:us-west-2:123456789012:addon/example/vpc-cni/1")
            .status(status)
            .configuration_values(r#"{"env":{"ENI_CONFIG_LABEL_DEF":"topology.kubernetes.io/zone","AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG":"true"}}"#)
            .set_tags(Some(eks_tags(&resource("eks.addon[vpc-cni]").spec)))
            .build()
    }

    #[tokio::test(start_paused = true)]
    async fn vpc_cni_is_created_with_custom_networking_and_waited_for() {
        let desired = resource("eks.addon[vpc-cni]");
        let create = mock!(Client::create_addon)
            .match_requests(|r| {
                let config: serde_json::Value =
                    serde_json::from_str(r.configuration_values().unwrap_or("{}")).unwrap();
                r.cluster_name() == Some(CLUSTER)
                    && r.addon_name() == Some("vpc-cni")
                    && r.resolve_conflicts() == Some(&ResolveConflicts::Overwrite)
                    && config["env"]["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"] == "true"
                    && config["env"]["ENI_CONFIG_LABEL_DEF"] == "topology.kubernetes.io/zone"
                    && r.client_request_token()
                        .is_some_and(|t| t.starts_with("bpa-"))
                    && r.tags()
                        .is_some_and(|t| t.get(PROFILE_TAG).map(String::as_str) == Some(CLUSTER))
            })
            .then_output(|| {
                CreateAddonOutput::builder()
                    .addon(addon(AddonStatus::Creating))
                    .build()
            });
        let describe = mock!(Client::describe_addon)
            .sequence()
            .output(|| {
                DescribeAddonOutput::builder()
                    .addon(addon(AddonStatus::Creating))
                    .build()
            })
            .times(2)
            .output(|| {
                DescribeAddonOutput::builder()
                    .addon(addon(AddonStatus::Active))
                    .build()
            })
            .repeatedly()
            .build();
        let provider = AddonProvider {
            client: client(&[&create, &describe]),
        };

        let created = provider.create(&desired).await.unwrap();
        assert_eq!(created.status, Status::InProgress("CREATING".into()));
        let ready = provider.wait_ready(&created).await.unwrap();
        assert!(ready.is_ready());
        assert_eq!(create.num_calls(), 1);
        assert_eq!(describe.num_calls(), 3);
        // Read back, it shows no change against the spec: configuration compared as data.
        assert_eq!(provider.diff(&desired, &ready), vec![]);
        assert_eq!(ready.ownership, ObservedOwnership::Owned);
    }

    #[tokio::test(start_paused = true)]
    async fn an_addon_that_fails_to_become_active_is_an_error_naming_it_and_the_issue() {
        let failing = || {
            let mut failed = addon(AddonStatus::CreateFailed);
            failed.health = Some(
                AddonHealth::builder()
                    .issues(
                        AddonIssue::builder()
                            .code(AddonIssueCode::ConfigurationConflict)
                            .message("Conflicts found when trying to apply. Will not continue due to resolve conflicts mode.")
                            .build(),
                    )
                    .build(),
            );
            failed
        };
        let describe = mock!(Client::describe_addon)
            .sequence()
            .output(|| {
                DescribeAddonOutput::builder()
                    .addon(addon(AddonStatus::Creating))
                    .build()
            })
            .output(move || DescribeAddonOutput::builder().addon(failing()).build())
            .repeatedly()
            .build();
        let provider = AddonProvider {
            client: client(&[&describe]),
        };
        let live = addon_live(
            &"eks.addon[vpc-cni]".parse().unwrap(),
            &addon(AddonStatus::Creating),
            ObservedOwnership::Owned,
        );

        let err = provider.wait_ready(&live).await.unwrap_err();
        assert!(!err.retryable());
        assert_eq!(err.code(), "ConfigurationConflict");
        let message = err.to_string();
        assert!(
            message.starts_with("eks.addon[vpc-cni]: rejected (ConfigurationConflict)"),
            "{message}"
        );
        assert!(
            message.contains("did not become active: CREATE_FAILED"),
            "{message}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_degraded_addon_is_waited_for_until_it_recovers() {
        let describe = mock!(Client::describe_addon)
            .sequence()
            .output(|| {
                DescribeAddonOutput::builder()
                    .addon(addon(AddonStatus::Degraded))
                    .build()
            })
            .times(3)
            .output(|| {
                DescribeAddonOutput::builder()
                    .addon(addon(AddonStatus::Active))
                    .build()
            })
            .build();
        let provider = AddonProvider {
            client: client(&[&describe]),
        };
        let live = addon_live(
            &"eks.addon[vpc-cni]".parse().unwrap(),
            &addon(AddonStatus::Creating),
            ObservedOwnership::Owned,
        );
        assert!(provider.wait_ready(&live).await.unwrap().is_ready());
    }

    /// An EKS error answer as the service sends it: REST-JSON with the code in `__type`.
    fn eks_error(code: &str, message: &str) -> Option<String> {
        Some(serde_json::json!({ "__type": code, "message": message }).to_string())
    }

    /// Answers DescribeCluster with an existing cluster: addons are read only then.
    fn existing_cluster() -> Rule {
        mock!(Client::describe_cluster).then_output(|| {
            aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput::builder()
                .cluster(
                    aws_sdk_eks::types::Cluster::builder()
                        .name("example")
                        .build(),
                )
                .build()
        })
    }

    #[test]
    fn members_are_sorted_into_desired_owned_elsewhere_and_left_out() {
        let vpc_cni = resource("eks.addon[vpc-cni]");
        let coredns = resource("eks.addon[coredns]");
        let profile = vpc_cni.profile_tag().expect("a profile tag").to_owned();
        let member = |name: &str, tags: &[(&str, &str)]| {
            let tags: HashMap<String, String> = tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            Ok(Some(
                Addon::builder()
                    .addon_name(name)
                    .cluster_name(CLUSTER)
                    .status(AddonStatus::Active)
                    .set_tags((!tags.is_empty()).then_some(tags))
                    .build(),
            ))
        };
        let members = vec![
            member("vpc-cni", &[(PROFILE_TAG, &profile)]),
            // Ours by name, but nobody's by tag: found, and reported as unowned.
            member("coredns", &[]),
            Ok(None),
            member(
                "kube-proxy",
                &[
                    (PROFILE_TAG, &profile),
                    (ADDRESS_TAG, "eks.addon[kube-proxy]"),
                ],
            ),
            member(
                "metrics-server",
                &[
                    (PROFILE_TAG, "other"),
                    (ADDRESS_TAG, "eks.addon[metrics-server]"),
                ],
            ),
            member("snapshot-controller", &[]),
        ];
        let observation = sort_members(
            &[&vpc_cni, &coredns],
            &profile,
            members,
            |wanted, addon: &Addon| {
                addon
                    .addon_name()
                    .is_some_and(|name| known_str(wanted.spec.get("addon_name")) == Some(name))
            },
            Addon::tags,
            |address, addon, ownership, _| addon_live(address, addon, ownership),
        )
        .unwrap();
        let found: Vec<(String, ObservedOwnership)> = observation
            .found
            .iter()
            .map(|l| (l.address.to_string(), l.ownership.clone()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("eks.addon[vpc-cni]".to_owned(), ObservedOwnership::Owned),
                ("eks.addon[coredns]".to_owned(), ObservedOwnership::Unowned),
            ]
        );
        let others: Vec<String> = observation
            .others
            .iter()
            .map(|l| l.address.to_string())
            .collect();
        assert_eq!(others, vec!["eks.addon[kube-proxy]".to_owned()]);

        // A member that could not be described fails the observation.
        let failed = sort_members(
            &[&vpc_cni],
            &profile,
            vec![Err(ProviderError::rejected(
                &vpc_cni.address,
                "AccessDeniedException",
                "no",
            ))],
            |_, _: &Addon| true,
            Addon::tags,
            |address, addon, ownership, _| addon_live(address, addon, ownership),
        );
        assert!(failed.is_err());
    }

    #[tokio::test]
    async fn an_addon_of_a_missing_cluster_reads_as_absent_without_describing_it() {
        let no_cluster = mock!(Client::describe_cluster)
            .sequence()
            .http_status(
                404,
                eks_error(
                    "ResourceNotFoundException",
                    "No cluster found for name: example",
                ),
            )
            .build();
        // Any DescribeAddon would be answered with garbage and fail the read.
        let addon = mock!(Client::describe_addon)
            .sequence()
            .http_status(404, Some("<html>not found</html>".to_owned()))
            .build();
        let provider = AddonProvider {
            client: client(&[&no_cluster, &addon]),
        };
        assert_eq!(
            provider
                .read(&resource("eks.addon[coredns]"))
                .await
                .unwrap(),
            None
        );
        assert_eq!(addon.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_missing_addon_reads_as_absent_and_a_lookalike_as_unowned() {
        let missing = mock!(Client::describe_addon)
            .sequence()
            .http_status(
                404,
                eks_error(
                    "ResourceNotFoundException",
                    "No addon: coredns found in cluster: example",
                ),
            )
            .build();
        let cluster = existing_cluster();
        let provider = AddonProvider {
            client: client(&[&cluster, &missing]),
        };
        assert_eq!(
            provider
                .read(&resource("eks.addon[coredns]"))
                .await
                .unwrap(),
            None
        );

        let untagged = mock!(Client::describe_addon).then_output(|| {
            let mut addon = addon(AddonStatus::Active);
            addon.tags = None;
            DescribeAddonOutput::builder().addon(addon).build()
        });
        let provider = AddonProvider {
            client: client(&[&cluster, &untagged]),
        };
        let live = provider
            .read(&resource("eks.addon[vpc-cni]"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(live.ownership, ObservedOwnership::Unowned);
    }

    #[tokio::test]
    async fn throttling_and_server_errors_are_retryable() {
        let desired = resource("eks.addon[vpc-cni]");
        for (status, body, code) in [
            (429, r#"{"message":"Rate exceeded"}"#, "HTTP429"),
            (
                400,
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
                "ThrottlingException",
            ),
            (
                500,
                r#"{"__type":"ServerException","message":"internal error"}"#,
                "ServerException",
            ),
            (503, "", "HTTP503"),
        ] {
            let rule = mock!(Client::create_addon)
                .sequence()
                .http_status(status, Some(body.to_owned()))
                .build();
            let provider = AddonProvider {
                client: client(&[&rule]),
            };
            let err = provider.create(&desired).await.unwrap_err();
            assert!(err.retryable(), "{status} {body}: {err}");
            assert_eq!(err.address(), &desired.address);
            assert_eq!(err.code(), code, "{status} {body}");
        }
    }

    #[tokio::test]
    async fn a_permanent_error_names_the_resource_and_the_aws_code() {
        let desired = resource("eks.addon[vpc-cni]");
        let message = "Addon version v9 is not supported for Kubernetes 1.35";
        let rule = mock!(Client::create_addon)
            .sequence()
            .http_status(400, eks_error("InvalidParameterException", message))
            .build();
        let provider = AddonProvider {
            client: client(&[&rule]),
        };
        let err = provider.create(&desired).await.unwrap_err();
        assert!(!err.retryable());
        assert_eq!(err.code(), "InvalidParameterException");
        assert_eq!(
            err.to_string(),
            format!(
                "eks.addon[vpc-cni]: rejected (InvalidParameterException): eks:CreateAddon: {message}"
            )
        );
    }

    /// The node group of the example stack, references resolved, and its live form on
    /// launch template version 1, scaled to three nodes, with a label the spec dropped.
    fn node_group_and_live() -> (Resource, Live) {
        let mut desired = resource("eks.nodegroup[node-1]");
        desired.spec = desired.spec.resolve(&|r| {
            Some(Value::from(match r.output.as_str() {
                "latest_version" => "2",
                "id" => "lt-1",
                _ => "arn:aws:iam::123456789012:role/example-eks-node",
            }))
        });
        let mut attributes = desired.spec.clone();
        attributes.insert(
            "launch_template",
            Value::Map(
                [
                    ("id".to_owned(), Value::from("lt-1")),
                    ("version".to_owned(), Value::from("1")),
                ]
                .into(),
            ),
        );
        attributes.insert(
            "scaling",
            Value::Map(
                [
                    ("min_size".to_owned(), Value::Int(1)),
                    ("desired_size".to_owned(), Value::Int(3)),
                    ("max_size".to_owned(), Value::Int(1)),
                ]
                .into(),
            ),
        );
        attributes.insert(
            "labels",
            Value::Map(
                [
                    ("name".to_owned(), Value::from("node-1")),
                    ("old".to_owned(), Value::from("x")),
                ]
                .into(),
            ),
        );
        let live = Live {
            address: desired.address.clone(),
            kind: ResourceKind::NodeGroup,
            id: "node-1".into(),
            ownership: ObservedOwnership::Owned,
            status: Status::Ready,
            attributes,
            outputs: [(
                "arn".to_owned(),
                Value::from("arn:aws:eks:us-west-2:123456789012:nodegroup/example/node-1/1"),
            )]
            .into(),
        };
        (desired, live)
    }

    fn nodegroup_output(
        version: &str,
    ) -> aws_sdk_eks::operation::describe_nodegroup::DescribeNodegroupOutput {
        aws_sdk_eks::operation::describe_nodegroup::DescribeNodegroupOutput::builder()
            .nodegroup(
                aws_sdk_eks::types::Nodegroup::builder()
                    .nodegroup_name("node-1")
                    .cluster_name(CLUSTER)
                    .status(NodegroupStatus::Active)
                    .launch_template(
                        LaunchTemplateSpecification::builder()
                            .id("lt-1")
                            .version(version)
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    fn update(id: &str, status: UpdateStatus) -> aws_sdk_eks::types::Update {
        aws_sdk_eks::types::Update::builder()
            .id(id)
            .status(status)
            .build()
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_group_moves_to_the_new_launch_template_version_after_its_config() {
        use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
        use aws_sdk_eks::operation::update_nodegroup_config::UpdateNodegroupConfigOutput;
        use aws_sdk_eks::operation::update_nodegroup_version::UpdateNodegroupVersionOutput;

        let (desired, live) = node_group_and_live();
        let config = mock!(Client::update_nodegroup_config)
            .match_requests(|r| {
                let labels = r.labels().unwrap();
                r.scaling_config().and_then(|s| s.desired_size()) == Some(1)
                    && labels.remove_labels() == ["old".to_owned()]
                    && labels
                        .add_or_update_labels()
                        .and_then(|l| l.get("name"))
                        .map(String::as_str)
                        == Some("node-1")
            })
            .then_output(|| {
                UpdateNodegroupConfigOutput::builder()
                    .update(update("u-config", UpdateStatus::InProgress))
                    .build()
            });
        let version = mock!(Client::update_nodegroup_version)
            .match_requests(|r| r.launch_template().and_then(|t| t.version()) == Some("2"))
            .then_output(|| {
                UpdateNodegroupVersionOutput::builder()
                    .update(update("u-version", UpdateStatus::InProgress))
                    .build()
            });
        let describe_update = mock!(Client::describe_update)
            .sequence()
            .output(|| {
                DescribeUpdateOutput::builder()
                    .update(update("u", UpdateStatus::InProgress))
                    .build()
            })
            .output(|| {
                DescribeUpdateOutput::builder()
                    .update(update("u", UpdateStatus::Successful))
                    .build()
            })
            .repeatedly()
            .build();
        let describe = mock!(Client::describe_nodegroup).then_output(|| nodegroup_output("2"));
        let provider = NodeGroupProvider {
            client: client(&[&config, &version, &describe_update, &describe]),
        };

        let changes = provider.diff(&desired, &live);
        let changed: Vec<&str> = changes.iter().map(|c| c.attribute.as_str()).collect();
        assert_eq!(changed, ["labels", "launch_template", "scaling"]);
        assert!(
            changes
                .iter()
                .all(|c| c.class == crate::provider::ChangeClass::InPlace),
            "{changes:?}"
        );
        let updated = provider.update(&desired, &live, &changes).await.unwrap();
        assert_eq!(config.num_calls(), 1);
        assert_eq!(version.num_calls(), 1);
        assert!(
            describe_update.num_calls() >= 3,
            "each update is waited for"
        );
        assert_eq!(
            updated
                .attributes
                .get("launch_template")
                .and_then(Value::as_map)
                .and_then(|m| m.get("version")),
            Some(&Value::from("2"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_node_group_update_is_an_error_with_eks_code() {
        use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
        use aws_sdk_eks::operation::update_nodegroup_version::UpdateNodegroupVersionOutput;
        use aws_sdk_eks::types::{ErrorCode, ErrorDetail};

        let (desired, mut live) = node_group_and_live();
        live.attributes = desired.spec.clone().with(
            "launch_template",
            Value::Map(
                [
                    ("id".to_owned(), Value::from("lt-1")),
                    ("version".to_owned(), Value::from("1")),
                ]
                .into(),
            ),
        );
        let version = mock!(Client::update_nodegroup_version).then_output(|| {
            UpdateNodegroupVersionOutput::builder()
                .update(update("u-version", UpdateStatus::InProgress))
                .build()
        });
        let describe_update = mock!(Client::describe_update).then_output(|| {
            let failed = aws_sdk_eks::types::Update::builder()
                .id("u-version")
                .status(UpdateStatus::Failed)
                .errors(
                    ErrorDetail::builder()
                        .error_code(ErrorCode::PodEvictionFailure)
                        .error_message("Reached max retries while trying to evict pods from nodes in node group node-1")
                        .build(),
                )
                .build();
            DescribeUpdateOutput::builder().update(failed).build()
        });
        let provider = NodeGroupProvider {
            client: client(&[&version, &describe_update]),
        };
        let changes = provider.diff(&desired, &live);
        let err = provider
            .update(&desired, &live, &changes)
            .await
            .unwrap_err();
        assert!(!err.retryable());
        assert_eq!(err.code(), "PodEvictionFailure");
        let message = err.to_string();
        assert!(
            message.starts_with(
                "eks.nodegroup[node-1]: rejected (PodEvictionFailure): EKS update u-version Failed"
            ),
            "{message}"
        );
    }

    #[test]
    fn a_version_jump_of_more_than_one_minor_is_refused() {
        let desired = resource("eks.cluster");
        let mut live = Live {
            address: desired.address.clone(),
            kind: ResourceKind::EksCluster,
            id: CLUSTER.into(),
            ownership: ObservedOwnership::Owned,
            status: Status::Ready,
            attributes: desired.spec.clone().with("version", "1.34"),
            outputs: BTreeMap::new(),
        };
        let provider = ClusterProvider {
            client: client(&[]),
        };
        let changes = provider.diff(&desired, &live);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].class, crate::provider::ChangeClass::InPlace);
        live.attributes.insert("version", "1.33");
        let changes = provider.diff(&desired, &live);
        assert!(
            matches!(&changes[0].class, crate::provider::ChangeClass::Forbidden(reason) if reason.contains("1.34 first")),
            "{changes:?}"
        );
    }

    /// Splits a MIME multi-part document into its parts' headers and bodies, checking
    /// what cloud-init relies on: the top-level headers, the boundary parameter, every
    /// part opened by `--boundary` on its own line and the document closed by
    /// `--boundary--`.
    fn mime_parts(document: &str) -> Vec<(Vec<(String, String)>, String)> {
        let (head, body) = document
            .split_once("\n\n")
            .expect("headers end with an empty line");
        let headers: Vec<(&str, &str)> = head
            .lines()
            .map(|l| l.split_once(": ").expect("a header line"))
            .collect();
        assert!(headers.contains(&("MIME-Version", "1.0")), "{headers:?}");
        let content_type = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Content-Type"))
            .expect("a Content-Type")
            .1;
        assert!(
            content_type.starts_with("multipart/mixed;"),
            "{content_type}"
        );
        let boundary = content_type
            .split("boundary=")
            .nth(1)
            .expect("a boundary")
            .trim_matches('"');
        assert!(!boundary.is_empty() && boundary.len() <= 70);
        let delimiter = format!("--{boundary}");
        let closing = format!("--{boundary}--");
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(
            lines.first(),
            Some(&delimiter.as_str()),
            "the body opens with the first boundary"
        );
        assert_eq!(
            lines.iter().filter(|l| **l == closing).count(),
            1,
            "closed exactly once"
        );
        let close = lines.iter().position(|l| *l == closing).unwrap();
        assert!(
            lines[close + 1..].iter().all(|l| l.trim().is_empty()),
            "nothing after the closing boundary"
        );
        let mut parts = Vec::new();
        for chunk in lines[..close].split(|l| *l == delimiter).skip(1) {
            let blank = chunk
                .iter()
                .position(|l| l.is_empty())
                .expect("part headers end with an empty line");
            let headers = chunk[..blank]
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once(": ").expect("a part header");
                    (k.to_owned(), v.to_owned())
                })
                .collect();
            let body = chunk[blank + 1..].join("\n");
            assert!(
                !body.contains(&delimiter),
                "a part body must not contain the boundary"
            );
            parts.push((headers, body));
        }
        parts
    }

    #[test]
    fn launch_template_user_data_is_a_valid_mime_document_preparing_the_node() {
        let stack = build(&prod()).unwrap();
        let template = stack
            .get(&"eks.launch_template[node-1]".parse().unwrap())
            .unwrap();
        let user_data = template
            .spec
            .get("user_data")
            .and_then(Value::as_str)
            .unwrap();
        insta::assert_snapshot!("user_data_node_1", user_data);

        let parts = mime_parts(user_data);
        assert_eq!(parts.len(), 1);
        let (headers, script) = &parts[0];
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "Content-Type" && v.starts_with("text/x-shellscript")),
            "{headers:?}"
        );
        assert!(script.starts_with("#!/bin/bash\n"));
        // Formats only a blank volume, mounts it at /opt by UUID, persisted and idempotent.
        assert!(script.contains("blkid \"$device\" >/dev/null 2>&1 || mkfs -t xfs \"$device\""));
        assert!(script.contains("UUID=$(blkid -s UUID -o value \"$device\") /opt xfs"));
        assert!(script.contains("grep -q ' /opt ' /etc/fstab ||"));
        assert!(script.contains("if ! mountpoint -q /opt; then"));
        assert!(script.contains("mkdir -p /opt/bpa/data/zookeeper /opt/bpa/data/kafka"));
        assert!(script.contains("/etc/sysctl.d/") && script.contains("vm.max_map_count = 262144"));
        assert!(script.contains("sysctl --system"));

        // Each node group gets its own directories.
        let node4 = stack
            .get(&"eks.launch_template[node-4]".parse().unwrap())
            .unwrap();
        let script4 =
            &mime_parts(node4.spec.get("user_data").and_then(Value::as_str).unwrap())[0].1;
        assert!(script4.contains("mkdir -p /opt/bpa/data/elk /opt/bpa/data/metrics"));
    }

    #[test]
    fn every_eks_spec_attribute_is_read_back() {
        // What the providers report must cover what the stack sets, or drift in it
        // would go unseen. Attributes AWS cannot return are listed and explained.
        let write_only = ["resolve_conflicts"];
        let stack = stack();
        let cluster = Cluster::builder()
            .name(CLUSTER)
            .status(ClusterStatus::Active)
            .version("1.35")
            .role_arn("arn:aws:iam::123456789012:role/example-eks-cluster")
            .resources_vpc_config(
                aws_sdk_eks::types::VpcConfigResponse::builder()
                    .subnet_ids("subnet-1")
                    .endpoint_private_access(true)
                    .endpoint_public_access(true)
                    .public_access_cidrs("0.0.0.0/0")
                    .build(),
            )
            .logging(Logging::builder().build())
            .access_config(
                aws_sdk_eks::types::AccessConfigResponse::builder()
                    .authentication_mode(AuthenticationMode::ApiAndConfigMap)
                    .bootstrap_cluster_creator_admin_permissions(true)
                    .build(),
            )
            .build();
        let desired = stack.get(&"eks.cluster".parse().unwrap()).unwrap();
        let live = cluster_live(
            &desired.address,
            &cluster,
            ObservedOwnership::Owned,
            &desired.spec,
        );
        for (attribute, _) in &desired.spec {
            assert!(
                live.attributes.get(attribute).is_some(),
                "eks.cluster does not read back {attribute}"
            );
        }
        let desired = stack.get(&"eks.addon[vpc-cni]".parse().unwrap()).unwrap();
        let live = addon_live(
            &desired.address,
            &addon(AddonStatus::Active),
            ObservedOwnership::Owned,
        );
        for (attribute, _) in &desired.spec {
            assert!(
                write_only.contains(&attribute.as_str())
                    || live.attributes.get(attribute).is_some(),
                "eks.addon does not read back {attribute}"
            );
        }
    }

    use aws_sdk_eks::types::Cluster;
}
