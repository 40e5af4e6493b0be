//! The provider boundary: the only place that talks to a cloud (docs/architecture.md).
//!
//! Each [`ResourceKind`] has one [`ResourceProvider`]: read by deterministic name and
//! tag, create, update, delete, wait, and a `diff` hook that says what each attribute
//! change costs. What crosses the boundary is plain data ([`Live`], [`Spec`]), never an
//! SDK type, so the planner and the executor work the same against AWS, Atlas or the
//! strict in-memory [`fake`].

pub mod atlas;
pub mod aws;
pub mod fake;
mod retry;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::stack::{
    Address, Ownership, PROFILE_TAG, REGION_TAG, Resource, ResourceKind, Spec, Value,
};

pub use retry::RetryPolicy;

/// A boxed error from an SDK or client, kept as the source of a [`ProviderError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Who owns a resource that exists, as observed in the cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "owner")]
pub enum ObservedOwnership {
    /// Tagged as created by this profile.
    Owned,
    /// Tagged as created by another profile.
    OtherProfile { profile: String },
    /// A global (IAM) resource tagged with this profile name but for the stack in
    /// another region: another stack's, never changed or deleted.
    OtherStack { profile: String, region: String },
    /// A global resource tagged with this profile name by a release that did not record
    /// the region yet (before 0.2). It is this stack's only if this stack's resources
    /// use it (see `LiveState::claim_legacy`); otherwise it is left alone.
    Legacy,
    /// Has the name the tool would use but no ownership tag: never touched.
    Unowned,
    /// Existed before and is only read (an adopted VPC or subnet).
    Adopted,
}

impl ObservedOwnership {
    /// Tells the ownership of a resource found for `desired` whose ownership tag (if
    /// any) is `profile_tag`: what every provider's `read` reports.
    pub fn of(desired: &Resource, profile_tag: Option<&str>) -> Self {
        if desired.ownership == Ownership::Adopted {
            return Self::Adopted;
        }
        match (profile_tag, desired.profile_tag()) {
            (Some(found), Some(ours)) if found == ours => Self::Owned,
            (Some(found), _) => Self::OtherProfile {
                profile: found.to_owned(),
            },
            (None, _) => Self::Unowned,
        }
    }

    /// Tells the ownership of a global (IAM) resource found for `desired`, whose tags are
    /// `tags`: owned only when both the profile and the region are this stack's.
    pub fn of_global(desired: &Resource, tags: &BTreeMap<String, String>) -> Self {
        let profile_tag = tags.get(PROFILE_TAG).map(String::as_str);
        let found = Self::of(desired, profile_tag);
        if found != Self::Owned {
            return found;
        }
        match (tags.get(REGION_TAG), desired.spec.tag(REGION_TAG)) {
            (Some(found), Some(ours)) if found == ours => Self::Owned,
            (Some(found), _) => Self::OtherStack {
                profile: profile_tag.unwrap_or_default().to_owned(),
                region: found.clone(),
            },
            (None, _) => Self::Legacy,
        }
    }
}

/// How far a live resource is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "detail")]
pub enum Status {
    Ready,
    /// Creating, updating, deleting…: the provider's own word for it.
    InProgress(String),
    /// The cloud gave up on it (e.g. a node group in `CREATE_FAILED`).
    Failed(String),
}

/// A resource as it exists in the cloud, as plain data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Live {
    pub address: Address,
    pub kind: ResourceKind,
    /// The cloud's identifier (`vpc-…`, an ARN, a name), used to update and delete it.
    pub id: String,
    pub ownership: ObservedOwnership,
    pub status: Status,
    /// The attributes the provider can read back, named as in the spec. An attribute
    /// the provider cannot read (a password) is left out and never compared.
    pub attributes: Spec,
    /// Values other resources may refer to (`id`, `arn`, `endpoint`, …).
    pub outputs: BTreeMap<String, Value>,
}

impl Live {
    pub fn is_ready(&self) -> bool {
        self.status == Status::Ready
    }

    /// Returns the profile in the live resource's ownership tag.
    pub fn profile_tag(&self) -> Option<&str> {
        self.attributes.tag(PROFILE_TAG)
    }
}

/// What changing one attribute costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "effect", content = "reason")]
pub enum ChangeClass {
    InPlace,
    /// Applied in place, takes effect after a reboot (RDS `pending-reboot`).
    NeedsReboot,
    /// The resource must be deleted and created again.
    NeedsReplacement,
    /// The cloud cannot make this change, or the tool refuses to: the reason says why.
    Forbidden(String),
}

