//! The EKS managed node groups: their scaling, labels and launch template version,
//! rolled onto a new launch template version in place.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::{
    AmiTypes, LaunchTemplateSpecification, Nodegroup, NodegroupScalingConfig, NodegroupStatus,
    UpdateLabelsPayload,
};

use super::super::sdk_error;
use super::super::support::{
    Backoff, Poll, client_token, client_token_of, ignore_order, known_str, order_like, own_or,
    poll, strings,
};
use super::{
    ClusterMembers, UpdateOf, cluster_of, eks_tags, is_not_found, observe_members, profile_of, tag,
    tags_attribute, unsupported, wait_update,
};
use crate::provider::{
    AttributeChange, Live, Observation, ObservedOwnership, ProviderError, ResourceProvider, Status,
    default_change_class, diff_attributes,
};
use crate::stack::{Address, Component, Resource, ResourceKind, Spec, Value};

// --- spec ----------------------------------------------------------------------------

/// Creates, reads, scales, rolls and deletes the managed node groups.
pub(super) struct NodeGroupProvider {
    pub(super) client: Client,
}

fn int(value: Option<&Value>) -> Option<i32> {
    value
        .and_then(Value::as_int)
        .and_then(|i| i32::try_from(i).ok())
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

// --- create, read, update, delete, waiters -------------------------------------------

#[async_trait]
impl ResourceProvider for NodeGroupProvider {
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
            tag(&self.client, address, live, spec).await?;
        }
        if let Some(other) = changes.iter().find(|c| {
            !["scaling", "labels", "launch_template", "tags"].contains(&c.attribute.as_str())
        }) {
            return Err(unsupported(address, &other.attribute));
        }
        self.reread(live, live.ownership.clone(), spec).await
    }

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        let mut changes = diff_attributes(desired, live, default_change_class);
        ignore_order(&mut changes, &["subnet_ids", "instance_types"]);
        changes
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
}

// --- read: the live form -------------------------------------------------------------

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

// --- finders -------------------------------------------------------------------------

#[async_trait]
impl ClusterMembers for NodeGroupProvider {
    type Member = Nodegroup;

    fn placeholder() -> Address {
        Address::new(Component::Eks, "nodegroup")
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
            .list_nodegroups()
            .cluster_name(cluster)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(placeholder, "eks:ListNodegroups", e))
    }

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

    fn matches(wanted: &Resource, group: &Nodegroup) -> bool {
        group
            .nodegroup_name()
            .is_some_and(|name| wanted.spec.name() == Some(name))
    }

    fn tags(group: &Nodegroup) -> Option<&HashMap<String, String>> {
        group.tags()
    }

    fn live(
        address: &Address,
        group: &Nodegroup,
        ownership: ObservedOwnership,
        hint: &Spec,
    ) -> Live {
        node_group_live(address, group, ownership, hint)
    }
}

impl NodeGroupProvider {
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eks::types::UpdateStatus;
    use aws_smithy_mocks::mock;

    use super::super::testing::{CLUSTER, client, resource};

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
}
