//! Unit tests of the RDS provider: classification and teardown rules as pure functions,
//! and the calls moto does not model (DescribeDBEngineVersions, orderable options for
//! PostgreSQL, parameter apply types) against `aws-smithy-mocks`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_rds::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_rds::operation::create_db_cluster::CreateDbClusterOutput;
use aws_sdk_rds::operation::delete_db_cluster::DeleteDbClusterOutput;
use aws_sdk_rds::operation::describe_db_cluster_parameter_groups::DescribeDbClusterParameterGroupsOutput;
use aws_sdk_rds::operation::describe_db_cluster_parameters::DescribeDbClusterParametersOutput;
use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
use aws_sdk_rds::operation::describe_db_engine_versions::DescribeDbEngineVersionsOutput;
use aws_sdk_rds::operation::describe_orderable_db_instance_options::DescribeOrderableDbInstanceOptionsOutput;
use aws_sdk_rds::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_rds::operation::modify_db_cluster::ModifyDbClusterOutput;
use aws_sdk_rds::operation::modify_db_cluster_parameter_group::ModifyDbClusterParameterGroupOutput;
use aws_sdk_rds::types::{DbClusterParameterGroup, DbEngineVersion, OrderableDbInstanceOption};
use aws_smithy_mocks::{Rule, RuleMode, create_mock_http_client, mock};

use super::*;
use crate::provider::aws::SecretLookup;
use crate::stack::{Component, SecretRef};

