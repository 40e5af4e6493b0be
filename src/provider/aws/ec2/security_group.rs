//! Security groups (`ResourceKind::SecurityGroup`) with their IPv4 ingress rules.
//!
//! Calls: `CreateSecurityGroup`, `DescribeSecurityGroups`, `AuthorizeSecurityGroupIngress`,
//! `RevokeSecurityGroupIngress`, `DeleteSecurityGroup`. Rules are compared as sets of
//! permissions, whatever order and grouping AWS returns them in.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, ResourceType};

use super::{
    Ec2, absent, address_of, filter, find_by_tag_then_name, list_of, live, name_filters, once,
    outputs, ownership, pick, profile_filters, tag_map, tag_specification, unsupported,
    wait_until_ready, with_tags,
};
use crate::provider::aws::sdk_error;
use crate::provider::aws::support::{
    Backoff, done_if_absent, done_if_exists, known_str, order_like, resume, strings, vanished,
};
use crate::provider::{
    AttributeChange, Live, Observation, ObservedOwnership, ProviderError, ResourceProvider, Status,
    default_change_class, diff_attributes,
};
use crate::stack::{Address, Component, Resource, ResourceKind, Spec, Value};

/// The provider of [`ResourceKind::SecurityGroup`].
pub(super) struct SecurityGroupProvider(pub(super) Ec2);

/// One IPv4 ingress permission: protocol, ports, source and description. Rules are
/// compared as sets of these, whatever order and grouping AWS returns them in.
type Permission = (String, i64, i64, String, String);

