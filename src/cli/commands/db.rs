//! `db init`: creates the profile's databases and users in PostgreSQL.

use std::path::PathBuf;
use std::time::Duration;

use bpa_infra::aws;
use bpa_infra::dbinit::{self, DatabaseSpec, DbInitError, Password, Report, SslMode, Target};
use bpa_infra::profile::{MasterPassword, Profile};
use bpa_infra::provider::aws::ProviderOptions;
use bpa_infra::render::LiveOutputs;
use bpa_infra::stack::{Resource, ResourceKind};
use clap::{Args, Subcommand, ValueEnum};
use tokio_postgres::error::SqlState;

use crate::cli::stack_context::StackContext;
use crate::cli::{CliError, ExitStatus, GlobalArgs, OutputFormat, live};

/// Why `db init` needs AWS, for the hint when there are no credentials.
const AWS_HINT: &str = "or pass --host and take the master password from the environment \
    (`master_password: {from_env: VAR}`): `db init` reads AWS only for the RDS writer endpoint \
    and the managed master secret";

/// PostgreSQL's default port, which RDS Multi-AZ DB clusters keep.
const DEFAULT_PORT: u16 = 5432;

/// Subcommands of `db`.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create the profile's databases and users, or bring them in line with it
    Init(DbInitArgs),
}

/// Flags of `db init`.
#[derive(Debug, Args)]
pub struct DbInitArgs {
    /// Connect to this host instead of the RDS writer endpoint, e.g. a tunnel's local end
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Connect to this port [default: the RDS port, 5432]
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// TLS mode [default: require, or verify-full with --ca-bundle]
    #[arg(long, value_enum, value_name = "MODE")]
    pub sslmode: Option<SslModeArg>,
    /// Verify the server against the CA certificates in this PEM file (the RDS CA bundle)
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
}

/// `--sslmode` values, as libpq names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SslModeArg {
    /// No TLS
    Disable,
    /// Encrypt, without verifying the server certificate
    Require,
    /// Encrypt and verify the certificate and host name against --ca-bundle
    VerifyFull,
}

pub fn exec(global: &GlobalArgs, command: &DbCommand) -> Result<ExitStatus, CliError> {
    match command {
        DbCommand::Init(args) => init(global, args),
    }
}

/// Tells whether `db init` uses the outputs of `resource`: the DB cluster or instance,
/// for its writer endpoint, port and master secret.
fn database(resource: &Resource) -> bool {
    matches!(
        resource.kind,
        ResourceKind::DbCluster | ResourceKind::DbInstance
    )
}

fn init(global: &GlobalArgs, args: &DbInitArgs) -> Result<ExitStatus, CliError> {
    let context = StackContext::load(global, &[])?;
    let profile = &context.profile;
    let ssl_mode = ssl_mode(args)?;
    // Every password the run needs is checked before anything is contacted.
    let databases = database_specs(profile, |name| std::env::var(name).ok())?;
    let master_from_env = match &profile.rds.master_password {
        MasterPassword::FromEnv(var) => Some((
            profile.rds.master_username.clone(),
            Password::new(env_password(var, "rds.master_password")?),
        )),
        MasterPassword::Managed => None,
    };

    let (host, port, report) = live::runtime()?.block_on(async {
        // AWS is needed only for the writer endpoint (no --host) or the managed secret.
        let (outputs, (user, password)) = match (master_from_env, &args.host) {
            (Some(master), Some(_)) => (None, master),
            (master, _) => {
                // Read as `plan` reads it, and never another's: a look-alike stops here,
                // before its secret is read or its endpoint connected to.
                let (aws, providers) = context
                    .connect(global, "db init", &ProviderOptions::default())
                    .await?;
                let lives = context.read_ours(&providers, database).await?;
                let outputs = LiveOutputs::from_outputs(&bpa_infra::outputs::collect(&lives));
                let master = match master {
                    Some(master) => master,
                    None => {
                        managed_master(&aws, profile, outputs.master_secret_arn.as_deref()).await?
                    }
                };
                (Some(outputs), master)
            }
        };
        let host = match (
            &args.host,
            outputs.as_ref().and_then(|o| o.db_writer_endpoint.clone()),
        ) {
            (Some(host), _) => host.clone(),
            (None, Some(endpoint)) => endpoint,
            (None, None) => {
                return Err(CliError::cloud(format!(
                    "the RDS writer endpoint of `{}` is not known: the database does not exist yet",
                    profile.rds.identifier
                ))
                .hinted(
                    "run `bpa-infra up` first, or pass --host (and --port) to connect elsewhere",
                ));
            }
        };
        let port = args
            .port
            .or_else(|| outputs.as_ref().and_then(|o| o.db_port))
            .unwrap_or(DEFAULT_PORT);
        let target = Target {
            host,
            port,
            ssl_mode,
            user,
            password,
            connect_timeout: Duration::from_secs(15),
        };
        match dbinit::run(&target, &databases).await {
            Ok(report) => Ok((target.host, target.port, report)),
            Err(err) => Err(db_error(err, &target)),
        }
    })?;
    print_report(global, &host, port, &report);
    Ok(ExitStatus::Success)
}

