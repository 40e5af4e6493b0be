//! The node groups' launch templates (`ResourceKind::LaunchTemplate`).
//!
//! Calls: `CreateLaunchTemplate`, `DescribeLaunchTemplates`,
//! `DescribeLaunchTemplateVersions`, `CreateLaunchTemplateVersion` and
//! `ModifyLaunchTemplate` (a change is a new default version), `DeleteLaunchTemplate`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateInstanceMetadataEndpointState,
    LaunchTemplateInstanceMetadataOptionsRequest, RequestLaunchTemplateData, ResourceType,
};

use super::{
    Ec2, address_of, filter, find_by_tag_then_name, list_of, live, outputs, ownership, pick,
    profile_filters, tag_map, tag_specification, unsupported, with_tags,
};
use crate::provider::aws::sdk_error;
use crate::provider::aws::support::{
    client_token, client_token_of, ignore_order, known_str, order_like, own_or, strings, vanished,
};
use crate::provider::{
    AttributeChange, Live, Observation, ObservedOwnership, ProviderError, ResourceProvider, Status,
    default_change_class, diff_attributes,
};
use crate::stack::{Address, Component, Resource, ResourceKind, Spec, Value};

/// The provider of [`ResourceKind::LaunchTemplate`].
pub(super) struct LaunchTemplateProvider(pub(super) Ec2);

/// The attributes that live in a launch template version, not on the template.
const TEMPLATE_DATA: [&str; 4] = [
    "block_device_mappings",
    "security_group_ids",
    "metadata_options",
    "user_data",
];

fn template_data(
    address: &Address,
    spec: &Spec,
) -> Result<RequestLaunchTemplateData, ProviderError> {
    let mut data = RequestLaunchTemplateData::builder();
    for mapping in list_of(spec.get("block_device_mappings")) {
        let Some(m) = mapping.as_map() else { continue };
        let int = |k: &str| {
            m.get(k)
                .and_then(Value::as_int)
                .and_then(|i| i32::try_from(i).ok())
        };
        let flag = |k: &str| m.get(k).and_then(Value::as_bool);
        let ebs = LaunchTemplateEbsBlockDeviceRequest::builder()
            .set_volume_size(int("volume_size"))
            .set_volume_type(m.get("volume_type").and_then(Value::as_str).map(Into::into))
            .set_encrypted(flag("encrypted"))
            .set_delete_on_termination(flag("delete_on_termination"))
            .build();
        data = data.block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .set_device_name(
                    m.get("device_name")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                )
                .ebs(ebs)
                .build(),
        );
    }
    let groups = strings(spec.get("security_group_ids"));
    if matches!(spec.get("security_group_ids"), Some(v) if !v.is_known()) {
        return Err(ProviderError::rejected(
            address,
            "UnresolvedReference",
            "security_group_ids still refer to other resources",
        ));
    }
    data = data.set_security_group_ids((!groups.is_empty()).then_some(groups));
    if let Some(options) = spec.get("metadata_options").and_then(Value::as_map) {
        let tokens = options
            .get("http_tokens")
            .and_then(Value::as_str)
            .map(LaunchTemplateHttpTokensState::from);
        let hops = options
            .get("http_put_response_hop_limit")
            .and_then(Value::as_int)
            .and_then(|i| i32::try_from(i).ok());
        data = data.metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                .set_http_tokens(tokens)
                .set_http_put_response_hop_limit(hops)
                .build(),
        );
    }
    if let Some(user_data) = known_str(spec.get("user_data")) {
        data = data.user_data(aws_smithy_types::base64::encode(user_data));
    }
    Ok(data.build())
}

