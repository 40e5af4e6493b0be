//! AWS access for the commands: one SDK configuration, and the one read outside the
//! providers, `db init`'s of the managed master secret, as plain data (no SDK type
//! leaves this module). Live state is read through the providers only.

pub mod secrets;

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_eks::config::http::HttpResponse;
use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};

use crate::error::chain;
use crate::provider::aws::errors::{ErrorClass, classify};

/// How to reach AWS: the region, an optional named profile and endpoint override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsOptions {
    pub region: String,
    /// Named profile from the shared config files.
    pub profile: Option<String>,
    /// Endpoint for every service, e.g. an emulator's.
    pub endpoint_url: Option<String>,
}

/// A loaded AWS configuration whose credentials were found.
#[derive(Debug, Clone)]
pub struct Aws {
    config: SdkConfig,
    /// The account of the credentials in use (`sts:GetCallerIdentity`).
    account: String,
}

impl Aws {
    /// Loads the configuration (`aws_config::defaults` with the latest behaviour version)
    /// and resolves credentials once, so a missing login fails here with a clear error
    /// rather than inside the first call.
    pub async fn connect(options: &AwsOptions) -> Result<Self, AwsError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(options.region.clone()))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let Some(provider) = config.credentials_provider() else {
            return Err(AwsError::no_credentials(
                "no credentials provider is configured",
            ));
        };
        provider
            .provide_credentials()
            .await
            .map_err(|err| AwsError::no_credentials(chain(&err)))?;
        // The account is part of a stack's identity (plans name it, a saved plan is
        // refused in another); asking for it also proves the credentials work.
        let identity = aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
            .map_err(|err| AwsError::from_sdk("sts:GetCallerIdentity", "", &err))?;
        let account = identity.account().unwrap_or_default().to_owned();
        Ok(Self { config, account })
    }

    /// Returns the AWS account of the credentials in use.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Returns the SDK configuration every client is built from.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }

    /// Returns the region calls go to.
    pub fn region(&self) -> Option<&str> {
        self.config.region().map(Region::as_ref)
    }
}

/// What kind of AWS failure happened, for the CLI to choose a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// No credentials could be found or they could not be loaded.
    NoCredentials,
    /// The credentials lack a permission.
    AccessDenied,
    /// Anything else: network, throttling after retries, a service error.
    Other,
}

/// A failed AWS call: the operation, the resource it was about, and the SDK's message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}{}: {message}", resource.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
pub struct AwsError {
    pub kind: AwsErrorKind,
    /// The API operation, e.g. `rds:DescribeDBClusters`.
    pub operation: String,
    pub resource: Option<String>,
    pub message: String,
}

impl AwsError {
    fn no_credentials(message: impl Into<String>) -> Self {
        Self {
            kind: AwsErrorKind::NoCredentials,
            operation: "load AWS credentials".to_owned(),
            resource: None,
            message: message.into(),
        }
    }

    /// Makes the error of a failed SDK call, classified by the providers' one classifier
    /// ([`classify`]).
    pub(crate) fn from_sdk<E>(
        operation: &str,
        resource: &str,
        err: &SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let kind = match classify(err) {
            ErrorClass::AccessDenied => AwsErrorKind::AccessDenied,
            _ => AwsErrorKind::Other,
        };
        Self {
            kind,
            operation: operation.to_owned(),
            resource: (!resource.is_empty()).then(|| resource.to_owned()),
            message: chain(err),
        }
    }
}
