//! `up` and `down`: plan, confirm, then apply the plan through the executor, showing
//! progress on stderr and a summary on stdout.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use bpa_infra::engine::{Cancellation, Executor, ExecutorOptions, Summary};
use bpa_infra::plan::{self, Plan};
use bpa_infra::profile::{MasterPassword, check_master_password};
use bpa_infra::provider::aws::{FinalSnapshot, FinalSnapshots, ProviderOptions, TeardownOptions};
use bpa_infra::stack::{Component, SecretRef, Teardown};
use clap::Args;

use super::plan::print_plan;
use crate::cli::run_lock::{self, LockArgs};
use crate::cli::stack_context::{StackContext, component_parser};
use crate::cli::{CliError, ExitStatus, GlobalArgs, OutputFormat, live, progress};

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Apply only these components and what they depend on
    #[arg(long, value_delimiter = ',', value_parser = component_parser(), value_name = "COMPONENTS")]
    pub only: Vec<Component>,
    /// Apply the plan saved by `plan --out FILE`, if the live state has not moved since
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DownArgs {
    /// Destroy only these components and what depends on them
    #[arg(long, value_delimiter = ',', value_parser = component_parser(), value_name = "COMPONENTS")]
    pub only: Vec<Component>,
    /// Turn off the database's deletion protection, then delete it
    #[arg(long)]
    pub disable_deletion_protection: bool,
    /// Delete the database without taking a final snapshot
    #[arg(long)]
    pub skip_final_snapshot: bool,
    /// Delete ECR repositories together with the images they hold
    #[arg(long)]
    pub force_delete_images: bool,
    #[command(flatten)]
    pub lock: LockArgs,
}

/// Runs `up`.
pub fn up(global: &GlobalArgs, args: &UpArgs) -> Result<ExitStatus, CliError> {
    let saved = args
        .plan
        .as_ref()
        .map(|path| Plan::load(path).map_err(CliError::from))
        .transpose()?;
    // A saved plan carries its scope: `up --plan FILE` applies it as saved.
    let only = match &saved {
        Some(saved) if !args.only.is_empty() && args.only != saved.only => {
            return Err(CliError::usage(format!(
                "--only {} differs from the scope the plan was saved with ({})",
                components(&args.only),
                if saved.only.is_empty() {
                    "the whole stack".to_owned()
                } else {
                    components(&saved.only)
                }
            ))
            .hinted(
                "drop --only: `up --plan FILE` applies the plan with the scope it was saved with",
            ));
        }
        Some(saved) => saved.only.clone(),
        None => args.only.clone(),
    };
    let context = StackContext::load(global, &only)?;
    check_secret_env(&context)?;
    // The saved plan was the review: applying it asks nothing more.
    if saved.is_none() {
        ensure_can_confirm(global)?;
    }
    let options = ProviderOptions {
        secrets: Arc::new(env_secret),
        ..ProviderOptions::default()
    };
    live::runtime()?.block_on(async {
        let (aws, providers) = context.connect(global, "up", &options).await?;
        let live = context.observe(&context.scoped, &providers).await?;
        let mut plan = context.plan_apply(&live, &providers);
        plan.only = only.clone();
        context.preflight(&providers, &mut plan).await;
        if let Some(saved) = &saved {
            refuse_if_moved(saved, &plan)?;
        }
        if !plan.is_applicable() {
            print_run_plan(global, &plan);
            return Err(CliError::cloud(format!(
                "the plan has {} conflict(s): nothing was changed",
                plan.conflicts.len()
            )));
        }
        if !plan.has_changes() {
            if global.output == OutputFormat::Json {
                print_run_plan(global, &plan);
            }
            let result =
                report_no_changes(global, &plan, "No changes: the cloud matches the profile.");
            let vpc_endpoint = live.get(&bpa_infra::provider::atlas::vpc_endpoint_address());
            print_atlas_next_step(global, &context, vpc_endpoint.map(|l| &l.outputs));
            return result;
        }
        if saved.is_none() {
            print_run_plan(global, &plan);
            confirm(
                global,
                &format!("Apply these changes to profile {}?", plan.profile),
                None,
            )?;
        }
        let store = run_lock::store(&aws, &context.profile);
        let mut lock = run_lock::acquire(global, store, &args.lock, "up").await?;
        let result = async {
            // Another run may have changed the cloud while this one planned or waited
            // for the lock: apply only the confirmed plan, and only if it still holds.
            let live = context.observe(&context.scoped, &providers).await?;
            let mut fresh = context.plan_apply(&live, &providers);
            fresh.only = only.clone();
            if !fresh.has_changes() {
                return report_no_changes(global, &fresh, "No changes: another run made them.");
            }
            refuse_if_changed_meanwhile(&plan, &fresh)?;
            let cancel = lock_loss_cancels(&mut lock);
            let (summary, by_signal) =
                execute(global, providers, &fresh, &context.scoped, &live, cancel).await?;
            let result = finish(global, &summary, by_signal);
            let vpc_endpoint = summary
                .outputs
                .get(&bpa_infra::provider::atlas::vpc_endpoint_address());
            print_atlas_next_step(global, &context, vpc_endpoint);
            result
        }
        .await;
        run_lock::release(lock).await;
        result
    })
}

