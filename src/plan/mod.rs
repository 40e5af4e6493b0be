//! The planner: desired [`Stack`] against [`LiveState`] gives a [`Plan`], a value that
//! says what `up` or `down` will do, attribute by attribute (docs/architecture.md, "Data flow").
//!
//! Planning makes no cloud call: the live state is read first ([`observe`]), or assumed
//! empty (`plan --offline`), in which case no provider is needed at all; the
//! [`preflight`] checks that follow ask the providers, read-only, whether the cloud
//! would accept the changes. Resources with our names that we do not own, and adopted
//! resources that differ from the profile, are conflicts: reported, never touched; a
//! plan with conflicts is not applied.

mod estimate;
mod markdown;
mod observe;
mod preflight;
mod render;
mod saved;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::provider::{
    AttributeChange, ChangeClass, Live, ObservedOwnership, Providers, Status, default_change_class,
    diff_attributes,
};
use crate::stack::{Address, Component, Ownership, Resource, ResourceKind, Stack, Teardown, Value};

pub use estimate::{PathStep, about};
pub use markdown::{GITHUB_COMMENT_LIMIT, MARKER, MarkdownOptions, render_markdown};
pub use observe::{LiveState, ObserveError, observe};
pub use preflight::preflight;
pub use render::{TextOptions, json_document, render_json, render_text};
pub use saved::{Moved, PlanFileError};

/// The version of the plan's JSON form (`--output json`, saved plans).
pub const FORMAT_VERSION: u32 = 1;

/// What a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// `plan` and `up`: make the cloud match the profile.
    Apply,
    /// `down`: delete what the profile owns.
    Destroy,
}

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    #[serde(rename = "create")]
    Create,
    #[serde(rename = "update")]
    Update,
    /// Delete, then create again.
    #[serde(rename = "replace")]
    Replace,
    #[serde(rename = "delete")]
    Delete,
    #[serde(rename = "no-op")]
    NoOp,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Replace => "replace",
            Self::Delete => "delete",
            Self::NoOp => "no-op",
        }
    }

    /// Tells whether the action calls a mutating API.
    pub fn is_write(self) -> bool {
        self != Self::NoOp
    }
}

/// One attribute's value before and after (`None`: absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    pub attribute: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// What happens to one resource, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub address: Address,
    pub kind: ResourceKind,
    pub action: Action,
    /// The live resource's id, when it exists.
    pub id: Option<String>,
    pub diffs: Vec<Diff>,
    /// For people: which attribute forces a replacement, why a delete happens, what the
    /// cloud does besides an update (e.g. a storage optimization of several hours).
    pub reason: Option<String>,
    /// Some change takes effect only after a reboot.
    pub needs_reboot: bool,
}

/// Something the plan cannot do, which blocks applying it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub address: Address,
    pub kind: ResourceKind,
    pub reason: String,
}

/// Every change `up` or `down` would make, in the order of the graph (dependencies
/// first for an apply, dependents first for a destroy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub profile: String,
    /// The region the plan was made for (with the profile and the account, the stack's
    /// identity): a saved plan is refused in another.
    #[serde(default)]
    pub region: Option<String>,
    /// The AWS account the plan was made for; `None` offline.
    #[serde(default)]
    pub account: Option<String>,
    /// The components the plan was limited to (`--only`); empty for the whole stack.
    /// `up --plan FILE` applies a saved plan with the same scope.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only: Vec<Component>,
    pub operation: Operation,
    pub changes: Vec<Change>,
    pub conflicts: Vec<Conflict>,
    /// How long applying the plan should take, with each kind's typical duration and
    /// the executor's schedule; zero until the engine's `with_estimate` fills it in
    /// (the executor is a layer above the planner), and in plans saved before it existed.
    #[serde(default)]
    pub estimated_duration_seconds: u64,
    /// The chain of changes that sets that duration, in the order they run.
    #[serde(default)]
    pub critical_path: Vec<PathStep>,
}

/// How many changes of each kind a plan makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
}

