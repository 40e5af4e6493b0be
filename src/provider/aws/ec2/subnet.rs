//! Subnets (`ResourceKind::Subnet`): created with their tags, or adopted by id.
//!
//! Calls: `CreateSubnet`, `DescribeSubnets`, `ModifySubnetAttribute` (public IPs on
//! launch), `DeleteSubnet`. Adopted subnets are read, checked and never changed.

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, ResourceType, SubnetState};

use super::{
    Ec2, absent, address_of, adopted_diff, filter, find_by_tag_then_name, live, name_filters,
    name_tag, once, outputs, ownership, pick, profile_filters, tag_map, tag_specification,
    unsupported, wait_until_gone, wait_until_ready, with_tags,
};
use crate::provider::aws::sdk_error;
use crate::provider::aws::support::{Backoff, failed, known_str, resume};
use crate::provider::{
    AttributeChange, Live, Observation, ObservedOwnership, ProviderError, ResourceProvider, Status,
    default_change_class, diff_attributes,
};
use crate::stack::{Address, Component, Ownership, Resource, ResourceKind, Spec, Value};

/// The provider of [`ResourceKind::Subnet`].
pub(super) struct SubnetProvider(pub(super) Ec2);

#[async_trait]
impl ResourceProvider for SubnetProvider {
    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        if let Some(live) = resume(self, desired).await? {
            return Ok(live);
        }
        let address = &desired.address;
        let spec = &desired.spec;
        let output = self
            .0
            .client
            .create_subnet()
            .vpc_id(known_str(spec.get("vpc_id")).unwrap_or_default())
            .cidr_block(known_str(spec.get("cidr_block")).unwrap_or_default())
            .availability_zone(known_str(spec.get("availability_zone")).unwrap_or_default())
            .tag_specifications(tag_specification(ResourceType::Subnet, spec))
            .customize()
            .config_override(once())
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:CreateSubnet", e))?;
        let subnet = output
            .subnet()
            .ok_or_else(|| failed(address, "EmptyResponse", "CreateSubnet returned no subnet"))?;
        let id = subnet.subnet_id().unwrap_or_default();
        let public = spec
            .get("map_public_ip_on_launch")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if public {
            self.set_public_ip(address, id, true).await?;
        }
        let mut created = Self::to_live(address, subnet, ObservedOwnership::Owned);
        created.attributes.insert("map_public_ip_on_launch", public);
        Ok(created)
    }

    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let address = &desired.address;
        let found = if desired.ownership == Ownership::Adopted {
            let id = known_str(desired.spec.get("id"))
                .unwrap_or_default()
                .to_owned();
            absent(self.describe(address, Vec::new(), vec![id]).await)?
                .unwrap_or_default()
                .into_iter()
                .next()
        } else {
            pick(
                desired,
                self.describe(address, name_filters(desired, "tag:Name"), Vec::new())
                    .await?,
                |s| s.tags(),
            )
        };
        Ok(found.map(|subnet| {
            let ownership = ownership(desired, &tag_map(subnet.tags()));
            Self::to_live(address, &subnet, ownership)
        }))
    }

    /// Adopted subnets by their ids and the others as [`find_by_tag_then_name`] finds
    /// them, side by side: three calls at most for any number of subnets.
    async fn observe(
        &self,
        desired: &[&Resource],
        profile: &str,
    ) -> Result<Observation, ProviderError> {
        let placeholder = Address::new(Component::Network, "subnet");
        let (adopted, managed): (Vec<&Resource>, Vec<&Resource>) = desired
            .iter()
            .partition(|d| d.ownership == Ownership::Adopted);
        let (adopted, found) = futures::join!(
            self.adopted(&placeholder, &adopted),
            find_by_tag_then_name(
                &managed,
                || self.describe(&placeholder, profile_filters(profile), Vec::new()),
                |names, vpc| {
                    let mut filters = vec![filter("tag:Name", names)];
                    filters.extend(vpc.map(|vpc| filter("vpc-id", [vpc])));
                    self.describe(&placeholder, filters, Vec::new())
                },
                |s| s.tags(),
                |s| name_tag(s.tags()),
                |s| s.vpc_id(),
            )
        );
        let mut observation = Observation {
            found: adopted?,
            others: Vec::new(),
        };
        let found = found?;
        observation
            .found
            .extend(found.desired.iter().map(|(d, subnet)| {
                Self::to_live(&d.address, subnet, ownership(d, &tag_map(subnet.tags())))
            }));
        observation.others = found
            .others
            .iter()
            .map(|(address, subnet)| Self::to_live(address, subnet, ObservedOwnership::Owned))
            .collect();
        Ok(observation)
    }

    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        let placeholder = Address::new(Component::Network, "subnet");
        let subnets = self
            .describe(&placeholder, profile_filters(profile), Vec::new())
            .await?;
        Ok(subnets
            .iter()
            .filter_map(|s| {
                Some(Self::to_live(
                    &address_of(s.tags())?,
                    s,
                    ObservedOwnership::Owned,
                ))
            })
            .collect())
    }

    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        for change in changes {
            match change.attribute.as_str() {
                "map_public_ip_on_launch" => {
                    let value = change
                        .after
                        .as_ref()
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    self.set_public_ip(&desired.address, &live.id, value)
                        .await?;
                }
                "tags" => {
                    self.0
                        .put_tags(&desired.address, &live.id, &desired.spec)
                        .await?
                }
                other => return Err(unsupported(&desired.address, other)),
            }
        }
        self.wait_ready(live).await
    }

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        if desired.ownership == Ownership::Adopted {
            return adopted_diff(desired, live, "subnet");
        }
        diff_attributes(desired, live, default_change_class)
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        match self
            .0
            .client
            .delete_subnet()
            .subnet_id(&live.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(&live.address, "ec2:DeleteSubnet", e) {
                ProviderError::NotFound { .. } => Ok(()),
                err => Err(self
                    .0
                    .explain_in_use(err, filter("subnet-id", [live.id.as_str()]))
                    .await),
            },
        }
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        let address = &live.address;
        wait_until_ready(address, &live.id, Backoff::FAST, || async {
            let found = absent(
                self.describe(address, Vec::new(), vec![live.id.clone()])
                    .await,
            )?
            .unwrap_or_default();
            Ok(found
                .first()
                .map(|s| Self::to_live(address, s, live.ownership.clone())))
        })
        .await
    }

    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        wait_until_gone(Backoff::FAST, || async {
            Ok(!absent(
                self.describe(&live.address, Vec::new(), vec![live.id.clone()])
                    .await,
            )?
            .unwrap_or_default()
            .is_empty())
        })
        .await
    }
}

