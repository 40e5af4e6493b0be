//! `validate`, `schema` and `completions` through the real binary.

use predicates::prelude::*;

use crate::support::{bpa_infra, write_profile};

#[test]
fn example_profiles_are_valid_by_name_and_by_path() {
    for profile in ["example", "prod-us-west-2", "profiles/example.yaml"] {
        bpa_infra()
            .args(["validate", "-p", profile])
            .assert()
            .success()
            .stdout(predicate::str::contains("valid profile"));
    }
}

#[test]
fn profile_can_come_from_the_environment() {
    bpa_infra()
        .env("BPA_INFRA_PROFILE", "example")
        .arg("validate")
        .assert()
        .success();
}

#[test]
fn missing_profile_is_a_usage_error_with_a_hint() {
    bpa_infra().arg("validate").assert().code(64).stderr(
        predicate::str::contains("no profile given").and(predicate::str::contains("-p NAME")),
    );
}

#[test]
fn unknown_flag_is_a_usage_error() {
    bpa_infra().args(["validate", "--bogus"]).assert().code(64);
}

#[test]
fn unreadable_profile_names_the_file() {
    bpa_infra()
        .args(["validate", "-p", "does-not-exist"])
        .assert()
        .code(65)
        .stderr(predicate::str::contains("profiles/does-not-exist.yaml"));
}

const BROKEN: &str = r#"apiVersion: bpa-infra/v1
name: broken
region: us-west-2
network:
  vpc:
    cidr: 10.0.0.0/16
  availability_zones: [us-west-2a, us-west-2b]
  pod_cidr: 10.0.128.0/17
eks:
  version: "1.35"
  node_groups:
    - name: node-1
      instnce_type: m5.xlarge
rds:
  engine_version: "16.4"
  instance_class: db.m5d.large
  master_password:
    from_env: DB@PASS
  storage:
    type: io2
    size_gib: 50
    iops: 1000
"#;

#[test]
fn every_mistake_is_reported_with_its_line_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_profile(dir.path(), "broken.yaml", BROKEN);
    let output = bpa_infra()
        .args(["validate", "--no-color", "-p"])
        .arg(&path)
        .assert()
        .code(65)
        .get_output()
        .clone();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The misspelt field is a structural error; the semantic ones come in the same run
    // only once the structure is right, so check both halves separately.
    assert!(stderr.contains("instnce_type"), "{stderr}");
    assert!(
        stderr.contains("instance_type"),
        "did-you-mean missing: {stderr}"
    );
    assert!(
        stderr.contains(":13:"),
        "line of the misspelt field missing: {stderr}"
    );
}

#[test]
fn semantic_mistakes_are_all_reported_with_lines_as_json() {
    let fixed = BROKEN.replace("instnce_type", "instance_type");
    let dir = tempfile::tempdir().unwrap();
    let path = write_profile(dir.path(), "broken.yaml", &fixed);
    let output = bpa_infra()
        .args(["validate", "--output", "json", "-p"])
        .arg(&path)
        .assert()
        .code(65)
        .get_output()
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["format_version"], 1);
    let errors = doc["errors"].as_array().unwrap();
    let line_of = |path: &str| {
        errors
            .iter()
            .find(|e| e["path"].as_str().is_some_and(|p| p.starts_with(path)))
            .and_then(|e| e["line"].as_u64())
            .unwrap_or_else(|| panic!("no error at {path}: {errors:#?}"))
    };
    assert_eq!(line_of("network.availability_zones"), 7);
    assert_eq!(line_of("network.pod_cidr"), 8);
    assert_eq!(line_of("rds.master_password"), 18);
    assert_eq!(line_of("rds.storage.size_gib"), 21);
}

#[test]
fn schema_is_json_and_completions_are_printed() {
    let output = bpa_infra()
        .arg("schema")
        .assert()
        .success()
        .get_output()
        .clone();
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(schema["title"], "bpa-infra profile");
    assert!(schema["properties"]["rds"].is_object());

    bpa_infra()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("bpa-infra"));
}