impl Plan {
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for change in &self.changes {
            match change.action {
                Action::Create => counts.create += 1,
                Action::Update => counts.update += 1,
                Action::Replace => counts.replace += 1,
                Action::Delete => counts.delete += 1,
                Action::NoOp => {}
            }
        }
        counts
    }

    /// Returns `N to create, N to update, N to replace, N to delete`.
    pub fn summary(&self) -> String {
        let c = self.counts();
        format!(
            "{} to create, {} to update, {} to replace, {} to delete",
            c.create, c.update, c.replace, c.delete
        )
    }

    /// Tells whether applying the plan would change anything (`--detailed-exitcode`).
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action.is_write())
    }

    /// Tells whether the plan can be applied: no conflict.
    pub fn is_applicable(&self) -> bool {
        self.conflicts.is_empty()
    }

    pub fn change(&self, address: &Address) -> Option<&Change> {
        self.changes.iter().find(|c| &c.address == address)
    }

    /// Refuses the change of `address`: a check made before applying found that the
    /// cloud would reject it. Like any conflict, it blocks applying the plan.
    pub fn refuse(&mut self, address: Address, kind: ResourceKind, reason: String) {
        self.conflicts.push(Conflict {
            address,
            kind,
            reason,
        });
    }
}

/// Plans `stack` against nothing: every managed resource is created. Needs no provider
/// and no credentials (`plan --offline`).
pub fn plan_offline(stack: &Stack) -> Plan {
    plan_against(stack, None, &Providers::new())
}

/// Plans what `up` does to make the live state match `stack`.
///
/// Outputs of resources that are created or replaced are unknown until apply, so values
/// that refer to them show as "(known after apply)". A resource whose dependency is
/// replaced is replaced too: the dependency could not be deleted while it is in use.
pub fn plan_apply(stack: &Stack, live: &LiveState, providers: &Providers) -> Plan {
    plan_against(stack, Some(live), providers)
}

