//! The stack: every desired resource of a deployment, with its address, its spec and
//! what it depends on (docs/architecture.md, "Data flow").
//!
//! Plans, applies and destroys all walk this one graph — destroy in reverse — so there
//! is no second ordering table to keep in step.

mod address;
pub mod build;
mod graph;
mod spec;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use address::{Address, AddressError, Component};
pub use build::{build, build_without};
pub use graph::{Dag, ReadyQueue};
pub use spec::{OutputRef, SecretRef, Spec, Value};

/// Tag naming the profile that owns a resource (docs/architecture.md, "State").
pub const PROFILE_TAG: &str = "bpa-infra:profile";
/// Tag holding a resource's stack address.
pub const ADDRESS_TAG: &str = "bpa-infra:address";
/// Tag naming the region of the stack that owns a global resource (IAM). A stack is
/// (profile name, region, account): regional resources are told apart by where they
/// are, global ones by this tag and by the region in their name.
pub const REGION_TAG: &str = "bpa-infra:region";

/// What kind of cloud object a resource is; each kind has one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Vpc,
    VpcCidrAssociation,
    Subnet,
    InternetGateway,
    ElasticIp,
    NatGateway,
    RouteTable,
    SecurityGroup,
    IamRole,
    IamPolicy,
    EksCluster,
    LaunchTemplate,
    NodeGroup,
    EksAddon,
    DbClusterParameterGroup,
    DbParameterGroup,
    DbSubnetGroup,
    DbCluster,
    DbInstance,
    EcrRepository,
    VpcEndpoint,
    AtlasEndpointService,
    AtlasEndpoint,
}

