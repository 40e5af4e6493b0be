//! `up`, `plan` and `down` of the network, IAM and EKS components against moto: every
//! resource created and tagged, nothing changed by a second run, everything created
//! removed again, and what the tool does not own left alone.
//!
//! The binary talks to `scripts/emulator.py` ([`Moto`]), which adds to moto the EKS
//! addons and the cluster security group EKS makes. The addon code's failure paths are
//! covered with aws-smithy-mocks in
//! `src/provider/aws/eks/addon.rs`.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::support::moto::{self, Moto, RecordedCall, xml_text, xml_texts};
use crate::support::proxy::{FaultConfig, FaultKind, FaultProxy};
use crate::support::{root, write_profile};

const ONLY: &str = "network,iam,eks";
const PROFILE_TAG: &str = "bpa-infra:profile";
const ADDRESS_TAG: &str = "bpa-infra:address";
const REGION_TAG: &str = "bpa-infra:region";

/// The example profile: it creates its VPC.
fn example_profile() -> std::path::PathBuf {
    root().join("profiles/example.yaml")
}

/// A profile that adopts `vpc` and its node subnets (one per AZ, CIDRs as made).
fn adopting_profile(dir: &Path, vpc: &str, subnets: &[(&str, &str, &str)]) -> std::path::PathBuf {
    let node_subnets: String = subnets
        .iter()
        .map(|(az, id, cidr)| format!("    - {{ az: {az}, id: {id}, cidr: {cidr} }}\n"))
        .collect();
    let text = format!(
        r#"apiVersion: bpa-infra/v1
name: adopt
region: us-west-2
tags:
  team: bpa
network:
  vpc:
    id: {vpc}
    cidr: 10.40.0.0/16
  availability_zones: [us-west-2a, us-west-2b, us-west-2c]
  node_subnets:
{node_subnets}eks:
  version: "1.35"
  node_groups:
    - name: node-1
      instance_type: m5.xlarge
      data_volume:
        size_gib: 100
      data_dirs: [/opt/bpa/data/kafka]
rds:
  engine_version: "16.4"
  instance_class: db.m5d.large
  storage:
    type: gp3
    size_gib: 400
    iops: 12000
  deletion_protection: false
ecr:
  repositories: [bpa/ui]
"#
    );
    write_profile(dir, "adopt.yaml", &text)
}

/// Runs `bpa-infra -p PROFILE --endpoint-url URL ARGS...` against the emulator and
/// returns its stdout, failing the test with both outputs and moto's log
/// when the exit code is not `code`.
fn run(moto: &Moto, profile: &Path, args: &[&str], code: i32) -> String {
    run_at(moto, &moto.endpoint_url(), profile, args, code)
}

/// Runs `bpa-infra` as [`run`] does, with `url` as the endpoint.
fn run_at(moto: &Moto, url: &str, profile: &Path, args: &[&str], code: i32) -> String {
    let output = moto
        .bpa_infra_via(url)
        .arg("-p")
        .arg(profile)
        .args(["--endpoint-url", url, "--no-color"])
        // `up` checks the database passwords the profile names are set, whatever it does.
        .env("BPA_KONG_DB_PASSWORD", "kong-test-password")
        .args(args)
        .output()
        .expect("run bpa-infra");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "bpa-infra {args:?} exited {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- moto log (tail)\n{}",
        output.status.code(),
        tail(&moto.log(), 40)
    );
    stdout
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The calls the binary made that may have changed something (addons included).
fn mutating_calls_of_the_binary(moto: &Moto) -> Vec<String> {
    moto.mutating_calls()
        .iter()
        .filter(|c| !c.by_harness)
        .map(RecordedCall::name)
        .collect()
}

/// EC2 resources of each kind tagged with `profile`, as (describe action, id element).
const EC2_KINDS: [(&str, &str); 8] = [
    ("DescribeVpcs", "vpcId"),
    ("DescribeSubnets", "subnetId"),
    ("DescribeInternetGateways", "internetGatewayId"),
    ("DescribeAddresses", "allocationId"),
    ("DescribeNatGateways", "natGatewayId"),
    ("DescribeRouteTables", "routeTableId"),
    ("DescribeSecurityGroups", "groupId"),
    ("DescribeLaunchTemplates", "launchTemplateId"),
];

