//! The values `bpa-infra outputs` shows, named for people and scripts: picked out of
//! the live resources the providers read (their `outputs`), so that nothing here talks
//! to a cloud.
//!
//! This module has the network, IAM and EKS entries; other components add theirs to
//! [`collect`] the same way.

use std::collections::BTreeMap;

use crate::provider::Live;
use crate::stack::{Component, Value};

/// Returns the named outputs of `lives` (what a `read` of the stack returned): scalar
/// values, and maps keyed by availability zone or node group for the sets.
pub fn collect(lives: &[Live]) -> BTreeMap<String, Value> {
    let mut outputs = BTreeMap::new();
    let mut keyed: BTreeMap<&'static str, BTreeMap<String, Value>> = BTreeMap::new();
    for live in lives {
        let address = &live.address;
        let output = |name: &str| live.outputs.get(name).cloned();
        let mut put = |name: &str, value: Option<Value>| {
            if let Some(value) = value {
                outputs.insert(name.to_owned(), value);
            }
        };
        match (address.component(), address.name(), address.key()) {
            (Component::Network, "vpc", None) => put("vpc_id", output("id")),
            (Component::Network, "subnet", Some(key)) => {
                let (role, zone) = key.split_once('/').unwrap_or((key, ""));
                let name = match role {
                    "node" => "node_subnet_ids",
                    "pod" => "pod_subnet_ids",
                    "public" => "public_subnet_ids",
                    _ => continue,
                };
                if let Some(id) = output("id") {
                    keyed.entry(name).or_default().insert(zone.to_owned(), id);
                }
            }
            (Component::Network, "nat_gateway", Some(zone)) => {
                if let Some(ip) = output("public_ip") {
                    keyed
                        .entry("nat_public_ips")
                        .or_default()
                        .insert(zone.to_owned(), ip);
                }
            }
            (Component::Iam, "cluster_role", None) => put("cluster_role_arn", output("arn")),
            (Component::Iam, "node_role", None) => put("node_role_arn", output("arn")),
            (Component::Iam, "ecr_pull_policy", None) => put("ecr_pull_policy_arn", output("arn")),
            (Component::Eks, "cluster", None) => {
                put("cluster_name", output("name"));
                put("cluster_arn", output("arn"));
                put("cluster_endpoint", output("endpoint"));
                put("cluster_version", output("version"));
                put(
                    "cluster_security_group_id",
                    output("cluster_security_group_id"),
                );
                put("cluster_oidc_issuer", output("oidc_issuer"));
            }
            (Component::Eks, "node_security_group", None) => {
                put("node_security_group_id", output("id"))
            }
            (Component::Eks, "nodegroup", Some(group)) => {
                if let Some(arn) = output("arn") {
                    keyed
                        .entry("node_group_arns")
                        .or_default()
                        .insert(group.to_owned(), arn);
                }
            }
            (Component::Eks, "addon", Some(addon)) => {
                if let Some(version) = output("addon_version") {
                    keyed
                        .entry("addon_versions")
                        .or_default()
                        .insert(addon.to_owned(), version);
                }
            }
            _ => {}
        }
    }
    for (name, map) in keyed {
        outputs.insert(name.to_owned(), Value::Map(map));
    }
    outputs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{ObservedOwnership, Status};
    use crate::stack::{ResourceKind, Spec};

    fn live(address: &str, kind: ResourceKind, outputs: &[(&str, &str)]) -> Live {
        Live {
            address: address.parse().unwrap(),
            kind,
            id: "x".into(),
            ownership: ObservedOwnership::Owned,
            status: Status::Ready,
            attributes: Spec::new(),
            outputs: outputs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
                .collect(),
        }
    }

    #[test]
    fn names_network_iam_and_eks_outputs() {
        let lives = vec![
            live("network.vpc", ResourceKind::Vpc, &[("id", "vpc-1")]),
            live(
                "network.subnet[node/us-west-2a]",
                ResourceKind::Subnet,
                &[("id", "subnet-a")],
            ),
            live(
                "network.subnet[pod/us-west-2a]",
                ResourceKind::Subnet,
                &[("id", "subnet-p")],
            ),
            live(
                "network.nat_gateway[us-west-2a]",
                ResourceKind::NatGateway,
                &[("id", "nat-1"), ("public_ip", "52.1.2.3")],
            ),
            live(
                "iam.node_role",
                ResourceKind::IamRole,
                &[("arn", "arn:aws:iam::1:role/example-eks-node")],
            ),
            live(
                "eks.cluster",
                ResourceKind::EksCluster,
                &[
                    ("name", "example"),
                    ("endpoint", "https://x.eks.amazonaws.com"),
                    ("cluster_security_group_id", "sg-1"),
                ],
            ),
            live(
                "rds.cluster",
                ResourceKind::DbCluster,
                &[("endpoint", "db")],
            ),
        ];
        let outputs = collect(&lives);
        let json = serde_json::to_value(&outputs).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "cluster_endpoint": "https://x.eks.amazonaws.com",
                "cluster_name": "example",
                "cluster_security_group_id": "sg-1",
                "nat_public_ips": {"us-west-2a": "52.1.2.3"},
                "node_role_arn": "arn:aws:iam::1:role/example-eks-node",
                "node_subnet_ids": {"us-west-2a": "subnet-a"},
                "pod_subnet_ids": {"us-west-2a": "subnet-p"},
                "vpc_id": "vpc-1"
            })
        );
    }
}
