//! Failures that explain themselves (issue 15, §4) and the small refusals of §5, through
//! the real binary: one message per cause, naming what to check, with the right exit
//! code. Text is pinned with insta snapshots; ports, paths and the OS's words are
//! filtered out.

use std::time::{Duration, Instant};

use crate::support::{bpa_infra, write_profile};

/// Runs the command and returns (exit code, stdout, stderr).
fn run(mut cmd: assert_cmd::Command) -> (i32, String, String) {
    let output = cmd.output().expect("run bpa-infra");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Fake credentials, so that only the endpoint or the profile is wrong.
fn with_keys(mut cmd: assert_cmd::Command) -> assert_cmd::Command {
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    cmd
}

#[test]
fn plan_against_an_unreachable_endpoint_fails_fast_with_one_message() {
    let mut cmd = with_keys(bpa_infra());
    // Port 9 (discard) has no listener here: the connection is refused.
    cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .args(["plan", "-p", "example"]);
    let started = Instant::now();
    let (code, stdout, stderr) = run(cmd);
    let took = started.elapsed();
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{stderr}"
    );
    assert!(!stderr.contains("DispatchFailure"), "{stderr}");
    insta::with_settings!({filters => vec![
        (r"(cannot reach AWS at http://127\.0\.0\.1:9): .*", "$1: [cause]"),
    ]}, {
        insta::assert_snapshot!(stderr);
    });
}

#[test]
fn plan_without_credentials_says_so_once_and_offers_offline() {
    let (code, stdout, stderr) = run({
        let mut cmd = bpa_infra();
        cmd.args(["plan", "-p", "example"]);
        cmd
    });
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(!stderr.contains("WARN"), "{stderr}");
    assert!(!stderr.contains("FailedToLoadToken"), "{stderr}");
    assert!(!stderr.contains(", plan\n"), "{stderr}");
    assert!(stderr.contains("plan --offline"), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{stderr}"
    );
    insta::assert_snapshot!(stderr);
}

#[test]
fn an_unknown_aws_profile_is_named_as_the_aws_cli_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(&config, "[default]\nregion = us-west-2\n[profile dev]\n").unwrap();
    let mut cmd = with_keys(bpa_infra());
    cmd.env("AWS_CONFIG_FILE", &config)
        .args(["plan", "-p", "example", "--aws-profile", "nope"]);
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 64, "{stdout}\n{stderr}");
    assert!(!stderr.to_lowercase().contains("imds"), "{stderr}");
    assert!(!stderr.contains("metadata"), "{stderr}");
    let dir_text = dir.path().display().to_string();
    let dir_pattern = regex_escape(&dir_text);
    insta::with_settings!({filters => vec![(dir_pattern.as_str(), "[DIR]")]}, {
        insta::assert_snapshot!(stderr);
    });

    // The same check lets a profile that is there through.
    let mut cmd = with_keys(bpa_infra());
    cmd.env("AWS_CONFIG_FILE", &config)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .args(["plan", "-p", "example", "--aws-profile", "dev"]);
    let (_, _, stderr) = run(cmd);
    assert!(!stderr.contains("no profile"), "{stderr}");
    assert!(stderr.contains("cannot reach AWS"), "{stderr}");
}

/// Escapes the regex metacharacters of `text`.
fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[test]
fn validate_reports_an_invalid_profile_without_a_raw_code_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(crate::support::root().join("profiles/example.yaml"))
        .unwrap()
        .replace("instance_type: m5.xlarge", "instance_type: 42");
    let path = write_profile(dir.path(), "bad.yaml", &text);
    let (code, stdout, stderr) = run({
        let mut cmd = bpa_infra();
        cmd.env("NO_COLOR", "1")
            .arg("validate")
            .arg("-p")
            .arg(&path);
        cmd
    });
    assert_eq!(code, 65, "{stdout}\n{stderr}");
    assert!(!stderr.contains("bpa_infra::"), "{stderr}");
    let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(first.contains("bad.yaml has 1 error"), "{stderr}");
}

#[test]
fn a_component_subcommand_refuses_only_of_another_component() {
    let (code, stdout, stderr) = run({
        let mut cmd = bpa_infra();
        cmd.args(["eks", "plan", "--offline", "--only", "rds", "-p", "example"]);
        cmd
    });
    assert_eq!(code, 64, "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    insta::assert_snapshot!(stderr);
    // Its own component is fine.
    bpa_infra()
        .args(["eks", "plan", "--offline", "--only", "eks", "-p", "example"])
        .assert()
        .success();
}

#[test]
fn atlas_plan_of_a_profile_without_atlas_says_there_is_no_atlas_section() {
    let (code, stdout, stderr) = run({
        let mut cmd = bpa_infra();
        cmd.args(["atlas", "plan", "--offline", "-p", "example"]);
        cmd
    });
    assert_eq!(code, 64, "{stdout}\n{stderr}");
    assert!(!stdout.contains("No changes"), "{stdout}");
    insta::assert_snapshot!(stderr);
}

#[test]
fn render_with_a_missing_templates_directory_is_a_usage_error() {
    let (code, stdout, stderr) = run({
        let mut cmd = bpa_infra();
        cmd.args([
            "render",
            "--offline",
            "-p",
            "example",
            "--templates",
            "/nonexistent/bpa-templates",
        ]);
        cmd
    });
    assert_eq!(code, 64, "{stdout}\n{stderr}");
    assert!(stderr.contains("/nonexistent/bpa-templates"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
}
