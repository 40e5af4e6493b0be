//! The steps of a plan and the graph between them, which the executor walks.
//!
//! A change becomes one step, or two for a replacement (delete, then create). Applying
//! follows the stack's edges; deleting follows them reversed, so a resource is deleted
//! only once nothing that uses it is left. A replaced resource is deleted only after
//! what uses it, and created again before what uses it.

use std::collections::HashMap;

use super::ApplyError;
use crate::plan::{Action, LiveState, Operation, Plan};
use crate::stack::{Address, Dag, ReadyQueue, ResourceKind, Stack};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StepKind {
    /// Create, update, the create half of a replacement, or a no-op that may still
    /// have to wait for its resource to be ready.
    Apply,
    /// A delete, or the delete half of a replacement.
    Delete,
}

#[derive(Debug, Clone)]
pub(super) struct Step {
    pub address: Address,
    pub kind: ResourceKind,
    pub action: Action,
    pub step: StepKind,
    /// The step that finishes the address's change.
    pub last: bool,
}

impl Step {
    /// Returns how long the step typically takes: its kind's typical duration when it
    /// calls the cloud, nothing for a resource kept as it is.
    pub fn typical_seconds(&self) -> u64 {
        if self.action.is_write() {
            self.kind.typical_duration().as_secs()
        } else {
            0
        }
    }
}

#[derive(Debug)]
pub(super) struct Steps {
    pub steps: Vec<Step>,
    dag: Dag,
    priority: Vec<u64>,
    by_address: HashMap<Address, Vec<usize>>,
}

impl Steps {
    /// Makes the steps of `plan`, checking that each change matches the stack and the
    /// live state it claims to come from.
    pub fn of(plan: &Plan, stack: &Stack, live: &LiveState) -> Result<Self, ApplyError> {
        Self::build(plan, stack, &|address| live.find(address).is_some())
    }

    /// Makes the steps of `plan`, where `found` tells whether an address exists in the
    /// cloud: the live state when applying, the plan's own word when estimating.
    pub fn build(
        plan: &Plan,
        stack: &Stack,
        found: &dyn Fn(&Address) -> bool,
    ) -> Result<Self, ApplyError> {
        let mut steps = Vec::new();
        let inconsistent =
            |address: &Address, action: Action, problem: &str| ApplyError::Inconsistent {
                address: address.clone(),
                action,
                problem: problem.to_owned(),
            };
        for change in &plan.changes {
            let (address, action) = (&change.address, change.action);
            let in_stack = stack.get(address).is_some();
            let found = found(address);
            let step = |step, last| Step {
                address: address.clone(),
                kind: change.kind,
                action,
                step,
                last,
            };
            match action {
                Action::Create if !in_stack => {
                    return Err(inconsistent(address, action, "it is not in the profile"));
                }
                Action::Create => steps.push(step(StepKind::Apply, true)),
                Action::Update | Action::Replace if !in_stack || !found => {
                    return Err(inconsistent(
                        address,
                        action,
                        "it is not both in the profile and in the cloud",
                    ));
                }
                Action::Update => steps.push(step(StepKind::Apply, true)),
                Action::Replace => {
                    steps.push(step(StepKind::Delete, false));
                    steps.push(step(StepKind::Apply, true));
                }
                Action::Delete if !found => {
                    return Err(inconsistent(
                        address,
                        action,
                        "it was not found in the cloud",
                    ));
                }
                Action::Delete => steps.push(step(StepKind::Delete, true)),
                // Resources kept as they are still gate what depends on them, in case an
                // earlier run left them half-made.
                Action::NoOp if plan.operation == Operation::Apply && in_stack && found => {
                    steps.push(step(StepKind::Apply, true));
                }
                Action::NoOp => {}
            }
        }

        let mut by_address: HashMap<Address, Vec<usize>> = HashMap::new();
        let mut apply_at: HashMap<&Address, usize> = HashMap::new();
        let mut delete_at: HashMap<&Address, usize> = HashMap::new();
        for (i, step) in steps.iter().enumerate() {
            by_address.entry(step.address.clone()).or_default().push(i);
            match step.step {
                StepKind::Apply => apply_at.insert(&step.address, i),
                StepKind::Delete => delete_at.insert(&step.address, i),
            };
        }

        let mut dag = Dag::new(steps.len());
        let leftovers: Vec<usize> = delete_at
            .iter()
            .filter(|(address, _)| stack.get(address).is_none())
            .map(|(_, &i)| i)
            .collect();
        for (address, &i) in &apply_at {
            let resource = stack.get(address).expect("apply steps are stack resources");
            for dependency in resource.dependencies() {
                if let Some(&d) = apply_at.get(dependency) {
                    dag.add_edge(i, d);
                }
            }
            if let Some(&d) = delete_at.get(address) {
                dag.add_edge(i, d);
            }
        }
        for (address, &i) in &delete_at {
            if stack.get(address).is_some() {
                for dependent in stack.dependents(address) {
                    if let Some(&d) = delete_at.get(&dependent.address) {
                        dag.add_edge(i, d);
                    }
                }
                // Leftovers were made by an older profile and may use anything: they go
                // first. Nothing in the stack uses them, so this cannot make a cycle.
                for &l in &leftovers {
                    dag.add_edge(i, l);
                }
            } else {
                let kind = steps[i].kind;
                for &l in &leftovers {
                    if layer(steps[l].kind) > layer(kind) {
                        dag.add_edge(i, l);
                    }
                }
            }
        }
        if let Some(cycle) = dag.find_cycle() {
            let path: Vec<String> = cycle
                .iter()
                .map(|&i| steps[i].address.to_string())
                .collect();
            let first = &steps[cycle[0]];
            return Err(ApplyError::Inconsistent {
                address: first.address.clone(),
                action: first.action,
                problem: format!("its steps form a cycle: {}", path.join(" → ")),
            });
        }

        // Longest chains first: a 20-minute database should not wait behind seconds of
        // IAM work when concurrency is short.
        let weights: Vec<u64> = steps.iter().map(Step::typical_seconds).collect();
        let priority = dag.remaining_path(&weights);
        Ok(Self {
            steps,
            dag,
            priority,
            by_address,
        })
    }

    /// Returns the steps' graph: an edge from a step to the steps it waits for.
    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    /// Returns a ready-queue over the steps.
    pub fn queue(&self) -> ReadyQueue {
        ReadyQueue::new(&self.dag, &self.priority)
    }

    /// Returns the indices of the steps of `address`.
    pub fn of_address<'a>(&'a self, address: &Address) -> impl Iterator<Item = usize> + 'a {
        self.by_address.get(address).into_iter().flatten().copied()
    }
}

/// Returns how high a kind sits in any stack: a resource only uses resources of lower
/// layers. Orders the deletion of leftovers, whose dependencies are no longer known.
pub(super) fn layer(kind: ResourceKind) -> u8 {
    use ResourceKind as K;
    match kind {
        K::AtlasEndpoint => 9,
        K::EksAddon => 8,
        K::NodeGroup => 7,
        K::LaunchTemplate => 6,
        K::EksCluster | K::DbCluster | K::DbInstance | K::VpcEndpoint | K::RouteTable => 5,
        K::AtlasEndpointService
        | K::DbClusterParameterGroup
        | K::DbParameterGroup
        | K::DbSubnetGroup
        | K::IamRole
        | K::NatGateway => 4,
        K::SecurityGroup | K::IamPolicy | K::ElasticIp => 3,
        K::EcrRepository | K::Subnet | K::InternetGateway => 2,
        K::VpcCidrAssociation => 1,
        K::Vpc => 0,
    }
}
