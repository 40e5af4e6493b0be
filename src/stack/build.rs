//! Builds the [`Stack`] of a validated [`Profile`]: every resource of every component,
//! with deterministic names derived from the profile name and the dependencies that
//! DESIGN.md §1 describes.
//!
//! Names are written out where they are known in advance (so an offline plan shows
//! them) and the dependency is added explicitly; references are used only for values
//! the cloud assigns (ids, ARNs, endpoints).

use std::collections::BTreeMap;

use crate::profile::{
    AtlasTarget, ControlPlaneLog, EcrEncryption, MasterPassword, NatGateways, NodeGroup, Profile,
    RdsMode, TagMutability, Zone,
};

use super::{
    ADDRESS_TAG, Address, Component, PROFILE_TAG, REGION_TAG, Resource, ResourceKind, SecretRef,
    Spec, Stack, StackError, Value,
};

/// PostgreSQL's port; Multi-AZ DB clusters cannot change it later.
const POSTGRES_PORT: u16 = 5432;

/// Addons that must run before nodes join: nodes need pod networking (vpc-cni with custom
/// networking) and service routing from the start. The others schedule pods, so they go
/// after the node groups or they would report DEGRADED.
const ADDONS_BEFORE_NODES: [&str; 2] = ["vpc-cni", "kube-proxy"];

/// The addon whose controller needs the EBS CSI driver policy on the node role.
const EBS_CSI_ADDON: &str = "aws-ebs-csi-driver";

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

fn pod_subnet(zone: &Zone) -> Address {
    keyed(Component::Network, "subnet", format!("pod/{}", zone.name))
}