/// The ids of the EC2 resources `action` finds with these tag filters.
fn ec2_ids(
    moto: &Moto,
    action: &str,
    id_element: &str,
    filters: &[(&str, &str)],
) -> BTreeSet<String> {
    let mut params = Vec::new();
    for (i, (name, value)) in filters.iter().enumerate() {
        // moto reads `[...]` in a filter value as a character class (AWS takes it
        // literally); `?`, a wildcard for one character in both, matches the brackets.
        let value = value.replace(['[', ']'], "?");
        params.push((format!("Filter.{}.Name", i + 1), (*name).to_owned()));
        params.push((format!("Filter.{}.Value.1", i + 1), value));
    }
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let xml = moto.ec2(action, &params);
    let mut ids: BTreeSet<String> = xml_texts(&xml, id_element).into_iter().collect();
    if action == "DescribeNatGateways" {
        // Deleted NAT gateways stay listed for a while, as on AWS.
        let states = xml_texts(&xml, "state");
        ids = xml_texts(&xml, id_element)
            .into_iter()
            .zip(states)
            .filter(|(_, state)| state != "deleted" && state != "deleting")
            .map(|(id, _)| id)
            .collect();
        // moto answers a tag filter here with every NAT gateway: apply it here instead.
        ids.retain(|id| {
            let xml = moto.ec2("DescribeNatGateways", &[("NatGatewayId.1", id)]);
            let tags: Vec<(String, String)> = xml_texts(&xml, "key")
                .into_iter()
                .zip(xml_texts(&xml, "value"))
                .collect();
            filters.iter().all(|(name, value)| {
                name.strip_prefix("tag:")
                    .is_none_or(|key| has_tag(&tags, key, value))
            })
        });
    }
    ids
}

/// The tags of an IAM role or policy, from its XML answer.
fn iam_tags(xml: &str) -> Vec<(String, String)> {
    xml_texts(xml, "Key")
        .into_iter()
        .zip(xml_texts(xml, "Value"))
        .collect()
}

fn has_tag(tags: &[(String, String)], key: &str, value: &str) -> bool {
    tags.iter().any(|(k, v)| k == key && v == value)
}

fn json_tags(value: &Value) -> Vec<(String, String)> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts that each EC2 resource at `addresses` exists once, tagged with the profile
/// and its address.
fn assert_ec2_tagged(moto: &Moto, profile: &str, addresses: &[(&str, &str)]) {
    for (address, action) in addresses {
        let (_, id_element) = EC2_KINDS
            .iter()
            .find(|(a, _)| a == action)
            .expect("a known kind");
        let ids = ec2_ids(
            moto,
            action,
            id_element,
            &[
                (&format!("tag:{PROFILE_TAG}"), profile),
                (&format!("tag:{ADDRESS_TAG}"), address),
            ],
        );
        assert_eq!(
            ids.len(),
            1,
            "{address}: expected one resource tagged {PROFILE_TAG}={profile}, found {ids:?}"
        );
    }
}

/// Asserts the IAM roles and policy and the EKS cluster and node group of `profile`
/// exist, tagged with the profile and their addresses.
fn assert_iam_and_eks_tagged(moto: &Moto, profile: &str, cluster: &str, node_groups: &[&str]) {
    for (role, address) in [
        ("eks-cluster", "iam.cluster_role"),
        ("eks-node", "iam.node_role"),
    ] {
        let xml = moto.iam(
            "GetRole",
            &[("RoleName", &format!("{profile}-{}-{role}", moto::REGION))],
        );
        let tags = iam_tags(&xml);
        assert!(
            has_tag(&tags, PROFILE_TAG, profile)
                && has_tag(&tags, ADDRESS_TAG, address)
                && has_tag(&tags, REGION_TAG, moto::REGION),
            "{address}: {tags:?}"
        );
    }
    let node_policies = moto.iam(
        "ListAttachedRolePolicies",
        &[("RoleName", &format!("{profile}-{}-eks-node", moto::REGION))],
    );
    let arns = xml_texts(&node_policies, "PolicyArn");
    for policy in [
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
        "AmazonEBSCSIDriverPolicy",
        "AmazonEC2ContainerRegistryPullOnly",
        &format!("{profile}-{}-ecr-pull", moto::REGION),
    ] {
        assert!(
            arns.iter().any(|a| a.ends_with(&format!("/{policy}"))),
            "node role lacks {policy}: {arns:?}"
        );
    }
    let pull = arns
        .iter()
        .find(|a| a.ends_with("-ecr-pull"))
        .expect("the pull policy is attached");
    let tags = iam_tags(&moto.iam("ListPolicyTags", &[("PolicyArn", pull)]));
    assert!(
        has_tag(&tags, PROFILE_TAG, profile) && has_tag(&tags, ADDRESS_TAG, "iam.ecr_pull_policy"),
        "{tags:?}"
    );

    let cluster_json = moto.rest_json("eks", "GET", &format!("/clusters/{cluster}"), None);
    let tags = json_tags(&cluster_json["cluster"]["tags"]);
    assert!(
        has_tag(&tags, PROFILE_TAG, profile) && has_tag(&tags, ADDRESS_TAG, "eks.cluster"),
        "{tags:?}"
    );
    assert_eq!(cluster_json["cluster"]["version"], "1.35");
    for group in node_groups {
        let json = moto.rest_json(
            "eks",
            "GET",
            &format!("/clusters/{cluster}/node-groups/{group}"),
            None,
        );
        let tags = json_tags(&json["nodegroup"]["tags"]);
        assert!(
            has_tag(&tags, PROFILE_TAG, profile)
                && has_tag(&tags, ADDRESS_TAG, &format!("eks.nodegroup[{group}]")),
            "{group}: {tags:?}"
        );
        assert_eq!(
            json["nodegroup"]["labels"]["name"], *group,
            "the node group's Kubernetes label"
        );
    }
    for addon in ["vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"] {
        let found = moto
            .addon(cluster, addon)
            .unwrap_or_else(|| panic!("addon {addon} was not created"));
        let tags = json_tags(&found["tags"]);
        assert!(
            has_tag(&tags, PROFILE_TAG, profile)
                && has_tag(&tags, ADDRESS_TAG, &format!("eks.addon[{addon}]")),
            "{addon}: {tags:?}"
        );
    }
    let cni = moto.addon(cluster, "vpc-cni").expect("vpc-cni");
    let configuration: Value =
        serde_json::from_str(cni["configurationValues"].as_str().unwrap_or("{}")).unwrap();
    assert_eq!(
        configuration["env"]["AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"], "true",
        "{configuration}"
    );
    assert_eq!(
        configuration["env"]["ENI_CONFIG_LABEL_DEF"], "topology.kubernetes.io/zone",
        "{configuration}"
    );
}

