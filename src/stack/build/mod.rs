//! Builds the [`Stack`] of a validated [`Profile`]: every resource of every component,
//! one file per component (`network`, `ecr`, `iam`, `eks`, `rds`, `atlas`, the node
//! user data in `user_data`), with deterministic names derived from the profile name
//! and the dependencies each resource needs (the VPC before its subnets, the roles and
//! the cluster before the node groups, the parameter and subnet groups before the
//! database).
//!
//! Names are written out where they are known in advance (so an offline plan shows
//! them) and the dependency is added explicitly; references are used only for values
//! the cloud assigns (ids, ARNs, endpoints).

mod atlas;
mod ecr;
mod eks;
mod iam;
mod network;
mod rds;
mod user_data;

use std::collections::BTreeMap;

use crate::profile::{Profile, Zone};

use super::{
    ADDRESS_TAG, Address, Component, PROFILE_TAG, REGION_TAG, Resource, ResourceKind, Spec, Stack,
    StackError, Value,
};

/// Builds the whole stack of `profile`.
pub fn build(profile: &Profile) -> Result<Stack, StackError> {
    build_without(profile, &[])
}

/// Builds the stack `profile` would have without `components`: what `down --only` leaves
/// standing. A resource of another component that only names theirs (the pull policy
/// the repositories) is built without them; one that needs them (a node group its
/// subnets) makes the stack fail with [`StackError::UnknownDependency`].
pub fn build_without(profile: &Profile, components: &[Component]) -> Result<Stack, StackError> {
    let mut builder = Builder {
        profile,
        resources: Vec::new(),
        without: components.to_vec(),
    };
    // In this order: each component refers only to those built before it.
    for component in [
        Component::Network,
        Component::Ecr,
        Component::Iam,
        Component::Eks,
        Component::Rds,
        Component::Atlas,
    ] {
        if components.contains(&component) {
            continue;
        }
        match component {
            Component::Network => builder.network(),
            Component::Ecr => builder.ecr(),
            Component::Iam => builder.iam(),
            Component::Eks => builder.eks(),
            Component::Rds => builder.rds(),
            Component::Atlas => builder.atlas(),
        }
    }
    Stack::new(&profile.name, builder.resources).map(|stack| stack.in_region(&profile.region))
}

/// Returns the name releases before 0.2 gave a global resource of `spec`
/// (`<profile>-<suffix>`, without the region), which is kept where it is found: an EKS
/// cluster cannot change its role, so renaming would mean replacing the cluster.
pub fn legacy_name(spec: &Spec) -> Option<String> {
    let (profile, region, name) = (spec.tag(PROFILE_TAG)?, spec.tag(REGION_TAG)?, spec.name()?);
    let suffix = name.strip_prefix(&format!("{profile}-{region}-"))?;
    Some(format!("{profile}-{suffix}"))
}

fn addr(component: Component, name: &str) -> Address {
    Address::new(component, name)
}

fn keyed(component: Component, name: &str, key: impl Into<String>) -> Address {
    Address::keyed(component, name, key)
}

fn node_subnet(zone: &Zone) -> Address {
    keyed(Component::Network, "subnet", format!("node/{}", zone.name))
}

fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn tcp_rule(from: u16, to: u16, cidrs: &[String], description: &str) -> Value {
    map([
        ("protocol", "tcp".into()),
        ("from_port", from.into()),
        ("to_port", to.into()),
        ("cidr_blocks", Value::strings(cidrs.iter().cloned())),
        ("description", description.into()),
    ])
}

struct Builder<'a> {
    profile: &'a Profile,
    resources: Vec<Resource>,
    /// Components left out ([`build_without`]).
    without: Vec<Component>,
}