fn public_subnet(zone: &Zone) -> Address {
    keyed(
        Component::Network,
        "subnet",
        format!("public/{}", zone.name),
    )
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

    fn partition(&self) -> &'static str {
        let region = self.profile.region.as_str();
        if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }

    fn managed_policy(&self, name: &str) -> Value {
        format!("arn:{}:iam::aws:policy/{name}", self.partition()).into()
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

    /// The pod CIDR and the node subnets: where traffic to RDS and Atlas comes from, as
    /// pods keep their 100.64.x source address (AWS-FACTS.md, EKS).
    fn workload_cidrs(&self) -> Vec<String> {
        let network = &self.profile.network;
        std::iter::once(network.pod_cidr)
            .chain(network.node_cidrs())
            .map(|c| c.to_string())
            .collect()
    }

    fn network(&mut self) {
        let network = &self.profile.network;
        let vpc = addr(Component::Network, "vpc");
        match &network.vpc.id {
            Some(id) => self.adopted(
                vpc.clone(),
                ResourceKind::Vpc,
                Spec::new()
                    .with("id", id.as_str())
                    .with("cidr_block", network.vpc.cidr.to_string()),
                &[],
            ),
            None => self.managed(
                vpc.clone(),
                ResourceKind::Vpc,
                &self.name("vpc"),
                Spec::new()
                    .with("cidr_block", network.vpc.cidr.to_string())
                    .with("enable_dns_support", true)
                    .with("enable_dns_hostnames", true),
                &[],
            ),
        }

        let pod_cidr = addr(Component::Network, "pod_cidr");
        let pod_cidr_spec = Spec::new()
            .with("vpc_id", self.vpc_id())
            .with("cidr_block", network.pod_cidr.to_string());
        // Pod subnets that exist already prove the pod CIDR is associated already.
        if network.zones.iter().any(|z| z.pod_subnet.id.is_some()) {
            self.adopted(
                pod_cidr.clone(),
                ResourceKind::VpcCidrAssociation,
                pod_cidr_spec,
                &[&vpc],
            );
        } else {
            let name = self.name("pod-cidr");
            self.managed(
                pod_cidr.clone(),
                ResourceKind::VpcCidrAssociation,
                &name,
                pod_cidr_spec,
                &[&vpc],
            );
        }

        let zones = network.zones.clone();
        for zone in &zones {
            self.subnet(
                &node_subnet(zone),
                &zone.node_subnet,
                zone,
                "node",
                &[&vpc],
                Some("kubernetes.io/role/internal-elb"),
            );
            self.subnet(
                &pod_subnet(zone),
                &zone.pod_subnet,
                zone,
                "pod",
                &[&vpc, &pod_cidr],
                None,
            );
        }
        if network.vpc.id.is_none() {
            self.internet_access(&zones);
        }
    }

    fn subnet(
        &mut self,
        address: &Address,
        subnet: &crate::profile::Subnet,
        zone: &Zone,
        role: &str,
        after: &[&Address],
        elb_role_tag: Option<&str>,
    ) {
        let spec = Spec::new()
            .with("vpc_id", self.vpc_id())
            .with("cidr_block", subnet.cidr.to_string())
            .with("availability_zone", zone.name.as_str());
        match &subnet.id {
            Some(id) => self.adopted(
                address.clone(),
                ResourceKind::Subnet,
                spec.with("id", id.as_str()),
                after,
            ),
            None => {
                let name = self.name(&format!("{role}-{}", zone.name));
                let public = role == "public";
                self.managed(
                    address.clone(),
                    ResourceKind::Subnet,
                    &name,
                    spec.with("map_public_ip_on_launch", public),
                    after,
                );
                if let Some(tag) = elb_role_tag {
                    // The load balancer controller finds its subnets by this tag.
                    self.tag_last(tag, "1");
                }
            }
        }
    }

    /// Public subnets, an internet gateway and NAT gateways, for a VPC the tool creates:
    /// nodes live in private subnets and still need to reach the internet.
    fn internet_access(&mut self, zones: &[Zone]) {
        let vpc = addr(Component::Network, "vpc");
        let igw = addr(Component::Network, "internet_gateway");
        self.managed(
            igw.clone(),
            ResourceKind::InternetGateway,
            &self.name("igw"),
            Spec::new().with("vpc_id", self.vpc_id()),
            &[],
        );

        let public_zones: Vec<&Zone> = zones.iter().filter(|z| z.public_subnet.is_some()).collect();
        for zone in &public_zones {
            let subnet = zone.public_subnet.as_ref().expect("filtered");
            self.subnet(
                &public_subnet(zone),
                subnet,
                zone,
                "public",
                &[&vpc],
                Some("kubernetes.io/role/elb"),
            );
        }
        let public_route_table = keyed(Component::Network, "route_table", "public");
        let spec = Spec::new()
            .with("vpc_id", self.vpc_id())
            .with(
                "routes",
                Value::List(vec![map([
                    ("destination_cidr_block", "0.0.0.0/0".into()),
                    ("gateway_id", Value::output(&igw, "id")),
                ])]),
            )
            .with(
                "subnet_ids",
                Value::List(
                    public_zones
                        .iter()
                        .map(|z| Value::output(&public_subnet(z), "id"))
                        .collect(),
                ),
            );
        self.managed(
            public_route_table,
            ResourceKind::RouteTable,
            &self.name("public"),
            spec,
            &[],
        );

        let nat_zones: Vec<&Zone> = match self.profile.network.nat_gateways {
            NatGateways::Single => public_zones.iter().take(1).copied().collect(),
            NatGateways::PerAz => public_zones.clone(),
        };
        for zone in &nat_zones {
            let eip = keyed(Component::Network, "nat_eip", zone.name.as_str());
            let nat = keyed(Component::Network, "nat_gateway", zone.name.as_str());
            let name = self.name(&format!("nat-{}", zone.name));
            self.managed(
                eip.clone(),
                ResourceKind::ElasticIp,
                &name,
                Spec::new().with("domain", "vpc"),
                &[],
            );
            let spec = Spec::new()
                .with("subnet_id", Value::output(&public_subnet(zone), "id"))
                .with("allocation_id", Value::output(&eip, "id"))
                .with("connectivity_type", "public");
            // A public NAT gateway only works once the VPC has an internet gateway.
            self.managed(nat, ResourceKind::NatGateway, &name, spec, &[&igw]);
        }

        // One private route table per NAT gateway; with a single NAT every zone uses it.
        for nat_zone in &nat_zones {
            let served: Vec<&Zone> = if nat_zones.len() == 1 {
                zones.iter().collect()
            } else {
                zones.iter().filter(|z| z.name == nat_zone.name).collect()
            };
            let key = if nat_zones.len() == 1 {
                "private".to_owned()
            } else {
                format!("private/{}", nat_zone.name)
            };
            let name = if nat_zones.len() == 1 {
                self.name("private")
            } else {
                self.name(&format!("private-{}", nat_zone.name))
            };
            let nat = keyed(Component::Network, "nat_gateway", nat_zone.name.as_str());
            let subnet_ids = served
                .iter()
                .flat_map(|z| {
                    [
                        self.subnet_id(&node_subnet(z), &z.node_subnet),
                        self.subnet_id(&pod_subnet(z), &z.pod_subnet),
                    ]
                })
                .collect();
            let spec = Spec::new()
                .with("vpc_id", self.vpc_id())
                .with(
                    "routes",
                    Value::List(vec![map([
                        ("destination_cidr_block", "0.0.0.0/0".into()),
                        ("nat_gateway_id", Value::output(&nat, "id")),
                    ])]),
                )
                .with("subnet_ids", Value::List(subnet_ids));
            self.managed(
                keyed(Component::Network, "route_table", key),
                ResourceKind::RouteTable,
                &name,
                spec,
                &[],
            );
        }
    }

    fn ecr(&mut self) {
        let ecr = &self.profile.ecr;
        let lifecycle = map([(
            "rules",
            Value::List(vec![
                map([
                    ("rulePriority", 1u32.into()),
                    (
                        "description",
                        format!(
                            "Expire untagged images after {} days",
                            ecr.lifecycle.expire_untagged_after_days
                        )
                        .into(),
                    ),
                    (
                        "selection",
                        map([
                            ("tagStatus", "untagged".into()),
                            ("countType", "sinceImagePushed".into()),
                            ("countUnit", "days".into()),
                            (
                                "countNumber",
                                ecr.lifecycle.expire_untagged_after_days.into(),
                            ),
                        ]),
                    ),
                    ("action", map([("type", "expire".into())])),
                ]),
                map([
                    ("rulePriority", 2u32.into()),
                    (
                        "description",
                        format!(
                            "Keep the last {} tagged images",
                            ecr.lifecycle.keep_last_tagged
                        )
                        .into(),
                    ),
                    (
                        "selection",
                        map([
                            ("tagStatus", "tagged".into()),
                            ("tagPatternList", Value::strings(["*"])),
                            ("countType", "imageCountMoreThan".into()),
                            ("countNumber", ecr.lifecycle.keep_last_tagged.into()),
                        ]),
                    ),
                    ("action", map([("type", "expire".into())])),
                ]),
            ]),
        )]);
        let mutability = match ecr.tag_mutability {
            TagMutability::Mutable => "MUTABLE",
            TagMutability::Immutable => "IMMUTABLE",
        };
        let encryption = match ecr.encryption {
            EcrEncryption::Aes256 => "AES256",
            EcrEncryption::Kms => "KMS",
        };
        for repository in ecr.repositories.clone() {
            let spec = Spec::new()
                .with("image_tag_mutability", mutability)
                .with("scan_on_push", ecr.scan_on_push)
                .with("encryption_type", encryption)
                .with("lifecycle_policy", lifecycle.clone());
            self.managed(
                keyed(Component::Ecr, "repository", repository.as_str()),
                ResourceKind::EcrRepository,
                &repository,
                spec,
                &[],
            );
        }
    }

    fn iam(&mut self) {
        let trust = |service: &str| {
            map([
                ("Version", "2012-10-17".into()),
                (
                    "Statement",
                    Value::List(vec![map([
                        ("Effect", "Allow".into()),
                        ("Principal", map([("Service", service.into())])),
                        ("Action", "sts:AssumeRole".into()),
                    ])]),
                ),
            ])
        };

        let cluster_role = addr(Component::Iam, "cluster_role");
        let spec = Spec::new()
            .with("assume_role_policy", trust("eks.amazonaws.com"))
            .with(
                "managed_policy_arns",
                Value::List(vec![self.managed_policy("AmazonEKSClusterPolicy")]),
            );
        self.global(cluster_role, ResourceKind::IamRole, "eks-cluster", spec);

        // ECR pull: the token on `*`, image and layer reads only on this profile's
        // repositories (DESIGN.md §1).
        let pull_policy = addr(Component::Iam, "ecr_pull_policy");
        let mut statements = vec![map([
            ("Sid", "EcrToken".into()),
            ("Effect", "Allow".into()),
            ("Action", Value::strings(["ecr:GetAuthorizationToken"])),
            ("Resource", "*".into()),
        ])];
        let repositories: Vec<Value> = self
            .profile
            .ecr
            .repositories
            .iter()
            .filter(|_| !self.without.contains(&Component::Ecr))
            .map(|r| Value::output(&keyed(Component::Ecr, "repository", r.as_str()), "arn"))
            .collect();
        if !repositories.is_empty() {
            statements.push(map([
                ("Sid", "EcrPull".into()),
                ("Effect", "Allow".into()),
                (
                    "Action",
                    Value::strings([
                        "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer",
                        "ecr:BatchCheckLayerAvailability",
                    ]),
                ),
                ("Resource", Value::List(repositories)),
            ]));
        }
        let document = map([
            ("Version", "2012-10-17".into()),
            ("Statement", Value::List(statements)),
        ]);
        self.global(
            pull_policy.clone(),
            ResourceKind::IamPolicy,
            "ecr-pull",
            Spec::new().with("document", document),
        );

        // Kubelet pulls the EKS add-on images (vpc-cni, kube-proxy, coredns, the EBS CSI
        // driver) from AWS-owned ECR registries with the node role, so a pull policy scoped
        // to the profile's repositories leaves every node NotReady. AWS's current
        // recommendation is the read-only AmazonEC2ContainerRegistryPullOnly (EKS user
        // guide, "Amazon EKS node IAM role"; it grants no push).
        let mut node_policies = vec![
            self.managed_policy("AmazonEKSWorkerNodePolicy"),
            self.managed_policy("AmazonEKS_CNI_Policy"),
            self.managed_policy("AmazonEC2ContainerRegistryPullOnly"),
            Value::output(&pull_policy, "arn"),
        ];
        // The EBS CSI controller runs on the nodes and, like vpc-cni, takes the node
        // role's credentials (the launch template lets pods reach IMDS: hop limit 2);
        // without this policy every volume it is asked for stays pending.
        if self
            .profile
            .eks
            .addons
            .iter()
            .any(|addon| addon.name == EBS_CSI_ADDON)
        {
            node_policies.push(self.managed_policy("service-role/AmazonEBSCSIDriverPolicy"));
        }
        let spec = Spec::new()
            .with("assume_role_policy", trust("ec2.amazonaws.com"))
            .with("managed_policy_arns", Value::List(node_policies));
        self.global(
            addr(Component::Iam, "node_role"),
            ResourceKind::IamRole,
            "eks-node",
            spec,
        );
    }

    fn eks(&mut self) {
        let eks = self.profile.eks.clone();
        let cluster = addr(Component::Eks, "cluster");
        let node_sg = addr(Component::Eks, "node_security_group");

        let ingress: Vec<Value> = eks
            .node_ingress
            .iter()
            .map(|rule| {
                let cidrs: Vec<String> = rule.cidrs.iter().map(ToString::to_string).collect();
                tcp_rule(rule.port, rule.port, &cidrs, &rule.description)
            })
            .collect();
        let spec = Spec::new()
            .with("vpc_id", self.vpc_id())
            .with(
                "description",
                format!("BPA EKS nodes of profile {}", self.profile.name),
            )
            .with("ingress", Value::List(ingress));
        self.managed(
            node_sg.clone(),
            ResourceKind::SecurityGroup,
            &self.name("eks-nodes"),
            spec,
            &[&addr(Component::Network, "vpc")],
        );

        let logging: Vec<Value> = eks
            .logging
            .iter()
            .map(|log| {
                match log {
                    ControlPlaneLog::Api => "api",
                    ControlPlaneLog::Audit => "audit",
                    ControlPlaneLog::Authenticator => "authenticator",
                    ControlPlaneLog::ControllerManager => "controllerManager",
                    ControlPlaneLog::Scheduler => "scheduler",
                }
                .into()
            })
            .collect();
        let spec = Spec::new()
            .with("version", eks.version.to_string())
            .with(
                "role_arn",
                Value::output(&addr(Component::Iam, "cluster_role"), "arn"),
            )
            .with("subnet_ids", self.node_subnet_ids())
            .with("endpoint_private_access", eks.endpoint.private)
            .with("endpoint_public_access", eks.endpoint.public)
            .with(
                "public_access_cidrs",
                Value::strings(eks.endpoint.public_cidrs.iter().map(ToString::to_string)),
            )
            .with("enabled_cluster_log_types", Value::List(logging))
            .with("authentication_mode", "API_AND_CONFIG_MAP")
            .with("bootstrap_cluster_creator_admin_permissions", true);
        let node_subnets = self.node_subnets();
        let after: Vec<&Address> = node_subnets.iter().collect();
        self.managed(
            cluster.clone(),
            ResourceKind::EksCluster,
            &eks.cluster_name,
            spec,
            &after,
        );

        let addon_address = |name: &str| keyed(Component::Eks, "addon", name);
        let mut early_addons = Vec::new();
        let mut late_addons = Vec::new();
        for addon in &eks.addons {
            if ADDONS_BEFORE_NODES.contains(&addon.name.as_str()) {
                early_addons.push(addon.clone());
            } else {
                late_addons.push(addon.clone());
            }
        }
        for addon in &early_addons {
            self.addon(&cluster, addon, &[]);
        }
        let early: Vec<Address> = early_addons
            .iter()
            .map(|a| addon_address(&a.name))
            .collect();

        let mut node_groups = Vec::new();
        for group in &eks.node_groups {
            node_groups.push(self.node_group(&cluster, &node_sg, group, &early));
        }
        for addon in &late_addons {
            self.addon(&cluster, addon, &node_groups);
        }
    }

    fn addon(&mut self, cluster: &Address, addon: &crate::profile::Addon, after: &[Address]) {
        let mut spec = Spec::new()
            .with("cluster_name", self.profile.eks.cluster_name.as_str())
            .with("addon_name", addon.name.as_str())
            .with("resolve_conflicts", "OVERWRITE");
        if let Some(version) = &addon.version {
            spec.insert("addon_version", version.as_str());
        }
        if addon.name == "vpc-cni" {
            // Pods take their addresses from the pod subnets through one ENIConfig per
            // zone, chosen by the node's zone label (the ENIConfigs are rendered).
            spec.insert(
                "configuration_values",
                map([(
                    "env",
                    map([
                        ("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", "true".into()),
                        ("ENI_CONFIG_LABEL_DEF", "topology.kubernetes.io/zone".into()),
                    ]),
                )]),
            );
        }
        let address = keyed(Component::Eks, "addon", addon.name.as_str());
        let name = addon.name.clone();
        self.managed(address, ResourceKind::EksAddon, &name, spec, &[cluster]);
        self.order_last_after(after);
    }

    /// Adds a node group and its launch template; returns the node group's address.
    fn node_group(
        &mut self,
        cluster: &Address,
        node_sg: &Address,
        group: &NodeGroup,
        early_addons: &[Address],
    ) -> Address {
        let template = keyed(Component::Eks, "launch_template", group.name.as_str());
        let spec = Spec::new()
            .with(
                "block_device_mappings",
                Value::List(vec![map([
                    ("device_name", DATA_DEVICE.into()),
                    ("volume_size", group.data_volume.size_gib.into()),
                    ("volume_type", group.data_volume.volume_type.as_str().into()),
                    ("encrypted", true.into()),
                    ("delete_on_termination", true.into()),
                ])]),
            )
            // With security groups in a launch template EKS no longer adds the cluster
            // security group by itself, and nodes could not reach the control plane.
            .with(
                "security_group_ids",
                Value::List(vec![
                    Value::output(cluster, "cluster_security_group_id"),
                    Value::output(node_sg, "id"),
                ]),
            )
            .with(
                "metadata_options",
                map([
                    ("http_tokens", "required".into()),
                    ("http_put_response_hop_limit", 2u32.into()),
                ]),
            )
            .with("user_data", user_data(group));
        let name = format!("{}-{}", self.profile.eks.cluster_name, group.name);
        self.managed(
            template.clone(),
            ResourceKind::LaunchTemplate,
            &name,
            spec,
            &[],
        );

        let address = keyed(Component::Eks, "nodegroup", group.name.as_str());
        let spec = Spec::new()
            .with("cluster_name", self.profile.eks.cluster_name.as_str())
            .with(
                "node_role_arn",
                Value::output(&addr(Component::Iam, "node_role"), "arn"),
            )
            .with("subnet_ids", self.node_subnet_ids())
            .with(
                "instance_types",
                Value::strings([group.instance_type.as_str()]),
            )
            .with("ami_type", ami_type(&group.instance_type))
            .with(
                "scaling",
                map([
                    ("min_size", group.size.min.into()),
                    ("desired_size", group.size.desired.into()),
                    ("max_size", group.size.max.into()),
                ]),
            )
            .with("labels", Value::string_map(&group.labels))
            .with(
                "launch_template",
                map([
                    ("id", Value::output(&template, "id")),
                    ("version", Value::output(&template, "latest_version")),
                ]),
            );
        let name = group.name.clone();
        self.managed(
            address.clone(),
            ResourceKind::NodeGroup,
            &name,
            spec,
            &[cluster],
        );
        self.order_last_after(early_addons);
        let prerequisites = self.node_prerequisites();
        self.order_last_after(&prerequisites);
        address
    }

    /// What nodes need besides what their spec names: the route tables that give their
    /// subnets a way out (through the NAT gateways, to join the cluster and pull images),
    /// and the pod subnets their pods take addresses from (VPC CNI custom networking).
    /// With them a node group waits for both, and `eks up` on its own builds them too.
    fn node_prerequisites(&self) -> Vec<Address> {
        self.resources
            .iter()
            .filter(|r| match (r.kind, r.address.key()) {
                (ResourceKind::RouteTable, _) => true,
                (ResourceKind::Subnet, Some(key)) => key.starts_with("pod/"),
                _ => false,
            })
            .map(|r| r.address.clone())
            .collect()
    }

    fn rds(&mut self) {
        let rds = self.profile.rds.clone();
        let parameter_group = addr(Component::Rds, "parameter_group");
        let subnet_group = addr(Component::Rds, "subnet_group");
        let security_group = addr(Component::Rds, "security_group");

        // md5 must be in the group when the database is created (AWS-FACTS.md, RDS), so
        // the group is its own resource that the database waits for.
        let (pg_kind, db_kind, pg_attribute, class_attribute, db_address) = match rds.mode {
            RdsMode::MultiAzCluster => (
                ResourceKind::DbClusterParameterGroup,
                ResourceKind::DbCluster,
                "db_cluster_parameter_group_name",
                "db_cluster_instance_class",
                addr(Component::Rds, "cluster"),
            ),
            RdsMode::MultiAzInstance => (
                ResourceKind::DbParameterGroup,
                ResourceKind::DbInstance,
                "db_parameter_group_name",
                "db_instance_class",
                addr(Component::Rds, "instance"),
            ),
        };
        let pg_name = format!("{}-params", rds.identifier);
        let spec = Spec::new()
            .with("family", rds.engine_version.parameter_group_family())
            .with(
                "description",
                format!("BPA PostgreSQL parameters of profile {}", self.profile.name),
            )
            .with("parameters", Value::string_map(&rds.parameters));
        self.managed(parameter_group.clone(), pg_kind, &pg_name, spec, &[]);

        let subnet_group_name = format!("{}-subnets", rds.identifier);
        let spec = Spec::new()
            .with(
                "description",
                format!("BPA database subnets of profile {}", self.profile.name),
            )
            .with("subnet_ids", self.node_subnet_ids());
        let node_subnets = self.node_subnets();
        let after: Vec<&Address> = node_subnets.iter().collect();
        self.managed(
            subnet_group.clone(),
            ResourceKind::DbSubnetGroup,
            &subnet_group_name,
            spec,
            &after,
        );

        let mut cidrs = self.workload_cidrs();
        cidrs.extend(rds.allowed_cidrs.iter().map(ToString::to_string));
        let spec = Spec::new()
            .with("vpc_id", self.vpc_id())
            .with(
                "description",
                format!("BPA PostgreSQL of profile {}", self.profile.name),
            )
            .with(
                "ingress",
                Value::List(vec![tcp_rule(
                    POSTGRES_PORT,
                    POSTGRES_PORT,
                    &cidrs,
                    "PostgreSQL from pods and nodes",
                )]),
            );
        self.managed(
            security_group.clone(),
            ResourceKind::SecurityGroup,
            &self.name("rds"),
            spec,
            &[&addr(Component::Network, "vpc")],
        );

        let mut spec = Spec::new()
            .with("engine", "postgres")
            .with("engine_version", rds.engine_version.full.as_str())
            .with(class_attribute, rds.instance_class.as_str())
            .with("storage_type", rds.storage.storage_type.as_str())
            .with("allocated_storage", rds.storage.size_gib)
            .with("master_username", rds.master_username.as_str())
            .with(pg_attribute, pg_name.as_str())
            .with("db_subnet_group_name", subnet_group_name.as_str())
            .with(
                "vpc_security_group_ids",
                Value::List(vec![Value::output(&security_group, "id")]),
            )
            .with("port", POSTGRES_PORT)
            .with("backup_retention_period", rds.backup_retention_days)
            .with("storage_encrypted", rds.storage_encrypted)
            .with("deletion_protection", rds.deletion_protection);
        if let Some(iops) = rds.storage.iops {
            spec.insert("iops", iops);
        }
        if let Some(key) = &rds.kms_key_id {
            spec.insert("kms_key_id", key.as_str());
        }
        if rds.mode == RdsMode::MultiAzInstance {
            spec.insert("multi_az", true);
        }
        match &rds.master_password {
            MasterPassword::Managed => spec.insert("manage_master_user_password", true),
            MasterPassword::FromEnv(variable) => {
                spec.insert("master_user_password", SecretRef::env(variable))
            }
        }
        self.managed(
            db_address,
            db_kind,
            &rds.identifier,
            spec,
            &[&parameter_group, &subnet_group],
        );
    }

    fn atlas(&mut self) {
        let Some(atlas) = self.profile.atlas.clone() else {
            return;
        };
        let security_group = addr(Component::Atlas, "security_group");
        let cidrs: Vec<String> = atlas
            .allowed_cidrs
            .iter()
            .map(ToString::to_string)
            .collect();
        let spec = Spec::new()
            .with("vpc_id", self.vpc_id())
            .with(
                "description",
                format!(
                    "MongoDB Atlas private endpoint of profile {}",
                    self.profile.name
                ),
            )
            .with(
                "ingress",
                Value::List(vec![tcp_rule(
                    atlas.ports.0,
                    atlas.ports.1,
                    &cidrs,
                    "MongoDB Atlas from pods and nodes",
                )]),
            );
        self.managed(
            security_group.clone(),
            ResourceKind::SecurityGroup,
            &self.name("atlas"),
            spec,
            &[&addr(Component::Network, "vpc")],
        );

        let endpoint_service = addr(Component::Atlas, "endpoint_service");
        let service_name = match &atlas.target {
            AtlasTarget::ServiceName(name) => Value::from(name.as_str()),
            AtlasTarget::Project { project_id, region } => {
                let spec = Spec::new()
                    .with("project_id", project_id.as_str())
                    .with("provider_name", "AWS")
                    .with("region", region.as_str());
                let name = self.name("atlas");
                self.managed(
                    endpoint_service.clone(),
                    ResourceKind::AtlasEndpointService,
                    &name,
                    spec,
                    &[],
                );
                Value::output(&endpoint_service, "service_name")
            }
        };

        let vpc_endpoint = addr(Component::Atlas, "vpc_endpoint");
        let spec = Spec::new()
            .with("vpc_id", self.vpc_id())
            .with("service_name", service_name)
            .with("vpc_endpoint_type", "Interface")
            .with("subnet_ids", self.node_subnet_ids())
            .with(
                "security_group_ids",
                Value::List(vec![Value::output(&security_group, "id")]),
            )
            .with("private_dns_enabled", false);
        let node_subnets = self.node_subnets();
        let after: Vec<&Address> = node_subnets.iter().collect();
        self.managed(
            vpc_endpoint.clone(),
            ResourceKind::VpcEndpoint,
            &self.name("atlas"),
            spec,
            &after,
        );

        if let AtlasTarget::Project { project_id, .. } = &atlas.target {
            let spec = Spec::new()
                .with("project_id", project_id.as_str())
                .with(
                    "endpoint_service_id",
                    Value::output(&endpoint_service, "id"),
                )
                .with("vpc_endpoint_id", Value::output(&vpc_endpoint, "id"));
            let name = self.name("atlas");
            self.managed(
                addr(Component::Atlas, "endpoint"),
                ResourceKind::AtlasEndpoint,
                &name,
                spec,
                &[],
            );
        }
    }
}

