//! `scripts/demo`, the README's way to try the tool without AWS, run as a user would
//! (with the binary under test instead of a fresh build): every step succeeds, the second
//! plan finds nothing to do, and `down` removes what `up` made.

use std::process::Command;

#[test]
fn the_demo_script_runs_every_step_against_moto() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/scripts/demo"))
        .env("BPA_INFRA_BIN", env!("CARGO_BIN_EXE_bpa-infra"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run scripts/demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    let text = format!("{stdout}\n{stderr}");
    // The database passes the pre-flight checks, as it would against RDS.
    assert!(!text.contains("pre-flight"), "{text}");
    let done: Vec<&str> = text.lines().filter(|l| l.starts_with("Done: ")).collect();
    assert_eq!(done.len(), 2, "one up, one down:\n{text}");
    for line in &done {
        assert!(
            line.contains(" 0 failed, 0 skipped") && !line.starts_with("Done: 0 succeeded"),
            "{line}"
        );
    }
    assert_eq!(
        done[0].split(' ').nth(1),
        done[1].split(' ').nth(1),
        "{done:?}"
    );
    assert!(
        text.contains("0 to create, 0 to update, 0 to replace, 0 to delete"),
        "the second plan is empty:\n{text}"
    );
    assert!(
        text.contains("db_writer_endpoint = example-bpa.cluster-"),
        "{text}"
    );
}
