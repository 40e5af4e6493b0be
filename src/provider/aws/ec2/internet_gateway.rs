//! The internet gateway (`ResourceKind::InternetGateway`) and its attachment to the VPC.
//!
//! Calls: `CreateInternetGateway`, `AttachInternetGateway`, `DescribeInternetGateways`,
//! `DetachInternetGateway`, `DeleteInternetGateway`.

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType};

use super::{
    Ec2, absent, address_of, already_associated, filter, live, once, outputs, ownership, pick,
    profile_filters, tag_map, tag_specification, unsupported, wait_until_ready, with_tags,
};
use crate::provider::aws::sdk_error;
use crate::provider::aws::support::{Backoff, failed, known_str, resume};
use crate::provider::{
    AttributeChange, ChangeClass, Live, ObservedOwnership, ProviderError, ResourceProvider, Status,
    default_change_class, diff_attributes,
};
use crate::stack::{Address, Component, Resource, ResourceKind, Spec, Value};

/// The provider of [`ResourceKind::InternetGateway`].
pub(super) struct InternetGatewayProvider(pub(super) Ec2);

#[async_trait]
impl ResourceProvider for InternetGatewayProvider {
    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        if let Some(live) = resume(self, desired).await? {
            return Ok(live);
        }
        let address = &desired.address;
        let output = self
            .0
            .client
            .create_internet_gateway()
            .tag_specifications(tag_specification(
                ResourceType::InternetGateway,
                &desired.spec,
            ))
            .customize()
            .config_override(once())
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:CreateInternetGateway", e))?;
        let igw = output.internet_gateway().ok_or_else(|| {
            failed(
                address,
                "EmptyResponse",
                "CreateInternetGateway returned no gateway",
            )
        })?;
        let id = igw.internet_gateway_id().unwrap_or_default();
        let vpc_id = known_str(desired.spec.get("vpc_id")).unwrap_or_default();
        self.attach(address, id, vpc_id).await?;
        let mut created = Self::to_live(address, igw, ObservedOwnership::Owned);
        created.attributes.insert("vpc_id", vpc_id);
        Ok(created)
    }

    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        // Not filtered by VPC: a detached gateway has none.
        let filters = vec![filter(
            "tag:Name",
            [desired.spec.name().unwrap_or_default()],
        )];
        let found = pick(
            desired,
            self.describe(&desired.address, filters, Vec::new()).await?,
            |g| g.tags(),
        );
        Ok(found.map(|igw| {
            Self::to_live(
                &desired.address,
                &igw,
                ownership(desired, &tag_map(igw.tags())),
            )
        }))
    }

    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        let placeholder = Address::new(Component::Network, "internet_gateway");
        let found = self
            .describe(&placeholder, profile_filters(profile), Vec::new())
            .await?;
        Ok(found
            .iter()
            .filter_map(|g| {
                Some(Self::to_live(
                    &address_of(g.tags())?,
                    g,
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
                "vpc_id" => {
                    if let Some(old) = known_str(change.before.as_ref()) {
                        self.detach(&desired.address, &live.id, old).await?;
                    }
                    if let Some(new) = known_str(change.after.as_ref()) {
                        self.attach(&desired.address, &live.id, new).await?;
                    }
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
        diff_attributes(desired, live, |kind, attribute, before, after| {
            match (attribute, before) {
                // Attaching a detached gateway finishes a run that was cut short.
                ("vpc_id", Some(Value::Null)) => ChangeClass::InPlace,
                _ => default_change_class(kind, attribute, before, after),
            }
        })
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        if let Some(vpc_id) = known_str(live.attributes.get("vpc_id")) {
            // Fails while public addresses in the VPC are mapped (NAT gateways, load
            // balancers): those go first in the reverse order, or the error says so.
            self.detach(&live.address, &live.id, vpc_id).await?;
        }
        match self
            .0
            .client
            .delete_internet_gateway()
            .internet_gateway_id(&live.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(&live.address, "ec2:DeleteInternetGateway", e) {
                ProviderError::NotFound { .. } => Ok(()),
                err => Err(err),
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
                .map(|g| Self::to_live(address, g, live.ownership.clone())))
        })
        .await
    }
}

impl InternetGatewayProvider {
    async fn describe(
        &self,
        address: &Address,
        filters: Vec<Filter>,
        ids: Vec<String>,
    ) -> Result<Vec<aws_sdk_ec2::types::InternetGateway>, ProviderError> {
        self.0
            .client
            .describe_internet_gateways()
            .set_filters((!filters.is_empty()).then_some(filters))
            .set_internet_gateway_ids((!ids.is_empty()).then_some(ids))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(address, "ec2:DescribeInternetGateways", e))
    }

    fn to_live(
        address: &Address,
        igw: &aws_sdk_ec2::types::InternetGateway,
        ownership: ObservedOwnership,
    ) -> Live {
        let id = igw.internet_gateway_id().unwrap_or_default();
        // Null when detached: a gateway created by a run killed before attaching it.
        let vpc = igw
            .attachments()
            .iter()
            .find_map(|a| a.vpc_id())
            .map_or(Value::Null, Value::from);
        let attributes = with_tags(Spec::new().with("vpc_id", vpc), igw.tags());
        let outputs = outputs(&[("id", Some(id))]);
        live(
            address,
            ResourceKind::InternetGateway,
            id,
            ownership,
            Status::Ready,
            attributes,
            outputs,
        )
    }

    async fn attach(&self, address: &Address, id: &str, vpc_id: &str) -> Result<(), ProviderError> {
        self.0
            .client
            .attach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error(address, "ec2:AttachInternetGateway", e))
            .or_else(|err| {
                if already_associated(&err) {
                    Ok(())
                } else {
                    Err(err)
                }
            })
    }

    async fn detach(&self, address: &Address, id: &str, vpc_id: &str) -> Result<(), ProviderError> {
        match self
            .0
            .client
            .detach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(vpc_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(address, "ec2:DetachInternetGateway", e) {
                ProviderError::NotFound { .. } => Ok(()),
                err => Err(err),
            },
        }
    }
}
