//! The values `bpa-infra outputs` shows, named for people and scripts: picked out of
//! the live resources the providers read (their `outputs`), so that nothing here talks
//! to a cloud.
//!
//! Every component's entries are here, so the names stay consistent across them. So is
//! the one rule of whose values they are ([`is_ours`]), which `render` and `db init`
//! enforce with [`refuse_look_alikes`].

use std::collections::BTreeMap;

use crate::provider::{Live, ObservedOwnership};
use crate::stack::{Component, PROFILE_TAG, ResourceKind, Value};

/// Tells whether a live resource's values are the profile's: it owns the resource or
/// adopted it. Anything else found by the profile's names (another profile's, untagged,
/// another region's stack's, a pre-0.2 one nothing of the stack uses) is a look-alike.
pub fn is_ours(ownership: &ObservedOwnership) -> bool {
    matches!(
        ownership,
        ObservedOwnership::Owned | ObservedOwnership::Adopted
    )
}

/// A resource found by the profile's deterministic name that is not the profile's
/// (docs/architecture.md, "State"): its endpoint must not be rendered, nor its master
/// secret read, as if it were.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the {what} `{name}` exists but is not profile `{profile}`'s ({whose}), so its values \
     are not used: {rename}, or see `bpa-infra plan` for the conflict"
)]
pub struct LookAlike {
    /// What it is, for people: `DB cluster`.
    pub what: String,
    /// Its name or id in the cloud.
    pub name: String,
    pub profile: String,
    /// Whose it is instead, from its ownership tags.
    pub whose: String,
    /// How the profile can name another.
    pub rename: &'static str,
}

/// Refuses the first of `lives` that is not `profile`'s (see [`is_ours`]): a command
/// that is about to use their values calls it with the resources it reads.
pub fn refuse_look_alikes(lives: &[Live], profile: &str) -> Result<(), LookAlike> {
    let Some(live) = lives.iter().find(|l| !is_ours(&l.ownership)) else {
        return Ok(());
    };
    let (what, rename) = match live.kind {
        ResourceKind::EksCluster => (
            "EKS cluster",
            "give the profile another `name` (the cluster is named after it)",
        ),
        ResourceKind::DbCluster => ("DB cluster", "set another `rds.identifier`"),
        ResourceKind::DbInstance => ("DB instance", "set another `rds.identifier`"),
        ResourceKind::EcrRepository => ("ECR repository", "name others in `ecr.repositories`"),
        ResourceKind::Subnet => ("subnet", "remove it or give the profile other subnet CIDRs"),
        ResourceKind::VpcEndpoint => ("VPC endpoint", "remove it or pick another profile name"),
        other => (other.as_str(), "remove it or pick another profile name"),
    };
    let whose = match &live.ownership {
        ObservedOwnership::OtherProfile { profile } => {
            format!("its {PROFILE_TAG} tag is `{profile}`")
        }
        ObservedOwnership::OtherStack { profile, region } => {
            format!("it belongs to the stack of profile `{profile}` in {region}")
        }
        ObservedOwnership::Legacy => format!(
            "it was made before 0.2 for profile `{profile}` and nothing of this stack is seen to use it"
        ),
        ObservedOwnership::Unowned | ObservedOwnership::Owned | ObservedOwnership::Adopted => {
            format!("it has no {PROFILE_TAG} tag")
        }
    };
    Err(LookAlike {
        what: what.to_owned(),
        name: live.id.clone(),
        profile: profile.to_owned(),
        whose,
        rename,
    })
}