fn client(rules: &[&Rule]) -> Client {
    let mut interceptor =
        aws_smithy_mocks::MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    let config = aws_sdk_rds::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .http_client(create_mock_http_client())
        .interceptor(interceptor)
        // A 5xx is answered at once: the test is about what the provider makes of it.
        .retry_config(aws_sdk_rds::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

fn provider(rules: &[&Rule], options: ProviderOptions) -> RdsProvider {
    RdsProvider::new(client(rules), options)
}

fn cluster_address() -> Address {
    Address::new(Component::Rds, "cluster")
}

fn cluster_spec() -> Spec {
    Spec::new()
        .with("name", "prod-bpa")
        .with("engine", "postgres")
        .with("engine_version", "16.4")
        .with("db_cluster_instance_class", "db.m5d.2xlarge")
        .with("storage_type", "io2")
        .with("allocated_storage", 400u32)
        .with("iops", 3000u32)
        .with("master_username", "bpaadmin")
        .with("db_cluster_parameter_group_name", "prod-bpa-params")
        .with("db_subnet_group_name", "prod-bpa-subnets")
        .with("vpc_security_group_ids", Value::strings(["sg-1"]))
        .with("port", 5432u16)
        .with("backup_retention_period", 7u32)
        .with("storage_encrypted", true)
        .with("deletion_protection", true)
        .with("manage_master_user_password", true)
        .with(
            "tags",
            Value::Map([(crate::stack::PROFILE_TAG.to_owned(), Value::from("prod"))].into()),
        )
}

fn cluster_resource(spec: Spec) -> Resource {
    Resource::managed(cluster_address(), ResourceKind::DbCluster, spec)
}

fn live(kind: ResourceKind, address: Address, id: &str, attributes: Spec) -> Live {
    Live {
        address,
        kind,
        id: id.to_owned(),
        ownership: ObservedOwnership::Owned,
        status: Status::Ready,
        attributes,
        outputs: BTreeMap::new(),
    }
}

fn cluster(protected: bool, status: &str) -> DbCluster {
    DbCluster::builder()
        .db_cluster_identifier("prod-bpa")
        .db_cluster_arn("arn:aws:rds:us-west-2:123456789012:cluster:prod-bpa")
        .engine("postgres")
        .engine_version("16.4")
        .status(status)
        .deletion_protection(protected)
        .tag_list(
            Tag::builder()
                .key(crate::stack::PROFILE_TAG)
                .value("prod")
                .build(),
        )
        .build()
}

fn engine_versions(versions: &'static [&'static str]) -> Rule {
    mock!(aws_sdk_rds::Client::describe_db_engine_versions).then_output(move || {
        let mut output = DescribeDbEngineVersionsOutput::builder();
        for v in versions {
            output = output.db_engine_versions(
                DbEngineVersion::builder()
                    .engine("postgres")
                    .engine_version(*v)
                    .status("available")
                    .build(),
            );
        }
        output.build()
    })
}

fn orderable(supports_clusters: bool) -> Rule {
    mock!(aws_sdk_rds::Client::describe_orderable_db_instance_options)
        .match_requests(|r| {
            r.engine() == Some("postgres") && r.db_instance_class() == Some("db.m5d.2xlarge")
        })
        .then_output(move || {
            DescribeOrderableDbInstanceOptionsOutput::builder()
                .orderable_db_instance_options(
                    OrderableDbInstanceOption::builder()
                        .engine("postgres")
                        .engine_version("16.4")
                        .db_instance_class("db.m5d.2xlarge")
                        .storage_type("io2")
                        .supports_clusters(supports_clusters)
                        .multi_az_capable(true)
                        .min_storage_size(100)
                        .max_storage_size(65536)
                        .min_iops_per_db_instance(1000)
                        .max_iops_per_db_instance(256000)
                        .build(),
                )
                .build()
        })
}

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

#[test]
fn parameter_changes_are_reported_one_by_one_with_their_apply_type() {
    let address = Address::new(Component::Rds, "parameter_group");
    let desired = Resource::managed(
        address.clone(),
        ResourceKind::DbClusterParameterGroup,
        Spec::new()
            .with("name", "prod-bpa-params")
            .with("family", "postgres16")
            .with(
                "parameters",
                Value::Map(
                    [
                        (
                            "password_encryption".to_owned(),
                            Value::from("scram-sha-256"),
                        ),
                        ("max_connections".to_owned(), Value::from("500")),
                        ("log_min_duration_statement".to_owned(), Value::from("1000")),
                    ]
                    .into(),
                ),
            ),
    );
    let mut observed = live(
        ResourceKind::DbClusterParameterGroup,
        address,
        "prod-bpa-params",
        Spec::new()
            .with("name", "prod-bpa-params")
            .with("family", "postgres16")
            .with(
                "parameters",
                Value::Map(
                    [
                        ("password_encryption".to_owned(), Value::from("md5")),
                        ("max_connections".to_owned(), Value::Null),
                        ("log_min_duration_statement".to_owned(), Value::from("1000")),
                    ]
                    .into(),
                ),
            ),
    );
    observed.outputs.insert(
        "apply_types".to_owned(),
        Value::Map(
            [
                ("password_encryption".to_owned(), Value::from("dynamic")),
                ("max_connections".to_owned(), Value::from("static")),
            ]
            .into(),
        ),
    );
    let changes = parameter_group_diff(&desired, &observed);
    let summary: Vec<(&str, &ChangeClass)> = changes
        .iter()
        .map(|c| (c.attribute.as_str(), &c.class))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("parameters.max_connections", &ChangeClass::NeedsReboot),
            ("parameters.password_encryption", &ChangeClass::InPlace),
        ]
    );
    assert_eq!(changes[1].before, Some(Value::from("md5")));
    // Without an apply type from RDS, an unknown parameter is assumed to need a reboot.
    assert_eq!(
        parameter_class("some_extension.setting", None),
        ChangeClass::NeedsReboot
    );
    assert_eq!(
        parameter_class("password_encryption", None),
        ChangeClass::InPlace
    );
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
    assert!(allowed.refusal(&observed).is_none());
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
        .preflight(&cluster_resource(cluster_spec()))
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
    let rds = provider(&[&versions, &options], ProviderOptions::default());
    let findings = rds
        .preflight(&cluster_resource(cluster_spec()))
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
    assert_eq!(rds.preflight(&instance).await.unwrap(), vec![]);
}

