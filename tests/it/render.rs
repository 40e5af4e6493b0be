//! `render` through the real binary.

use predicates::prelude::*;

use crate::support::bpa_infra;
use crate::support::moto::Moto;

const FILES: &[&str] = &[
    "bpm-ingress.yaml",
    "bpm-service.yaml",
    "db-init-job.yaml",
    "db-init-secret.sh",
    "eniconfigs.yaml",
    "ingress-tls-secret.sh",
    "kie-server-config.yaml",
    "values-overlay.yaml",
];

#[test]
fn offline_render_needs_no_credentials_and_prints_the_written_paths() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = bpa_infra()
        .args(["-p", "prod-us-west-2", "render", "--offline", "--out-dir"])
        .arg(out_dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let printed: Vec<&str> = stdout.lines().collect();
    let expected: Vec<String> = FILES
        .iter()
        .map(|f| out_dir.path().join(f).display().to_string())
        .collect();
    assert_eq!(printed, expected);
    for file in FILES {
        assert!(out_dir.path().join(file).is_file(), "{file}");
    }
    assert!(stderr.contains("placeholders (--offline)"), "{stderr}");
    assert!(stderr.contains("no password is rendered"), "{stderr}");

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out_dir.path().join("db-init-secret.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "scripts are executable");

    // The scripts are valid shell.
    for script in ["db-init-secret.sh", "ingress-tls-secret.sh"] {
        let check = std::process::Command::new("bash")
            .arg("-n")
            .arg(out_dir.path().join(script))
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

#[test]
fn offline_render_as_json_lists_files_and_placeholders() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = bpa_infra()
        .args([
            "-p",
            "example",
            "--output",
            "json",
            "render",
            "--offline",
            "--out-dir",
        ])
        .arg(out_dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["profile"], "example");
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), FILES.len());
    let values = files
        .iter()
        .find(|f| f["template"] == "values-overlay.yaml.j2")
        .unwrap();
    assert!(
        values["unknowns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u.as_str().unwrap().contains("RDS writer endpoint"))
    );
}

#[test]
fn without_offline_and_without_credentials_it_fails_with_a_hint() {
    let out_dir = tempfile::tempdir().unwrap();
    bpa_infra()
        .args(["-p", "example", "render", "--out-dir"])
        .arg(out_dir.path())
        // No instance metadata lookup: nothing but loopback is reached from tests.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--offline"));
}

#[test]
fn a_templates_directory_overrides_the_built_in_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bpm-service.yaml.j2"),
        "kind: Service\nmetadata:\n  name: {{ service.name }}-custom\n",
    )
    .unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    bpa_infra()
        .args(["-p", "example", "render", "--offline", "--templates"])
        .arg(dir.path())
        .arg("--out-dir")
        .arg(out_dir.path())
        .assert()
        .success();
    let service = std::fs::read_to_string(out_dir.path().join("bpm-service.yaml")).unwrap();
    assert!(service.contains("bpm-service-custom"));

    std::fs::write(dir.path().join("broken.yaml.j2"), "a: {{ nope }}\n").unwrap();
    bpa_infra()
        .args(["-p", "example", "render", "--offline", "--templates"])
        .arg(dir.path())
        .arg("--out-dir")
        .arg(out_dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("broken.yaml.j2"));
}

#[test]
fn live_render_reads_outputs_from_aws_without_changing_anything() {
    let moto = Moto::start();
    example_repositories_and_cluster(&moto, "example");
    moto.start_recording();
    let (out, out_dir) = render_example(&moto);
    assert!(
        out.status.success(),
        "{}\nmoto log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        moto.log()
    );
    assert_eq!(moto.mutating_calls(), vec![]);

    let values: serde_json::Value = serde_yaml::from_str(
        &std::fs::read_to_string(out_dir.path().join("values-overlay.yaml")).unwrap(),
    )
    .unwrap();
    let registry = values["image"]["registry"].as_str().unwrap();
    assert!(
        registry.ends_with(".dkr.ecr.us-west-2.amazonaws.com"),
        "{registry}"
    );
    assert_eq!(
        values["image"]["repositories"]["bpa/ui"],
        format!("{registry}/bpa/ui")
    );
    let host = values["database"]["host"].as_str().unwrap();
    assert!(host.starts_with("example-bpa.cluster-"), "{host}");
    assert_eq!(values["database"]["port"], 5432);

    let script = std::fs::read_to_string(out_dir.path().join("db-init-secret.sh")).unwrap();
    assert!(
        script.contains("secret_arn='arn:aws:secretsmanager:us-west-2:"),
        "{script}"
    );
    // No EKS cluster in this account yet: its values stay placeholders.
    let eni = std::fs::read_to_string(out_dir.path().join("eniconfigs.yaml")).unwrap();
    assert!(
        eni.contains("<unknown: EKS cluster security group"),
        "{eni}"
    );
}

