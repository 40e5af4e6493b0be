//! A stack is (profile name, region, account): two profiles with one `name` in two
//! regions of an account are two stacks, IAM (global) included, and `--region` never
//! moves a profile's stack. Also the IAM roles and policy of stacks made before 0.2,
//! whose names and tags carry no region.

use std::path::{Path, PathBuf};

use crate::support::moto::{self, Moto, query_request, xml_texts};
use crate::support::{bpa_infra, root, write_profile};

/// The example profile moved to us-east-1, name unchanged: the same `name` in a second
/// region, as a multi-region layout has it.
fn example_in(dir: &Path, region: &str) -> PathBuf {
    let text = std::fs::read_to_string(root().join("profiles/example.yaml"))
        .unwrap()
        .replace("us-west-2", region);
    write_profile(dir, &format!("example-{region}.yaml"), &text)
}

fn run(moto: &Moto, profile: &Path, args: &[&str], code: i32) -> String {
    let output = moto
        .bpa_infra()
        .arg("-p")
        .arg(profile)
        .args(["--no-color"])
        .env("BPA_KONG_DB_PASSWORD", "kong-test-password")
        .args(args)
        .output()
        .expect("run bpa-infra");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "bpa-infra {args:?} exited {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status.code(),
    );
    stdout
}

/// An EC2 call signed for `region` (moto routes by the credential scope).
fn ec2_in(moto: &Moto, region: &str, action: &str, params: &[(&str, &str)]) -> String {
    let mut request = query_request(&moto.endpoint_url(), "ec2", "2016-11-15", action, params);
    for (name, value) in &mut request.headers {
        if name == "Authorization" {
            *value = value.replace(
                &format!("/{}/ec2/", moto::REGION),
                &format!("/{region}/ec2/"),
            );
        }
    }
    moto.send(&request).text()
}

fn role_names(moto: &Moto) -> Vec<String> {
    xml_texts(&moto.iam("ListRoles", &[]), "RoleName")
}

fn policy_names(moto: &Moto) -> Vec<String> {
    xml_texts(
        &moto.iam("ListPolicies", &[("Scope", "Local")]),
        "PolicyName",
    )
}

fn role_tags(moto: &Moto, name: &str) -> Vec<(String, String)> {
    let xml = moto.iam("ListRoleTags", &[("RoleName", name)]);
    xml_texts(&xml, "Key")
        .into_iter()
        .zip(xml_texts(&xml, "Value"))
        .collect()
}

const WEST_ROLES: [&str; 2] = [
    "example-us-west-2-eks-cluster",
    "example-us-west-2-eks-node",
];
const EAST_ROLES: [&str; 2] = [
    "example-us-east-1-eks-cluster",
    "example-us-east-1-eks-node",
];

#[test]
fn a_region_other_than_the_profiles_is_refused_by_every_command() {
    for args in [
        &["validate", "--region", "eu-west-1"][..],
        &["plan", "--offline", "--region", "us-east-1"],
        &["render", "--offline", "--region", "us-east-1"],
    ] {
        let output = bpa_infra()
            .args(["-p", "example"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{args:?}: {stderr}");
        assert!(
            stderr.contains("differs from the region of profile example (us-west-2"),
            "{args:?}: {stderr}"
        );
    }
    // The profile's own region is accepted (a check scripts may keep).
    bpa_infra()
        .args(["-p", "example", "validate", "--region", "us-west-2"])
        .assert()
        .success();
}

#[test]
fn the_environments_region_never_moves_a_profiles_stack() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let west = example_in(dir.path(), "us-west-2");
    let output = moto
        .bpa_infra()
        .arg("-p")
        .arg(&west)
        .args(["up", "--yes", "--only", "network"])
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_DEFAULT_REGION", "eu-west-1")
        .env("BPA_KONG_DB_PASSWORD", "kong-test-password")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let vpcs_in = |region: &str| {
        let xml = ec2_in(
            &moto,
            region,
            "DescribeVpcs",
            &[
                ("Filter.1.Name", "tag:bpa-infra:profile"),
                ("Filter.1.Value.1", "example"),
            ],
        );
        xml_texts(&xml, "vpcId")
    };
    assert_eq!(vpcs_in("us-west-2").len(), 1);
    assert!(vpcs_in("eu-west-1").is_empty());
}

#[test]
fn two_stacks_of_one_profile_name_in_two_regions_coexist_and_come_down_independently() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let west = example_in(dir.path(), "us-west-2");
    let east = example_in(dir.path(), "us-east-1");
    let only = ["--only", "network,iam,ecr"];
    run(&moto, &west, &[&["up", "--yes"][..], &only].concat(), 0);
    run(&moto, &east, &[&["up", "--yes"][..], &only].concat(), 0);
    let roles = role_names(&moto);
    for role in WEST_ROLES.iter().chain(&EAST_ROLES) {
        assert!(roles.iter().any(|r| r == role), "{role} missing: {roles:?}");
    }
    assert!(
        role_tags(&moto, WEST_ROLES[1]).contains(&("bpa-infra:region".into(), "us-west-2".into()))
    );
    // Each plan names where it applies, and neither sees anything to do.
    for (profile, region) in [(&west, "us-west-2"), (&east, "us-east-1")] {
        let text = run(
            &moto,
            profile,
            &[&["plan", "--detailed-exitcode"][..], &only].concat(),
            0,
        );
        assert!(
            text.starts_with(&format!(
                "Plan to apply profile example in {region}, account 123456789012"
            )),
            "{text}"
        );
    }

    // The down of one region's stack deletes only what it owns.
    let text = run(&moto, &east, &["down", "--yes"], 0);
    assert!(!text.contains("us-west-2"), "{text}");
    let roles = role_names(&moto);
    for role in EAST_ROLES {
        assert!(!roles.iter().any(|r| r == role), "{role} left: {roles:?}");
    }
    for role in WEST_ROLES {
        assert!(roles.iter().any(|r| r == role), "{role} deleted: {roles:?}");
    }
    assert!(
        policy_names(&moto).contains(&"example-us-west-2-ecr-pull".to_owned()),
        "{:?}",
        policy_names(&moto)
    );
    // The other stack is whole: nothing to create or repair.
    run(
        &moto,
        &west,
        &[&["plan", "--detailed-exitcode"][..], &only].concat(),
        0,
    );
}

