//! AWS providers: one module per service, each implementing [`ResourceProvider`] for its
//! resource kinds with the AWS SDK. No SDK type leaves these modules.
//!
//! Shared here: the mapping of SDK errors onto [`ProviderError`](crate::provider::ProviderError)
//! (in `errors`, so the executor's retry decision is the same for every service) and
//! the ownership tags.

use std::collections::BTreeMap;

use crate::provider::Providers;
use crate::stack::{Spec, Value};

pub mod dynamodb;
mod ec2;
pub mod ecr;
mod eks;
pub(crate) mod errors;
mod iam;
mod options;
pub mod rds;
mod support;

pub use eks::{ClusterAccess, cluster_access};
// For the Atlas providers, which decide ownership from the VPC endpoint's tags.
pub(crate) use ec2::{EndpointFacts, EndpointLookup, NEXT_STEP};

// Every service maps its SDK errors through the one classifier in `errors`.
pub(crate) use errors::sdk_error;

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
