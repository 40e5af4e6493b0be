//! What the Multi-AZ DB cluster and the Multi-AZ DB instance share: the calls each kind
//! makes in its own API family ([`Database`]), and over them the safe teardown, the
//! waits, the diff and the classification of changes.

use async_trait::async_trait;
use aws_sdk_rds::types::VpcSecurityGroupMembership;

use super::super::options::{FinalSnapshot, TeardownOptions};
use super::super::support::{Backoff, Poll, poll, strings};
use super::{
    Owner, Rds, as_set_in_order, bool_attr, cannot_change_in_place, gone, int_attr, str_attr,
    to_i32,
};
use crate::profile::{RdsMode, check_master_password};
use crate::provider::{
    AttributeChange, ChangeClass, Live, ProviderError, Status, default_change_class,
    diff_attributes,
};
use crate::stack::{Address, Resource, ResourceKind, Spec, Value};

/// How often a database is looked at while RDS turns its deletion protection off.
const PROTECTION: Backoff = Backoff {
    first: std::time::Duration::from_secs(2),
    max: std::time::Duration::from_secs(10),
};

/// The calls one database kind makes in its API family (`…DBCluster…` or
/// `…DBInstance…`).
#[async_trait]
pub(super) trait Database: Send + Sync {
    const KIND: ResourceKind;
    const MODE: RdsMode;

    fn rds(&self) -> &Rds;

    /// Deletes the database, with the final snapshot `snapshot` or without one.
    async fn delete_call(
        &self,
        address: &Address,
        id: &str,
        snapshot: Option<String>,
    ) -> Result<(), ProviderError>;

    /// Turns deletion protection off, applied at once.
    async fn protection_off(&self, address: &Address, id: &str) -> Result<(), ProviderError>;

    /// Reads the database `id` as a `Live`; `reference` (the desired spec, or the last
    /// `Live`'s attributes) only decides how equal sets are ordered.
    async fn read_live(
        &self,
        address: &Address,
        id: &str,
        reference: &Spec,
        owner: Owner<'_>,
    ) -> Result<Option<Live>, ProviderError>;
}

// --- create ------------------------------------------------------------------------------

/// Resolves the master password reference of `spec`, if it has one, and checks it
/// against RDS's rules for `mode` — without ever putting the value in an error.
pub(super) fn master_password(
    rds: &Rds,
    address: &Address,
    mode: RdsMode,
    spec: &Spec,
) -> Result<Option<String>, ProviderError> {
    let Some(Value::Secret(reference)) = spec.get("master_user_password") else {
        return Ok(None);
    };
    let Some(password) = (rds.options.secrets)(reference) else {
        return Err(ProviderError::rejected(
            address,
            "MissingSecret",
            format!("the master password comes from {reference}, which is not set"),
        ));
    };
    // The profile's rule, checked again here because the value is read only now.
    if let Err(problem) = check_master_password(&password, mode) {
        return Err(ProviderError::rejected(
            address,
            "InvalidMasterPassword",
            format!(
                "the master password from {reference}: {}; {}",
                problem.message, problem.hint
            ),
        ));
    }
    Ok(Some(password))
}

/// The settings of a create that do not depend on the kind.
pub(super) struct CreateSettings {
    pub password: Option<String>,
    /// Whether RDS manages the master password in Secrets Manager.
    pub managed: bool,
    pub copy_tags: bool,
    pub public: bool,
    pub iops: Option<i32>,
}

impl CreateSettings {
    pub(super) fn of<D: Database>(db: &D, desired: &Resource) -> Result<Self, ProviderError> {
        let spec = &desired.spec;
        let password = master_password(db.rds(), &desired.address, D::MODE, spec)?;
        let managed =
            password.is_none() && bool_attr(spec, "manage_master_user_password").unwrap_or(true);
        Ok(Self {
            password,
            managed,
            copy_tags: bool_attr(spec, "copy_tags_to_snapshot").unwrap_or(true),
            public: bool_attr(spec, "publicly_accessible").unwrap_or(false),
            iops: int_attr(spec, "iops").map(to_i32),
        })
    }
}

// --- update ------------------------------------------------------------------------------