fn permissions_of_spec(ingress: Option<&Value>) -> BTreeSet<Permission> {
    let mut set = BTreeSet::new();
    for rule in list_of(ingress) {
        let Some(rule) = rule.as_map() else { continue };
        let text = |key: &str| {
            rule.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let port = |key: &str| rule.get(key).and_then(Value::as_int).unwrap_or(-1);
        for cidr in strings(rule.get("cidr_blocks")) {
            set.insert((
                text("protocol"),
                port("from_port"),
                port("to_port"),
                cidr,
                text("description"),
            ));
        }
    }
    set
}

fn permissions_of_group(group: &aws_sdk_ec2::types::SecurityGroup) -> BTreeSet<Permission> {
    let mut set = BTreeSet::new();
    for permission in group.ip_permissions() {
        let protocol = permission.ip_protocol().unwrap_or("-1").to_owned();
        let from = i64::from(permission.from_port().unwrap_or(-1));
        let to = i64::from(permission.to_port().unwrap_or(-1));
        for range in permission.ip_ranges() {
            if let Some(cidr) = range.cidr_ip() {
                set.insert((
                    protocol.clone(),
                    from,
                    to,
                    cidr.to_owned(),
                    range.description().unwrap_or_default().to_owned(),
                ));
            }
        }
    }
    set
}

/// Groups permissions back into the spec's rule shape, in the spec's rule order where a
/// rule matches, so an unchanged group reads back exactly as the spec wrote it.
fn ingress_value(permissions: &BTreeSet<Permission>, hint: Option<&Value>) -> Value {
    // A rule: protocol, ports and description, and the CIDRs it lets in.
    type RuleKey = (String, i64, i64, String);
    let mut rules: Vec<(RuleKey, Vec<String>)> = Vec::new();
    for (protocol, from, to, cidr, description) in permissions {
        let key = (protocol.clone(), *from, *to, description.clone());
        match rules.iter_mut().find(|(k, _)| *k == key) {
            Some((_, cidrs)) => cidrs.push(cidr.clone()),
            None => rules.push((key, vec![cidr.clone()])),
        }
    }
    let hints = list_of(hint);
    let hint_key = |rule: &Value| {
        let map = rule.as_map()?;
        Some((
            map.get("protocol")?.as_str()?.to_owned(),
            map.get("from_port")?.as_int()?,
            map.get("to_port")?.as_int()?,
            map.get("description")?.as_str()?.to_owned(),
        ))
    };
    rules.sort_by_key(|(key, _)| {
        hints
            .iter()
            .position(|h| hint_key(h).as_ref() == Some(key))
            .unwrap_or(usize::MAX)
    });
    Value::List(
        rules
            .into_iter()
            .map(|((protocol, from, to, description), cidrs)| {
                let cidr_hint = hints.iter().find(|h| {
                    hint_key(h) == Some((protocol.clone(), from, to, description.clone()))
                });
                let cidr_hint = cidr_hint.and_then(|h| h.as_map()?.get("cidr_blocks"));
                Value::Map(
                    [
                        ("protocol".to_owned(), Value::from(protocol)),
                        ("from_port".to_owned(), Value::Int(from)),
                        ("to_port".to_owned(), Value::Int(to)),
                        ("cidr_blocks".to_owned(), order_like(cidr_hint, cidrs)),
                        ("description".to_owned(), Value::from(description)),
                    ]
                    .into(),
                )
            })
            .collect(),
    )
}

fn ip_permissions(permissions: &BTreeSet<Permission>) -> Vec<IpPermission> {
    permissions
        .iter()
        .map(|(protocol, from, to, cidr, description)| {
            let range = IpRange::builder()
                .cidr_ip(cidr)
                .set_description((!description.is_empty()).then(|| description.clone()))
                .build();
            IpPermission::builder()
                .ip_protocol(protocol)
                .from_port(i32::try_from(*from).unwrap_or(-1))
                .to_port(i32::try_from(*to).unwrap_or(-1))
                .ip_ranges(range)
                .build()
        })
        .collect()
}

#[async_trait]
impl ResourceProvider for SecurityGroupProvider {
    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        if let Some(live) = resume(self, desired).await? {
            return Ok(live);
        }
        let address = &desired.address;
        let spec = &desired.spec;
        let output = self
            .0
            .client
            .create_security_group()
            .group_name(spec.name().unwrap_or_default())
            .description(known_str(spec.get("description")).unwrap_or_default())
            .vpc_id(known_str(spec.get("vpc_id")).unwrap_or_default())
            .tag_specifications(tag_specification(ResourceType::SecurityGroup, spec))
            .customize()
            .config_override(once())
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:CreateSecurityGroup", e))?;
        let id = output.group_id().unwrap_or_default().to_owned();
        self.set_ingress(
            address,
            &id,
            &BTreeSet::new(),
            &permissions_of_spec(spec.get("ingress")),
        )
        .await?;
        self.reread(address, &id, ObservedOwnership::Owned, spec)
            .await
    }

    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let found = pick(
            desired,
            self.describe(
                &desired.address,
                name_filters(desired, "group-name"),
                Vec::new(),
            )
            .await?,
            |g| g.tags(),
        );
        Ok(found.map(|group| {
            Self::to_live(
                &desired.address,
                &group,
                ownership(desired, &tag_map(group.tags())),
                &desired.spec,
            )
        }))
    }

    async fn observe(
        &self,
        desired: &[&Resource],
        profile: &str,
    ) -> Result<Observation, ProviderError> {
        let placeholder = Address::new(Component::Network, "security_group");
        let found = find_by_tag_then_name(
            desired,
            || self.describe(&placeholder, profile_filters(profile), Vec::new()),
            |names, vpc| {
                let mut filters = vec![filter("group-name", names)];
                filters.extend(vpc.map(|vpc| filter("vpc-id", [vpc])));
                self.describe(&placeholder, filters, Vec::new())
            },
            |g| g.tags(),
            |g| g.group_name(),
            |g| g.vpc_id(),
        )
        .await?;
        Ok(Observation {
            found: found
                .desired
                .iter()
                .map(|(d, g)| {
                    Self::to_live(&d.address, g, ownership(d, &tag_map(g.tags())), &d.spec)
                })
                .collect(),
            others: found
                .others
                .iter()
                .map(|(address, g)| {
                    Self::to_live(address, g, ObservedOwnership::Owned, &Spec::new())
                })
                .collect(),
        })
    }

    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        let placeholder = Address::new(Component::Network, "security_group");
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
                    &Spec::new(),
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
        let address = &desired.address;
        for change in changes {
            match change.attribute.as_str() {
                "ingress" => {
                    let current = permissions_of_spec(live.attributes.get("ingress"));
                    self.set_ingress(
                        address,
                        &live.id,
                        &current,
                        &permissions_of_spec(desired.spec.get("ingress")),
                    )
                    .await?;
                }
                "tags" => self.0.put_tags(address, &live.id, &desired.spec).await?,
                other => return Err(unsupported(address, other)),
            }
        }
        self.reread(address, &live.id, live.ownership.clone(), &desired.spec)
            .await
    }

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        let mut changes = diff_attributes(desired, live, default_change_class);
        // The same permissions grouped or ordered differently are no change.
        changes.retain(|c| {
            c.attribute != "ingress"
                || permissions_of_spec(c.before.as_ref())
                    != permissions_of_spec(desired.spec.get("ingress"))
        });
        changes
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        match self
            .0
            .client
            .delete_security_group()
            .group_id(&live.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(&live.address, "ec2:DeleteSecurityGroup", e) {
                ProviderError::NotFound { .. } => Ok(()),
                err => Err(self
                    .0
                    .explain_in_use(err, filter("group-id", [live.id.as_str()]))
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
                .map(|g| Self::to_live(address, g, live.ownership.clone(), &live.attributes)))
        })
        .await
    }
}