/// Plans against `live`, or offline (`None`): then adopted resources are assumed to be
/// there, as nothing can be read.
fn plan_against(stack: &Stack, live: Option<&LiveState>, providers: &Providers) -> Plan {
    let empty = LiveState::default();
    let offline = live.is_none();
    let live = live.unwrap_or(&empty);
    let mut changes = Vec::with_capacity(stack.len() + live.leftovers().len());
    let mut conflicts = Vec::new();
    let mut actions: HashMap<&Address, Action> = HashMap::new();

    for resource in stack.resources() {
        let found = live.get(&resource.address);
        let lookup = |r: &crate::stack::OutputRef| -> Option<Value> {
            let action = actions.get(&r.address)?;
            let keeps = match action {
                Action::NoOp => true,
                Action::Update => stack
                    .get(&r.address)
                    .is_none_or(|d| d.kind.output_survives_update(&r.output)),
                _ => false,
            };
            if !keeps {
                return None;
            }
            live.get(&r.address)?.outputs.get(&r.output).cloned()
        };
        let desired = Resource {
            spec: resource.spec.resolve(&lookup),
            ..resource.clone()
        };
        let replaced_dependency = resource
            .depends_on
            .iter()
            .find(|d| actions.get(d) == Some(&Action::Replace))
            .cloned();

        let (change, conflict) = match (resource.ownership, found) {
            (Ownership::Adopted, None) if offline => {
                let id = resource
                    .spec
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                (
                    Some(no_op(resource, id, Some("adopted: not read (offline)"))),
                    None,
                )
            }
            (Ownership::Adopted, None) => (
                None,
                Some(format!(
                    "the adopted {} {} does not exist (or is out of these credentials' sight): check its id in the profile",
                    resource.kind,
                    resource
                        .spec
                        .get("id")
                        .and_then(Value::as_str)
                        .map_or_else(|| resource.address.to_string(), str::to_owned)
                )),
            ),
            (Ownership::Adopted, Some(found)) => {
                let differences = diff(providers, &desired, found);
                let conflict = (!differences.is_empty()).then(|| {
                    let what: Vec<String> = differences
                        .iter()
                        .map(|d| {
                            format!(
                                "{} is {}, the profile says {}",
                                d.attribute,
                                show(&d.before),
                                show(&d.after)
                            )
                        })
                        .collect();
                    format!(
                        "the adopted {} {} differs from the profile: {}; bpa-infra never changes what it adopts, so correct the profile",
                        resource.kind,
                        found.id,
                        what.join("; ")
                    )
                });
                (
                    Some(no_op(
                        resource,
                        Some(found.id.clone()),
                        Some("adopted: read only"),
                    )),
                    conflict,
                )
            }
            (Ownership::Managed, None) => (Some(create(&desired)), None),
            (Ownership::Managed, Some(found)) => match &found.ownership {
                ObservedOwnership::Owned => {
                    plan_owned(providers, &desired, found, replaced_dependency.as_ref())
                }
                ObservedOwnership::OtherProfile { profile } => (
                    None,
                    Some(format!(
                        "{} {} exists and belongs to profile {profile}; it is left alone",
                        resource.kind,
                        name_of(resource, found)
                    )),
                ),
                ObservedOwnership::OtherStack { profile, region } => (
                    None,
                    Some(format!(
                        "{} {} exists and belongs to the stack of profile {profile} in {region}; it is left alone",
                        resource.kind,
                        name_of(resource, found)
                    )),
                ),
                ObservedOwnership::Legacy => (
                    None,
                    Some(format!(
                        "{kind} {name} was made by bpa-infra before 0.2 for profile {profile}, which did not record the region, and nothing this plan read uses it; it is left alone and no second one is made. If it is this stack's, plan the whole stack (no --only): it is claimed once this stack's EKS cluster or node groups are seen to use it. Otherwise say whose it is with its region tag ({REGION_TAG}=<region of its stack>)",
                        kind = resource.kind,
                        name = name_of(resource, found),
                        profile = stack.profile(),
                        REGION_TAG = crate::stack::REGION_TAG,
                    )),
                ),
                ObservedOwnership::Unowned | ObservedOwnership::Adopted => (
                    None,
                    Some(format!(
                        "{} {} exists but was not created by bpa-infra (no {} tag); it is never changed: remove it or pick another profile name",
                        resource.kind,
                        name_of(resource, found),
                        crate::stack::PROFILE_TAG
                    )),
                ),
            },
        };
        if let Some(reason) = conflict {
            conflicts.push(Conflict {
                address: resource.address.clone(),
                kind: resource.kind,
                reason,
            });
        }
        match change {
            Some(change) => {
                actions.insert(&resource.address, change.action);
                changes.push(change);
            }
            // A conflicted resource is left as it is: what exists keeps its outputs.
            None if found.is_some() => {
                actions.insert(&resource.address, Action::NoOp);
            }
            None => {}
        }
    }

    for leftover in live.leftovers() {
        conflicts.extend(refusal(providers, leftover));
        changes.push(delete(leftover, Some("no longer in the profile")));
    }
    Plan {
        format_version: FORMAT_VERSION,
        profile: stack.profile().to_owned(),
        region: stack.region().map(str::to_owned),
        account: live.account().map(str::to_owned),
        only: Vec::new(),
        operation: Operation::Apply,
        changes,
        conflicts,
        estimated_duration_seconds: 0,
        critical_path: Vec::new(),
    }
}

