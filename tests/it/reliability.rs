//! The promise of `up`, `down` and `plan`, checked against moto: whatever happens
//! mid-run, running the same command again finishes the job, nothing is created twice,
//! nothing that is not ours is touched, and no secret leaks.
//!
//! - no secret value (database and master passwords, Atlas credentials, the AWS secret
//!   key) appears in stdout, stderr, JSON output, saved plans or rendered files, at the
//!   highest verbosity;
//! - `plan`, and `up` on a converged stack, make no mutating call (moto's recorder);
//! - `down` leaves alone another profile's resources, untagged look-alikes with our
//!   names, and adopted resources;
//! - `up` through a proxy that faults 20% of the calls converges, for 10 seeds, with
//!   every resource once;
//! - `up` killed with SIGKILL at 10 points is finished by a second `up`, with no
//!   duplicates and no orphans;
//! - two `up` runs at once do not interleave (the run lock).
//!
//! The binary talks to `scripts/emulator.py` (moto with the EKS addons and the cluster
//! security group EKS makes), as in `network_eks`.
//! Resources are counted with moto's own API ([`Inventory`]), never through the binary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::atlas::{FakeAtlas, PROJECT_ID};
use crate::support::moto::{Moto, RecordedCall, xml_leaves, xml_text, xml_texts};
use crate::support::proxy::{FaultConfig, FaultKind, FaultProxy};
use crate::support::write_profile;

const PROFILE_TAG: &str = "bpa-infra:profile";
const ADDRESS_TAG: &str = "bpa-infra:address";
const ECR: &str = "AmazonEC2ContainerRegistry_V20150921";
/// How long one run of the binary may take before the test gives up on it.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

// --- secrets --------------------------------------------------------------------------

/// Distinctive secret values: none of them may ever show up in what the binary writes.
const MASTER_PASSWORD: &str = "Mstr-7f3a9c1e5b-Qz";
const KONG_PASSWORD: &str = "kong-pw-5d1e8b2a7c";
const CAMUNDA_PASSWORD: &str = "camunda-pw-9c4f2e6a1d";
const AWS_SECRET_KEY: &str = "AwsSecretLeakCheck0b7e3d9c5a1f8e2d4c6b0a9";
const ATLAS_CLIENT_ID: &str = "mdb_sa_id_3e8c1b7d5f2a";
const ATLAS_CLIENT_SECRET: &str = "mdb_sa_sk_6a2d9f4c8e1b";
const ATLAS_PUBLIC_KEY: &str = "atlaspub4b8e";
const ATLAS_PRIVATE_KEY: &str = "atlas-priv-1f5c9a3e-7d2b";

/// Every secret with the variable that carries it.
const SECRET_ENV: [(&str, &str); 8] = [
    ("RELY_MASTER_PASSWORD", MASTER_PASSWORD),
    ("RELY_KONG_PASSWORD", KONG_PASSWORD),
    ("RELY_CAMUNDA_PASSWORD", CAMUNDA_PASSWORD),
    ("AWS_SECRET_ACCESS_KEY", AWS_SECRET_KEY),
    ("MONGODB_ATLAS_CLIENT_ID", ATLAS_CLIENT_ID),
    ("MONGODB_ATLAS_CLIENT_SECRET", ATLAS_CLIENT_SECRET),
    ("MONGODB_ATLAS_PUBLIC_KEY", ATLAS_PUBLIC_KEY),
    ("MONGODB_ATLAS_PRIVATE_KEY", ATLAS_PRIVATE_KEY),
];

/// What must never be written: the secrets, and what a password is turned into for
/// PostgreSQL (`md5` + md5(password + user)), which is as good as the password.
fn forbidden() -> Vec<(String, String)> {
    let mut values: Vec<(String, String)> = SECRET_ENV
        .iter()
        .map(|(var, value)| ((*var).to_owned(), (*value).to_owned()))
        .collect();
    for (user, password) in [
        ("kong", KONG_PASSWORD),
        ("camunda", CAMUNDA_PASSWORD),
        ("bpaadmin", MASTER_PASSWORD),
    ] {
        values.push((format!("md5 of {user}'s password"), md5_hex(password, user)));
    }
    values
}

