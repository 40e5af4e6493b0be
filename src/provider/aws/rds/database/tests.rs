//! Unit tests of what the RDS databases share: the classification of changes, the
//! diff, and the names of final snapshots.

use std::collections::BTreeMap;

use super::super::test_support::{cluster_address, cluster_resource, cluster_spec, live};
use super::*;
use crate::stack::SecretRef;

// --- classification ----------------------------------------------------------------------

#[test]
fn storage_type_changes_follow_what_rds_allows_for_clusters() {
    let spec = cluster_spec();
    let class = |attribute, before: Value, after: Value| {
        classify(
            &spec,
            ResourceKind::DbCluster,
            attribute,
            Some(&before),
            Some(&after),
        )
    };
    assert_eq!(
        class("storage_type", "io2".into(), "gp3".into()),
        ChangeClass::InPlace
    );
    assert!(
        matches!(class("storage_type", "io2".into(), "gp2".into()), ChangeClass::Forbidden(r) if r.contains("io1, io2 and gp3"))
    );
    let mut no_iops = cluster_spec();
    no_iops.remove("iops");
    assert!(matches!(
        classify(&no_iops, ResourceKind::DbCluster, "storage_type", Some(&"io2".into()), Some(&"gp3".into())),
        ChangeClass::Forbidden(r) if r.contains("rds.storage.iops")
    ));
    assert!(
        matches!(class("allocated_storage", 400u32.into(), 200u32.into()), ChangeClass::Forbidden(r) if r.contains("shrink"))
    );
    assert_eq!(
        class("allocated_storage", 400u32.into(), 500u32.into()),
        ChangeClass::InPlace
    );
    assert!(
        matches!(class("max_allocated_storage", Value::Null, 1000u32.into()), ChangeClass::Forbidden(r) if r.contains("autoscaling"))
    );
    assert!(
        matches!(class("port", 5432u16.into(), 5433u16.into()), ChangeClass::Forbidden(r) if r.contains("port"))
    );
    assert_eq!(
        class("backup_retention_period", 7u32.into(), 14u32.into()),
        ChangeClass::InPlace
    );
    assert_eq!(
        class(
            "db_cluster_instance_class",
            "db.m5d.large".into(),
            "db.m5d.xlarge".into()
        ),
        ChangeClass::InPlace
    );
    assert!(matches!(
        class("storage_encrypted", true.into(), false.into()),
        ChangeClass::Forbidden(_)
    ));
    // A Multi-AZ DB instance changes storage type in place, gp2 included.
    assert_eq!(
        classify(
            &spec,
            ResourceKind::DbInstance,
            "storage_type",
            Some(&"io1".into()),
            Some(&"gp2".into())
        ),
        ChangeClass::InPlace
    );
}

#[test]
fn database_diff_reports_only_real_changes() {
    let desired = cluster_resource(cluster_spec());
    let mut attributes = cluster_spec()
        .with("engine_version", "16.6")
        .with("copy_tags_to_snapshot", true)
        .with("publicly_accessible", false);
    attributes.insert("backup_retention_period", 1u32);
    let observed = live(
        ResourceKind::DbCluster,
        cluster_address(),
        "prod-bpa",
        attributes,
    );
    let changes = database_diff(&desired, &observed);
    let names: Vec<&str> = changes.iter().map(|c| c.attribute.as_str()).collect();
    // 16.6 is a newer minor RDS applied itself: not a downgrade to plan.
    assert_eq!(names, vec!["backup_retention_period"], "{changes:?}");

    // The tool's fixed settings are checked too.
    let drifted = live(
        ResourceKind::DbCluster,
        cluster_address(),
        "prod-bpa",
        cluster_spec()
            .with("copy_tags_to_snapshot", false)
            .with("publicly_accessible", false),
    );
    let changes = database_diff(&desired, &drifted);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].attribute, "copy_tags_to_snapshot");
    assert_eq!(changes[0].class, ChangeClass::InPlace);
}

#[test]
fn a_storage_type_change_says_what_rds_does_and_others_say_nothing() {
    let desired = cluster_resource(cluster_spec().with("storage_type", "gp3"));
    let observed = live(
        ResourceKind::DbCluster,
        cluster_address(),
        "prod-bpa",
        cluster_spec()
            .with("storage_type", "io2")
            .with("backup_retention_period", 1u32)
            .with("copy_tags_to_snapshot", true)
            .with("publicly_accessible", false),
    );
    let changes = database_diff(&desired, &observed);
    let notes: BTreeMap<&str, Option<&str>> = changes
        .iter()
        .map(|c| (c.attribute.as_str(), c.note.as_deref()))
        .collect();
    assert_eq!(
        notes,
        BTreeMap::from([
            ("backup_retention_period", None),
            ("storage_type", Some(STORAGE_TYPE_NOTE)),
        ]),
        "{changes:?}"
    );
    assert!(STORAGE_TYPE_NOTE.contains("optimized"));

    // A change RDS refuses carries its refusal, not the note.
    let mut no_iops = cluster_spec().with("storage_type", "gp3");
    no_iops.remove("iops");
    let changes = database_diff(&cluster_resource(no_iops), &observed);
    let storage = changes
        .iter()
        .find(|c| c.attribute == "storage_type")
        .expect("a storage type change");
    assert!(matches!(storage.class, ChangeClass::Forbidden(_)));
    assert_eq!(storage.note, None);
}

#[test]
fn switching_to_a_password_from_the_environment_is_noticed() {
    let mut spec = cluster_spec();
    spec.remove("manage_master_user_password");
    spec.insert("master_user_password", SecretRef::env("BPA_DB_PASSWORD"));
    let desired = cluster_resource(spec);
    let observed = live(
        ResourceKind::DbCluster,
        cluster_address(),
        "prod-bpa",
        cluster_spec()
            .with("copy_tags_to_snapshot", true)
            .with("publicly_accessible", false),
    );
    let changes = database_diff(&desired, &observed);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].attribute, "manage_master_user_password");
    assert_eq!(changes[0].after, Some(Value::Bool(false)));
}

// --- teardown rules ------------------------------------------------------------------------

#[test]
fn final_snapshot_names_carry_the_utc_time() {
    let at: jiff::Timestamp = "2026-11-23T17:05:09Z".parse().unwrap();
    assert_eq!(
        final_snapshot_identifier("prod-bpa", at),
        "prod-bpa-final-20261123170509"
    );
}
