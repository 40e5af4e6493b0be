//! Fixtures the EKS providers' tests share: the example stack's resources, a client
//! whose calls the test answers, and EKS's error answers.

use aws_sdk_eks::Client;
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};

use crate::stack::{Resource, testing};

/// The example profile's cluster, named after the profile.
pub(super) const CLUSTER: &str = "example";

/// The resource at `address` in the example stack.
pub(super) fn resource(address: &str) -> Resource {
    testing::example_stack()
        .get(&address.parse().unwrap())
        .unwrap()
        .clone()
}

/// An EKS client whose calls `rules` answer, built by hand rather than with
/// `mock_client!`, which needs the SDK crates' `test-util` feature. SDK retries are
/// off: what is tested is how each answer is classified.
pub(super) fn client(rules: &[&Rule]) -> Client {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    let config = aws_sdk_eks::Config::builder()
        .behavior_version(aws_sdk_eks::config::BehaviorVersion::latest())
        .region(aws_sdk_eks::config::Region::new("us-west-2"))
        .credentials_provider(aws_sdk_eks::config::Credentials::new(
            "AKID", "SECRET", None, None, "test",
        ))
        .http_client(create_mock_http_client())
        .retry_config(aws_sdk_eks::config::retry::RetryConfig::disabled())
        .interceptor(interceptor)
        .build();
    Client::from_conf(config)
}

/// An EKS error answer as the service sends it: REST-JSON with the code in `__type`.
pub(super) fn eks_error(code: &str, message: &str) -> Option<String> {
    Some(serde_json::json!({ "__type": code, "message": message }).to_string())
}

/// Answers DescribeCluster with an existing cluster: addons are read only then.
pub(super) fn existing_cluster() -> Rule {
    mock!(Client::describe_cluster).then_output(|| {
        aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput::builder()
            .cluster(
                aws_sdk_eks::types::Cluster::builder()
                    .name("example")
                    .build(),
            )
            .build()
    })
}