impl ResourceKind {
    /// Every kind.
    pub const ALL: [ResourceKind; 23] = [
        Self::Vpc,
        Self::VpcCidrAssociation,
        Self::Subnet,
        Self::InternetGateway,
        Self::ElasticIp,
        Self::NatGateway,
        Self::RouteTable,
        Self::SecurityGroup,
        Self::IamRole,
        Self::IamPolicy,
        Self::EksCluster,
        Self::LaunchTemplate,
        Self::NodeGroup,
        Self::EksAddon,
        Self::DbClusterParameterGroup,
        Self::DbParameterGroup,
        Self::DbSubnetGroup,
        Self::DbCluster,
        Self::DbInstance,
        Self::EcrRepository,
        Self::VpcEndpoint,
        Self::AtlasEndpointService,
        Self::AtlasEndpoint,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vpc => "vpc",
            Self::VpcCidrAssociation => "vpc_cidr_association",
            Self::Subnet => "subnet",
            Self::InternetGateway => "internet_gateway",
            Self::ElasticIp => "elastic_ip",
            Self::NatGateway => "nat_gateway",
            Self::RouteTable => "route_table",
            Self::SecurityGroup => "security_group",
            Self::IamRole => "iam_role",
            Self::IamPolicy => "iam_policy",
            Self::EksCluster => "eks_cluster",
            Self::LaunchTemplate => "launch_template",
            Self::NodeGroup => "node_group",
            Self::EksAddon => "eks_addon",
            Self::DbClusterParameterGroup => "db_cluster_parameter_group",
            Self::DbParameterGroup => "db_parameter_group",
            Self::DbSubnetGroup => "db_subnet_group",
            Self::DbCluster => "db_cluster",
            Self::DbInstance => "db_instance",
            Self::EcrRepository => "ecr_repository",
            Self::VpcEndpoint => "vpc_endpoint",
            Self::AtlasEndpointService => "atlas_endpoint_service",
            Self::AtlasEndpoint => "atlas_endpoint",
        }
    }

    /// Returns how long creating one usually takes, until ready: what progress bars show
    /// and what the executor uses to start the longest chains first.
    pub fn typical_duration(self) -> Duration {
        let seconds = match self {
            Self::EksCluster => 600,
            Self::NodeGroup => 240,
            Self::DbCluster => 1200,
            Self::DbInstance => 900,
            Self::VpcEndpoint | Self::NatGateway => 120,
            Self::AtlasEndpoint => 90,
            Self::EksAddon | Self::AtlasEndpointService => 60,
            Self::VpcCidrAssociation => 5,
            Self::Vpc
            | Self::InternetGateway
            | Self::RouteTable
            | Self::SecurityGroup
            | Self::IamRole
            | Self::DbClusterParameterGroup
            | Self::DbParameterGroup => 3,
            Self::Subnet
            | Self::IamPolicy
            | Self::LaunchTemplate
            | Self::DbSubnetGroup
            | Self::EcrRepository => 2,
            Self::ElasticIp => 1,
        };
        Duration::from_secs(seconds)
    }

    /// Returns how long the executor waits for one to become ready (or gone) before it
    /// gives up on it: a few times the typical duration, as AWS varies a lot.
    pub fn ready_timeout(self) -> Duration {
        let minutes = match self {
            Self::DbCluster | Self::DbInstance => 90,
            Self::EksCluster => 40,
            Self::NodeGroup | Self::AtlasEndpoint | Self::AtlasEndpointService => 25,
            Self::EksAddon | Self::VpcEndpoint | Self::NatGateway => 15,
            _ => 5,
        };
        Duration::from_secs(minutes * 60)
    }

    /// Tells whether AWS lets the tool tag one at creation, which is how ownership is
    /// recorded; the others are found through their parent or their Atlas project.
    pub fn is_taggable(self) -> bool {
        !matches!(
            self,
            Self::VpcCidrAssociation | Self::AtlasEndpointService | Self::AtlasEndpoint
        )
    }

    /// Tells whether one is global to the account (IAM) rather than in a region: such a
    /// resource carries its stack's region in its name and in [`REGION_TAG`].
    pub fn is_global(self) -> bool {
        matches!(self, Self::IamRole | Self::IamPolicy)
    }

    /// Tells whether `output` keeps its value when a resource of this kind is updated in
    /// place; a launch template gets a new version, everything else keeps its ids.
    pub fn output_survives_update(self, output: &str) -> bool {
        !(self == Self::LaunchTemplate && output == "latest_version")
    }

    /// Tells whether replacing one would destroy data people care about, so a plan must
    /// never replace it on its own.
    pub fn holds_data(self) -> bool {
        matches!(
            self,
            Self::DbCluster | Self::DbInstance | Self::EcrRepository
        )
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the tool owns a desired resource or only relies on one that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ownership {
    /// Created, changed and deleted by the tool.
    Managed,
    /// Exists already (an existing VPC and its subnets): read and checked, never changed.
    Adopted,
}

/// One desired resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub address: Address,
    pub kind: ResourceKind,
    pub spec: Spec,
    /// Resources this one uses, which must be ready before it is created and can only be
    /// deleted after it: every resource the spec refers to, and those it names.
    pub depends_on: Vec<Address>,
    /// Resources that must be ready first although this one does not use them (node
    /// groups after the CNI addon): they order the work, nothing more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs_after: Vec<Address>,
    pub ownership: Ownership,
}

impl Resource {
    /// Makes a resource the tool owns.
    pub fn managed(address: Address, kind: ResourceKind, spec: Spec) -> Self {
        Self {
            address,
            kind,
            spec,
            depends_on: Vec::new(),
            runs_after: Vec::new(),
            ownership: Ownership::Managed,
        }
    }

    /// Makes a resource that exists already and is only read.
    pub fn adopted(address: Address, kind: ResourceKind, spec: Spec) -> Self {
        Self {
            address,
            kind,
            spec,
            depends_on: Vec::new(),
            runs_after: Vec::new(),
            ownership: Ownership::Adopted,
        }
    }

    /// Adds resources this one uses that the spec names rather than refers to.
    pub fn uses<'a>(mut self, dependencies: impl IntoIterator<Item = &'a Address>) -> Self {
        for dependency in dependencies {
            if !self.depends_on.contains(dependency) {
                self.depends_on.push(dependency.clone());
            }
        }
        self
    }

    /// Adds resources that must be ready before this one, without it using them.
    pub fn after<'a>(mut self, dependencies: impl IntoIterator<Item = &'a Address>) -> Self {
        for dependency in dependencies {
            if !self.runs_after.contains(dependency) {
                self.runs_after.push(dependency.clone());
            }
        }
        self
    }

    /// Returns everything that must be ready before this resource: what it uses, then
    /// what it only runs after.
    pub fn dependencies(&self) -> impl Iterator<Item = &Address> {
        self.depends_on.iter().chain(&self.runs_after)
    }

    /// Returns the profile recorded in the spec's ownership tag.
    pub fn profile_tag(&self) -> Option<&str> {
        self.spec.tag(PROFILE_TAG)
    }
}