impl SubnetProvider {
    async fn describe(
        &self,
        address: &Address,
        filters: Vec<Filter>,
        ids: Vec<String>,
    ) -> Result<Vec<aws_sdk_ec2::types::Subnet>, ProviderError> {
        self.0
            .client
            .describe_subnets()
            .set_filters((!filters.is_empty()).then_some(filters))
            .set_subnet_ids((!ids.is_empty()).then_some(ids))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(address, "ec2:DescribeSubnets", e))
    }

    fn to_live(
        address: &Address,
        subnet: &aws_sdk_ec2::types::Subnet,
        ownership: ObservedOwnership,
    ) -> Live {
        let id = subnet.subnet_id().unwrap_or_default();
        let mut attributes = Spec::new()
            .with("vpc_id", subnet.vpc_id().unwrap_or_default())
            .with("cidr_block", subnet.cidr_block().unwrap_or_default())
            .with(
                "availability_zone",
                subnet.availability_zone().unwrap_or_default(),
            );
        if ownership == ObservedOwnership::Adopted {
            attributes.insert("id", id);
        } else {
            attributes.insert(
                "map_public_ip_on_launch",
                subnet.map_public_ip_on_launch().unwrap_or(false),
            );
            attributes = with_tags(attributes, subnet.tags());
        }
        let status = match subnet.state() {
            Some(SubnetState::Pending) => Status::InProgress("pending".into()),
            _ => Status::Ready,
        };
        let outputs = outputs(&[
            ("id", Some(id)),
            ("arn", subnet.subnet_arn()),
            ("cidr_block", subnet.cidr_block()),
            ("availability_zone", subnet.availability_zone()),
        ]);
        live(
            address,
            ResourceKind::Subnet,
            id,
            ownership,
            status,
            attributes,
            outputs,
        )
    }

    /// Reads the adopted subnets by id in one call; when one of the ids does not exist
    /// (which fails the call as a whole), one by one, so that the others are found.
    async fn adopted(
        &self,
        placeholder: &Address,
        adopted: &[&Resource],
    ) -> Result<Vec<Live>, ProviderError> {
        let ids: Vec<String> = adopted
            .iter()
            .filter_map(|d| known_str(d.spec.get("id")).map(str::to_owned))
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let Some(subnets) = absent(self.describe(placeholder, Vec::new(), ids).await)? else {
            let mut lives = Vec::new();
            for desired in adopted {
                lives.extend(ResourceProvider::read(self, desired).await?);
            }
            return Ok(lives);
        };
        Ok(adopted
            .iter()
            .filter_map(|d| {
                let id = known_str(d.spec.get("id"))?;
                let subnet = subnets.iter().find(|s| s.subnet_id() == Some(id))?;
                Some(Self::to_live(
                    &d.address,
                    subnet,
                    ownership(d, &tag_map(subnet.tags())),
                ))
            })
            .collect())
    }

    async fn set_public_ip(
        &self,
        address: &Address,
        id: &str,
        value: bool,
    ) -> Result<(), ProviderError> {
        self.0
            .client
            .modify_subnet_attribute()
            .subnet_id(id)
            .map_public_ip_on_launch(AttributeBooleanValue::builder().value(value).build())
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:ModifySubnetAttribute", e))?;
        Ok(())
    }
}
