//! The EKS cluster: its control plane version, endpoint access, control plane logging
//! and access configuration, upgraded one minor version at a time.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::{
    AuthenticationMode, ClusterStatus, CreateAccessConfigRequest, LogSetup, LogType, Logging,
    VpcConfigRequest,
};

use super::super::sdk_error;
use super::super::support::{
    Backoff, Poll, client_token, client_token_of, ignore_order, known_str, order_like, own_or,
    poll, strings,
};
use super::{
    UpdateOf, describe_cluster, eks_tags, is_not_found, profile_of, tag, tags_attribute,
    unsupported, wait_update,
};
use crate::provider::{
    AttributeChange, Live, ObservedOwnership, ProviderError, ResourceProvider, Status,
    default_change_class, diff_attributes,
};
use crate::stack::{Address, Resource, ResourceKind, Spec, Value};

// --- spec ----------------------------------------------------------------------------

/// Creates, reads, upgrades and deletes the EKS cluster.
pub(super) struct ClusterProvider {
    pub(super) client: Client,
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

// --- create, read, update, delete, waiters -------------------------------------------

#[async_trait]
impl ResourceProvider for ClusterProvider {
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

    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let name = desired.spec.name().unwrap_or_default();
        Ok(describe_cluster(&self.client, &desired.address, name)
            .await?
            .map(|cluster| {
                let ownership = ObservedOwnership::of(desired, profile_of(cluster.tags()));
                cluster_live(&desired.address, &cluster, ownership, &desired.spec)
            }))
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
            tag(&self.client, address, live, spec).await?;
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
}

// --- read: the live form -------------------------------------------------------------

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

// --- finders -------------------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eks::types::Cluster;

    use super::super::testing::{CLUSTER, client, resource};

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

    #[test]
    fn every_cluster_spec_attribute_is_read_back() {
        // What the provider reports must cover what the stack sets, or drift in it would
        // go unseen.
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
        let desired = resource("eks.cluster");
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
    }
}
