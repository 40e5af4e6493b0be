//! Reading the live state of a stack through the providers: the only cloud calls a plan
//! makes, and none of them mutating.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use serde::Serialize;

use crate::provider::{
    Live, Observation, ObservedOwnership, ProviderError, Providers, RetryPolicy,
};
use crate::stack::{Address, Resource, ResourceKind, Stack, Value};

/// What exists in the cloud for a stack.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveState {
    /// Found for the stack's addresses (owned or not, adopted included).
    resources: BTreeMap<Address, Live>,
    /// Owned by the profile but no longer in it: to be deleted.
    leftovers: Vec<Live>,
    /// The AWS account the state was read from.
    account: Option<String>,
}

impl LiveState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the AWS account the state is read from.
    pub fn set_account(&mut self, account: impl Into<String>) {
        self.account = Some(account.into());
    }

    /// Returns the AWS account the state was read from, when known.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// Records what was found at `live.address`.
    pub fn insert(&mut self, live: Live) {
        self.resources.insert(live.address.clone(), live);
    }

    /// Records an owned resource the profile no longer has (once per address).
    pub fn insert_leftover(&mut self, live: Live) {
        if !self.leftovers.iter().any(|l| l.address == live.address) {
            self.leftovers.push(live);
        }
    }

    /// Forgets what was found at `address`.
    pub fn remove(&mut self, address: &Address) -> Option<Live> {
        self.resources.remove(address)
    }

    pub fn get(&self, address: &Address) -> Option<&Live> {
        self.resources.get(address)
    }

    /// Finds `address` among the stack's resources, then among the leftovers.
    pub fn find(&self, address: &Address) -> Option<&Live> {
        self.get(address)
            .or_else(|| self.leftovers.iter().find(|l| &l.address == address))
    }

    /// Returns the owned resources the profile no longer has.
    pub fn leftovers(&self) -> &[Live] {
        &self.leftovers
    }

    /// Returns everything found: the stack's resources by address, then the leftovers.
    pub fn iter(&self) -> impl Iterator<Item = &Live> {
        self.resources.values().chain(&self.leftovers)
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty() && self.leftovers.is_empty()
    }

    /// Decides whose the global resources made by a release before 0.2 are (tagged with
    /// the profile name but no region: [`ObservedOwnership::Legacy`]). One is this
    /// stack's when something this stack owns uses it (the EKS cluster its role, the node
    /// role its policy), and then it is kept under its old name and gets its region tag by
    /// the next `up`. Any other stays [`ObservedOwnership::Legacy`]: it may be another
    /// region's stack's, so it is never changed or deleted, and the plan reports it
    /// rather than make a second one beside it.
    pub fn claim_legacy(&mut self) {
        loop {
            let owned: Vec<&Live> = self
                .resources
                .values()
                .filter(|l| l.ownership == ObservedOwnership::Owned)
                .collect();
            let claimed: Vec<Address> = self
                .resources
                .values()
                .filter(|l| l.ownership == ObservedOwnership::Legacy)
                .filter(|l| {
                    l.outputs
                        .get("arn")
                        .and_then(Value::as_str)
                        .is_some_and(|arn| {
                            owned
                                .iter()
                                .any(|o| o.attributes.iter().any(|(_, v)| mentions(v, arn)))
                        })
                })
                .map(|l| l.address.clone())
                .collect();
            if claimed.is_empty() {
                break;
            }
            for address in claimed {
                if let Some(live) = self.resources.get_mut(&address) {
                    live.ownership = ObservedOwnership::Owned;
                }
            }
        }
    }
}

/// Tells whether `value` holds the string `text` anywhere.
fn mentions(value: &Value, text: &str) -> bool {
    match value {
        Value::Str(s) => s == text,
        Value::List(items) => items.iter().any(|v| mentions(v, text)),
        Value::Map(map) => map.values().any(|v| mentions(v, text)),
        Value::Sensitive(inner) => mentions(inner, text),
        _ => false,
    }
}

/// Why the live state could not be read: every read that failed.
#[derive(Debug, thiserror::Error)]
pub struct ObserveError {
    pub errors: Vec<ProviderError>,
}

