//! `plan --offline` and the guards of `up`/`down` through the real binary: no AWS, no
//! credentials, no network; and saved plans (`plan --out`, `up --plan`) against moto.

use predicates::prelude::*;

use crate::support::bpa_infra;

#[test]
fn offline_plan_of_prod_lists_every_component_and_the_summary() {
    let output = bpa_infra()
        .args(["plan", "--offline", "-p", "prod-us-west-2"])
        .assert()
        .success()
        .get_output()
        .clone();
    let text = String::from_utf8(output.stdout).unwrap();
    for component in [
        "\nnetwork\n",
        "\niam\n",
        "\neks\n",
        "\nrds\n",
        "\necr\n",
        "\natlas\n",
    ] {
        assert!(
            text.contains(component),
            "missing {component:?} in:\n{text}"
        );
    }
    for address in [
        "rds.parameter_group",
        "rds.cluster",
        "eks.nodegroup[node-4]",
        "ecr.repository[bpa/ui]",
    ] {
        assert!(text.contains(address), "missing {address} in:\n{text}");
    }
    assert!(text.contains("password_encryption"), "{text}");
    let summary = text.lines().last().unwrap();
    assert!(
        predicate::str::is_match(r"^\d+ to create, 0 to update, 0 to replace, 0 to delete$")
            .unwrap()
            .eval(summary),
        "{summary}"
    );
    // The adopted VPC and node subnets are never planned for creation.
    assert!(
        !text.contains("network.vpc (vpc) will be created"),
        "{text}"
    );
}

#[test]
fn offline_plan_as_json_is_versioned_and_creates_only() {
    let output = bpa_infra()
        .args([
            "plan",
            "--offline",
            "--output",
            "json",
            "-p",
            "prod-us-west-2",
        ])
        .assert()
        .success()
        .get_output()
        .clone();
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(plan["format_version"], 1);
    assert_eq!(plan["profile"], "prod");
    let changes = plan["changes"].as_array().unwrap();
    assert!(changes.len() > 20, "{}", changes.len());
    assert!(
        changes
            .iter()
            .filter(|c| c["action"] != "no-op")
            .all(|c| c["action"] == "create")
    );
    let order: Vec<&str> = changes
        .iter()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    let position = |a: &str| {
        order
            .iter()
            .position(|x| *x == a)
            .unwrap_or_else(|| panic!("{a} missing: {order:?}"))
    };
    assert!(position("rds.parameter_group") < position("rds.cluster"));
    assert!(position("iam.node_role") < position("eks.nodegroup[node-1]"));
}

#[test]
fn detailed_exitcode_is_2_when_there_are_changes() {
    bpa_infra()
        .args(["plan", "--offline", "--detailed-exitcode", "-p", "example"])
        .assert()
        .code(2);
}

#[test]
fn saved_plan_is_written_and_holds_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan.json");
    bpa_infra()
        .args(["plan", "--offline", "-p", "example", "--out"])
        .arg(&out)
        .env("BPA_KONG_DB_PASSWORD", "kong-Secret-123")
        .assert()
        .success();
    let saved = std::fs::read_to_string(&out).unwrap();
    let plan: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(plan["format_version"], 1);
    assert!(!saved.contains("kong-Secret-123"));
}

#[test]
fn only_scopes_the_plan_to_a_component_and_its_dependencies() {
    let output = bpa_infra()
        .args([
            "rds",
            "plan",
            "--offline",
            "--output",
            "json",
            "-p",
            "example",
        ])
        .assert()
        .success()
        .get_output()
        .clone();
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let addresses: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert!(addresses.contains(&"rds.cluster"), "{addresses:?}");
    assert!(
        addresses.iter().any(|a| a.starts_with("network.")),
        "rds needs the network: {addresses:?}"
    );
    assert!(
        !addresses
            .iter()
            .any(|a| a.starts_with("eks.") || a.starts_with("ecr.")),
        "{addresses:?}"
    );
}

#[test]
fn unknown_component_is_a_usage_error() {
    bpa_infra()
        .args(["plan", "--offline", "--only", "kafka", "-p", "example"])
        .assert()
        .code(64);
}

#[test]
fn up_and_down_without_a_terminal_need_yes_before_any_aws_call() {
    for command in ["up", "down"] {
        bpa_infra()
            .args([command, "-p", "example"])
            .env("BPA_KONG_DB_PASSWORD", "kong-Secret-123")
            .assert()
            .code(64)
            .stderr(predicate::str::contains("--yes"));
    }
}