#[tokio::test]
async fn preflight_checks_storage_limits_of_the_class() {
    let versions = engine_versions(&["16.4"]);
    let options = orderable(true);
    let rds = provider(&[&versions, &options], ProviderOptions::default());
    let findings = rds
        .preflight(&cluster_resource(
            cluster_spec()
                .with("allocated_storage", 50u32)
                .with("iops", 500u32),
        ))
        .await
        .unwrap();
    let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].contains("50 GiB"), "{messages:?}");
    assert!(messages[1].contains("500 IOPS"), "{messages:?}");
    let findings = rds
        .preflight(&cluster_resource(
            cluster_spec().with("storage_type", "gp3"),
        ))
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
        .preflight(&cluster_resource(
            cluster_spec().with("engine_version", "16.99"),
        ))
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
        .preflight(&cluster_resource(cluster_spec()))
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
async fn parameter_updates_apply_dynamic_ones_now_and_static_ones_on_reboot() {
    let sent: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let record = sent.clone();
    let modify = mock!(aws_sdk_rds::Client::modify_db_cluster_parameter_group)
        .match_requests(move |r| {
            for p in r.parameters() {
                record.lock().unwrap().push((
                    p.parameter_name().unwrap_or_default().to_owned(),
                    p.apply_method()
                        .map(|m| m.as_str().to_owned())
                        .unwrap_or_default(),
                ));
            }
            true
        })
        .then_output(|| ModifyDbClusterParameterGroupOutput::builder().build());
    let rds = provider(&[&modify], ProviderOptions::default());
    let address = Address::new(Component::Rds, "parameter_group");
    let desired = Resource::managed(
        address.clone(),
        ResourceKind::DbClusterParameterGroup,
        Spec::new().with("name", "prod-bpa-params").with(
            "parameters",
            Value::Map(
                [
                    ("password_encryption".to_owned(), Value::from("md5")),
                    ("max_connections".to_owned(), Value::from("500")),
                ]
                .into(),
            ),
        ),
    );
    let mut observed = live(
        ResourceKind::DbClusterParameterGroup,
        address,
        "prod-bpa-params",
        Spec::new().with(
            "parameters",
            Value::Map(
                [
                    (
                        "password_encryption".to_owned(),
                        Value::from("scram-sha-256"),
                    ),
                    ("max_connections".to_owned(), Value::from("100")),
                ]
                .into(),
            ),
        ),
    );
    observed.outputs.insert(
        "apply_types".to_owned(),
        Value::Map(
            [
                ("password_encryption".to_owned(), Value::from("dynamic")),
                ("max_connections".to_owned(), Value::from("static")),
            ]
            .into(),
        ),
    );
    let changes = rds.diff(&desired, &observed);
    let updated = rds.update(&desired, &observed, &changes).await.unwrap();
    assert_eq!(
        *sent.lock().unwrap(),
        vec![
            ("max_connections".to_owned(), "pending-reboot".to_owned()),
            ("password_encryption".to_owned(), "immediate".to_owned()),
        ]
    );
    assert_eq!(modify.num_calls(), 1);
    assert!(!updated.is_ready(), "wait_ready reads the values back");
}