/// Why a set of resources is not a valid stack.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StackError {
    #[error("two resources have the address {0}")]
    DuplicateAddress(Address),
    #[error("{address} depends on {dependency}, which is not in the stack")]
    UnknownDependency {
        address: Address,
        dependency: Address,
    },
    #[error("dependency cycle: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(" → "))]
    Cycle(Vec<Address>),
}

/// What `down --only` does to a stack ([`Stack::teardown`]).
#[derive(Debug, Clone)]
pub struct Teardown {
    /// The resources deleted and those released, as one stack for the plan and the
    /// executor (the released ones in their new form).
    pub stack: Stack,
    /// Deleted: the components' resources and what exists only for them.
    pub deleted: BTreeSet<Address>,
    /// Resources of other components updated so as not to use a deleted one.
    pub released: BTreeSet<Address>,
    /// Resources of kept components that would lose one they use, if they exist.
    pub refusals: Vec<TeardownRefusal>,
    /// Those resources, to be read (a stack with no scope: it has no leftovers).
    pub users: Stack,
}

/// A resource of a component `down --only` keeps that uses one it would delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeardownRefusal {
    pub user: Address,
    pub used: Address,
}

/// The desired resources of one profile and their dependency graph.
///
/// Resources are kept in a topological order (dependencies first, otherwise in the order
/// they were given), which is the order plans list them in.
#[derive(Debug, Clone)]
pub struct Stack {
    profile: String,
    /// The region the stack lives in (with the profile name and the account, its
    /// identity); `None` for stacks made by hand in tests.
    region: Option<String>,
    resources: Vec<Resource>,
    index: HashMap<Address, usize>,
    dag: Dag,
    /// Every address of the whole profile, kept by sub-stacks: a resource the profile
    /// still has is never taken for a leftover, whatever the scope.
    profile_addresses: Arc<BTreeSet<Address>>,
    /// The components this stack was made for; their leftovers are its to delete.
    scope: BTreeSet<Component>,
}

impl Stack {
    /// Checks and orders `resources`: addresses are unique, every dependency (explicit or
    /// through a reference in the spec) is in the stack, and there is no cycle.
    pub fn new(profile: &str, mut resources: Vec<Resource>) -> Result<Self, StackError> {
        let mut index = HashMap::with_capacity(resources.len());
        for (i, resource) in resources.iter_mut().enumerate() {
            for r in resource.spec.refs() {
                if !resource.depends_on.contains(&r.address) {
                    resource.depends_on.push(r.address);
                }
            }
            if index.insert(resource.address.clone(), i).is_some() {
                return Err(StackError::DuplicateAddress(resource.address.clone()));
            }
        }
        let dag = dag_of(&resources, &index)?;
        if let Some(cycle) = dag.find_cycle() {
            return Err(StackError::Cycle(
                cycle
                    .into_iter()
                    .map(|i| resources[i].address.clone())
                    .collect(),
            ));
        }
        let order = dag.topological_order().expect("acyclic");
        let mut slots: Vec<Option<Resource>> = resources.into_iter().map(Some).collect();
        let resources: Vec<Resource> = order
            .into_iter()
            .map(|i| slots[i].take().expect("each once"))
            .collect();
        let index: HashMap<Address, usize> = resources
            .iter()
            .enumerate()
            .map(|(i, r)| (r.address.clone(), i))
            .collect();
        let dag = dag_of(&resources, &index)?;
        let profile_addresses = Arc::new(resources.iter().map(|r| r.address.clone()).collect());
        let scope = resources.iter().map(|r| r.address.component()).collect();
        Ok(Self {
            profile: profile.to_owned(),
            region: None,
            resources,
            index,
            dag,
            profile_addresses,
            scope,
        })
    }

    /// Returns the name of the profile the stack was built from.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// Places the stack in `region`.
    pub fn in_region(mut self, region: &str) -> Self {
        self.region = Some(region.to_owned());
        self
    }

