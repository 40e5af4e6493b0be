//! The JSON documents of `--output json` (docs/json.md), command by command: each
//! parses, carries `format_version`, has the documented keys, and gives counts as
//! numbers; `up` and `down` print the plan, then the summary, one line each.

use serde_json::Value;

use crate::support::bpa_infra;
use crate::support::moto::Moto;

/// The keys of a JSON object, sorted.
fn keys(doc: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = doc
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {doc}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// Parses every line of `text` as one JSON document.
fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

const PLAN_KEYS: [&str; 10] = [
    "account",
    "changes",
    "conflicts",
    "counts",
    "critical_path",
    "estimated_duration_seconds",
    "format_version",
    "operation",
    "profile",
    "region",
];
const SUMMARY_KEYS: [&str; 7] = [
    "counts",
    "elapsed_seconds",
    "estimated_duration_seconds",
    "format_version",
    "operation",
    "profile",
    "resources",
];

fn assert_plan(doc: &Value) {
    // `only` is there when the plan is scoped (`--only`), as a list of components.
    let mut found = keys(doc);
    if found.contains(&"only") {
        assert!(
            doc["only"].as_array().is_some_and(|o| !o.is_empty()),
            "{doc}"
        );
        found.retain(|k| *k != "only");
    }
    assert_eq!(found, PLAN_KEYS, "{doc}");
    assert_eq!(doc["format_version"], 1);
    assert_eq!(
        keys(&doc["counts"]),
        ["create", "delete", "replace", "update"]
    );
    let changes = doc["changes"].as_array().unwrap();
    let count = |action: &str| changes.iter().filter(|c| c["action"] == action).count();
    for action in ["create", "update", "replace", "delete"] {
        assert_eq!(
            doc["counts"][action].as_u64(),
            Some(count(action) as u64),
            "{action}: {doc}"
        );
    }
}

fn assert_summary(doc: &Value) {
    assert_eq!(keys(doc), SUMMARY_KEYS, "{doc}");
    assert_eq!(doc["format_version"], 1);
    assert_eq!(
        keys(&doc["counts"]),
        ["failed", "interrupted", "skipped", "succeeded"]
    );
    assert!(doc["counts"]["succeeded"].is_u64(), "{doc}");
}

/// Runs a command against the emulator and returns (code, stdout, stderr).
fn run(moto: &Moto, args: &[&str]) -> (i32, String, String) {
    let output = moto
        .bpa_infra()
        .args(["--output", "json", "-p", "example"])
        .args(args)
        .output()
        .expect("run bpa-infra");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn offline_plan_validate_and_errors_have_their_documented_keys() {
    let output = bpa_infra()
        .args(["--output", "json", "plan", "--offline", "-p", "example"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let plan: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_plan(&plan);
    assert!(plan["counts"]["create"].as_u64().unwrap() > 0, "{plan}");

    let output = bpa_infra()
        .args(["--output", "json", "validate", "-p", "example"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        keys(&doc),
        ["format_version", "name", "profile", "valid"],
        "{doc}"
    );

    let output = bpa_infra()
        .args([
            "--output",
            "json",
            "plan",
            "--offline",
            "-p",
            "no-such-profile",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(65));
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        keys(&doc),
        ["error", "format_version", "hint", "message"],
        "{doc}"
    );
}

#[test]
fn up_down_status_and_outputs_print_one_documented_document_a_line() {
    let moto = Moto::start();

    // `up`: the plan, then the summary; every progress event is versioned.
    let (code, stdout, stderr) = run(&moto, &["ecr", "up", "--yes"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let docs = lines(&stdout);
    assert_eq!(docs.len(), 2, "{stdout}");
    assert_plan(&docs[0]);
    assert_summary(&docs[1]);
    assert!(
        docs[1]["counts"]["succeeded"].as_u64().unwrap() > 0,
        "{}",
        docs[1]
    );
    let events: Vec<Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!events.is_empty(), "{stderr}");
    for event in &events {
        assert_eq!(event["format_version"], 1, "{event}");
        assert!(
            event["event"].is_string() && event["ts"].is_string(),
            "{event}"
        );
    }

    // `up` with nothing to do: still the plan, then the summary.
    let (code, stdout, stderr) = run(&moto, &["ecr", "up", "--yes"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let docs = lines(&stdout);
    assert_eq!(docs.len(), 2, "{stdout}");
    assert_plan(&docs[0]);
    assert_eq!(docs[0]["counts"]["create"], 0);
    assert_summary(&docs[1]);
    assert_eq!(docs[1]["resources"], Value::Array(Vec::new()));

    // `status`: rows and counts as numbers.
    let (code, stdout, stderr) = run(&moto, &["status"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        keys(&doc),
        [
            "counts",
            "format_version",
            "leftovers",
            "profile",
            "resources"
        ],
        "{doc}"
    );
    assert_eq!(
        keys(&doc["counts"]),
        ["create", "delete", "replace", "update"]
    );
    assert!(doc["counts"]["create"].as_u64().unwrap() > 0, "{doc}");
    let row = &doc["resources"][0];
    assert_eq!(
        keys(row),
        [
            "address",
            "drift",
            "drifted_attributes",
            "id",
            "kind",
            "owner",
            "state"
        ],
        "{row}"
    );

    // `outputs`.
    let (code, stdout, stderr) = run(&moto, &["outputs"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        keys(&doc),
        ["format_version", "outputs", "profile"],
        "{doc}"
    );

    // `down`: the plan, then the summary; with nothing left to delete, the same two
    // documents (never the plan twice).
    let (code, stdout, stderr) = run(&moto, &["ecr", "down", "--yes"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let docs = lines(&stdout);
    assert_eq!(docs.len(), 2, "{stdout}");
    assert_plan(&docs[0]);
    assert_summary(&docs[1]);
    let (code, stdout, stderr) = run(&moto, &["ecr", "down", "--yes"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let docs = lines(&stdout);
    assert_eq!(docs.len(), 2, "{stdout}");
    assert_plan(&docs[0]);
    assert_eq!(docs[0]["counts"]["delete"], 0);
    assert_summary(&docs[1]);
}