impl fmt::Display for ObserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not read the live state")?;
        for error in &self.errors {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

/// Reads every resource of `stack`, and finds the profile's resources of each kind it
/// uses to tell leftovers of its scope ([`Stack::is_leftover`]): one
/// [`observe`](crate::provider::ResourceProvider::observe) per kind, every kind at
/// once, each retried under `retry` when it fails with a retryable error. Makes no
/// mutating call.
pub async fn observe(
    stack: &Stack,
    providers: &Providers,
    retry: &RetryPolicy,
) -> Result<LiveState, ObserveError> {
    let rng = Mutex::new(fastrand::Rng::new());
    let rng = &rng;
    let mut by_kind: BTreeMap<ResourceKind, Vec<&Resource>> = BTreeMap::new();
    for resource in stack.resources() {
        by_kind.entry(resource.kind).or_default().push(resource);
    }
    let observations = by_kind.iter().map(|(&kind, desired)| async move {
        let provider = providers.require(kind, &desired[0].address)?;
        retry
            .run(
                rng,
                |_, _, _| {},
                || provider.observe(desired, stack.profile()),
            )
            .await
    });
    let observed: Vec<Result<Observation, ProviderError>> =
        futures::future::join_all(observations).await;

    let mut state = LiveState::new();
    state.account = providers.account().map(str::to_owned);
    let mut errors = Vec::new();
    for result in observed {
        match result {
            Ok(observation) => {
                for live in observation.found {
                    state.insert(live);
                }
                for live in observation.others {
                    if live.ownership == ObservedOwnership::Owned
                        && stack.is_leftover(&live.address)
                    {
                        state.insert_leftover(live);
                    }
                }
            }
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        state.claim_legacy();
        Ok(state)
    } else {
        Err(ObserveError { errors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Status;
    use crate::stack::Spec;

    fn live(address: &str, kind: ResourceKind, ownership: ObservedOwnership) -> Live {
        Live {
            address: address.parse().unwrap(),
            kind,
            id: address.to_owned(),
            ownership,
            status: Status::Ready,
            attributes: Spec::new(),
            outputs: BTreeMap::new(),
        }
    }

    fn with_arn(mut live: Live, arn: &str) -> Live {
        live.outputs.insert("arn".into(), Value::from(arn));
        live
    }

    const CLUSTER_ROLE: &str = "arn:aws:iam::1:role/example-eks-cluster";
    const NODE_ROLE: &str = "arn:aws:iam::1:role/example-eks-node";
    const POLICY: &str = "arn:aws:iam::1:policy/example-ecr-pull";

    fn legacy_iam() -> Vec<Live> {
        let mut node_role = with_arn(
            live(
                "iam.node_role",
                ResourceKind::IamRole,
                ObservedOwnership::Legacy,
            ),
            NODE_ROLE,
        );
        node_role
            .attributes
            .insert("managed_policy_arns", Value::strings([POLICY]));
        vec![
            with_arn(
                live(
                    "iam.cluster_role",
                    ResourceKind::IamRole,
                    ObservedOwnership::Legacy,
                ),
                CLUSTER_ROLE,
            ),
            node_role,
            with_arn(
                live(
                    "iam.ecr_pull_policy",
                    ResourceKind::IamPolicy,
                    ObservedOwnership::Legacy,
                ),
                POLICY,
            ),
        ]
    }

    fn owner_of(state: &LiveState, address: &str) -> ObservedOwnership {
        state
            .get(&address.parse().unwrap())
            .unwrap()
            .ownership
            .clone()
    }

    #[test]
    fn legacy_iam_used_by_the_stacks_own_cluster_and_node_groups_is_claimed_through_the_chain() {
        let mut state = LiveState::new();
        for l in legacy_iam() {
            state.insert(l);
        }
        let mut cluster = live(
            "eks.cluster",
            ResourceKind::EksCluster,
            ObservedOwnership::Owned,
        );
        cluster
            .attributes
            .insert("role_arn", Value::from(CLUSTER_ROLE));
        state.insert(cluster);
        let mut group = live(
            "eks.nodegroup[node-1]",
            ResourceKind::NodeGroup,
            ObservedOwnership::Owned,
        );
        group
            .attributes
            .insert("node_role_arn", Value::from(NODE_ROLE));
        state.insert(group);
        state.claim_legacy();
        // The policy is claimed only through the node role, itself claimed through the
        // node group: a chain of two.
        for address in ["iam.cluster_role", "iam.node_role", "iam.ecr_pull_policy"] {
            assert_eq!(
                owner_of(&state, address),
                ObservedOwnership::Owned,
                "{address}"
            );
        }
    }

    #[test]
    fn legacy_iam_that_nothing_owned_uses_stays_legacy() {
        let mut state = LiveState::new();
        for l in legacy_iam() {
            state.insert(l);
        }
        // Another profile's cluster using the role proves nothing; nor does a cluster of
        // this stack that uses another role.
        let mut foreign = live(
            "eks.cluster",
            ResourceKind::EksCluster,
            ObservedOwnership::OtherProfile {
                profile: "other".into(),
            },
        );
        foreign
            .attributes
            .insert("role_arn", Value::from(CLUSTER_ROLE));
        state.insert(foreign);
        let mut group = live(
            "eks.nodegroup[node-1]",
            ResourceKind::NodeGroup,
            ObservedOwnership::Owned,
        );
        group.attributes.insert(
            "node_role_arn",
            Value::from("arn:aws:iam::1:role/example-us-east-1-eks-node"),
        );
        state.insert(group);
        state.claim_legacy();
        for address in ["iam.cluster_role", "iam.node_role", "iam.ecr_pull_policy"] {
            assert_eq!(
                owner_of(&state, address),
                ObservedOwnership::Legacy,
                "{address}"
            );
        }
    }
}