/// One attribute that differs between the desired spec and the live resource.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeChange {
    pub attribute: String,
    /// `None`: the live resource does not have it.
    pub before: Option<Value>,
    /// `None`: the spec no longer sets it.
    pub after: Option<Value>,
    pub class: ChangeClass,
    /// For people: what the cloud does or requires beyond the change itself (a storage
    /// optimization that runs for hours, a restriction that follows). The plan shows it
    /// as the reason of the update.
    pub note: Option<String>,
}

/// Why a provider call failed. Every variant names the resource and the provider's
/// error code, so no message ever leaves the reader guessing which call it was.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{address}: throttled ({code}): {message}")]
    Throttled {
        address: Address,
        code: String,
        message: String,
    },
    #[error("{address}: service unavailable ({code}): {message}")]
    Unavailable {
        address: Address,
        code: String,
        message: String,
    },
    #[error("{address}: connection failed ({code}): {message}")]
    Connection {
        address: Address,
        code: String,
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    // Not "already exists": the name taken may be another's, e.g. a final snapshot's
    // (`DBClusterSnapshotAlreadyExistsFault` of `rds:DeleteDBCluster`).
    #[error("{address}: name already taken ({code}): {message}")]
    AlreadyExists {
        address: Address,
        code: String,
        message: String,
    },
    #[error("{address}: not found ({code}): {message}")]
    NotFound {
        address: Address,
        code: String,
        message: String,
    },
    #[error("{address}: still in use ({code}): {message}")]
    InUse {
        address: Address,
        code: String,
        message: String,
    },
    #[error("{address}: a dependency is not ready ({code}): {message}")]
    DependencyNotReady {
        address: Address,
        code: String,
        message: String,
    },
    #[error("{address}: timed out after {}s waiting for it ({code})", waited.as_secs())]
    TimedOut {
        address: Address,
        code: String,
        waited: Duration,
    },
    #[error("{address}: rejected ({code}): {message}")]
    Rejected {
        address: Address,
        code: String,
        message: String,
        #[source]
        source: Option<BoxError>,
    },
}

impl ProviderError {
    /// Tells whether trying the same call again later may work: throttling, a 5xx
    /// answer or a dropped connection. Everything else is permanent.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Self::Throttled { .. } | Self::Unavailable { .. } | Self::Connection { .. }
        )
    }

    pub fn address(&self) -> &Address {
        match self {
            Self::Throttled { address, .. }
            | Self::Unavailable { address, .. }
            | Self::Connection { address, .. }
            | Self::AlreadyExists { address, .. }
            | Self::NotFound { address, .. }
            | Self::InUse { address, .. }
            | Self::DependencyNotReady { address, .. }
            | Self::TimedOut { address, .. }
            | Self::Rejected { address, .. } => address,
        }
    }

    /// Returns the provider's error code (`ThrottlingException`, `DBClusterAlreadyExistsFault`…).
    pub fn code(&self) -> &str {
        match self {
            Self::Throttled { code, .. }
            | Self::Unavailable { code, .. }
            | Self::Connection { code, .. }
            | Self::AlreadyExists { code, .. }
            | Self::NotFound { code, .. }
            | Self::InUse { code, .. }
            | Self::DependencyNotReady { code, .. }
            | Self::TimedOut { code, .. }
            | Self::Rejected { code, .. } => code,
        }
    }

    /// Returns what failed without the address and the code (`rds:CreateDBCluster: The
    /// DB cluster already exists`): for lines that show those on their own.
    pub fn detail(&self) -> String {
        match self {
            Self::Throttled { message, .. }
            | Self::Unavailable { message, .. }
            | Self::Connection { message, .. }
            | Self::AlreadyExists { message, .. }
            | Self::NotFound { message, .. }
            | Self::InUse { message, .. }
            | Self::DependencyNotReady { message, .. }
            | Self::Rejected { message, .. } => message.clone(),
            Self::TimedOut { waited, .. } => {
                format!("timed out after {}s waiting for it", waited.as_secs())
            }
        }
    }

    /// Makes a permanent error with a code and a message.
    pub fn rejected(address: &Address, code: &str, message: impl Into<String>) -> Self {
        Self::Rejected {
            address: address.clone(),
            code: code.to_owned(),
            message: message.into(),
            source: None,
        }
    }
}