impl Builder<'_> {
    fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.profile.name)
    }

    /// The tags every owned resource carries: the profile's own, then the ownership tags,
    /// which win over a profile tag of the same key.
    fn tags(&self, address: &Address, name: Option<&str>) -> Value {
        let mut tags: BTreeMap<String, Value> = self
            .profile
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v)))
            .collect();
        if let Some(name) = name {
            tags.insert("Name".to_owned(), name.into());
        }
        tags.insert(PROFILE_TAG.to_owned(), self.profile.name.as_str().into());
        tags.insert(ADDRESS_TAG.to_owned(), address.to_string().into());
        Value::Map(tags)
    }

    /// Adds a global (IAM) resource: its name is `<profile>-<region>-<suffix>` and its
    /// tags carry the region, so that the stacks of one profile name in two regions of
    /// an account never take each other's roles (see [`legacy_name`] for the names of
    /// earlier releases).
    fn global(&mut self, address: Address, kind: ResourceKind, suffix: &str, spec: Spec) {
        let name = format!("{}-{}-{suffix}", self.profile.name, self.profile.region);
        let spec = spec
            .with("name", name.as_str())
            .with("tags", self.tags(&address, Some(&name)));
        self.resources.push(Resource::managed(address, kind, spec));
        self.tag_last(REGION_TAG, &self.profile.region.clone());
    }

    /// Adds a managed resource named `name`, with its name and tags in the spec.
    fn managed(
        &mut self,
        address: Address,
        kind: ResourceKind,
        name: &str,
        spec: Spec,
        uses: &[&Address],
    ) {
        let spec = spec
            .with("name", name)
            .with("tags", self.tags(&address, Some(name)));
        self.resources
            .push(Resource::managed(address, kind, spec).uses(uses.iter().copied()));
    }

    /// Orders the resource added last after `others`, which it does not use.
    fn order_last_after(&mut self, others: &[Address]) {
        let resource = self.resources.pop().expect("a resource was added");
        self.resources.push(resource.after(others));
    }

    /// Adds a tag to the resource added last.
    fn tag_last(&mut self, key: &str, value: &str) {
        let resource = self.resources.last_mut().expect("a resource was added");
        if let Some(Value::Map(mut tags)) = resource.spec.get("tags").cloned() {
            tags.insert(key.to_owned(), value.into());
            resource.spec.insert("tags", Value::Map(tags));
        }
    }

    fn adopted(&mut self, address: Address, kind: ResourceKind, spec: Spec, uses: &[&Address]) {
        self.resources
            .push(Resource::adopted(address, kind, spec).uses(uses.iter().copied()));
    }

    /// The VPC id: written out for an adopted VPC, known after apply for a created one.
    fn vpc_id(&self) -> Value {
        match &self.profile.network.vpc.id {
            Some(id) => id.as_str().into(),
            None => Value::output(&addr(Component::Network, "vpc"), "id"),
        }
    }

    fn subnet_id(&self, address: &Address, subnet: &crate::profile::Subnet) -> Value {
        match &subnet.id {
            Some(id) => id.as_str().into(),
            None => Value::output(address, "id"),
        }
    }

    fn node_subnet_ids(&self) -> Value {
        Value::List(
            self.profile
                .network
                .zones
                .iter()
                .map(|z| self.subnet_id(&node_subnet(z), &z.node_subnet))
                .collect(),
        )
    }

    fn node_subnets(&self) -> Vec<Address> {
        self.profile.network.zones.iter().map(node_subnet).collect()
    }

    /// The pod CIDR and the node subnets: where traffic to RDS and Atlas comes from. Pods
    /// keep their 100.64.x source address inside the VPC: by default the VPC CNI
    /// translates it to the node's only for destinations outside the VPC's CIDR blocks
    /// (EKS User Guide, "Enable outbound internet access for Pods",
    /// <https://docs.aws.amazon.com/eks/latest/userguide/external-snat.html>).
    fn workload_cidrs(&self) -> Vec<String> {
        let network = &self.profile.network;
        std::iter::once(network.pod_cidr)
            .chain(network.node_cidrs())
            .map(|c| c.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::Ownership;

    pub(super) fn prod() -> Profile {
        crate::stack::testing::profile("prod-us-west-2")
    }

    pub(super) fn example() -> Profile {
        crate::stack::testing::profile("example")
    }

    pub(super) fn a(text: &str) -> Address {
        text.parse().unwrap()
    }

    /// Tells whether `later` transitively depends on `earlier`.
    pub(super) fn before(stack: &Stack, earlier: &str, later: &str) -> bool {
        let (e, l) = (
            stack.position(&a(earlier)).unwrap(),
            stack.position(&a(later)).unwrap(),
        );
        stack.dag().with_dependencies([l]).contains(&e) && e != l
    }

    #[test]
    fn prod_stack_orders_what_design_requires() {
        let stack = build(&prod()).unwrap();
        assert!(before(&stack, "rds.parameter_group", "rds.cluster"));
        assert!(before(&stack, "rds.subnet_group", "rds.cluster"));
        assert!(before(&stack, "rds.security_group", "rds.cluster"));
        for group in ["node-1", "node-2", "node-3", "node-4"] {
            let nodegroup = format!("eks.nodegroup[{group}]");
            assert!(before(&stack, "iam.node_role", &nodegroup));
            assert!(before(&stack, "eks.cluster", &nodegroup));
            assert!(before(
                &stack,
                &format!("eks.launch_template[{group}]"),
                &nodegroup
            ));
            assert!(before(&stack, "eks.addon[vpc-cni]", &nodegroup));
            assert!(before(&stack, &nodegroup, "eks.addon[coredns]"));
        }
        for zone in ["us-west-2a", "us-west-2b", "us-west-2c"] {
            assert!(before(
                &stack,
                &format!("network.subnet[node/{zone}]"),
                "atlas.vpc_endpoint"
            ));
            assert!(before(
                &stack,
                &format!("network.subnet[node/{zone}]"),
                "eks.cluster"
            ));
            assert!(before(
                &stack,
                "network.pod_cidr",
                &format!("network.subnet[pod/{zone}]")
            ));
        }
        assert!(before(
            &stack,
            "ecr.repository[bpa/ui]",
            "iam.ecr_pull_policy"
        ));
        assert!(
            !before(&stack, "eks.cluster", "rds.cluster"),
            "RDS and EKS are independent"
        );
    }

    #[test]
    fn every_owned_resource_is_tagged_and_named_after_the_profile() {
        let profile = prod();
        let stack = build(&profile).unwrap();
        for resource in stack
            .resources()
            .iter()
            .filter(|r| r.ownership == Ownership::Managed)
        {
            assert_eq!(
                resource.spec.tag(PROFILE_TAG),
                Some("prod"),
                "{}",
                resource.address
            );
            assert_eq!(
                resource.spec.tag(ADDRESS_TAG),
                Some(resource.address.to_string().as_str())
            );
            assert_eq!(resource.spec.tag("team"), Some("bpa"));
            assert!(
                resource.spec.name().is_some(),
                "{} has no name",
                resource.address
            );
        }
        assert_eq!(
            stack.get(&a("eks.cluster")).unwrap().spec.name(),
            Some(profile.eks.cluster_name.as_str())
        );
        assert_eq!(
            stack.get(&a("rds.cluster")).unwrap().spec.name(),
            Some("prod-bpa")
        );
        assert_eq!(
            stack
                .get(&a("rds.parameter_group"))
                .unwrap()
                .spec
                .get("family"),
            Some(&Value::from("postgres16"))
        );
        // Building twice gives the same stack: names and order are deterministic.
        let again = build(&profile).unwrap();
        assert_eq!(stack.resources(), again.resources());
    }
}