    /// Returns the region the stack lives in, when known.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// Returns every resource, dependencies first.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    pub fn len(&self) -> usize {
        self.resources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    pub fn get(&self, address: &Address) -> Option<&Resource> {
        self.index.get(address).map(|&i| &self.resources[i])
    }

    /// Returns the position of `address` in [`resources`](Self::resources), which is its
    /// node in [`dag`](Self::dag).
    pub fn position(&self, address: &Address) -> Option<usize> {
        self.index.get(address).copied()
    }

    /// Returns the dependency graph over the positions of [`resources`](Self::resources).
    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    /// Returns the graph destroy walks: every edge reversed.
    pub fn reverse_dag(&self) -> Dag {
        self.dag.reversed()
    }

    /// Returns the resources that depend directly on `address`.
    pub fn dependents(&self, address: &Address) -> Vec<&Resource> {
        self.position(address)
            .map(|i| {
                self.dag
                    .dependents(i)
                    .iter()
                    .map(|&d| &self.resources[d])
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Returns the components that have at least one resource.
    pub fn components(&self) -> BTreeSet<Component> {
        self.resources
            .iter()
            .map(|r| r.address.component())
            .collect()
    }

    /// Tells whether an owned live resource at `address` is a leftover this stack
    /// should delete: the profile no longer has it, and its component is in scope.
    pub fn is_leftover(&self, address: &Address) -> bool {
        !self.profile_addresses.contains(address) && self.scope.contains(&address.component())
    }

    /// Returns the sub-stack `up --only` works on: the resources of `components` and
    /// everything they transitively depend on. Only `components` are in its scope: the
    /// dependencies are there to be read and waited for.
    pub fn for_components(&self, components: &[Component]) -> Stack {
        let keep = self.dag.with_dependencies(self.positions_in(components));
        self.subset(&keep, components.iter().copied().collect())
    }

    /// Returns what `down --only components` does: it deletes their resources and what
    /// exists only for them (a role or policy all of whose users are deleted: the EKS roles
    /// with EKS), and
    /// releases each resource of another component that uses one of those, updating it
    /// to its form in `without` (the stack built without `components`, see
    /// [`build::build_without`]), where it uses none of them (the pull policy without the
    /// repositories). A resource that still needs one (a node group its subnets) makes a
    /// [`TeardownRefusal`]: `down --only` never cuts what a kept component uses.
    ///
    /// The refusals are those of the desired graph: the caller keeps the ones whose user
    /// exists (a node group not made yet uses nothing).
    pub fn teardown(&self, components: &[Component], without: Option<&Stack>) -> Teardown {
        let mut deleted: BTreeSet<usize> = self.positions_in(components).collect();
        // Who uses what: `depends_on` only, as `runs_after` orders work but uses nothing.
        let users_of = |i: usize| -> Vec<usize> {
            let address = &self.resources[i].address;
            (0..self.len())
                .filter(|&u| self.resources[u].depends_on.contains(address))
                .collect()
        };
        // Roles and policies exist for what uses them; everything else (a repository, a
        // subnet) stands on its own and is deleted only with its component.
        loop {
            let only_for_deleted: Vec<usize> = (0..self.len())
                .filter(|i| !deleted.contains(i) && self.resources[*i].kind.is_global())
                .filter(|&i| {
                    let users = users_of(i);
                    !users.is_empty() && users.iter().all(|u| deleted.contains(u))
                })
                .collect();
            if only_for_deleted.is_empty() {
                break;
            }
            deleted.extend(only_for_deleted);
        }
        let is_deleted = |a: &Address| self.position(a).is_some_and(|p| deleted.contains(&p));
        let mut released = BTreeMap::new();
        let mut refusals: Vec<TeardownRefusal> = Vec::new();
        for &d in &deleted {
            for u in users_of(d) {
                if deleted.contains(&u) || released.contains_key(&u) {
                    continue;
                }
                let user = &self.resources[u];
                match without.and_then(|w| w.get(&user.address)) {
                    Some(kept) if !kept.depends_on.iter().any(is_deleted) => {
                        released.insert(u, kept.clone());
                    }
                    _ if refusals.iter().any(|r| r.user == user.address) => {}
                    _ => refusals.push(TeardownRefusal {
                        user: user.address.clone(),
                        used: self.resources[d].address.clone(),
                    }),
                }
            }
        }
        let scope = deleted
            .iter()
            .map(|&i| self.resources[i].address.component())
            .collect();
        let keep: BTreeSet<usize> = deleted.iter().chain(released.keys()).copied().collect();
        let addresses = |positions: &BTreeSet<usize>| -> BTreeSet<Address> {
            positions
                .iter()
                .map(|&i| self.resources[i].address.clone())
                .collect()
        };
        Teardown {
            stack: self.subset_replacing(&keep, scope, &released),
            deleted: addresses(&deleted),
            released: addresses(&released.keys().copied().collect()),
            users: self.only(|r| refusals.iter().any(|refusal| refusal.user == r.address)),
            refusals,
        }
    }

    /// Returns the sub-stack `down --only` works on: the resources of `components` and
    /// everything that transitively depends on them, which must go first.
    pub fn with_dependents(&self, components: &[Component]) -> Stack {
        let keep = self.dag.with_dependents(self.positions_in(components));
        let scope = keep
            .iter()
            .map(|&i| self.resources[i].address.component())
            .collect();
        self.subset(&keep, scope)
    }

    /// Returns the sub-stack of the resources `keep` selects, without what they depend
    /// on, to be read only (`render`, `db init`): what they refer to is not there to be
    /// resolved, and nothing is in its scope, so it has no leftovers.
    pub fn only(&self, keep: impl Fn(&Resource) -> bool) -> Stack {
        let keep = (0..self.len())
            .filter(|&i| keep(&self.resources[i]))
            .collect();
        self.subset(&keep, BTreeSet::new())
    }

    fn positions_in<'a>(&'a self, components: &'a [Component]) -> impl Iterator<Item = usize> + 'a {
        (0..self.len())
            .filter(move |&i| components.contains(&self.resources[i].address.component()))
    }

    /// Keeps the resources at `keep`, dropping edges to the others; the order stays
    /// topological, so the sub-stack needs no new check.
    fn subset(&self, keep: &BTreeSet<usize>, scope: BTreeSet<Component>) -> Stack {
        self.subset_replacing(keep, scope, &BTreeMap::new())
    }

    /// As [`subset`](Self::subset), with the resources at the positions of `replacing`
    /// swapped for the given ones (which use no more than the originals do).
    fn subset_replacing(
        &self,
        keep: &BTreeSet<usize>,
        scope: BTreeSet<Component>,
        replacing: &BTreeMap<usize, Resource>,
    ) -> Stack {
        let resources: Vec<Resource> = keep
            .iter()
            .map(|&i| {
                let mut resource = replacing
                    .get(&i)
                    .cloned()
                    .unwrap_or_else(|| self.resources[i].clone());
                let kept = |d: &Address| self.position(d).is_some_and(|p| keep.contains(&p));
                resource.depends_on.retain(kept);
                resource.runs_after.retain(kept);
                resource
            })
            .collect();
        let index: HashMap<Address, usize> = resources
            .iter()
            .enumerate()
            .map(|(i, r)| (r.address.clone(), i))
            .collect();
        let dag = dag_of(&resources, &index).expect("a subset keeps only known dependencies");
        Stack {
            profile: self.profile.clone(),
            region: self.region.clone(),
            resources,
            index,
            dag,
            profile_addresses: self.profile_addresses.clone(),
            scope,
        }
    }
}

fn dag_of(resources: &[Resource], index: &HashMap<Address, usize>) -> Result<Dag, StackError> {
    let mut dag = Dag::new(resources.len());
    for (i, resource) in resources.iter().enumerate() {
        for dependency in resource.dependencies() {
            let &d = index
                .get(dependency)
                .ok_or_else(|| StackError::UnknownDependency {
                    address: resource.address.clone(),
                    dependency: dependency.clone(),
                })?;
            dag.add_edge(i, d);
        }
    }
    Ok(dag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> Address {
        text.parse().unwrap()
    }

    fn resource(address: &str, kind: ResourceKind, refs: &[&str]) -> Resource {
        let mut spec = Spec::new();
        for (i, r) in refs.iter().enumerate() {
            spec.insert(&format!("ref{i}"), Value::Ref(r.parse().unwrap()));
        }
        Resource::managed(addr(address), kind, spec)
    }

    fn small() -> Stack {
        Stack::new(
            "test",
            vec![
                resource(
                    "rds.cluster",
                    ResourceKind::DbCluster,
                    &["rds.parameter_group.name", "network.vpc.id"],
                ),
                resource(
                    "rds.parameter_group",
                    ResourceKind::DbClusterParameterGroup,
                    &[],
                ),
                resource("network.vpc", ResourceKind::Vpc, &[]),
                resource("ecr.repository[bpa/ui]", ResourceKind::EcrRepository, &[]),
                resource("eks.cluster", ResourceKind::EksCluster, &["network.vpc.id"]),
            ],
        )
        .unwrap()
    }

    #[test]
    fn references_become_dependencies_and_order_is_topological() {
        let stack = small();
        let cluster = stack.get(&addr("rds.cluster")).unwrap();
        assert_eq!(
            cluster.depends_on,
            vec![addr("rds.parameter_group"), addr("network.vpc")]
        );
        let order: Vec<String> = stack
            .resources()
            .iter()
            .map(|r| r.address.to_string())
            .collect();
        assert_eq!(
            order,
            [
                "rds.parameter_group",
                "network.vpc",
                "rds.cluster",
                "ecr.repository[bpa/ui]",
                "eks.cluster"
            ]
        );
        let dependents: Vec<String> = stack
            .dependents(&addr("network.vpc"))
            .iter()
            .map(|r| r.address.to_string())
            .collect();
        assert_eq!(dependents, ["rds.cluster", "eks.cluster"]);
    }

    #[test]
    fn rejects_duplicates_unknown_dependencies_and_cycles() {
        let dup = Stack::new(
            "t",
            vec![
                resource("network.vpc", ResourceKind::Vpc, &[]),
                resource("network.vpc", ResourceKind::Vpc, &[]),
            ],
        );
        assert_eq!(
            dup.unwrap_err(),
            StackError::DuplicateAddress(addr("network.vpc"))
        );

        let unknown = Stack::new(
            "t",
            vec![resource(
                "eks.cluster",
                ResourceKind::EksCluster,
                &["network.vpc.id"],
            )],
        );
        assert!(matches!(
            unknown.unwrap_err(),
            StackError::UnknownDependency { .. }
        ));

        let cycle = Stack::new(
            "t",
            vec![
                resource(
                    "iam.node_role",
                    ResourceKind::IamRole,
                    &["iam.ecr_pull_policy.arn"],
                ),
                resource(
                    "iam.ecr_pull_policy",
                    ResourceKind::IamPolicy,
                    &["iam.node_role.arn"],
                ),
            ],
        )
        .unwrap_err();
        assert_eq!(
            cycle.to_string(),
            "dependency cycle: iam.node_role → iam.ecr_pull_policy → iam.node_role"
        );
    }

    #[test]
    fn sub_stacks_follow_dependencies_or_dependents() {
        let stack = small();
        let rds: Vec<String> = stack
            .for_components(&[Component::Rds])
            .resources()
            .iter()
            .map(|r| r.address.to_string())
            .collect();
        assert_eq!(rds, ["rds.parameter_group", "network.vpc", "rds.cluster"]);

        let down = stack.with_dependents(&[Component::Network]);
        let names: Vec<String> = down
            .resources()
            .iter()
            .map(|r| r.address.to_string())
            .collect();
        assert_eq!(names, ["network.vpc", "rds.cluster", "eks.cluster"]);
        assert!(
            !down.is_leftover(&addr("rds.parameter_group")),
            "still in the profile"
        );
        assert!(down.is_leftover(&addr("network.subnet[node/x]")));
        let rds = stack.for_components(&[Component::Rds]);
        assert!(!rds.is_leftover(&addr("network.subnet[node/x]")));
        // The parameter group is outside the sub-stack, so the edge to it is gone.
        assert_eq!(
            down.get(&addr("rds.cluster")).unwrap().depends_on,
            vec![addr("network.vpc")]
        );
    }
    #[test]
    fn a_read_only_sub_stack_has_what_it_selects_and_nothing_else() {
        let stack = small();
        let read = stack.only(|r| matches!(r.kind, ResourceKind::DbCluster | ResourceKind::Vpc));
        let names: Vec<String> = read
            .resources()
            .iter()
            .map(|r| r.address.to_string())
            .collect();
        assert_eq!(names, ["network.vpc", "rds.cluster"]);
        // Only the edges inside it stay, and nothing is a leftover of it.
        assert_eq!(
            read.get(&addr("rds.cluster")).unwrap().depends_on,
            vec![addr("network.vpc")]
        );
        assert!(!read.is_leftover(&addr("network.subnet[node/x]")));
        assert!(!read.is_leftover(&addr("rds.instance")));
    }

    fn teardown_of(components: &[Component]) -> Result<Teardown, Vec<TeardownRefusal>> {
        let profile = testing::profile("example");
        let full = build(&profile).unwrap();
        let without = build_without(&profile, components).ok();
        let teardown = full.teardown(components, without.as_ref());
        if teardown.refusals.is_empty() {
            Ok(teardown)
        } else {
            let users: Vec<&Address> = teardown
                .users
                .resources()
                .iter()
                .map(|r| &r.address)
                .collect();
            for refusal in &teardown.refusals {
                assert!(
                    users.contains(&&refusal.user),
                    "{refusal:?} not among {users:?}"
                );
            }
            Err(teardown.refusals)
        }
    }

    fn addresses(set: &BTreeSet<Address>) -> Vec<String> {
        set.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn down_only_ecr_deletes_the_repositories_and_releases_the_pull_policy() {
        let teardown = teardown_of(&[Component::Ecr]).unwrap();
        assert_eq!(
            addresses(&teardown.deleted),
            ["ecr.repository[bpa/bpm]", "ecr.repository[bpa/ui]"]
        );
        assert_eq!(addresses(&teardown.released), ["iam.ecr_pull_policy"]);
        let policy = teardown.stack.get(&addr("iam.ecr_pull_policy")).unwrap();
        assert!(policy.depends_on.is_empty(), "{:?}", policy.depends_on);
        let document = serde_json::to_string(policy.spec.get("document").unwrap()).unwrap();
        assert!(!document.contains("EcrPull"), "{document}");
        assert!(document.contains("ecr:GetAuthorizationToken"), "{document}");
        // The node role and its node groups are not touched at all.
        assert!(teardown.stack.get(&addr("iam.node_role")).is_none());
        assert!(teardown.stack.get(&addr("eks.nodegroup[node-1]")).is_none());
    }

    #[test]
    fn down_only_eks_takes_what_exists_only_for_it_and_nothing_others_use() {
        let teardown = teardown_of(&[Component::Eks]).unwrap();
        let deleted = addresses(&teardown.deleted);
        for address in [
            "eks.cluster",
            "eks.nodegroup[node-1]",
            "iam.cluster_role",
            "iam.node_role",
            "iam.ecr_pull_policy",
        ] {
            assert!(
                deleted.iter().any(|d| d == address),
                "{address}: {deleted:?}"
            );
        }
        assert!(
            deleted
                .iter()
                .all(|d| d.starts_with("eks.") || d.starts_with("iam.")),
            "{deleted:?}"
        );
        assert!(teardown.released.is_empty(), "{:?}", teardown.released);
    }

    #[test]
    fn down_only_of_what_kept_components_need_is_refused_naming_the_users() {
        for (component, user) in [
            (Component::Network, "rds.subnet_group"),
            (Component::Iam, "eks.cluster"),
        ] {
            let refusals = teardown_of(&[component]).unwrap_err();
            assert!(
                refusals.iter().any(|r| r.user.to_string() == user),
                "{component:?}: {refusals:?}"
            );
            assert!(
                refusals.iter().all(
                    |r| r.used.component() == component || r.used.component() == Component::Iam
                ),
                "{refusals:?}"
            );
        }
    }

    #[test]
    fn down_only_rds_deletes_only_rds() {
        let teardown = teardown_of(&[Component::Rds]).unwrap();
        assert!(
            teardown
                .deleted
                .iter()
                .all(|a| a.component() == Component::Rds),
            "{:?}",
            teardown.deleted
        );
        assert!(teardown.deleted.contains(&addr("rds.cluster")));
        assert!(teardown.released.is_empty());
    }
}
