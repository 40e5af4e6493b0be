//! A strict in-memory cloud behind the provider boundary, for the engine's tests and the
//! benchmark (a stateful fake, not a script of expectations).
//!
//! It refuses what the real cloud would refuse and what the engine must never do:
//! creating what exists, creating before a dependency is ready, touching what the
//! profile does not own, deleting what is absent or still used by a dependent. It can be
//! told to fail, throttle or be slow for an address, and it records every call with
//! its start and end on tokio's clock, so that tests on a paused clock can assert order
//! and overlap without waiting.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use tokio::time::Instant;

use super::{
    AttributeChange, Live, ObservedOwnership, ProviderError, Providers, ResourceProvider, Status,
};
use crate::stack::{Address, Ownership, Resource, ResourceKind, Spec, Value};

/// A provider operation, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Read,
    List,
    Create,
    Update,
    Delete,
    WaitReady,
    WaitDeleted,
}

impl Op {
    /// Tells whether the operation changes the cloud.
    pub fn is_write(self) -> bool {
        matches!(self, Op::Create | Op::Update | Op::Delete)
    }
}

/// One recorded call. Times are offsets from the fake's creation on tokio's clock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    pub op: Op,
    /// The resource called about (for `List`, a placeholder address of the kind).
    pub address: Address,
    pub start: Duration,
    pub end: Duration,
    /// `None` on success, the error code otherwise.
    pub error: Option<String>,
}

/// Who a resource placed in the fake beforehand belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seed {
    /// An existing resource the profile adopts (untagged).
    Adopted,
    /// A look-alike with the profile's name but no ownership tag.
    Unowned,
    /// Tagged as owned by this profile name.
    Profile(String),
}

#[derive(Debug, Clone)]
enum Fault {
    Permanent(String),
    Throttle(u32),
    Unavailable(u32),
}

#[derive(Debug, Clone)]
struct Entry {
    kind: ResourceKind,
    id: String,
    attributes: Spec,
    owner: Option<String>,
    adopted: bool,
    depends_on: Vec<Address>,
    ready_at: Instant,
    gone_at: Option<Instant>,
    phase: &'static str,
    version: i64,
}

#[derive(Default)]
struct State {
    entries: BTreeMap<Address, Entry>,
    generations: HashMap<Address, u32>,
    faults: HashMap<(Address, Op), Fault>,
    durations: HashMap<Address, Duration>,
    kind_durations: HashMap<ResourceKind, Duration>,
    calls: Vec<Call>,
    writes: usize,
    halt_after_writes: Option<usize>,
    /// Set by the first write beyond `halt_after_writes`.
    halted: bool,
}

impl State {
    /// Drops what has finished deleting: time, not a call, moves the fake forward.
    fn settle(&mut self, now: Instant) {
        self.entries
            .retain(|_, e| e.gone_at.is_none_or(|gone| gone > now));
    }

    fn duration(&self, address: &Address, kind: ResourceKind) -> Duration {
        self.durations
            .get(address)
            .or_else(|| self.kind_durations.get(&kind))
            .copied()
            .unwrap_or_default()
    }
}

/// The in-memory cloud. Make one with [`FakeCloud::new`], then its [`providers`](Self::providers).
pub struct FakeCloud {
    state: Mutex<State>,
    epoch: Instant,
}