fn template_attributes(version: &aws_sdk_ec2::types::LaunchTemplateVersion, hint: &Spec) -> Spec {
    let mut attributes = Spec::new();
    let Some(data) = version.launch_template_data() else {
        return attributes;
    };
    let mappings: Vec<Value> = data
        .block_device_mappings()
        .iter()
        .map(|m| {
            let mut map = BTreeMap::new();
            if let Some(name) = m.device_name() {
                map.insert("device_name".to_owned(), Value::from(name));
            }
            if let Some(ebs) = m.ebs() {
                if let Some(size) = ebs.volume_size() {
                    map.insert("volume_size".to_owned(), Value::Int(i64::from(size)));
                }
                if let Some(kind) = ebs.volume_type() {
                    map.insert("volume_type".to_owned(), Value::from(kind.as_str()));
                }
                if let Some(encrypted) = ebs.encrypted() {
                    map.insert("encrypted".to_owned(), Value::Bool(encrypted));
                }
                if let Some(delete) = ebs.delete_on_termination() {
                    map.insert("delete_on_termination".to_owned(), Value::Bool(delete));
                }
            }
            Value::Map(map)
        })
        .collect();
    attributes.insert("block_device_mappings", Value::List(mappings));
    attributes.insert(
        "security_group_ids",
        order_like(
            hint.get("security_group_ids"),
            data.security_group_ids().to_vec(),
        ),
    );
    if let Some(options) = data.metadata_options() {
        let mut map = BTreeMap::new();
        if let Some(tokens) = options.http_tokens() {
            map.insert("http_tokens".to_owned(), Value::from(tokens.as_str()));
        }
        if let Some(hops) = options.http_put_response_hop_limit() {
            map.insert(
                "http_put_response_hop_limit".to_owned(),
                Value::Int(i64::from(hops)),
            );
        }
        attributes.insert("metadata_options", Value::Map(map));
    }
    if let Some(encoded) = data.user_data() {
        // Compared as the text the spec holds; undecodable data shows as a change.
        let text = aws_smithy_types::base64::decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        attributes.insert("user_data", text.unwrap_or_else(|| encoded.to_owned()));
    }
    attributes
}

#[async_trait]
impl ResourceProvider for LaunchTemplateProvider {
    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let output = self
            .0
            .client
            .create_launch_template()
            .launch_template_name(desired.spec.name().unwrap_or_default())
            .launch_template_data(template_data(address, &desired.spec)?)
            .client_token(client_token(desired))
            .tag_specifications(tag_specification(
                ResourceType::LaunchTemplate,
                &desired.spec,
            ))
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:CreateLaunchTemplate", e));
        let output = match output {
            Ok(output) => output,
            Err(err) => return own_or(self, desired, err).await,
        };
        let id = output
            .launch_template()
            .and_then(|t| t.launch_template_id())
            .unwrap_or_default()
            .to_owned();
        self.reread(address, &id, ObservedOwnership::Owned, &desired.spec)
            .await
    }

    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let filters = vec![filter(
            "launch-template-name",
            [desired.spec.name().unwrap_or_default()],
        )];
        let found = pick(
            desired,
            self.describe(&desired.address, filters, Vec::new()).await?,
            |t| t.tags(),
        );
        match found {
            Some(template) => {
                let ownership = ownership(desired, &tag_map(template.tags()));
                Ok(Some(
                    self.to_live(&desired.address, &template, ownership, &desired.spec)
                        .await?,
                ))
            }
            None => Ok(None),
        }
    }

    /// Finds the templates as [`find_by_tag_then_name`] does, then reads the latest
    /// version of each found, all at once.
    async fn observe(
        &self,
        desired: &[&Resource],
        profile: &str,
    ) -> Result<Observation, ProviderError> {
        let placeholder = Address::new(Component::Eks, "launch_template");
        let found = find_by_tag_then_name(
            desired,
            || self.describe(&placeholder, profile_filters(profile), Vec::new()),
            |names, _| {
                self.describe(
                    &placeholder,
                    vec![filter("launch-template-name", names)],
                    Vec::new(),
                )
            },
            |t| t.tags(),
            |t| t.launch_template_name(),
            |_| None,
        )
        .await?;
        let no_hint = Spec::new();
        let (found, others) = futures::join!(
            futures::future::join_all(found.desired.iter().map(|(d, template)| {
                let ownership = ownership(d, &tag_map(template.tags()));
                self.to_live(&d.address, template, ownership, &d.spec)
            })),
            futures::future::join_all(found.others.iter().map(|(address, template)| {
                self.to_live(address, template, ObservedOwnership::Owned, &no_hint)
            }))
        );
        Ok(Observation {
            found: found.into_iter().collect::<Result<_, _>>()?,
            others: others.into_iter().collect::<Result<_, _>>()?,
        })
    }

    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        let placeholder = Address::new(Component::Eks, "launch_template");
        let mut lives = Vec::new();
        for template in self
            .describe(&placeholder, profile_filters(profile), Vec::new())
            .await?
        {
            if let Some(address) = address_of(template.tags()) {
                lives.push(
                    self.to_live(&address, &template, ObservedOwnership::Owned, &Spec::new())
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
        let address = &desired.address;
        if changes
            .iter()
            .any(|c| TEMPLATE_DATA.contains(&c.attribute.as_str()))
        {
            // A new version that becomes the default; node groups move to it through
            // their `launch_template.version`, which refers to `latest_version`.
            let output = self
                .0
                .client
                .create_launch_template_version()
                .launch_template_id(&live.id)
                .launch_template_data(template_data(address, &desired.spec)?)
                .client_token(client_token_of(desired, "version"))
                .send()
                .await
                .map_err(|e| sdk_error(address, "ec2:CreateLaunchTemplateVersion", e))?;
            let version = output
                .launch_template_version()
                .and_then(|v| v.version_number())
                .unwrap_or_default();
            self.0
                .client
                .modify_launch_template()
                .launch_template_id(&live.id)
                .default_version(version.to_string())
                .send()
                .await
                .map_err(|e| sdk_error(address, "ec2:ModifyLaunchTemplate", e))?;
        }
        for change in changes {
            match change.attribute.as_str() {
                "tags" => self.0.put_tags(address, &live.id, &desired.spec).await?,
                attribute if TEMPLATE_DATA.contains(&attribute) => {}
                other => return Err(unsupported(address, other)),
            }
        }
        self.reread(address, &live.id, live.ownership.clone(), &desired.spec)
            .await
    }

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        let mut changes = diff_attributes(desired, live, default_change_class);
        ignore_order(&mut changes, &["security_group_ids"]);
        changes
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        match self
            .0
            .client
            .delete_launch_template()
            .launch_template_id(&live.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(&live.address, "ec2:DeleteLaunchTemplate", e) {
                ProviderError::NotFound { .. } => Ok(()),
                err => Err(err),
            },
        }
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        self.reread(
            &live.address,
            &live.id,
            live.ownership.clone(),
            &live.attributes,
        )
        .await
    }
}

