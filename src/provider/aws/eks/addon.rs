//! The EKS addons of the cluster (VPC CNI, CoreDNS, kube-proxy, EBS CSI driver…): their
//! version and configuration, waited for until active.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::{Addon, AddonStatus, ResolveConflicts};

use super::super::sdk_error;
use super::super::support::{
    Backoff, Poll, client_token, client_token_of, known_str, own_or, parse_json, poll,
    value_to_json,
};
use super::{
    ClusterMembers, UpdateOf, cluster_of, describe_cluster, eks_tags, is_not_found,
    observe_members, profile_of, tag, tags_attribute, unsupported, wait_update,
};
use crate::provider::{
    AttributeChange, Live, Observation, ObservedOwnership, ProviderError, ResourceProvider, Status,
};
use crate::stack::{Address, Component, Resource, ResourceKind, Spec, Value};

// --- spec ----------------------------------------------------------------------------

/// Installs, reads, updates and removes the cluster's EKS addons.
pub(super) struct AddonProvider {
    pub(super) client: Client,
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

// --- create, read, update, delete, waiters -------------------------------------------

#[async_trait]
impl ResourceProvider for AddonProvider {
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
        observe_members(self, desired, profile).await
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
                "tags" => tag(&self.client, address, live, spec).await?,
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

// --- read: the live form -------------------------------------------------------------

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

pub(super) fn addon_live(
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

// --- finders -------------------------------------------------------------------------

#[async_trait]
impl ClusterMembers for AddonProvider {
    type Member = Addon;

    fn placeholder() -> Address {
        Address::new(Component::Eks, "addon")
    }

    fn client(&self) -> &Client {
        &self.client
    }

    async fn list_names(
        &self,
        placeholder: &Address,
        cluster: &str,
    ) -> Result<Vec<String>, ProviderError> {
        self.client
            .list_addons()
            .cluster_name(cluster)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(placeholder, "eks:ListAddons", e))
    }

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

    fn matches(wanted: &Resource, addon: &Addon) -> bool {
        addon
            .addon_name()
            .is_some_and(|name| known_str(wanted.spec.get("addon_name")) == Some(name))
    }

    fn tags(addon: &Addon) -> Option<&HashMap<String, String>> {
        addon.tags()
    }

    fn live(address: &Address, addon: &Addon, ownership: ObservedOwnership, _hint: &Spec) -> Live {
        addon_live(address, addon, ownership)
    }
}

impl AddonProvider {
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eks::operation::create_addon::CreateAddonOutput;
    use aws_sdk_eks::operation::describe_addon::DescribeAddonOutput;
    use aws_sdk_eks::types::{AddonHealth, AddonIssue, AddonIssueCode};
    use aws_smithy_mocks::mock;

    use super::super::testing::{CLUSTER, client, eks_error, existing_cluster, resource};
    use crate::stack::PROFILE_TAG;

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

    #[test]
    fn every_addon_spec_attribute_is_read_back() {
        // What the provider reports must cover what the stack sets, or drift in it would
        // go unseen. Attributes AWS cannot return are listed and explained.
        let write_only = ["resolve_conflicts"];
        let desired = resource("eks.addon[vpc-cni]");
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
}