impl FakeCloud {
    /// Makes an empty cloud where everything is instant.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            epoch: Instant::now(),
        })
    }

    /// Returns a provider of every kind, all backed by this cloud.
    pub fn providers(self: &Arc<Self>) -> Providers {
        let mut providers = Providers::new();
        for kind in ResourceKind::ALL {
            providers.insert(
                kind,
                Arc::new(FakeProvider {
                    cloud: self.clone(),
                    kind,
                }),
            );
        }
        providers
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already; keep going.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns the time since the fake was made, on tokio's clock.
    pub fn now(&self) -> Duration {
        Instant::now() - self.epoch
    }

    /// Makes creating, updating or deleting `address` take `duration` until it is done.
    pub fn set_duration(&self, address: &Address, duration: Duration) {
        self.state().durations.insert(address.clone(), duration);
    }

    /// Makes every resource of `kind` take `duration`, unless set per address.
    pub fn set_kind_duration(&self, kind: ResourceKind, duration: Duration) {
        self.state().kind_durations.insert(kind, duration);
    }

    /// Makes every kind take its [typical duration](ResourceKind::typical_duration).
    pub fn use_typical_durations(&self) {
        let mut state = self.state();
        for kind in ResourceKind::ALL {
            state.kind_durations.insert(kind, kind.typical_duration());
        }
    }

    /// Returns how long a change of `address` takes.
    pub fn duration_of(&self, address: &Address, kind: ResourceKind) -> Duration {
        self.state().duration(address, kind)
    }

    /// Makes every `op` on `address` fail with the permanent error `code`.
    pub fn fail(&self, address: &Address, op: Op, code: &str) {
        self.state()
            .faults
            .insert((address.clone(), op), Fault::Permanent(code.to_owned()));
    }

    /// Makes the next `times` `op` calls on `address` fail with throttling.
    pub fn throttle(&self, address: &Address, op: Op, times: u32) {
        self.state()
            .faults
            .insert((address.clone(), op), Fault::Throttle(times));
    }

    /// Makes the next `times` `op` calls on `address` fail with a 503.
    pub fn fail_retryably(&self, address: &Address, op: Op, times: u32) {
        self.state()
            .faults
            .insert((address.clone(), op), Fault::Unavailable(times));
    }

    /// Removes every fault.
    pub fn heal(&self) {
        self.state().faults.clear();
    }

    /// Lets `writes` more writes succeed, then fails the next write and every call after
    /// it, as if the process running the tool had been killed there: what exists stays
    /// as it was left.
    pub fn halt_after_writes(&self, writes: usize) {
        let mut state = self.state();
        state.halt_after_writes = Some(state.writes + writes);
    }

    /// Lifts [`halt_after_writes`](Self::halt_after_writes).
    pub fn resume(&self) {
        let mut state = self.state();
        state.halt_after_writes = None;
        state.halted = false;
    }

    /// Places an existing, ready resource in the cloud.
    pub fn seed(&self, address: &Address, kind: ResourceKind, attributes: Spec, seed: Seed) {
        let mut state = self.state();
        let generation = next_generation(&mut state, address);
        let mut attributes = attributes;
        let (owner, adopted) = match seed {
            Seed::Adopted => (None, true),
            Seed::Unowned => (None, false),
            Seed::Profile(profile) => {
                let mut tags = attributes
                    .get("tags")
                    .and_then(Value::as_map)
                    .cloned()
                    .unwrap_or_default();
                tags.insert(
                    crate::stack::PROFILE_TAG.to_owned(),
                    profile.as_str().into(),
                );
                attributes.insert("tags", Value::Map(tags));
                (Some(profile), false)
            }
        };
        let id = attributes
            .get("id")
            .and_then(Value::as_str)
            .map_or_else(|| fake_id(kind, address, generation), str::to_owned);
        let entry = Entry {
            kind,
            id,
            attributes,
            owner,
            adopted,
            depends_on: Vec::new(),
            ready_at: Instant::now(),
            gone_at: None,
            phase: "available",
            version: 1,
        };
        state.entries.insert(address.clone(), entry);
    }

    /// Returns every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// Returns every write call so far, failed ones included.
    pub fn write_calls(&self) -> Vec<Call> {
        self.state()
            .calls
            .iter()
            .filter(|c| c.op.is_write())
            .cloned()
            .collect()
    }

    /// Forgets the calls recorded so far.
    pub fn clear_calls(&self) {
        self.state().calls.clear();
    }

    /// Returns the successful calls of `op` on `address`.
    pub fn calls_to(&self, address: &Address, op: Op) -> Vec<Call> {
        self.state()
            .calls
            .iter()
            .filter(|c| &c.address == address && c.op == op && c.error.is_none())
            .cloned()
            .collect()
    }

    /// Returns when work on `address` started (its first successful write) and ended
    /// (its last successful write or wait).
    pub fn span(&self, address: &Address) -> Option<(Duration, Duration)> {
        let state = self.state();
        let calls: Vec<&Call> = state
            .calls
            .iter()
            .filter(|c| &c.address == address && c.error.is_none() && c.op != Op::Read)
            .collect();
        let start = calls
            .iter()
            .filter(|c| c.op.is_write())
            .map(|c| c.start)
            .min()?;
        let end = calls.iter().map(|c| c.end).max()?;
        Some((start, end))
    }

    /// Tells whether `address` exists (being deleted counts as existing).
    pub fn exists(&self, address: &Address) -> bool {
        let mut state = self.state();
        state.settle(Instant::now());
        state.entries.contains_key(address)
    }

    /// Returns what exists, by address: kind, attributes, owner tag and whether adopted.
    /// Ids are left out, so two clouds that reached the same state compare equal.
    pub fn snapshot(&self) -> BTreeMap<Address, (ResourceKind, Spec, Option<String>, bool)> {
        let mut state = self.state();
        state.settle(Instant::now());
        state
            .entries
            .iter()
            .map(|(a, e)| {
                (
                    a.clone(),
                    (e.kind, e.attributes.clone(), e.owner.clone(), e.adopted),
                )
            })
            .collect()
    }

    fn record(&self, op: Op, address: &Address, start: Instant, error: Option<&ProviderError>) {
        let call = Call {
            op,
            address: address.clone(),
            start: start - self.epoch,
            end: Instant::now() - self.epoch,
            error: error.map(|e| e.code().to_owned()),
        };
        self.state().calls.push(call);
    }

    /// Fails the call if a fault is set for it or the fake is halted.
    fn check_faults(
        &self,
        state: &mut State,
        address: &Address,
        op: Op,
    ) -> Result<(), ProviderError> {
        if op.is_write()
            && state
                .halt_after_writes
                .is_some_and(|limit| state.writes >= limit)
        {
            state.halted = true;
        }
        if state.halted {
            return Err(ProviderError::rejected(
                address,
                "Halted",
                "the fake cloud was halted",
            ));
        }
        let key = (address.clone(), op);
        let error = match state.faults.get_mut(&key) {
            None => return Ok(()),
            Some(Fault::Permanent(code)) => {
                ProviderError::rejected(address, code, "injected failure")
            }
            Some(Fault::Throttle(0) | Fault::Unavailable(0)) => return Ok(()),
            Some(Fault::Throttle(n)) => {
                *n -= 1;
                ProviderError::Throttled {
                    address: address.clone(),
                    code: "Throttling".into(),
                    message: "Rate exceeded".into(),
                }
            }
            Some(Fault::Unavailable(n)) => {
                *n -= 1;
                ProviderError::Unavailable {
                    address: address.clone(),
                    code: "ServiceUnavailable".into(),
                    message: "injected 503".into(),
                }
            }
        };
        Err(error)
    }

    /// Runs a call that does not wait: checks faults, runs `body` under the lock, records.
    fn instant<T>(
        &self,
        op: Op,
        address: &Address,
        body: impl FnOnce(&mut State, Instant) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let now = Instant::now();
        let result = {
            let mut state = self.state();
            state.settle(now);
            self.check_faults(&mut state, address, op).and_then(|()| {
                let result = body(&mut state, now);
                if result.is_ok() && op.is_write() {
                    state.writes += 1;
                }
                result
            })
        };
        self.record(op, address, now, result.as_ref().err());
        result
    }

    /// Runs a wait: checks faults, sleeps until `until` says, then runs `finish`.
    async fn wait<T>(
        &self,
        op: Op,
        address: &Address,
        until: impl FnOnce(&State) -> Result<Instant, ProviderError>,
        finish: impl FnOnce(&mut State, Instant) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let start = Instant::now();
        let deadline = {
            let mut state = self.state();
            state.settle(start);
            self.check_faults(&mut state, address, op)
                .and_then(|()| until(&state))
        };
        let result = match deadline {
            Ok(deadline) => {
                tokio::time::sleep_until(deadline).await;
                let now = Instant::now();
                let mut state = self.state();
                state.settle(now);
                finish(&mut state, now)
            }
            Err(error) => Err(error),
        };
        self.record(op, address, start, result.as_ref().err());
        result
    }
}

