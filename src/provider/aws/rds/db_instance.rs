//! The Multi-AZ DB instance: one primary and one standby in another Availability Zone
//! (RDS User Guide, "Multi-AZ DB instance deployments"), with its safe teardown and its
//! pre-flight checks.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_rds::types::DbInstance;

use super::super::sdk_error;
use super::super::support::strings;
use super::super::tags_value;
use super::database::{
    self, CreateSettings, Database, ModifyDatabase, database_diff, database_status, in_progress,
    kms_key, security_groups,
};
use super::{
    ENGINE, Owner, Rds, bool_attr, check_owned, check_resolved, gone, in_desired_order, insert_int,
    insert_output, insert_str, int_attr, name_of, not_found_is_none, preflight, rds_tags,
    required_str, str_attr, tag_map, to_i32,
};
use crate::profile::RdsMode;
use crate::provider::{
    AttributeChange, Finding, Live, ObservedOwnership, Proposal, ProviderError, ResourceProvider,
};
use crate::stack::{Address, Resource, ResourceKind, Spec, Value};

/// The provider of the Multi-AZ DB instance.
pub(crate) struct DbInstanceProvider {
    rds: Rds,
}

impl DbInstanceProvider {
    pub(crate) fn new(rds: Rds) -> Self {
        Self { rds }
    }
}

#[async_trait]
impl ResourceProvider for DbInstanceProvider {
    fn deletion_refusal(&self, live: &Live) -> Option<String> {
        database::deletion_refusal(live, self.rds.teardown()).map(|err| err.to_string())
    }

    async fn preflight(
        &self,
        desired: &Resource,
        proposal: Proposal<'_>,
    ) -> Result<Vec<Finding>, ProviderError> {
        preflight::check(&self.rds.client, desired, proposal, false).await
    }

    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let name = name_of(desired)?;
        self.read_live(&desired.address, name, &desired.spec, Owner::Of(desired))
            .await
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        check_resolved(desired)?;
        self.create_instance(desired).await
    }

    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        check_owned(live)?;
        self.update_instance(desired, live, changes).await
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        check_owned(live)?;
        database::delete(self, live).await
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        database::wait_available(self, live).await
    }

    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        database::wait_gone(self, live).await
    }

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        database_diff(desired, &in_desired_order(desired, live))
    }
}

#[async_trait]
impl Database for DbInstanceProvider {
    const KIND: ResourceKind = ResourceKind::DbInstance;
    const MODE: RdsMode = RdsMode::MultiAzInstance;

    fn rds(&self) -> &Rds {
        &self.rds
    }

    async fn delete_call(
        &self,
        address: &Address,
        id: &str,
        snapshot: Option<String>,
    ) -> Result<(), ProviderError> {
        self.rds
            .client
            .delete_db_instance()
            .db_instance_identifier(id)
            .skip_final_snapshot(snapshot.is_none())
            .set_final_db_snapshot_identifier(snapshot)
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:DeleteDBInstance", e))?;
        Ok(())
    }

    async fn protection_off(&self, address: &Address, id: &str) -> Result<(), ProviderError> {
        self.rds
            .client
            .modify_db_instance()
            .db_instance_identifier(id)
            .deletion_protection(false)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:ModifyDBInstance", e))?;
        Ok(())
    }

    async fn read_live(
        &self,
        address: &Address,
        id: &str,
        reference: &Spec,
        owner: Owner<'_>,
    ) -> Result<Option<Live>, ProviderError> {
        Ok(self
            .describe(address, id)
            .await?
            .map(|i| instance_live(address, &i, reference, owner)))
    }
}

impl DbInstanceProvider {
    // --- create --------------------------------------------------------------------------

    async fn create_instance(&self, desired: &Resource) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let spec = &desired.spec;
        let id = required_str(desired, "name")?;
        let settings = CreateSettings::of(self, desired)?;
        let output = self
            .rds
            .client
            .create_db_instance()
            .db_instance_identifier(id)
            .engine(str_attr(spec, "engine").unwrap_or(ENGINE))
            .set_engine_version(str_attr(spec, "engine_version").map(str::to_owned))
            .set_db_instance_class(str_attr(spec, "db_instance_class").map(str::to_owned))
            .set_storage_type(str_attr(spec, "storage_type").map(str::to_owned))
            .set_allocated_storage(int_attr(spec, "allocated_storage").map(to_i32))
            .set_iops(settings.iops)
            .set_master_username(str_attr(spec, "master_username").map(str::to_owned))
            .set_manage_master_user_password(settings.managed.then_some(true))
            .set_master_user_password(settings.password)
            .set_db_parameter_group_name(
                str_attr(spec, "db_parameter_group_name").map(str::to_owned),
            )
            .set_db_subnet_group_name(str_attr(spec, "db_subnet_group_name").map(str::to_owned))
            .set_vpc_security_group_ids(Some(strings(spec.get("vpc_security_group_ids"))))
            .set_port(int_attr(spec, "port").map(to_i32))
            .set_backup_retention_period(int_attr(spec, "backup_retention_period").map(to_i32))
            .set_storage_encrypted(bool_attr(spec, "storage_encrypted"))
            .set_kms_key_id(str_attr(spec, "kms_key_id").map(str::to_owned))
            .set_deletion_protection(bool_attr(spec, "deletion_protection"))
            .multi_az(bool_attr(spec, "multi_az").unwrap_or(true))
            .copy_tags_to_snapshot(settings.copy_tags)
            .publicly_accessible(settings.public)
            .set_tags(Some(rds_tags(spec)))
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:CreateDBInstance", e))?;
        let instance = output
            .db_instance()
            .ok_or_else(|| gone(address, "CreateDBInstance answered without the instance"))?;
        Ok(instance_live(
            address,
            instance,
            spec,
            Owner::Known(ObservedOwnership::Owned),
        ))
    }

    // --- update --------------------------------------------------------------------------

    async fn update_instance(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let modify = ModifyDatabase::of(self, desired, live, changes).await?;
        if modify.is_empty() {
            return database::reread(self, desired, live).await;
        }
        let output = self
            .rds
            .client
            .modify_db_instance()
            .db_instance_identifier(&live.id)
            .apply_immediately(true)
            .set_engine_version(modify.engine_version)
            .set_db_instance_class(modify.instance_class)
            .set_storage_type(modify.storage_type)
            .set_allocated_storage(modify.allocated_storage)
            .set_iops(modify.iops)
            .set_backup_retention_period(modify.backup_retention_period)
            .set_deletion_protection(modify.deletion_protection)
            .set_copy_tags_to_snapshot(modify.copy_tags_to_snapshot)
            .set_publicly_accessible(modify.publicly_accessible)
            .set_multi_az(modify.multi_az)
            .set_db_parameter_group_name(modify.parameter_group)
            .set_vpc_security_group_ids(modify.security_groups)
            .set_manage_master_user_password(modify.manage_master_user_password)
            .set_master_user_password(modify.master_user_password)
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:ModifyDBInstance", e))?;
        let instance = output
            .db_instance()
            .ok_or_else(|| gone(address, "ModifyDBInstance answered without the instance"))?;
        let owner = Owner::Known(live.ownership.clone());
        Ok(in_progress(
            instance_live(address, instance, &desired.spec, owner),
            "modifying",
        ))
    }

    // --- finders -------------------------------------------------------------------------

    async fn describe(
        &self,
        address: &Address,
        id: &str,
    ) -> Result<Option<DbInstance>, ProviderError> {
        let result = self
            .rds
            .client
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:DescribeDBInstances", e));
        Ok(not_found_is_none(result)?.and_then(|o| o.db_instances().first().cloned()))
    }
}

