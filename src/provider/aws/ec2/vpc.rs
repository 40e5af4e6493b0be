//! The VPC (`ResourceKind::Vpc`): created with its tags and DNS attributes, or adopted by id.
//!
//! Calls: `CreateVpc`, `DescribeVpcs`, `DescribeVpcAttribute`, `ModifyVpcAttribute`,
//! `DeleteVpc`. An adopted VPC is read, checked against the profile and never changed.

use async_trait::async_trait;
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, ResourceType, VpcAttributeName, VpcState};

use super::{
    Ec2, absent, address_of, adopted_diff, filter, live, once, outputs, ownership, pick,
    profile_filters, tag_map, tag_specification, unsupported, wait_until_gone, wait_until_ready,
    with_tags,
};
use crate::provider::aws::sdk_error;
use crate::provider::aws::support::{Backoff, failed, known_str, resume};
use crate::provider::{
    AttributeChange, Live, ObservedOwnership, ProviderError, ResourceProvider, Status,
    default_change_class, diff_attributes,
};
use crate::stack::{Address, Component, Ownership, Resource, ResourceKind, Spec, Value};

/// The provider of [`ResourceKind::Vpc`].
pub(super) struct VpcProvider(pub(super) Ec2);

#[async_trait]
impl ResourceProvider for VpcProvider {
    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        if let Some(live) = resume(self, desired).await? {
            return Ok(live);
        }
        let address = &desired.address;
        let output = self
            .0
            .client
            .create_vpc()
            .cidr_block(known_str(desired.spec.get("cidr_block")).unwrap_or_default())
            .tag_specifications(tag_specification(ResourceType::Vpc, &desired.spec))
            .customize()
            .config_override(once())
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:CreateVpc", e))?;
        let vpc = output
            .vpc()
            .ok_or_else(|| failed(address, "EmptyResponse", "CreateVpc returned no VPC"))?;
        let id = vpc.vpc_id().unwrap_or_default();
        for attribute in ["enable_dns_support", "enable_dns_hostnames"] {
            if let Some(value) = desired.spec.get(attribute).and_then(Value::as_bool) {
                self.set_dns(address, id, attribute, value).await?;
            }
        }
        let mut created = self.to_live(address, vpc, ObservedOwnership::Owned).await?;
        // The create answer predates the attribute calls: report what was just set.
        for attribute in ["enable_dns_support", "enable_dns_hostnames"] {
            if let Some(value) = desired.spec.get(attribute) {
                created.attributes.insert(attribute, value.clone());
            }
        }
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
            let filters = vec![filter(
                "tag:Name",
                [desired.spec.name().unwrap_or_default()],
            )];
            pick(
                desired,
                self.describe(address, filters, Vec::new()).await?,
                |v| v.tags(),
            )
        };
        match found {
            Some(vpc) => {
                let ownership = ownership(desired, &tag_map(vpc.tags()));
                Ok(Some(self.to_live(address, &vpc, ownership).await?))
            }
            None => Ok(None),
        }
    }

    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        let placeholder = Address::new(Component::Network, "vpc");
        let mut lives = Vec::new();
        for vpc in self
            .describe(&placeholder, profile_filters(profile), Vec::new())
            .await?
        {
            if let Some(address) = address_of(vpc.tags()) {
                lives.push(
                    self.to_live(&address, &vpc, ObservedOwnership::Owned)
                        .await?,
                );
            }
        }
        Ok(lives)
    }

    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        for change in changes {
            match change.attribute.as_str() {
                "enable_dns_support" | "enable_dns_hostnames" => {
                    let value = change
                        .after
                        .as_ref()
                        .and_then(Value::as_bool)
                        .unwrap_or(true);
                    self.set_dns(&desired.address, &live.id, &change.attribute, value)
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
            return adopted_diff(desired, live, "VPC");
        }
        diff_attributes(desired, live, default_change_class)
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        match self.0.client.delete_vpc().vpc_id(&live.id).send().await {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(&live.address, "ec2:DeleteVpc", e) {
                ProviderError::NotFound { .. } => Ok(()),
                err => Err(self
                    .0
                    .explain_in_use(err, filter("vpc-id", [live.id.as_str()]))
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
            match found.first() {
                Some(vpc) => Ok(Some(
                    self.to_live(address, vpc, live.ownership.clone()).await?,
                )),
                None => Ok(None),
            }
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

impl VpcProvider {
    async fn describe(
        &self,
        address: &Address,
        filters: Vec<Filter>,
        ids: Vec<String>,
    ) -> Result<Vec<aws_sdk_ec2::types::Vpc>, ProviderError> {
        self.0
            .client
            .describe_vpcs()
            .set_filters((!filters.is_empty()).then_some(filters))
            .set_vpc_ids((!ids.is_empty()).then_some(ids))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(address, "ec2:DescribeVpcs", e))
    }

    async fn dns_attribute(
        &self,
        address: &Address,
        id: &str,
        attribute: VpcAttributeName,
    ) -> Result<Option<bool>, ProviderError> {
        let output = self
            .0
            .client
            .describe_vpc_attribute()
            .vpc_id(id)
            .attribute(attribute.clone())
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:DescribeVpcAttribute", e))?;
        let value = match attribute {
            VpcAttributeName::EnableDnsSupport => output.enable_dns_support(),
            _ => output.enable_dns_hostnames(),
        };
        Ok(value.and_then(AttributeBooleanValue::value))
    }

    async fn to_live(
        &self,
        address: &Address,
        vpc: &aws_sdk_ec2::types::Vpc,
        ownership: ObservedOwnership,
    ) -> Result<Live, ProviderError> {
        let id = vpc.vpc_id().unwrap_or_default();
        let mut attributes = Spec::new().with("cidr_block", vpc.cidr_block().unwrap_or_default());
        if ownership == ObservedOwnership::Adopted {
            attributes.insert("id", id);
        } else {
            attributes = with_tags(attributes, vpc.tags());
            if let Some(support) = self
                .dns_attribute(address, id, VpcAttributeName::EnableDnsSupport)
                .await?
            {
                attributes.insert("enable_dns_support", support);
            }
            if let Some(hostnames) = self
                .dns_attribute(address, id, VpcAttributeName::EnableDnsHostnames)
                .await?
            {
                attributes.insert("enable_dns_hostnames", hostnames);
            }
        }
        let status = match vpc.state() {
            Some(VpcState::Pending) => Status::InProgress("pending".into()),
            _ => Status::Ready,
        };
        let outputs = outputs(&[("id", Some(id)), ("cidr_block", vpc.cidr_block())]);
        Ok(live(
            address,
            ResourceKind::Vpc,
            id,
            ownership,
            status,
            attributes,
            outputs,
        ))
    }

    async fn set_dns(
        &self,
        address: &Address,
        id: &str,
        attribute: &str,
        value: bool,
    ) -> Result<(), ProviderError> {
        let flag = AttributeBooleanValue::builder().value(value).build();
        let request = self.0.client.modify_vpc_attribute().vpc_id(id);
        let request = if attribute == "enable_dns_support" {
            request.enable_dns_support(flag)
        } else {
            request.enable_dns_hostnames(flag)
        };
        request
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:ModifyVpcAttribute", e))?;
        Ok(())
    }
}