fn ssl_mode(args: &DbInitArgs) -> Result<SslMode, CliError> {
    match (args.sslmode, &args.ca_bundle) {
        (None | Some(SslModeArg::VerifyFull), Some(bundle)) => Ok(SslMode::VerifyFull {
            ca_bundle: bundle.clone(),
        }),
        (Some(SslModeArg::VerifyFull), None) => Err(CliError::usage(
            "--sslmode verify-full needs --ca-bundle FILE",
        )
        .hinted("download the RDS CA bundle for the region (global-bundle.pem from the RDS documentation) and pass it with --ca-bundle")),
        (Some(mode), Some(_)) => Err(CliError::usage(format!(
            "--ca-bundle is only used with --sslmode verify-full, not {}",
            mode.to_possible_value().expect("no skipped values").get_name()
        ))),
        (None | Some(SslModeArg::Require), None) => Ok(SslMode::Require),
        (Some(SslModeArg::Disable), None) => Ok(SslMode::Disable),
    }
}

/// Collects every database with its owner's password from the environment, or names
/// every variable that is missing.
fn database_specs(
    profile: &Profile,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<DatabaseSpec>, CliError> {
    let mut missing: Vec<String> = Vec::new();
    let mut specs = Vec::new();
    for (i, db) in profile.rds.databases.iter().enumerate() {
        match lookup(&db.password_env).filter(|p| !p.is_empty()) {
            Some(password) => specs.push(DatabaseSpec {
                name: db.name.clone(),
                owner: db.user.clone(),
                owner_password: Password::new(password),
            }),
            None => {
                let line = format!(
                    "{} (rds.databases[{i}].password_env, the password of user `{}`)",
                    db.password_env, db.user
                );
                if !missing.contains(&line) {
                    missing.push(line);
                }
            }
        }
    }
    if missing.is_empty() {
        return Ok(specs);
    }
    Err(CliError::usage(format!(
        "missing password environment variable{}: {}",
        if missing.len() == 1 { "" } else { "s" },
        missing.join(", ")
    ))
    .hinted(
        "export each variable with the user's password; `db init` sets it on the role (md5-hashed)",
    ))
}

fn env_password(var: &str, field: &str) -> Result<String, CliError> {
    std::env::var(var)
        .ok()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            CliError::usage(format!(
                "missing password environment variable: {var} ({field})"
            ))
            .hinted(format!("export {var} with the RDS master password"))
        })
}

async fn managed_master(
    aws: &aws::Aws,
    profile: &Profile,
    secret_arn: Option<&str>,
) -> Result<(String, Password), CliError> {
    let Some(arn) = secret_arn else {
        return Err(CliError::cloud(format!(
            "RDS has no master user secret for `{}` (the database does not exist yet, or its password is not managed)",
            profile.rds.identifier
        ))
        .hinted("run `bpa-infra up` first"));
    };
    let credentials = aws::secrets::database_credentials(aws, arn)
        .await
        .map_err(|err| CliError::from_aws(err, AWS_HINT))?;
    Ok((credentials.username, Password::new(credentials.password)))
}

/// Turns a `db init` failure into a CLI error, with a hint about the connection that
/// only the target can give.
fn db_error(err: DbInitError, target: &Target) -> CliError {
    let hint = match &err {
        DbInitError::Connect { source, .. } => Some(connect_hint(source, target)),
        _ => None,
    };
    let error = CliError::from(err);
    match hint {
        Some(hint) => error.hinted(hint),
        None => error,
    }
}

fn connect_hint(source: &tokio_postgres::Error, target: &Target) -> String {
    if source.code() == Some(&SqlState::INVALID_PASSWORD) {
        return format!(
            "the server refused the password of `{}`: check the master password (the profile's `rds.master_password`)",
            target.user
        );
    }
    let text = bpa_infra::error::chain(source);
    if text.contains("does not support TLS") {
        return "the server offers no TLS; pass --sslmode disable if that is expected (a local server, or a tunnel that encrypts)".to_owned();
    }
    if text.contains("no encryption") || text.contains("SSL off") {
        return "the server requires TLS: leave out --sslmode disable".to_owned();
    }
    match target.ssl_mode {
        SslMode::VerifyFull { .. } => "check that the host is reachable from here and that the CA bundle and host name match the server's certificate (through a tunnel the host name differs: use --sslmode require)".to_owned(),
        SslMode::Disable | SslMode::Require => "check that the host is reachable from here: the RDS security group allows the pod CIDR, the node subnets and `rds.allowed_cidrs`; from outside the VPC, open a tunnel and pass --host and --port".to_owned(),
    }
}

#[allow(clippy::print_stdout)]
fn print_report(global: &GlobalArgs, host: &str, port: u16, report: &Report) {
    match global.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({
                "format_version": 1,
                "host": host,
                "port": port,
                "server_version": report.server_version,
                "changed": report.changed(),
                "changes": report.changes,
            })
        ),
        OutputFormat::Text => print!("{}", text_report(host, port, report)),
    }
}

/// Renders the report as a table and a closing line.
fn text_report(host: &str, port: u16, report: &Report) -> String {
    let rows: Vec<[String; 3]> = report
        .changes
        .iter()
        .map(|c| [c.object.to_string(), c.name.clone(), c.action.to_string()])
        .collect();
    let headers = ["OBJECT", "NAME", "RESULT"];
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].len())
            .chain([headers[i].len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1) = (width(0), width(1));
    let mut text = format!("{:w0$}  {:w1$}  {}\n", headers[0], headers[1], headers[2]);
    for [object, name, result] in &rows {
        text.push_str(&format!("{object:w0$}  {name:w1$}  {result}\n"));
    }
    let changed = report
        .changes
        .iter()
        .filter(|c| c.action.is_change())
        .count();
    if changed == 0 {
        text.push_str(&format!(
            "no changes: every database and user on {host}:{port} is as the profile says\n"
        ));
    } else {
        text.push_str(&format!(
            "{changed} change{} on {host}:{port} (PostgreSQL {})\n",
            if changed == 1 { "" } else { "s" },
            report.server_version
        ));
    }
    text
}
