//! `up`, `plan` and `down` of the RDS and ECR components against moto: what the
//! database and the repositories look like once created (checked with moto's own API,
//! not through the binary), that a second run changes nothing, how changes are
//! planned, and that teardown is safe.
//!
//! moto facts these tests live with (docs/aws-facts.md, "The emulator"): Multi-AZ DB clusters are ready at
//! once and report no members; a cluster's final snapshot is taken whenever one is named
//! (`SkipFinalSnapshot` is not read); re-creating the same DB
//! cluster id within a minute fails, so each test uses its own moto and creates once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::moto::{Moto, RecordedCall, xml_leaves, xml_text, xml_texts};
use crate::support::write_profile;

const ECR: &str = "AmazonEC2ContainerRegistry_V20150921";

/// A profile whose database is protected and backed up for 7 days, as in the runbook.
/// `{storage}` and `{rds_extra}` let a test change one setting.
fn profile_text(storage: &str, rds_extra: &str) -> String {
    format!(
        r#"apiVersion: bpa-infra/v1
name: rdstest
region: us-west-2
tags: {{ team: bpa }}
network:
  vpc: {{ cidr: 10.30.0.0/16 }}
  availability_zones: [us-west-2a, us-west-2b, us-west-2c]
eks:
  version: "1.35"
  node_groups:
    - {{ name: node-1, instance_type: m5.xlarge, data_volume: {{ size_gib: 100 }} }}
rds:
  engine_version: "16.4"
  instance_class: db.m5d.large
  storage: {storage}
  deletion_protection: true
  backup_retention_days: 7
{rds_extra}
ecr:
  repositories: [bpa/ui, bpa/bpm]
  lifecycle: {{ expire_untagged_after_days: 14, keep_last_tagged: 50 }}
"#
    )
}

const IO2: &str = "{ type: io2, size_gib: 400, iops: 3000 }";

fn profile(dir: &Path, storage: &str, rds_extra: &str) -> PathBuf {
    write_profile(dir, "rdstest.yaml", &profile_text(storage, rds_extra))
}

/// Runs `bpa-infra -p PROFILE ARGS...` against moto and returns (exit code, stdout, stderr).
fn run(moto: &Moto, profile: &Path, args: &[&str]) -> (i32, String, String) {
    run_via(moto, &moto.endpoint_url(), profile, args)
}