/// Asserts nothing tagged with `profile` is left in EC2, IAM or EKS.
fn assert_all_gone(moto: &Moto, profile: &str, cluster: &str) {
    assert_eq!(moto.addons(), Vec::<String>::new(), "addons left");
    for (action, id_element) in EC2_KINDS {
        let ids = ec2_ids(
            moto,
            action,
            id_element,
            &[(&format!("tag:{PROFILE_TAG}"), profile)],
        );
        assert!(
            ids.is_empty(),
            "{action} still finds resources of {profile}: {ids:?}"
        );
    }
    let roles = moto.iam("ListRoles", &[]);
    let names = xml_texts(&roles, "RoleName");
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with(&format!("{profile}-{}-eks-", moto::REGION))),
        "roles left: {names:?}"
    );
    let policies = moto.iam("ListPolicies", &[("Scope", "Local")]);
    let names = xml_texts(&policies, "PolicyName");
    assert!(
        !names
            .iter()
            .any(|n| n == &format!("{profile}-{}-ecr-pull", moto::REGION)),
        "policy left: {names:?}"
    );
    let clusters = moto.rest_json("eks", "GET", "/clusters", None);
    assert!(
        !clusters["clusters"]
            .as_array()
            .is_some_and(|c| c.iter().any(|n| n == cluster)),
        "cluster left: {clusters}"
    );
}

