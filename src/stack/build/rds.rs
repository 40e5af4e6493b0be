//! The RDS PostgreSQL database (Multi-AZ DB cluster or Multi-AZ instance), its
//! parameter group, subnet group and security group.

use crate::profile::{MasterPassword, RdsMode};

use super::{Builder, addr, tcp_rule};
use crate::stack::{Address, Component, ResourceKind, SecretRef, Spec, Value};

/// PostgreSQL's port; Multi-AZ DB clusters cannot change it later.
const POSTGRES_PORT: u16 = 5432;

impl Builder<'_> {
    pub(super) fn rds(&mut self) {
        let rds = self.profile.rds.clone();
        let parameter_group = addr(Component::Rds, "parameter_group");
        let subnet_group = addr(Component::Rds, "subnet_group");
        let security_group = addr(Component::Rds, "security_group");

        // md5 must be in the group when the database is created: PostgreSQL hashes a
        // password with the `password_encryption` in effect when it is set, and RDS sets
        // the master password at creation (PostgreSQL, "password_encryption",
        // <https://www.postgresql.org/docs/current/runtime-config-connection.html#GUC-PASSWORD-ENCRYPTION>;
        // RDS User Guide, "Using SCRAM for PostgreSQL password encryption",
        // <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL_Password_Encryption_configuration.html>).
        // So the group is its own resource that the database waits for.
        let (pg_kind, db_kind, pg_attribute, class_attribute, db_address) = match rds.mode {
            RdsMode::MultiAzCluster => (
                ResourceKind::DbClusterParameterGroup,
                ResourceKind::DbCluster,
                "db_cluster_parameter_group_name",
                "db_cluster_instance_class",
                addr(Component::Rds, "cluster"),
            ),
            RdsMode::MultiAzInstance => (
                ResourceKind::DbParameterGroup,
                ResourceKind::DbInstance,
                "db_parameter_group_name",
                "db_instance_class",
                addr(Component::Rds, "instance"),
            ),
        };
        let pg_name = format!("{}-params", rds.identifier);
        let spec = Spec::new()
            .with("family", rds.engine_version.parameter_group_family())
            .with(
                "description",
                format!("BPA PostgreSQL parameters of profile {}", self.profile.name),
            )
            .with("parameters", Value::string_map(&rds.parameters));
        self.managed(parameter_group.clone(), pg_kind, &pg_name, spec, &[]);

        let subnet_group_name = format!("{}-subnets", rds.identifier);
        let spec = Spec::new()
            .with(
                "description",
                format!("BPA database subnets of profile {}", self.profile.name),
            )
            .with("subnet_ids", self.node_subnet_ids());
        let node_subnets = self.node_subnets();
        let after: Vec<&Address> = node_subnets.iter().collect();
        self.managed(
            subnet_group.clone(),
            ResourceKind::DbSubnetGroup,
            &subnet_group_name,
            spec,
            &after,
        );

        let mut cidrs = self.workload_cidrs();
        cidrs.extend(rds.allowed_cidrs.iter().map(ToString::to_string));
        let spec = Spec::new()
            .with("vpc_id", self.vpc_id())
            .with(
                "description",
                format!("BPA PostgreSQL of profile {}", self.profile.name),
            )
            .with(
                "ingress",
                Value::List(vec![tcp_rule(
                    POSTGRES_PORT,
                    POSTGRES_PORT,
                    &cidrs,
                    "PostgreSQL from pods and nodes",
                )]),
            );
        self.managed(
            security_group.clone(),
            ResourceKind::SecurityGroup,
            &self.name("rds"),
            spec,
            &[&addr(Component::Network, "vpc")],
        );

        let mut spec = Spec::new()
            .with("engine", "postgres")
            .with("engine_version", rds.engine_version.full.as_str())
            .with(class_attribute, rds.instance_class.as_str())
            .with("storage_type", rds.storage.storage_type.as_str())
            .with("allocated_storage", rds.storage.size_gib)
            .with("master_username", rds.master_username.as_str())
            .with(pg_attribute, pg_name.as_str())
            .with("db_subnet_group_name", subnet_group_name.as_str())
            .with(
                "vpc_security_group_ids",
                Value::List(vec![Value::output(&security_group, "id")]),
            )
            .with("port", POSTGRES_PORT)
            .with("backup_retention_period", rds.backup_retention_days)
            .with("storage_encrypted", rds.storage_encrypted)
            .with("deletion_protection", rds.deletion_protection);
        if let Some(iops) = rds.storage.iops {
            spec.insert("iops", iops);
        }
        if let Some(key) = &rds.kms_key_id {
            spec.insert("kms_key_id", key.as_str());
        }
        if rds.mode == RdsMode::MultiAzInstance {
            spec.insert("multi_az", true);
        }
        match &rds.master_password {
            MasterPassword::Managed => spec.insert("manage_master_user_password", true),
            MasterPassword::FromEnv(variable) => {
                spec.insert("master_user_password", SecretRef::env(variable))
            }
        }
        self.managed(
            db_address,
            db_kind,
            &rds.identifier,
            spec,
            &[&parameter_group, &subnet_group],
        );
    }
}