#[tokio::test(start_paused = true)]
async fn wait_ready_reads_parameters_back_until_they_show() {
    let group =
        mock!(aws_sdk_rds::Client::describe_db_cluster_parameter_groups).then_output(|| {
            DescribeDbClusterParameterGroupsOutput::builder()
                .db_cluster_parameter_groups(
                    DbClusterParameterGroup::builder()
                        .db_cluster_parameter_group_name("prod-bpa-params")
                        .db_parameter_group_family("postgres16")
                        .db_cluster_parameter_group_arn(
                            "arn:aws:rds:us-west-2:123456789012:cluster-pg:prod-bpa-params",
                        )
                        .build(),
                )
                .build()
        });
    let tags = mock!(aws_sdk_rds::Client::list_tags_for_resource)
        .then_output(|| ListTagsForResourceOutput::builder().build());
    let parameters = |value: &'static str| {
        move || {
            DescribeDbClusterParametersOutput::builder()
                .parameters(
                    Parameter::builder()
                        .parameter_name("password_encryption")
                        .parameter_value(value)
                        .apply_type("dynamic")
                        .build(),
                )
                .build()
        }
    };
    let reads = mock!(aws_sdk_rds::Client::describe_db_cluster_parameters)
        .sequence()
        .output(parameters("scram-sha-256"))
        .output(parameters("md5"))
        .repeatedly()
        .build();
    let rds = provider(&[&group, &tags, &reads], ProviderOptions::default());
    let pending = Live {
        status: Status::InProgress("setting parameters".to_owned()),
        ..live(
            ResourceKind::DbClusterParameterGroup,
            Address::new(Component::Rds, "parameter_group"),
            "prod-bpa-params",
            Spec::new().with(
                "parameters",
                Value::Map([("password_encryption".to_owned(), Value::from("md5"))].into()),
            ),
        )
    };
    let ready = rds.wait_ready(&pending).await.unwrap();
    assert!(ready.is_ready());
    assert_eq!(reads.num_calls(), 2, "read once too early, then again");
    assert_eq!(
        ready.outputs.get("apply_types"),
        Some(&Value::Map(
            [("password_encryption".to_owned(), Value::from("dynamic"))].into()
        ))
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

// --- pre-flight checks of a plan -------------------------------------------------------------

fn one_change(action: crate::plan::Action, diffs: &[(&str, Value, Value)]) -> crate::plan::Plan {
    crate::plan::Plan {
        format_version: crate::plan::FORMAT_VERSION,
        profile: "prod".into(),
        region: None,
        account: None,
        only: Vec::new(),
        operation: crate::plan::Operation::Apply,
        changes: vec![crate::plan::Change {
            address: cluster_address(),
            kind: ResourceKind::DbCluster,
            action,
            id: None,
            diffs: diffs
                .iter()
                .map(|(attribute, before, after)| crate::plan::Diff {
                    attribute: (*attribute).to_owned(),
                    before: Some(before.clone()),
                    after: Some(after.clone()),
                })
                .collect(),
            reason: None,
            needs_reboot: false,
        }],
        conflicts: Vec::new(),
    }
}

fn one_cluster_stack(spec: Spec) -> crate::stack::Stack {
    crate::stack::Stack::new("prod", vec![cluster_resource(spec)]).unwrap()
}

#[tokio::test]
async fn a_plan_creating_a_database_rds_would_reject_is_refused() {
    let versions = engine_versions(&["16.4"]);
    let options = orderable(false);
    let rds = provider(&[&versions, &options], ProviderOptions::default());
    let stack = one_cluster_stack(cluster_spec());
    let mut plan = one_change(crate::plan::Action::Create, &[]);
    assert!(plan.is_applicable());

    let findings = rds.check_plan(&stack, &mut plan).await.unwrap();

    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(!plan.is_applicable(), "an error finding blocks the plan");
    assert_eq!(plan.conflicts.len(), 1);
    assert_eq!(plan.conflicts[0].address, cluster_address());
    assert_eq!(plan.conflicts[0].kind, ResourceKind::DbCluster);
    assert_eq!(
        plan.conflicts[0].reason,
        "pre-flight check: instance class db.m5d.2xlarge is orderable for PostgreSQL 16.4, but not as a Multi-AZ DB cluster"
    );
    let text = crate::plan::render_text(&plan, &crate::plan::TextOptions { color: false });
    assert!(text.contains("not as a Multi-AZ DB cluster"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&crate::plan::render_json(&plan)).unwrap();
    assert_eq!(json["conflicts"][0]["address"], "rds.cluster", "{json}");
}

#[tokio::test]
async fn a_plan_changing_the_class_or_version_is_checked_and_other_updates_are_not() {
    let versions = engine_versions(&["16.4"]);
    let options = orderable(false);
    let rds = provider(&[&versions, &options], ProviderOptions::default());
    let stack = one_cluster_stack(cluster_spec());

    // A backup setting says nothing about what RDS can order: no check, no refusal.
    let mut backups = one_change(
        crate::plan::Action::Update,
        &[("backup_retention_period", 7u32.into(), 14u32.into())],
    );
    assert_eq!(rds.check_plan(&stack, &mut backups).await.unwrap(), vec![]);
    assert!(backups.is_applicable());
    assert_eq!(versions.num_calls() + options.num_calls(), 0);

    // The instance class and the engine version are checked as on create.
    for attribute in ["db_cluster_instance_class", "engine_version"] {
        let mut plan = one_change(
            crate::plan::Action::Update,
            &[(attribute, "before".into(), "after".into())],
        );
        rds.check_plan(&stack, &mut plan).await.unwrap();
        assert!(!plan.is_applicable(), "{attribute}: {plan:?}");
        assert!(
            plan.conflicts[0]
                .reason
                .contains("not as a Multi-AZ DB cluster"),
            "{attribute}: {:?}",
            plan.conflicts
        );
    }
    assert_eq!(options.num_calls(), 2);

    // Nothing to check for a change that is not planned.
    let mut nothing = one_change(crate::plan::Action::NoOp, &[]);
    rds.check_plan(&stack, &mut nothing).await.unwrap();
    assert!(nothing.is_applicable());
    assert_eq!(options.num_calls(), 2);
}

#[tokio::test]
async fn a_check_that_cannot_be_made_does_not_refuse_the_plan() {
    let failing = mock!(aws_sdk_rds::Client::describe_db_engine_versions)
        .sequence()
        .http_status(500, None)
        .repeatedly()
        .build();
    let options = orderable(true);
    let rds = provider(&[&failing, &options], ProviderOptions::default());
    let stack = one_cluster_stack(cluster_spec());
    let mut plan = one_change(crate::plan::Action::Create, &[]);
    let findings = rds.check_plan(&stack, &mut plan).await.unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].severity, Severity::Warning);
    assert!(plan.is_applicable(), "{:?}", plan.conflicts);
}