#[test]
fn up_creates_and_tags_everything_a_second_run_changes_nothing_and_down_removes_it() {
    let moto = Moto::start();
    let profile = example_profile();

    run(&moto, &profile, &["up", "--yes", "--only", ONLY], 0);

    let zones = ["us-west-2a", "us-west-2b", "us-west-2c"];
    let mut ec2: Vec<(String, &str)> = vec![
        ("network.vpc".into(), "DescribeVpcs"),
        (
            "network.internet_gateway".into(),
            "DescribeInternetGateways",
        ),
        ("network.nat_eip[us-west-2a]".into(), "DescribeAddresses"),
        (
            "network.nat_gateway[us-west-2a]".into(),
            "DescribeNatGateways",
        ),
        ("network.route_table[public]".into(), "DescribeRouteTables"),
        ("network.route_table[private]".into(), "DescribeRouteTables"),
        ("eks.node_security_group".into(), "DescribeSecurityGroups"),
        (
            "eks.launch_template[node-1]".into(),
            "DescribeLaunchTemplates",
        ),
    ];
    for zone in zones {
        for role in ["node", "pod", "public"] {
            ec2.push((format!("network.subnet[{role}/{zone}]"), "DescribeSubnets"));
        }
    }
    let ec2: Vec<(&str, &str)> = ec2.iter().map(|(a, k)| (a.as_str(), *k)).collect();
    assert_ec2_tagged(&moto, "example", &ec2);
    assert_iam_and_eks_tagged(&moto, "example", "example", &["node-1"]);

    // The pod CIDR is a secondary CIDR of the VPC; pod subnets are carved from it.
    let vpc = ec2_ids(
        &moto,
        "DescribeVpcs",
        "vpcId",
        &[(&format!("tag:{PROFILE_TAG}"), "example")],
    );
    let vpc = vpc.first().expect("the VPC");
    let xml = moto.ec2("DescribeVpcs", &[("VpcId.1", vpc)]);
    assert!(
        xml_texts(&xml, "cidrBlock").contains(&"100.64.0.0/16".to_owned()),
        "{xml}"
    );

    moto.start_recording();
    let plan = run(
        &moto,
        &profile,
        &["plan", "--only", ONLY, "--detailed-exitcode"],
        0,
    );
    assert_eq!(
        mutating_calls_of_the_binary(&moto),
        Vec::<String>::new(),
        "plan made mutating calls\n{plan}"
    );
    assert!(
        !moto.recording().is_empty() && !moto.addon_calls().is_empty(),
        "the plan read the live state"
    );
    run(&moto, &profile, &["up", "--yes", "--only", ONLY], 0);
    assert_eq!(
        mutating_calls_of_the_binary(&moto),
        Vec::<String>::new(),
        "a second up made mutating calls"
    );
    moto.stop_recording();

    // The kubeconfig of the cluster: printed, and merged into an existing file.
    let printed: serde_yaml::Value =
        serde_yaml::from_str(&run(&moto, &profile, &["kubeconfig"], 0)).unwrap();
    let cluster = moto.rest_json("eks", "GET", "/clusters/example", None);
    let arn = cluster["cluster"]["arn"].as_str().unwrap();
    assert_eq!(printed["current-context"].as_str(), Some(arn));
    // With `--output json`, the same kubeconfig as JSON (docs/json.md).
    let as_json: serde_json::Value = serde_json::from_str(&run(
        &moto,
        &profile,
        &["--output", "json", "kubeconfig"],
        0,
    ))
    .expect("kubeconfig --output json prints JSON");
    assert_eq!(
        as_json,
        serde_json::to_value(&printed).unwrap(),
        "the JSON kubeconfig is the YAML one"
    );
    assert_eq!(
        printed["clusters"][0]["cluster"]["server"].as_str(),
        cluster["cluster"]["endpoint"].as_str()
    );
    let args: Vec<&str> = printed["users"][0]["user"]["exec"]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(serde_yaml::Value::as_str)
        .collect();
    assert_eq!(
        args,
        [
            "--region",
            "us-west-2",
            "eks",
            "get-token",
            "--cluster-name",
            "example",
            "--output",
            "json"
        ]
    );
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("config");
    std::fs::write(&file, "apiVersion: v1\nkind: Config\nclusters:\n- name: kind-dev\n  cluster: {server: 'https://127.0.0.1:6443'}\ncurrent-context: kind-dev\n").unwrap();
    run(
        &moto,
        &profile,
        &[
            "kubeconfig",
            "--write",
            "--kubeconfig",
            file.to_str().unwrap(),
        ],
        0,
    );
    let merged: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let names: Vec<&str> = merged["clusters"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["kind-dev", arn]);
    assert_eq!(merged["current-context"].as_str(), Some(arn));

    let outputs: Value =
        serde_json::from_str(&run(&moto, &profile, &["--output", "json", "outputs"], 0))
            .expect("outputs --output json is JSON");
    let outputs = &outputs["outputs"];
    assert_eq!(outputs["vpc_id"].as_str(), Some(vpc.as_str()), "{outputs}");
    assert_eq!(outputs["cluster_arn"].as_str(), Some(arn), "{outputs}");
    assert_eq!(
        outputs["cluster_endpoint"], cluster["cluster"]["endpoint"],
        "{outputs}"
    );
    for set in ["node_subnet_ids", "pod_subnet_ids", "public_subnet_ids"] {
        assert_eq!(
            outputs[set].as_object().map(|m| m.len()),
            Some(3),
            "{set}: {outputs}"
        );
    }
    assert!(
        outputs["nat_public_ips"]["us-west-2a"].is_string(),
        "{outputs}"
    );
    assert!(
        outputs["node_role_arn"]
            .as_str()
            .is_some_and(|a| a.ends_with(":role/example-us-west-2-eks-node")),
        "{outputs}"
    );

    // A VPC with the same name but none of the tool's tags: never touched.
    let lookalike = moto.create_vpc("10.99.0.0/16", &[("Name", "example-vpc")]);
    run(
        &moto,
        &profile,
        &["plan", "--only", ONLY, "--detailed-exitcode"],
        0,
    );

    run(&moto, &profile, &["down", "--yes", "--only", ONLY], 0);
    assert_all_gone(&moto, "example", "example");
    let xml = moto.ec2("DescribeVpcs", &[("VpcId.1", &lookalike)]);
    assert_eq!(
        xml_text(&xml, "vpcId").as_deref(),
        Some(lookalike.as_str()),
        "the look-alike VPC is left"
    );
}

