//! What the engine commands share: the profile, its stack scoped by `--only`, and the
//! live state read through the providers (or assumed empty with `--offline`).

use std::path::PathBuf;

use bpa_infra::plan::{self, LiveState, Plan};
use bpa_infra::profile::{self, Profile};
use bpa_infra::provider::{Providers, RetryPolicy};
use bpa_infra::stack::{self, Component, Stack};
use clap::builder::TypedValueParser;

use super::{CliError, GlobalArgs, live};

/// Components named on the command line (`--only eks,rds`), validated by clap.
pub fn component_parser() -> impl TypedValueParser<Value = Component> {
    clap::builder::PossibleValuesParser::new(Component::ALL.map(Component::as_str)).map(|name| {
        name.parse::<Component>()
            .expect("clap only passes possible values")
    })
}

/// The loaded profile and the stack a command works on.
pub struct StackContext {
    pub path: PathBuf,
    pub profile: Profile,
    /// The whole stack of the profile.
    pub full: Stack,
    /// The stack scoped by `--only`: the named components and what they depend on.
    pub scoped: Stack,
}

impl StackContext {
    /// Loads the profile of `-p` and builds its stack, scoped to `only` (all when empty).
    pub fn load(global: &GlobalArgs, only: &[Component]) -> Result<Self, CliError> {
        let path = global.profile_path()?;
        let profile = profile::load(&path)?;
        let full = stack::build(&profile).map_err(|err| {
            CliError::failure(format!(
                "cannot build the stack of {}: {err}",
                path.display()
            ))
            .hinted("this is a bug in bpa-infra: please report it with the profile")
        })?;
        let scoped = if only.is_empty() {
            full.clone()
        } else {
            full.for_components(only)
        };
        Ok(Self {
            path,
            profile,
            full,
            scoped,
        })
    }

    /// Connects to AWS and returns the providers of every resource kind.
    pub async fn providers(
        &self,
        global: &GlobalArgs,
        command: &str,
    ) -> Result<Providers, CliError> {
        let aws = live::connect(global, &self.profile, command).await?;
        Ok(bpa_infra::provider::aws::providers(aws.sdk_config()))
    }

    /// Reads the live state of `stack` (no mutating call).
    pub async fn observe(
        &self,
        stack: &Stack,
        providers: &Providers,
    ) -> Result<LiveState, CliError> {
        plan::observe(stack, providers, &RetryPolicy::default())
            .await
            .map_err(|err| CliError::failure(err.to_string()))
    }

    /// Plans `up` of the scoped stack against `live`.
    pub fn plan_apply(&self, live: &LiveState, providers: &Providers) -> Plan {
        plan::plan_apply(&self.scoped, live, providers)
    }
}