/// Returns the cancellation of a run under `lock`: set when another run takes the lock
/// over (it found this one silent), so that this one starts nothing more.
fn lock_loss_cancels(lock: &mut bpa_infra::lock::RunLock) -> Cancellation {
    let cancel = Cancellation::new();
    let on_lost = cancel.clone();
    lock.keep_alive(move || {
        tracing::error!("another run took over the lock of this profile: stopping");
        on_lost.cancel();
    });
    cancel
}

/// Writes components as `--only` takes them: `network,iam`.
fn components(components: &[Component]) -> String {
    components
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Refuses to apply when the plan made under the lock is not the one confirmed.
fn refuse_if_changed_meanwhile(confirmed: &Plan, now: &Plan) -> Result<(), CliError> {
    let moved = confirmed.moved_since(now);
    if moved.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = moved
        .iter()
        .map(|m| format!("  {}: planned: {}; now: {}", m.subject, m.saved, m.now))
        .collect();
    Err(CliError::cloud(format!(
        "another run changed the cloud after this plan was made; nothing was changed:\n{}",
        lines.join("\n")
    ))
    .hinted("run the same command again to see and apply the new plan"))
}

/// Shows what is left to do in the Atlas UI when the profile names the endpoint
/// service (no Atlas API call is made) and Atlas may not know the VPC endpoint yet: on
/// stdout after the summary, or as a JSON line on stderr with `--output json` (stdout
/// keeps its one document).
#[allow(clippy::print_stdout, clippy::print_stderr)]
fn print_atlas_next_step(
    global: &GlobalArgs,
    context: &StackContext,
    vpc_endpoint: Option<&std::collections::BTreeMap<String, bpa_infra::stack::Value>>,
) {
    let Some(step) = bpa_infra::provider::atlas::manual_next_step(&context.profile, vpc_endpoint)
    else {
        return;
    };
    match global.output {
        OutputFormat::Text => println!("\nNext step: {step}"),
        OutputFormat::Json => eprintln!(
            "{}",
            serde_json::json!({"format_version": 1, "event": "next_step", "address": "atlas.vpc_endpoint", "text": step})
        ),
    }
}

/// Runs `down`.
pub fn down(global: &GlobalArgs, args: &DownArgs) -> Result<ExitStatus, CliError> {
    let context = StackContext::load(global, &[])?;
    ensure_can_confirm(global)?;
    let teardown = (!args.only.is_empty()).then(|| {
        let without = bpa_infra::stack::build_without(&context.profile, &args.only).ok();
        context.full.teardown(&args.only, without.as_ref())
    });
    let stack = teardown
        .as_ref()
        .map_or_else(|| context.full.clone(), |t| t.stack.clone());
    let plan_down = |live: &plan::LiveState, providers: &bpa_infra::provider::Providers| {
        let plan = match &teardown {
            Some(teardown) => plan::plan_teardown(teardown, live, providers),
            None => plan::plan_destroy(&stack, live, providers),
        };
        bpa_infra::engine::with_estimate(plan, &stack)
    };
    let teardown_options = TeardownOptions {
        disable_deletion_protection: args.disable_deletion_protection,
        skip_final_snapshot: args.skip_final_snapshot,
        force_delete_images: args.force_delete_images,
        final_snapshots: FinalSnapshots::default(),
    };
    let snapshots = teardown_options.final_snapshots.clone();
    let options = ProviderOptions {
        teardown: teardown_options,
        ..ProviderOptions::default()
    };
    live::runtime()?.block_on(async {
        let (aws, providers) = context.connect(global, "down", &options).await?;
        let live = observe_down(&context, &stack, teardown.as_ref(), &providers).await?;
        let plan = plan_down(&live, &providers);
        let store = run_lock::store(&aws, &context.profile);
        print_run_plan(global, &plan);
        if !plan.is_applicable() {
            return Err(CliError::cloud(format!(
                "the plan has {} conflict(s): nothing was deleted",
                plan.conflicts.len()
            )));
        }
        if !plan.has_changes() {
            if args.only.is_empty() {
                run_lock::remove_if_idle(global, store).await;
            }
            return report_no_changes(global, &plan, "Nothing to delete.");
        }
        confirm(
            global,
            &format!(
                "Delete these resources of profile {}? This cannot be undone.",
                plan.profile
            ),
            Some(&plan.profile),
        )?;
        let mut lock = run_lock::acquire(global, store, &args.lock, "down").await?;
        let result = async {
            // As for `up`: delete only what was confirmed, if it is still so.
            let live = observe_down(&context, &stack, teardown.as_ref(), &providers).await?;
            let fresh = plan_down(&live, &providers);
            if !fresh.has_changes() {
                return report_no_changes(global, &fresh, "Nothing to delete: another run did.");
            }
            refuse_if_changed_meanwhile(&plan, &fresh)?;
            let cancel = lock_loss_cancels(&mut lock);
            let (summary, by_signal) =
                execute(global, providers, &fresh, &stack, &live, cancel).await?;
            report_snapshots(global, &snapshots.taken());
            finish(global, &summary, by_signal)
        }
        .await;
        // The lock's table goes with the last of the profile's resources.
        if args.only.is_empty() && matches!(result, Ok(ExitStatus::Success)) {
            run_lock::release_and_remove(lock).await;
        } else {
            run_lock::release(lock).await;
        }
        result
    })
}

/// Reads what `down` works on, and for `down --only` also the kept resources that use
/// what it would delete: those that exist block it.
async fn observe_down(
    context: &StackContext,
    stack: &bpa_infra::stack::Stack,
    teardown: Option<&Teardown>,
    providers: &bpa_infra::provider::Providers,
) -> Result<plan::LiveState, CliError> {
    let mut live = context.observe(stack, providers).await?;
    if let Some(teardown) = teardown.filter(|t| !t.users.is_empty()) {
        let users = context.observe(&teardown.users, providers).await?;
        for found in users.iter() {
            live.insert(found.clone());
        }
    }
    Ok(live)
}

/// Resolves `env:NAME` secret references from the environment, at the moment a provider
/// needs the value (the core never reads the environment itself).
fn env_secret(reference: &SecretRef) -> Option<String> {
    match reference.parts() {
        ("env", name) => std::env::var(name).ok().filter(|v| !v.is_empty()),
        _ => None,
    }
}

/// Says which final DB snapshots `down` asked for: the way back after a mistake.
#[allow(clippy::print_stdout)]
fn report_snapshots(global: &GlobalArgs, snapshots: &[FinalSnapshot]) {
    for s in snapshots {
        match global.output {
            // stdout holds one JSON document (the summary): the snapshot goes to the log.
            OutputFormat::Json => tracing::warn!(
                address = %s.address, db = %s.db_identifier, snapshot = %s.snapshot_identifier, "final snapshot taken"
            ),
            OutputFormat::Text => {
                println!(
                    "Final snapshot of {} ({}): {}",
                    s.address, s.db_identifier, s.snapshot_identifier
                );
            }
        }
    }
}

/// Refuses `up` when the variable holding the master password is unset, or holds a
/// password RDS would refuse: better now than halfway through a run. Only the master
/// password matters here, and only when the database is in scope: the application
/// users' passwords are for `db init`. Never shows a value.
fn check_secret_env(context: &StackContext) -> Result<(), CliError> {
    let MasterPassword::FromEnv(var) = &context.profile.rds.master_password else {
        return Ok(());
    };
    if !context.scoped.components().contains(&Component::Rds) {
        return Ok(());
    }
    let value = std::env::var(var).ok().filter(|v| !v.is_empty()).ok_or_else(|| {
        CliError::invalid_profile(format!(
            "{}: rds.master_password.from_env names {var}, which is not set",
            context.path.display()
        ))
        .hinted(format!("export {var} before `up`: the master password is read from it and never written anywhere"))
    })?;
    if let Err(problem) = check_master_password(&value, context.profile.rds.mode) {
        return Err(CliError::invalid_profile(format!(
            "the master password in {var}: {}",
            problem.message
        ))
        .hinted(problem.hint));
    }
    Ok(())
}

fn refuse_if_moved(saved: &Plan, now: &Plan) -> Result<(), CliError> {
    let moved = saved.moved_since(now);
    if moved.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = moved
        .iter()
        .map(|m| format!("  {}: saved plan: {}; now: {}", m.subject, m.saved, m.now))
        .collect();
    Err(CliError::cloud(format!(
        "the live state or the profile moved since the plan was saved:\n{}",
        lines.join("\n")
    ))
    .hinted("run `bpa-infra plan --out FILE` again, review it, and apply the new plan"))
}

/// Prints the plan a run applies. With `--output json` it is one line, as the summary
/// after it is: the stdout of `up` and `down` is JSON lines, one document a line.
#[allow(clippy::print_stdout)]
fn print_run_plan(global: &GlobalArgs, plan: &Plan) {
    match global.output {
        OutputFormat::Json => println!("{}", plan::json_document(plan)),
        OutputFormat::Text => print_plan(global, plan),
    }
}

/// Returns the summary document of `--output json` (docs/json.md, "summary").
fn summary_json(summary: &Summary) -> serde_json::Value {
    let mut doc = serde_json::to_value(summary).expect("a summary is plain data");
    doc["format_version"] = 1.into();
    doc["counts"] = serde_json::to_value(summary.tally()).expect("counts are plain data");
    doc
}

/// Ends a run that has nothing to do: the text, or with `--output json` the summary
/// document of a run that changed nothing (the plan line is already out: one document
/// each, never the plan twice).
fn report_no_changes(global: &GlobalArgs, plan: &Plan, text: &str) -> Result<ExitStatus, CliError> {
    match global.output {
        OutputFormat::Json => {
            let nothing = Summary {
                profile: plan.profile.clone(),
                operation: plan.operation,
                resources: Vec::new(),
                elapsed: std::time::Duration::ZERO,
                estimated: std::time::Duration::ZERO,
                outputs: Default::default(),
            };
            #[allow(clippy::print_stdout)]
            {
                println!("{}", summary_json(&nothing));
            }
        }
        OutputFormat::Text => {
            #[allow(clippy::print_stdout)]
            {
                println!("{text}");
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// Refuses at once, before any AWS call, a run that could never be confirmed: no
/// terminal to ask on and no `--yes`.
fn ensure_can_confirm(global: &GlobalArgs) -> Result<(), CliError> {
    if global.yes || std::io::stdin().is_terminal() {
        return Ok(());
    }
    Err(
        CliError::usage("refusing to change the cloud without confirmation")
            .hinted("there is no terminal to ask on: pass --yes to confirm"),
    )
}

/// Asks on the terminal unless `--yes`; without a terminal `--yes` is required.
/// With `typed`, the answer must be that word (the profile name, for `down`).
#[allow(clippy::print_stderr)]
fn confirm(global: &GlobalArgs, question: &str, typed: Option<&str>) -> Result<(), CliError> {
    if global.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(
            CliError::usage("refusing to change the cloud without confirmation")
                .hinted("there is no terminal to ask on: pass --yes to confirm"),
        );
    }
    match typed {
        Some(word) => eprint!("{question} Type `{word}` to confirm: "),
        None => eprint!("{question} [y/N] "),
    }
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|err| CliError::local(format!("cannot read the answer: {err}")))?;
    let answer = answer.trim();
    let yes = match typed {
        Some(word) => answer == word,
        None => matches!(answer, "y" | "Y" | "yes" | "YES" | "Yes"),
    };
    if yes {
        Ok(())
    } else {
        Err(CliError::local("cancelled: nothing was changed"))
    }
}

/// Runs the executor with a reporter, stopping new work on Ctrl-C or `cancel`; returns
/// the summary and whether Ctrl-C stopped it.
async fn execute(
    global: &GlobalArgs,
    providers: bpa_infra::provider::Providers,
    plan: &Plan,
    stack: &bpa_infra::stack::Stack,
    live: &bpa_infra::plan::LiveState,
    cancel: Cancellation,
) -> Result<(Summary, bool), CliError> {
    let reporter = progress::reporter(global);
    let on_signal = cancel.clone();
    let signalled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = signalled.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            seen.store(true, std::sync::atomic::Ordering::SeqCst);
            on_signal.cancel();
        }
    });
    let executor = Executor::new(providers, ExecutorOptions::default());
    let result = executor
        .apply(plan, stack, live, reporter.as_ref(), &cancel)
        .await;
    watcher.abort();
    Ok((result?, signalled.load(std::sync::atomic::Ordering::SeqCst)))
}