/// How many reads of one kind the default [`ResourceProvider::observe`] runs at once:
/// enough to read a stack in a few round trips, few enough to stay clear of AWS's
/// request rate limits.
pub const READ_CONCURRENCY: usize = 8;

/// What [`ResourceProvider::observe`] found for one resource kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// What exists at the desired addresses, each [`Live`] at the address of the
    /// resource it was found for; a desired resource with nothing found is left out.
    pub found: Vec<Live>,
    /// The profile's resources of this kind at other addresses: what `observe` checks
    /// for leftovers, resources removed from the profile.
    pub others: Vec<Live>,
}

/// How serious a pre-flight finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The cloud answered, and the answer says making the change would fail.
    Error,
    /// Something could not be checked, or will work but deserves attention.
    Warning,
}

/// One result of a pre-flight check ([`ResourceProvider::preflight`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub address: Address,
    pub severity: Severity,
    pub message: String,
}

/// What a plan proposes for a resource whose pre-flight checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proposal<'a> {
    /// Created, or replaced: every setting is new.
    Create,
    /// Updated in these attributes.
    Update(&'a [&'a str]),
}

/// One resource kind's side of the boundary.
///
/// `create`, `update` and `delete` start the change and return; `wait_ready` and
/// `wait_deleted` poll until it is done. The executor wraps every wait in the kind's
/// timeout and retries only [`retryable`](ProviderError::retryable) errors, so a
/// provider neither loops on throttling nor sleeps forever.
#[async_trait]
pub trait ResourceProvider: Send + Sync {
    /// Finds the resource `desired` describes — by id when adopted, otherwise by its
    /// deterministic name — and reports its ownership from its tags.
    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError>;

    /// Lists every resource of this kind tagged with `profile`, found by tag: how
    /// resources removed from the profile are found to be deleted. Kinds whose set is
    /// fixed by the profile need not implement it.
    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        let _ = profile;
        Ok(Vec::new())
    }

    /// Reads every resource of `desired` (the stack's resources of this kind) and finds
    /// the profile's others, as a plan needs them: [`read`](Self::read) of each and one
    /// [`list`](Self::list), all at once. A provider whose API describes many resources
    /// in one call answers the same in fewer calls.
    async fn observe(
        &self,
        desired: &[&Resource],
        profile: &str,
    ) -> Result<Observation, ProviderError> {
        let reads: Vec<_> = desired.iter().map(|resource| self.read(resource)).collect();
        let (read, listed) = futures::join!(
            stream::iter(reads)
                .buffered(READ_CONCURRENCY)
                .collect::<Vec<_>>(),
            self.list(profile)
        );
        let mut found = Vec::new();
        for live in read {
            found.extend(live?);
        }
        Ok(Observation {
            found,
            others: listed?
                .into_iter()
                .filter(|live| desired.iter().all(|d| d.address != live.address))
                .collect(),
        })
    }

    /// Creates `desired` (references resolved, secrets still references), with its tags
    /// and an idempotency token where the API takes one.
    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError>;

    /// Applies `changes` (computed by [`diff`](Self::diff)) to `live`.
    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError>;

    /// Starts deleting `live`. `desired` is the spec still in the profile, if any (for
    /// settings such as a final snapshot). Deleting what is already gone is not an error.
    async fn delete(&self, live: &Live, desired: Option<&Resource>) -> Result<(), ProviderError>;

    /// Waits until `live` is ready and returns it as it is then.
    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError>;

    /// Waits until `live` is gone.
    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        let _ = live;
        Ok(())
    }

    /// Tells why `down` must not delete `live` as things stand — a protected database,
    /// a repository still holding images — judged from what was read; `None` when it
    /// may. `plan_destroy` turns every refusal into a conflict, so a destroy is refused
    /// as a whole before anything is deleted, rather than stopping halfway.
    fn deletion_refusal(&self, live: &Live) -> Option<String> {
        let _ = live;
        None
    }

    /// Checks, with read-only calls, that the cloud will accept what the plan proposes
    /// for `desired` (an engine version that exists, an instance class that can be
    /// ordered): the planner calls it for every resource it creates, replaces or
    /// updates, and turns each [`Severity::Error`] finding into a conflict. A check that
    /// cannot be made is a warning, not an error. The default has no checks.
    async fn preflight(
        &self,
        desired: &Resource,
        proposal: Proposal<'_>,
    ) -> Result<Vec<Finding>, ProviderError> {
        let _ = (desired, proposal);
        Ok(Vec::new())
    }

    /// Compares the desired spec (references to known outputs resolved) with `live` and
    /// classifies each change. The default compares every attribute the live resource
    /// reports and uses [`default_change_class`].
    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        diff_attributes(desired, live, default_change_class)
    }
}

