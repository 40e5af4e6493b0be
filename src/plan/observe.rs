//! Reading the live state of a stack through the providers: the only cloud calls a plan
//! makes, and none of them mutating.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Mutex;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::provider::{Live, ObservedOwnership, ProviderError, Providers, RetryPolicy};
use crate::stack::{Address, ResourceKind, Stack};

/// How many reads run at once, and as many lists beside them: enough to read a stack in
/// a few round trips, few enough to stay clear of AWS's request rate limits.
const READ_CONCURRENCY: usize = 8;

/// What exists in the cloud for a stack.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveState {
    /// Found for the stack's addresses (owned or not, adopted included).
    resources: BTreeMap<Address, Live>,
    /// Owned by the profile but no longer in it: to be deleted.
    leftovers: Vec<Live>,
}

impl LiveState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records what was found at `live.address`.
    pub fn insert(&mut self, live: Live) {
        self.resources.insert(live.address.clone(), live);
    }

    /// Records an owned resource the profile no longer has (once per address).
    pub fn insert_leftover(&mut self, live: Live) {
        if !self.leftovers.iter().any(|l| l.address == live.address) {
            self.leftovers.push(live);
        }
    }

    pub fn get(&self, address: &Address) -> Option<&Live> {
        self.resources.get(address)
    }

    /// Finds `address` among the stack's resources, then among the leftovers.
    pub fn find(&self, address: &Address) -> Option<&Live> {
        self.get(address)
            .or_else(|| self.leftovers.iter().find(|l| &l.address == address))
    }

    /// Returns the owned resources the profile no longer has.
    pub fn leftovers(&self) -> &[Live] {
        &self.leftovers
    }

    /// Returns everything found: the stack's resources by address, then the leftovers.
    pub fn iter(&self) -> impl Iterator<Item = &Live> {
        self.resources.values().chain(&self.leftovers)
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty() && self.leftovers.is_empty()
    }
}

/// Why the live state could not be read: every read that failed.
#[derive(Debug, thiserror::Error)]
pub struct ObserveError {
    pub errors: Vec<ProviderError>,
}

impl fmt::Display for ObserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not read the live state")?;
        for error in &self.errors {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

/// Reads every resource of `stack`, and lists the kinds it uses to find leftovers of
/// its scope ([`Stack::is_leftover`]). Reads run concurrently; retryable errors are
/// retried under `retry`. Makes no mutating call.
pub async fn observe(
    stack: &Stack,
    providers: &Providers,
    retry: &RetryPolicy,
) -> Result<LiveState, ObserveError> {
    let rng = Mutex::new(fastrand::Rng::new());
    let rng = &rng;
    let reads = stack.resources().iter().map(|resource| async move {
        let provider = providers.require(resource.kind, &resource.address)?;
        retry
            .run(rng, |_, _, _| {}, || provider.read(resource))
            .await
    });
    let kinds: BTreeSet<ResourceKind> = stack.resources().iter().map(|r| r.kind).collect();
    let lists = kinds
        .iter()
        .filter_map(|&kind| providers.get(kind))
        .map(|provider| async move {
            retry
                .run(rng, |_, _, _| {}, || provider.list(stack.profile()))
                .await
        });
    // The lists need nothing from the reads: run both at once, so a plan waits for the
    // slower of the two rather than for their sum.
    let (read, listed) = futures::join!(
        stream::iter(reads)
            .buffered(READ_CONCURRENCY)
            .collect::<Vec<Result<Option<Live>, ProviderError>>>(),
        stream::iter(lists)
            .buffered(READ_CONCURRENCY)
            .collect::<Vec<Result<Vec<Live>, ProviderError>>>()
    );

    let mut state = LiveState::new();
    let mut errors = Vec::new();
    for result in read {
        match result {
            Ok(Some(live)) => state.insert(live),
            Ok(None) => {}
            Err(error) => errors.push(error),
        }
    }
    for result in listed {
        match result {
            Ok(lives) => {
                for live in lives {
                    if live.ownership == ObservedOwnership::Owned
                        && stack.is_leftover(&live.address)
                    {
                        state.insert_leftover(live);
                    }
                }
            }
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(state)
    } else {
        Err(ObserveError { errors })
    }
}
