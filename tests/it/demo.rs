//! `scripts/demo`, the README's way to try the tool without AWS, run as a user would
//! (with the binary under test instead of a fresh build) against `scripts/emulator.py`:
//! every step succeeds for every component, EKS included, the second plan finds nothing
//! to do, and `down` removes what `up` made.

use std::process::Command;

#[test]
fn the_demo_script_runs_every_step_of_every_component_against_the_emulator() {
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
    // EKS is applied too: the cluster, its addons and node group are made, ready, and
    // their outputs read.
    for planned in [
        "+ eks.cluster (eks_cluster) will be created",
        "+ eks.addon[vpc-cni] (eks_addon) will be created",
        "+ eks.addon[aws-ebs-csi-driver] (eks_addon) will be created",
        "+ eks.nodegroup[node-1] (node_group) will be created",
        "- eks.cluster (eks_cluster) example will be deleted",
    ] {
        assert!(text.contains(planned), "{planned:?} missing:\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("eks.addon[vpc-cni]") && l.contains(" ready ")),
        "{text}"
    );
    for output in ["cluster_name = example", "cluster_security_group_id = sg-"] {
        assert!(text.contains(output), "{output:?} missing:\n{text}");
    }
}