/// Compares `desired.spec` with `live.attributes`, classifying each change with
/// `classify(kind, attribute, before, after)`.
///
/// Attributes the live resource does not report are skipped (write-only, or unknown to
/// the provider), and so are secrets, which can never be read back. Tags are compared
/// key by key: tags someone else added are left alone.
pub fn diff_attributes(
    desired: &Resource,
    live: &Live,
    classify: impl Fn(ResourceKind, &str, Option<&Value>, Option<&Value>) -> ChangeClass,
) -> Vec<AttributeChange> {
    let mut changes = Vec::new();
    for (attribute, wanted) in &desired.spec {
        let Some(current) = live.attributes.get(attribute) else {
            continue;
        };
        if matches!(wanted, Value::Secret(_)) {
            continue;
        }
        let same = match (attribute.as_str(), wanted, current) {
            ("tags", Value::Map(wanted), Value::Map(current)) => {
                wanted.iter().all(|(k, v)| current.get(k) == Some(v))
            }
            _ => wanted == current,
        };
        if !same {
            let after = match (attribute.as_str(), wanted, current) {
                // Show the tags as they will be: someone else's tags stay.
                ("tags", Value::Map(wanted), Value::Map(current)) => {
                    let mut merged = current.clone();
                    merged.extend(wanted.iter().map(|(k, v)| (k.clone(), v.clone())));
                    Value::Map(merged)
                }
                _ => wanted.clone(),
            };
            let class = classify(desired.kind, attribute, Some(current), Some(&after));
            changes.push(AttributeChange {
                attribute: attribute.clone(),
                before: Some(current.clone()),
                after: Some(after),
                class,
                note: None,
            });
        }
    }
    changes
}

/// What changing an attribute costs on AWS, for the attributes the stack sets; the
/// table the providers share unless they know better.
///
/// Replacing a resource that holds data is never proposed: it is forbidden, with the
/// reason, and the plan reports a conflict.
pub fn default_change_class(
    kind: ResourceKind,
    attribute: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) -> ChangeClass {
    use ResourceKind as K;
    if attribute == "tags" {
        return ChangeClass::InPlace;
    }
    let class = match (kind, attribute) {
        (_, "name" | "vpc_id") => ChangeClass::NeedsReplacement,
        (K::Vpc | K::Subnet | K::VpcCidrAssociation, "cidr_block" | "availability_zone") => {
            ChangeClass::NeedsReplacement
        }
        (K::SecurityGroup, "description") => ChangeClass::NeedsReplacement,
        (K::ElasticIp, "domain")
        | (K::NatGateway, "subnet_id" | "allocation_id" | "connectivity_type") => {
            ChangeClass::NeedsReplacement
        }
        (K::EksCluster, "version") => return eks_version_change(before, after),
        (
            K::EksCluster,
            "role_arn"
            | "subnet_ids"
            | "authentication_mode"
            | "bootstrap_cluster_creator_admin_permissions",
        ) => ChangeClass::NeedsReplacement,
        (
            K::NodeGroup,
            "instance_types" | "ami_type" | "node_role_arn" | "subnet_ids" | "cluster_name",
        ) => ChangeClass::NeedsReplacement,
        (K::EksAddon, "cluster_name" | "addon_name") => ChangeClass::NeedsReplacement,
        (K::DbClusterParameterGroup | K::DbParameterGroup, "family" | "description") => {
            ChangeClass::NeedsReplacement
        }
        (K::DbSubnetGroup, "description") => ChangeClass::NeedsReplacement,
        (K::DbCluster, "port") => {
            return ChangeClass::Forbidden(
                "Multi-AZ DB clusters do not support changing the port".to_owned(),
            );
        }
        (
            K::DbCluster | K::DbInstance,
            "db_cluster_parameter_group_name" | "db_parameter_group_name",
        ) => ChangeClass::NeedsReboot,
        (K::DbCluster | K::DbInstance, "engine_version") => {
            return engine_version_change(before, after);
        }
        (
            K::DbCluster | K::DbInstance,
            "engine"
            | "master_username"
            | "storage_encrypted"
            | "kms_key_id"
            | "db_subnet_group_name",
        ) => ChangeClass::NeedsReplacement,
        (K::EcrRepository, "encryption_type") => ChangeClass::NeedsReplacement,
        (K::VpcEndpoint, "service_name" | "vpc_endpoint_type") => ChangeClass::NeedsReplacement,
        (K::AtlasEndpointService, "project_id" | "provider_name" | "region") => {
            ChangeClass::NeedsReplacement
        }
        (K::AtlasEndpoint, "project_id" | "endpoint_service_id" | "vpc_endpoint_id") => {
            ChangeClass::NeedsReplacement
        }
        _ => ChangeClass::InPlace,
    };
    if class == ChangeClass::NeedsReplacement && kind.holds_data() {
        return ChangeClass::Forbidden(format!(
            "changing {attribute} would replace the {kind} and lose its data; change it by hand (snapshot, restore) or revert the profile"
        ));
    }
    class
}

