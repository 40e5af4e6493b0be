//! The VPC's secondary (pod) CIDR block association (`ResourceKind::VpcCidrAssociation`).
//!
//! Calls: `AssociateVpcCidrBlock`, `DescribeVpcs` (the association is read from its VPC),
//! `DisassociateVpcCidrBlock`.

use async_trait::async_trait;
use aws_sdk_ec2::types::VpcCidrBlockStateCode;

use super::{
    Ec2, absent, adopted_diff, filter, live, once, outputs, unsupported, wait_until_gone,
    wait_until_ready,
};
use crate::provider::aws::sdk_error;
use crate::provider::aws::support::{Backoff, known_str, resume};
use crate::provider::{
    AttributeChange, Live, ObservedOwnership, ProviderError, ResourceProvider, Status,
    default_change_class, diff_attributes,
};
use crate::stack::{
    ADDRESS_TAG, Address, Ownership, PROFILE_TAG, Resource, ResourceKind, Spec, Value,
};

/// The pod CIDR's association with the VPC. AWS cannot tag an association, so it is
/// owned through the stack: the profile says the tool manages it, and it is found by
/// its CIDR in the VPC.
pub(super) struct CidrAssociationProvider(pub(super) Ec2);

#[async_trait]
impl ResourceProvider for CidrAssociationProvider {
    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        if let Some(live) = resume(self, desired).await? {
            return Ok(live);
        }
        let address = &desired.address;
        let vpc_id = known_str(desired.spec.get("vpc_id")).unwrap_or_default();
        let output = self
            .0
            .client
            .associate_vpc_cidr_block()
            .vpc_id(vpc_id)
            .cidr_block(known_str(desired.spec.get("cidr_block")).unwrap_or_default())
            .customize()
            .config_override(once())
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:AssociateVpcCidrBlock", e))?;
        let association = output.cidr_block_association();
        let id = association
            .and_then(|a| a.association_id())
            .unwrap_or_default()
            .to_owned();
        let cidr = association
            .and_then(|a| a.cidr_block())
            .unwrap_or_default()
            .to_owned();
        Ok(Self::to_live(
            address,
            vpc_id,
            (id, Status::InProgress("associating".into()), cidr),
            ObservedOwnership::Owned,
        ))
    }

    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let vpc_id = match desired.spec.get("vpc_id") {
            Some(Value::Str(id)) => id.clone(),
            // Plans read every resource at once, before references are resolved: the
            // VPC the tool creates is found by its ownership tags.
            Some(Value::Ref(vpc)) => match self.owned_vpc(desired, &vpc.address).await? {
                Some(id) => id,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        let cidr = known_str(desired.spec.get("cidr_block"));
        let found = self.find(&desired.address, &vpc_id, cidr, None).await?;
        // Untaggable: a managed association found in the VPC is the one the profile
        // manages (see the type's documentation).
        let ownership = ObservedOwnership::of(desired, desired.profile_tag());
        Ok(found.map(|f| Self::to_live(&desired.address, &vpc_id, f, ownership)))
    }

    async fn update(
        &self,
        desired: &Resource,
        _live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        Err(unsupported(
            &desired.address,
            changes.first().map_or("?", |c| c.attribute.as_str()),
        ))
    }

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        if desired.ownership == Ownership::Adopted {
            return adopted_diff(desired, live, "pod CIDR association");
        }
        diff_attributes(desired, live, default_change_class)
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        match self
            .0
            .client
            .disassociate_vpc_cidr_block()
            .association_id(&live.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(&live.address, "ec2:DisassociateVpcCidrBlock", e) {
                ProviderError::NotFound { .. } => Ok(()),
                err => Err(err),
            },
        }
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        let vpc_id = known_str(live.attributes.get("vpc_id"))
            .unwrap_or_default()
            .to_owned();
        wait_until_ready(&live.address, &live.id, Backoff::FAST, || async {
            let found = self
                .find(&live.address, &vpc_id, None, Some(&live.id))
                .await?;
            Ok(found.map(|f| Self::to_live(&live.address, &vpc_id, f, live.ownership.clone())))
        })
        .await
    }

    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        let vpc_id = known_str(live.attributes.get("vpc_id"))
            .unwrap_or_default()
            .to_owned();
        wait_until_gone(Backoff::FAST, || async {
            // Disassociated associations are skipped by `find`: found means not gone yet.
            Ok(self
                .find(&live.address, &vpc_id, None, Some(&live.id))
                .await?
                .is_some())
        })
        .await
    }
}

impl CidrAssociationProvider {
    async fn find(
        &self,
        address: &Address,
        vpc_id: &str,
        cidr: Option<&str>,
        association: Option<&str>,
    ) -> Result<Option<(String, Status, String)>, ProviderError> {
        let output = match self.0.client.describe_vpcs().vpc_ids(vpc_id).send().await {
            Ok(output) => output,
            Err(e) => {
                return absent::<()>(Err(sdk_error(address, "ec2:DescribeVpcs", e))).map(|_| None);
            }
        };
        let Some(vpc) = output.vpcs().first() else {
            return Ok(None);
        };
        for entry in vpc.cidr_block_association_set() {
            let matches = match association {
                Some(id) => entry.association_id() == Some(id),
                None => entry.cidr_block() == cidr,
            };
            if !matches {
                continue;
            }
            let state = entry.cidr_block_state().and_then(|s| s.state());
            let status = match state {
                Some(VpcCidrBlockStateCode::Associated) => Status::Ready,
                Some(VpcCidrBlockStateCode::Associating) => {
                    Status::InProgress("associating".into())
                }
                Some(VpcCidrBlockStateCode::Disassociating) => {
                    Status::InProgress("disassociating".into())
                }
                Some(VpcCidrBlockStateCode::Failed | VpcCidrBlockStateCode::Failing) => {
                    Status::Failed(
                        entry
                            .cidr_block_state()
                            .and_then(|s| s.status_message())
                            .unwrap_or("association failed")
                            .to_owned(),
                    )
                }
                // Disassociated associations stay listed for a while; they are gone.
                _ => continue,
            };
            return Ok(Some((
                entry.association_id().unwrap_or_default().to_owned(),
                status,
                entry.cidr_block().unwrap_or_default().to_owned(),
            )));
        }
        Ok(None)
    }

    /// Finds the id of the VPC this profile made at `vpc` (its stack address).
    async fn owned_vpc(
        &self,
        desired: &Resource,
        vpc: &Address,
    ) -> Result<Option<String>, ProviderError> {
        let filters = vec![
            filter(
                &format!("tag:{PROFILE_TAG}"),
                [desired.profile_tag().unwrap_or_default()],
            ),
            filter(&format!("tag:{ADDRESS_TAG}"), [vpc.to_string()]),
        ];
        let vpcs = self
            .0
            .client
            .describe_vpcs()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(&desired.address, "ec2:DescribeVpcs", e))?;
        Ok(vpcs.first().and_then(|v| v.vpc_id()).map(str::to_owned))
    }

    fn to_live(
        address: &Address,
        vpc_id: &str,
        found: (String, Status, String),
        ownership: ObservedOwnership,
    ) -> Live {
        let (id, status, cidr) = found;
        let attributes = Spec::new()
            .with("vpc_id", vpc_id)
            .with("cidr_block", cidr.as_str());
        let outputs = outputs(&[("id", Some(&id)), ("cidr_block", Some(&cidr))]);
        live(
            address,
            ResourceKind::VpcCidrAssociation,
            &id,
            ownership,
            status,
            attributes,
            outputs,
        )
    }
}
