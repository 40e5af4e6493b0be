//! The run lock: at most one `up` or `down` works on a profile at a time.
//!
//! There is no state file (docs/architecture.md, "State"), so the lock lives in the cloud as well: one
//! record in a [`LockStore`] (on AWS, an item in a DynamoDB table the profile owns, see
//! `provider::aws::dynamodb`). Taking it is one atomic conditional write — "put this
//! record if there is none" — so two runs that try at the same moment cannot both
//! succeed. Every later write (heartbeat, release, take-over) is conditional on the
//! record's random token, so a run only ever changes the lock it holds.
//!
//! A record names its holder (host, process id, command) and says since when it holds
//! the lock and when it last showed it was alive (its heartbeat). A second run refuses
//! with that information, or waits a bounded time for the lock. A lock is *stale* when
//! its holder is known to be gone (same host, process ended) or has not beaten for
//! [`LockOptions::stale_after`]; only an explicit `take_over_stale` takes it over, as the
//! holder might be alive on a machine that cannot be checked. A holder that loses its
//! lock (taken over) learns it at its next heartbeat and stops starting new work.
//!
//! The core never reads the environment: the command line says who holds the lock
//! ([`Holder`]) and whether a holder's process still runs ([`Liveness`]).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;

/// Who holds a lock: enough for a person to find the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    /// What the holder is doing, e.g. `up` or `down`.
    pub command: String,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` (pid {} on host {})",
            self.command, self.pid, self.host
        )
    }
}

/// One lock as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRecord {
    /// Random token of this holding; every conditional write names it.
    pub token: String,
    pub holder: Holder,
    pub acquired_at: Timestamp,
    pub heartbeat_at: Timestamp,
}

impl LockRecord {
    fn new(holder: Holder, now: Timestamp) -> Self {
        Self {
            token: format!("{:032x}", fastrand::u128(..)),
            holder,
            acquired_at: now,
            heartbeat_at: now,
        }
    }
}

/// What a conditional "put if there is none" found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// The record was written: the lock is ours.
    Written,
    /// Someone holds the lock (possibly this very record, when an earlier attempt's
    /// answer was lost).
    Held(LockRecord),
    /// The put was refused but the lock was gone by the time it was read: try again.
    Vanished,
}

/// A failure of the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A call failed; `retryable` when trying again later may work.
    #[error("{operation}: {message}")]
    Call {
        operation: String,
        message: String,
        retryable: bool,
    },
    /// The place the lock would live exists but belongs to someone else.
    #[error("{what} exists but is not owned by profile {profile}: {detail}")]
    NotOwned {
        what: String,
        profile: String,
        detail: String,
    },
}

/// Where locks live. Each method is one atomic step; conditions compare tokens.
#[async_trait]
pub trait LockStore: Send + Sync {
    /// Names the store for messages, e.g. `DynamoDB table prod-bpa-infra-lock`.
    fn describe(&self) -> String;
    /// Makes the store if it does not exist yet (tagged as the profile's), and checks
    /// that an existing one is the profile's.
    async fn ensure(&self) -> Result<(), StoreError>;
    /// Tells whether the store exists and is the profile's, without making it.
    async fn exists(&self) -> Result<bool, StoreError>;
    /// Writes `record` if no lock is held.
    async fn put_if_absent(&self, record: &LockRecord) -> Result<PutOutcome, StoreError>;
    /// Replaces the lock with `record` if the held one has `token`; false otherwise.
    async fn replace_if(&self, token: &str, record: &LockRecord) -> Result<bool, StoreError>;
    /// Deletes the lock if it has `token`; false if it did not (or there was none).
    async fn delete_if(&self, token: &str) -> Result<bool, StoreError>;
    /// Deletes the store itself (when `down` removed everything else of the profile).
    async fn remove(&self) -> Result<(), StoreError>;
}

/// Whether a holder's process still runs, as far as the caller can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    Gone,
    /// Another host, or no way to check.
    Unknown,
}

/// Why a lock is stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staleness {
    /// The holder's process has ended.
    HolderGone,
    /// No heartbeat for this long.
    Silent(Duration),
}

impl fmt::Display for Staleness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HolderGone => f.write_str("its process has ended"),
            Self::Silent(age) => write!(f, "it has given no sign of life for {}s", age.as_secs()),
        }
    }
}

/// How [`acquire`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockOptions {
    /// How long to wait for a held lock before giving up (zero: refuse at once).
    pub wait: Duration,
    /// How often to look again while waiting.
    pub poll: Duration,
    /// A holder that has not beaten for this long is stale.
    pub stale_after: Duration,
    /// How often the holder shows it is alive.
    pub heartbeat: Duration,
    /// Take over a stale lock instead of refusing.
    pub take_over_stale: bool,
}

impl Default for LockOptions {
    /// Refuse at once; a heartbeat every 30 s, stale after 10 silent minutes (twenty
    /// missed beats: a slow or throttled API never makes a live run look dead).
    fn default() -> Self {
        Self {
            wait: Duration::ZERO,
            poll: Duration::from_secs(5),
            stale_after: Duration::from_secs(600),
            heartbeat: Duration::from_secs(30),
            take_over_stale: false,
        }
    }
}

/// What happens while taking the lock, for the command line to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockEvent {
    /// The lock is held by another run; waiting for it (at most `left`).
    Waiting { held: LockRecord, left: Duration },
    /// A stale lock was taken over.
    TookOver {
        held: LockRecord,
        staleness: Staleness,
    },
}

/// Why the lock could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// Another run holds it (and it was not taken over).
    #[error(
        "another run holds the lock of this profile: {} since {}, last sign of life {}s ago{}",
        held.holder,
        held.acquired_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        age(held.heartbeat_at, *now).as_secs(),
        staleness.as_ref().map(|s| format!("; it looks stale: {s}")).unwrap_or_default()
    )]
    Held {
        held: LockRecord,
        staleness: Option<Staleness>,
        now: Timestamp,
        store: String,
    },
    #[error("the run lock ({store}): {source}")]
    Store {
        store: String,
        #[source]
        source: StoreError,
    },
}

fn age(then: Timestamp, now: Timestamp) -> Duration {
    now.duration_since(then)
        .try_into()
        .unwrap_or(Duration::ZERO)
}

/// Attempts of one store call that fails with a retryable error.
const STORE_ATTEMPTS: u32 = 5;

/// Runs one store call, trying again (up to [`STORE_ATTEMPTS`]) while it fails with a
/// retryable error.
async fn with_retries<T, F, Fut>(mut call: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        match call().await {
            Err(StoreError::Call {
                retryable: true, ..
            }) if attempt < STORE_ATTEMPTS => {
                tokio::time::sleep(delay + Duration::from_millis(fastrand::u64(0..250))).await;
                delay = (delay * 2).min(Duration::from_secs(4));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Takes the lock for `holder`: at once if it is free, after waiting (at most
/// `options.wait`) for its holder to release it, or by taking over a stale lock when
/// `options.take_over_stale` says so. `liveness` tells whether a holder's process still
/// runs; `on_event` hears about waits and take-overs.
pub async fn acquire(
    store: Arc<dyn LockStore>,
    holder: Holder,
    options: &LockOptions,
    liveness: &(dyn Fn(&Holder) -> Liveness + Sync),
    on_event: &mut (dyn FnMut(LockEvent) + Send),
) -> Result<RunLock, LockError> {
    let store_error = |source| LockError::Store {
        store: store.describe(),
        source,
    };
    with_retries(|| store.ensure()).await.map_err(store_error)?;
    let started = tokio::time::Instant::now();
    let mut told_waiting = false;
    loop {
        let now = Timestamp::now();
        let mut record = LockRecord::new(holder.clone(), now);
        let held = match with_retries(|| store.put_if_absent(&record))
            .await
            .map_err(store_error)?
        {
            PutOutcome::Written => return Ok(RunLock::new(store, record, options)),
            PutOutcome::Vanished => continue,
            // Our own write, whose answer was lost on the way back.
            PutOutcome::Held(held) if held.token == record.token => {
                return Ok(RunLock::new(store, held, options));
            }
            PutOutcome::Held(held) => held,
        };
        let staleness = if liveness(&held.holder) == Liveness::Gone {
            Some(Staleness::HolderGone)
        } else {
            let silent = age(held.heartbeat_at, now);
            (silent > options.stale_after).then_some(Staleness::Silent(silent))
        };
        if let Some(staleness) = &staleness
            && options.take_over_stale
        {
            // Conditional on the stale holding's token: if it moved in the meantime (a
            // heartbeat after all, or another run took over first), look again.
            record.acquired_at = Timestamp::now();
            record.heartbeat_at = record.acquired_at;
            if with_retries(|| store.replace_if(&held.token, &record))
                .await
                .map_err(store_error)?
            {
                on_event(LockEvent::TookOver {
                    held,
                    staleness: staleness.clone(),
                });
                return Ok(RunLock::new(store, record, options));
            }
            continue;
        }
        let waited = started.elapsed();
        // A stale lock is never waited for: it will not be released.
        if staleness.is_none() && waited + options.poll <= options.wait {
            if !told_waiting {
                on_event(LockEvent::Waiting {
                    held: held.clone(),
                    left: options.wait - waited,
                });
                told_waiting = true;
            }
            tokio::time::sleep(options.poll).await;
            continue;
        }
        return Err(LockError::Held {
            held,
            staleness,
            now,
            store: store.describe(),
        });
    }
}

/// A held lock. Release it with [`RunLock::release`]; dropped without that, it stops
/// beating and goes stale, as when the process is killed.
pub struct RunLock {
    store: Arc<dyn LockStore>,
    record: LockRecord,
    heartbeat_every: Duration,
    lost: Arc<AtomicBool>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for RunLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunLock")
            .field("store", &self.store.describe())
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

impl RunLock {
    fn new(store: Arc<dyn LockStore>, record: LockRecord, options: &LockOptions) -> Self {
        Self {
            store,
            record,
            heartbeat_every: options.heartbeat,
            lost: Arc::new(AtomicBool::new(false)),
            heartbeat: None,
        }
    }

    pub fn record(&self) -> &LockRecord {
        &self.record
    }

    /// Starts beating in the background (on the current Tokio runtime); `on_lost` is
    /// called once if another run has taken the lock over.
    pub fn keep_alive(&mut self, on_lost: impl Fn() + Send + Sync + 'static) {
        let store = Arc::clone(&self.store);
        let mut record = self.record.clone();
        let every = self.heartbeat_every;
        let lost = Arc::clone(&self.lost);
        self.heartbeat = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                record.heartbeat_at = Timestamp::now();
                let token = record.token.clone();
                match with_retries(|| store.replace_if(&token, &record)).await {
                    Ok(true) => {}
                    Ok(false) => {
                        lost.store(true, Ordering::SeqCst);
                        on_lost();
                        return;
                    }
                    // The store is unreachable for now: the next beat may get through,
                    // and the lock only goes stale after many missed beats.
                    Err(_) => {}
                }
            }
        }));
    }

    /// Tells whether another run has taken the lock over.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Releases the lock (if it is still ours).
    pub async fn release(mut self) -> Result<(), LockError> {
        self.stop_heartbeat();
        let token = self.record.token.clone();
        with_retries(|| self.store.delete_if(&token))
            .await
            .map(|_| ())
            .map_err(|source| LockError::Store {
                store: self.store.describe(),
                source,
            })
    }

    /// Releases the lock and deletes the store: for `down`, once everything else of the
    /// profile is gone.
    pub async fn release_and_remove(mut self) -> Result<(), LockError> {
        self.stop_heartbeat();
        let store = Arc::clone(&self.store);
        let token = self.record.token.clone();
        let result = async {
            with_retries(|| store.delete_if(&token)).await?;
            with_retries(|| store.remove()).await
        }
        .await;
        result.map_err(|source| LockError::Store {
            store: store.describe(),
            source,
        })
    }

    fn stop_heartbeat(&mut self) {
        if let Some(heartbeat) = self.heartbeat.take() {
            heartbeat.abort();
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}

/// A strict in-memory [`LockStore`] for tests: one record, conditional writes, and
/// switches to fail calls or lose answers.
#[cfg(test)]
pub mod memory {
    use std::sync::Mutex;

    use super::*;

    #[derive(Debug, Default)]
    struct State {
        exists: bool,
        record: Option<LockRecord>,
        /// The next this-many calls fail with a retryable error.
        failures: u32,
        /// The next put is written but answered with a retryable error.
        lose_next_put_answer: bool,
        calls: Vec<String>,
    }

    /// The in-memory store.
    #[derive(Debug, Default)]
    pub struct MemoryLockStore {
        state: Mutex<State>,
    }

    impl MemoryLockStore {
        fn state(&self) -> std::sync::MutexGuard<'_, State> {
            self.state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }

        pub fn record(&self) -> Option<LockRecord> {
            self.state().record.clone()
        }

        /// Puts a record in place, as another run would have.
        pub fn set(&self, record: Option<LockRecord>) {
            let mut state = self.state();
            state.exists = true;
            state.record = record;
        }

        pub fn exists(&self) -> bool {
            self.state().exists
        }

        pub fn fail_next(&self, calls: u32) {
            self.state().failures = calls;
        }

        pub fn lose_next_put_answer(&self) {
            self.state().lose_next_put_answer = true;
        }

        pub fn calls(&self) -> Vec<String> {
            self.state().calls.clone()
        }

        fn enter(&self, call: &str) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
            let mut state = self.state();
            state.calls.push(call.to_owned());
            if state.failures > 0 {
                state.failures -= 1;
                return Err(StoreError::Call {
                    operation: call.to_owned(),
                    message: "throttled".to_owned(),
                    retryable: true,
                });
            }
            Ok(state)
        }
    }

    #[async_trait]
    impl LockStore for MemoryLockStore {
        fn describe(&self) -> String {
            "the in-memory lock store".to_owned()
        }

        async fn ensure(&self) -> Result<(), StoreError> {
            self.enter("ensure")?.exists = true;
            Ok(())
        }

        async fn exists(&self) -> Result<bool, StoreError> {
            Ok(self.enter("exists")?.exists)
        }

        async fn put_if_absent(&self, record: &LockRecord) -> Result<PutOutcome, StoreError> {
            let mut state = self.enter("put_if_absent")?;
            assert!(state.exists, "put before ensure");
            match &state.record {
                Some(held) => Ok(PutOutcome::Held(held.clone())),
                None => {
                    state.record = Some(record.clone());
                    if std::mem::take(&mut state.lose_next_put_answer) {
                        return Err(StoreError::Call {
                            operation: "put_if_absent".to_owned(),
                            message: "connection closed before the answer".to_owned(),
                            retryable: true,
                        });
                    }
                    Ok(PutOutcome::Written)
                }
            }
        }

        async fn replace_if(&self, token: &str, record: &LockRecord) -> Result<bool, StoreError> {
            let mut state = self.enter("replace_if")?;
            if state.record.as_ref().is_some_and(|r| r.token == token) {
                state.record = Some(record.clone());
                Ok(true)
            } else {
                Ok(false)
            }
        }

        async fn delete_if(&self, token: &str) -> Result<bool, StoreError> {
            let mut state = self.enter("delete_if")?;
            if state.record.as_ref().is_some_and(|r| r.token == token) {
                state.record = None;
                Ok(true)
            } else {
                Ok(false)
            }
        }

        async fn remove(&self) -> Result<(), StoreError> {
            let mut state = self.enter("remove")?;
            state.exists = false;
            state.record = None;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::memory::MemoryLockStore;
    use super::*;

    fn holder(pid: u32) -> Holder {
        Holder {
            host: "build-1".to_owned(),
            pid,
            command: "up".to_owned(),
        }
    }

    fn alive(_: &Holder) -> Liveness {
        Liveness::Alive
    }

    fn record_of(pid: u32, heartbeat_ago: Duration) -> LockRecord {
        let then = Timestamp::now() - jiff::SignedDuration::try_from(heartbeat_ago).unwrap();
        LockRecord {
            token: format!("token-{pid}"),
            holder: holder(pid),
            acquired_at: then,
            heartbeat_at: then,
        }
    }

    async fn take(
        store: &Arc<MemoryLockStore>,
        pid: u32,
        options: &LockOptions,
        liveness: &(dyn Fn(&Holder) -> Liveness + Sync),
    ) -> (Result<RunLock, LockError>, Vec<LockEvent>) {
        let mut events = Vec::new();
        let result = acquire(store.clone(), holder(pid), options, liveness, &mut |e| {
            events.push(e)
        })
        .await;
        (result, events)
    }

    #[tokio::test]
    async fn a_free_lock_is_taken_and_released() {
        let store = Arc::new(MemoryLockStore::default());
        let (lock, events) = take(&store, 1, &LockOptions::default(), &alive).await;
        let lock = lock.unwrap();
        assert!(events.is_empty());
        assert_eq!(store.record().unwrap().holder, holder(1));
        lock.release().await.unwrap();
        assert_eq!(store.record(), None);
        assert!(store.exists(), "release keeps the store");
    }

    #[tokio::test]
    async fn a_held_lock_is_refused_naming_its_holder() {
        let store = Arc::new(MemoryLockStore::default());
        store.set(Some(record_of(7, Duration::from_secs(3))));
        let (lock, _) = take(&store, 1, &LockOptions::default(), &alive).await;
        let err = lock.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("pid 7 on host build-1"), "{text}");
        assert!(text.contains("`up`"), "{text}");
        assert!(text.contains("since 20"), "{text}");
        assert!(
            matches!(
                err,
                LockError::Held {
                    staleness: None,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(store.record().unwrap().token, "token-7", "left as it was");
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_run_gets_the_lock_when_it_is_released() {
        let store = Arc::new(MemoryLockStore::default());
        store.set(Some(record_of(7, Duration::ZERO)));
        let releaser = {
            let store = store.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(12)).await;
                store.set(None);
            })
        };
        let options = LockOptions {
            wait: Duration::from_secs(60),
            ..LockOptions::default()
        };
        let (lock, events) = take(&store, 1, &options, &alive).await;
        releaser.await.unwrap();
        assert_eq!(lock.unwrap().record().holder, holder(1));
        assert!(
            matches!(&events[..], [LockEvent::Waiting { held, .. }] if held.holder.pid == 7),
            "{events:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_is_bounded() {
        let store = Arc::new(MemoryLockStore::default());
        store.set(Some(record_of(7, Duration::ZERO)));
        let options = LockOptions {
            wait: Duration::from_secs(20),
            ..LockOptions::default()
        };
        let started = tokio::time::Instant::now();
        let (lock, _) = take(&store, 1, &options, &alive).await;
        assert!(matches!(lock, Err(LockError::Held { .. })));
        assert!(
            started.elapsed() <= Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_stale_lock_is_taken_over_only_when_asked() {
        let store = Arc::new(MemoryLockStore::default());
        // Silent for longer than the bound.
        store.set(Some(record_of(7, Duration::from_secs(3600))));
        let (lock, _) = take(&store, 1, &LockOptions::default(), &alive).await;
        let err = lock.unwrap_err();
        assert!(
            matches!(
                &err,
                LockError::Held {
                    staleness: Some(Staleness::Silent(_)),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("stale"), "{err}");

        let options = LockOptions {
            take_over_stale: true,
            ..LockOptions::default()
        };
        let (lock, events) = take(&store, 1, &options, &alive).await;
        assert_eq!(lock.unwrap().record().holder, holder(1));
        assert!(
            matches!(&events[..], [LockEvent::TookOver { .. }]),
            "{events:?}"
        );
    }

    #[tokio::test]
    async fn a_holder_whose_process_ended_is_stale_at_once_but_a_live_one_is_not() {
        let store = Arc::new(MemoryLockStore::default());
        store.set(Some(record_of(7, Duration::from_secs(1))));
        let options = LockOptions {
            take_over_stale: true,
            ..LockOptions::default()
        };
        let (lock, _) = take(&store, 1, &options, &alive).await;
        assert!(
            matches!(
                lock,
                Err(LockError::Held {
                    staleness: None,
                    ..
                })
            ),
            "a live holder is never taken over"
        );
        let gone = |h: &Holder| {
            if h.pid == 7 {
                Liveness::Gone
            } else {
                Liveness::Alive
            }
        };
        let (lock, events) = take(&store, 1, &options, &gone).await;
        lock.unwrap();
        assert!(
            matches!(
                &events[..],
                [LockEvent::TookOver {
                    staleness: Staleness::HolderGone,
                    ..
                }]
            ),
            "{events:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_answer_to_our_own_put_still_gives_us_the_lock() {
        let store = Arc::new(MemoryLockStore::default());
        store.lose_next_put_answer();
        let (lock, _) = take(&store, 1, &LockOptions::default(), &alive).await;
        assert_eq!(lock.unwrap().record().holder, holder(1));
    }

    #[tokio::test(start_paused = true)]
    async fn retryable_store_failures_are_retried() {
        let store = Arc::new(MemoryLockStore::default());
        store.fail_next(3);
        let (lock, _) = take(&store, 1, &LockOptions::default(), &alive).await;
        lock.unwrap();
        store.fail_next(STORE_ATTEMPTS);
        let (lock, _) = take(&store, 2, &LockOptions::default(), &alive).await;
        assert!(matches!(lock, Err(LockError::Store { .. })), "{lock:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_heartbeat_keeps_the_lock_fresh_and_notices_a_take_over() {
        let store = Arc::new(MemoryLockStore::default());
        let (lock, _) = take(&store, 1, &LockOptions::default(), &alive).await;
        let mut lock = lock.unwrap();
        let lost = Arc::new(AtomicBool::new(false));
        let flag = lost.clone();
        lock.keep_alive(move || flag.store(true, Ordering::SeqCst));
        let first = store.record().unwrap().heartbeat_at;
        tokio::time::sleep(Duration::from_secs(31)).await;
        // Real time moves a little too, so the beat has a later timestamp.
        assert!(store.record().unwrap().heartbeat_at >= first);
        assert!(
            store.calls().contains(&"replace_if".to_owned()),
            "{:?}",
            store.calls()
        );
        assert!(!lock.is_lost());

        store.set(Some(record_of(9, Duration::ZERO)));
        tokio::time::sleep(Duration::from_secs(31)).await;
        assert!(lock.is_lost());
        assert!(lost.load(Ordering::SeqCst), "on_lost was called");
        // Releasing a lost lock leaves the new holder's alone.
        lock.release().await.unwrap();
        assert_eq!(store.record().unwrap().token, "token-9");
    }

    #[tokio::test]
    async fn release_and_remove_deletes_the_store() {
        let store = Arc::new(MemoryLockStore::default());
        let (lock, _) = take(&store, 1, &LockOptions::default(), &alive).await;
        lock.unwrap().release_and_remove().await.unwrap();
        assert!(!store.exists());
    }
}
