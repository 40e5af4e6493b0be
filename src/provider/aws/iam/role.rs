//! The EKS cluster and node roles: trust policy, attached managed policies, tags; kept
//! under the name of a release before 0.2 where this stack uses it.

use super::*;

pub(super) struct RoleProvider {
    pub(super) client: Client,
}

impl RoleProvider {
    async fn get(
        &self,
        address: &Address,
        name: &str,
    ) -> Result<Option<aws_sdk_iam::types::Role>, ProviderError> {
        match self.client.get_role().role_name(name).send().await {
            Ok(output) => Ok(output.role().cloned()),
            Err(e) => match sdk_error(address, "iam:GetRole", e) {
                err if is_not_found(&err) => Ok(None),
                err => Err(err),
            },
        }
    }

    async fn attached(&self, address: &Address, name: &str) -> Result<Vec<String>, ProviderError> {
        let policies = self
            .client
            .list_attached_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(address, "iam:ListAttachedRolePolicies", e))?;
        Ok(policies
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_owned))
            .collect())
    }

    async fn to_live(
        &self,
        address: &Address,
        role: &aws_sdk_iam::types::Role,
        ownership: ObservedOwnership,
        hint: &Spec,
    ) -> Result<Live, ProviderError> {
        let name = role.role_name();
        let mut attributes = Spec::new().with("name", name);
        if let Some(document) = role.assume_role_policy_document().and_then(decode_document) {
            attributes.insert("assume_role_policy", document);
        }
        let attached = self.attached(address, name).await?;
        attributes.insert(
            "managed_policy_arns",
            order_like(hint.get("managed_policy_arns"), attached),
        );
        attributes.insert("tags", tags_value(tag_map(role.tags())));
        let outputs: BTreeMap<String, Value> = [
            ("arn".to_owned(), Value::from(role.arn())),
            ("id".to_owned(), Value::from(role.role_id())),
            ("name".to_owned(), Value::from(name)),
        ]
        .into();
        Ok(Live {
            address: address.clone(),
            kind: ResourceKind::IamRole,
            id: name.to_owned(),
            ownership,
            status: Status::Ready,
            attributes,
            outputs,
        })
    }

    async fn reread(
        &self,
        address: &Address,
        name: &str,
        ownership: ObservedOwnership,
        hint: &Spec,
    ) -> Result<Live, ProviderError> {
        let role = self
            .get(address, name)
            .await?
            .ok_or_else(|| ProviderError::NotFound {
                address: address.clone(),
                code: "NoSuchEntity".into(),
                message: format!("role {name} no longer exists"),
            })?;
        self.to_live(address, &role, ownership, hint).await
    }

    async fn set_policies(
        &self,
        address: &Address,
        name: &str,
        current: &[String],
        wanted: &[String],
    ) -> Result<(), ProviderError> {
        for arn in wanted.iter().filter(|a| !current.contains(a)) {
            self.client
                .attach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| sdk_error(address, "iam:AttachRolePolicy", e))?;
        }
        for arn in current.iter().filter(|a| !wanted.contains(a)) {
            match self
                .client
                .detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) => match sdk_error(address, "iam:DetachRolePolicy", e) {
                    err if is_not_found(&err) => {}
                    err => return Err(err),
                },
            }
        }
        Ok(())
    }
}

fn policy_arns(address: &Address, spec: &Spec) -> Result<Vec<String>, ProviderError> {
    match spec.get("managed_policy_arns") {
        Some(value) if !value.is_known() => Err(ProviderError::rejected(
            address,
            "UnresolvedReference",
            "managed_policy_arns still refer to another resource's output",
        )),
        value => Ok(strings(value)),
    }
}