impl SecurityGroupProvider {
    async fn describe(
        &self,
        address: &Address,
        filters: Vec<Filter>,
        ids: Vec<String>,
    ) -> Result<Vec<aws_sdk_ec2::types::SecurityGroup>, ProviderError> {
        self.0
            .client
            .describe_security_groups()
            .set_filters((!filters.is_empty()).then_some(filters))
            .set_group_ids((!ids.is_empty()).then_some(ids))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(address, "ec2:DescribeSecurityGroups", e))
    }

    fn to_live(
        address: &Address,
        group: &aws_sdk_ec2::types::SecurityGroup,
        ownership: ObservedOwnership,
        hint: &Spec,
    ) -> Live {
        let id = group.group_id().unwrap_or_default();
        let mut attributes = Spec::new()
            .with("vpc_id", group.vpc_id().unwrap_or_default())
            .with("description", group.description().unwrap_or_default())
            .with(
                "ingress",
                ingress_value(&permissions_of_group(group), hint.get("ingress")),
            );
        attributes = with_tags(attributes, group.tags());
        // A security group has a real name; the Name tag only mirrors it.
        attributes.insert("name", group.group_name().unwrap_or_default());
        let outputs = outputs(&[("id", Some(id)), ("arn", group.security_group_arn())]);
        live(
            address,
            ResourceKind::SecurityGroup,
            id,
            ownership,
            Status::Ready,
            attributes,
            outputs,
        )
    }

    async fn set_ingress(
        &self,
        address: &Address,
        id: &str,
        current: &BTreeSet<Permission>,
        wanted: &BTreeSet<Permission>,
    ) -> Result<(), ProviderError> {
        // One permission per call: a batch fails as a whole when one of its permissions
        // exists already, which a retried or resumed change may meet.
        for permission in ip_permissions(&wanted.difference(current).cloned().collect()) {
            let added = self
                .0
                .client
                .authorize_security_group_ingress()
                .group_id(id)
                .ip_permissions(permission)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_error(address, "ec2:AuthorizeSecurityGroupIngress", e));
            done_if_exists(added)?;
        }
        for permission in ip_permissions(&current.difference(wanted).cloned().collect()) {
            let removed = self
                .0
                .client
                .revoke_security_group_ingress()
                .group_id(id)
                .ip_permissions(permission)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_error(address, "ec2:RevokeSecurityGroupIngress", e));
            done_if_absent(removed)?;
        }
        Ok(())
    }

    async fn reread(
        &self,
        address: &Address,
        id: &str,
        ownership: ObservedOwnership,
        hint: &Spec,
    ) -> Result<Live, ProviderError> {
        let groups = self
            .describe(address, Vec::new(), vec![id.to_owned()])
            .await?;
        let group = groups.first().ok_or_else(|| vanished(address, id))?;
        Ok(Self::to_live(address, group, ownership, hint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_reads_back_in_the_spec_shape_whatever_the_grouping() {
        let spec = Value::List(vec![Value::Map(
            [
                ("protocol".to_owned(), Value::from("tcp")),
                ("from_port".to_owned(), Value::Int(443)),
                ("to_port".to_owned(), Value::Int(443)),
                (
                    "cidr_blocks".to_owned(),
                    Value::strings(["10.0.0.0/16", "10.100.0.0/16"]),
                ),
                ("description".to_owned(), Value::from("HTTPS")),
            ]
            .into(),
        )]);
        let wanted = permissions_of_spec(Some(&spec));
        assert_eq!(wanted.len(), 2);
        assert_eq!(ingress_value(&wanted, Some(&spec)), spec);
        let permissions = ip_permissions(&wanted);
        assert_eq!(permissions.len(), 2);
        assert_eq!(permissions[0].ip_ranges()[0].description(), Some("HTTPS"));
    }
}
