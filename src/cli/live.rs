//! The connection to AWS the commands share: the async runtime and the SDK options.

use bpa_infra::aws::{Aws, AwsOptions};
use bpa_infra::profile::Profile;

use super::{CliError, GlobalArgs};

/// Returns a runtime for one command's asynchronous work.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::internal(format!("cannot start the async runtime: {err}")))
}

/// Returns the AWS options from the global flags, in the profile's region.
pub fn aws_options(global: &GlobalArgs, profile: &Profile) -> AwsOptions {
    AwsOptions {
        // Never `--region` nor AWS_REGION: the profile's stack lives in its own region
        // (`GlobalArgs::load_profile` refuses a `--region` that differs).
        region: profile.region.clone(),
        profile: global.aws_profile.clone(),
        endpoint_url: global.endpoint_url.clone(),
    }
}

/// Connects to AWS with the global flags; `alternative` ends the hint when there are no
/// credentials (see [`CliError::from_aws`]).
pub async fn connect(
    global: &GlobalArgs,
    profile: &Profile,
    alternative: &str,
) -> Result<Aws, CliError> {
    Aws::connect(&aws_options(global, profile))
        .await
        .map_err(|err| CliError::from_aws(err, alternative))
}