#[test]
fn up_checks_the_master_password_variable_only_when_the_database_is_in_scope() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(crate::support::root().join("profiles/example.yaml"))
        .unwrap()
        .replace(
            "  deletion_protection: false",
            "  master_password: {from_env: BPA_TEST_MASTER_PW}\n  deletion_protection: false",
        );
    let profile = crate::support::write_profile(dir.path(), "example.yaml", &text);
    bpa_infra()
        .args(["up", "--yes", "-p"])
        .arg(&profile)
        .assert()
        .code(65)
        .stderr(
            predicate::str::contains("BPA_TEST_MASTER_PW").and(predicate::str::contains("not set")),
        );
    // A password RDS would refuse is caught before any AWS call, and never shown.
    bpa_infra()
        .args(["up", "--yes", "-p"])
        .arg(&profile)
        .env("BPA_TEST_MASTER_PW", "has@sign-and-long-enough")
        .assert()
        .code(65)
        .stderr(
            predicate::str::contains("BPA_TEST_MASTER_PW")
                .and(predicate::str::contains("has@sign").not()),
        );
    // Without the database in scope the variable is not needed: the run gets as far as
    // AWS (and fails there for want of credentials, exit 1).
    bpa_infra()
        .args(["up", "--yes", "--only", "ecr", "-p"])
        .arg(&profile)
        .assert()
        .code(1);
}

/// The addresses in the JSON plan of `bpa-infra COMPONENT plan --offline` of the prod profile.
fn component_plan_addresses(component: &str) -> Vec<String> {
    let output = bpa_infra()
        .args(["--output", "json", "-p", "prod-us-west-2", component])
        .args(["plan", "--offline"])
        .assert()
        .success()
        .get_output()
        .clone();
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(plan["format_version"], 1);
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap().to_owned())
        .collect()
}

/// The components (`eks`, `network`, …) the addresses belong to, sorted.
fn components_of(addresses: &[String]) -> Vec<&str> {
    let mut components: Vec<&str> = addresses
        .iter()
        .map(|a| a.split('.').next().unwrap())
        .collect();
    components.sort_unstable();
    components.dedup();
    components
}

#[test]
fn component_plans_hold_the_component_and_what_it_depends_on() {
    let eks = component_plan_addresses("eks");
    // The node role's ECR pull policy is scoped to the repositories: ecr comes along.
    assert_eq!(
        components_of(&eks),
        ["ecr", "eks", "iam", "network"],
        "{eks:?}"
    );
    for address in [
        "eks.cluster",
        "eks.nodegroup[node-4]",
        "iam.node_role",
        "iam.ecr_pull_policy",
        "network.subnet[node/us-west-2a]",
        // Pods take their addresses from the pod subnets: EKS alone builds them too.
        "network.subnet[pod/us-west-2c]",
        "network.pod_cidr",
        "ecr.repository[bpa/ui]",
    ] {
        assert!(
            eks.iter().any(|a| a == address),
            "{address} missing: {eks:?}"
        );
    }

    let ecr = component_plan_addresses("ecr");
    assert_eq!(components_of(&ecr), ["ecr"], "{ecr:?}");
    assert!(ecr.iter().any(|a| a == "ecr.repository[bpa/ui]"), "{ecr:?}");

    let atlas = component_plan_addresses("atlas");
    assert_eq!(components_of(&atlas), ["atlas", "network"], "{atlas:?}");
    for address in ["atlas.vpc_endpoint", "network.subnet[node/us-west-2c]"] {
        assert!(
            atlas.iter().any(|a| a == address),
            "{address} missing: {atlas:?}"
        );
    }
    for absent in ["rds.cluster", "eks.cluster", "iam.node_role"] {
        assert!(!atlas.iter().any(|a| a == absent), "{absent} in {atlas:?}");
        assert!(!ecr.iter().any(|a| a == absent), "{absent} in {ecr:?}");
    }
    assert!(
        !eks.iter()
            .any(|a| a.starts_with("rds.") || a.starts_with("atlas.")),
        "{eks:?}"
    );
}

