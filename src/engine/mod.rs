//! The executor: applies a [`Plan`] by walking the graph of its steps with bounded
//! concurrency, so independent components (RDS, EKS, ECR) progress side by side
//! (docs/architecture.md, "Data flow").
//!
//! It applies exactly the plan it is given, no more: every step comes from one change.
//! A resource starts once everything it depends on is ready; waits have a timeout per
//! resource kind; only retryable errors are retried, with backoff and jitter. A failure
//! skips what depends on the failed resource and lets everything else finish. A
//! cancellation (Ctrl-C) stops starting work and reports what was in flight. Destroy
//! plans walk the same graph reversed. Everything it does is told to a [`Reporter`].

mod estimate;
pub mod events;
mod steps;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Serialize, Serializer};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::plan::{Action, Change, Conflict, LiveState, Operation, Plan};
use crate::provider::{
    Live, ObservedOwnership, ProviderError, Providers, ResourceProvider, RetryPolicy,
};
use crate::stack::{Address, Resource, ResourceKind, Stack, Value};

pub use estimate::{estimate, with_estimate};
pub use events::{Event, NullReporter, Phase, RecordingReporter, Reporter};
use steps::{Step, StepKind, Steps};

/// Lets the caller stop a run (Ctrl-C): no new work starts, in-flight work is dropped
/// and reported as interrupted. Clones share the same state.
#[derive(Debug, Clone)]
pub struct Cancellation {
    sender: Arc<watch::Sender<bool>>,
}

impl Default for Cancellation {
    fn default() -> Self {
        Self::new()
    }
}

impl Cancellation {
    pub fn new() -> Self {
        Self {
            sender: Arc::new(watch::Sender::new(false)),
        }
    }

    /// Asks the run to stop.
    pub fn cancel(&self) {
        self.sender.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.sender.borrow()
    }

    /// Completes once [`cancel`](Self::cancel) has been called.
    pub async fn cancelled(&self) {
        let mut receiver = self.sender.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = receiver.wait_for(|cancelled| *cancelled).await;
    }
}

/// How the executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// How many resources are worked on at once.
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// Overrides of [`ResourceKind::ready_timeout`].
    pub timeouts: HashMap<ResourceKind, Duration>,
    /// Seeds the retry jitter, for reproducible runs; random when `None`.
    pub seed: Option<u64>,
}

impl Default for ExecutorOptions {
    /// Ten at once: more than the widest level of the stack, few enough for AWS's rate
    /// limits on describe calls while waiting.
    fn default() -> Self {
        Self {
            concurrency: 10,
            retry: RetryPolicy::default(),
            timeouts: HashMap::new(),
            seed: None,
        }
    }
}

impl ExecutorOptions {
    /// Returns how long a resource of `kind` may take to become ready or gone.
    pub fn timeout(&self, kind: ResourceKind) -> Duration {
        self.timeouts
            .get(&kind)
            .copied()
            .unwrap_or_else(|| kind.ready_timeout())
    }
}

/// How one resource fared.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed {
        code: String,
        message: String,
    },
    Skipped {
        reason: String,
    },
    /// In flight when the run was interrupted.
    Interrupted {
        phase: Option<Phase>,
    },
}

/// One resource in a [`Summary`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceOutcome {
    pub address: Address,
    pub kind: ResourceKind,
    pub action: Action,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// From its first call to its end; `None` if it never started.
    #[serde(rename = "elapsed_seconds", serialize_with = "optional_seconds")]
    pub elapsed: Option<Duration>,
}

fn optional_seconds<S: Serializer>(
    duration: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match duration {
        Some(d) => serializer.serialize_f64(d.as_secs_f64()),
        None => serializer.serialize_none(),
    }
}

/// What a run did, resource by resource, in plan order. Resources the plan left alone
/// appear only if the run had to wait for them (left half-created by an earlier run).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub profile: String,
    pub operation: Operation,
    pub resources: Vec<ResourceOutcome>,
    #[serde(rename = "elapsed_seconds", serialize_with = "seconds")]
    pub elapsed: Duration,
    /// What the plan expected (its `estimated_duration_seconds`), to compare with.
    #[serde(rename = "estimated_duration_seconds", serialize_with = "seconds")]
    pub estimated: Duration,
    /// The outputs of every resource that is ready at the end (`id`, `arn`, endpoints).
    #[serde(skip)]
    pub outputs: BTreeMap<Address, BTreeMap<String, Value>>,
}

fn seconds<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

/// How many resources ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub succeeded: usize,
    pub failed: usize,
    pub skipped: usize,
    pub interrupted: usize,
}