/// The instance as a `Live`. A change RDS has accepted but not yet applied counts as
/// made: planning it again would only send it again.
fn instance_live(address: &Address, i: &DbInstance, reference: &Spec, owner: Owner<'_>) -> Live {
    let id = i.db_instance_identifier().unwrap_or_default().to_owned();
    let pending = i.pending_modified_values();
    let tags = tag_map(i.tag_list());
    let mut attributes = Spec::new()
        .with("name", id.as_str())
        .with("engine", i.engine().unwrap_or_default())
        .with("master_username", i.master_username().unwrap_or_default())
        .with(
            "db_parameter_group_name",
            i.db_parameter_groups()
                .first()
                .and_then(|g| g.db_parameter_group_name())
                .unwrap_or_default(),
        )
        .with(
            "db_subnet_group_name",
            i.db_subnet_group()
                .and_then(|g| g.db_subnet_group_name())
                .unwrap_or_default(),
        )
        .with(
            "vpc_security_group_ids",
            security_groups(i.vpc_security_groups(), reference),
        )
        .with("storage_encrypted", i.storage_encrypted().unwrap_or(false))
        .with(
            "deletion_protection",
            i.deletion_protection().unwrap_or(false),
        )
        .with(
            "manage_master_user_password",
            i.master_user_secret().is_some(),
        )
        .with(
            "copy_tags_to_snapshot",
            i.copy_tags_to_snapshot().unwrap_or(false),
        )
        .with(
            "publicly_accessible",
            i.publicly_accessible().unwrap_or(false),
        )
        .with(
            "multi_az",
            pending
                .and_then(|p| p.multi_az())
                .or(i.multi_az())
                .unwrap_or(false),
        )
        .with("tags", tags_value(tags.clone()));
    insert_str(
        &mut attributes,
        "engine_version",
        pending
            .and_then(|p| p.engine_version())
            .or(i.engine_version()),
    );
    insert_str(
        &mut attributes,
        "db_instance_class",
        pending
            .and_then(|p| p.db_instance_class())
            .or(i.db_instance_class()),
    );
    insert_str(
        &mut attributes,
        "storage_type",
        pending.and_then(|p| p.storage_type()).or(i.storage_type()),
    );
    insert_int(
        &mut attributes,
        "allocated_storage",
        pending
            .and_then(|p| p.allocated_storage())
            .or(i.allocated_storage()),
    );
    insert_int(
        &mut attributes,
        "iops",
        pending.and_then(|p| p.iops()).or(i.iops()),
    );
    let port = i
        .db_instance_port()
        .filter(|p| *p != 0)
        .or(i.endpoint().and_then(|e| e.port()));
    insert_int(&mut attributes, "port", port);
    insert_int(
        &mut attributes,
        "backup_retention_period",
        pending
            .and_then(|p| p.backup_retention_period())
            .or(i.backup_retention_period()),
    );
    if let Some(key) = i.kms_key_id() {
        attributes.insert("kms_key_id", kms_key(key, reference));
    }
    let mut outputs = BTreeMap::from([("id".to_owned(), Value::from(id.as_str()))]);
    insert_output(&mut outputs, "arn", i.db_instance_arn());
    insert_output(
        &mut outputs,
        "endpoint",
        i.endpoint().and_then(|e| e.address()),
    );
    insert_output(
        &mut outputs,
        "master_user_secret_arn",
        i.master_user_secret().and_then(|s| s.secret_arn()),
    );
    if let Some(port) = port {
        outputs.insert("port".to_owned(), i64::from(port).into());
    }
    Live {
        address: address.clone(),
        kind: ResourceKind::DbInstance,
        id,
        ownership: owner.from_tags(&tags),
        status: database_status(i.db_instance_status().unwrap_or("unknown")),
        attributes,
        outputs,
    }
}
