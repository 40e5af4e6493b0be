//! Reading the live state of a stack through the providers: the only cloud calls a plan
//! makes, and none of them mutating.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use serde::Serialize;

use crate::provider::{
    Live, Observation, ObservedOwnership, ProviderError, Providers, RetryPolicy,
};
use crate::stack::{Address, Resource, ResourceKind, Stack};

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

/// Reads every resource of `stack`, and finds the profile's resources of each kind it
/// uses to tell leftovers of its scope ([`Stack::is_leftover`]): one
/// [`observe`](crate::provider::ResourceProvider::observe) per kind, every kind at
/// once, each retried under `retry` when it fails with a retryable error. Makes no
/// mutating call.
pub async fn observe(
    stack: &Stack,
    providers: &Providers,
    retry: &RetryPolicy,
) -> Result<LiveState, ObserveError> {
    let rng = Mutex::new(fastrand::Rng::new());
    let rng = &rng;
    let mut by_kind: BTreeMap<ResourceKind, Vec<&Resource>> = BTreeMap::new();
    for resource in stack.resources() {
        by_kind.entry(resource.kind).or_default().push(resource);
    }
    let observations = by_kind.iter().map(|(&kind, desired)| async move {
        let provider = providers.require(kind, &desired[0].address)?;
        retry
            .run(
                rng,
                |_, _, _| {},
                || provider.observe(desired, stack.profile()),
            )
            .await
    });
    let observed: Vec<Result<Observation, ProviderError>> =
        futures::future::join_all(observations).await;

    let mut state = LiveState::new();
    let mut errors = Vec::new();
    for result in observed {
        match result {
            Ok(observation) => {
                for live in observation.found {
                    state.insert(live);
                }
                for live in observation.others {
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
