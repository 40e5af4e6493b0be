//! Elastic IPs (`ResourceKind::ElasticIp`), one per NAT gateway.
//!
//! Calls: `AllocateAddress`, `DescribeAddresses`, `ReleaseAddress`.

use async_trait::async_trait;
use aws_sdk_ec2::types::{DomainType, Filter, ResourceType};

use super::{
    Ec2, absent, address_of, filter, live, once, outputs, ownership, pick, profile_filters,
    tag_map, tag_specification, unsupported, wait_until_ready, with_tags,
};
use crate::provider::aws::sdk_error;
use crate::provider::aws::support::{Backoff, known_str, resume};
use crate::provider::{
    AttributeChange, Live, ObservedOwnership, ProviderError, ResourceProvider, Status,
};
use crate::stack::{Address, Component, Resource, ResourceKind, Spec, Value};

/// The provider of [`ResourceKind::ElasticIp`].
pub(super) struct ElasticIpProvider(pub(super) Ec2);

#[async_trait]
impl ResourceProvider for ElasticIpProvider {
    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        if let Some(live) = resume(self, desired).await? {
            return Ok(live);
        }
        let address = &desired.address;
        let output = self
            .0
            .client
            .allocate_address()
            .domain(DomainType::from(
                known_str(desired.spec.get("domain")).unwrap_or("vpc"),
            ))
            .tag_specifications(tag_specification(ResourceType::ElasticIp, &desired.spec))
            .customize()
            .config_override(once())
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:AllocateAddress", e))?;
        let id = output.allocation_id().unwrap_or_default();
        let attributes = Spec::new().with("domain", output.domain().map_or("vpc", |d| d.as_str()));
        let mut attributes = attributes.with(
            "tags",
            desired.spec.get("tags").cloned().unwrap_or(Value::Null),
        );
        if let Some(name) = desired.spec.name() {
            attributes.insert("name", name);
        }
        let outputs = outputs(&[("id", Some(id)), ("public_ip", output.public_ip())]);
        Ok(live(
            address,
            ResourceKind::ElasticIp,
            id,
            ObservedOwnership::Owned,
            Status::Ready,
            attributes,
            outputs,
        ))
    }

    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let filters = vec![filter(
            "tag:Name",
            [desired.spec.name().unwrap_or_default()],
        )];
        let found = pick(
            desired,
            self.describe(&desired.address, filters, Vec::new()).await?,
            |a| a.tags(),
        );
        Ok(found.map(|eip| {
            Self::to_live(
                &desired.address,
                &eip,
                ownership(desired, &tag_map(eip.tags())),
            )
        }))
    }

    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        let placeholder = Address::new(Component::Network, "nat_eip");
        let found = self
            .describe(&placeholder, profile_filters(profile), Vec::new())
            .await?;
        Ok(found
            .iter()
            .filter_map(|a| {
                Some(Self::to_live(
                    &address_of(a.tags())?,
                    a,
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

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        match self
            .0
            .client
            .release_address()
            .allocation_id(&live.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(&live.address, "ec2:ReleaseAddress", e) {
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
                .map(|a| Self::to_live(address, a, live.ownership.clone())))
        })
        .await
    }
}

impl ElasticIpProvider {
    async fn describe(
        &self,
        address: &Address,
        filters: Vec<Filter>,
        ids: Vec<String>,
    ) -> Result<Vec<aws_sdk_ec2::types::Address>, ProviderError> {
        // DescribeAddresses is not paginated: it returns every match at once.
        let output = self
            .0
            .client
            .describe_addresses()
            .set_filters((!filters.is_empty()).then_some(filters))
            .set_allocation_ids((!ids.is_empty()).then_some(ids))
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:DescribeAddresses", e))?;
        Ok(output.addresses().to_vec())
    }

    fn to_live(
        address: &Address,
        eip: &aws_sdk_ec2::types::Address,
        ownership: ObservedOwnership,
    ) -> Live {
        let id = eip.allocation_id().unwrap_or_default();
        let domain = eip.domain().map_or("vpc", |d| d.as_str());
        let attributes = with_tags(Spec::new().with("domain", domain), eip.tags());
        let outputs = outputs(&[("id", Some(id)), ("public_ip", eip.public_ip())]);
        live(
            address,
            ResourceKind::ElasticIp,
            id,
            ownership,
            Status::Ready,
            attributes,
            outputs,
        )
    }
}
