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
                    // Short enough that an unreachable endpoint fails an interactive
                    // command in seconds, long enough for a slow network's handshake.
                    .connect_timeout(Duration::from_secs(3))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(profile) = &options.profile {
            // Without this check the SDK's chain falls through to instance metadata and
            // reports *that* failure; the AWS CLI says "The config profile (NAME) could
            // not be found", and so does this.
            if let Some(missing) = missing_profile(profile) {
                return Err(missing);
            }
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
            .map_err(|err| {
                // The chain's answer lists every provider it tried, one line each: what
                // a debug log is for. People get the one fact.
                tracing::debug!("credential chain: {}", chain(&err));
                match err {
                    aws_credential_types::provider::error::CredentialsError::CredentialsNotLoaded(_) => {
                        AwsError::no_credentials(
                            "no AWS credentials found (not in the environment, the shared config and credentials files, web identity, ECS or instance metadata)",
                        )
                    }
                    err => AwsError::no_credentials(chain(&err)),
                }
            })?;
        // The account is part of a stack's identity (plans name it, a saved plan is
        // refused in another); asking for it also proves the credentials work.
        let identity = aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
            .map_err(|err| match err {
                // The first call of every command: the one place to say, once, that the
                // endpoint cannot be reached, instead of one failure per resource later.
                SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => AwsError {
                    kind: AwsErrorKind::Unreachable,
                    operation: "sts:GetCallerIdentity".to_owned(),
                    resource: None,
                    message: format!(
                        "cannot reach AWS at {}: {}",
                        options.endpoint_url.as_deref().map_or_else(
                            || format!("the public endpoints of {}", options.region),
                            str::to_owned
                        ),
                        chain(&err)
                    ),
                },
                err => AwsError::from_sdk("sts:GetCallerIdentity", "", &err),
            })?;
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
    /// The named profile (`--aws-profile`, `AWS_PROFILE`) is in no shared config file.
    NoSuchProfile,
    /// The endpoint could not be reached (refused, timed out, no route, DNS).
    Unreachable,
    /// Anything else: throttling after retries, a service error.
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

/// Returns the error of a named profile found in neither shared file, or `None` when it
/// is there (or the files cannot be read: the SDK then says why). The files are those
/// the SDK reads: `AWS_CONFIG_FILE` (default `~/.aws/config`), where a profile is
/// `[profile NAME]` (or `[default]`), and `AWS_SHARED_CREDENTIALS_FILE` (default
/// `~/.aws/credentials`), where it is `[NAME]` (AWS SDKs and Tools reference guide,
/// "Shared config and credentials files", format section).
fn missing_profile(name: &str) -> Option<AwsError> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    let config = file("AWS_CONFIG_FILE", "config");
    let credentials = file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let read = |path: &Option<std::path::PathBuf>| {
        path.as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    };
    let in_config = section_names(&read(&config)).any(|section| {
        section
            .strip_prefix("profile")
            .filter(|rest| rest.starts_with(char::is_whitespace))
            .map(str::trim)
            .is_some_and(|n| n == name)
            || (section == "default" && name == "default")
    });
    let in_credentials = section_names(&read(&credentials)).any(|section| section == name);
    if in_config || in_credentials {
        return None;
    }
    let shown = |path: &Option<std::path::PathBuf>, default: &str| {
        path.as_ref()
            .map_or_else(|| default.to_owned(), |p| p.display().to_string())
    };
    Some(AwsError {
        kind: AwsErrorKind::NoSuchProfile,
        operation: "load AWS credentials".to_owned(),
        resource: None,
        message: format!(
            "no profile `{name}` in {} (nor in {})",
            shown(&config, "~/.aws/config"),
            shown(&credentials, "~/.aws/credentials")
        ),
    })
}

/// Returns the trimmed names of the `[sections]` of an INI-like shared file.
fn section_names(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        line.strip_prefix('[')
            .and_then(|l| l.split(']').next())
            .map(str::trim)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_names_are_read_as_the_sdks_read_them() {
        let text = "[default]\nregion = x\n[profile  dev ]\n# [profile commented]\n [prod]\n";
        let names: Vec<&str> = section_names(text).collect();
        assert_eq!(names, ["default", "profile  dev", "prod"]);
    }
}
