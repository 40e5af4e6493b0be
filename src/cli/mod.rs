//! The command line: clap definitions, global options, and dispatch to thin commands.

mod commands;
mod error;
mod live;
mod progress;
mod run_lock;
mod stack_context;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use error::{CliError, ExitStatus};

/// Provision the AWS infrastructure of a BPA deployment on Amazon EKS from one YAML profile.
#[derive(Debug, Parser)]
#[command(
    name = "bpa-infra",
    version,
    about,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Profile name (resolves to profiles/NAME.yaml) or path to a profile file
    #[arg(
        short,
        long,
        global = true,
        env = "BPA_INFRA_PROFILE",
        value_name = "NAME|PATH"
    )]
    pub profile: Option<String>,
    /// AWS region; must be the profile's own (a check for scripts: it never moves a stack)
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Named AWS credentials profile
    #[arg(long, global = true, env = "AWS_PROFILE", value_name = "NAME")]
    pub aws_profile: Option<String>,
    /// AWS endpoint URL, e.g. for an emulator
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Output format of results on stdout and of progress on stderr
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Disable colours (also when NO_COLOR is set)
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Log more (repeat for more detail)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Log only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Answer yes to confirmations (needed without a terminal)
    #[arg(long, global = true)]
    pub yes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the profile offline and report every error with its line
    Validate,
    /// Print the JSON Schema of the profile format
    Schema,
    /// Print shell completions
    Completions {
        /// Shell to generate completions for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Show what `up` would change, without changing anything
    Plan(commands::plan::PlanArgs),
    /// Create or repair everything the profile describes
    Up(commands::apply::UpArgs),
    /// Delete every resource the profile owns, dependents first
    Down(commands::apply::DownArgs),
    /// Show what exists, its state, who owns it, and how it drifted from the profile
    Status,
    /// Print endpoints and identifiers: cluster endpoint, DB endpoints, secret ARN, repository URIs, Atlas endpoint
    Outputs,
    /// Print a kubeconfig for the EKS cluster, or merge it into yours with --write
    Kubeconfig(commands::kubeconfig::KubeconfigArgs),
    /// Plan, apply or destroy the EKS cluster (and what it depends on)
    Eks {
        #[command(subcommand)]
        action: ComponentAction,
    },
    /// Plan, apply or destroy the PostgreSQL database (and what it depends on)
    Rds {
        #[command(subcommand)]
        action: ComponentAction,
    },
    /// Plan, apply or destroy the ECR repositories
    Ecr {
        #[command(subcommand)]
        action: ComponentAction,
    },
    /// Plan, apply or destroy the MongoDB Atlas private endpoint (and what it depends on)
    Atlas {
        #[command(subcommand)]
        action: ComponentAction,
    },
    /// Render the Kubernetes-side files (manifests, Helm values, scripts) for the profile
    Render(commands::render::RenderArgs),
    /// Bootstrap the PostgreSQL databases and users
    Db {
        #[command(subcommand)]
        command: commands::db::DbCommand,
    },
}

/// What a component subcommand (`eks`, `rds`, `ecr`, `atlas`) does.
#[derive(Debug, Subcommand)]
pub enum ComponentAction {
    /// Show what `up` would change in this component
    Plan(commands::plan::PlanArgs),
    /// Create or repair this component and what it depends on
    Up(commands::apply::UpArgs),
    /// Delete this component and what depends on it
    Down(commands::apply::DownArgs),
}

impl GlobalArgs {
    /// Tells whether colour may be used on a stream that is (or is not) a terminal.
    pub fn color(&self, is_terminal: bool) -> bool {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        is_terminal && !self.no_color && !no_color_env
    }

    /// Returns the profile path from `-p`/`BPA_INFRA_PROFILE`, or a usage error.
    pub fn profile_path(&self) -> Result<PathBuf, CliError> {
        let name = self.profile.as_deref().ok_or_else(|| {
            CliError::usage("no profile given")
                .hinted("pass `-p NAME` (profiles/NAME.yaml) or `-p path/to/profile.yaml`, or set BPA_INFRA_PROFILE")
        })?;
        Ok(bpa_infra::profile::resolve_path(name))
    }

    /// Loads the profile of `-p`, refusing a `--region` other than the profile's: a
    /// stack is (profile name, region, account), so a flag must never move a profile's
    /// stack to another region (nor does `AWS_REGION`: every call goes to the profile's
    /// region).
    pub fn load_profile(&self) -> Result<(PathBuf, bpa_infra::profile::Profile), CliError> {
        let path = self.profile_path()?;
        let profile = bpa_infra::profile::load(&path)?;
        if let Some(region) = self.region.as_deref().filter(|r| *r != profile.region) {
            return Err(CliError::usage(format!(
                "--region {region} differs from the region of profile {} ({}, in {})",
                profile.name,
                profile.region,
                path.display()
            ))
            .hinted("a profile's stack lives in the profile's region: drop --region, or use a profile written for that region (the same `name` in another region is another stack)"));
        }
        Ok((path, profile))
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let status = match err.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    ExitStatus::Success
                }
                _ => ExitStatus::Usage,
            };
            // clap renders its own help and usage errors (to stdout and stderr respectively).
            let _ = err.print();
            return status.into();
        }
    };
    let color = cli.global.color(std::io::stderr().is_terminal());
    init_logging(&cli.global, color);
    match commands::run(&cli) {
        Ok(status) => status.into(),
        Err(err) => {
            err.report(cli.global.output, color);
            err.status().into()
        }
    }
}

/// Sends logs to stderr at the level `-v`/`-q` ask for.
///
/// The AWS SDK and the PostgreSQL driver log errors only by default, warnings with `-v`,
/// and stay at `info` at most, even with `-vvv`: their
/// debug and trace output can include request parameters, and no secret may ever reach
/// a log.
fn init_logging(global: &GlobalArgs, color: bool) {
    let own = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    // By default the SDK logs nothing: its warnings (a credential provider that found
    // nothing, say) repeat, in its words, a failure the command reports once in its own.
    let others = match (global.quiet, global.verbose) {
        (true, _) | (false, 0) => "error",
        (false, 1) => "warn",
        (false, _) => "info",
    };
    let filter = tracing_subscriber::EnvFilter::new(format!("{others},bpa_infra={own}"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(global.verbose >= 2)
        .try_init();
}
