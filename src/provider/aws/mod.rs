//! AWS providers: one module per service, each implementing [`ResourceProvider`] for its
//! resource kinds with the AWS SDK. No SDK type leaves these modules.
//!
//! Shared here: the mapping of SDK errors onto [`ProviderError`] (so the executor's
//! retry decision is the same for every service) and the ownership tags.

use std::collections::BTreeMap;

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::provider::{ProviderError, Providers};
use crate::stack::{Address, Spec, Value};

pub mod dynamodb;
mod ec2;
pub mod ecr;
mod eks;
mod iam;
mod options;
pub mod rds;
mod support;

pub use eks::{ClusterAccess, cluster_access};
// For the Atlas providers, which decide ownership from the VPC endpoint's tags.
pub(crate) use ec2::{EndpointFacts, EndpointLookup, NEXT_STEP};

pub use options::{FinalSnapshot, FinalSnapshots, ProviderOptions, SecretLookup, TeardownOptions};

/// Builds the providers of every AWS resource kind from one SDK configuration, with
/// the default [`ProviderOptions`] (safe teardown, no secrets).
pub fn providers(config: &aws_config::SdkConfig) -> Providers {
    providers_with(config, &ProviderOptions::default())
}

/// Builds the providers of every AWS resource kind from one SDK configuration and the
/// options the command line gives (teardown flags, secret lookup).
pub fn providers_with(config: &aws_config::SdkConfig, options: &ProviderOptions) -> Providers {
    let mut providers = Providers::new();
    // One line per service module: `<service>::register(&mut providers, config[, options]);`
    rds::register(&mut providers, config, options);
    ecr::register(&mut providers, config, options);
    ec2::register(&mut providers, config);
    iam::register(&mut providers, config);
    eks::register(&mut providers, config);
    providers
}

/// Error codes AWS services use for throttling, across protocols.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Error codes that mean "try again later" without being throttling.
const TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ServerException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Maps an SDK error of any AWS service onto a [`ProviderError`] about `address`,
/// keeping the service's error code and message and the SDK error as the source.
pub(crate) fn sdk_error<E>(
    address: &Address,
    operation: &str,
    err: SdkError<E, HttpResponse>,
) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = err.code().unwrap_or_default().to_owned();
    let status = err.raw_response().map(|r| r.status().as_u16());
    // The service's own message when it gave one. Otherwise a short line: the SDK's full
    // context of an unparseable answer holds the whole raw response, which belongs in a
    // debug log (the error's source), not in the summary of a run.
    let detail = match (err.message(), status) {
        (Some(message), _) => message.to_owned(),
        (None, Some(status)) => format!("HTTP {status} answer without an AWS error code"),
        (None, None) => DisplayErrorContext(&err).to_string(),
    };
    let message = format!("{operation}: {detail}");
    let address = address.clone();
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => ProviderError::Connection {
            address,
            code: if code.is_empty() {
                "ConnectionError".to_owned()
            } else {
                code
            },
            message,
            source: Some(Box::new(err)),
        },
        _ if THROTTLING_CODES.contains(&code.as_str()) || status == Some(429) => {
            ProviderError::Throttled {
                address,
                code: or_status(code, status),
                message,
            }
        }
        _ if TRANSIENT_CODES.contains(&code.as_str()) || status.is_some_and(|s| s >= 500) => {
            ProviderError::Unavailable {
                address,
                code: or_status(code, status),
                message,
            }
        }
        SdkError::ResponseError(_) => ProviderError::Unavailable {
            address,
            code: or_status(code, status),
            message,
        },
        _ if code.contains("AlreadyExists")
            || code.ends_with(".Duplicate")
            || code == "EntityAlreadyExists" =>
        {
            ProviderError::AlreadyExists {
                address,
                code,
                message,
            }
        }
        _ if code.contains("NotFound") || code == "NoSuchEntity" => ProviderError::NotFound {
            address,
            code,
            message,
        },
        _ if code == "DependencyViolation"
            || code.contains("InUse")
            || code == "DeleteConflict" =>
        {
            ProviderError::InUse {
                address,
                code,
                message,
            }
        }
        _ => ProviderError::Rejected {
            address,
            code: or_status(code, status),
            message,
            source: Some(Box::new(err)),
        },
    }
}

fn or_status(code: String, status: Option<u16>) -> String {
    match (code.is_empty(), status) {
        (false, _) => code,
        (true, Some(status)) => format!("HTTP{status}"),
        (true, None) => "Unknown".to_owned(),
    }
}

/// Returns the spec's `tags` attribute as key/value pairs: the profile's tags and the
/// ownership tags the stack put there.
pub(crate) fn spec_tags(spec: &Spec) -> BTreeMap<String, String> {
    match spec.get("tags") {
        Some(Value::Map(tags)) => tags
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Turns tags read from AWS into the spec's `tags` value, for diffing.
pub(crate) fn tags_value(tags: impl IntoIterator<Item = (String, String)>) -> Value {
    Value::Map(tags.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
}
