//! The EKS cluster, its node security group, its addons, and one launch template and
//! managed node group per profile node group, ordered so nodes join a working network.

use crate::profile::{ControlPlaneLog, NodeGroup};

use super::user_data::{DATA_DEVICE, user_data};
use super::{Builder, addr, keyed, map, tcp_rule};
use crate::stack::{Address, Component, ResourceKind, Spec, Value};

/// Addons that must run before nodes join: nodes need pod networking (vpc-cni with custom
/// networking) and service routing from the start. The others schedule pods, so they go
/// after the node groups or they would report DEGRADED.
const ADDONS_BEFORE_NODES: [&str; 2] = ["vpc-cni", "kube-proxy"];

impl Builder<'_> {
    pub(super) fn eks(&mut self) {
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
}

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

#[cfg(test)]
mod tests {
    use super::super::build;
    use super::super::tests::{before, example, prod};
    use super::*;

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
    fn graviton_instances_get_arm_nodes() {
        assert_eq!(ami_type("m5.2xlarge"), "AL2023_x86_64_STANDARD");
        assert_eq!(ami_type("m7g.xlarge"), "AL2023_ARM_64_STANDARD");
        assert_eq!(ami_type("c6gn.large"), "AL2023_ARM_64_STANDARD");
        assert_eq!(ami_type("g5.xlarge"), "AL2023_x86_64_STANDARD");
    }
}