fn parse_version(value: Option<&Value>) -> Option<(u32, u32)> {
    let text = value?.as_str()?;
    let mut parts = text.split('.');
    Some((
        parts.next()?.parse().ok()?,
        parts.next().unwrap_or("0").parse().ok()?,
    ))
}

/// The EKS control plane upgrades one minor version at a time and never downgrades.
fn eks_version_change(before: Option<&Value>, after: Option<&Value>) -> ChangeClass {
    let (Some(b), Some(a)) = (parse_version(before), parse_version(after)) else {
        return ChangeClass::InPlace;
    };
    if a == b || (a.0 == b.0 && a.1 == b.1 + 1) {
        ChangeClass::InPlace
    } else if a < b {
        ChangeClass::Forbidden(format!(
            "EKS cannot downgrade the control plane from {}.{} to {}.{}",
            b.0, b.1, a.0, a.1
        ))
    } else {
        ChangeClass::Forbidden(format!(
            "EKS upgrades the control plane one minor version at a time: go from {}.{} to {}.{} first",
            b.0,
            b.1,
            b.0,
            b.1 + 1
        ))
    }
}

/// A minor PostgreSQL upgrade applies in place during a restart; a major one needs an
/// upgrade plan of its own (extensions, parameter group family) and is refused here.
fn engine_version_change(before: Option<&Value>, after: Option<&Value>) -> ChangeClass {
    match (parse_version(before), parse_version(after)) {
        (Some(b), Some(a)) if a.0 != b.0 => ChangeClass::Forbidden(format!(
            "a major PostgreSQL upgrade ({} to {}) is not done by bpa-infra: upgrade the database by hand, then update the profile",
            b.0, a.0
        )),
        (Some(b), Some(a)) if a < b => {
            ChangeClass::Forbidden("RDS cannot downgrade PostgreSQL".to_owned())
        }
        _ => ChangeClass::NeedsReboot,
    }
}

/// The providers of every resource kind a run needs.
#[derive(Clone, Default)]
pub struct Providers {
    by_kind: HashMap<ResourceKind, Arc<dyn ResourceProvider>>,
    /// The cloud account the providers act in, when known: part of the stack's identity,
    /// recorded in the live state and the plan.
    account: Option<String>,
}

impl Providers {
    /// Makes an empty registry: enough to plan against no live state (`plan --offline`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the cloud account the providers act in.
    pub fn set_account(&mut self, account: impl Into<String>) {
        self.account = Some(account.into());
    }

    /// Returns the cloud account the providers act in, when known.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// Registers the provider of `kind`, replacing any other.
    pub fn insert(&mut self, kind: ResourceKind, provider: Arc<dyn ResourceProvider>) {
        self.by_kind.insert(kind, provider);
    }

    /// Registers `provider` for every kind in `kinds`.
    pub fn with(mut self, kinds: &[ResourceKind], provider: Arc<dyn ResourceProvider>) -> Self {
        for &kind in kinds {
            self.insert(kind, provider.clone());
        }
        self
    }

    pub fn get(&self, kind: ResourceKind) -> Option<&Arc<dyn ResourceProvider>> {
        self.by_kind.get(&kind)
    }

    /// Returns the provider of `kind`, or an error naming `address` when there is none.
    pub fn require(
        &self,
        kind: ResourceKind,
        address: &Address,
    ) -> Result<&Arc<dyn ResourceProvider>, ProviderError> {
        self.get(kind).ok_or_else(|| {
            ProviderError::rejected(
                address,
                "NoProvider",
                format!("no provider is registered for {kind} resources"),
            )
        })
    }
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kinds: Vec<&ResourceKind> = self.by_kind.keys().collect();
        kinds.sort();
        f.debug_struct("Providers").field("kinds", &kinds).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::Component;