/// The fields of one ModifyDBCluster / ModifyDBInstance call.
#[derive(Default)]
pub(super) struct ModifyDatabase {
    pub engine_version: Option<String>,
    pub instance_class: Option<String>,
    pub storage_type: Option<String>,
    pub allocated_storage: Option<i32>,
    pub iops: Option<i32>,
    pub backup_retention_period: Option<i32>,
    pub deletion_protection: Option<bool>,
    pub copy_tags_to_snapshot: Option<bool>,
    pub publicly_accessible: Option<bool>,
    pub multi_az: Option<bool>,
    pub parameter_group: Option<String>,
    pub security_groups: Option<Vec<String>>,
    pub manage_master_user_password: Option<bool>,
    pub master_user_password: Option<String>,
}

impl ModifyDatabase {
    /// Turns `changes` into the fields of one modify call, adding the spec's tags on the
    /// way when they changed; refuses a change RDS cannot make in place.
    pub(super) async fn of<D: Database>(
        db: &D,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Self, ProviderError> {
        let address = &desired.address;
        let spec = &desired.spec;
        let cluster = D::KIND == ResourceKind::DbCluster;
        let mut modify = Self::default();
        for change in changes {
            if let ChangeClass::Forbidden(_) | ChangeClass::NeedsReplacement = change.class {
                return Err(cannot_change_in_place(
                    address,
                    &change.attribute,
                    &change.class,
                ));
            }
            let after = change.after.as_ref();
            match change.attribute.as_str() {
                "tags" => db.rds().add_tags(address, live, spec).await?,
                "engine_version" => {
                    modify.engine_version = after.and_then(Value::as_str).map(str::to_owned)
                }
                "db_cluster_instance_class" | "db_instance_class" => {
                    modify.instance_class = after.and_then(Value::as_str).map(str::to_owned);
                }
                "storage_type" => {
                    modify.storage_type = after.and_then(Value::as_str).map(str::to_owned);
                    // RDS wants the IOPS with a storage type change of a Multi-AZ DB cluster.
                    modify.iops = int_attr(spec, "iops").map(to_i32);
                }
                "allocated_storage" => {
                    modify.allocated_storage = after.and_then(Value::as_int).map(to_i32)
                }
                "iops" => modify.iops = after.and_then(Value::as_int).map(to_i32),
                "backup_retention_period" => {
                    modify.backup_retention_period = after.and_then(Value::as_int).map(to_i32);
                }
                "deletion_protection" => {
                    modify.deletion_protection = after.and_then(Value::as_bool)
                }
                "copy_tags_to_snapshot" => {
                    modify.copy_tags_to_snapshot = after.and_then(Value::as_bool)
                }
                "publicly_accessible" if !cluster => {
                    modify.publicly_accessible = after.and_then(Value::as_bool)
                }
                "multi_az" if !cluster => modify.multi_az = after.and_then(Value::as_bool),
                "db_cluster_parameter_group_name" | "db_parameter_group_name" => {
                    modify.parameter_group = after.and_then(Value::as_str).map(str::to_owned);
                }
                "vpc_security_group_ids" => modify.security_groups = Some(strings(after)),
                "manage_master_user_password" => match after.and_then(Value::as_bool) {
                    Some(true) => modify.manage_master_user_password = Some(true),
                    _ => {
                        modify.manage_master_user_password = Some(false);
                        modify.master_user_password =
                            master_password(db.rds(), address, D::MODE, spec)?;
                        if modify.master_user_password.is_none() {
                            return Err(ProviderError::rejected(
                                address,
                                "MissingSecret",
                                "turning the managed master password off needs a password from the environment",
                            ));
                        }
                    }
                },
                other => return Err(cannot_change_in_place(address, other, &change.class)),
            }
        }
        Ok(modify)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.engine_version.is_none()
            && self.instance_class.is_none()
            && self.storage_type.is_none()
            && self.allocated_storage.is_none()
            && self.iops.is_none()
            && self.backup_retention_period.is_none()
            && self.deletion_protection.is_none()
            && self.copy_tags_to_snapshot.is_none()
            && self.publicly_accessible.is_none()
            && self.multi_az.is_none()
            && self.parameter_group.is_none()
            && self.security_groups.is_none()
            && self.manage_master_user_password.is_none()
    }
}

/// Reads the database again after an update that made no modify call.
pub(super) async fn reread<D: Database>(
    db: &D,
    desired: &Resource,
    live: &Live,
) -> Result<Live, ProviderError> {
    let owner = Owner::Known(live.ownership.clone());
    db.read_live(&desired.address, &live.id, &desired.spec, owner)
        .await?
        .ok_or_else(|| {
            gone(
                &desired.address,
                "the database disappeared while it was changed",
            )
        })
}

/// Marks a database RDS has just accepted a modify for as changing.
pub(super) fn in_progress(mut live: Live, word: &str) -> Live {
    if live.is_ready() {
        // RDS answers a modify before its status moves; the wait confirms it.
        live.status = Status::InProgress(word.to_owned());
    }
    live
}

/// Compares a database. Besides the spec, it holds the settings the tool always uses
/// (copy tags to snapshots, not publicly accessible), tolerates a newer minor engine
/// version RDS applied by itself, and notices a switch between the managed master
/// password and one from the environment (the password itself is never read).
pub(super) fn database_diff(desired: &Resource, live: &Live) -> Vec<AttributeChange> {
    let mut effective = desired.clone();
    for (attribute, value) in [
        ("copy_tags_to_snapshot", true),
        ("publicly_accessible", false),
    ] {
        if effective.spec.get(attribute).is_none() {
            effective.spec.insert(attribute, value);
        }
    }
    if let (Some(want), Some(have)) = (
        parse_version(str_attr(&desired.spec, "engine_version")),
        parse_version(str_attr(&live.attributes, "engine_version")),
    ) && want.0 == have.0
        && have > want
    {
        // Auto minor version upgrade moved it ahead; RDS cannot go back, nor need it.
        effective.spec.remove("engine_version");
    }
    let mut changes = diff_attributes(&effective, live, |kind, attribute, before, after| {
        classify(&desired.spec, kind, attribute, before, after)
    });
    for change in &mut changes {
        if change.attribute == "storage_type" && change.class == ChangeClass::InPlace {
            change.note = Some(STORAGE_TYPE_NOTE.to_owned());
        }
    }
    let from_env = matches!(
        desired.spec.get("master_user_password"),
        Some(Value::Secret(_))
    );
    if from_env && bool_attr(&live.attributes, "manage_master_user_password") == Some(true) {
        changes.push(AttributeChange {
            attribute: "manage_master_user_password".to_owned(),
            before: Some(Value::Bool(true)),
            after: Some(Value::Bool(false)),
            class: ChangeClass::InPlace,
            note: None,
        });
    }
    changes
}

/// What RDS does when it changes the storage type in place, said in the plan (RDS User
/// Guide, "Working with storage for Amazon RDS DB instances": storage optimization).
pub(super) const STORAGE_TYPE_NOTE: &str = "RDS changes the storage type in place, with the provisioned IOPS in the same call; \
     the storage is then optimized, which can take several hours with the database available, \
     and RDS accepts no other storage change until 6 hours have passed and the optimization is over";

/// What changing a database attribute costs, where RDS differs from the shared table
/// (RDS API Reference, `ModifyDBCluster` and `ModifyDBInstance`).
pub(super) fn classify(
    spec: &Spec,
    kind: ResourceKind,
    attribute: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) -> ChangeClass {
    use ResourceKind as K;
    match (kind, attribute) {
        // Applied at once (the modify asks for it): RDS restarts the instances itself,
        // one after the other with a failover, so nobody has to reboot anything later.
        (K::DbCluster | K::DbInstance, "db_cluster_instance_class" | "db_instance_class") => {
            ChangeClass::InPlace
        }
        (K::DbCluster | K::DbInstance, "allocated_storage") => {
            match (
                before.and_then(Value::as_int),
                after.and_then(Value::as_int),
            ) {
                (Some(b), Some(a)) if a < b => ChangeClass::Forbidden(format!(
                    "RDS cannot shrink allocated storage (from {b} GiB to {a} GiB); keep {b} GiB or more"
                )),
                _ => ChangeClass::InPlace,
            }
        }
        (K::DbCluster, "storage_type") => cluster_storage_type_change(spec, after),
        (K::DbCluster, "max_allocated_storage") => ChangeClass::Forbidden(
            "Multi-AZ DB clusters do not support storage autoscaling".to_owned(),
        ),
        (K::DbCluster, "publicly_accessible") => ChangeClass::Forbidden(
            "ModifyDBCluster cannot change whether a Multi-AZ DB cluster is publicly accessible"
                .to_owned(),
        ),
        (
            K::DbCluster | K::DbInstance,
            "manage_master_user_password" | "copy_tags_to_snapshot" | "multi_az",
        ) => ChangeClass::InPlace,
        (K::DbInstance, "port") => ChangeClass::NeedsReboot,
        _ => default_change_class(kind, attribute, before, after),
    }
}

/// RDS changes a Multi-AZ DB cluster's storage type in place (ModifyDBCluster takes
/// io1, io2 or gp3), but only with the IOPS given in the same call; the storage is then
/// optimized for hours, during which no other storage change is accepted.
fn cluster_storage_type_change(spec: &Spec, after: Option<&Value>) -> ChangeClass {
    match after.and_then(Value::as_str) {
        Some(t) if !["io1", "io2", "gp3"].contains(&t) => {
            ChangeClass::Forbidden(format!("Multi-AZ DB clusters support io1, io2 and gp3 storage, not {t}"))
        }
        _ if int_attr(spec, "iops").is_none() => ChangeClass::Forbidden(
            "RDS changes a Multi-AZ DB cluster's storage type only together with its provisioned IOPS: set rds.storage.iops"
                .to_owned(),
        ),
        _ => ChangeClass::InPlace,
    }
}

fn parse_version(text: Option<&str>) -> Option<(u32, u32)> {
    let mut parts = text?.split('.');
    Some((
        parts.next()?.parse().ok()?,
        parts.next().unwrap_or("0").parse().ok()?,
    ))
}

// --- delete ------------------------------------------------------------------------------

/// Deletes the database safely: refuses while deletion protection is on unless the
/// options allow turning it off (then turns it off first), and takes a final snapshot
/// unless the options skip it, recording its identifier.
pub(super) async fn delete<D: Database>(db: &D, live: &Live) -> Result<(), ProviderError> {
    let address = &live.address;
    let teardown = db.rds().teardown();
    // Decide on what RDS says now, not on what the plan read.
    let owner = Owner::Known(live.ownership.clone());
    let Some(current) = db
        .read_live(address, &live.id, &live.attributes, owner)
        .await?
    else {
        return Ok(());
    };
    if current.status == Status::InProgress("deleting".to_owned()) {
        return Ok(());
    }
    if let Some(refusal) = deletion_refusal(&current, teardown) {
        return Err(refusal);
    }
    if bool_attr(&current.attributes, "deletion_protection") == Some(true) {
        disable_deletion_protection(db, live).await?;
    }
    let snapshot = (!teardown.skip_final_snapshot)
        .then(|| final_snapshot_identifier(&live.id, jiff::Timestamp::now()));
    db.delete_call(address, &live.id, snapshot.clone()).await?;
    if let Some(snapshot_identifier) = snapshot {
        teardown.final_snapshots.record(FinalSnapshot {
            address: address.clone(),
            db_identifier: live.id.clone(),
            snapshot_identifier,
        });
    }
    Ok(())
}

async fn disable_deletion_protection<D: Database>(
    db: &D,
    live: &Live,
) -> Result<(), ProviderError> {
    db.protection_off(&live.address, &live.id).await?;
    // Deleting while the change is still being applied fails: wait until RDS shows it.
    poll(PROTECTION, move || async move {
        let owner = Owner::Known(live.ownership.clone());
        let current = db
            .read_live(&live.address, &live.id, &live.attributes, owner)
            .await?;
        Ok(match current {
            None => Poll::Done(()),
            Some(c)
                if bool_attr(&c.attributes, "deletion_protection") == Some(false)
                    && c.is_ready() =>
            {
                Poll::Done(())
            }
            Some(_) => Poll::Pending,
        })
    })
    .await
}

/// Tells why `live` (a DB cluster or instance) may not be deleted with `teardown`.
pub(super) fn deletion_refusal(live: &Live, teardown: &TeardownOptions) -> Option<ProviderError> {
    let protected = bool_attr(&live.attributes, "deletion_protection") == Some(true);
    if !protected || teardown.disable_deletion_protection {
        return None;
    }
    let what = if live.kind == ResourceKind::DbCluster {
        "DB cluster"
    } else {
        "DB instance"
    };
    let snapshot = if teardown.skip_final_snapshot {
        ""
    } else {
        " (a final snapshot is still taken)"
    };
    Some(ProviderError::rejected(
        &live.address,
        "DeletionProtection",
        format!(
            "{what} {} has deletion protection on; run `down --disable-deletion-protection` to turn it off and delete it{snapshot}",
            live.id
        ),
    ))
}

/// Returns `<id>-final-<YYYYMMDDHHMMSS>` (UTC): a valid snapshot identifier for any
/// valid DB identifier (letters, digits and hyphens, starting with a letter: RDS API
/// Reference, `DeleteDBCluster`, `FinalDBSnapshotIdentifier`), and sortable by time.
pub fn final_snapshot_identifier(id: &str, at: jiff::Timestamp) -> String {
    format!("{id}-final-{}", at.strftime("%Y%m%d%H%M%S"))
}

// --- finders -----------------------------------------------------------------------------

/// Maps an RDS status onto the boundary's. A database that is backing up or optimizing
/// its storage serves traffic, so it counts as ready: storage optimization can last
/// hours and must not hold a run up.
pub(super) fn database_status(status: &str) -> Status {
    match status {
        "available"
        | "backing-up"
        | "storage-optimization"
        | "configuring-enhanced-monitoring"
        | "configuring-log-exports" => Status::Ready,
        "failed"
        | "inaccessible-encryption-credentials"
        | "inaccessible-encryption-credentials-recoverable"
        | "incompatible-network"
        | "incompatible-option-group"
        | "incompatible-parameters"
        | "incompatible-restore"
        | "insufficient-capacity"
        | "restore-error"
        | "storage-full" => Status::Failed(status.to_owned()),
        other => Status::InProgress(other.to_owned()),
    }
}

pub(super) fn security_groups(groups: &[VpcSecurityGroupMembership], reference: &Spec) -> Value {
    let ids: Vec<String> = groups
        .iter()
        .filter_map(|g| g.vpc_security_group_id().map(str::to_owned))
        .collect();
    as_set_in_order(ids, reference.get("vpc_security_group_ids"))
}

/// RDS reports the key's ARN; the profile may name it by id or ARN. An alias cannot be
/// checked without KMS, so an aliased key is taken as given.
pub(super) fn kms_key(arn: &str, reference: &Spec) -> Value {
    match str_attr(reference, "kms_key_id") {
        Some(wanted)
            if arn == wanted
                || arn.ends_with(&format!("/{wanted}"))
                || wanted.contains("alias/") =>
        {
            wanted.into()
        }
        _ => arn.into(),
    }
}

// --- waiters -----------------------------------------------------------------------------

/// Waits until the database is available; a failed one is an error naming its state.
pub(super) async fn wait_available<D: Database>(
    db: &D,
    live: &Live,
) -> Result<Live, ProviderError> {
    poll(Backoff::SLOW, move || async move {
        let owner = Owner::Known(live.ownership.clone());
        let Some(current) = db
            .read_live(&live.address, &live.id, &live.attributes, owner)
            .await?
        else {
            return Err(gone(
                &live.address,
                "the database disappeared while waiting for it to become available",
            ));
        };
        match &current.status {
            Status::Ready => Ok(Poll::Done(current)),
            Status::Failed(state) => Err(ProviderError::rejected(
                &live.address,
                state,
                format!(
                    "RDS reports {} in state {state}; see its events in the RDS console",
                    live.id
                ),
            )),
            Status::InProgress(_) => Ok(Poll::Pending),
        }
    })
    .await
}

/// Waits until the database is gone.
pub(super) async fn wait_gone<D: Database>(db: &D, live: &Live) -> Result<(), ProviderError> {
    poll(Backoff::SLOW, move || async move {
        let owner = Owner::Known(live.ownership.clone());
        let found = db
            .read_live(&live.address, &live.id, &live.attributes, owner)
            .await?;
        Ok(match found {
            Some(_) => Poll::Pending,
            None => Poll::Done(()),
        })
    })
    .await
}

#[cfg(test)]
mod tests;
