//! Unit tests of the Multi-AZ DB cluster: teardown rules, and the calls moto does not
//! model (DescribeDBEngineVersions, orderable options for PostgreSQL) or cannot show
//! (what a create call carries) against `aws-smithy-mocks`.

use std::sync::{Arc, Mutex};

use aws_sdk_rds::operation::create_db_cluster::CreateDbClusterOutput;
use aws_sdk_rds::operation::delete_db_cluster::DeleteDbClusterOutput;
use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
use aws_sdk_rds::operation::describe_db_engine_versions::DescribeDbEngineVersionsOutput;
use aws_sdk_rds::operation::modify_db_cluster::ModifyDbClusterOutput;
use aws_smithy_mocks::{Rule, mock};

use super::super::DbInstanceProvider;
use super::super::database::deletion_refusal;
use super::super::test_support::{
    cluster, cluster_address, cluster_resource, cluster_spec, engine_versions, live, orderable, rds,
};
use super::*;
use crate::provider::Severity;
use crate::provider::aws::{FinalSnapshot, ProviderOptions, SecretLookup, TeardownOptions};
use crate::stack::{Component, SecretRef};

fn provider(rules: &[&Rule], options: ProviderOptions) -> DbClusterProvider {
    DbClusterProvider::new(rds(rules, options))
}

// --- teardown rules ------------------------------------------------------------------------

#[test]
fn a_protected_database_is_refused_naming_it_and_the_flag() {
    let observed = live(
        ResourceKind::DbCluster,
        cluster_address(),
        "prod-bpa",
        cluster_spec(),
    );
    let refusal = deletion_refusal(&observed, &TeardownOptions::default()).expect("refused");
    assert_eq!(refusal.code(), "DeletionProtection");
    let text = refusal.to_string();
    assert!(text.contains("DB cluster prod-bpa"), "{text}");
    assert!(text.contains("--disable-deletion-protection"), "{text}");
    let allowed = TeardownOptions {
        disable_deletion_protection: true,
        ..TeardownOptions::default()
    };
    assert!(deletion_refusal(&observed, &allowed).is_none());
    let allowing = provider(
        &[],
        ProviderOptions {
            teardown: allowed,
            ..ProviderOptions::default()
        },
    );
    assert!(allowing.deletion_refusal(&observed).is_none());
    assert!(
        provider(&[], ProviderOptions::default())
            .deletion_refusal(&observed)
            .is_some()
    );
    let unprotected = live(
        ResourceKind::DbCluster,
        cluster_address(),
        "prod-bpa",
        cluster_spec().with("deletion_protection", false),
    );
    assert!(deletion_refusal(&unprotected, &TeardownOptions::default()).is_none());
}

// --- against mocked RDS --------------------------------------------------------------------

#[tokio::test]
async fn preflight_accepts_a_class_orderable_as_a_multi_az_cluster() {
    let versions = engine_versions(&["16.4"]);
    let options = orderable(true);
    let rds = provider(&[&versions, &options], ProviderOptions::default());
    let findings = rds
        .preflight(&cluster_resource(cluster_spec()), Proposal::Create)
        .await
        .unwrap();
    assert_eq!(findings, vec![]);
    assert_eq!(versions.num_calls(), 1);
    assert_eq!(options.num_calls(), 1);
}

#[tokio::test]
async fn preflight_refuses_a_class_without_cluster_support() {
    let versions = engine_versions(&["16.4"]);
    let options = orderable(false);
    let shared = rds(&[&versions, &options], ProviderOptions::default());
    let clusters = DbClusterProvider::new(shared.clone());
    let findings = clusters
        .preflight(&cluster_resource(cluster_spec()), Proposal::Create)
        .await
        .unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].severity, Severity::Error);
    assert!(
        findings[0].message.contains("not as a Multi-AZ DB cluster"),
        "{}",
        findings[0].message
    );

    // The same class is fine as a Multi-AZ DB instance.
    let mut spec = cluster_spec();
    spec.remove("db_cluster_instance_class");
    spec.insert("db_instance_class", "db.m5d.2xlarge");
    let instance = Resource::managed(
        Address::new(Component::Rds, "instance"),
        ResourceKind::DbInstance,
        spec,
    );
    let instances = DbInstanceProvider::new(shared);
    assert_eq!(
        instances
            .preflight(&instance, Proposal::Create)
            .await
            .unwrap(),
        vec![]
    );
}