    fn resource(kind: ResourceKind, spec: Spec) -> Resource {
        Resource::managed(Address::new(Component::Rds, "cluster"), kind, spec)
    }

    fn live(kind: ResourceKind, attributes: Spec) -> Live {
        Live {
            address: Address::new(Component::Rds, "cluster"),
            kind,
            id: "x".into(),
            ownership: ObservedOwnership::Owned,
            status: Status::Ready,
            attributes,
            outputs: BTreeMap::new(),
        }
    }

    #[test]
    fn retryable_errors_are_throttling_unavailable_and_connection() {
        let a = Address::new(Component::Rds, "cluster");
        let throttled = ProviderError::Throttled {
            address: a.clone(),
            code: "Throttling".into(),
            message: "slow down".into(),
        };
        assert!(throttled.retryable());
        assert_eq!(
            throttled.to_string(),
            "rds.cluster: throttled (Throttling): slow down"
        );
        assert!(
            ProviderError::Unavailable {
                address: a.clone(),
                code: "500".into(),
                message: String::new()
            }
            .retryable()
        );
        assert!(!ProviderError::rejected(&a, "InvalidParameterValue", "no").retryable());
        assert!(
            !ProviderError::TimedOut {
                address: a.clone(),
                code: "ReadyTimeout".into(),
                waited: Duration::from_secs(60)
            }
            .retryable()
        );
        assert_eq!(
            ProviderError::rejected(&a, "AccessDenied", "no").code(),
            "AccessDenied"
        );
    }

    #[test]
    fn diff_skips_unreported_attributes_and_secrets_and_merges_tags() {
        let desired = resource(
            ResourceKind::DbCluster,
            Spec::new()
                .with("deletion_protection", true)
                .with("master_user_password", crate::stack::SecretRef::env("PW"))
                .with("backup_retention_period", 7u32)
                .with(
                    "tags",
                    Value::Map([("team".to_owned(), Value::from("bpa"))].into()),
                ),
        );
        let observed = live(
            ResourceKind::DbCluster,
            Spec::new()
                .with("deletion_protection", false)
                .with("master_user_password", "whatever")
                .with(
                    "tags",
                    Value::Map(
                        [
                            ("team".to_owned(), Value::from("bpa")),
                            ("extra".to_owned(), Value::from("x")),
                        ]
                        .into(),
                    ),
                ),
        );
        let changes = diff_attributes(&desired, &observed, default_change_class);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].attribute, "deletion_protection");
        assert_eq!(changes[0].class, ChangeClass::InPlace);
    }

    #[test]
    fn classifies_risky_changes() {
        let class = |kind, attr, before: &str, after: &str| {
            default_change_class(
                kind,
                attr,
                Some(&Value::from(before)),
                Some(&Value::from(after)),
            )
        };
        assert_eq!(
            class(
                ResourceKind::Subnet,
                "cidr_block",
                "10.0.0.0/19",
                "10.0.0.0/20"
            ),
            ChangeClass::NeedsReplacement
        );
        assert!(matches!(
            class(ResourceKind::DbCluster, "storage_encrypted", "a", "b"),
            ChangeClass::Forbidden(_)
        ));
        assert!(matches!(
            class(ResourceKind::DbCluster, "port", "5432", "5433"),
            ChangeClass::Forbidden(_)
        ));
        assert_eq!(
            class(ResourceKind::DbCluster, "engine_version", "16.3", "16.4"),
            ChangeClass::NeedsReboot
        );
        assert!(matches!(
            class(ResourceKind::DbCluster, "engine_version", "16.4", "17.1"),
            ChangeClass::Forbidden(_)
        ));
        assert_eq!(
            class(ResourceKind::EksCluster, "version", "1.34", "1.35"),
            ChangeClass::InPlace
        );
        assert!(
            matches!(class(ResourceKind::EksCluster, "version", "1.33", "1.35"), ChangeClass::Forbidden(r) if r.contains("1.34"))
        );
        assert!(matches!(
            class(ResourceKind::EksCluster, "version", "1.35", "1.34"),
            ChangeClass::Forbidden(_)
        ));
        assert_eq!(
            class(ResourceKind::NodeGroup, "instance_types", "a", "b"),
            ChangeClass::NeedsReplacement
        );
    }
}
