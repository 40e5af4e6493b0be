//! Benchmark: a full `up` of the production profile against the fake cloud, with
//! realistic durations (EKS cluster 10 min, node groups 4 min, Multi-AZ DB cluster
//! 20 min, VPC endpoint 2 min, the rest seconds) on tokio's paused clock.
//!
//! The stack is the real graph of every component (network, IAM, EKS, RDS, ECR, Atlas
//! endpoint) as the prod profile builds it. Prints the simulated makespan, the critical
//! path through the stack, the sum of all durations, the ratios makespan / critical path
//! and makespan / sequential sum, and fails unless the makespan is within 2% of the
//! critical path (the executor must start every resource as soon as what it needs is
//! ready) and of the plan's own estimate (`estimated_duration_seconds`).
//!
//! Run with `cargo bench --bench engine`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use bpa_infra::engine::{Cancellation, Executor, ExecutorOptions, NullReporter};
use bpa_infra::plan::{Action, observe, plan_apply};
use bpa_infra::provider::RetryPolicy;
use bpa_infra::provider::fake::{FakeCloud, Seed};
use bpa_infra::stack::{Address, Ownership, build};

/// How far the makespan may exceed the critical path.
const TOLERANCE: f64 = 0.02;

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run())
}

async fn run() -> ExitCode {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/prod-us-west-2.yaml");
    let profile = match bpa_infra::profile::load(&path) {
        Ok(profile) => profile,
        Err(error) => {
            eprintln!("cannot load {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let stack = build(&profile).expect("the prod stack builds");

    let cloud = FakeCloud::new();
    cloud.use_typical_durations();
    for resource in stack
        .resources()
        .iter()
        .filter(|r| r.ownership == Ownership::Adopted)
    {
        cloud.seed(
            &resource.address,
            resource.kind,
            resource.spec.clone(),
            Seed::Adopted,
        );
    }
    let providers = cloud.providers();
    let live = observe(&stack, &providers, &RetryPolicy::default())
        .await
        .expect("the fake reads");
    let plan = bpa_infra::engine::with_estimate(plan_apply(&stack, &live, &providers), &stack);

    // What each resource costs: its creation time if the plan creates it, else nothing.
    let weight = |address: &Address| -> Duration {
        let change = plan.change(address).expect("every resource is planned");
        if change.action == Action::Create {
            cloud.duration_of(address, change.kind)
        } else {
            Duration::ZERO
        }
    };
    let weights: Vec<u64> = stack
        .resources()
        .iter()
        .map(|r| u64::try_from(weight(&r.address).as_millis()).unwrap_or(u64::MAX))
        .collect();
    let remaining = stack.dag().remaining_path(&weights);
    let critical_path = critical_path(&stack, &remaining);
    let critical = Duration::from_millis(remaining.iter().copied().max().unwrap_or(0));
    let sequential: Duration = stack.resources().iter().map(|r| weight(&r.address)).sum();

    let executor = Executor::new(providers, ExecutorOptions::default());
    let wall = std::time::Instant::now();
    let summary = executor
        .apply(&plan, &stack, &live, &NullReporter, &Cancellation::new())
        .await
        .expect("the plan applies");
    let wall = wall.elapsed();
    if !summary.is_success() {
        eprintln!("the run failed: {:#?}", summary.resources);
        return ExitCode::FAILURE;
    }
    let makespan = summary.elapsed;
    let ratio = makespan.as_secs_f64() / critical.as_secs_f64();

    println!(
        "engine benchmark: `up` of profile {} on the fake cloud (tokio paused clock)",
        profile.name
    );
    println!("  resources created:        {}", plan.counts().create);
    println!(
        "  concurrency:              {}",
        ExecutorOptions::default().concurrency
    );
    println!("  makespan (simulated):     {}", human(makespan));
    println!("  critical path:            {}", human(critical));
    for address in critical_path.iter().filter(|a| !weight(a).is_zero()) {
        println!("      {address} ({})", human(weight(address)));
    }
    let eta = Duration::from_secs(plan.estimated_duration_seconds);
    let eta_ratio = makespan.as_secs_f64() / eta.as_secs_f64();
    println!(
        "  plan's estimate (ETA):    {} (makespan / estimate {eta_ratio:.4})",
        human(eta)
    );
    println!("  sequential sum:           {}", human(sequential));
    println!(
        "  makespan / critical path: {ratio:.4} (must be at most {:.2})",
        1.0 + TOLERANCE
    );
    println!(
        "  makespan / sequential sum: {:.4} (speed-up over one at a time: {:.1}x)",
        makespan.as_secs_f64() / sequential.as_secs_f64(),
        sequential.as_secs_f64() / makespan.as_secs_f64()
    );
    println!("  wall-clock time:          {} ms", wall.as_millis());

    if (eta_ratio - 1.0).abs() > TOLERANCE {
        eprintln!(
            "the plan's estimate is more than {:.0}% off the makespan",
            TOLERANCE * 100.0
        );
        return ExitCode::FAILURE;
    }
    if ratio > 1.0 + TOLERANCE {
        eprintln!(
            "the makespan exceeds the critical path by more than {:.0}%",
            TOLERANCE * 100.0
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Follows the longest remaining chain from its start to its end.
fn critical_path(stack: &bpa_infra::stack::Stack, remaining: &[u64]) -> Vec<Address> {
    let dag = stack.dag();
    let mut node = (0..dag.len()).max_by_key(|&n| (remaining[n], std::cmp::Reverse(n)));
    let mut path = Vec::new();
    while let Some(n) = node {
        path.push(stack.resources()[n].address.clone());
        node = dag
            .dependents(n)
            .iter()
            .copied()
            .max_by_key(|&d| (remaining[d], std::cmp::Reverse(d)));
    }
    path
}

fn human(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match (seconds / 3600, seconds % 3600 / 60, seconds % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, s) => format!("{h}h {m:02}m {s:02}s"),
    }
}