fn next_generation(state: &mut State, address: &Address) -> u32 {
    let generation = state.generations.entry(address.clone()).or_default();
    *generation += 1;
    *generation
}

fn fake_id(kind: ResourceKind, address: &Address, generation: u32) -> String {
    let slug: String = address
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let prefix = match kind {
        ResourceKind::Vpc => "vpc",
        ResourceKind::Subnet => "subnet",
        ResourceKind::SecurityGroup => "sg",
        ResourceKind::VpcEndpoint => "vpce",
        ResourceKind::InternetGateway => "igw",
        ResourceKind::NatGateway => "nat",
        ResourceKind::ElasticIp => "eipalloc",
        ResourceKind::RouteTable => "rtb",
        ResourceKind::LaunchTemplate => "lt",
        _ => "fake",
    };
    if generation > 1 {
        format!("{prefix}-{slug}-{generation}")
    } else {
        format!("{prefix}-{slug}")
    }
}

fn not_found(address: &Address) -> ProviderError {
    ProviderError::NotFound {
        address: address.clone(),
        code: "NotFound".into(),
        message: "no such resource".into(),
    }
}

/// What the fake reports about an entry.
fn live_of(address: &Address, entry: &Entry, ownership: ObservedOwnership, now: Instant) -> Live {
    let status = if entry.gone_at.is_some() {
        Status::InProgress("deleting".into())
    } else if entry.ready_at > now {
        Status::InProgress(entry.phase.into())
    } else {
        Status::Ready
    };
    let arn = format!(
        "arn:aws:fake:us-west-2:000000000000:{}/{}",
        entry.kind, entry.id
    );
    let mut outputs: BTreeMap<String, Value> = entry
        .attributes
        .iter()
        .filter(|(k, _)| k.as_str() != "tags")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    outputs.insert("id".into(), entry.id.as_str().into());
    outputs.insert("arn".into(), arn.into());
    let host = format!("{}.fake.internal", entry.id);
    match entry.kind {
        ResourceKind::EksCluster => {
            outputs.insert("endpoint".into(), format!("https://{host}").into());
            outputs.insert(
                "cluster_security_group_id".into(),
                format!("sg-eks-{}", entry.id).into(),
            );
        }
        ResourceKind::LaunchTemplate => {
            outputs.insert("latest_version".into(), entry.version.into());
        }
        ResourceKind::DbCluster | ResourceKind::DbInstance => {
            outputs.insert("endpoint".into(), host.clone().into());
            outputs.insert("reader_endpoint".into(), format!("ro.{host}").into());
            outputs.insert(
                "master_user_secret_arn".into(),
                format!("arn:aws:secretsmanager:::secret:{}", entry.id).into(),
            );
        }
        ResourceKind::EcrRepository => {
            let name = entry.attributes.name().unwrap_or_default();
            outputs.insert(
                "repository_uri".into(),
                format!("000000000000.dkr.ecr.us-west-2.amazonaws.com/{name}").into(),
            );
        }
        ResourceKind::VpcEndpoint => {
            outputs.insert("dns_name".into(), host.into());
        }
        ResourceKind::AtlasEndpointService => {
            outputs.insert(
                "service_name".into(),
                format!("com.amazonaws.vpce.us-west-2.vpce-svc-{}", entry.id).into(),
            );
        }
        _ => {}
    }
    Live {
        address: address.clone(),
        kind: entry.kind,
        id: entry.id.clone(),
        ownership,
        status,
        attributes: entry.attributes.clone(),
        outputs,
    }
}