#[test]
fn up_on_an_adopted_vpc_adds_the_pod_network_and_down_leaves_the_vpc_and_subnets() {
    let moto = Moto::start();
    let vpc = moto.create_vpc("10.40.0.0/16", &[("Name", "corporate")]);
    let subnets: Vec<(&str, String, &str)> = [
        ("us-west-2a", "10.40.0.0/19"),
        ("us-west-2b", "10.40.32.0/19"),
        ("us-west-2c", "10.40.64.0/19"),
    ]
    .into_iter()
    .map(|(az, cidr)| {
        (
            az,
            moto.create_subnet(&vpc, cidr, az, &[("Name", "corporate-private")]),
            cidr,
        )
    })
    .collect();
    let dir = tempfile::tempdir().unwrap();
    let listed: Vec<(&str, &str, &str)> = subnets
        .iter()
        .map(|(az, id, cidr)| (*az, id.as_str(), *cidr))
        .collect();
    let profile = adopting_profile(dir.path(), &vpc, &listed);
    let adopted_before = moto.ec2("DescribeVpcs", &[("VpcId.1", &vpc)]);

    run(&moto, &profile, &["up", "--yes", "--only", ONLY], 0);

    let mut ec2: Vec<(String, &str)> = vec![
        ("eks.node_security_group".into(), "DescribeSecurityGroups"),
        (
            "eks.launch_template[node-1]".into(),
            "DescribeLaunchTemplates",
        ),
    ];
    for (zone, _, _) in &subnets {
        ec2.push((format!("network.subnet[pod/{zone}]"), "DescribeSubnets"));
    }
    let ec2: Vec<(&str, &str)> = ec2.iter().map(|(a, k)| (a.as_str(), *k)).collect();
    assert_ec2_tagged(&moto, "adopt", &ec2);
    assert_iam_and_eks_tagged(&moto, "adopt", "adopt", &["node-1"]);
    // No internet access is made for a VPC the tool does not own.
    for (action, id) in [
        ("DescribeInternetGateways", "internetGatewayId"),
        ("DescribeNatGateways", "natGatewayId"),
    ] {
        assert!(
            ec2_ids(
                &moto,
                action,
                id,
                &[(&format!("tag:{PROFILE_TAG}"), "adopt")]
            )
            .is_empty(),
            "{action}"
        );
    }
    let xml = moto.ec2("DescribeVpcs", &[("VpcId.1", &vpc)]);
    assert!(
        xml_texts(&xml, "cidrBlock").contains(&"100.64.0.0/16".to_owned()),
        "pod CIDR associated: {xml}"
    );
    assert!(
        !xml.contains(PROFILE_TAG),
        "the adopted VPC is not tagged: {xml}"
    );

    moto.start_recording();
    run(
        &moto,
        &profile,
        &["plan", "--only", ONLY, "--detailed-exitcode"],
        0,
    );
    run(&moto, &profile, &["up", "--yes", "--only", ONLY], 0);
    assert_eq!(mutating_calls_of_the_binary(&moto), Vec::<String>::new());
    moto.stop_recording();

    run(&moto, &profile, &["down", "--yes", "--only", ONLY], 0);
    assert_all_gone(&moto, "adopt", "adopt");
    // The adopted VPC and subnets are still there, as they were.
    let xml = moto.ec2("DescribeVpcs", &[("VpcId.1", &vpc)]);
    assert_eq!(xml_text(&xml, "vpcId").as_deref(), Some(vpc.as_str()));
    assert_eq!(
        xml_texts(&xml, "key"),
        xml_texts(&adopted_before, "key"),
        "the adopted VPC's tags are unchanged"
    );
    for (_, id, cidr) in &subnets {
        let xml = moto.ec2("DescribeSubnets", &[("SubnetId.1", id)]);
        assert_eq!(xml_text(&xml, "cidrBlock").as_deref(), Some(*cidr), "{xml}");
        assert!(
            !xml.contains(PROFILE_TAG),
            "adopted subnet {id} is not tagged: {xml}"
        );
    }
}

/// The creates of the network, IAM and EKS components.
const CREATES: [&str; 14] = [
    "CreateVpc",
    "AssociateVpcCidrBlock",
    "CreateSubnet",
    "CreateInternetGateway",
    "AllocateAddress",
    "CreateNatGateway",
    "CreateRouteTable",
    "CreateSecurityGroup",
    "CreateLaunchTemplate",
    "CreateRole",
    "CreatePolicy",
    "CreateCluster",
    "CreateNodegroup",
    "CreateAddon",
];

#[test]
fn up_retries_throttling_5xx_and_lost_answers_without_making_anything_twice() {
    // Random faults on every call that changes something, of every kind: throttling,
    // 500, 503, a dropped connection, an answer lost after the call took effect. Then
    // the answer of the first call of every create lost after it took effect.
    let random = FaultConfig::seeded(11)
        .probability(0.3)
        .kinds(&FaultKind::ALL)
        .max_consecutive_faults(2)
        .only(|call| call.is_mutating());
    let lost = FaultConfig::seeded(1)
        .probability(1.0)
        .kinds(&[FaultKind::DropAfterForward])
        .max_consecutive_faults(1)
        .only(|call| CREATES.contains(&call.operation.as_str()));
    for (name, config) in [("random faults", random), ("lost create answers", lost)] {
        up_under_faults(name, config);
    }
}

