//! What the engine commands share: the profile, its stack scoped by `--only`, and the
//! live state read through the providers (or assumed empty with `--offline`).

use std::path::PathBuf;

use bpa_infra::aws::Aws;
use bpa_infra::plan::{self, LiveState, Plan};
use bpa_infra::profile::Profile;
use bpa_infra::provider::aws::ProviderOptions;
use bpa_infra::provider::{Live, Providers, RetryPolicy, Severity};
use bpa_infra::stack::{self, Component, Resource, Stack};
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
        let (path, profile) = global.load_profile()?;
        let full = stack::build(&profile).map_err(|err| {
            CliError::internal(format!(
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

    /// Connects to AWS and returns the providers of every resource kind, with the
    /// default options: safe teardown, no secret resolved (enough to read and plan).
    pub async fn providers(
        &self,
        global: &GlobalArgs,
        command: &str,
    ) -> Result<Providers, CliError> {
        Ok(self
            .connect(global, command, &ProviderOptions::default())
            .await?
            .1)
    }

    /// Connects to AWS and returns the connection and the providers of every resource
    /// kind built with `options`, the Atlas ones included when the profile drives the
    /// Atlas Admin API (see [`register_atlas`]).
    pub async fn connect(
        &self,
        global: &GlobalArgs,
        command: &str,
        options: &ProviderOptions,
    ) -> Result<(Aws, Providers), CliError> {
        let aws = live::connect(global, &self.profile, without_aws(command)).await?;
        let mut providers = bpa_infra::provider::aws::providers_with(aws.sdk_config(), options);
        providers.set_account(aws.account());
        register_atlas(&mut providers, &self.profile, aws.sdk_config())?;
        Ok((aws, providers))
    }

    /// Runs the providers' pre-flight checks (for RDS: the engine version exists, the
    /// instance class is orderable in the profile's mode, with the storage asked for) of
    /// what `plan` would create, replace or update. What the cloud says it would reject
    /// becomes a conflict of `plan`, so `plan` shows it and `up` writes nothing; a check
    /// that cannot be made (missing permission) only warns.
    pub async fn preflight(&self, providers: &Providers, plan: &mut Plan) {
        match plan::preflight(&self.scoped, plan, providers).await {
            Ok(findings) => {
                for finding in findings {
                    if finding.severity == Severity::Warning {
                        tracing::warn!("pre-flight: {}: {}", finding.address, finding.message)
                    }
                }
            }
            Err(err) => tracing::warn!("pre-flight checks could not run: {err}"),
        }
    }

    /// Reads the live state of `stack` (no mutating call).
    pub async fn observe(
        &self,
        stack: &Stack,
        providers: &Providers,
    ) -> Result<LiveState, CliError> {
        Ok(plan::observe(stack, providers, &RetryPolicy::default()).await?)
    }

    /// Reads the resources of the profile's stack that `keep` selects (and nothing they
    /// depend on), the way `plan` reads them, and returns those that exist. One found by
    /// the profile's name that is not the profile's is refused rather than returned: the
    /// caller (`render`, `db init`) is about to use its values
    /// ([`bpa_infra::outputs::refuse_look_alikes`]).
    pub async fn read_ours(
        &self,
        providers: &Providers,
        keep: impl Fn(&Resource) -> bool,
    ) -> Result<Vec<Live>, CliError> {
        let stack = self.full.only(keep);
        let state = self.observe(&stack, providers).await?;
        let lives: Vec<Live> = stack
            .resources()
            .iter()
            .filter_map(|r| state.get(&r.address).cloned())
            .collect();
        bpa_infra::outputs::refuse_look_alikes(&lives, &self.profile.name)
            .map_err(CliError::cloud)?;
        Ok(lives)
    }

    /// Plans `up` of the scoped stack against `live`.
    pub fn plan_apply(&self, live: &LiveState, providers: &Providers) -> Plan {
        bpa_infra::engine::with_estimate(
            plan::plan_apply(&self.scoped, live, providers),
            &self.scoped,
        )
    }
}

/// Returns what `command` can do instead when AWS cannot be used (no credentials, no
/// such profile, unreachable), as a hint line; empty when nothing.
fn without_aws(command: &str) -> &'static str {
    match command {
        "plan" => {
            "or run `bpa-infra plan --offline`: it plans against no live state and needs no AWS"
        }
        "up" => "`bpa-infra plan --offline` shows what `up` would create, without AWS",
        "render" => "or run `bpa-infra render --offline` for placeholders instead of live values",
        "db init" => {
            "or pass --host and take the master password from the environment (`master_password: {from_env: VAR}`): `db init` reads AWS only for the RDS writer endpoint and the managed master secret"
        }
        _ => "",
    }
}

/// Service-account credentials for the Atlas Admin API (recommended).
const ATLAS_CLIENT_ID: &str = "MONGODB_ATLAS_CLIENT_ID";
const ATLAS_CLIENT_SECRET: &str = "MONGODB_ATLAS_CLIENT_SECRET";
/// Legacy programmatic API key.
const ATLAS_PUBLIC_KEY: &str = "MONGODB_ATLAS_PUBLIC_KEY";
const ATLAS_PRIVATE_KEY: &str = "MONGODB_ATLAS_PRIVATE_KEY";
/// Where the Atlas Admin API is, when not `https://cloud.mongodb.com`: the name the
/// MongoDB Atlas Terraform provider reads; not a command-line option.
const ATLAS_BASE_URL: &str = "MONGODB_ATLAS_BASE_URL";
/// The name bpa-infra read before, still accepted when the other is not set.
const ATLAS_BASE_URL_ALIAS: &str = "BPA_INFRA_ATLAS_BASE_URL";

/// Registers the Atlas providers when the profile names an Atlas project
/// (`atlas.project_id`): with the credentials in the environment, or, without them,
/// stand-ins that say what to set, so that commands not touching Atlas still work.
fn register_atlas(
    providers: &mut Providers,
    profile: &Profile,
    aws: &aws_config::SdkConfig,
) -> Result<(), CliError> {
    use bpa_infra::atlas::{AtlasClient, Credentials, DEFAULT_BASE_URL};
    use bpa_infra::provider::atlas;

    let uses_api = profile
        .atlas
        .as_ref()
        .is_some_and(|a| matches!(a.target, bpa_infra::profile::AtlasTarget::Project { .. }));
    if !uses_api {
        return Ok(());
    }
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let pair = |id: &str, secret: &str| match (var(id), var(secret)) {
        (Some(id), Some(secret)) => Ok(Some((id, secret))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(format!("{id} is set but {secret} is not: set both")),
        (None, Some(_)) => Err(format!("{secret} is set but {id} is not: set both")),
    };
    let credentials = match (
        pair(ATLAS_CLIENT_ID, ATLAS_CLIENT_SECRET),
        pair(ATLAS_PUBLIC_KEY, ATLAS_PRIVATE_KEY),
    ) {
        (Ok(Some((id, secret))), _) => Ok(Credentials::service_account(id, secret)),
        (Ok(None), Ok(Some((public, private)))) => Ok(Credentials::api_key(public, private)),
        (Err(problem), _) | (Ok(None), Err(problem)) => Err(problem),
        (Ok(None), Ok(None)) => Err(format!(
            "no Atlas credentials: set {ATLAS_CLIENT_ID} and {ATLAS_CLIENT_SECRET} (a service account with the Project Owner role), or {ATLAS_PUBLIC_KEY} and {ATLAS_PRIVATE_KEY} (an API key)"
        )),
    };
    match credentials {
        Ok(credentials) => {
            let (name, base_url) = match (var(ATLAS_BASE_URL), var(ATLAS_BASE_URL_ALIAS)) {
                (Some(url), _) => (ATLAS_BASE_URL, url),
                (None, Some(url)) => (ATLAS_BASE_URL_ALIAS, url),
                (None, None) => (ATLAS_BASE_URL, DEFAULT_BASE_URL.to_owned()),
            };
            let client = AtlasClient::with_base_url(credentials, &base_url)
                .map_err(|err| CliError::usage(format!("{name}: {err}")))?;
            atlas::register(providers, client, aws);
        }
        Err(problem) => atlas::register_unavailable(
            providers,
            format!(
                "the profile sets atlas.project_id, so bpa-infra drives the Atlas Admin API: {problem}; or give atlas.endpoint_service_name instead and register the endpoint in the Atlas UI"
            ),
        ),
    }
    Ok(())
}