#[test]
fn a_saved_plan_is_refused_in_another_region() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let west = example_in(dir.path(), "us-west-2");
    let east = example_in(dir.path(), "us-east-1");
    let saved = dir.path().join("plan.json");
    let out = saved.to_str().unwrap();
    run(&moto, &west, &["plan", "--only", "iam", "--out", out], 0);
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(plan["region"], "us-west-2");
    assert_eq!(plan["account"], "123456789012");
    let output = moto
        .bpa_infra()
        .arg("-p")
        .arg(&east)
        .args(["up", "--yes", "--only", "iam", "--plan", out])
        .env("BPA_KONG_DB_PASSWORD", "kong-test-password")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("region"), "{stderr}");
    assert!(
        !role_names(&moto).iter().any(|r| r.starts_with("example-")),
        "{:?}",
        role_names(&moto)
    );
}

#[test]
fn roles_made_before_region_names_are_kept_where_they_are_this_stacks_and_never_taken_otherwise() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let west = example_in(dir.path(), "us-west-2");
    let legacy = "example-eks-node";
    let legacy_tags = [
        ("bpa-infra:profile", "example"),
        ("bpa-infra:address", "iam.node_role"),
    ];
    moto.create_role(legacy, &legacy_tags);

    // No region recorded and nothing of this stack uses it: a conflict, never a second
    // role beside it, and `down` leaves it.
    let text = run(&moto, &west, &["plan", "--only", "iam"], 1);
    assert!(text.contains("iam.node_role: "), "{text}");
    assert!(text.contains("bpa-infra:region="), "{text}");
    run(&moto, &west, &["down", "--yes", "--only", "eks,iam"], 0);
    assert!(role_names(&moto).contains(&legacy.to_owned()));

    // Tagged as another region's stack's: not in the way; this stack makes its own.
    moto.iam(
        "TagRole",
        &[
            ("RoleName", legacy),
            ("Tags.member.1.Key", "bpa-infra:region"),
            ("Tags.member.1.Value", "us-east-1"),
        ],
    );
    run(&moto, &west, &["up", "--yes", "--only", "iam"], 0);
    let roles = role_names(&moto);
    assert!(
        roles.contains(&"example-us-west-2-eks-node".to_owned()),
        "{roles:?}"
    );
    run(&moto, &west, &["down", "--yes", "--only", "eks,iam"], 0);
    let roles = role_names(&moto);
    assert!(roles.contains(&legacy.to_owned()), "{roles:?}");
    assert!(
        !roles.contains(&"example-us-west-2-eks-node".to_owned()),
        "{roles:?}"
    );

    // Tagged as this stack's: kept under its old name and repaired in place.
    moto.iam(
        "TagRole",
        &[
            ("RoleName", legacy),
            ("Tags.member.1.Key", "bpa-infra:region"),
            ("Tags.member.1.Value", "us-west-2"),
        ],
    );
    let text = run(&moto, &west, &["plan", "--only", "iam"], 0);
    assert!(
        text.contains("~ iam.node_role (iam_role) example-eks-node will be updated in place"),
        "{text}"
    );
    run(&moto, &west, &["up", "--yes", "--only", "iam"], 0);
    let roles = role_names(&moto);
    assert!(
        !roles.contains(&"example-us-west-2-eks-node".to_owned()),
        "{roles:?}"
    );
    let attached = xml_texts(
        &moto.iam("ListAttachedRolePolicies", &[("RoleName", legacy)]),
        "PolicyArn",
    );
    assert!(
        attached
            .iter()
            .any(|a| a.ends_with("/AmazonEC2ContainerRegistryPullOnly")),
        "{attached:?}"
    );
    run(
        &moto,
        &west,
        &["plan", "--only", "iam", "--detailed-exitcode"],
        0,
    );
}
