//! The IAM roles of the cluster and the nodes, and the policy that lets nodes pull this
//! profile's images from ECR.

use super::{Builder, addr, keyed, map};
use crate::stack::{Component, ResourceKind, Spec, Value};

/// The addon whose controller needs the EBS CSI driver policy on the node role.
const EBS_CSI_ADDON: &str = "aws-ebs-csi-driver";

impl Builder<'_> {
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

    pub(super) fn iam(&mut self) {
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

        // ECR pull: the token on `*`, as `ecr:GetAuthorizationToken` has no resource type
        // (Service Authorization Reference, Amazon ECR actions,
        // <https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerregistry.html>);
        // image and layer reads only on this profile's repositories (least privilege).
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
}

#[cfg(test)]
mod tests {
    use super::super::build;
    use super::super::tests::{a, example};
    use crate::profile::Profile;
    use crate::stack::Value;

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
}
