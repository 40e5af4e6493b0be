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
//! moto lacks EKS addons and the cluster security group EKS makes: as in `network_eks`,
//! the binary talks to moto through the [`EksStandIn`], which provides those two.
//! Resources are counted with moto's own API ([`Inventory`]), never through the binary.

#[allow(dead_code)]
#[path = "network_eks/eks_stand_in.rs"]
mod eks_stand_in;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::moto::{Moto, RecordedCall, xml_leaves, xml_texts};
use crate::support::write_profile;
use eks_stand_in::EksStandIn;

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
  storage: {{ type: gp3, size_gib: 100 }}
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

fn profile(dir: &Path, name: &str, vpc_cidr: &str) -> PathBuf {
    write_profile(dir, &format!("{name}.yaml"), &profile_text(name, vpc_cidr))
}

// --- the cloud ------------------------------------------------------------------------

/// One moto behind the EKS stand-in.
struct Cloud {
    moto: Moto,
    eks: EksStandIn,
}

impl Cloud {
    fn start() -> Cloud {
        let moto = Moto::start();
        let eks = EksStandIn::in_front_of(&moto);
        Cloud { moto, eks }
    }

    /// The endpoint the binary talks to when no proxy is in the way.
    fn url(&self) -> String {
        self.eks.url()
    }

    /// `bpa-infra -p PROFILE ARGS...` against `url`, with every secret in its environment.
    fn command(&self, url: &str, profile: &Path, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = self.moto.bpa_infra_via(url);
        cmd.arg("-p").arg(profile).arg("--no-color");
        cmd.args(args);
        for (var, value) in SECRET_ENV {
            cmd.env(var, value);
        }
        cmd.timeout(RUN_TIMEOUT);
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

    /// The binary's calls that may have changed something since recording started, in
    /// moto and in the stand-in (addons).
    fn mutating_calls(&self) -> Vec<String> {
        let mut calls: Vec<String> = self
            .moto
            .mutating_calls()
            .iter()
            .filter(|c| !c.by_harness)
            .map(RecordedCall::name)
            .collect();
        calls.extend(self.eks.mutating_addon_calls());
        calls
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// --- counting resources ---------------------------------------------------------------

/// The addresses the stack of `profile` has, with their kinds, from the offline plan.
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

    fn read(cloud: &Cloud, profile: &str) -> Inventory {
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
        let gone_nat = gone_nat_gateways(moto);
        for id in ids {
            if gone_nat.contains(&id) {
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
        let vpcs = moto.ec2(
            "DescribeVpcs",
            &[
                ("Filter.1.Name", &format!("tag:{PROFILE_TAG}")),
                ("Filter.1.Value.1", profile),
            ],
        );
        inventory.pod_cidr_associations = xml_leaves(&vpcs)
            .windows(2)
            .filter(|w| {
                w[0].0
                    .ends_with("cidrBlockAssociationSet/item/associationId")
                    && w[1].1 == "100.64.0.0/16"
            })
            .count();

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

        // EKS: clusters and node groups in moto, addons in the stand-in.
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
        for key in cloud.eks.addons() {
            let (cluster, name) = key.split_once('/').expect("cluster/addon");
            let addon = cloud.eks.addon(cluster, name).expect("a listed addon");
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

/// NAT gateways moto still lists although deleted (as AWS does for a while).
fn gone_nat_gateways(moto: &Moto) -> BTreeSet<String> {
    let xml = moto.ec2("DescribeNatGateways", &[]);
    item_leaves(&xml, "natGatewayId")
        .into_iter()
        .zip(item_leaves(&xml, "state"))
        .filter(|(_, state)| state == "deleted" || state == "deleting")
        .map(|(id, _)| id)
        .collect()
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
    let expected = stack_addresses(cloud, profile);
    let inventory = Inventory::read(cloud, name);
    let problems = inventory.problems(&expected, extra);
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
fn secret_series(format: &str, out: &Path) -> Vec<(String, String)> {
    let cloud = Cloud::start();
    let name = format!("secret-{format}");
    let path = profile(out, &name, "10.61.0.0/16");
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
    written
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
    let written = std::thread::scope(|scope| {
        let text = scope.spawn(|| secret_series("text", text_dir.path()));
        let json = scope.spawn(|| secret_series("json", json_dir.path()));
        let mut all = text.join().expect("the text series");
        all.extend(json.join().expect("the JSON series"));
        all
    });
    // The check itself can fail: a secret in a text is found.
    assert_eq!(
        leaks(&format!("x{KONG_PASSWORD}x")),
        vec!["RELY_KONG_PASSWORD"]
    );

    let found: Vec<String> = written
        .iter()
        .flat_map(|(what, text)| {
            leaks(text)
                .into_iter()
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
fn plan_and_up_on_a_converged_stack_make_no_mutating_call() {
    let cloud = Cloud::start();
    let dir = tempfile::tempdir().unwrap();
    let path = profile(dir.path(), "quiet", "10.63.0.0/16");

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
    assert_converged(&cloud, &path, "quiet", &["lock.table"], "after up");

    cloud.moto.reset_recording();
    cloud.moto.start_recording();
    cloud.eks.forget_calls();
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
    assert!(!cloud.eks.addon_calls().is_empty(), "the addons were read");
}