/// Creates the example profile's repositories and DB cluster as `up` would, tagged as
/// owned by profile `owner`.
fn example_repositories_and_cluster(moto: &Moto, owner: &str) {
    example_repositories(moto, owner);
    example_cluster(moto, owner);
}

/// Creates the example profile's repositories as `up` would, owned by profile `owner`.
fn example_repositories(moto: &Moto, owner: &str) {
    for repo in ["bpa/ui", "bpa/bpm"] {
        moto.json(
            "ecr",
            "AmazonEC2ContainerRegistry_V20150921.CreateRepository",
            &serde_json::json!({
                "repositoryName": repo,
                "tags": [{ "Key": "bpa-infra:profile", "Value": owner }],
            }),
        );
    }
}

/// Creates the example profile's DB cluster as `up` would, owned by profile `owner`.
fn example_cluster(moto: &Moto, owner: &str) {
    moto.create_db_cluster("example-bpa", "bpaadmin", Some(owner));
}

/// Runs a live `render` of the example profile into a new directory, returned with the
/// command's output.
fn render_example(moto: &Moto) -> (std::process::Output, tempfile::TempDir) {
    let out_dir = tempfile::tempdir().unwrap();
    let out = moto
        .bpa_infra()
        .args(["-p", "example", "render", "--out-dir"])
        .arg(out_dir.path())
        .output()
        .unwrap();
    (out, out_dir)
}

/// Runs a live `render` of the example profile that must fail, and returns its stderr.
fn failed_render(moto: &Moto) -> String {
    let (out, out_dir) = render_example(moto);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(
        std::fs::read_dir(out_dir.path()).unwrap().count(),
        0,
        "nothing is rendered from another profile's resources"
    );
    stderr
}

/// Creates an EKS cluster named like the example profile's, without tags, in subnets of
/// two zones (as EKS requires).
fn untagged_example_eks_cluster(moto: &Moto) {
    let vpc = moto.create_vpc("10.99.0.0/16", &[]);
    let subnets = [
        moto.create_subnet(&vpc, "10.99.0.0/20", "us-west-2a", &[]),
        moto.create_subnet(&vpc, "10.99.16.0/20", "us-west-2b", &[]),
    ];
    let cluster = serde_json::json!({
        "name": "example",
        "roleArn": "arn:aws:iam::123456789012:role/theirs",
        "resourcesVpcConfig": { "subnetIds": subnets },
    });
    moto.rest_json("eks", "POST", "/clusters", Some(&cluster));
}

#[test]
fn live_render_refuses_a_cluster_database_or_repository_of_the_same_name_it_does_not_own() {
    let cases: [(fn(&Moto), [&str; 3]); 3] = [
        (
            |moto| example_cluster(moto, "staging"),
            [
                "DB cluster `example-bpa` exists but is not profile `example`'s",
                "its bpa-infra:profile tag is `staging`",
                "set another `rds.identifier`",
            ],
        ),
        (
            |moto| example_repositories(moto, "staging"),
            [
                "ECR repository `bpa/",
                "its bpa-infra:profile tag is `staging`",
                "name others in `ecr.repositories`",
            ],
        ),
        (
            untagged_example_eks_cluster,
            [
                "EKS cluster `example` exists but is not profile `example`'s",
                "it has no bpa-infra:profile tag",
                "give the profile another `name`",
            ],
        ),
    ];
    for (create, expected) in cases {
        let moto = Moto::start();
        create(&moto);
        let stderr = failed_render(&moto);
        for part in expected {
            assert!(stderr.contains(part), "{part}:\n{stderr}");
        }
    }
}

/// A profile of its own VPC with an `atlas:` section (`atlas`) and, when `host` is
/// given, `ingress.host`.
fn atlas_profile(dir: &std::path::Path, atlas: &str, host: Option<&str>) -> std::path::PathBuf {
    let ingress = host.map_or_else(String::new, |h| format!("ingress:\n  host: {h}\n"));
    crate::support::write_profile(
        dir,
        "rnd.yaml",
        &format!(
            r#"apiVersion: bpa-infra/v1
name: rnd
region: us-west-2
network:
  vpc: {{ cidr: 10.52.0.0/16 }}
  availability_zones: [us-west-2a, us-west-2b, us-west-2c]
eks:
  version: "1.35"
  node_groups:
    - {{ name: node-1, instance_type: m5.xlarge, data_volume: {{ size_gib: 100 }} }}
rds:
  engine_version: "16.4"
  instance_class: db.m5d.large
  storage: {{ type: gp3, size_gib: 100 }}
  deletion_protection: false
atlas:
{atlas}
{ingress}"#
        ),
    )
}