/// Prints the outcome (the resources that did not succeed, then the summary line) and
/// returns the exit status: a failure when anything failed, 130 after Ctrl-C.
#[allow(clippy::print_stdout)]
fn finish(global: &GlobalArgs, summary: &Summary, by_signal: bool) -> Result<ExitStatus, CliError> {
    let tally = summary.tally();
    match global.output {
        OutputFormat::Json => println!("{}", summary_json(summary)),
        OutputFormat::Text => {
            for r in &summary.resources {
                match &r.outcome {
                    bpa_infra::engine::Outcome::Failed { code, message } => {
                        println!("  {}", failure_line(&r.address.to_string(), code, message));
                    }
                    bpa_infra::engine::Outcome::Interrupted { .. } => {
                        println!("  {}: interrupted", r.address);
                    }
                    _ => {}
                }
            }
            println!(
                "{}: {} succeeded, {} failed, {} skipped, {} interrupted{}",
                if summary.is_success() {
                    "Done"
                } else {
                    "Incomplete"
                },
                tally.succeeded,
                tally.failed,
                tally.skipped,
                tally.interrupted,
                took_against_estimate(summary)
            );
        }
    }
    if summary.is_success() && !by_signal {
        return Ok(ExitStatus::Success);
    }
    let again = "fix the cause and run the same command again: it picks up where this run stopped";
    if by_signal {
        return Err(CliError::interrupted(format!(
            "interrupted: {} succeeded, {} failed, {} skipped, {} interrupted",
            tally.succeeded, tally.failed, tally.skipped, tally.interrupted
        ))
        .hinted("run the same command again: it picks up where this run stopped"));
    }
    Err(CliError::cloud(format!(
        "the run did not finish: {} failed, {} skipped, {} interrupted",
        tally.failed, tally.skipped, tally.interrupted
    ))
    .hinted(again))
}

