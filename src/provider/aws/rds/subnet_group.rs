//! The DB subnet group: the private subnets the database's instances are placed in.
//!
//! ModifyDBSubnetGroup takes a new description and a new subnet list, the whole list
//! every time (RDS API Reference, `ModifyDBSubnetGroup`), so both change in place.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::super::sdk_error;
use super::super::support::{Backoff, Poll, poll, strings};
use super::super::tags_value;
use super::{
    Owner, Rds, as_set_in_order, cannot_change_in_place, check_owned, check_resolved, gone,
    in_desired_order, in_use_or_gone, name_of, not_found_is_none, rds_tags, required_str, str_attr,
};
use crate::provider::{
    AttributeChange, ChangeClass, Live, ObservedOwnership, ProviderError, ResourceProvider, Status,
    default_change_class, diff_attributes,
};
use crate::stack::{Address, Resource, ResourceKind, Spec, Value};

/// The provider of the DB subnet group.
pub(crate) struct DbSubnetGroupProvider {
    rds: Rds,
}

impl DbSubnetGroupProvider {
    pub(crate) fn new(rds: Rds) -> Self {
        Self { rds }
    }
}

#[async_trait]
impl ResourceProvider for DbSubnetGroupProvider {
    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let name = name_of(desired)?;
        self.read_group(&desired.address, name, &desired.spec, Owner::Of(desired))
            .await
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        check_resolved(desired)?;
        self.create_group(desired).await
    }

    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        check_owned(live)?;
        self.update_group(desired, live, changes).await
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        check_owned(live)?;
        let result = self
            .rds
            .client
            .delete_db_subnet_group()
            .db_subnet_group_name(&live.id)
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error(&live.address, "rds:DeleteDBSubnetGroup", e));
        in_use_or_gone(result)
    }

    /// A subnet group is usable as soon as it is created.
    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        Ok(Live {
            status: Status::Ready,
            ..live.clone()
        })
    }

    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        poll(Backoff::SLOW, move || async move {
            let owner = Owner::Known(live.ownership.clone());
            let found = self
                .read_group(&live.address, &live.id, &live.attributes, owner)
                .await?;
            Ok(match found {
                Some(_) => Poll::Pending,
                None => Poll::Done(()),
            })
        })
        .await
    }

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        let live = &in_desired_order(desired, live);
        diff_attributes(desired, live, classify)
    }
}

impl DbSubnetGroupProvider {
    // --- create --------------------------------------------------------------------------

    async fn create_group(&self, desired: &Resource) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let name = required_str(desired, "name")?;
        let subnets = strings(desired.spec.get("subnet_ids"));
        self.rds
            .client
            .create_db_subnet_group()
            .db_subnet_group_name(name)
            .db_subnet_group_description(str_attr(&desired.spec, "description").unwrap_or(name))
            .set_subnet_ids(Some(subnets))
            .set_tags(Some(rds_tags(&desired.spec)))
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:CreateDBSubnetGroup", e))?;
        let owner = Owner::Known(ObservedOwnership::Owned);
        self.read_group(address, name, &desired.spec, owner)
            .await?
            .ok_or_else(|| {
                gone(
                    address,
                    "the DB subnet group was created but cannot be read",
                )
            })
    }

    // --- read ----------------------------------------------------------------------------

    /// Reads the group `name`; `reference` (the desired spec, or the last `Live`'s
    /// attributes) only decides how an equal subnet list is ordered.
    async fn read_group(
        &self,
        address: &Address,
        name: &str,
        reference: &Spec,
        owner: Owner<'_>,
    ) -> Result<Option<Live>, ProviderError> {
        let result = self
            .rds
            .client
            .describe_db_subnet_groups()
            .db_subnet_group_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:DescribeDBSubnetGroups", e));
        let Some(output) = not_found_is_none(result)? else {
            return Ok(None);
        };
        let Some(group) = output.db_subnet_groups().first() else {
            return Ok(None);
        };
        let arn = group.db_subnet_group_arn().unwrap_or_default().to_owned();
        let tags = self.rds.tags_of(address, &arn).await?;
        let subnets: Vec<String> = group
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_identifier().map(str::to_owned))
            .collect();
        let name = group.db_subnet_group_name().unwrap_or(name).to_owned();
        let attributes = Spec::new()
            .with("name", name.as_str())
            .with(
                "description",
                group.db_subnet_group_description().unwrap_or_default(),
            )
            .with(
                "subnet_ids",
                as_set_in_order(subnets, reference.get("subnet_ids")),
            )
            .with("tags", tags_value(tags.clone()));
        let mut outputs = BTreeMap::from([
            ("id".to_owned(), Value::from(name.as_str())),
            ("arn".to_owned(), Value::from(arn)),
        ]);
        if let Some(vpc) = group.vpc_id() {
            outputs.insert("vpc_id".to_owned(), vpc.into());
        }
        Ok(Some(Live {
            address: address.clone(),
            kind: ResourceKind::DbSubnetGroup,
            id: name,
            ownership: owner.from_tags(&tags),
            status: Status::Ready,
            attributes,
            outputs,
        }))
    }

    // --- update --------------------------------------------------------------------------

    async fn update_group(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let mut modify = false;
        for change in changes {
            match change.attribute.as_str() {
                "tags" => self.rds.add_tags(address, live, &desired.spec).await?,
                "subnet_ids" | "description" => modify = true,
                other => return Err(cannot_change_in_place(address, other, &change.class)),
            }
        }
        if modify {
            // ModifyDBSubnetGroup replaces the whole list, so it always gets all of it.
            self.rds
                .client
                .modify_db_subnet_group()
                .db_subnet_group_name(&live.id)
                .set_db_subnet_group_description(
                    str_attr(&desired.spec, "description").map(str::to_owned),
                )
                .set_subnet_ids(Some(strings(desired.spec.get("subnet_ids"))))
                .send()
                .await
                .map_err(|e| sdk_error(address, "rds:ModifyDBSubnetGroup", e))?;
        }
        let owner = Owner::Known(live.ownership.clone());
        self.read_group(address, &live.id, &desired.spec, owner)
            .await?
            .ok_or_else(|| {
                gone(
                    address,
                    "the DB subnet group disappeared while it was changed",
                )
            })
    }
}

/// What changing a subnet group attribute costs: ModifyDBSubnetGroup takes a new
/// description and subnets; the rest follows the shared table.
fn classify(
    kind: ResourceKind,
    attribute: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) -> ChangeClass {
    match attribute {
        "description" | "subnet_ids" => ChangeClass::InPlace,
        _ => default_change_class(kind, attribute, before, after),
    }
}