fn md5_hex(password: &str, user: &str) -> String {
    use md5::{Digest, Md5};
    let digest = Md5::digest(format!("{password}{user}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The secrets found in `text`, by the name of what holds them.
fn leaks(text: &str) -> Vec<String> {
    forbidden()
        .into_iter()
        .filter(|(_, value)| text.contains(value.as_str()))
        .map(|(name, _)| name)
        .collect()
}

// --- profiles -------------------------------------------------------------------------

/// A small profile that makes every kind of resource the stack has (one node group,
/// one repository), with the master password and two database passwords from the
/// environment. `vpc_cidr` keeps two profiles in one moto apart.
fn profile_text(name: &str, vpc_cidr: &str) -> String {
    format!(
        r#"apiVersion: bpa-infra/v1
name: {name}
region: us-west-2
tags: {{ team: bpa }}
network:
  vpc: {{ cidr: {vpc_cidr} }}
  availability_zones: [us-west-2a, us-west-2b, us-west-2c]
eks:
  version: "1.35"
  node_groups:
    - name: node-1
      instance_type: m5.xlarge
      data_volume: {{ size_gib: 100 }}
      data_dirs: [/opt/bpa/data/kafka]
rds:
  engine_version: "16.4"
  instance_class: db.m5d.large
  storage: {{ type: gp3, size_gib: 400, iops: 12000 }}
  deletion_protection: false
  master_password: {{ from_env: RELY_MASTER_PASSWORD }}
  databases:
    - {{ name: kong, user: kong, password_env: RELY_KONG_PASSWORD }}
    - {{ name: camunda, user: camunda, password_env: RELY_CAMUNDA_PASSWORD }}
ecr:
  repositories: [bpa/{name}-ui]
ingress:
  host: bpa.example.com
"#
    )
}

/// The same profile adopting `vpc` and its node subnets (zone, id, CIDR).
fn adopting_profile_text(
    name: &str,
    vpc: &str,
    vpc_cidr: &str,
    subnets: &[(String, String, String)],
) -> String {
    let node_subnets: String = subnets
        .iter()
        .map(|(az, id, cidr)| format!("    - {{ az: {az}, id: {id}, cidr: {cidr} }}\n"))
        .collect();
    profile_text(name, vpc_cidr).replace(
        &format!("  vpc: {{ cidr: {vpc_cidr} }}\n"),
        &format!("  vpc: {{ id: {vpc}, cidr: {vpc_cidr} }}\n  node_subnets:\n{node_subnets}"),
    )
}

fn profile(dir: &Path, name: &str, vpc_cidr: &str) -> PathBuf {
    write_profile(dir, &format!("{name}.yaml"), &profile_text(name, vpc_cidr))
}

// --- the cloud ------------------------------------------------------------------------

/// One emulator.
struct Cloud {
    moto: Moto,
    /// Set for every run after the secrets (e.g. a fake Atlas's credentials), and unset.
    env: Vec<(&'static str, String)>,
    unset: Vec<&'static str>,
}

impl Cloud {
    fn start() -> Cloud {
        let moto = Moto::start();
        Cloud {
            moto,
            env: Vec::new(),
            unset: Vec::new(),
        }
    }

    /// The endpoint the binary talks to when no proxy is in the way.
    fn url(&self) -> String {
        self.moto.endpoint_url()
    }

    /// `bpa-infra -p PROFILE ARGS...` against `url`, with every secret in its environment.
    fn command(&self, url: &str, profile: &Path, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = self.moto.bpa_infra_via(url);
        cmd.arg("-p").arg(profile).arg("--no-color");
        cmd.args(args);
        for (var, value) in SECRET_ENV {
            cmd.env(var, value);
        }
        cmd.envs(self.env.iter().cloned());
        for var in &self.unset {
            cmd.env_remove(var);
        }
        cmd.timeout(RUN_TIMEOUT);
        cmd
    }

    /// The same command as a `std::process::Command`, for a run the test kills.
    fn spawnable(&self, url: &str, profile: &Path, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("bpa-infra"));
        cmd.current_dir(crate::support::root());
        for var in [
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "BPA_INFRA_PROFILE",
            "NO_COLOR",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_CONFIG_FILE", "/nonexistent/bpa-infra-test/config");
        cmd.env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/bpa-infra-test/credentials",
        );
        cmd.envs(Moto::env_for(url));
        for (var, value) in SECRET_ENV {
            cmd.env(var, value);
        }
        cmd.arg("-p").arg(profile).arg("--no-color").args(args);
        cmd.stdin(std::process::Stdio::null());
        cmd
    }

    fn run(&self, url: &str, profile: &Path, args: &[&str]) -> Output {
        self.command(url, profile, args)
            .output()
            .expect("run bpa-infra")
    }

    /// Runs the binary and fails the test, with both outputs and moto's log, unless it
    /// exits with `code`; returns stdout.
    fn expect(&self, url: &str, profile: &Path, args: &[&str], code: i32) -> String {
        let output = self.run(url, profile, args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert_eq!(
            output.status.code(),
            Some(code),
            "bpa-infra {args:?} exited {:?}\n--- stdout\n{stdout}\n--- stderr\n{}\n--- moto log (tail)\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr),
            tail(&self.moto.log(), 30)
        );
        stdout
    }

    fn up(&self, url: &str, profile: &Path) -> String {
        self.expect(url, profile, &["up", "--yes"], 0)
    }

    /// The binary's calls that may have changed something since recording started.
    fn mutating_calls(&self) -> Vec<String> {
        self.moto
            .mutating_calls()
            .iter()
            .filter(|c| !c.by_harness)
            .map(RecordedCall::name)
            .collect()
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// --- counting resources ---------------------------------------------------------------

/// The addresses of the resources the profile owns (what an offline plan creates; an
/// adopted VPC and its subnets are read, not created), with their kinds.
fn stack_addresses(cloud: &Cloud, profile: &Path) -> BTreeMap<String, String> {
    let stdout = cloud.expect(
        &cloud.url(),
        profile,
        &["--output", "json", "plan", "--offline"],
        0,
    );
    let plan: Value = serde_json::from_str(&stdout).expect("plan JSON");
    plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] == "create")
        .map(|c| {
            (
                c["address"].as_str().unwrap_or_default().to_owned(),
                c["kind"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Every resource in moto tagged with a profile, by address: ids (or names) of each.
/// Read with moto's own API, service by service.
#[derive(Debug, Default, PartialEq, Eq)]
struct Inventory {
    by_address: BTreeMap<String, Vec<String>>,
    /// Pod CIDR associations per VPC of the profile (not taggable).
    pod_cidr_associations: usize,
}

impl Inventory {
    fn add(&mut self, tags: &[(String, String)], id: String, profile: &str) {
        if !tags.iter().any(|(k, v)| k == PROFILE_TAG && v == profile) {
            return;
        }
        let address = tags
            .iter()
            .find(|(k, _)| k == ADDRESS_TAG)
            .map_or_else(|| "(no address tag)".to_owned(), |(_, v)| v.clone());
        self.by_address.entry(address).or_default().push(id);
    }

    /// `adopted_vpc` is the VPC the profile adopts, if it does (it carries no tag).
    fn read(cloud: &Cloud, profile: &str, adopted_vpc: Option<&str>) -> Inventory {
        let moto = &cloud.moto;
        let mut inventory = Inventory::default();

        // EC2: every resource with the profile tag, then each one's address tag.
        let tagged = moto.ec2(
            "DescribeTags",
            &[
                ("Filter.1.Name", "key"),
                ("Filter.1.Value.1", PROFILE_TAG),
                ("Filter.2.Name", "value"),
                ("Filter.2.Value.1", profile),
            ],
        );
        let ids: BTreeSet<String> = item_leaves(&tagged, "resourceId").into_iter().collect();
        let addresses = moto.ec2(
            "DescribeTags",
            &[("Filter.1.Name", "key"), ("Filter.1.Value.1", ADDRESS_TAG)],
        );
        let address_of: BTreeMap<String, String> = item_leaves(&addresses, "resourceId")
            .into_iter()
            .zip(item_leaves(&addresses, "value"))
            .collect();
        // moto keeps the tags of some deleted resources: count only what still exists.
        let existing = existing_ec2_ids(moto);
        for id in ids {
            if !existing.contains(&id) {
                continue;
            }
            let tags = vec![
                (PROFILE_TAG.to_owned(), profile.to_owned()),
                (
                    ADDRESS_TAG.to_owned(),
                    address_of
                        .get(&id)
                        .cloned()
                        .unwrap_or_else(|| "(no address tag)".to_owned()),
                ),
            ];
            inventory.add(&tags, id, profile);
        }
        // The pod CIDR of the profile's own VPC or of the VPC it adopted (`vpc`).
        let mut vpc_filters = vec![
            ("Filter.1.Name".to_owned(), format!("tag:{PROFILE_TAG}")),
            ("Filter.1.Value.1".to_owned(), profile.to_owned()),
        ];
        if let Some(vpc) = adopted_vpc {
            vpc_filters = vec![("VpcId.1".to_owned(), vpc.to_owned())];
        }
        let vpc_filters: Vec<(&str, &str)> = vpc_filters
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        inventory.pod_cidr_associations =
            pod_cidr_associations(&moto.ec2("DescribeVpcs", &vpc_filters));

        // IAM: roles and customer-managed policies, with their tags.
        for name in xml_texts(&moto.iam("ListRoles", &[]), "RoleName") {
            let tags = key_values(&moto.iam("ListRoleTags", &[("RoleName", &name)]));
            inventory.add(&tags, format!("role/{name}"), profile);
        }
        let policies = moto.iam("ListPolicies", &[("Scope", "Local")]);
        for arn in xml_texts(&policies, "Arn") {
            let tags = key_values(&moto.iam("ListPolicyTags", &[("PolicyArn", &arn)]));
            inventory.add(&tags, arn, profile);
        }

        // EKS: clusters, node groups and addons.
        let clusters = moto.rest_json("eks", "GET", "/clusters", None);
        for cluster in string_list(&clusters["clusters"]) {
            let described = moto.rest_json("eks", "GET", &format!("/clusters/{cluster}"), None);
            inventory.add(
                &json_tags(&described["cluster"]["tags"]),
                format!("cluster/{cluster}"),
                profile,
            );
            let groups = moto.rest_json(
                "eks",
                "GET",
                &format!("/clusters/{cluster}/node-groups"),
                None,
            );
            for group in string_list(&groups["nodegroups"]) {
                let described = moto.rest_json(
                    "eks",
                    "GET",
                    &format!("/clusters/{cluster}/node-groups/{group}"),
                    None,
                );
                inventory.add(
                    &json_tags(&described["nodegroup"]["tags"]),
                    format!("nodegroup/{cluster}/{group}"),
                    profile,
                );
            }
        }
        for key in cloud.moto.addons() {
            let (cluster, name) = key.split_once('/').expect("cluster/addon");
            let addon = cloud.moto.addon(cluster, name).expect("a listed addon");
            inventory.add(&json_tags(&addon["tags"]), format!("addon/{key}"), profile);
        }

        // RDS: the cluster, its parameter group and subnet group, by ARN.
        let mut arns = Vec::new();
        arns.extend(xml_texts(
            &moto.rds("DescribeDBClusters", &[]),
            "DBClusterArn",
        ));
        arns.extend(xml_texts(
            &moto.rds("DescribeDBClusterParameterGroups", &[]),
            "DBClusterParameterGroupArn",
        ));
        arns.extend(xml_texts(
            &moto.rds("DescribeDBSubnetGroups", &[]),
            "DBSubnetGroupArn",
        ));
        arns.extend(xml_texts(
            &moto.rds("DescribeDBInstances", &[]),
            "DBInstanceArn",
        ));
        for arn in arns {
            let tags = key_values(&moto.rds("ListTagsForResource", &[("ResourceName", &arn)]));
            inventory.add(&tags, arn, profile);
        }

        // ECR repositories.
        let repositories = moto.json("ecr", &format!("{ECR}.DescribeRepositories"), &json!({}));
        for repository in repositories["repositories"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let arn = repository["repositoryArn"].as_str().unwrap_or_default();
            let tags = moto.json(
                "ecr",
                &format!("{ECR}.ListTagsForResource"),
                &json!({ "resourceArn": arn }),
            );
            inventory.add(&key_value_list(&tags["tags"]), arn.to_owned(), profile);
        }

        // DynamoDB tables (the run lock).
        let tables = moto.json("dynamodb", "DynamoDB_20120810.ListTables", &json!({}));
        for table in string_list(&tables["TableNames"]) {
            let described = moto.json(
                "dynamodb",
                "DynamoDB_20120810.DescribeTable",
                &json!({ "TableName": table }),
            );
            let arn = described["Table"]["TableArn"].as_str().unwrap_or_default();
            let tags = moto.json(
                "dynamodb",
                "DynamoDB_20120810.ListTagsOfResource",
                &json!({ "ResourceArn": arn }),
            );
            inventory.add(
                &key_value_list(&tags["Tags"]),
                format!("table/{table}"),
                profile,
            );
        }
        inventory
    }

    /// What is wrong with this inventory for a stack with `expected` addresses: missing
    /// resources, duplicates, and orphans (tagged with the profile, not in the stack).
    fn problems(&self, expected: &BTreeMap<String, String>, extra: &[&str]) -> Vec<String> {
        let mut problems = Vec::new();
        for (address, kind) in expected {
            if kind == "vpc_cidr_association" {
                continue;
            }
            match self.by_address.get(address).map(Vec::len) {
                Some(1) => {}
                None => problems.push(format!("missing: {address}")),
                Some(_) => problems.push(format!(
                    "duplicate: {address} {:?}",
                    self.by_address[address]
                )),
            }
        }
        for (address, ids) in &self.by_address {
            if !expected.contains_key(address) && !extra.contains(&address.as_str()) {
                problems.push(format!("orphan: {address} {ids:?}"));
            }
        }
        if expected.values().any(|k| k == "vpc_cidr_association") && self.pod_cidr_associations != 1
        {
            problems.push(format!(
                "the pod CIDR is associated {} times",
                self.pod_cidr_associations
            ));
        }
        problems
    }
}

/// Every resource of the kinds the stack makes, by kind and name, whoever owns it (tags
/// or no tags): names are deterministic, so each must occur once.
struct ByName {
    /// (kind, name) → ids.
    ids: BTreeMap<(String, String), Vec<String>>,
}

impl ByName {
    /// `vpc` is the profile's VPC: security group names are unique only within a VPC.
    fn read(moto: &Moto, vpc: Option<&str>) -> ByName {
        let mut ids: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        let mut put = |kind: &str, name: String, id: String| {
            ids.entry((kind.to_owned(), name)).or_default().push(id);
        };
        // EC2: the Name tag of every resource that exists, by the kind its id says.
        let existing = existing_ec2_ids(moto);
        let tags = moto.ec2(
            "DescribeTags",
            &[("Filter.1.Name", "key"), ("Filter.1.Value.1", "Name")],
        );
        for (id, name) in item_leaves(&tags, "resourceId")
            .into_iter()
            .zip(item_leaves(&tags, "value"))
        {
            if !existing.contains(&id) {
                continue;
            }
            let kind = match id.split('-').next().unwrap_or_default() {
                "vpc" => "vpc",
                "subnet" => "subnet",
                "igw" => "internet_gateway",
                "eipalloc" => "elastic_ip",
                "nat" => "nat_gateway",
                "rtb" => "route_table",
                "lt" => "launch_template",
                "vpce" => "vpc_endpoint",
                // Security groups by group name, below.
                _ => continue,
            };
            put(kind, name, id);
        }
        if let Some(vpc) = vpc {
            let xml = moto.ec2(
                "DescribeSecurityGroups",
                &[("Filter.1.Name", "vpc-id"), ("Filter.1.Value.1", vpc)],
            );
            for (id, name) in item_leaves(&xml, "groupId")
                .into_iter()
                .zip(item_leaves(&xml, "groupName"))
            {
                put("security_group", name, id);
            }
        }
        // IAM, EKS, RDS, ECR: by their own names.
        for name in xml_texts(&moto.iam("ListRoles", &[]), "RoleName") {
            put("iam_role", name.clone(), format!("role/{name}"));
        }
        let policies = moto.iam("ListPolicies", &[("Scope", "Local")]);
        for (name, arn) in xml_texts(&policies, "PolicyName")
            .into_iter()
            .zip(xml_texts(&policies, "Arn"))
        {
            put("iam_policy", name, arn);
        }
        let clusters = moto.rest_json("eks", "GET", "/clusters", None);
        for cluster in string_list(&clusters["clusters"]) {
            put("eks_cluster", cluster.clone(), format!("cluster/{cluster}"));
            let groups = moto.rest_json(
                "eks",
                "GET",
                &format!("/clusters/{cluster}/node-groups"),
                None,
            );
            for group in string_list(&groups["nodegroups"]) {
                put("node_group", group.clone(), format!("{cluster}/{group}"));
            }
        }
        for (kind, action, element) in [
            ("db_cluster", "DescribeDBClusters", "DBClusterIdentifier"),
            ("db_instance", "DescribeDBInstances", "DBInstanceIdentifier"),
            (
                "db_cluster_parameter_group",
                "DescribeDBClusterParameterGroups",
                "DBClusterParameterGroupName",
            ),
            (
                "db_parameter_group",
                "DescribeDBParameterGroups",
                "DBParameterGroupName",
            ),
            (
                "db_subnet_group",
                "DescribeDBSubnetGroups",
                "DBSubnetGroupName",
            ),
        ] {
            for name in xml_texts(&moto.rds(action, &[]), element) {
                put(kind, name.clone(), format!("{kind}/{name}"));
            }
        }
        let repositories = moto.json("ecr", &format!("{ECR}.DescribeRepositories"), &json!({}));
        for repository in repositories["repositories"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = repository["repositoryName"].as_str().unwrap_or_default();
            put("ecr_repository", name.to_owned(), name.to_owned());
        }
        ByName { ids }
    }

    /// The ids of the resources of `kind` named `name` (RDS names are stored lower-case),
    /// or `None` for a kind not counted by name.
    fn ids(&self, kind: &str, name: &str) -> Option<Vec<String>> {
        let counted = [
            "vpc",
            "subnet",
            "internet_gateway",
            "elastic_ip",
            "nat_gateway",
            "route_table",
            "launch_template",
            "vpc_endpoint",
            "security_group",
            "iam_role",
            "iam_policy",
            "eks_cluster",
            "node_group",
            "db_cluster",
            "db_instance",
            "db_cluster_parameter_group",
            "db_parameter_group",
            "db_subnet_group",
            "ecr_repository",
        ];
        if !counted.contains(&kind) {
            return None;
        }
        let name = if kind.starts_with("db_") {
            name.to_lowercase()
        } else {
            name.to_owned()
        };
        Some(
            self.ids
                .get(&(kind.to_owned(), name))
                .cloned()
                .unwrap_or_default(),
        )
    }
}

/// How many times 100.64.0.0/16 is associated with the VPCs of a `DescribeVpcs` answer.
fn pod_cidr_associations(xml: &str) -> usize {
    let mut cidr = String::new();
    let mut count = 0;
    for (path, text) in xml_leaves(xml) {
        if path.ends_with("/cidrBlockAssociationSet/item/cidrBlock") {
            cidr = text;
        } else if path.ends_with("/cidrBlockAssociationSet/item/cidrBlockState/state")
            && cidr == "100.64.0.0/16"
            && text == "associated"
        {
            count += 1;
        }
    }
    count
}

/// The texts of `element` directly under an `item` of the top-level set, leaving out
/// the same element nested deeper (a security group's rules name other groups).
fn item_leaves(xml: &str, element: &str) -> Vec<String> {
    xml_leaves(xml)
        .into_iter()
        .filter(|(path, _)| {
            let parts: Vec<&str> = path.split('/').collect();
            parts.len() == 4 && parts[2] == "item" && parts[3] == element
        })
        .map(|(_, text)| text)
        .collect()
}

/// The ids of every EC2 resource of the kinds the stack makes that exists now (NAT
/// gateways being deleted or deleted, which EC2 lists for a while, left out).
fn existing_ec2_ids(moto: &Moto) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for (action, element) in [
        ("DescribeVpcs", "vpcId"),
        ("DescribeSubnets", "subnetId"),
        ("DescribeInternetGateways", "internetGatewayId"),
        ("DescribeAddresses", "allocationId"),
        ("DescribeRouteTables", "routeTableId"),
        ("DescribeSecurityGroups", "groupId"),
        ("DescribeLaunchTemplates", "launchTemplateId"),
        ("DescribeVpcEndpoints", "vpcEndpointId"),
    ] {
        ids.extend(item_leaves(&moto.ec2(action, &[]), element));
    }
    let xml = moto.ec2("DescribeNatGateways", &[]);
    ids.extend(
        item_leaves(&xml, "natGatewayId")
            .into_iter()
            .zip(item_leaves(&xml, "state"))
            .filter(|(_, state)| state != "deleted" && state != "deleting")
            .map(|(id, _)| id),
    );
    ids
}

/// `Key`/`Value` pairs of an IAM or RDS tag list.
fn key_values(xml: &str) -> Vec<(String, String)> {
    xml_texts(xml, "Key")
        .into_iter()
        .zip(xml_texts(xml, "Value"))
        .collect()
}

/// `[{Key, Value}]` (DynamoDB) or `[{key, value}]` (ECR) as pairs.
fn key_value_list(value: &Value) -> Vec<(String, String)> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|tag| {
            let field = |a: &str, b: &str| {
                tag[a]
                    .as_str()
                    .or_else(|| tag[b].as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            (field("Key", "key"), field("Value", "value"))
        })
        .collect()
}

/// A JSON object of tags (EKS) as pairs.
fn json_tags(value: &Value) -> Vec<(String, String)> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

fn string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Asserts that every resource of the stack exists exactly once and that nothing else
/// carries the profile's tag (`extra` lists addresses outside the stack that may).
fn assert_converged(cloud: &Cloud, profile: &Path, name: &str, extra: &[&str], context: &str) {
    assert_converged_adopting(cloud, profile, name, None, extra, context);
}

fn assert_converged_adopting(
    cloud: &Cloud,
    profile: &Path,
    name: &str,
    adopted_vpc: Option<&str>,
    extra: &[&str],
    context: &str,
) {
    let expected = stack_addresses(cloud, profile);
    let inventory = Inventory::read(cloud, name, adopted_vpc);
    let mut problems = inventory.problems(&expected, extra);
    // Counted by tag, an untagged duplicate would go unseen: count by name as well.
    let vpc = adopted_vpc.map(str::to_owned).or_else(|| {
        inventory
            .by_address
            .get("network.vpc")
            .and_then(|ids| ids.first().cloned())
    });
    let names = planned_names(cloud, profile);
    let by_name = ByName::read(&cloud.moto, vpc.as_deref());
    let mut counted = 0;
    for (address, kind) in &expected {
        let Some(wanted) = names.get(address) else {
            continue;
        };
        let Some(ids) = by_name.ids(kind, wanted) else {
            continue;
        };
        counted += 1;
        if ids.len() != 1 {
            problems.push(format!(
                "by name: {address} ({kind} {wanted}) exists {} times: {ids:?}",
                ids.len()
            ));
        }
    }
    // Most of the stack is counted by name too (EKS addons and the pod CIDR are not).
    assert!(
        counted * 4 >= expected.len() * 3,
        "{context}: only {counted} of {} resources counted by name",
        expected.len()
    );
    assert!(
        problems.is_empty(),
        "{context}: the cloud does not hold the stack of {name} once:\n  {}\ninventory: {inventory:#?}",
        problems.join("\n  ")
    );
}

// --- tests ----------------------------------------------------------------------------

/// Runs every command that reads or writes what the profile describes, at `-vvv` in
/// `format`, against a fresh moto, and returns (what ran, the text it wrote) for each,
/// with the files it wrote under `out`.
fn secret_series(format: &str, out: &Path) -> (Vec<(String, String)>, Vec<String>) {
    let mut cloud = Cloud::start();
    // The Atlas side too, against a fake Atlas Admin API: with a service account in
    // one series and an API key in the other, so that both kinds of credential are used.
    let atlas = FakeAtlas::start_with_step(Duration::from_millis(100));
    if format == "text" {
        cloud.env = atlas.service_account_env();
    } else {
        cloud.env = atlas.api_key_env();
        cloud.unset = vec!["MONGODB_ATLAS_CLIENT_ID", "MONGODB_ATLAS_CLIENT_SECRET"];
    }
    let name = format!("secret-{format}");
    let text = format!(
        "{}atlas:\n  project_id: {PROJECT_ID}\n",
        profile_text(&name, "10.61.0.0/16")
    );
    let path = write_profile(out, &format!("{name}.yaml"), &text);
    let saved_plan = out.join("saved-plan.json");
    let offline_dir = out.join("rendered-offline");
    let live_dir = out.join("rendered-live");
    let arg = |p: &Path| p.to_string_lossy().into_owned();
    let commands: Vec<(Vec<String>, i32)> = vec![
        (vec!["validate".into()], 0),
        (vec!["plan".into(), "--offline".into()], 0),
        (
            vec![
                "render".into(),
                "--offline".into(),
                "--out-dir".into(),
                arg(&offline_dir),
            ],
            0,
        ),
        (vec!["plan".into()], 0),
        (vec!["plan".into(), "--out".into(), arg(&saved_plan)], 0),
        (vec!["up".into(), "--yes".into()], 0),
        (vec!["status".into()], 0),
        (vec!["outputs".into()], 0),
        (vec!["render".into(), "--out-dir".into(), arg(&live_dir)], 0),
        // A saved plan that no longer matches: refused, and the refusal shows values.
        (
            vec![
                "up".into(),
                "--yes".into(),
                "--plan".into(),
                arg(&saved_plan),
            ],
            1,
        ),
        (vec!["up".into(), "--yes".into()], 0),
    ];
    let mut written = Vec::new();
    let mut applied = false;
    for (args, code) in commands {
        let mut full: Vec<&str> = vec!["-vvv", "--output", format];
        full.extend(args.iter().map(String::as_str));
        let output = cloud.run(&cloud.url(), &path, &full);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(
            output.status.code(),
            Some(code),
            "{full:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
        if args[0] == "up" && code == 0 && !applied {
            applied = true;
            // Else this test would check nothing: the run is logged on stderr.
            assert!(
                stderr.contains("rds.cluster"),
                "{full:?}: progress and logs on stderr\n{stderr}"
            );
        }
        written.push((format!("{full:?} stdout"), stdout));
        written.push((format!("{full:?} stderr"), stderr));
    }
    assert!(saved_plan.is_file(), "plan --out wrote the plan");
    for dir in [&offline_dir, &live_dir] {
        let files = files_under(dir);
        assert!(
            files.iter().any(|f| f.ends_with("db-init-job.yaml")),
            "render wrote its files in {}: {files:?}",
            dir.display()
        );
    }
    for file in files_under(out) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).expect("read a written file"))
            .into_owned();
        written.push((file.display().to_string(), text));
    }
    assert!(
        atlas.tokens_issued() > 0 || format != "text",
        "the service account was used"
    );
    assert!(
        !atlas.services().is_empty(),
        "the Atlas side was made with the credentials"
    );
    (written, atlas.secrets())
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn no_secret_reaches_stdout_stderr_json_saved_plans_or_rendered_files() {
    // The text and the JSON series run side by side, each against its own moto.
    let text_dir = tempfile::tempdir().unwrap();
    let json_dir = tempfile::tempdir().unwrap();
    let (written, atlas_secrets) = std::thread::scope(|scope| {
        let text = scope.spawn(|| secret_series("text", text_dir.path()));
        let json = scope.spawn(|| secret_series("json", json_dir.path()));
        let (mut all, mut secrets) = text.join().expect("the text series");
        let (more, more_secrets) = json.join().expect("the JSON series");
        all.extend(more);
        secrets.extend(more_secrets);
        (all, secrets)
    });
    // The check itself can fail: a secret in a text is found.
    assert_eq!(
        leaks(&format!("x{KONG_PASSWORD}x")),
        vec!["RELY_KONG_PASSWORD"]
    );

    let found: Vec<String> = written
        .iter()
        .flat_map(|(what, text)| {
            let atlas = atlas_secrets
                .iter()
                .filter(|secret| text.contains(secret.as_str()))
                .map(|_| "an Atlas credential or token".to_owned());
            leaks(text)
                .into_iter()
                .chain(atlas)
                .map(move |secret| format!("{secret} in {what}"))
        })
        .collect();
    assert!(
        found.is_empty(),
        "secrets leaked:\n  {}",
        found.join("\n  ")
    );
    // The secret-bearing values were really in play: the profile takes the master
    // password from the environment, so `up` read it.
    assert!(
        written
            .iter()
            .any(|(what, text)| what.contains("db-init-secret.sh")
                && text.contains("RELY_KONG_PASSWORD")),
        "the rendered Secret script names the password variables (not their values)"
    );
}

#[test]
fn a_refused_master_password_is_named_by_its_variable_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let path = profile(dir.path(), "refused", "10.62.0.0/16");
    // `@` is a character RDS refuses in a master password.
    let bad = "Refused@Pw-4e9a2c7b";
    for format in ["text", "json"] {
        let output = crate::support::bpa_infra()
            .arg("-p")
            .arg(&path)
            .args(["-vvv", "--output", format, "up", "--yes"])
            .envs(SECRET_ENV)
            .env("RELY_MASTER_PASSWORD", bad)
            .output()
            .expect("run bpa-infra");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.status.code(), Some(65), "{text}");
        assert!(text.contains("RELY_MASTER_PASSWORD"), "{text}");
        assert!(!text.contains(bad), "the refused password is shown: {text}");
        assert!(
            !text.contains("Refused"),
            "part of the password is shown: {text}"
        );
    }
}

#[test]
fn plan_and_up_of_the_example_profile_on_a_converged_stack_make_no_mutating_call() {
    let cloud = Cloud::start();
    // The whole example profile, as shipped (network, IAM, EKS with its addons, RDS, ECR).
    let path = crate::support::root().join("profiles/example.yaml");

    // A plan against an empty cloud reads, and writes nothing.
    cloud.moto.start_recording();
    cloud.expect(&cloud.url(), &path, &["plan", "--detailed-exitcode"], 2);
    assert_eq!(
        cloud.mutating_calls(),
        Vec::<String>::new(),
        "plan of a new stack"
    );
    assert!(
        !cloud.moto.recording().is_empty(),
        "the plan read the cloud"
    );
    cloud.moto.stop_recording();

    cloud.up(&cloud.url(), &path);
    assert_converged(&cloud, &path, "example", &["lock.table"], "after up");

    cloud.moto.reset_recording();
    cloud.moto.start_recording();
    cloud.expect(&cloud.url(), &path, &["plan", "--detailed-exitcode"], 0);
    let plan = cloud.expect(&cloud.url(), &path, &["--output", "json", "plan"], 0);
    let plan: Value = serde_json::from_str(&plan).expect("plan JSON");
    let changes: Vec<&Value> = plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] != "no-op")
        .collect();
    assert!(
        changes.is_empty(),
        "a converged stack plans no change: {changes:#?}"
    );
    let stdout = cloud.up(&cloud.url(), &path);
    assert!(stdout.contains("No changes"), "{stdout}");
    cloud.expect(&cloud.url(), &path, &["status"], 0);
    let mutating = cloud.mutating_calls();
    let services: BTreeSet<String> = cloud
        .moto
        .recording()
        .iter()
        .filter(|c| !c.by_harness)
        .map(|c| c.service.clone())
        .collect();
    cloud.moto.stop_recording();
    assert_eq!(
        mutating,
        Vec::<String>::new(),
        "plan, up and status of a converged stack"
    );
    // Every component was read (and so could have been written).
    for service in ["ec2", "iam", "eks", "rds", "ecr"] {
        assert!(
            services.contains(service),
            "{service} was not read: {services:?}"
        );
    }
    assert!(!cloud.moto.addon_calls().is_empty(), "the addons were read");
}

/// The `name` each resource of the stack would get, by address, from the offline plan.
fn planned_names(cloud: &Cloud, profile: &Path) -> BTreeMap<String, String> {
    let stdout = cloud.expect(
        &cloud.url(),
        profile,
        &["--output", "json", "plan", "--offline"],
        0,
    );
    let plan: Value = serde_json::from_str(&stdout).expect("plan JSON");
    plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| {
            let name = c["diffs"]
                .as_array()?
                .iter()
                .find(|d| d["attribute"] == "name")?["after"]
                .as_str()?
                .to_owned();
            Some((c["address"].as_str()?.to_owned(), name))
        })
        .collect()
}

/// What EC2 says about one resource: its XML answer, or `None` when it is gone.
fn ec2_describe(moto: &Moto, action: &str, id_param: &str, id: &str) -> Option<String> {
    let request = crate::support::moto::query_request(
        &moto.endpoint_url(),
        "ec2",
        "2016-11-15",
        action,
        &[(id_param, id)],
    );
    let response = moto.send(&request);
    (response.status == 200).then(|| response.text())
}

#[test]
fn down_leaves_other_profiles_untagged_look_alikes_and_adopted_resources_alone() {
    let cloud = Cloud::start();
    let moto = &cloud.moto;
    let dir = tempfile::tempdir().unwrap();

    // Adopted: a VPC and its three node subnets, made outside the tool.
    let vpc = moto.create_vpc("10.40.0.0/16", &[("Name", "corporate")]);
    let subnets: Vec<(String, String, String)> = [
        ("us-west-2a", "10.40.0.0/19"),
        ("us-west-2b", "10.40.32.0/19"),
        ("us-west-2c", "10.40.64.0/19"),
    ]
    .into_iter()
    .map(|(az, cidr)| {
        let id = moto.create_subnet(&vpc, cidr, az, &[("Name", "corporate-private")]);
        (az.to_owned(), id, cidr.to_owned())
    })
    .collect();
    let mine = write_profile(
        dir.path(),
        "mine.yaml",
        &adopting_profile_text("mine", &vpc, "10.40.0.0/16", &subnets),
    );
    let adopted_before: Vec<String> =
        std::iter::once(moto.ec2("DescribeVpcs", &[("VpcId.1", &vpc)]))
            .chain(
                subnets
                    .iter()
                    .map(|(_, id, _)| moto.ec2("DescribeSubnets", &[("SubnetId.1", id)])),
            )
            .collect();

    // Another profile's resources.
    let other = profile(dir.path(), "other", "10.41.0.0/16");
    cloud.expect(
        &cloud.url(),
        &other,
        &["up", "--yes", "--only", "network,ecr"],
        0,
    );
    let other_before = Inventory::read(&cloud, "other", None);
    assert!(
        other_before.by_address.len() > 10,
        "the other profile has resources: {other_before:#?}"
    );

    cloud.up(&cloud.url(), &mine);
    assert_converged_adopting(
        &cloud,
        &mine,
        "mine",
        Some(&vpc),
        &["lock.table"],
        "after up",
    );

    // Look-alikes: untagged, in another VPC, with the names the tool gave its own.
    let names = planned_names(&cloud, &mine);
    let elsewhere = moto.create_vpc("10.42.0.0/16", &[("Name", "mine-vpc")]);
    let pod_subnet = &names["network.subnet[pod/us-west-2a]"];
    let lookalike_subnet = moto.create_subnet(
        &elsewhere,
        "10.42.0.0/24",
        "us-west-2a",
        &[("Name", pod_subnet)],
    );
    let mut lookalike_groups = Vec::new();
    for address in ["eks.node_security_group", "rds.security_group"] {
        let name = &names[address];
        let xml = moto.ec2(
            "CreateSecurityGroup",
            &[
                ("GroupName", name),
                ("GroupDescription", "not made by bpa-infra"),
                ("VpcId", &elsewhere),
            ],
        );
        lookalike_groups.push(xml_text(&xml, "groupId").expect("a group id"));
    }

    // And one inside the profile's own VPC: a subnet with the Name our pod subnet has,
    // without the ownership tags (a security group cannot share our group's name in
    // the same VPC).
    let inside = moto.create_subnet(&vpc, "10.40.96.0/24", "us-west-2a", &[("Name", pod_subnet)]);

    let stdout = cloud.expect(&cloud.url(), &mine, &["down", "--yes"], 0);

    // Everything the profile owned is gone...
    let left = Inventory::read(&cloud, "mine", Some(&vpc));
    assert_eq!(
        left,
        Inventory::default(),
        "down left resources of its own profile\n{stdout}"
    );
    // ... the adopted VPC and subnets are as they were, but for the pod CIDR (ours) ...
    let adopted_after: Vec<String> =
        std::iter::once(moto.ec2("DescribeVpcs", &[("VpcId.1", &vpc)]))
            .chain(
                subnets
                    .iter()
                    .map(|(_, id, _)| moto.ec2("DescribeSubnets", &[("SubnetId.1", id)])),
            )
            .collect();
    let settled = |xml: &str| -> Vec<(String, String)> {
        xml_leaves(xml)
            .into_iter()
            .filter(|(path, _)| {
                path.contains("/tagSet/")
                    || path.ends_with("/cidrBlock")
                    || path.ends_with("/vpcId")
                    || path.ends_with("/subnetId")
            })
            .filter(|(_, text)| text != "100.64.0.0/16")
            .collect()
    };
    for (before, after) in adopted_before.iter().zip(&adopted_after) {
        assert_eq!(
            settled(before),
            settled(after),
            "an adopted resource changed"
        );
    }
    assert_eq!(
        pod_cidr_associations(&adopted_after[0]),
        0,
        "the pod CIDR the profile added to the adopted VPC is removed"
    );
    // ... the other profile's resources are all there ...
    assert_eq!(
        Inventory::read(&cloud, "other", None),
        other_before,
        "down touched another profile's resources"
    );
    // ... and so are the look-alikes.
    assert!(ec2_describe(moto, "DescribeVpcs", "VpcId.1", &elsewhere).is_some());
    assert!(ec2_describe(moto, "DescribeSubnets", "SubnetId.1", &lookalike_subnet).is_some());
    let inside_after = ec2_describe(moto, "DescribeSubnets", "SubnetId.1", &inside);
    assert_eq!(
        inside_after
            .as_deref()
            .and_then(|x| xml_text(x, "subnetId")),
        Some(inside.clone()),
        "the look-alike subnet in the profile's own VPC was deleted\n{stdout}"
    );
    for group in &lookalike_groups {
        let xml = ec2_describe(moto, "DescribeSecurityGroups", "GroupId.1", group);
        assert!(
            xml.as_deref()
                .and_then(|x| xml_text(x, "groupId"))
                .as_deref()
                == Some(group),
            "look-alike security group {group} was deleted"
        );
    }
}

/// Runs `check` for each item on up to `parallel` threads and fails with every failure
/// (the item and why), so one bad seed does not hide another. What each passing item
/// did is printed (shown with `--nocapture`): the figures the README quotes.
#[allow(clippy::print_stderr)]
fn for_each_in_parallel<T: Sync + std::fmt::Debug>(
    items: &[T],
    parallel: usize,
    check: impl Fn(&T) -> Result<String, String> + Sync,
) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..parallel.min(items.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let outcome =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(item)))
                            .unwrap_or_else(|panic| {
                                Err(panic
                                    .downcast_ref::<String>()
                                    .cloned()
                                    .or_else(|| {
                                        panic.downcast_ref::<&str>().map(|s| (*s).to_owned())
                                    })
                                    .unwrap_or_else(|| "panicked".to_owned()))
                            });
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((format!("{item:?}"), outcome));
                }
            });
        }
    });
    let results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (item, outcome) in &results {
        if let Ok(summary) = outcome {
            eprintln!("{item}: {summary}");
        }
    }
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(item, outcome)| outcome.as_ref().err().map(|e| format!("{item}: {e}")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n\n{}",
        failures.len(),
        items.len(),
        failures.join("\n\n")
    );
}