impl Summary {
    /// Tells whether every resource succeeded (the CLI exits 0).
    pub fn is_success(&self) -> bool {
        self.resources
            .iter()
            .all(|r| r.outcome == Outcome::Succeeded)
    }

    pub fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        for resource in &self.resources {
            match resource.outcome {
                Outcome::Succeeded => tally.succeeded += 1,
                Outcome::Failed { .. } => tally.failed += 1,
                Outcome::Skipped { .. } => tally.skipped += 1,
                Outcome::Interrupted { .. } => tally.interrupted += 1,
            }
        }
        tally
    }

    pub fn outcome(&self, address: &Address) -> Option<&Outcome> {
        self.resources
            .iter()
            .find(|r| &r.address == address)
            .map(|r| &r.outcome)
    }
}

/// Why a plan was not applied at all (nothing was called).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the plan has {} conflict(s); resolve them and plan again", .0.len())]
    Conflicts(Vec<Conflict>),
    #[error("the plan is for profile {plan}, not for profile {stack}")]
    ProfileMismatch { plan: String, stack: String },
    #[error("{address}: the plan says {}, but {problem}", action.as_str())]
    Inconsistent {
        address: Address,
        action: Action,
        problem: String,
    },
    #[error("{address}: no provider is registered for {kind} resources")]
    MissingProvider {
        address: Address,
        kind: ResourceKind,
    },
}

/// Applies plans through a set of providers.
#[derive(Debug, Clone)]
pub struct Executor {
    providers: Providers,
    options: ExecutorOptions,
}

impl Executor {
    pub fn new(providers: Providers, options: ExecutorOptions) -> Self {
        Self { providers, options }
    }

    /// Applies `plan` — an apply or a destroy plan — made from `stack` and `live`.
    ///
    /// Returns `Err` only if the plan cannot be started (conflicts, a plan that does not
    /// match the stack, a missing provider); failures of resources are in the
    /// [`Summary`], which the CLI turns into exit 1.
    pub async fn apply(
        &self,
        plan: &Plan,
        stack: &Stack,
        live: &LiveState,
        reporter: &dyn Reporter,
        cancel: &Cancellation,
    ) -> Result<Summary, ApplyError> {
        if !plan.conflicts.is_empty() {
            return Err(ApplyError::Conflicts(plan.conflicts.clone()));
        }
        if plan.profile != stack.profile() {
            return Err(ApplyError::ProfileMismatch {
                plan: plan.profile.clone(),
                stack: stack.profile().to_owned(),
            });
        }
        let steps = Steps::of(plan, stack, live)?;
        for step in &steps.steps {
            if self.providers.get(step.kind).is_none() {
                let (address, kind) = (step.address.clone(), step.kind);
                return Err(ApplyError::MissingProvider { address, kind });
            }
        }
        let run = Run {
            executor: self,
            stack,
            live,
            steps: &steps,
            changes: plan.changes.iter().map(|c| (&c.address, c)).collect(),
            reporter,
            outputs: Mutex::new(BTreeMap::new()),
            phases: Mutex::new(HashMap::new()),
            started: Mutex::new(HashMap::new()),
            took: Mutex::new(HashMap::new()),
            rng: Mutex::new(
                self.options
                    .seed
                    .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed),
            ),
        };
        Ok(run.execute(plan, cancel).await)
    }
}

/// The state of one run.
struct Run<'a> {
    executor: &'a Executor,
    stack: &'a Stack,
    live: &'a LiveState,
    steps: &'a Steps,
    changes: HashMap<&'a Address, &'a Change>,
    reporter: &'a dyn Reporter,
    outputs: Mutex<BTreeMap<Address, BTreeMap<String, Value>>>,
    /// The phase of each step in flight, to say where an interruption caught it.
    phases: Mutex<HashMap<usize, Phase>>,
    /// When work on each address started, and how long it took once it ended.
    started: Mutex<HashMap<Address, Instant>>,
    took: Mutex<HashMap<Address, Duration>>,
    rng: Mutex<fastrand::Rng>,
}