/// Returns one line for a failed resource: address, what failed, the AWS code, the AWS
/// message (`rds.cluster: rds:CreateDBCluster failed (DBClusterAlreadyExistsFault): …`).
fn failure_line(address: &str, code: &str, message: &str) -> String {
    // Provider messages start with the operation (`rds:CreateDBCluster: …`).
    let operation = message
        .split_once(": ")
        .filter(|(op, _)| op.contains(':') && !op.contains(' '));
    match operation {
        Some((op, rest)) => format!("{address}: {op} failed ({code}): {rest}"),
        None => format!("{address}: failed ({code}): {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_line_says_address_operation_code_and_message_once() {
        let line = failure_line(
            "rds.cluster",
            "DBClusterAlreadyExistsFault",
            "rds:CreateDBCluster: DB cluster already exists",
        );
        assert_eq!(
            line,
            "rds.cluster: rds:CreateDBCluster failed (DBClusterAlreadyExistsFault): DB cluster already exists"
        );
        assert_eq!(line.matches("rds.cluster").count(), 1);
        assert_eq!(
            failure_line(
                "eks.cluster",
                "ReadyTimeout",
                "timed out after 2400s waiting for it"
            ),
            "eks.cluster: failed (ReadyTimeout): timed out after 2400s waiting for it"
        );
    }
}

/// Returns ` in 21 min (estimated 20 min)`: how the run compares with its plan's estimate.
fn took_against_estimate(summary: &Summary) -> String {
    let took = bpa_infra::plan::about(summary.elapsed.as_secs());
    if summary.estimated.is_zero() {
        format!(" in {took}")
    } else {
        let estimated = bpa_infra::plan::about(summary.estimated.as_secs());
        format!(" in {took} (estimated {estimated})")
    }
}