/// One kind's provider over a [`FakeCloud`].
pub struct FakeProvider {
    cloud: Arc<FakeCloud>,
    kind: ResourceKind,
}

impl FakeProvider {
    /// Refuses a desired spec the real cloud could not take: one with a reference the
    /// engine should have resolved, or a dependency that is missing or not ready.
    fn check_ready_to_use(
        state: &State,
        desired: &Resource,
        now: Instant,
    ) -> Result<(), ProviderError> {
        if let Some(r) = desired.spec.refs().first() {
            return Err(ProviderError::rejected(
                &desired.address,
                "UnresolvedReference",
                format!("the spec still refers to {r}"),
            ));
        }
        for dependency in desired.dependencies() {
            let ready = state
                .entries
                .get(dependency)
                .is_some_and(|e| e.gone_at.is_none() && e.ready_at <= now);
            if !ready {
                return Err(ProviderError::DependencyNotReady {
                    address: desired.address.clone(),
                    code: "DependencyViolation".into(),
                    message: format!("{dependency} does not exist or is not ready"),
                });
            }
        }
        Ok(())
    }

    /// Refuses to change what this profile does not own.
    fn check_owned(
        entry: &Entry,
        address: &Address,
        profile: Option<&str>,
    ) -> Result<(), ProviderError> {
        if entry.adopted || entry.owner.is_none() || entry.owner.as_deref() != profile {
            return Err(ProviderError::rejected(
                address,
                "NotOwned",
                format!(
                    "owned by {:?}, adopted: {}; the engine must not change it",
                    entry.owner, entry.adopted
                ),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceProvider for FakeProvider {
    /// Refuses, like RDS, to delete what has deletion protection on.
    fn deletion_refusal(&self, live: &Live) -> Option<String> {
        (live.attributes.get("deletion_protection") == Some(&Value::Bool(true))).then(|| {
            format!(
                "{} {} has deletion protection on: set deletion_protection: false in the profile and run `up` first",
                live.kind, live.id
            )
        })
    }

    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        self.cloud
            .instant(Op::Read, &desired.address, |state, now| {
                Ok(state.entries.get(&desired.address).map(|entry| {
                    let ownership = if desired.ownership == Ownership::Adopted && entry.adopted {
                        ObservedOwnership::Adopted
                    } else if entry.adopted {
                        ObservedOwnership::Unowned
                    } else {
                        ObservedOwnership::of(desired, entry.owner.as_deref())
                    };
                    live_of(&desired.address, entry, ownership, now)
                }))
            })
    }

    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        let placeholder =
            Address::keyed(crate::stack::Component::Network, "list", self.kind.as_str());
        self.cloud.instant(Op::List, &placeholder, |state, now| {
            Ok(state
                .entries
                .iter()
                .filter(|(_, e)| {
                    e.kind == self.kind && !e.adopted && e.owner.as_deref() == Some(profile)
                })
                .map(|(a, e)| live_of(a, e, ObservedOwnership::Owned, now))
                .collect())
        })
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        self.cloud
            .instant(Op::Create, &desired.address, |state, now| {
                if state.entries.contains_key(&desired.address) {
                    return Err(ProviderError::AlreadyExists {
                        address: desired.address.clone(),
                        code: "AlreadyExists".into(),
                        message: "a resource with this name exists".into(),
                    });
                }
                Self::check_ready_to_use(state, desired, now)?;
                let generation = next_generation(state, &desired.address);
                let entry = Entry {
                    kind: desired.kind,
                    id: fake_id(desired.kind, &desired.address, generation),
                    attributes: desired.spec.clone(),
                    owner: desired.profile_tag().map(str::to_owned),
                    adopted: false,
                    depends_on: desired.depends_on.clone(),
                    ready_at: now + state.duration(&desired.address, desired.kind),
                    gone_at: None,
                    phase: "creating",
                    version: 1,
                };
                let live = live_of(&desired.address, &entry, ObservedOwnership::Owned, now);
                state.entries.insert(desired.address.clone(), entry);
                Ok(live)
            })
    }

    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        self.cloud
            .instant(Op::Update, &desired.address, |state, now| {
                let duration = state.duration(&desired.address, desired.kind);
                Self::check_ready_to_use(state, desired, now)?;
                let entry = state
                    .entries
                    .get_mut(&live.address)
                    .ok_or_else(|| not_found(&live.address))?;
                Self::check_owned(entry, &live.address, desired.profile_tag())?;
                if entry.gone_at.is_some() || entry.ready_at > now {
                    return Err(ProviderError::InUse {
                        address: live.address.clone(),
                        code: "ResourceInUse".into(),
                        message: format!("it is {}", entry.phase),
                    });
                }
                for change in changes {
                    match &change.after {
                        Some(value) => entry.attributes.insert(&change.attribute, value.clone()),
                        None => {
                            entry.attributes.remove(&change.attribute);
                        }
                    }
                }
                entry.depends_on = desired.depends_on.clone();
                entry.ready_at = now + duration;
                entry.phase = "updating";
                entry.version += 1;
                Ok(live_of(&live.address, entry, ObservedOwnership::Owned, now))
            })
    }

    async fn delete(&self, live: &Live, desired: Option<&Resource>) -> Result<(), ProviderError> {
        let profile = desired
            .and_then(Resource::profile_tag)
            .map(str::to_owned)
            .or_else(|| live.profile_tag().map(str::to_owned));
        self.cloud.instant(Op::Delete, &live.address, |state, now| {
            let duration = state.duration(&live.address, live.kind);
            let entry = state
                .entries
                .get(&live.address)
                .ok_or_else(|| not_found(&live.address))?;
            Self::check_owned(entry, &live.address, profile.as_deref())?;
            if entry.gone_at.is_some() {
                return Ok(());
            }
            let users: Vec<String> = state
                .entries
                .iter()
                .filter(|(_, e)| e.depends_on.contains(&live.address))
                .map(|(a, _)| a.to_string())
                .collect();
            if !users.is_empty() {
                return Err(ProviderError::InUse {
                    address: live.address.clone(),
                    code: "DependencyViolation".into(),
                    message: format!("still used by {}", users.join(", ")),
                });
            }
            let entry = state.entries.get_mut(&live.address).expect("checked");
            entry.gone_at = Some(now + duration);
            entry.phase = "deleting";
            Ok(())
        })
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        let address = &live.address;
        self.cloud
            .wait(
                Op::WaitReady,
                address,
                |state| match state.entries.get(address) {
                    Some(entry) if entry.gone_at.is_none() => Ok(entry.ready_at),
                    _ => Err(not_found(address)),
                },
                |state, now| {
                    let entry = state
                        .entries
                        .get_mut(address)
                        .ok_or_else(|| not_found(address))?;
                    entry.phase = "available";
                    Ok(live_of(address, entry, live.ownership.clone(), now))
                },
            )
            .await
    }

    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        let address = &live.address;
        self.cloud
            .wait(
                Op::WaitDeleted,
                address,
                |state| match state.entries.get(address) {
                    None => Ok(Instant::now()),
                    Some(Entry {
                        gone_at: Some(gone),
                        ..
                    }) => Ok(*gone),
                    Some(_) => Err(ProviderError::rejected(
                        address,
                        "NotDeleting",
                        "it is not being deleted",
                    )),
                },
                |_, _| Ok(()),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::PROFILE_TAG;

    fn resource(address: &str, deps: &[&str]) -> Resource {
        let address: Address = address.parse().unwrap();
        let tags = Value::Map([(PROFILE_TAG.to_owned(), Value::from("p"))].into());
        let spec = Spec::new().with("name", address.name()).with("tags", tags);
        let deps: Vec<Address> = deps.iter().map(|d| d.parse().unwrap()).collect();
        Resource::managed(address, ResourceKind::SecurityGroup, spec).uses(deps.iter())
    }

    #[tokio::test(start_paused = true)]
    async fn is_strict_about_existence_readiness_and_use() {
        let cloud = FakeCloud::new();
        let provider = cloud
            .providers()
            .get(ResourceKind::SecurityGroup)
            .unwrap()
            .clone();
        let vpc = resource("network.vpc", &[]);
        let sg = resource("rds.security_group", &["network.vpc"]);
        cloud.set_duration(&vpc.address, Duration::from_secs(10));

        assert_eq!(
            provider.create(&sg).await.unwrap_err().code(),
            "DependencyViolation"
        );
        let live_vpc = provider.create(&vpc).await.unwrap();
        assert_eq!(
            provider.create(&vpc).await.unwrap_err().code(),
            "AlreadyExists"
        );
        assert_eq!(
            provider.create(&sg).await.unwrap_err().code(),
            "DependencyViolation",
            "vpc not ready yet"
        );
        let ready = provider.wait_ready(&live_vpc).await.unwrap();
        assert!(ready.is_ready());
        assert_eq!(cloud.now(), Duration::from_secs(10));
        let live_sg = provider.create(&sg).await.unwrap();

        assert_eq!(
            provider
                .delete(&ready, Some(&vpc))
                .await
                .unwrap_err()
                .code(),
            "DependencyViolation"
        );
        provider.delete(&live_sg, Some(&sg)).await.unwrap();
        provider.wait_deleted(&live_sg).await.unwrap();
        assert_eq!(
            provider
                .delete(&live_sg, Some(&sg))
                .await
                .unwrap_err()
                .code(),
            "NotFound"
        );
        provider.delete(&ready, Some(&vpc)).await.unwrap();
        provider.wait_deleted(&ready).await.unwrap();
        assert!(!cloud.exists(&vpc.address));
        assert_eq!(cloud.now(), Duration::from_secs(20));
    }

    #[tokio::test(start_paused = true)]
    async fn refuses_to_touch_what_it_does_not_own() {
        let cloud = FakeCloud::new();
        let provider = cloud
            .providers()
            .get(ResourceKind::SecurityGroup)
            .unwrap()
            .clone();
        let sg = resource("rds.security_group", &[]);
        cloud.seed(
            &sg.address,
            ResourceKind::SecurityGroup,
            Spec::new(),
            Seed::Unowned,
        );
        let live = provider.read(&sg).await.unwrap().unwrap();
        assert_eq!(live.ownership, ObservedOwnership::Unowned);
        assert_eq!(
            provider.delete(&live, Some(&sg)).await.unwrap_err().code(),
            "NotOwned"
        );

        let other = resource("atlas.security_group", &[]);
        cloud.seed(
            &other.address,
            ResourceKind::SecurityGroup,
            Spec::new(),
            Seed::Profile("q".into()),
        );
        let live = provider.read(&other).await.unwrap().unwrap();
        assert_eq!(
            live.ownership,
            ObservedOwnership::OtherProfile {
                profile: "q".into()
            }
        );
        assert!(provider.list("p").await.unwrap().is_empty());
        assert_eq!(provider.list("q").await.unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn injects_faults_and_records_calls() {
        let cloud = FakeCloud::new();
        let provider = cloud
            .providers()
            .get(ResourceKind::SecurityGroup)
            .unwrap()
            .clone();
        let sg = resource("rds.security_group", &[]);
        cloud.throttle(&sg.address, Op::Create, 2);
        assert_eq!(provider.create(&sg).await.unwrap_err().code(), "Throttling");
        assert!(provider.create(&sg).await.unwrap_err().retryable());
        provider.create(&sg).await.unwrap();
        let codes: Vec<Option<String>> = cloud.calls().into_iter().map(|c| c.error).collect();
        assert_eq!(
            codes,
            vec![Some("Throttling".into()), Some("Throttling".into()), None]
        );

        let other = resource("atlas.security_group", &[]);
        cloud.fail(&other.address, Op::Create, "InvalidGroup.Duplicate");
        assert!(!provider.create(&other).await.unwrap_err().retryable());

        cloud.halt_after_writes(0);
        let live = provider.read(&sg).await.unwrap().unwrap();
        assert_eq!(
            provider.delete(&live, Some(&sg)).await.unwrap_err().code(),
            "Halted"
        );
        assert_eq!(provider.read(&sg).await.unwrap_err().code(), "Halted");
        cloud.resume();
        assert!(provider.read(&sg).await.unwrap().is_some());
    }
}
