//! Unit tests of the parameter groups: one change per parameter with its apply type,
//! and the calls moto does not model (apply types, reading back) against
//! `aws-smithy-mocks`.

use std::sync::{Arc, Mutex};

use aws_sdk_rds::operation::describe_db_cluster_parameter_groups::DescribeDbClusterParameterGroupsOutput;
use aws_sdk_rds::operation::describe_db_cluster_parameters::DescribeDbClusterParametersOutput;
use aws_sdk_rds::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_rds::operation::modify_db_cluster_parameter_group::ModifyDbClusterParameterGroupOutput;
use aws_sdk_rds::types::DbClusterParameterGroup;
use aws_smithy_mocks::mock;

use super::super::test_support::{live, rds};
use super::*;
use crate::provider::aws::ProviderOptions;
use crate::stack::Component;

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
    let rds = DbClusterParameterGroupProvider::new(rds(&[&modify], ProviderOptions::default()));
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
    let rds = DbClusterParameterGroupProvider::new(rds(
        &[&group, &tags, &reads],
        ProviderOptions::default(),
    ));
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