/// Plans what `down` does: delete every resource this profile owns, dependents first.
/// Adopted resources and resources owned by someone else are listed as no-ops.
/// A resource its provider refuses to delete as things stand (deletion protection on,
/// images in a repository) is a conflict: `down` respects it, and deletes nothing.
pub fn plan_destroy(stack: &Stack, live: &LiveState, providers: &Providers) -> Plan {
    let mut changes = Vec::new();
    let mut conflicts = Vec::new();
    for leftover in live.leftovers() {
        conflicts.extend(refusal(providers, leftover));
        changes.push(delete(leftover, Some("no longer in the profile")));
    }
    for resource in stack.resources().iter().rev() {
        let Some(found) = live.get(&resource.address) else {
            continue;
        };
        match (&found.ownership, resource.ownership) {
            (ObservedOwnership::Owned, Ownership::Managed) => {
                conflicts.extend(refusal(providers, found));
                changes.push(delete(found, None));
            }
            (ObservedOwnership::Adopted, _) | (_, Ownership::Adopted) => {
                changes.push(no_op(
                    resource,
                    Some(found.id.clone()),
                    Some("adopted: never deleted"),
                ));
            }
            (ObservedOwnership::OtherProfile { profile }, _) => {
                changes.push(no_op(
                    resource,
                    Some(found.id.clone()),
                    Some(&format!("belongs to profile {profile}: left alone")),
                ));
            }
            (ObservedOwnership::OtherStack { profile, region }, _) => {
                changes.push(no_op(
                    resource,
                    Some(found.id.clone()),
                    Some(&format!(
                        "belongs to the stack of profile {profile} in {region}: left alone"
                    )),
                ));
            }
            (ObservedOwnership::Legacy, _) => {
                changes.push(no_op(
                    resource,
                    Some(found.id.clone()),
                    Some("made before 0.2 and not used by this stack: left alone"),
                ));
            }
            (ObservedOwnership::Unowned, _) => {
                changes.push(no_op(
                    resource,
                    Some(found.id.clone()),
                    Some("not created by bpa-infra: left alone"),
                ));
            }
        }
    }
    Plan {
        format_version: FORMAT_VERSION,
        profile: stack.profile().to_owned(),
        region: stack.region().map(str::to_owned),
        account: live.account().map(str::to_owned),
        only: Vec::new(),
        operation: Operation::Destroy,
        changes,
        conflicts,
        estimated_duration_seconds: 0,
        critical_path: Vec::new(),
    }
}

/// Plans `down --only`: deletes what `teardown` deletes (as [`plan_destroy`] does) and
/// first updates what it releases (as [`plan_apply`] would), so a kept component never
/// loses a resource it uses.
pub fn plan_teardown(teardown: &Teardown, live: &LiveState, providers: &Providers) -> Plan {
    let released = |address: &Address| teardown.released.contains(address);
    let apply = plan_apply(&teardown.stack, live, providers);
    let mut plan = plan_destroy(&teardown.stack, live, providers);
    plan.changes.retain(|c| !released(&c.address));
    plan.conflicts.retain(|c| !released(&c.address));
    let releases: Vec<Change> = apply
        .changes
        .into_iter()
        // Only what exists is released: a resource not made yet stays so.
        .filter(|c| released(&c.address) && matches!(c.action, Action::Update | Action::Replace))
        .map(|mut c| {
            c.reason
                .get_or_insert_with(|| "stops using what is deleted".to_owned());
            c
        })
        .collect();
    plan.changes.splice(0..0, releases);
    plan.conflicts
        .extend(apply.conflicts.into_iter().filter(|c| released(&c.address)));
    // A kept resource that uses one this down deletes blocks it, if it exists: a node
    // group not made yet uses nothing.
    for refusal in &teardown.refusals {
        let Some(user) = live
            .get(&refusal.user)
            .filter(|l| l.ownership == ObservedOwnership::Owned)
        else {
            continue;
        };
        plan.conflicts.push(Conflict {
            address: refusal.user.clone(),
            kind: user.kind,
            reason: format!(
                "uses {}, which this down deletes: take {} down with it (`--only {},{}`), or the whole stack",
                refusal.used,
                refusal.user.component(),
                refusal.used.component(),
                refusal.user.component(),
            ),
        });
    }
    plan
}

/// Returns the conflict of deleting `live` when its provider refuses it.
fn refusal(providers: &Providers, live: &Live) -> Option<Conflict> {
    let reason = providers.get(live.kind)?.deletion_refusal(live)?;
    Some(Conflict {
        address: live.address.clone(),
        kind: live.kind,
        reason,
    })
}

fn diff(providers: &Providers, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
    match providers.get(desired.kind) {
        Some(provider) => provider.diff(desired, live),
        None => diff_attributes(desired, live, default_change_class),
    }
}

