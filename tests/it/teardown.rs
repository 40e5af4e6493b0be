//! `down --only`: a component comes down with what exists only for it, and never takes
//! what a kept component still uses.

use std::path::Path;

use crate::support::moto::{Moto, percent_decode, xml_text, xml_texts};
use crate::support::root;

fn run(moto: &Moto, profile: &Path, args: &[&str], code: i32) -> (String, String) {
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
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "bpa-infra {args:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    (stdout, stderr)
}

const NODE_ROLE: &str = "example-us-west-2-eks-node";

fn repositories(moto: &Moto) -> Vec<String> {
    let answer = moto.json(
        "ecr",
        "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
        &serde_json::json!({}),
    );
    answer["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["repositoryName"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn down_only_ecr_keeps_the_node_role_and_takes_the_repositories_out_of_the_pull_policy() {
    let moto = Moto::start();
    let profile = root().join("profiles/example.yaml");
    run(
        &moto,
        &profile,
        &["up", "--yes", "--only", "network,iam,ecr"],
        0,
    );
    assert_eq!(repositories(&moto).len(), 2);

    let (plan, _) = run(&moto, &profile, &["down", "--yes", "--only", "ecr"], 0);
    assert!(
        plan.contains("~ iam.ecr_pull_policy"),
        "the pull policy is updated, not deleted:\n{plan}"
    );
    assert!(!plan.contains("iam.node_role"), "{plan}");
    assert!(repositories(&moto).is_empty(), "{:?}", repositories(&moto));

    // The node role is whole: still there with every policy, the pull policy among them.
    let attached = xml_texts(
        &moto.iam("ListAttachedRolePolicies", &[("RoleName", NODE_ROLE)]),
        "PolicyArn",
    );
    assert_eq!(attached.len(), 5, "{attached:?}");
    let pull = attached
        .iter()
        .find(|a| a.ends_with("-ecr-pull"))
        .expect("the pull policy is still attached");
    let policy = moto.iam("GetPolicy", &[("PolicyArn", pull)]);
    let version = xml_text(&policy, "DefaultVersionId").unwrap();
    let document = moto.iam(
        "GetPolicyVersion",
        &[("PolicyArn", pull), ("VersionId", &version)],
    );
    let document = percent_decode(&xml_text(&document, "Document").unwrap());
    assert!(!document.contains("repository/bpa"), "{document}");
    assert!(document.contains("ecr:GetAuthorizationToken"), "{document}");

    // What is left matches the profile without ECR: the next plan of the kept
    // components has nothing to do but re-create the repositories.
    let (plan, _) = run(&moto, &profile, &["plan", "--only", "iam,ecr"], 0);
    assert!(plan.contains("+ ecr.repository[bpa/ui]"), "{plan}");
}

#[test]
fn down_only_of_what_no_existing_resource_uses_goes_ahead() {
    // EKS and RDS would use the network and the roles, but none of them exists: nothing
    // is cut, so nothing is refused.
    let moto = Moto::start();
    let profile = root().join("profiles/example.yaml");
    run(
        &moto,
        &profile,
        &["up", "--yes", "--only", "network,iam"],
        0,
    );
    let (plan, _) = run(&moto, &profile, &["down", "--yes", "--only", "iam"], 0);
    assert!(plan.contains("- iam.node_role"), "{plan}");
    let roles = xml_texts(&moto.iam("ListRoles", &[]), "RoleName");
    assert!(!roles.contains(&NODE_ROLE.to_owned()), "{roles:?}");
    run(&moto, &profile, &["down", "--yes", "--only", "network"], 0);
}
