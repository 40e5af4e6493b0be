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
        let (aws, providers) = context.connect(global, "plan", &options).await?;
        let live = context.observe(&context.scoped, &providers).await?;
        let mut plan = context.plan_apply(&live, &providers);
        plan.only = only.clone();
        context.preflight(&aws, &mut plan).await;
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
            let summary =
                execute(global, providers, &fresh, &context.scoped, &live, cancel).await?;
            let result = finish(global, &summary);
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
    let plan_down =
        |live: &plan::LiveState, providers: &bpa_infra::provider::Providers| match &teardown {
            Some(teardown) => plan::plan_teardown(teardown, live, providers),
            None => plan::plan_destroy(&stack, live, providers),
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
        let (aws, providers) = context.connect(global, "plan", &options).await?;
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
            let summary = execute(global, providers, &fresh, &stack, &live, cancel).await?;
            report_snapshots(global, &snapshots.taken());
            finish(global, &summary)
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
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string(plan).expect("a plan is plain data")
        ),
        OutputFormat::Text => print_plan(global, plan),
    }
}

fn report_no_changes(global: &GlobalArgs, plan: &Plan, text: &str) -> Result<ExitStatus, CliError> {
    match global.output {
        OutputFormat::Json => print_run_plan(global, plan),
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

/// Runs the executor with a reporter, stopping new work on Ctrl-C or `cancel`.
async fn execute(
    global: &GlobalArgs,
    providers: bpa_infra::provider::Providers,
    plan: &Plan,
    stack: &bpa_infra::stack::Stack,
    live: &bpa_infra::plan::LiveState,
    cancel: Cancellation,
) -> Result<Summary, CliError> {
    let reporter = progress::reporter(global);
    let on_signal = cancel.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    let executor = Executor::new(providers, ExecutorOptions::default());
    let result = executor
        .apply(plan, stack, live, reporter.as_ref(), &cancel)
        .await;
    watcher.abort();
    Ok(result?)
}

#[allow(clippy::print_stdout)]
fn finish(global: &GlobalArgs, summary: &Summary) -> Result<ExitStatus, CliError> {
    let tally = summary.tally();
    match global.output {
        OutputFormat::Json => {
            let mut doc = serde_json::to_value(summary).expect("a summary is plain data");
            doc["format_version"] = 1.into();
            println!("{doc}");
        }
        OutputFormat::Text => println!(
            "{}: {} succeeded, {} failed, {} skipped, {} interrupted",
            if summary.is_success() {
                "Done"
            } else {
                "Incomplete"
            },
            tally.succeeded,
            tally.failed,
            tally.skipped,
            tally.interrupted
        ),
    }
    if summary.is_success() {
        Ok(ExitStatus::Success)
    } else {
        let failed: Vec<String> = summary
            .resources
            .iter()
            .filter_map(|r| match &r.outcome {
                bpa_infra::engine::Outcome::Failed { code, message } => {
                    Some(format!("  {}: {code}: {message}", r.address))
                }
                _ => None,
            })
            .collect();
        let mut message = "the run did not finish".to_owned();
        if !failed.is_empty() {
            message.push_str(":\n");
            message.push_str(&failed.join("\n"));
        }
        Err(CliError::cloud(message).hinted(
            "fix the cause and run the same command again: it picks up where this run stopped",
        ))
    }
}