/// Plans an existing resource this profile owns: no-op, update or replace.
fn plan_owned(
    providers: &Providers,
    desired: &Resource,
    live: &Live,
    replaced_dependency: Option<&Address>,
) -> (Option<Change>, Option<String>) {
    let changes = diff(providers, desired, live);
    let forbidden: Vec<String> = changes
        .iter()
        .filter_map(|c| match &c.class {
            ChangeClass::Forbidden(reason) => Some(format!("{}: {reason}", c.attribute)),
            _ => None,
        })
        .collect();
    if !forbidden.is_empty() {
        return (
            Some(no_op(desired, Some(live.id.clone()), None)),
            Some(forbidden.join("; ")),
        );
    }

    let forcing: Vec<&str> = changes
        .iter()
        .filter(|c| c.class == ChangeClass::NeedsReplacement)
        .map(|c| c.attribute.as_str())
        .collect();
    let failed = match &live.status {
        Status::Failed(why) => Some(why.as_str()),
        _ => None,
    };
    let replace_reason = if let Some(why) = failed {
        Some(format!("it is in a failed state ({why})"))
    } else if !forcing.is_empty() {
        Some(format!("{} forces replacement", forcing.join(", ")))
    } else {
        replaced_dependency.map(|d| format!("{d} is replaced, and it uses it"))
    };

    let diffs: Vec<Diff> = changes
        .iter()
        .map(|c| Diff {
            attribute: c.attribute.clone(),
            before: c.before.clone(),
            after: c.after.clone(),
        })
        .collect();
    if let Some(reason) = replace_reason {
        if desired.kind.holds_data() {
            let conflict = format!(
                "the {} would have to be replaced because {reason}, which would lose its data",
                desired.kind
            );
            return (
                Some(no_op(desired, Some(live.id.clone()), None)),
                Some(conflict),
            );
        }
        let change = Change {
            address: desired.address.clone(),
            kind: desired.kind,
            action: Action::Replace,
            id: Some(live.id.clone()),
            diffs,
            reason: Some(reason),
            needs_reboot: false,
        };
        return (Some(change), None);
    }
    if diffs.is_empty() {
        return (Some(no_op(desired, Some(live.id.clone()), None)), None);
    }
    let needs_reboot = changes.iter().any(|c| c.class == ChangeClass::NeedsReboot);
    let notes: Vec<String> = changes
        .iter()
        .filter_map(|c| Some(format!("{}: {}", c.attribute, c.note.as_ref()?)))
        .collect();
    let change = Change {
        address: desired.address.clone(),
        kind: desired.kind,
        action: Action::Update,
        id: Some(live.id.clone()),
        diffs,
        reason: (!notes.is_empty()).then(|| notes.join("; ")),
        needs_reboot,
    };
    (Some(change), None)
}

fn create(desired: &Resource) -> Change {
    Change {
        address: desired.address.clone(),
        kind: desired.kind,
        action: Action::Create,
        id: None,
        diffs: desired
            .spec
            .iter()
            .map(|(k, v)| Diff {
                attribute: k.clone(),
                before: None,
                after: Some(v.clone()),
            })
            .collect(),
        reason: None,
        needs_reboot: false,
    }
}

fn delete(live: &Live, reason: Option<&str>) -> Change {
    Change {
        address: live.address.clone(),
        kind: live.kind,
        action: Action::Delete,
        id: Some(live.id.clone()),
        diffs: Vec::new(),
        reason: reason.map(str::to_owned),
        needs_reboot: false,
    }
}

fn no_op(resource: &Resource, id: Option<String>, reason: Option<&str>) -> Change {
    Change {
        address: resource.address.clone(),
        kind: resource.kind,
        action: Action::NoOp,
        id,
        diffs: Vec::new(),
        reason: reason.map(str::to_owned),
        needs_reboot: false,
    }
}

fn name_of<'a>(resource: &'a Resource, live: &'a Live) -> &'a str {
    resource.spec.name().unwrap_or(&live.id)
}

fn show(value: &Option<Value>) -> String {
    value
        .as_ref()
        .map_or_else(|| "absent".to_owned(), ToString::to_string)
}

#[cfg(test)]
mod tests;
