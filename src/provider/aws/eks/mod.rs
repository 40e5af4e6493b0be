//! EKS providers: the cluster ([`cluster`]), its managed node groups ([`node_group`])
//! and its addons ([`addon`]), one provider per kind over one client, and what a
//! kubeconfig needs to reach the cluster ([`access`]).
//!
//! Everything EKS makes has a unique name, so it is read by name. EKS runs one update
//! of a cluster, node group or addon at a time: an update call waits for each EKS
//! update it starts (through `DescribeUpdate`) before it starts the next, and creates
//! pass a client request token derived from the profile, address and spec.
//!
//! A version change of the cluster is classified by [`default_change_class`]: one minor
//! version up is an in-place upgrade, anything else is refused with the reason.
//!
//! [`default_change_class`]: crate::provider::default_change_class

mod access;
mod addon;
mod cluster;
mod node_group;
#[cfg(test)]
mod testing;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::UpdateStatus;
use futures::stream::{self, StreamExt};

pub use access::{ClusterAccess, cluster_access};

use super::support::{Backoff, Poll, known_str, poll};
use super::{sdk_error, spec_tags, tags_value};
use crate::provider::{
    Live, Observation, ObservedOwnership, ProviderError, Providers, READ_CONCURRENCY,
};
use crate::stack::{ADDRESS_TAG, Address, PROFILE_TAG, Resource, ResourceKind, Spec, Value};

/// Registers the EKS cluster, node group and addon providers.
pub(crate) fn register(providers: &mut Providers, config: &aws_config::SdkConfig) {
    let client = Client::new(config);
    providers.insert(
        ResourceKind::EksCluster,
        Arc::new(cluster::ClusterProvider {
            client: client.clone(),
        }),
    );
    providers.insert(
        ResourceKind::NodeGroup,
        Arc::new(node_group::NodeGroupProvider {
            client: client.clone(),
        }),
    );
    providers.insert(
        ResourceKind::EksAddon,
        Arc::new(addon::AddonProvider { client }),
    );
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
async fn member_names(
    client: &Client,
    placeholder: &Address,
    cluster: &str,
    list: impl Future<Output = Result<Vec<String>, ProviderError>>,
) -> Result<Vec<String>, ProviderError> {
    if describe_cluster(client, placeholder, cluster)
        .await?
        .is_none()
    {
        return Ok(Vec::new());
    }
    match list.await {
        Ok(names) => Ok(names),
        Err(err) if is_not_found(&err) => Ok(Vec::new()),
        Err(err) => Err(err),
    }
}

/// What EKS keeps per cluster under a unique name (node groups, addons): how to list,
/// describe and sort them, so both kinds are observed the same way.
#[async_trait]
trait ClusterMembers: Sync {
    /// What EKS describes one member as.
    type Member: Send + Sync;

    /// The address errors of the listing name, as no resource is known then.
    fn placeholder() -> Address;

    fn client(&self) -> &Client;

    /// Lists the names of the members of `cluster`, every page.
    async fn list_names(
        &self,
        placeholder: &Address,
        cluster: &str,
    ) -> Result<Vec<String>, ProviderError>;

    /// Describes the member `name` of `cluster`; `None` when there is no such member.
    async fn describe(
        &self,
        address: &Address,
        cluster: &str,
        name: &str,
    ) -> Result<Option<Self::Member>, ProviderError>;

    /// Whether `member` is the one `wanted` describes.
    fn matches(wanted: &Resource, member: &Self::Member) -> bool;

    fn tags(member: &Self::Member) -> Option<&HashMap<String, String>>;

    fn live(
        address: &Address,
        member: &Self::Member,
        ownership: ObservedOwnership,
        hint: &Spec,
    ) -> Live;
}

/// Lists the members of the desired resources' cluster once and describes each (a few
/// at a time), then sorts them with [`sort_members`]. A missing cluster has none.
async fn observe_members<P: ClusterMembers>(
    provider: &P,
    desired: &[&Resource],
    profile: &str,
) -> Result<Observation, ProviderError> {
    let placeholder = P::placeholder();
    let cluster = cluster_of_desired(desired, profile);
    let listed = provider.list_names(&placeholder, cluster);
    let names = member_names(provider.client(), &placeholder, cluster, listed).await?;
    let lookups: Vec<_> = names
        .iter()
        .map(|name| provider.describe(&placeholder, cluster, name))
        .collect();
    let members: Vec<_> = stream::iter(lookups)
        .buffered(READ_CONCURRENCY)
        .collect()
        .await;
    sort_members(desired, profile, members, P::matches, P::tags, P::live)
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

/// Sets the spec's tags on a live cluster, node group or addon, found by its ARN.
/// `TagResource` adds and overwrites; it removes none.
async fn tag(
    client: &Client,
    address: &Address,
    live: &Live,
    spec: &Spec,
) -> Result<(), ProviderError> {
    let arn = live
        .outputs
        .get("arn")
        .and_then(Value::as_str)
        .unwrap_or_default();
    client
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(eks_tags(spec)))
        .send()
        .await
        .map_err(|e| sdk_error(address, "eks:TagResource", e))?;
    Ok(())
}

/// The cluster a live node group or addon belongs to.
fn cluster_of(live: &Live) -> String {
    known_str(live.attributes.get("cluster_name"))
        .unwrap_or_default()
        .to_owned()
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eks::types::{Addon, AddonStatus};

    use super::addon::addon_live;
    use super::testing::{CLUSTER, resource};

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
}