#[tokio::test]
async fn preflight_checks_storage_limits_of_the_class() {
    let versions = engine_versions(&["16.4"]);
    let options = orderable(true);
    let rds = provider(&[&versions, &options], ProviderOptions::default());
    let findings = rds
        .preflight(
            &cluster_resource(
                cluster_spec()
                    .with("allocated_storage", 50u32)
                    .with("iops", 500u32),
            ),
            Proposal::Create,
        )
        .await
        .unwrap();
    let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].contains("50 GiB"), "{messages:?}");
    assert!(messages[1].contains("500 IOPS"), "{messages:?}");
    let findings = rds
        .preflight(
            &cluster_resource(cluster_spec().with("storage_type", "gp3")),
            Proposal::Create,
        )
        .await
        .unwrap();
    assert!(
        findings[0].message.contains("does not offer gp3"),
        "{findings:?}"
    );
}

#[tokio::test]
async fn preflight_reports_a_missing_engine_version_with_the_versions_offered() {
    let exact = mock!(aws_sdk_rds::Client::describe_db_engine_versions)
        .match_requests(|r| r.engine_version() == Some("16.99"))
        .then_output(|| DescribeDbEngineVersionsOutput::builder().build());
    let family = engine_versions(&["16.4", "16.6"]);
    let options = orderable(true);
    let rds = provider(&[&exact, &family, &options], ProviderOptions::default());
    let findings = rds
        .preflight(
            &cluster_resource(cluster_spec().with("engine_version", "16.99")),
            Proposal::Create,
        )
        .await
        .unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].severity, Severity::Error);
    assert_eq!(
        findings[0].message,
        "RDS does not offer PostgreSQL 16.99 in this region; versions offered: 16.4, 16.6"
    );
    assert_eq!(
        options.num_calls(),
        0,
        "no class check for a version that does not exist"
    );
}

#[tokio::test]
async fn preflight_warns_when_a_check_cannot_be_made() {
    let failing = mock!(aws_sdk_rds::Client::describe_db_engine_versions)
        .sequence()
        .http_status(500, None)
        .repeatedly()
        .build();
    let options = orderable(true);
    let rds = provider(&[&failing, &options], ProviderOptions::default());
    let findings = rds
        .preflight(&cluster_resource(cluster_spec()), Proposal::Create)
        .await
        .unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].severity, Severity::Warning);
    assert!(
        findings[0]
            .message
            .starts_with("could not check that PostgreSQL 16.4 exists"),
        "{}",
        findings[0].message
    );
}

#[tokio::test]
async fn delete_refuses_a_protected_cluster_without_the_flag() {
    let describe = mock!(aws_sdk_rds::Client::describe_db_clusters).then_output(|| {
        DescribeDbClustersOutput::builder()
            .db_clusters(cluster(true, "available"))
            .build()
    });
    let delete = mock!(aws_sdk_rds::Client::delete_db_cluster)
        .then_output(|| DeleteDbClusterOutput::builder().build());
    let rds = provider(&[&describe, &delete], ProviderOptions::default());
    // The plan read it unprotected; RDS says otherwise now, and RDS wins.
    let observed = live(
        ResourceKind::DbCluster,
        cluster_address(),
        "prod-bpa",
        cluster_spec().with("deletion_protection", false),
    );
    let err = rds.delete(&observed, None).await.unwrap_err();
    assert_eq!(err.code(), "DeletionProtection");
    assert!(err.to_string().contains("--disable-deletion-protection"));
    assert_eq!(delete.num_calls(), 0);
}