/// Like [`run`], with the binary pointed at `url` (a proxy in front of the emulator).
fn run_via(moto: &Moto, url: &str, profile: &Path, args: &[&str]) -> (i32, String, String) {
    let output = moto
        .bpa_infra_via(url)
        .arg("-p")
        .arg(profile)
        .args(args)
        .output()
        .expect("run bpa-infra");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn run_ok(moto: &Moto, profile: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = run(moto, profile, args);
    assert_eq!(
        code, 0,
        "bpa-infra {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

fn up(moto: &Moto, profile: &Path) {
    run_ok(moto, profile, &["up", "--only", "rds,ecr", "--yes"]);
}

/// The JSON plan of `rds,ecr`.
fn plan_json(moto: &Moto, profile: &Path) -> Value {
    let stdout = run_ok(
        moto,
        profile,
        &["--output", "json", "plan", "--only", "rds,ecr"],
    );
    serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("plan JSON ({err}):\n{stdout}"))
}

/// (address, action, attributes changed) of every change that is not a no-op.
fn changes(plan: &Value) -> Vec<(String, String, Vec<String>)> {
    plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] != "no-op")
        .map(|c| {
            let attributes = c["diffs"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .map(|d| d["attribute"].as_str().unwrap_or_default().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            (
                c["address"].as_str().unwrap_or_default().to_owned(),
                c["action"].as_str().unwrap_or_default().to_owned(),
                attributes,
            )
        })
        .collect()
}

fn binary_mutations(moto: &Moto) -> Vec<String> {
    moto.mutating_calls()
        .iter()
        .filter(|c| !c.by_harness)
        .map(RecordedCall::name)
        .collect()
}

/// The value of `path`'s leaf (e.g. `.../DBCluster/DeletionProtection`) in `xml`.
fn leaf(xml: &str, suffix: &str) -> Option<String> {
    xml_leaves(xml)
        .into_iter()
        .find(|(p, _)| p.ends_with(suffix))
        .map(|(_, t)| t)
}

fn node_subnet_cidrs(moto: &Moto) -> BTreeSet<String> {
    ["us-west-2a", "us-west-2b", "us-west-2c"]
        .iter()
        .map(|zone| {
            // By name: moto reads filter values as globs, and addresses hold `[`…`]`.
            let name = format!("rdstest-node-{zone}");
            let xml = moto.ec2(
                "DescribeSubnets",
                &[("Filter.1.Name", "tag:Name"), ("Filter.1.Value.1", &name)],
            );
            xml_text(&xml, "cidrBlock").unwrap_or_else(|| panic!("no node subnet in {zone}: {xml}"))
        })
        .collect()
}

fn cluster_xml(moto: &Moto) -> String {
    moto.rds(
        "DescribeDBClusters",
        &[("DBClusterIdentifier", "rdstest-bpa")],
    )
}

/// The identifiers of the test cluster's snapshots, and moto's answer for messages.
fn cluster_snapshots(moto: &Moto) -> (Vec<String>, String) {
    let snapshots = moto.rds(
        "DescribeDBClusterSnapshots",
        &[("DBClusterIdentifier", "rdstest-bpa")],
    );
    (
        xml_texts(&snapshots, "DBClusterSnapshotIdentifier"),
        snapshots,
    )
}

/// Fails unless moto holds no DB cluster at all.
fn assert_no_db_cluster(moto: &Moto) {
    let clusters = moto.rds("DescribeDBClusters", &[]);
    assert!(
        xml_texts(&clusters, "DBClusterIdentifier").is_empty(),
        "{clusters}"
    );
}

fn lifecycle(moto: &Moto, repository: &str) -> Value {
    let answer = moto.json(
        "ecr",
        &format!("{ECR}.GetLifecyclePolicy"),
        &json!({ "repositoryName": repository }),
    );
    serde_json::from_str(answer["lifecyclePolicyText"].as_str().expect("policy text"))
        .expect("policy JSON")
}

#[test]
fn up_builds_the_database_and_repositories_and_a_second_run_changes_nothing() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let path = profile(dir.path(), IO2, "");
    up(&moto, &path);

    // The parameter group holds md5.
    let params = moto.rds(
        "DescribeDBClusterParameters",
        &[("DBClusterParameterGroupName", "rdstest-bpa-params")],
    );
    let names = xml_texts(&params, "ParameterName");
    let values = xml_texts(&params, "ParameterValue");
    let md5 = names
        .iter()
        .zip(&values)
        .find(|(n, _)| *n == "password_encryption");
    assert_eq!(md5.map(|(_, v)| v.as_str()), Some("md5"), "{params}");
    let group = moto.rds(
        "DescribeDBClusterParameterGroups",
        &[("DBClusterParameterGroupName", "rdstest-bpa-params")],
    );
    assert_eq!(
        xml_text(&group, "DBParameterGroupFamily").as_deref(),
        Some("postgres16")
    );

    // The security group lets in PostgreSQL from the pods and the nodes, and nothing else.
    let groups = moto.ec2(
        "DescribeSecurityGroups",
        &[
            ("Filter.1.Name", "group-name"),
            ("Filter.1.Value.1", "rdstest-rds"),
        ],
    );
    let ingress: Vec<(String, String)> = xml_leaves(&groups)
        .into_iter()
        .filter(|(p, _)| p.contains("/ipPermissions/"))
        .collect();
    let ports: BTreeSet<&str> = ingress
        .iter()
        .filter(|(p, _)| p.ends_with("/fromPort") || p.ends_with("/toPort"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(ports, BTreeSet::from(["5432"]), "{groups}");
    let protocols: BTreeSet<&str> = ingress
        .iter()
        .filter(|(p, _)| p.ends_with("/ipProtocol"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(protocols, BTreeSet::from(["tcp"]), "{groups}");
    let sources: BTreeSet<String> = ingress
        .iter()
        .filter(|(p, _)| p.ends_with("/cidrIp"))
        .map(|(_, v)| v.clone())
        .collect();
    let mut expected = node_subnet_cidrs(&moto);
    expected.insert("100.64.0.0/16".to_owned());
    assert_eq!(sources, expected, "{groups}");
    assert!(
        !ingress
            .iter()
            .any(|(p, _)| p.contains("/groups/") || p.ends_with("/cidrIpv6")),
        "{groups}"
    );
    let group_id = xml_text(&groups, "groupId").expect("the RDS security group exists");

    // The cluster uses them, is encrypted, protected, and keeps 7 days of backups.
    let cluster = cluster_xml(&moto);
    assert_eq!(
        leaf(&cluster, "/DBClusterParameterGroup").as_deref(),
        Some("rdstest-bpa-params"),
        "{cluster}"
    );
    assert_eq!(
        leaf(&cluster, "/DBSubnetGroup").as_deref(),
        Some("rdstest-bpa-subnets"),
        "{cluster}"
    );
    assert_eq!(
        leaf(&cluster, "/StorageEncrypted").as_deref(),
        Some("true"),
        "{cluster}"
    );
    assert_eq!(
        leaf(&cluster, "/DeletionProtection").as_deref(),
        Some("true"),
        "{cluster}"
    );
    assert_eq!(
        leaf(&cluster, "/BackupRetentionPeriod").as_deref(),
        Some("7"),
        "{cluster}"
    );
    assert_eq!(
        leaf(&cluster, "/Engine").as_deref(),
        Some("postgres"),
        "{cluster}"
    );
    assert_eq!(
        leaf(&cluster, "/DBClusterInstanceClass").as_deref(),
        Some("db.m5d.large"),
        "{cluster}"
    );
    assert_eq!(
        leaf(&cluster, "/StorageType").as_deref(),
        Some("io2"),
        "{cluster}"
    );
    assert_eq!(
        leaf(&cluster, "/VpcSecurityGroupId").as_deref(),
        Some(group_id.as_str()),
        "{cluster}"
    );
    assert_eq!(
        leaf(&cluster, "/PubliclyAccessible").as_deref(),
        Some("false"),
        "{cluster}"
    );
    assert_eq!(
        leaf(&cluster, "/CopyTagsToSnapshot").as_deref(),
        Some("true"),
        "{cluster}"
    );
    assert!(
        leaf(&cluster, "/MasterUserSecret/SecretArn").is_some(),
        "the master password is managed: {cluster}"
    );
    let subnets = moto.rds(
        "DescribeDBSubnetGroups",
        &[("DBSubnetGroupName", "rdstest-bpa-subnets")],
    );
    assert_eq!(
        xml_texts(&subnets, "SubnetIdentifier").len(),
        3,
        "{subnets}"
    );

    // The repositories exist with their lifecycle policies.
    for repository in ["bpa/ui", "bpa/bpm"] {
        let described = moto.json(
            "ecr",
            &format!("{ECR}.DescribeRepositories"),
            &json!({ "repositoryNames": [repository] }),
        );
        let repo = &described["repositories"][0];
        assert_eq!(
            repo["imageScanningConfiguration"]["scanOnPush"], true,
            "{repo}"
        );
        assert_eq!(repo["imageTagMutability"], "MUTABLE", "{repo}");
        let policy = lifecycle(&moto, repository);
        assert_eq!(
            policy["rules"][0]["selection"]["tagStatus"], "untagged",
            "{policy}"
        );
        assert_eq!(
            policy["rules"][0]["selection"]["countNumber"], 14,
            "{policy}"
        );
        assert_eq!(
            policy["rules"][1]["selection"]["countType"], "imageCountMoreThan",
            "{policy}"
        );
        assert_eq!(
            policy["rules"][1]["selection"]["countNumber"], 50,
            "{policy}"
        );
    }

    // A second plan shows no change and makes no mutating call; a second up neither.
    moto.start_recording();
    let plan = plan_json(&moto, &path);
    assert_eq!(changes(&plan), vec![], "{plan:#}");
    let (code, stdout, stderr) = run(
        &moto,
        &path,
        &["plan", "--only", "rds,ecr", "--detailed-exitcode"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    up(&moto, &path);
    assert_eq!(binary_mutations(&moto), Vec::<String>::new());
}

#[test]
fn outputs_show_the_database_endpoints_secret_and_repository_uris() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let path = profile(dir.path(), IO2, "");
    up(&moto, &path);
    let cluster = cluster_xml(&moto);
    let writer = leaf(&cluster, "/Endpoint").expect("a writer endpoint");
    let reader = leaf(&cluster, "/ReaderEndpoint").expect("a reader endpoint");
    assert_ne!(writer, reader);
    let secret = leaf(&cluster, "/MasterUserSecret/SecretArn").expect("a master secret");

    let stdout = run_ok(&moto, &path, &["--output", "json", "outputs"]);
    let document: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|err| panic!("outputs JSON ({err}):\n{stdout}"));
    let outputs = &document["outputs"];
    assert_eq!(outputs["db_identifier"], "rdstest-bpa", "{outputs:#}");
    assert_eq!(
        outputs["db_writer_endpoint"],
        writer.as_str(),
        "{outputs:#}"
    );
    assert_eq!(
        outputs["db_reader_endpoint"],
        reader.as_str(),
        "{outputs:#}"
    );
    assert_eq!(outputs["db_port"], 5432, "{outputs:#}");
    assert_eq!(
        outputs["db_master_secret_arn"],
        secret.as_str(),
        "{outputs:#}"
    );
    for repository in ["bpa/ui", "bpa/bpm"] {
        let described = moto.json(
            "ecr",
            &format!("{ECR}.DescribeRepositories"),
            &json!({ "repositoryNames": [repository] }),
        );
        let uri = described["repositories"][0]["repositoryUri"]
            .as_str()
            .expect("a repository URI");
        assert!(
            uri.ends_with(&format!(".dkr.ecr.us-west-2.amazonaws.com/{repository}")),
            "{uri}"
        );
        assert_eq!(outputs["repository_uris"][repository], uri, "{outputs:#}");
    }

    // The text form says the same, a line each.
    let text = run_ok(&moto, &path, &["outputs"]);
    assert!(
        text.lines()
            .any(|l| l == format!("db_writer_endpoint = {writer}")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == format!("db_reader_endpoint = {reader}")),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "db_port = 5432"), "{text}");
}

/// Extra CIDRs of the profile are let in too, and dropping one later plans an update
/// of the security group only.
#[test]
fn extra_cidrs_reach_the_database_and_are_kept_in_step_with_the_profile() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let path = profile(
        dir.path(),
        IO2,
        "  allowed_cidrs: [10.99.0.0/24, 192.168.10.0/24]",
    );
    up(&moto, &path);
    let sources = |moto: &Moto| -> BTreeSet<String> {
        let groups = moto.ec2(
            "DescribeSecurityGroups",
            &[
                ("Filter.1.Name", "group-name"),
                ("Filter.1.Value.1", "rdstest-rds"),
            ],
        );
        xml_leaves(&groups)
            .into_iter()
            .filter(|(p, _)| p.contains("/ipPermissions/") && p.ends_with("/cidrIp"))
            .map(|(_, v)| v)
            .collect()
    };
    let mut expected = node_subnet_cidrs(&moto);
    expected.extend(["100.64.0.0/16", "10.99.0.0/24", "192.168.10.0/24"].map(str::to_owned));
    assert_eq!(sources(&moto), expected);

    let path = profile(dir.path(), IO2, "  allowed_cidrs: [10.99.0.0/24]");
    let plan = plan_json(&moto, &path);
    assert_eq!(
        changes(&plan),
        vec![(
            "rds.security_group".to_owned(),
            "update".to_owned(),
            vec!["ingress".to_owned()]
        )],
        "{plan:#}"
    );
    up(&moto, &path);
    expected.remove("192.168.10.0/24");
    assert_eq!(sources(&moto), expected);
}

#[test]
fn a_changed_setting_plans_exactly_that_update() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let path = profile(dir.path(), IO2, "");
    up(&moto, &path);

    let path = profile(dir.path(), IO2, "  password_encryption: scram-sha-256");
    assert_eq!(
        changes(&plan_json(&moto, &path)),
        vec![(
            "rds.parameter_group".to_owned(),
            "update".to_owned(),
            vec!["parameters.password_encryption".to_owned()]
        )]
    );

    let text =
        profile_text(IO2, "").replace("backup_retention_days: 7", "backup_retention_days: 14");
    let path = write_profile(dir.path(), "rdstest.yaml", &text);
    let plan = plan_json(&moto, &path);
    assert_eq!(
        changes(&plan),
        vec![(
            "rds.cluster".to_owned(),
            "update".to_owned(),
            vec!["backup_retention_period".to_owned()]
        )],
        "{plan:#}"
    );

    // io2 → gp3 with its IOPS: RDS changes it in place (a long storage optimization).
    let path = profile(dir.path(), "{ type: gp3, size_gib: 400, iops: 3000 }", "");
    let plan = plan_json(&moto, &path);
    assert_eq!(
        changes(&plan),
        vec![(
            "rds.cluster".to_owned(),
            "update".to_owned(),
            vec!["storage_type".to_owned()]
        )],
        "{plan:#}"
    );
    let reason = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "rds.cluster")
        .and_then(|c| c["reason"].as_str())
        .unwrap_or_else(|| panic!("the update says what RDS does: {plan:#}"));
    assert!(
        reason.starts_with("storage_type: RDS changes the storage type in place")
            && reason.contains("optimized")
            && reason.contains("6 hours"),
        "{reason}"
    );
    let text = run_ok(&moto, &path, &["plan", "--only", "rds,ecr"]);
    assert!(
        text.lines().any(|l| l.contains("rds.cluster")
            && l.contains("will be updated in place: storage_type: RDS changes")),
        "{text}"
    );

    // Without IOPS RDS refuses it: the plan says so, with the reason.
    let path = profile(dir.path(), "{ type: gp3, size_gib: 400 }", "");
    let (code, stdout, stderr) = run(&moto, &path, &["plan", "--only", "rds,ecr"]);
    assert_ne!(code, 0, "{stdout}\n{stderr}");
    let text = format!("{stdout}\n{stderr}");
    assert!(text.contains("rds.cluster"), "{text}");
    assert!(text.contains("storage_type"), "{text}");
    assert!(text.contains("set rds.storage.iops"), "{text}");

    // Applying the backup change changes exactly that.
    let text =
        profile_text(IO2, "").replace("backup_retention_days: 7", "backup_retention_days: 14");
    let path = write_profile(dir.path(), "rdstest.yaml", &text);
    moto.start_recording();
    up(&moto, &path);
    // Besides the run lock (a conditional put and its release in the lock table),
    // the only write is the change itself.
    let writes: Vec<String> = binary_mutations(&moto)
        .into_iter()
        .filter(|op| !op.starts_with("dynamodb:"))
        .collect();
    assert_eq!(writes, vec!["rds:ModifyDBCluster".to_owned()]);
    assert_eq!(
        leaf(&cluster_xml(&moto), "/BackupRetentionPeriod").as_deref(),
        Some("14")
    );
}

#[test]
fn down_keeps_a_protected_database_and_with_the_flag_leaves_a_final_snapshot() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let path = profile(dir.path(), IO2, "");
    up(&moto, &path);

    // Refused while deletion protection is on, before anything is deleted.
    moto.start_recording();
    let (code, stdout, stderr) = run(&moto, &path, &["down", "--only", "rds", "--yes"]);
    assert_ne!(code, 0, "down must refuse\n{stdout}\n{stderr}");
    let text = format!("{stdout}\n{stderr}");
    assert!(text.contains("rdstest-bpa"), "{text}");
    assert!(text.contains("--disable-deletion-protection"), "{text}");
    assert_eq!(
        binary_mutations(&moto),
        Vec::<String>::new(),
        "a refused down deletes nothing"
    );
    assert_eq!(
        leaf(&cluster_xml(&moto), "/DeletionProtection").as_deref(),
        Some("true")
    );

    // With the flag it turns protection off, deletes, and keeps a final snapshot.
    let (code, stdout, stderr) = run(
        &moto,
        &path,
        &[
            "down",
            "--only",
            "rds",
            "--yes",
            "--disable-deletion-protection",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (names, snapshots) = cluster_snapshots(&moto);
    let final_snapshot = names
        .iter()
        .find(|n| n.starts_with("rdstest-bpa-final-"))
        .unwrap_or_else(|| panic!("no final snapshot: {snapshots}"));
    let stamp = final_snapshot.trim_start_matches("rdstest-bpa-final-");
    assert!(
        stamp.len() == 14 && stamp.chars().all(|c| c.is_ascii_digit()),
        "{final_snapshot}"
    );
    assert!(
        format!("{stdout}\n{stderr}").contains(final_snapshot.as_str()),
        "the snapshot is reported:\n{stdout}\n{stderr}"
    );
    let mutations = binary_mutations(&moto);
    let order: Vec<&str> = mutations
        .iter()
        .map(String::as_str)
        .filter(|m| ["rds:ModifyDBCluster", "rds:DeleteDBCluster"].contains(m))
        .collect();
    assert_eq!(
        order,
        vec!["rds:ModifyDBCluster", "rds:DeleteDBCluster"],
        "{mutations:?}"
    );

    assert_no_db_cluster(&moto);
    let groups = moto.rds("DescribeDBClusterParameterGroups", &[]);
    assert!(
        !xml_texts(&groups, "DBClusterParameterGroupName")
            .contains(&"rdstest-bpa-params".to_owned()),
        "{groups}"
    );
    let subnet_groups = moto.rds("DescribeDBSubnetGroups", &[]);
    assert!(
        !xml_texts(&subnet_groups, "DBSubnetGroupName").contains(&"rdstest-bpa-subnets".to_owned())
    );
    let security_groups = moto.ec2(
        "DescribeSecurityGroups",
        &[
            ("Filter.1.Name", "group-name"),
            ("Filter.1.Value.1", "rdstest-rds"),
        ],
    );
    assert!(
        xml_texts(&security_groups, "groupId").is_empty(),
        "{security_groups}"
    );
}

#[test]
fn down_with_skip_final_snapshot_deletes_the_database_and_leaves_no_snapshot() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let path = profile(dir.path(), IO2, "");
    up(&moto, &path);

    moto.start_recording();
    let (code, stdout, stderr) = run(
        &moto,
        &path,
        &[
            "down",
            "--only",
            "rds",
            "--yes",
            "--disable-deletion-protection",
            "--skip-final-snapshot",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // moto takes a cluster's final snapshot exactly when one is named in the request;
    // the automated ones (`rds:…`) it keeps of every cluster are not ours.
    let (names, snapshots) = cluster_snapshots(&moto);
    let manual: Vec<String> = names
        .into_iter()
        .filter(|n| !n.starts_with("rds:"))
        .collect();
    assert_eq!(manual, Vec::<String>::new(), "{snapshots}");
    let text = format!("{stdout}\n{stderr}");
    assert!(!text.contains("rdstest-bpa-final-"), "{text}");
    assert!(
        binary_mutations(&moto).contains(&"rds:DeleteDBCluster".to_owned()),
        "{text}"
    );
    assert_no_db_cluster(&moto);
}

#[test]
fn down_keeps_repositories_with_images_and_a_protected_database_unless_told_and_then_removes_everything()
 {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let path = profile(dir.path(), IO2, "");
    up(&moto, &path);
    moto.json(
        "ecr",
        &format!("{ECR}.PutImage"),
        &json!({
            "repositoryName": "bpa/ui",
            "imageTag": "1.0.0",
            "imageManifest": json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000"},
                "layers": []
            }).to_string(),
        }),
    );
    moto.start_recording();
    let (code, stdout, stderr) = run_via(&moto, &moto.endpoint_url(), &path, &["down", "--yes"]);
    assert_ne!(code, 0, "down must refuse\n{stdout}\n{stderr}");
    let text = format!("{stdout}\n{stderr}");
    assert!(text.contains("bpa/ui"), "{text}");
    assert!(text.contains("--force-delete-images"), "{text}");
    // Both obstacles are named in the one refusal.
    assert!(text.contains("rdstest-bpa"), "{text}");
    assert!(text.contains("--disable-deletion-protection"), "{text}");
    assert_eq!(
        binary_mutations(&moto),
        Vec::<String>::new(),
        "a refused down deletes nothing"
    );

    let (code, stdout, stderr) = run_via(
        &moto,
        &moto.endpoint_url(),
        &path,
        &[
            "down",
            "--yes",
            "--force-delete-images",
            "--disable-deletion-protection",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (names, snapshots) = cluster_snapshots(&moto);
    let final_snapshot = names
        .iter()
        .find(|n| n.starts_with("rdstest-bpa-final-"))
        .unwrap_or_else(|| panic!("no final snapshot: {snapshots}"));
    assert!(
        format!("{stdout}\n{stderr}").contains(final_snapshot.as_str()),
        "the snapshot is reported:\n{stdout}\n{stderr}"
    );
    let repositories = moto.json("ecr", &format!("{ECR}.DescribeRepositories"), &json!({}));
    assert_eq!(
        repositories["repositories"].as_array().map(Vec::len),
        Some(0),
        "{repositories}"
    );
    assert_no_db_cluster(&moto);
    let vpcs = moto.ec2(
        "DescribeVpcs",
        &[
            ("Filter.1.Name", "tag:bpa-infra:profile"),
            ("Filter.1.Value.1", "rdstest"),
        ],
    );
    assert!(xml_texts(&vpcs, "vpcId").is_empty(), "{vpcs}");
    let groups = moto.rds("DescribeDBClusterParameterGroups", &[]);
    assert!(
        !xml_texts(&groups, "DBClusterParameterGroupName")
            .contains(&"rdstest-bpa-params".to_owned()),
        "{groups}"
    );
    let subnet_groups = moto.rds("DescribeDBSubnetGroups", &[]);
    assert!(
        !xml_texts(&subnet_groups, "DBSubnetGroupName").contains(&"rdstest-bpa-subnets".to_owned()),
        "{subnet_groups}"
    );
    let deletes: Vec<String> = binary_mutations(&moto)
        .into_iter()
        .filter(|m| m == "rds:DeleteDBCluster")
        .collect();
    assert_eq!(deletes.len(), 1);
}

#[test]
fn a_database_rds_would_reject_is_refused_by_plan_and_up_before_any_write() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();

    // db.t3.medium is orderable for PostgreSQL, but only as a DB instance.
    let text = profile_text(IO2, "").replace("db.m5d.large", "db.t3.medium");
    let path = write_profile(dir.path(), "rdstest.yaml", &text);
    moto.start_recording();
    let (code, stdout, stderr) = run(&moto, &path, &["plan", "--only", "rds,ecr"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("rds.cluster"), "{stdout}");
    assert!(
        stdout.contains(
            "db.t3.medium is orderable for PostgreSQL 16.4, but not as a Multi-AZ DB cluster"
        ),
        "{stdout}"
    );
    assert!(moto.catalogue_reads() > 0, "the checks read the catalogue");
    let (code, stdout, _) = run(
        &moto,
        &path,
        &["--output", "json", "plan", "--only", "rds,ecr"],
    );
    assert_eq!(code, 1);
    // The plan, then the error document.
    let plan: Value = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .next()
        .expect("a plan document")
        .unwrap();
    let conflicts: Vec<&str> = plan["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert_eq!(conflicts, vec!["rds.cluster"], "{plan:#}");

    // A version RDS does not offer is named, with the versions of its line.
    let text = profile_text(IO2, "").replace("\"16.4\"", "\"16.99\"");
    let path = write_profile(dir.path(), "rdstest.yaml", &text);
    let (code, stdout, stderr) = run(&moto, &path, &["plan", "--only", "rds,ecr"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "RDS does not offer PostgreSQL 16.99 in this region; versions offered: 16.3, 16.4, 16.6"
        ),
        "{stdout}"
    );

    // `up` refuses it before any write.
    moto.start_recording();
    let (code, stdout, stderr) = run(&moto, &path, &["up", "--only", "rds,ecr", "--yes"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        format!("{stdout}\n{stderr}").contains("conflict"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(binary_mutations(&moto), Vec::<String>::new());

    // An update to a class RDS cannot run as a cluster is checked as a create is.
    let path = profile(dir.path(), IO2, "");
    up(&moto, &path);
    let text = profile_text(IO2, "").replace("db.m5d.large", "db.t3.medium");
    let path = write_profile(dir.path(), "rdstest.yaml", &text);
    moto.reset_recording();
    let (code, stdout, stderr) = run(&moto, &path, &["up", "--only", "rds,ecr", "--yes"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("not as a Multi-AZ DB cluster"), "{stdout}");
    assert_eq!(binary_mutations(&moto), Vec::<String>::new());
}

fn instance_xml(moto: &Moto) -> String {
    moto.rds(
        "DescribeDBInstances",
        &[("DBInstanceIdentifier", "rdstest-bpa")],
    )
}

/// The `multi-az-instance` mode: one Multi-AZ DB instance with an instance parameter
/// group, built, checked, left alone by a second run, and torn down safely.
#[test]
fn a_multi_az_db_instance_is_built_kept_and_torn_down_like_the_cluster() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let text = profile_text("{ type: gp3, size_gib: 100 }", "  mode: multi-az-instance")
        .replace("db.m5d.large", "db.m5.large");
    let path = write_profile(dir.path(), "rdstest.yaml", &text);
    up(&moto, &path);

    // An instance parameter group of the version's family, holding md5.
    let group = moto.rds(
        "DescribeDBParameterGroups",
        &[("DBParameterGroupName", "rdstest-bpa-params")],
    );
    assert_eq!(
        xml_text(&group, "DBParameterGroupFamily").as_deref(),
        Some("postgres16"),
        "{group}"
    );
    let params = moto.rds(
        "DescribeDBParameters",
        &[("DBParameterGroupName", "rdstest-bpa-params")],
    );
    let names = xml_texts(&params, "ParameterName");
    let values = xml_texts(&params, "ParameterValue");
    let md5 = names
        .iter()
        .zip(&values)
        .find(|(n, _)| *n == "password_encryption");
    assert_eq!(md5.map(|(_, v)| v.as_str()), Some("md5"), "{params}");
    let clusters = moto.rds("DescribeDBClusters", &[]);
    assert!(
        xml_texts(&clusters, "DBClusterIdentifier").is_empty(),
        "no DB cluster in this mode: {clusters}"
    );

    // The instance: Multi-AZ, with that group and the subnet group, encrypted,
    // protected, 7 days of backups, private, its password in Secrets Manager.
    let instance = instance_xml(&moto);
    for (suffix, want) in [
        ("/MultiAZ", "true"),
        ("/DBParameterGroupName", "rdstest-bpa-params"),
        ("/DBSubnetGroup/DBSubnetGroupName", "rdstest-bpa-subnets"),
        ("/StorageEncrypted", "true"),
        ("/DeletionProtection", "true"),
        ("/BackupRetentionPeriod", "7"),
        ("/PubliclyAccessible", "false"),
        ("/CopyTagsToSnapshot", "true"),
        ("/DBInstanceClass", "db.m5.large"),
        ("/StorageType", "gp3"),
        ("/AllocatedStorage", "100"),
        ("/Engine", "postgres"),
    ] {
        assert_eq!(
            leaf(&instance, suffix).as_deref(),
            Some(want),
            "{suffix}: {instance}"
        );
    }
    let secret =
        leaf(&instance, "/MasterUserSecret/SecretArn").expect("the master password is managed");
    let endpoint = leaf(&instance, "/Endpoint/Address").expect("an endpoint");

    // `outputs` names the endpoint, the port and the secret.
    let stdout = run_ok(&moto, &path, &["outputs"]);
    assert!(stdout.contains(&endpoint), "{stdout}");
    assert!(stdout.contains(&secret), "{stdout}");
    assert!(stdout.contains("5432"), "{stdout}");

    // A second plan shows no change; a second up makes no write.
    moto.start_recording();
    let plan = plan_json(&moto, &path);
    assert_eq!(changes(&plan), vec![], "{plan:#}");
    up(&moto, &path);
    assert_eq!(binary_mutations(&moto), Vec::<String>::new());

    // A changed parameter is an update of the instance parameter group only.
    let changed = profile_text(
        "{ type: gp3, size_gib: 100 }",
        "  mode: multi-az-instance\n  password_encryption: scram-sha-256",
    )
    .replace("db.m5d.large", "db.m5.large");
    let changed = write_profile(dir.path(), "changed.yaml", &changed);
    assert_eq!(
        changes(&plan_json(&moto, &changed)),
        vec![(
            "rds.parameter_group".to_owned(),
            "update".to_owned(),
            vec!["parameters.password_encryption".to_owned()]
        )]
    );

    // down is refused while protection is on; with the flag, a final snapshot stays.
    moto.reset_recording();
    let (code, stdout, stderr) = run(&moto, &path, &["down", "--only", "rds", "--yes"]);
    assert_ne!(code, 0, "down must refuse\n{stdout}\n{stderr}");
    assert!(
        format!("{stdout}\n{stderr}").contains("--disable-deletion-protection"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(binary_mutations(&moto), Vec::<String>::new());
    let (code, stdout, stderr) = run(
        &moto,
        &path,
        &[
            "down",
            "--only",
            "rds",
            "--yes",
            "--disable-deletion-protection",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let mutations = binary_mutations(&moto);
    let order: Vec<&str> = mutations
        .iter()
        .map(String::as_str)
        .filter(|m| ["rds:ModifyDBInstance", "rds:DeleteDBInstance"].contains(m))
        .collect();
    assert_eq!(
        order,
        vec!["rds:ModifyDBInstance", "rds:DeleteDBInstance"],
        "{mutations:?}"
    );
    let snapshots = moto.rds(
        "DescribeDBSnapshots",
        &[("DBInstanceIdentifier", "rdstest-bpa")],
    );
    let names = xml_texts(&snapshots, "DBSnapshotIdentifier");
    let final_snapshot = names
        .iter()
        .find(|n| n.starts_with("rdstest-bpa-final-"))
        .unwrap_or_else(|| panic!("no final snapshot: {snapshots}"));
    assert!(
        format!("{stdout}\n{stderr}").contains(final_snapshot.as_str()),
        "the snapshot is reported:\n{stdout}\n{stderr}"
    );
    let instances = moto.rds("DescribeDBInstances", &[]);
    assert!(
        xml_texts(&instances, "DBInstanceIdentifier").is_empty(),
        "{instances}"
    );
    let groups = moto.rds("DescribeDBParameterGroups", &[]);
    assert!(
        !xml_texts(&groups, "DBParameterGroupName").contains(&"rdstest-bpa-params".to_owned()),
        "{groups}"
    );
}

/// Changes made behind the tool's back (console, CLI) are found and repaired: a
/// parameter of the group, a repository's lifecycle policy and scan setting. A policy
/// that says the same in other JSON is not a change.
#[test]
fn drift_in_parameters_and_repositories_is_planned_and_repaired() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let path = profile(
        dir.path(),
        IO2,
        "  parameters: { max_connections: \"500\" }",
    );
    up(&moto, &path);

    // The same policy, its keys in another order and spaced out: no change.
    let policy = lifecycle(&moto, "bpa/ui");
    let rules: Vec<String> = policy["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| {
            let fields: Vec<String> = rule
                .as_object()
                .unwrap()
                .iter()
                .rev()
                .map(|(k, v)| format!("{}: {v}", json!(k)))
                .collect();
            format!("{{ {} }}", fields.join(", "))
        })
        .collect();
    let reordered = format!("{{\n  \"rules\": [\n    {}\n  ]\n}}", rules.join(",\n    "));
    assert_eq!(serde_json::from_str::<Value>(&reordered).unwrap(), policy);
    assert_ne!(reordered, policy.to_string());
    moto.json(
        "ecr",
        &format!("{ECR}.PutLifecyclePolicy"),
        &json!({ "repositoryName": "bpa/ui", "lifecyclePolicyText": reordered }),
    );
    let stored = moto.json(
        "ecr",
        &format!("{ECR}.GetLifecyclePolicy"),
        &json!({ "repositoryName": "bpa/ui" }),
    );
    assert_eq!(stored["lifecyclePolicyText"], reordered.as_str());
    assert_eq!(changes(&plan_json(&moto, &path)), vec![]);

    // Real drift: two parameters, and the other repository's policy and scanning.
    moto.rds(
        "ModifyDBClusterParameterGroup",
        &[
            ("DBClusterParameterGroupName", "rdstest-bpa-params"),
            (
                "Parameters.Parameter.1.ParameterName",
                "password_encryption",
            ),
            ("Parameters.Parameter.1.ParameterValue", "scram-sha-256"),
            ("Parameters.Parameter.1.ApplyMethod", "immediate"),
            ("Parameters.Parameter.2.ParameterName", "max_connections"),
            ("Parameters.Parameter.2.ParameterValue", "100"),
            ("Parameters.Parameter.2.ApplyMethod", "pending-reboot"),
        ],
    );
    let mut drifted = lifecycle(&moto, "bpa/bpm");
    drifted["rules"][1]["selection"]["countNumber"] = json!(5);
    moto.json(
        "ecr",
        &format!("{ECR}.PutLifecyclePolicy"),
        &json!({ "repositoryName": "bpa/bpm", "lifecyclePolicyText": drifted.to_string() }),
    );
    moto.json(
        "ecr",
        &format!("{ECR}.PutImageScanningConfiguration"),
        &json!({ "repositoryName": "bpa/bpm", "imageScanningConfiguration": { "scanOnPush": false } }),
    );

    let plan = plan_json(&moto, &path);
    let mut planned = changes(&plan);
    planned.sort();
    assert_eq!(
        planned,
        vec![
            (
                "ecr.repository[bpa/bpm]".to_owned(),
                "update".to_owned(),
                vec!["lifecycle_policy".to_owned(), "scan_on_push".to_owned()]
            ),
            (
                "rds.parameter_group".to_owned(),
                "update".to_owned(),
                vec![
                    "parameters.max_connections".to_owned(),
                    "parameters.password_encryption".to_owned()
                ]
            ),
        ],
        "{plan:#}"
    );
    // max_connections is static: the group's update takes effect after a reboot.
    let group = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "rds.parameter_group")
        .unwrap();
    assert_eq!(group["needs_reboot"], true, "{group:#}");
    let text = run_ok(&moto, &path, &["plan", "--only", "rds,ecr"]);
    assert!(
        text.lines().any(|l| l.contains("rds.parameter_group")
            && l.contains("updated in place, takes effect after a reboot")),
        "{text}"
    );

    // up repairs all of it; what it wrote reads back, and nothing is left to do.
    up(&moto, &path);
    let params = moto.rds(
        "DescribeDBClusterParameters",
        &[("DBClusterParameterGroupName", "rdstest-bpa-params")],
    );
    let names = xml_texts(&params, "ParameterName");
    let values = xml_texts(&params, "ParameterValue");
    let value_of = |name: &str| {
        names
            .iter()
            .zip(&values)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(value_of("password_encryption").as_deref(), Some("md5"));
    assert_eq!(value_of("max_connections").as_deref(), Some("500"));
    assert_eq!(
        lifecycle(&moto, "bpa/bpm")["rules"][1]["selection"]["countNumber"],
        50
    );
    let described = moto.json(
        "ecr",
        &format!("{ECR}.DescribeRepositories"),
        &json!({ "repositoryNames": ["bpa/bpm"] }),
    );
    assert_eq!(
        described["repositories"][0]["imageScanningConfiguration"]["scanOnPush"],
        true
    );
    assert_eq!(changes(&plan_json(&moto, &path)), vec![]);
}
