//! The run lock at the command line (see `bpa_infra::lock`): the flags, who this run
//! is (host, process id), whether another holder's process still runs, and what to say
//! while waiting or after taking a stale lock over.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bpa_infra::aws::Aws;
use bpa_infra::lock::{self, Holder, Liveness, LockEvent, LockOptions, LockStore, RunLock};
use bpa_infra::profile::Profile;
use bpa_infra::provider::aws::dynamodb::DynamoLockStore;
use clap::Args;

use super::{CliError, GlobalArgs, OutputFormat};

/// How `up` and `down` treat another run on the same profile.
#[derive(Debug, Clone, Default, Args)]
pub struct LockArgs {
    /// Wait up to SECONDS for another run on this profile to finish, instead of refusing at once
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub lock_wait: u64,
    /// Take over the lock of a run that is gone (its process has ended on this host, or it has been silent for 10 minutes)
    #[arg(long)]
    pub take_over_stale_lock: bool,
}

/// The lock store of the profile.
pub fn store(aws: &Aws, profile: &Profile) -> Arc<dyn LockStore> {
    Arc::new(DynamoLockStore::new(
        aws.sdk_config(),
        &profile.name,
        &profile.tags,
    ))
}

/// Takes the run lock of `profile` for `command`, waiting or taking over as `args` say.
pub async fn acquire(
    global: &GlobalArgs,
    store: Arc<dyn LockStore>,
    args: &LockArgs,
    command: &str,
) -> Result<RunLock, CliError> {
    let options = LockOptions {
        wait: Duration::from_secs(args.lock_wait),
        take_over_stale: args.take_over_stale_lock,
        ..LockOptions::default()
    };
    let holder = Holder {
        host: host_name(),
        pid: std::process::id(),
        command: command.to_owned(),
    };
    let output = global.output;
    lock::acquire(store, holder, &options, &liveness, &mut |event| {
        report(output, &event);
    })
    .await
    .map_err(CliError::from)
}

/// Deletes the lock's table when it is all that is left of the profile (`down` found
/// nothing else to delete) and no run holds it. Never makes the table, and a failure is
/// only logged: the profile's resources are gone either way.
pub async fn remove_if_idle(global: &GlobalArgs, store: Arc<dyn LockStore>) {
    match store.exists().await {
        Ok(true) => {}
        Ok(false) => return,
        Err(err) => {
            tracing::warn!("could not look for the run lock's table: {err}");
            return;
        }
    }
    match acquire(global, store, &LockArgs::default(), "down").await {
        Ok(lock) => release_and_remove(lock).await,
        Err(err) => tracing::warn!("left the run lock's table: {err}"),
    }
}

/// Releases the lock; a failure is only logged, as the run itself is over and the
/// lock goes stale on its own.
pub async fn release(lock: RunLock) {
    if let Err(err) = lock.release().await {
        tracing::warn!("could not release the run lock: {err}");
    }
}

/// Releases the lock and deletes its table (after a complete `down`).
pub async fn release_and_remove(lock: RunLock) {
    if let Err(err) = lock.release_and_remove().await {
        tracing::warn!("could not delete the run lock's table: {err}");
    }
}

/// Shows a wait or a take-over on stderr (a JSON line with `--output json`).
#[allow(clippy::print_stderr)]
fn report(output: OutputFormat, event: &LockEvent) {
    let (kind, held, text) = match event {
        LockEvent::Waiting { held, left } => (
            "lock_waiting",
            held,
            format!(
                "waiting up to {}s for the lock of this profile, held by {} since {}",
                left.as_secs(),
                held.holder,
                held.acquired_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            ),
        ),
        LockEvent::TookOver { held, staleness } => (
            "lock_taken_over",
            held,
            format!(
                "took over the lock held by {} since {}: {staleness}",
                held.holder,
                held.acquired_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            ),
        ),
    };
    match output {
        OutputFormat::Json => eprintln!(
            "{}",
            serde_json::json!({
                "format_version": 1,
                "event": kind,
                "holder": {
                    "host": held.holder.host,
                    "pid": held.holder.pid,
                    "command": held.holder.command,
                    "since": held.acquired_at.to_string(),
                },
                "text": text,
            })
        ),
        OutputFormat::Text => eprintln!("{text}"),
    }
}

/// This machine's name, as the lock records it.
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|n| !n.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Whether a holder's process still runs: knowable only on the same host, through
/// `/proc` (Linux). A process id now used by another program counts as gone.
fn liveness(holder: &Holder) -> Liveness {
    if holder.host != host_name() || !Path::new("/proc/self").exists() {
        return Liveness::Unknown;
    }
    match std::fs::read(format!("/proc/{}/cmdline", holder.pid)) {
        Ok(cmdline) if String::from_utf8_lossy(&cmdline).contains("bpa-infra") => Liveness::Alive,
        _ => Liveness::Gone,
    }
}