/// How one step ended.
#[derive(Debug, Clone)]
enum StepEnd {
    /// Done; `worked` says whether it called anything (a no-op on a ready resource does not).
    Done {
        worked: bool,
    },
    Failed {
        code: String,
        message: String,
    },
    Skipped {
        reason: String,
    },
    Interrupted {
        phase: Option<Phase>,
    },
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Run<'_> {
    async fn execute(&self, plan: &Plan, cancel: &Cancellation) -> Summary {
        let begin = Instant::now();
        let resources = plan.changes.iter().filter(|c| c.action.is_write()).count();
        self.reporter.report(&Event::RunStarted {
            profile: plan.profile.clone(),
            operation: plan.operation,
            resources,
        });

        let steps = &self.steps.steps;
        let mut queue = self.steps.queue();
        let mut ends: Vec<Option<StepEnd>> = vec![None; steps.len()];
        let mut in_flight: BTreeSet<usize> = BTreeSet::new();
        let mut running = FuturesUnordered::new();
        let concurrency = self.executor.options.concurrency.max(1);
        let mut interrupted = cancel.is_cancelled();

        loop {
            while !interrupted && running.len() < concurrency {
                let Some(index) = queue.pop() else { break };
                in_flight.insert(index);
                running.push(async move { (index, self.run_step(index).await) });
            }
            if running.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                () = cancel.cancelled(), if !interrupted => {
                    interrupted = true;
                    break;
                }
                Some((index, result)) = running.next() => {
                    in_flight.remove(&index);
                    lock(&self.phases).remove(&index);
                    match result {
                        Ok(worked) => {
                            queue.finish(index);
                            ends[index] = Some(StepEnd::Done { worked });
                            self.finished(index, worked);
                        }
                        Err(error) => {
                            let step = &steps[index];
                            self.reporter.report(&Event::Failed {
                                address: step.address.clone(),
                                action: step.action,
                                code: error.code().to_owned(),
                                message: error.detail(),
                                elapsed: self.elapsed(&step.address),
                            });
                            // The detail only: address and code have fields of their own,
                            // and a line showing all three must not say them twice.
                            ends[index] = Some(StepEnd::Failed { code: error.code().to_owned(), message: error.detail() });
                            let reason = format!("{} failed", step.address);
                            for skipped in queue.fail(index) {
                                ends[skipped] = Some(StepEnd::Skipped { reason: reason.clone() });
                                self.skipped(skipped, &reason, &ends);
                            }
                        }
                    }
                }
            }
        }
        drop(running);

        if interrupted {
            for &index in &in_flight {
                let phase = lock(&self.phases).get(&index).copied();
                ends[index] = Some(StepEnd::Interrupted { phase });
                self.reporter.report(&Event::Interrupted {
                    address: steps[index].address.clone(),
                    phase,
                });
            }
            let reason = "the run was interrupted before it started".to_owned();
            for index in 0..steps.len() {
                if ends[index].is_none() {
                    ends[index] = Some(StepEnd::Skipped {
                        reason: reason.clone(),
                    });
                    self.skipped(index, &reason, &ends);
                }
            }
        }