/// Runs `bpa-infra -p PROFILE ARGS...` against moto with `env`; fails unless it exits 0;
/// returns (stdout, stderr).
fn run_ok(
    moto: &Moto,
    env: &[(&'static str, String)],
    profile: &std::path::Path,
    args: &[&str],
) -> (String, String) {
    let out = moto
        .bpa_infra()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .arg("-p")
        .arg(profile)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{args:?} exited {:?}\n{stdout}\n{stderr}",
        out.status.code()
    );
    (stdout, stderr)
}

fn overlay(dir: &std::path::Path) -> serde_json::Value {
    serde_yaml::from_str(&std::fs::read_to_string(dir.join("values-overlay.yaml")).unwrap())
        .unwrap()
}

#[test]
fn live_render_fills_the_atlas_host_from_atlas_and_the_kie_location_from_ingress_host() {
    use crate::support::atlas::{FakeAtlas, PROJECT_ID};

    let moto = Moto::start();
    let fake = FakeAtlas::start();
    let env = fake.service_account_env();
    let dir = tempfile::tempdir().unwrap();
    let profile = atlas_profile(
        dir.path(),
        &format!("  project_id: {PROJECT_ID}"),
        Some("bpa.rnd.example.com"),
    );
    run_ok(&moto, &env, &profile, &["up", "--yes", "--only", "atlas"]);
    let vpce = fake.services()[0].2[0].clone();

    moto.start_recording();
    let atlas_writes = fake.writes().len();
    let out_dir = tempfile::tempdir().unwrap();
    let (stdout, stderr) = run_ok(
        &moto,
        &env,
        &profile,
        &[
            "-vvv",
            "render",
            "--out-dir",
            &out_dir.path().display().to_string(),
        ],
    );
    assert_eq!(moto.mutating_calls(), vec![], "render writes nothing");
    assert_eq!(fake.writes().len(), atlas_writes, "nor on the Atlas side");
    for secret in fake.secrets() {
        assert!(!stdout.contains(&secret) && !stderr.contains(&secret));
    }

    let values = overlay(out_dir.path());
    // The host of the private connection string the fake gives for our endpoint.
    assert_eq!(values["mongodb"]["host"], "bpa-pl-0.abcde.mongodb.net");
    let dns = values["mongodb"]["private_endpoint_dns"].as_str().unwrap();
    assert!(dns.starts_with(&vpce), "{dns} is not {vpce}'s DNS name");
    let location = "https://bpa.rnd.example.com/kie-server/services/rest/server";
    assert_eq!(values["kie"]["location"], location);
    let kie: serde_json::Value = serde_yaml::from_str(
        &std::fs::read_to_string(out_dir.path().join("kie-server-config.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(kie["data"]["org.kie.server.location"], location);
    assert!(!stderr.contains("Atlas private-endpoint host"), "{stderr}");

    // Without the Atlas credentials render still works; the host is a placeholder that
    // says how to get it, and the AWS side's DNS name is still read.
    let out_dir = tempfile::tempdir().unwrap();
    let (_, stderr) = run_ok(
        &moto,
        &[],
        &profile,
        &["render", "--out-dir", &out_dir.path().display().to_string()],
    );
    let values = overlay(out_dir.path());
    let host = values["mongodb"]["host"].as_str().unwrap();
    assert!(
        host.starts_with("<unknown: Atlas private-endpoint host")
            && host.contains("Atlas credentials"),
        "{host}"
    );
    assert!(stderr.contains("could not be read"), "{stderr}");
    assert!(
        values["mongodb"]["private_endpoint_dns"]
            .as_str()
            .unwrap()
            .starts_with(&vpce)
    );
}

#[test]
fn live_render_without_the_atlas_api_or_an_ingress_host_says_what_to_set() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let profile = atlas_profile(
        dir.path(),
        "  endpoint_service_name: com.amazonaws.vpce.us-west-2.vpce-svc-0123456789abcdef0",
        None,
    );
    run_ok(&moto, &[], &profile, &["up", "--yes", "--only", "atlas"]);
    let out_dir = tempfile::tempdir().unwrap();
    let (_, stderr) = run_ok(
        &moto,
        &[],
        &profile,
        &["render", "--out-dir", &out_dir.path().display().to_string()],
    );
    let values = overlay(out_dir.path());
    // The VPC endpoint is read from AWS...
    let dns = values["mongodb"]["private_endpoint_dns"].as_str().unwrap();
    assert!(dns.starts_with("vpce-"), "{dns}");
    // ... the Atlas host only Atlas knows, and the public URL only the profile.
    let host = values["mongodb"]["host"].as_str().unwrap();
    assert!(
        host.contains("Connect, Private Endpoint") && host.contains("atlas.project_id"),
        "{host}"
    );
    let location = values["kie"]["location"].as_str().unwrap();
    assert!(
        location.starts_with("<unknown: public URL of the load balancer")
            && location.contains("`ingress.host`"),
        "{location}"
    );
    assert!(stderr.contains("ingress.host"), "{stderr}");
    assert!(!stderr.contains("apply bpm-ingress"), "{stderr}");
}