/// `up --plan FILE` applies a saved plan while the live state is as it was when it was
/// saved, and refuses it, naming what moved and writing nothing, once it is not.
#[test]
fn a_saved_plan_applies_until_the_live_state_moves_and_then_is_refused_naming_what_moved() {
    let moto = crate::support::moto::Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("ecr.plan.json");
    let saved_arg = saved.to_str().unwrap();
    let run = |args: &[&str]| {
        let output = moto
            .bpa_infra()
            .args(["-p", "example", "--no-color"])
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&["plan", "--only", "ecr", "--out", saved_arg]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");

    let (code, stdout, stderr) = run(&["up", "--only", "ecr", "--yes", "--plan", saved_arg]);
    assert_eq!(
        code,
        Some(0),
        "nothing moved: the saved plan applies\n{stdout}\n{stderr}"
    );
    let repositories = |moto: &crate::support::moto::Moto| {
        let listed = moto.json(
            "ecr",
            "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
            &serde_json::json!({}),
        );
        let mut names: Vec<String> = listed["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["repositoryName"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(repositories(&moto), ["bpa/bpm", "bpa/ui"]);

    // The repositories the saved plan creates exist now: the plan no longer holds.
    moto.start_recording();
    let (code, stdout, stderr) = run(&["up", "--only", "ecr", "--yes", "--plan", saved_arg]);
    moto.stop_recording();
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("moved since the plan was saved"),
        "the refusal says why\n{stderr}"
    );
    for repository in ["ecr.repository[bpa/ui]", "ecr.repository[bpa/bpm]"] {
        assert!(
            stderr.contains(&format!("{repository}: saved plan: ")),
            "the refusal names {repository} with what the saved plan and the live state say\n{stderr}"
        );
    }
    let ecr_writes: Vec<String> = moto
        .mutating_calls()
        .iter()
        .filter(|call| call.service == "ecr")
        .map(|call| call.name())
        .collect();
    assert!(
        ecr_writes.is_empty(),
        "a refused plan writes nothing: {ecr_writes:?}"
    );
    assert_eq!(repositories(&moto), ["bpa/bpm", "bpa/ui"]);
}

/// `up --plan FILE` applies the plan as saved: with its scope (no `--only` repeated), and
/// without asking again (the saved plan was the review); what moved is said value by value.
#[test]
fn a_saved_plan_keeps_its_scope_asks_nothing_and_says_which_values_moved() {
    let moto = crate::support::moto::Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("ecr.plan.json");
    let saved_arg = saved.to_str().unwrap();
    let profile = dir.path().join("example.yaml");
    let example =
        std::fs::read_to_string(crate::support::root().join("profiles/example.yaml")).unwrap();
    std::fs::write(&profile, &example).unwrap();
    let run = |args: &[&str]| {
        let output = moto
            .bpa_infra()
            .arg("-p")
            .arg(&profile)
            .arg("--no-color")
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&["plan", "--only", "ecr", "--out", saved_arg]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(plan["only"], serde_json::json!(["ecr"]));

    // Another scope than the saved one is a usage error.
    let (code, _, stderr) = run(&["up", "--only", "iam", "--plan", saved_arg]);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(
        stderr.contains("differs from the scope the plan was saved with (ecr)"),
        "{stderr}"
    );

    // The profile changes a tag after the review: the refusal names the value that moved.
    std::fs::write(
        &profile,
        example.replace("environment: example", "environment: other"),
    )
    .unwrap();
    let (code, _, stderr) = run(&["up", "--plan", saved_arg]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("ecr.repository[bpa/ui]: saved plan: create with the values reviewed; now: create with other values of tags"),
        "{stderr}"
    );

    // As saved: no --only, no --yes and no terminal, and it applies.
    std::fs::write(&profile, &example).unwrap();
    let (code, stdout, stderr) = run(&["up", "--plan", saved_arg]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let listed = moto.json(
        "ecr",
        "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
        &serde_json::json!({}),
    );
    assert_eq!(
        listed["repositories"].as_array().unwrap().len(),
        2,
        "{listed}"
    );
    let roles = crate::support::moto::xml_texts(&moto.iam("ListRoles", &[]), "RoleName");
    assert!(
        roles.is_empty(),
        "only the saved scope was applied: {roles:?}"
    );
}

/// With `--output json`, the stdout of `up` and `down` is JSON lines: the plan, then the
/// summary of the run, each one versioned document on its own line.
#[test]
fn up_and_down_print_json_lines_with_output_json() {
    let moto = crate::support::moto::Moto::start();
    for (args, operation) in [
        (vec!["up", "--only", "ecr", "--yes"], "apply"),
        (vec!["down", "--only", "ecr", "--yes"], "destroy"),
    ] {
        let output = moto
            .bpa_infra()
            .args(["-p", "example", "--output", "json"])
            .args(&args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let documents: Vec<serde_json::Value> = stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|err| {
                    panic!("{args:?}: not one JSON document a line ({err}): {line}")
                })
            })
            .collect();
        assert_eq!(
            documents.len(),
            2,
            "{args:?}: the plan and the summary\n{stdout}"
        );
        for document in &documents {
            assert_eq!(document["format_version"], 1, "{args:?}: {document}");
        }
        let addresses = |key: &str| -> Vec<String> {
            let mut found: Vec<String> = documents[usize::from(key == "resources")][key]
                .as_array()
                .unwrap_or_else(|| panic!("{args:?}: no {key} in {stdout}"))
                .iter()
                .map(|item| item["address"].as_str().unwrap().to_owned())
                .collect();
            found.sort();
            found
        };
        let repositories = ["ecr.repository[bpa/bpm]", "ecr.repository[bpa/ui]"];
        assert_eq!(
            addresses("changes"),
            repositories,
            "{args:?}: the plan first"
        );
        assert_eq!(
            addresses("resources"),
            repositories,
            "{args:?}: the summary last"
        );
        assert_eq!(documents[1]["operation"], operation, "{args:?}");
    }
}