        let summary = self.summarize(plan, &ends, begin.elapsed());
        let tally = summary.tally();
        self.reporter.report(&Event::RunFinished {
            succeeded: tally.succeeded,
            failed: tally.failed,
            skipped: tally.skipped,
            interrupted: tally.interrupted,
            elapsed: summary.elapsed,
        });
        summary
    }

    /// Reports a skipped step, once per address, and only for work the plan asked for.
    fn skipped(&self, index: usize, reason: &str, ends: &[Option<StepEnd>]) {
        let step = &self.steps.steps[index];
        let already = self.steps.of_address(&step.address).any(|other| {
            other != index
                && matches!(
                    ends[other],
                    Some(StepEnd::Failed { .. } | StepEnd::Skipped { .. })
                )
        });
        if step.action.is_write() && !already {
            self.reporter.report(&Event::Skipped {
                address: step.address.clone(),
                reason: reason.to_owned(),
            });
        }
    }

    /// Reports the end of an address's work, unless it was a no-op with nothing to wait for.
    fn finished(&self, index: usize, worked: bool) {
        let step = &self.steps.steps[index];
        if step.last && worked {
            self.reporter.report(&Event::Finished {
                address: step.address.clone(),
                action: step.action,
                elapsed: self.elapsed(&step.address),
            });
        }
    }

    /// Returns how long `address` has been worked on, and remembers it as its time.
    fn elapsed(&self, address: &Address) -> Duration {
        let elapsed = lock(&self.started)
            .get(address)
            .map_or(Duration::ZERO, Instant::elapsed);
        lock(&self.took).insert(address.clone(), elapsed);
        elapsed
    }

    /// Marks the start of work on an address (its first step) and reports it.
    fn start(&self, step: &Step) {
        let mut started = lock(&self.started);
        if !started.contains_key(&step.address) {
            started.insert(step.address.clone(), Instant::now());
            self.reporter.report(&Event::Started {
                address: step.address.clone(),
                kind: step.kind,
                action: step.action,
                typical: step.kind.typical_duration(),
            });
        }
    }

    fn phase(&self, index: usize, phase: Phase) {
        lock(&self.phases).insert(index, phase);
        self.reporter.report(&Event::Phase {
            address: self.steps.steps[index].address.clone(),
            phase,
        });
    }

    fn provider(&self, step: &Step) -> Result<&Arc<dyn ResourceProvider>, ProviderError> {
        self.executor.providers.require(step.kind, &step.address)
    }

    /// Runs one step; `Ok(true)` if it called anything.
    async fn run_step(&self, index: usize) -> Result<bool, ProviderError> {
        let step = &self.steps.steps[index];
        match step.step {
            StepKind::Apply => self.apply_step(index, step).await,
            StepKind::Delete => self.delete_step(index, step).await.map(|()| true),
        }
    }

    async fn apply_step(&self, index: usize, step: &Step) -> Result<bool, ProviderError> {
        let provider = self.provider(step)?.as_ref();
        let resource = self
            .stack
            .get(&step.address)
            .expect("apply steps are stack resources");
        let ready = match step.action {
            Action::NoOp => {
                let live = self
                    .live
                    .get(&step.address)
                    .expect("checked when the steps were made");
                if live.is_ready() {
                    self.keep_outputs(live);
                    return Ok(false);
                }
                // Left half-made by an earlier run: what depends on it must wait for it.
                self.start(step);
                self.phase(index, Phase::WaitingReady);
                self.wait_ready(provider, live).await?
            }
            Action::Create | Action::Replace => {
                self.start(step);
                let desired = self.resolve(resource)?;
                self.phase(index, Phase::Creating);
                let created = self.create(provider, &desired).await?;
                self.phase(index, Phase::WaitingReady);
                self.wait_ready(provider, &created).await?
            }
            Action::Update => {
                self.start(step);
                let live = self
                    .live
                    .get(&step.address)
                    .expect("checked when the steps were made");
                let live = if live.is_ready() {
                    live.clone()
                } else {
                    self.phase(index, Phase::WaitingReady);
                    self.wait_ready(provider, live).await?
                };
                let desired = self.resolve(resource)?;
                // Exactly the attributes the plan showed, with the values now known.
                let planned: BTreeSet<&str> = self.changes[&step.address]
                    .diffs
                    .iter()
                    .map(|d| d.attribute.as_str())
                    .collect();
                let changes: Vec<_> = provider
                    .diff(&desired, &live)
                    .into_iter()
                    .filter(|c| planned.contains(c.attribute.as_str()))
                    .collect();
                if changes.is_empty() {
                    live
                } else {
                    self.phase(index, Phase::Updating);
                    let updated = self
                        .retry(&step.address, || provider.update(&desired, &live, &changes))
                        .await?;
                    self.phase(index, Phase::WaitingReady);
                    self.wait_ready(provider, &updated).await?
                }
            }
            Action::Delete => unreachable!("delete changes make delete steps"),
        };
        self.keep_outputs(&ready);
        Ok(true)
    }

    async fn delete_step(&self, index: usize, step: &Step) -> Result<(), ProviderError> {
        self.start(step);
        let provider = self.provider(step)?.as_ref();
        let live = self
            .live
            .find(&step.address)
            .expect("checked when the steps were made");
        let desired = self.stack.get(&step.address);
        self.phase(index, Phase::Deleting);
        match self
            .retry(&step.address, || provider.delete(live, desired))
            .await
        {
            Ok(()) => {}
            // Gone already (deleted by hand, or by a run that was killed): done.
            Err(ProviderError::NotFound { .. }) => return Ok(()),
            Err(error) => return Err(error),
        }
        self.phase(index, Phase::WaitingDeleted);
        let waited = self.executor.options.timeout(step.kind);
        tokio::time::timeout(
            waited,
            self.retry(&step.address, || provider.wait_deleted(live)),
        )
        .await
        .unwrap_or_else(|_| Err(timed_out(&step.address, "DeleteTimeout", waited)))
    }

    /// Replaces references in the spec by the outputs of resources done so far. The
    /// graph guarantees they are all done, so an unresolved one is a bug, not a wait.
    fn resolve(&self, resource: &Resource) -> Result<Resource, ProviderError> {
        let outputs = lock(&self.outputs);
        let spec = resource
            .spec
            .resolve(&|r| outputs.get(&r.address)?.get(&r.output).cloned());
        if let Some(missing) = spec.refs().first() {
            return Err(ProviderError::rejected(
                &resource.address,
                "UnresolvedReference",
                format!("{missing} is not known: its resource has no such output"),
            ));
        }
        Ok(Resource {
            spec,
            ..resource.clone()
        })
    }

    fn keep_outputs(&self, live: &Live) {
        lock(&self.outputs).insert(live.address.clone(), live.outputs.clone());
    }

    /// Creates, and after a retryable failure accepts an "already exists" that our own
    /// earlier attempt caused (its answer lost on the way back).
    async fn create(
        &self,
        provider: &dyn ResourceProvider,
        desired: &Resource,
    ) -> Result<Live, ProviderError> {
        let retried = AtomicBool::new(false);
        let retry = &self.executor.options.retry;
        retry
            .run(
                &self.rng,
                |attempt, delay, error| {
                    retried.store(true, Ordering::Relaxed);
                    self.report_retry(&desired.address, attempt, delay, error);
                },
                || async {
                    match provider.create(desired).await {
                        Err(error @ ProviderError::AlreadyExists { .. })
                            if retried.load(Ordering::Relaxed) =>
                        {
                            match provider.read(desired).await? {
                                Some(live) if live.ownership == ObservedOwnership::Owned => {
                                    Ok(live)
                                }
                                _ => Err(error),
                            }
                        }
                        other => other,
                    }
                },
            )
            .await
    }

    async fn wait_ready(
        &self,
        provider: &dyn ResourceProvider,
        live: &Live,
    ) -> Result<Live, ProviderError> {
        let waited = self.executor.options.timeout(live.kind);
        tokio::time::timeout(
            waited,
            self.retry(&live.address, || provider.wait_ready(live)),
        )
        .await
        .unwrap_or_else(|_| Err(timed_out(&live.address, "ReadyTimeout", waited)))
    }

    async fn retry<T, F, Fut>(&self, address: &Address, call: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let retry = &self.executor.options.retry;
        retry
            .run(
                &self.rng,
                |attempt, delay, error| self.report_retry(address, attempt, delay, error),
                call,
            )
            .await
    }

    fn report_retry(
        &self,
        address: &Address,
        attempt: u32,
        delay: Duration,
        error: &ProviderError,
    ) {
        self.reporter.report(&Event::Retrying {
            address: address.clone(),
            attempt,
            delay,
            code: error.code().to_owned(),
            message: error.to_string(),
        });
    }

    /// Folds the steps' ends into one outcome per address, in plan order.
    fn summarize(&self, plan: &Plan, ends: &[Option<StepEnd>], elapsed: Duration) -> Summary {
        let started = lock(&self.started);
        let took = lock(&self.took);
        let mut resources = Vec::new();
        for change in &plan.changes {
            let indices: Vec<usize> = self.steps.of_address(&change.address).collect();
            if indices.is_empty() {
                continue;
            }
            let ends: Vec<&StepEnd> = indices.iter().filter_map(|&i| ends[i].as_ref()).collect();
            let outcome = if let Some(StepEnd::Failed { code, message }) =
                ends.iter().find(|e| matches!(e, StepEnd::Failed { .. }))
            {
                Outcome::Failed {
                    code: code.clone(),
                    message: message.clone(),
                }
            } else if let Some(StepEnd::Interrupted { phase }) = ends
                .iter()
                .find(|e| matches!(e, StepEnd::Interrupted { .. }))
            {
                Outcome::Interrupted { phase: *phase }
            } else if let Some(StepEnd::Skipped { reason }) =
                ends.iter().find(|e| matches!(e, StepEnd::Skipped { .. }))
            {
                Outcome::Skipped {
                    reason: reason.clone(),
                }
            } else {
                Outcome::Succeeded
            };
            // A no-op shows only when the run had to do something about it.
            let worked = ends
                .iter()
                .any(|e| matches!(e, StepEnd::Done { worked: true }));
            if change.action == Action::NoOp
                && !worked
                && !matches!(
                    outcome,
                    Outcome::Failed { .. } | Outcome::Interrupted { .. }
                )
            {
                continue;
            }
            resources.push(ResourceOutcome {
                address: change.address.clone(),
                kind: change.kind,
                action: change.action,
                elapsed: took
                    .get(&change.address)
                    .copied()
                    .or_else(|| started.get(&change.address).map(Instant::elapsed)),
                outcome,
            });
        }
        Summary {
            profile: plan.profile.clone(),
            operation: plan.operation,
            resources,
            elapsed,
            estimated: Duration::from_secs(plan.estimated_duration_seconds),
            outputs: lock(&self.outputs).clone(),
        }
    }
}

fn timed_out(address: &Address, code: &str, waited: Duration) -> ProviderError {
    ProviderError::TimedOut {
        address: address.clone(),
        code: code.to_owned(),
        waited,
    }
}

#[cfg(test)]
mod tests;