/// Returns the named outputs of `lives` (what a `read` of the stack returned): scalar
/// values, and maps keyed by availability zone or node group for the sets.
pub fn collect(lives: &[Live]) -> BTreeMap<String, Value> {
    let mut outputs = BTreeMap::new();
    let mut keyed: BTreeMap<&'static str, BTreeMap<String, Value>> = BTreeMap::new();
    // Only what this profile owns or adopted: a look-alike's values are not the profile's.
    let ours = lives.iter().filter(|l| is_ours(&l.ownership));
    for live in ours {
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
            (Component::Atlas, "vpc_endpoint", None) => {
                put("atlas_vpc_endpoint_id", output("id"));
                put("atlas_vpc_endpoint_state", output("state"));
                put("atlas_vpc_endpoint_dns_name", output("dns_name"));
                put("atlas_vpc_endpoint_dns_names", output("dns_names"));
            }
            (Component::Atlas, "endpoint_service", None) => {
                put("atlas_endpoint_service_id", output("id"));
                put("atlas_endpoint_service_name", output("service_name"));
            }
            (Component::Atlas, "endpoint", None) => {
                put("atlas_connection_status", output("connection_status"));
                put(
                    "atlas_private_connection_string",
                    output("private_connection_string"),
                );
                put(
                    "atlas_private_connection_strings",
                    output("private_connection_strings"),
                );
            }
            (Component::Rds, "cluster" | "instance", None) => {
                put("db_identifier", Some(Value::from(live.id.as_str())));
                put("db_writer_endpoint", output("endpoint"));
                put("db_reader_endpoint", output("reader_endpoint"));
                put("db_port", output("port"));
                put("db_master_secret_arn", output("master_user_secret_arn"));
            }
            (Component::Ecr, "repository", Some(repository)) => {
                if let Some(uri) = output("repository_uri") {
                    keyed
                        .entry("repository_uris")
                        .or_default()
                        .insert(repository.to_owned(), uri);
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
    use crate::provider::Status;
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
    fn names_database_and_repository_outputs() {
        let lives = vec![
            live(
                "rds.cluster",
                ResourceKind::DbCluster,
                &[
                    ("endpoint", "prod-bpa.cluster-x.us-west-2.rds.amazonaws.com"),
                    (
                        "reader_endpoint",
                        "prod-bpa.cluster-ro-x.us-west-2.rds.amazonaws.com",
                    ),
                    (
                        "master_user_secret_arn",
                        "arn:aws:secretsmanager:us-west-2:1:secret:rds",
                    ),
                ],
            ),
            live(
                "ecr.repository[bpa/ui]",
                ResourceKind::EcrRepository,
                &[("repository_uri", "1.dkr.ecr/bpa/ui")],
            ),
            live(
                "ecr.repository[bpa/bpm]",
                ResourceKind::EcrRepository,
                &[("repository_uri", "1.dkr.ecr/bpa/bpm")],
            ),
        ];
        let outputs = collect(&lives);
        assert_eq!(
            outputs["db_writer_endpoint"],
            Value::from("prod-bpa.cluster-x.us-west-2.rds.amazonaws.com")
        );
        assert_eq!(
            outputs["db_reader_endpoint"],
            Value::from("prod-bpa.cluster-ro-x.us-west-2.rds.amazonaws.com")
        );
        assert_eq!(
            outputs["db_master_secret_arn"],
            Value::from("arn:aws:secretsmanager:us-west-2:1:secret:rds")
        );
        assert_eq!(outputs["db_identifier"], Value::from("x"));
        let uris = outputs["repository_uris"].as_map().unwrap();
        assert_eq!(uris.len(), 2);
        assert_eq!(uris["bpa/ui"], Value::from("1.dkr.ecr/bpa/ui"));
    }

    #[test]
    fn names_atlas_outputs() {
        let lives = vec![
            live(
                "atlas.vpc_endpoint",
                ResourceKind::VpcEndpoint,
                &[
                    ("id", "vpce-0abc"),
                    ("state", "available"),
                    (
                        "dns_name",
                        "vpce-0abc-1.vpce-svc-0123.us-west-2.vpce.amazonaws.com",
                    ),
                    ("atlas_next_step", "register it"),
                ],
            ),
            live(
                "atlas.endpoint",
                ResourceKind::AtlasEndpoint,
                &[
                    ("connection_status", "AVAILABLE"),
                    (
                        "private_connection_string",
                        "mongodb+srv://bpa-pl-0.abcde.mongodb.net",
                    ),
                ],
            ),
        ];
        let json = serde_json::to_value(collect(&lives)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "atlas_connection_status": "AVAILABLE",
                "atlas_private_connection_string": "mongodb+srv://bpa-pl-0.abcde.mongodb.net",
                "atlas_vpc_endpoint_dns_name": "vpce-0abc-1.vpce-svc-0123.us-west-2.vpce.amazonaws.com",
                "atlas_vpc_endpoint_id": "vpce-0abc",
                "atlas_vpc_endpoint_state": "available"
            })
        );
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
            // Found by name, not ours: left out.
            Live {
                ownership: ObservedOwnership::Unowned,
                ..live(
                    "iam.cluster_role",
                    ResourceKind::IamRole,
                    &[("arn", "arn:aws:iam::1:role/someone-elses")],
                )
            },
        ];
        let outputs = collect(&lives);
        let json = serde_json::to_value(&outputs).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "cluster_endpoint": "https://x.eks.amazonaws.com",
                "cluster_name": "example",
                "cluster_security_group_id": "sg-1",
                "db_identifier": "x",
                "db_writer_endpoint": "db",
                "nat_public_ips": {"us-west-2a": "52.1.2.3"},
                "node_role_arn": "arn:aws:iam::1:role/example-eks-node",
                "node_subnet_ids": {"us-west-2a": "subnet-a"},
                "pod_subnet_ids": {"us-west-2a": "subnet-p"},
                "vpc_id": "vpc-1"
            })
        );
    }

    #[test]
    fn a_look_alike_is_refused_with_its_owner_and_how_to_rename() {
        let ours = live("rds.cluster", ResourceKind::DbCluster, &[]);
        assert_eq!(refuse_look_alikes(&[ours.clone()], "example"), Ok(()));
        let adopted = Live {
            ownership: ObservedOwnership::Adopted,
            ..live("network.subnet[pod/us-west-2a]", ResourceKind::Subnet, &[])
        };
        assert_eq!(refuse_look_alikes(&[adopted], "example"), Ok(()));

        let theirs = Live {
            id: "bpa/ui".into(),
            ownership: ObservedOwnership::OtherProfile {
                profile: "staging".into(),
            },
            ..live("ecr.repository[bpa/ui]", ResourceKind::EcrRepository, &[])
        };
        let err = refuse_look_alikes(&[ours.clone(), theirs], "example").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the ECR repository `bpa/ui` exists but is not profile `example`'s (its \
             bpa-infra:profile tag is `staging`), so its values are not used: name others in \
             `ecr.repositories`, or see `bpa-infra plan` for the conflict"
        );

        let untagged = Live {
            id: "example".into(),
            ownership: ObservedOwnership::Unowned,
            ..live("eks.cluster", ResourceKind::EksCluster, &[])
        };
        let text = refuse_look_alikes(&[untagged], "example")
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("EKS cluster `example`")
                && text.contains("it has no bpa-infra:profile tag")
                && text.contains("give the profile another `name`"),
            "{text}"
        );
        // What `collect` leaves out is what is refused: one rule.
        for ownership in [
            ObservedOwnership::Legacy,
            ObservedOwnership::OtherStack {
                profile: "example".into(),
                region: "us-east-1".into(),
            },
        ] {
            assert!(!is_ours(&ownership));
            let other = Live {
                ownership,
                ..live(
                    "rds.cluster",
                    ResourceKind::DbCluster,
                    &[("endpoint", "db")],
                )
            };
            assert!(refuse_look_alikes(std::slice::from_ref(&other), "example").is_err());
            assert!(collect(&[other]).is_empty());
        }
    }
}