fn up_under_faults(name: &str, config: FaultConfig) {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint_url(), config);
    let profile = example_profile();

    run_at(
        &moto,
        &proxy.url(),
        &profile,
        &["up", "--yes", "--only", ONLY],
        0,
    );

    let stats = proxy.stats();
    assert!(
        stats.faulted >= 10,
        "{name}: too few faults to prove anything: {stats:?}"
    );
    // Exactly one of everything, tagged: no create was repeated into a duplicate.
    let mut ec2: Vec<(String, &str)> = vec![
        ("network.vpc".into(), "DescribeVpcs"),
        (
            "network.internet_gateway".into(),
            "DescribeInternetGateways",
        ),
        ("network.nat_eip[us-west-2a]".into(), "DescribeAddresses"),
        (
            "network.nat_gateway[us-west-2a]".into(),
            "DescribeNatGateways",
        ),
        ("network.route_table[public]".into(), "DescribeRouteTables"),
        ("network.route_table[private]".into(), "DescribeRouteTables"),
        ("eks.node_security_group".into(), "DescribeSecurityGroups"),
        (
            "eks.launch_template[node-1]".into(),
            "DescribeLaunchTemplates",
        ),
    ];
    for zone in ["us-west-2a", "us-west-2b", "us-west-2c"] {
        for role in ["node", "pod", "public"] {
            ec2.push((format!("network.subnet[{role}/{zone}]"), "DescribeSubnets"));
        }
    }
    let ec2: Vec<(&str, &str)> = ec2.iter().map(|(a, k)| (a.as_str(), *k)).collect();
    assert_ec2_tagged(&moto, "example", &ec2);
    assert_iam_and_eks_tagged(&moto, "example", "example", &["node-1"]);
    // And it is all there: a plan without faults shows no change.
    run(
        &moto,
        &profile,
        &["plan", "--only", ONLY, "--detailed-exitcode"],
        0,
    );
}

#[test]
fn a_changed_profile_is_applied_in_place() {
    let moto = Moto::start();
    run(
        &moto,
        &example_profile(),
        &["up", "--yes", "--only", ONLY],
        0,
    );

    // More sources on the node ports and a bigger node group. Not the launch template
    // nor the tags: moving a node group to a new template version (UpdateNodegroupVersion)
    // and tagging a node group are what moto lacks; mocked tests in
    // src/provider/aws/eks/node_group.rs cover the first.
    let text = std::fs::read_to_string(example_profile()).unwrap();
    let changed = text
        .replacen(
            "  version: \"1.35\"\n",
            "  version: \"1.35\"\n  node_ingress_cidrs: [10.20.0.0/16, 10.100.0.0/16]\n",
            1,
        )
        .replacen(
            "      data_dirs:",
            "      size: { min: 1, desired: 2, max: 3 }\n      data_dirs:",
            1,
        );
    assert_ne!(
        changed, text,
        "the example profile changed shape: update this test"
    );
    let dir = tempfile::tempdir().unwrap();
    let profile = write_profile(dir.path(), "example.yaml", &changed);

    let plan = run(
        &moto,
        &profile,
        &["plan", "--only", ONLY, "--detailed-exitcode"],
        2,
    );
    for updated in ["eks.node_security_group", "eks.nodegroup[node-1]"] {
        assert!(
            plan.contains(&format!("~ {updated} ")),
            "{updated} is not updated in place:\n{plan}"
        );
    }
    assert!(
        !plan.contains("-/+ ") && !plan.contains("\n  - "),
        "nothing is replaced or deleted:\n{plan}"
    );

    run(&moto, &profile, &["up", "--yes", "--only", ONLY], 0);
    run(
        &moto,
        &profile,
        &["plan", "--only", ONLY, "--detailed-exitcode"],
        0,
    );

    let group = moto.rest_json("eks", "GET", "/clusters/example/node-groups/node-1", None);
    assert_eq!(
        group["nodegroup"]["scalingConfig"]["desiredSize"], 2,
        "{group}"
    );
    assert_eq!(group["nodegroup"]["scalingConfig"]["maxSize"], 3, "{group}");
    let groups = moto.ec2(
        "DescribeSecurityGroups",
        &[
            ("Filter.1.Name", "group-name"),
            ("Filter.1.Value.1", "example-eks-nodes"),
        ],
    );
    assert!(
        xml_texts(&groups, "cidrIp").contains(&"10.100.0.0/16".to_owned()),
        "{groups}"
    );
}

/// The node role's attached managed policies, as ARNs.
fn node_role_policies(moto: &Moto) -> Vec<String> {
    xml_texts(
        &moto.iam(
            "ListAttachedRolePolicies",
            &[("RoleName", "example-us-west-2-eks-node")],
        ),
        "PolicyArn",
    )
}

