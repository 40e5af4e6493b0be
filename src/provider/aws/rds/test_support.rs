//! What the RDS unit tests share: an RDS client answered by `aws-smithy-mocks` rules,
//! a Multi-AZ DB cluster as the profile and RDS describe it, and the mocked answers of
//! the calls moto does not model (DescribeDBEngineVersions, orderable options for
//! PostgreSQL).

use std::collections::BTreeMap;

use aws_sdk_rds::Client;
use aws_sdk_rds::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_rds::operation::describe_db_engine_versions::DescribeDbEngineVersionsOutput;
use aws_sdk_rds::operation::describe_orderable_db_instance_options::DescribeOrderableDbInstanceOptionsOutput;
use aws_sdk_rds::types::{DbCluster, DbEngineVersion, OrderableDbInstanceOption, Tag};
use aws_smithy_mocks::{Rule, RuleMode, create_mock_http_client, mock};

use super::Rds;
use crate::provider::aws::ProviderOptions;
use crate::provider::{Live, ObservedOwnership, Status};
use crate::stack::{Address, Component, Resource, ResourceKind, Spec, Value};

/// An RDS client that answers with the first of `rules` that matches each request.
pub(crate) fn client(rules: &[&Rule]) -> Client {
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

/// The shared RDS client of the providers, over [`client`].
pub(crate) fn rds(rules: &[&Rule], options: ProviderOptions) -> Rds {
    Rds::new(client(rules), options)
}

pub(crate) fn cluster_address() -> Address {
    Address::new(Component::Rds, "cluster")
}

pub(crate) fn cluster_spec() -> Spec {
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

pub(crate) fn cluster_resource(spec: Spec) -> Resource {
    Resource::managed(cluster_address(), ResourceKind::DbCluster, spec)
}

/// A ready resource this profile owns, with no outputs.
pub(crate) fn live(kind: ResourceKind, address: Address, id: &str, attributes: Spec) -> Live {
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

/// The cluster of [`cluster_spec`] as RDS describes it.
pub(crate) fn cluster(protected: bool, status: &str) -> DbCluster {
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

/// RDS offers these PostgreSQL versions, all available.
pub(crate) fn engine_versions(versions: &'static [&'static str]) -> Rule {
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

/// RDS can order db.m5d.2xlarge with io2 storage, Multi-AZ capable, and as a Multi-AZ DB
/// cluster when `supports_clusters`.
pub(crate) fn orderable(supports_clusters: bool) -> Rule {
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
