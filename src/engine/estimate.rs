//! How long applying a plan should take: the executor's own schedule, played with each
//! kind's typical duration instead of the cloud's, and the chain of steps that sets it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use super::steps::Steps;
use crate::plan::{Action, PathStep, Plan};
use crate::stack::{Address, Stack};

/// Returns the expected duration of applying `plan` (seconds) with `concurrency`
/// resources at once, and its critical path in the order it runs.
///
/// The schedule is the executor's: the same step graph, the same ready-queue and
/// priorities (longest chain first), and the same
/// [typical durations](crate::stack::ResourceKind::typical_duration) the progress display
/// shows, so there is no second table to keep in step. A plan that does not match
/// `stack` (never one the planner made) has no estimate: zero and an empty path.
pub fn estimate(plan: &Plan, stack: &Stack, concurrency: usize) -> (u64, Vec<PathStep>) {
    // What the plan does not create exists: it reads, updates, replaces or deletes it.
    let existing: HashSet<&Address> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::Create)
        .map(|c| &c.address)
        .collect();
    let Ok(steps) = Steps::build(plan, stack, &|address| existing.contains(address)) else {
        return (0, Vec::new());
    };
    let weights: Vec<u64> = steps.steps.iter().map(|s| s.typical_seconds()).collect();
    let makespan = simulate(&steps, &weights, concurrency.max(1));

    let mut path: Vec<PathStep> = Vec::new();
    for node in steps.dag().critical_path(&weights) {
        let step = &steps.steps[node];
        if weights[node] == 0 {
            continue;
        }
        // The two halves of a replacement are one line of the path.
        match path.last_mut() {
            Some(last) if last.address == step.address => last.seconds += weights[node],
            _ => path.push(PathStep {
                address: step.address.clone(),
                kind: step.kind,
                action: step.action,
                seconds: weights[node],
            }),
        }
    }
    let chain: u64 = path.iter().map(|p| p.seconds).sum();
    (makespan.max(chain), path)
}

/// Returns `plan` with its estimate (`estimated_duration_seconds`, `critical_path`) at
/// the executor's default concurrency, the one `up` and `down` run with.
pub fn with_estimate(mut plan: Plan, stack: &Stack) -> Plan {
    let concurrency = super::ExecutorOptions::default().concurrency;
    let (seconds, path) = estimate(&plan, stack, concurrency);
    plan.estimated_duration_seconds = seconds;
    plan.critical_path = path;
    plan
}

/// Plays the executor's loop on a clock of typical durations: start ready steps, by
/// priority, while fewer than `concurrency` run; advance to the next one to end.
fn simulate(steps: &Steps, weights: &[u64], concurrency: usize) -> u64 {
    let mut queue = steps.queue();
    let mut running: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut now = 0;
    loop {
        while running.len() < concurrency {
            let Some(node) = queue.pop() else { break };
            running.push(Reverse((now + weights[node], node)));
        }
        let Some(Reverse((end, node))) = running.pop() else {
            return now;
        };
        now = end;
        queue.finish(node);
    }
}