#[test]
fn up_through_20_percent_faults_converges_with_every_resource_once_for_10_seeds() {
    let seeds: Vec<u64> = (1..=10).collect();
    for_each_in_parallel(&seeds, 5, |&seed| {
        let started = Instant::now();
        let cloud = Cloud::start();
        let dir = tempfile::tempdir().unwrap();
        let name = format!("fault{seed}");
        let path = profile(dir.path(), &name, "10.64.0.0/16");
        // Throttling, 500, 503 and dropped connections; the second half of the seeds
        // also drops the answer of calls that took effect, as a lost response does.
        let kinds: &[FaultKind] = if seed > 5 {
            &FaultKind::ALL
        } else {
            &FaultKind::STANDARD
        };
        let proxy = FaultProxy::start(
            &cloud.url(),
            FaultConfig::seeded(seed)
                .probability(0.2)
                .kinds(kinds)
                .latency(Duration::ZERO, Duration::from_millis(5))
                .max_consecutive_faults(3),
        );
        let output = cloud.run(&proxy.url(), &path, &["up", "--yes"]);
        let stats = proxy.stats();
        if output.status.code() != Some(0) {
            return Err(format!(
                "up exited {:?} after {} calls, {} faulted {:?}\n--- stdout\n{}\n--- stderr (tail)\n{}",
                output.status.code(),
                stats.total,
                stats.faulted,
                stats.by_fault,
                String::from_utf8_lossy(&output.stdout),
                tail(&String::from_utf8_lossy(&output.stderr), 40)
            ));
        }
        if stats.faulted == 0 {
            return Err(format!("no call was faulted: {stats:?}"));
        }
        assert_converged(
            &cloud,
            &path,
            &name,
            &["lock.table"],
            &format!("seed {seed}"),
        );
        Ok(format!(
            "converged in {:.1?}: {} calls, {} faulted {:?}",
            started.elapsed(),
            stats.total,
            stats.faulted,
            stats.by_fault
        ))
    });
}