#[async_trait]
impl ResourceProvider for RoleProvider {
    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let address = &desired.address;
        let name = desired.spec.name().unwrap_or_default();
        let found = match self.get(address, name).await? {
            Some(role) => Some(role),
            None => match legacy_name(&desired.spec) {
                Some(legacy) => self.get(address, &legacy).await?,
                None => None,
            },
        };
        let Some(role) = found else {
            return Ok(None);
        };
        let ownership = ObservedOwnership::of_global(desired, &tag_map(role.tags()));
        if role.role_name() != name && !keeps_legacy_name(&ownership) {
            return Ok(None);
        }
        Ok(Some(
            self.to_live(address, &role, ownership, &desired.spec)
                .await?,
        ))
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        if let Some(live) = resume(self, desired).await? {
            return Ok(live);
        }
        let address = &desired.address;
        let name = desired.spec.name().unwrap_or_default();
        let trust = desired
            .spec
            .get("assume_role_policy")
            .cloned()
            .unwrap_or(Value::Null);
        let arns = policy_arns(address, &desired.spec)?;
        let created = self
            .client
            .create_role()
            .role_name(name)
            .assume_role_policy_document(value_to_json(address, "assume_role_policy", &trust)?)
            .set_tags(Some(iam_tags(address, &desired.spec)?))
            .send()
            .await
            .map_err(|e| sdk_error(address, "iam:CreateRole", e));
        if let Err(err) = created {
            // The SDK retried a create whose first answer was lost: the role is ours.
            return match (err, resume(self, desired).await?) {
                (ProviderError::AlreadyExists { .. }, Some(live)) => Ok(live),
                (err, _) => Err(err),
            };
        }
        self.set_policies(address, name, &[], &arns).await?;
        self.reread(address, name, ObservedOwnership::Owned, &desired.spec)
            .await
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
                "assume_role_policy" => {
                    let trust = desired
                        .spec
                        .get("assume_role_policy")
                        .cloned()
                        .unwrap_or(Value::Null);
                    self.client
                        .update_assume_role_policy()
                        .role_name(&live.id)
                        .policy_document(value_to_json(address, "assume_role_policy", &trust)?)
                        .send()
                        .await
                        .map_err(|e| sdk_error(address, "iam:UpdateAssumeRolePolicy", e))?;
                }
                "managed_policy_arns" => {
                    let current = strings(live.attributes.get("managed_policy_arns"));
                    self.set_policies(
                        address,
                        &live.id,
                        &current,
                        &policy_arns(address, &desired.spec)?,
                    )
                    .await?;
                }
                "tags" => {
                    self.client
                        .tag_role()
                        .role_name(&live.id)
                        .set_tags(Some(iam_tags(address, &desired.spec)?))
                        .send()
                        .await
                        .map_err(|e| sdk_error(address, "iam:TagRole", e))?;
                }
                other => {
                    return Err(ProviderError::rejected(
                        address,
                        "UnsupportedChange",
                        format!("{other} cannot be changed in place"),
                    ));
                }
            }
        }
        self.reread(address, &live.id, live.ownership.clone(), &desired.spec)
            .await
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        let address = &live.address;
        let name = live.id.as_str();
        if self.get(address, name).await?.is_none() {
            return Ok(());
        }
        // IAM refuses to delete a role that still has policies or instance profiles.
        let attached = self.attached(address, name).await?;
        self.set_policies(address, name, &attached, &[]).await?;
        let inline = self
            .client
            .list_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(address, "iam:ListRolePolicies", e))?;
        for policy in inline {
            self.client
                .delete_role_policy()
                .role_name(name)
                .policy_name(policy)
                .send()
                .await
                .map_err(|e| sdk_error(address, "iam:DeleteRolePolicy", e))?;
        }
        let profiles = self
            .client
            .list_instance_profiles_for_role()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(address, "iam:ListInstanceProfilesForRole", e))?;
        for profile in profiles {
            self.client
                .remove_role_from_instance_profile()
                .role_name(name)
                .instance_profile_name(profile.instance_profile_name())
                .send()
                .await
                .map_err(|e| sdk_error(address, "iam:RemoveRoleFromInstanceProfile", e))?;
        }
        match self.client.delete_role().role_name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(address, "iam:DeleteRole", e) {
                err if is_not_found(&err) => Ok(()),
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

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        let mut changes = diff_attributes(desired, live, default_change_class);
        ignore_legacy_name(&mut changes, desired);
        ignore_equivalent_policy(&mut changes, "assume_role_policy");
        ignore_order(&mut changes, &["managed_policy_arns"]);
        changes
    }
}