impl LaunchTemplateProvider {
    async fn describe(
        &self,
        address: &Address,
        filters: Vec<Filter>,
        ids: Vec<String>,
    ) -> Result<Vec<aws_sdk_ec2::types::LaunchTemplate>, ProviderError> {
        self.0
            .client
            .describe_launch_templates()
            .set_filters((!filters.is_empty()).then_some(filters))
            .set_launch_template_ids((!ids.is_empty()).then_some(ids))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(address, "ec2:DescribeLaunchTemplates", e))
    }

    async fn to_live(
        &self,
        address: &Address,
        template: &aws_sdk_ec2::types::LaunchTemplate,
        ownership: ObservedOwnership,
        hint: &Spec,
    ) -> Result<Live, ProviderError> {
        let id = template.launch_template_id().unwrap_or_default();
        let latest = template.latest_version_number().unwrap_or(1);
        let output = self
            .0
            .client
            .describe_launch_template_versions()
            .launch_template_id(id)
            .versions(latest.to_string())
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:DescribeLaunchTemplateVersions", e))?;
        let mut attributes = match output.launch_template_versions().first() {
            Some(version) => template_attributes(version, hint),
            None => Spec::new(),
        };
        attributes = with_tags(attributes, template.tags());
        attributes.insert("name", template.launch_template_name().unwrap_or_default());
        let latest = latest.to_string();
        let outputs = outputs(&[
            ("id", Some(id)),
            ("name", template.launch_template_name()),
            // A string, as node groups take it.
            ("latest_version", Some(&latest)),
        ]);
        Ok(live(
            address,
            ResourceKind::LaunchTemplate,
            id,
            ownership,
            Status::Ready,
            attributes,
            outputs,
        ))
    }

    async fn reread(
        &self,
        address: &Address,
        id: &str,
        ownership: ObservedOwnership,
        hint: &Spec,
    ) -> Result<Live, ProviderError> {
        let templates = self
            .describe(address, Vec::new(), vec![id.to_owned()])
            .await?;
        let template = templates.first().ok_or_else(|| vanished(address, id))?;
        self.to_live(address, template, ownership, hint).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::Component;

    #[test]
    fn template_data_encodes_user_data_and_reads_back() {
        let address = Address::keyed(Component::Eks, "launch_template", "node-1");
        let spec = Spec::new()
            .with("user_data", "MIME-Version: 1.0\n")
            .with("security_group_ids", Value::strings(["sg-1", "sg-2"]))
            .with(
                "metadata_options",
                Value::Map(
                    [
                        ("http_tokens".to_owned(), Value::from("required")),
                        ("http_put_response_hop_limit".to_owned(), Value::Int(2)),
                    ]
                    .into(),
                ),
            );
        let data = template_data(&address, &spec).unwrap();
        assert_eq!(data.user_data(), Some("TUlNRS1WZXJzaW9uOiAxLjAK"));
        let unresolved = Spec::new().with(
            "security_group_ids",
            Value::List(vec![Value::output(&address, "id")]),
        );
        assert_eq!(
            template_data(&address, &unresolved).unwrap_err().code(),
            "UnresolvedReference"
        );
    }
}