#[tokio::test]
async fn delete_turns_protection_off_and_keeps_a_final_snapshot() {
    let describe = mock!(aws_sdk_rds::Client::describe_db_clusters)
        .sequence()
        .output(|| {
            DescribeDbClustersOutput::builder()
                .db_clusters(cluster(true, "available"))
                .build()
        })
        .output(|| {
            DescribeDbClustersOutput::builder()
                .db_clusters(cluster(false, "available"))
                .build()
        })
        .repeatedly()
        .build();
    let modify = mock!(aws_sdk_rds::Client::modify_db_cluster)
        .match_requests(|r| {
            r.deletion_protection() == Some(false) && r.apply_immediately() == Some(true)
        })
        .then_output(|| {
            ModifyDbClusterOutput::builder()
                .db_cluster(cluster(false, "available"))
                .build()
        });
    let snapshot: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = snapshot.clone();
    let delete = mock!(aws_sdk_rds::Client::delete_db_cluster)
        .match_requests(move |r| {
            *seen.lock().unwrap() = r.final_db_snapshot_identifier().map(str::to_owned);
            r.skip_final_snapshot() == Some(false)
        })
        .then_output(|| DeleteDbClusterOutput::builder().build());
    let teardown = TeardownOptions {
        disable_deletion_protection: true,
        ..TeardownOptions::default()
    };
    let taken = teardown.final_snapshots.clone();
    let rds = provider(
        &[&describe, &modify, &delete],
        ProviderOptions {
            teardown,
            ..ProviderOptions::default()
        },
    );
    let observed = live(
        ResourceKind::DbCluster,
        cluster_address(),
        "prod-bpa",
        cluster_spec(),
    );
    rds.delete(&observed, None).await.unwrap();
    assert_eq!(modify.num_calls(), 1);
    assert_eq!(delete.num_calls(), 1);
    let name = snapshot
        .lock()
        .unwrap()
        .clone()
        .expect("a final snapshot was asked for");
    let stamp = name.strip_prefix("prod-bpa-final-").expect(&name);
    assert!(
        stamp.len() == 14 && stamp.chars().all(|c| c.is_ascii_digit()),
        "{name}"
    );
    assert_eq!(
        taken.taken(),
        vec![FinalSnapshot {
            address: cluster_address(),
            db_identifier: "prod-bpa".into(),
            snapshot_identifier: name
        }]
    );
}

#[tokio::test]
async fn delete_can_skip_the_final_snapshot() {
    let describe = mock!(aws_sdk_rds::Client::describe_db_clusters).then_output(|| {
        DescribeDbClustersOutput::builder()
            .db_clusters(cluster(false, "available"))
            .build()
    });
    let delete = mock!(aws_sdk_rds::Client::delete_db_cluster)
        .match_requests(|r| {
            r.skip_final_snapshot() == Some(true) && r.final_db_snapshot_identifier().is_none()
        })
        .then_output(|| DeleteDbClusterOutput::builder().build());
    let teardown = TeardownOptions {
        skip_final_snapshot: true,
        ..TeardownOptions::default()
    };
    let taken = teardown.final_snapshots.clone();
    let rds = provider(
        &[&describe, &delete],
        ProviderOptions {
            teardown,
            ..ProviderOptions::default()
        },
    );
    let observed = live(
        ResourceKind::DbCluster,
        cluster_address(),
        "prod-bpa",
        cluster_spec(),
    );
    rds.delete(&observed, None).await.unwrap();
    assert_eq!(delete.num_calls(), 1);
    assert!(taken.taken().is_empty());
}

#[tokio::test]
async fn a_password_from_the_environment_goes_only_into_the_create_call() {
    const PASSWORD: &str = "Very-Secret-Passw0rd";
    let create = mock!(aws_sdk_rds::Client::create_db_cluster)
        .match_requests(|r| {
            r.master_user_password() == Some(PASSWORD) && r.manage_master_user_password().is_none()
        })
        .then_output(|| {
            CreateDbClusterOutput::builder()
                .db_cluster(cluster(true, "creating"))
                .build()
        });
    let mut spec = cluster_spec();
    spec.remove("manage_master_user_password");
    spec.insert("master_user_password", SecretRef::env("BPA_DB_PASSWORD"));
    let desired = cluster_resource(spec);

    let unset = provider(&[&create], ProviderOptions::default());
    let err = unset.create(&desired).await.unwrap_err();
    assert_eq!(err.code(), "MissingSecret");
    assert!(err.to_string().contains("env:BPA_DB_PASSWORD"));
    assert_eq!(create.num_calls(), 0);

    let weak = provider(
        &[&create],
        ProviderOptions {
            secrets: Arc::new(|_| Some("short".to_owned())),
            ..ProviderOptions::default()
        },
    );
    let err = weak.create(&desired).await.unwrap_err();
    assert_eq!(err.code(), "InvalidMasterPassword");
    assert!(!err.to_string().contains("short"), "{err}");
    assert_eq!(create.num_calls(), 0);

    let lookup: SecretLookup = Arc::new(|r: &SecretRef| {
        (r.as_str() == "env:BPA_DB_PASSWORD").then(|| PASSWORD.to_owned())
    });
    let rds = provider(
        &[&create],
        ProviderOptions {
            secrets: lookup,
            ..ProviderOptions::default()
        },
    );
    let created = rds.create(&desired).await.unwrap();
    assert_eq!(create.num_calls(), 1);
    assert!(!created.is_ready());
    let json = serde_json::to_string(&created).unwrap();
    assert!(!json.contains(PASSWORD));
    assert!(!format!("{created:?}").contains(PASSWORD));
}