#[test]
fn a_managed_policy_detached_from_the_node_role_is_planned_and_attached_again() {
    const EBS: &str = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy";
    let moto = Moto::start();
    let url = moto.endpoint_url();
    let profile = example_profile();
    run_at(&moto, &url, &profile, &["up", "--yes", "--only", "iam"], 0);
    assert!(node_role_policies(&moto).contains(&EBS.to_owned()));

    // As on a stack made before the role had it, or detached by hand.
    moto.iam(
        "DetachRolePolicy",
        &[
            ("RoleName", "example-us-west-2-eks-node"),
            ("PolicyArn", EBS),
        ],
    );
    let plan = run_at(
        &moto,
        &url,
        &profile,
        &["plan", "--only", "iam", "--detailed-exitcode"],
        2,
    );
    assert!(plan.contains("~ iam.node_role "), "{plan}");
    assert!(plan.contains("AmazonEBSCSIDriverPolicy"), "{plan}");
    assert!(!plan.contains("-/+ "), "nothing is replaced:\n{plan}");

    run_at(&moto, &url, &profile, &["up", "--yes", "--only", "iam"], 0);
    let policies = node_role_policies(&moto);
    assert!(policies.contains(&EBS.to_owned()), "{policies:?}");
    assert_eq!(
        policies.len(),
        5,
        "worker, CNI, AmazonEC2ContainerRegistryPullOnly, ECR pull, EBS CSI: {policies:?}"
    );
    run_at(
        &moto,
        &url,
        &profile,
        &["plan", "--only", "iam", "--detailed-exitcode"],
        0,
    );
}

/// An adopted VPC or subnet that is not as the profile says is a conflict of the plan,
/// naming it, what it is and what the profile says; `up` then writes nothing.
#[test]
fn an_adopted_subnet_unlike_the_profile_or_missing_is_refused_before_any_write() {
    let moto = Moto::start();
    let vpc = moto.create_vpc("10.40.0.0/16", &[("Name", "corporate")]);
    let made: Vec<(&str, String, &str)> = [
        ("us-west-2a", "10.40.0.0/19"),
        ("us-west-2b", "10.40.32.0/19"),
        ("us-west-2c", "10.40.64.0/19"),
    ]
    .into_iter()
    .map(|(az, cidr)| (az, moto.create_subnet(&vpc, cidr, az, &[]), cidr))
    .collect();
    let dir = tempfile::tempdir().unwrap();

    // The profile has the second subnet's CIDR wrong.
    let mut listed: Vec<(&str, &str, &str)> = made
        .iter()
        .map(|(az, id, cidr)| (*az, id.as_str(), *cidr))
        .collect();
    listed[1].2 = "10.40.96.0/19";
    let profile = adopting_profile(dir.path(), &vpc, &listed);
    let stdout = run(&moto, &profile, &["plan", "--only", ONLY], 1);
    let wrong = &made[1].1;
    assert!(
        stdout.lines().any(|l| l.contains("network.subnet[node/us-west-2b]")
            && l.contains(&format!("the adopted subnet {wrong} differs from the profile: cidr_block is \"10.40.32.0/19\", the profile says \"10.40.96.0/19\""))
            && l.contains("correct the profile")),
        "{stdout}"
    );
    moto.start_recording();
    run(&moto, &profile, &["up", "--yes", "--only", ONLY], 1);
    assert_eq!(mutating_calls_of_the_binary(&moto), Vec::<String>::new());

    // A subnet id that does not exist.
    listed[1] = ("us-west-2b", "subnet-0123456789abcdef0", "10.40.32.0/19");
    let profile = adopting_profile(dir.path(), &vpc, &listed);
    let stdout = run(&moto, &profile, &["plan", "--only", ONLY], 1);
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("network.subnet[node/us-west-2b]")
                && l.contains("the adopted subnet subnet-0123456789abcdef0 does not exist")
                && l.contains("check its id in the profile")),
        "{stdout}"
    );
    moto.reset_recording();
    run(&moto, &profile, &["up", "--yes", "--only", ONLY], 1);
    assert_eq!(mutating_calls_of_the_binary(&moto), Vec::<String>::new());
}