/// Where the writes of a full `up` are, as call numbers at the proxy: the first write
/// (taking the run lock) and the first and last writes of the stack's resources.
fn write_span(cloud: &Cloud, profile: &Path) -> (u64, u64, u64) {
    let proxy = FaultProxy::start(&cloud.url(), FaultConfig::passthrough());
    cloud.up(&proxy.url(), profile);
    let writes: Vec<(u64, String)> = proxy
        .calls()
        .iter()
        .enumerate()
        .filter(|(_, c)| crate::support::moto::is_mutating(&c.operation, &c.method))
        .map(|(i, c)| (i as u64 + 1, c.service.clone()))
        .collect();
    let stack_writes: Vec<u64> = writes
        .iter()
        .filter(|(_, service)| service != "dynamodb")
        .map(|(i, _)| *i)
        .collect();
    (
        writes.first().expect("up made writes").0,
        *stack_writes.first().expect("up made resources"),
        *stack_writes.last().expect("up made resources"),
    )
}

#[test]
fn up_killed_at_10_points_is_finished_by_the_next_up_without_duplicates_or_orphans() {
    use std::os::unix::process::ExitStatusExt;

    // Where the writes are in a full run, measured once on a cloud of its own.
    let calibration = Cloud::start();
    let dir = tempfile::tempdir().unwrap();
    let path = profile(dir.path(), "crash", "10.65.0.0/16");
    let (lock, first, last) = write_span(&calibration, &path);
    drop(calibration);
    // Ten points, each in its own cloud: while the lock is being taken, then nine spread
    // from the first write of a resource to near the last.
    let mut points = vec![lock + 1];
    points.extend((0..9).map(|i| first + (last - first) * i / 9));

    for_each_in_parallel(&points, 5, |&point| {
        let cloud = Cloud::start();
        // Slowed down, so that the kill lands close to the chosen call.
        let proxy = FaultProxy::start(
            &cloud.url(),
            FaultConfig::seeded(point)
                .latency(Duration::from_millis(20), Duration::from_millis(10)),
        );
        let mut child = cloud
            .spawnable(&proxy.url(), &path, &["up", "--yes"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn bpa-infra up");
        let reached = proxy.wait_for_calls(point, Duration::from_secs(120));
        child.kill().expect("SIGKILL the binary");
        let status = child.wait().expect("reap the binary");
        let killed_at = proxy.stats().total;
        if !reached || status.signal() != Some(9) {
            return Err(format!(
                "the run was not killed mid-way at call {point}: reached {reached}, {status:?}"
            ));
        }
        let before = Inventory::read(&cloud, "crash", None);
        let made: usize = before.by_address.values().map(Vec::len).sum();
        // The kill must have left work undone, or this point tests no resume: a plan
        // (which takes no lock) still has changes.
        let plan = cloud.run(&cloud.url(), &path, &["plan", "--detailed-exitcode"]);
        if plan.status.code() != Some(2) {
            return Err(format!(
                "the run killed at call {killed_at} (aimed at {point}) left nothing to do: plan exited {:?}\n{}",
                plan.status.code(),
                String::from_utf8_lossy(&plan.stdout)
            ));
        }

        // A run killed while holding the lock leaves it behind: the next run refuses,
        // names the dead holder, and takes it over only when told to.
        let left_lock = lock_item(&cloud.moto, "crash");
        if let Some(item) = &left_lock {
            let pid = child.id().to_string();
            if item["pid"]["N"].as_str() != Some(pid.as_str()) {
                return Err(format!("the lock left is not the killed run's: {item}"));
            }
            let output = cloud.run(&cloud.url(), &path, &["up", "--yes"]);
            let stderr = String::from_utf8_lossy(&output.stderr);
            if output.status.code() != Some(1)
                || !stderr.contains(&format!("pid {pid}"))
                || !stderr.contains("--take-over-stale-lock")
            {
                return Err(format!(
                    "an up without --take-over-stale-lock did not refuse the dead run's lock: {:?}\n{stderr}",
                    output.status.code()
                ));
            }
        }
        let output = cloud.run(
            &cloud.url(),
            &path,
            &["up", "--yes", "--take-over-stale-lock"],
        );
        if output.status.code() != Some(0) {
            return Err(format!(
                "the second up exited {:?}\n--- stdout\n{}\n--- stderr (tail)\n{}",
                output.status.code(),
                String::from_utf8_lossy(&output.stdout),
                tail(&String::from_utf8_lossy(&output.stderr), 40)
            ));
        }
        assert_converged(
            &cloud,
            &path,
            "crash",
            &["lock.table"],
            &format!("killed at call {point}"),
        );
        if lock_item(&cloud.moto, "crash").is_some() {
            return Err("the lock is still held after the run finished".to_owned());
        }
        Ok(format!(
            "killed at call {killed_at} (aimed at {point}) with {made} resources made{}; the next up converged",
            if left_lock.is_some() {
                ", holding the lock"
            } else {
                ""
            }
        ))
    });
}

/// The lock item of `profile` as DynamoDB returns it, or `None` (no table or no lock).
fn lock_item(moto: &Moto, profile: &str) -> Option<Value> {
    let request = crate::support::moto::json_request(
        &moto.endpoint_url(),
        "dynamodb",
        "DynamoDB_20120810.GetItem",
        &json!({
            "TableName": format!("{profile}-bpa-infra-lock"),
            "Key": { "lock_name": { "S": "run" } },
            "ConsistentRead": true,
        }),
    );
    let response = moto.send(&request);
    if response.status != 200 {
        return None;
    }
    let answer: Value = serde_json::from_slice(&response.body).ok()?;
    answer.get("Item").cloned()
}

/// This machine's name as the binary records it in a lock.
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .expect("the host name (Linux /proc)")
}

fn wait_until<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_runs_at_once_do_not_interleave_and_a_stale_lock_is_taken_over_only_when_asked() {
    let cloud = Cloud::start();
    let dir = tempfile::tempdir().unwrap();
    let path = profile(dir.path(), "locked", "10.66.0.0/16");

    // The first run is slowed down so that it holds the lock for a while.
    let slow = FaultProxy::start(
        &cloud.url(),
        FaultConfig::seeded(1).latency(Duration::from_millis(200), Duration::ZERO),
    );
    let first = cloud
        .spawnable(&slow.url(), &path, &["up", "--yes"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the first up");
    let pid = first.id().to_string();
    let held = wait_until(Duration::from_secs(120), || {
        lock_item(&cloud.moto, "locked")
    })
    .expect("the first run takes the lock");
    assert_eq!(held["pid"]["N"].as_str(), Some(pid.as_str()), "{held}");
    assert_eq!(held["command"]["S"], "up", "{held}");
    assert_eq!(
        held["host"]["S"].as_str(),
        Some(this_host().as_str()),
        "{held}"
    );

    // A second run refuses at once, naming the holder and since when.
    let second = cloud.run(&cloud.url(), &path, &["up", "--yes"]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("pid {pid} on host {}", this_host())),
        "{stderr}"
    );
    assert!(stderr.contains("since 20"), "{stderr}");
    assert!(stderr.contains("--lock-wait"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&second.stdout).contains("Done"),
        "the refused run applied nothing"
    );

    // A third one waits for the lock, plans again, and finds the work done.
    let third = cloud.run(
        &cloud.url(),
        &path,
        &["--output", "json", "up", "--yes", "--lock-wait", "300"],
    );
    let first = first.wait_with_output().expect("the first up ends");
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stderr = String::from_utf8_lossy(&third.stderr);
    assert_eq!(third.status.code(), Some(0), "{stderr}");
    let waited: Value = stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["event"] == "lock_waiting")
        .unwrap_or_else(|| panic!("the third run says it waits: {stderr}"));
    assert_eq!(
        waited["holder"]["pid"].as_u64(),
        pid.parse().ok(),
        "{waited}"
    );
    // stdout holds the plan made before the lock, then the summary (docs/json.md): the
    // plan made again under the lock had nothing left to do, so the run did nothing.
    let summary: Value = serde_json::Deserializer::from_slice(&third.stdout)
        .into_iter::<Value>()
        .filter_map(Result::ok)
        .last()
        .expect("the third run's JSON");
    assert!(
        summary["resources"].as_array().is_some_and(Vec::is_empty)
            && summary["counts"]["succeeded"] == 0,
        "the third run, planning again under the lock, has nothing left to do: {summary:#}"
    );
    assert_converged(&cloud, &path, "locked", &["lock.table"], "after three runs");
    assert_eq!(
        lock_item(&cloud.moto, "locked"),
        None,
        "the lock is released"
    );

    // A lock left by a run that is gone (its process on this host has ended).
    cloud.moto.json(
        "dynamodb",
        "DynamoDB_20120810.PutItem",
        &json!({
            "TableName": "locked-bpa-infra-lock",
            "Item": {
                "lock_name": { "S": "run" },
                "token": { "S": "left-by-a-killed-run" },
                "host": { "S": this_host() },
                "pid": { "N": pid },
                "command": { "S": "up" },
                "acquired_at": { "S": "2026-01-02T03:04:05Z" },
                "heartbeat_at": { "S": "2026-01-02T03:04:05Z" },
            },
        }),
    );
    let refused = cloud.run(&cloud.url(), &path, &["down", "--yes"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("pid {pid}")), "{stderr}");
    assert!(stderr.contains("since 2026-01-02 03:04:05 UTC"), "{stderr}");
    assert!(stderr.contains("stale"), "{stderr}");
    assert!(stderr.contains("--take-over-stale-lock"), "{stderr}");
    assert!(
        !Inventory::read(&cloud, "locked", None)
            .by_address
            .is_empty(),
        "the refused down deleted nothing"
    );
    assert_converged(
        &cloud,
        &path,
        "locked",
        &["lock.table"],
        "after a refused down",
    );

    let stdout = cloud.expect(
        &cloud.url(),
        &path,
        &["down", "--yes", "--take-over-stale-lock"],
        0,
    );
    // Everything is gone, the lock's table included.
    assert_eq!(
        Inventory::read(&cloud, "locked", None),
        Inventory::default(),
        "{stdout}"
    );
}