/// Where the data volume is attached; AL2023's udev rules keep this name as a symlink
/// to the NVMe device on Nitro instances.
const DATA_DEVICE: &str = "/dev/xvdb";

/// Returns the AL2023 AMI type for an instance type: Graviton families (`m7g`, `c6gn`)
/// carry a `g` after the generation digit.
fn ami_type(instance_type: &str) -> &'static str {
    let family = instance_type.split('.').next().unwrap_or_default();
    let after_generation = family.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let graviton = after_generation
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .starts_with('g');
    if graviton {
        "AL2023_ARM_64_STANDARD"
    } else {
        "AL2023_x86_64_STANDARD"
    }
}

/// Returns the launch template's user data: a MIME multi-part document whose shell part
/// runs before nodeadm on AL2023 (AWS-FACTS.md, EKS). It mounts the data volume at
/// `/opt`, creates the node's data directories and persists the kernel parameters.
fn user_data(group: &NodeGroup) -> String {
    let mut script = String::new();
    script.push_str("#!/bin/bash\n");
    script.push_str(&format!(
        "# Written by bpa-infra for node group {}.\n",
        group.name
    ));
    script.push_str("set -euo pipefail\n");
    script.push_str(&format!("device={DATA_DEVICE}\n"));
    script.push_str("for _ in $(seq 1 60); do [ -e \"$device\" ] && break; sleep 2; done\n");
    script.push_str("device=$(readlink -f \"$device\")\n");
    script.push_str("blkid \"$device\" >/dev/null 2>&1 || mkfs -t xfs \"$device\"\n");
    script.push_str("if ! mountpoint -q /opt; then\n");
    // The AMI keeps the CNI plugins under /opt/cni: copy /opt onto the new volume before
    // mounting over it, or pods would get no network.
    script.push_str("  mkdir -p /mnt/bpa-opt && mount \"$device\" /mnt/bpa-opt\n");
    script.push_str("  cp -a -n /opt/. /mnt/bpa-opt/ && umount /mnt/bpa-opt\n");
    script.push_str("  grep -q ' /opt ' /etc/fstab || echo \"UUID=$(blkid -s UUID -o value \"$device\") /opt xfs defaults,nofail 0 2\" >> /etc/fstab\n");
    script.push_str("  mount /opt\n");
    script.push_str("fi\n");
    if !group.data_dirs.is_empty() {
        script.push_str(&format!("mkdir -p {}\n", group.data_dirs.join(" ")));
    }
    if !group.sysctls.is_empty() {
        script.push_str("cat > /etc/sysctl.d/90-bpa.conf <<'EOF'\n");
        for (key, value) in &group.sysctls {
            script.push_str(&format!("{key} = {value}\n"));
        }
        script.push_str("EOF\n");
        script.push_str("sysctl --system >/dev/null\n");
    }
    format!(
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"BPA-INFRA\"\n\n--BPA-INFRA\nContent-Type: text/x-shellscript; charset=\"us-ascii\"\n\n{script}\n--BPA-INFRA--\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::Ownership;

    fn prod() -> Profile {
        crate::stack::testing::profile("prod-us-west-2")
    }

    fn example() -> Profile {
        crate::stack::testing::profile("example")
    }

    fn a(text: &str) -> Address {
        text.parse().unwrap()
    }

    /// Tells whether `later` transitively depends on `earlier`.
    fn before(stack: &Stack, earlier: &str, later: &str) -> bool {
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

    /// The node role's managed policies, as strings.
    fn node_policies(profile: &Profile) -> Vec<String> {
        let stack = build(profile).unwrap();
        let role = stack.get(&a("iam.node_role")).unwrap();
        let Some(Value::List(arns)) = role.spec.get("managed_policy_arns") else {
            panic!("node role without managed_policy_arns: {:?}", role.spec);
        };
        arns.iter()
            .filter_map(|arn| match arn {
                Value::Str(arn) => Some(arn.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_node_role_has_the_ebs_csi_policy_exactly_when_the_addon_is_installed() {
        const EBS: &str = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy";
        let mut profile = example();
        assert!(node_policies(&profile).iter().any(|p| p == EBS));
        profile
            .eks
            .addons
            .retain(|addon| addon.name != "aws-ebs-csi-driver");
        let policies = node_policies(&profile);
        assert!(!policies.iter().any(|p| p == EBS), "{policies:?}");
        assert!(
            policies
                .iter()
                .any(|p| p.ends_with("/AmazonEKS_CNI_Policy")),
            "{policies:?}"
        );
    }

    /// Nodes need a way out and their pods' subnets: `eks up` on its own builds both,
    /// and a node group waits for them.
    #[test]
    fn node_groups_wait_for_egress_and_pod_subnets_and_eks_alone_builds_them() {
        let stack = build(&example()).unwrap();
        for prerequisite in [
            "network.route_table[private]",
            "network.route_table[public]",
            "network.nat_gateway[us-west-2a]",
            "network.internet_gateway",
            "network.subnet[pod/us-west-2b]",
            "network.pod_cidr",
        ] {
            assert!(
                before(&stack, prerequisite, "eks.nodegroup[node-1]"),
                "{prerequisite}"
            );
        }
        let eks = stack.for_components(&[Component::Eks]);
        let addresses: Vec<String> = eks
            .resources()
            .iter()
            .map(|r| r.address.to_string())
            .collect();
        for zone in ["us-west-2a", "us-west-2b", "us-west-2c"] {
            let pod = format!("network.subnet[pod/{zone}]");
            assert!(addresses.contains(&pod), "{pod}: {addresses:?}");
        }
        for needed in [
            "network.route_table[private]",
            "network.nat_gateway[us-west-2a]",
            "network.pod_cidr",
        ] {
            assert!(
                addresses.contains(&needed.to_owned()),
                "{needed}: {addresses:?}"
            );
        }
        // What EKS does not need stays out.
        assert!(!addresses.iter().any(|a| a.starts_with("rds.")));

        // An adopted network has no route tables of ours; the pod subnets still count.
        let stack = build(&prod()).unwrap();
        assert!(before(
            &stack,
            "network.subnet[pod/us-west-2c]",
            "eks.nodegroup[node-1]"
        ));
    }

    #[test]
    fn adopted_network_is_adopted_and_written_out() {
        let stack = build(&prod()).unwrap();
        let vpc = stack.get(&a("network.vpc")).unwrap();
        assert_eq!(vpc.ownership, Ownership::Adopted);
        assert_eq!(
            vpc.spec.get("id"),
            Some(&Value::from("vpc-0a1b2c3d4e5f60718"))
        );
        assert_eq!(
            vpc.spec.get("tags"),
            None,
            "an adopted resource is never tagged"
        );
        let subnet = stack.get(&a("network.subnet[node/us-west-2a]")).unwrap();
        assert_eq!(subnet.ownership, Ownership::Adopted);
        let pod = stack.get(&a("network.subnet[pod/us-west-2a]")).unwrap();
        assert_eq!(pod.ownership, Ownership::Managed);
        assert_eq!(
            pod.spec.get("vpc_id"),
            Some(&Value::from("vpc-0a1b2c3d4e5f60718"))
        );
        assert!(stack.get(&a("network.internet_gateway")).is_none());
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

    #[test]
    fn created_network_has_internet_access() {
        let stack = build(&example()).unwrap();
        assert_eq!(
            stack.get(&a("network.vpc")).unwrap().ownership,
            Ownership::Managed
        );
        assert!(before(
            &stack,
            "network.internet_gateway",
            "network.nat_gateway[us-west-2a]"
        ));
        assert!(before(
            &stack,
            "network.nat_gateway[us-west-2a]",
            "network.route_table[private]"
        ));
        assert!(before(
            &stack,
            "network.vpc",
            "network.subnet[node/us-west-2b]"
        ));
    }

    #[test]
    fn user_data_prepares_the_node_before_nodeadm() {
        let profile = prod();
        let text = user_data(&profile.eks.node_groups[0]);
        assert!(text.contains("Content-Type: text/x-shellscript"));
        assert!(text.contains("mkdir -p /opt/bpa/data/zookeeper /opt/bpa/data/kafka"));
        assert!(text.contains("vm.max_map_count = 262144"));
        assert!(text.contains("/etc/sysctl.d/"));
    }

    #[test]
    fn graviton_instances_get_arm_nodes() {
        assert_eq!(ami_type("m5.2xlarge"), "AL2023_x86_64_STANDARD");
        assert_eq!(ami_type("m7g.xlarge"), "AL2023_ARM_64_STANDARD");
        assert_eq!(ami_type("c6gn.large"), "AL2023_ARM_64_STANDARD");
        assert_eq!(ami_type("g5.xlarge"), "AL2023_x86_64_STANDARD");
    }
}