/// `nat_gateways: per-az`: a NAT gateway in each zone's public subnet, and each zone's
/// node and pod subnets routed to the NAT gateway of their own zone.
#[test]
fn per_az_nat_gateways_each_serve_their_own_zone() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(example_profile()).unwrap();
    let zones_line = "  availability_zones: [us-west-2a, us-west-2b, us-west-2c]\n";
    assert!(text.contains(zones_line));
    let text = text.replace(zones_line, &format!("{zones_line}  nat_gateways: per-az\n"));
    let profile = write_profile(dir.path(), "example.yaml", &text);
    run(&moto, &profile, &["up", "--yes", "--only", "network"], 0);

    let tagged = |action: &str, id: &str, address: &str| -> BTreeSet<String> {
        ec2_ids(
            &moto,
            action,
            id,
            &[
                (&format!("tag:{PROFILE_TAG}"), "example"),
                (&format!("tag:{ADDRESS_TAG}"), address),
            ],
        )
    };
    let one = |ids: BTreeSet<String>, what: &str| -> String {
        assert_eq!(ids.len(), 1, "{what}: {ids:?}");
        ids.into_iter().next().unwrap()
    };
    let mut nats = BTreeSet::new();
    for zone in ["us-west-2a", "us-west-2b", "us-west-2c"] {
        let nat = one(
            tagged(
                "DescribeNatGateways",
                "natGatewayId",
                &format!("network.nat_gateway[{zone}]"),
            ),
            zone,
        );
        let public = one(
            tagged(
                "DescribeSubnets",
                "subnetId",
                &format!("network.subnet[public/{zone}]"),
            ),
            zone,
        );
        let xml = moto.ec2("DescribeNatGateways", &[("NatGatewayId.1", &nat)]);
        assert_eq!(
            xml_text(&xml, "subnetId").as_deref(),
            Some(public.as_str()),
            "{xml}"
        );

        let table = one(
            tagged(
                "DescribeRouteTables",
                "routeTableId",
                &format!("network.route_table[private/{zone}]"),
            ),
            zone,
        );
        let xml = moto.ec2("DescribeRouteTables", &[("RouteTableId.1", &table)]);
        assert_eq!(xml_texts(&xml, "natGatewayId"), vec![nat.clone()], "{xml}");
        let associated: BTreeSet<String> = xml_texts(&xml, "subnetId").into_iter().collect();
        let served: BTreeSet<String> = ["node", "pod"]
            .iter()
            .map(|role| {
                one(
                    tagged(
                        "DescribeSubnets",
                        "subnetId",
                        &format!("network.subnet[{role}/{zone}]"),
                    ),
                    zone,
                )
            })
            .collect();
        assert_eq!(associated, served, "{xml}");
        nats.insert(nat);
    }
    assert_eq!(nats.len(), 3);
    // No shared private route table in this mode.
    assert!(
        tagged(
            "DescribeRouteTables",
            "routeTableId",
            "network.route_table[private]"
        )
        .is_empty()
    );

    run(
        &moto,
        &profile,
        &["plan", "--only", "network", "--detailed-exitcode"],
        0,
    );
    run(&moto, &profile, &["down", "--yes", "--only", "network"], 0);
    // Deleted NAT gateways stay listed for a while, as on AWS.
    let after = moto.ec2("DescribeNatGateways", &[]);
    let states: Vec<(String, String)> = xml_texts(&after, "natGatewayId")
        .into_iter()
        .zip(xml_texts(&after, "state"))
        .filter(|(id, _)| nats.contains(id))
        .collect();
    assert_eq!(states.len(), 3, "{after}");
    assert!(
        states
            .iter()
            .all(|(_, state)| state == "deleted" || state == "deleting"),
        "{states:?}"
    );
}

/// A permanent error (access denied) is not retried; the run finishes everything that
/// does not depend on what failed, skips what does, names the resource and the AWS code,
/// and exits 1. The next run, with the permission back, finishes the job.
#[test]
fn a_denied_create_fails_its_resource_skips_its_dependents_and_the_next_up_finishes() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(
        &moto.endpoint_url(),
        FaultConfig::seeded(3)
            .probability(1.0)
            .kinds(&[FaultKind::Denied])
            .only(|call| call.operation == "CreateRepository"),
    );
    let profile = example_profile();
    let only = "network,iam,eks,ecr";
    let stdout = run_at(
        &moto,
        &proxy.url(),
        &profile,
        &["--output", "json", "up", "--yes", "--only", only],
        1,
    );
    let summary: Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|doc| doc.get("resources").is_some())
        .unwrap_or_else(|| panic!("no summary:\n{stdout}"));
    let outcome = |address: &str| -> Value {
        summary["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == address)
            .cloned()
            .unwrap_or_else(|| panic!("{address} not in the summary: {summary:#}"))
    };
    for repository in ["ecr.repository[bpa/ui]", "ecr.repository[bpa/bpm]"] {
        let repo = outcome(repository);
        assert_eq!(repo["status"], "failed", "{repo:#}");
        assert!(
            repo["code"]
                .as_str()
                .unwrap()
                .contains("AccessDeniedException"),
            "{repo:#}"
        );
    }
    // The pull policy names the repositories, the node role has the policy, the node
    // group the role: all skipped, naming the failure that stopped them.
    for address in [
        "iam.ecr_pull_policy",
        "iam.node_role",
        "eks.nodegroup[node-1]",
    ] {
        let skipped = outcome(address);
        assert_eq!(skipped["status"], "skipped", "{skipped:#}");
        assert!(
            skipped["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("ecr.repository[bpa/") && r.ends_with("failed")),
            "{skipped:#}"
        );
    }
    // Everything that does not need them is done.
    for address in [
        "network.vpc",
        "network.route_table[private]",
        "iam.cluster_role",
        "eks.cluster",
    ] {
        let done = outcome(address);
        assert_eq!(done["status"], "succeeded", "{done:#}");
    }
    // Not retried: one call per repository.
    let stats = proxy.stats();
    assert_eq!(
        stats
            .by_operation
            .get("ecr:CreateRepository")
            .map(|c| c.calls),
        Some(2),
        "{stats:?}"
    );

    // With the permission back the same command finishes, and nothing is left to do.
    proxy.set_config(FaultConfig::passthrough());
    run_at(
        &moto,
        &proxy.url(),
        &profile,
        &["up", "--yes", "--only", only],
        0,
    );
    run(
        &moto,
        &profile,
        &["plan", "--only", only, "--detailed-exitcode"],
        0,
    );
}
