//! The customer-managed ECR pull policy: its document, compared as a policy, new versions
//! within IAM's five, tags.

use super::*;

pub(super) struct PolicyProvider {
    pub(super) client: Client,
    pub(super) sts: aws_sdk_sts::Client,
    /// The partition and account of the caller, which policy ARNs are made of.
    pub(super) account: OnceCell<(String, String)>,
}

impl PolicyProvider {
    async fn arn(&self, address: &Address, name: &str) -> Result<String, ProviderError> {
        let (partition, account) = self
            .account
            .get_or_try_init(|| async {
                let identity = self
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| sdk_error(address, "sts:GetCallerIdentity", e))?;
                let partition = identity
                    .arn()
                    .and_then(|a| a.split(':').nth(1))
                    .unwrap_or("aws")
                    .to_owned();
                let account = identity.account().unwrap_or_default().to_owned();
                Ok::<_, ProviderError>((partition, account))
            })
            .await?;
        Ok(format!("arn:{partition}:iam::{account}:policy/{name}"))
    }

    async fn get(
        &self,
        address: &Address,
        arn: &str,
    ) -> Result<Option<aws_sdk_iam::types::Policy>, ProviderError> {
        match self.client.get_policy().policy_arn(arn).send().await {
            Ok(output) => Ok(output.policy().cloned()),
            Err(e) => match sdk_error(address, "iam:GetPolicy", e) {
                err if is_not_found(&err) => Ok(None),
                err => Err(err),
            },
        }
    }

    async fn tags(
        &self,
        address: &Address,
        policy: &aws_sdk_iam::types::Policy,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        if !policy.tags().is_empty() {
            return Ok(tag_map(policy.tags()));
        }
        // Not every IAM implementation includes tags in GetPolicy.
        let tags = self
            .client
            .list_policy_tags()
            .policy_arn(policy.arn().unwrap_or_default())
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(address, "iam:ListPolicyTags", e))?;
        Ok(tag_map(&tags))
    }

    async fn to_live(
        &self,
        address: &Address,
        policy: &aws_sdk_iam::types::Policy,
        tags: BTreeMap<String, String>,
        ownership: ObservedOwnership,
    ) -> Result<Live, ProviderError> {
        let arn = policy.arn().unwrap_or_default();
        let mut attributes = Spec::new().with("name", policy.policy_name().unwrap_or_default());
        if let Some(version) = policy.default_version_id() {
            let output = self
                .client
                .get_policy_version()
                .policy_arn(arn)
                .version_id(version)
                .send()
                .await
                .map_err(|e| sdk_error(address, "iam:GetPolicyVersion", e))?;
            if let Some(document) = output
                .policy_version()
                .and_then(|v| v.document())
                .and_then(decode_document)
            {
                attributes.insert("document", document);
            }
        }
        attributes.insert("tags", tags_value(tags));
        let outputs: BTreeMap<String, Value> = [
            ("arn".to_owned(), Value::from(arn)),
            (
                "id".to_owned(),
                Value::from(policy.policy_id().unwrap_or_default()),
            ),
            (
                "name".to_owned(),
                Value::from(policy.policy_name().unwrap_or_default()),
            ),
        ]
        .into();
        Ok(Live {
            address: address.clone(),
            kind: ResourceKind::IamPolicy,
            id: arn.to_owned(),
            ownership,
            status: Status::Ready,
            attributes,
            outputs,
        })
    }

    async fn reread(
        &self,
        address: &Address,
        arn: &str,
        ownership: ObservedOwnership,
    ) -> Result<Live, ProviderError> {
        let policy = self
            .get(address, arn)
            .await?
            .ok_or_else(|| ProviderError::NotFound {
                address: address.clone(),
                code: "NoSuchEntity".into(),
                message: format!("policy {arn} no longer exists"),
            })?;
        let tags = self.tags(address, &policy).await?;
        self.to_live(address, &policy, tags, ownership).await
    }

    async fn versions(
        &self,
        address: &Address,
        arn: &str,
    ) -> Result<Vec<aws_sdk_iam::types::PolicyVersion>, ProviderError> {
        self.client
            .list_policy_versions()
            .policy_arn(arn)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(address, "iam:ListPolicyVersions", e))
    }

    async fn delete_version(
        &self,
        address: &Address,
        arn: &str,
        version: &str,
    ) -> Result<(), ProviderError> {
        match self
            .client
            .delete_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(address, "iam:DeletePolicyVersion", e) {
                err if is_not_found(&err) => Ok(()),
                err => Err(err),
            },
        }
    }
}

/// IAM keeps at most five versions of a managed policy.
const MAX_POLICY_VERSIONS: usize = 5;

#[async_trait]
impl ResourceProvider for PolicyProvider {
    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let address = &desired.address;
        let name = desired.spec.name().unwrap_or_default();
        let found = match self.get(address, &self.arn(address, name).await?).await? {
            Some(policy) => Some(policy),
            None => match legacy_name(&desired.spec) {
                Some(legacy) => {
                    self.get(address, &self.arn(address, &legacy).await?)
                        .await?
                }
                None => None,
            },
        };
        let Some(policy) = found else {
            return Ok(None);
        };
        let tags = self.tags(address, &policy).await?;
        let ownership = ObservedOwnership::of_global(desired, &tags);
        if policy.policy_name() != Some(name) && !keeps_legacy_name(&ownership) {
            return Ok(None);
        }
        Ok(Some(self.to_live(address, &policy, tags, ownership).await?))
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        if let Some(live) = resume(self, desired).await? {
            return Ok(live);
        }
        let address = &desired.address;
        let document = desired.spec.get("document").cloned().unwrap_or(Value::Null);
        let output = self
            .client
            .create_policy()
            .policy_name(desired.spec.name().unwrap_or_default())
            .policy_document(value_to_json(address, "document", &document)?)
            .set_tags(Some(iam_tags(address, &desired.spec)?))
            .send()
            .await
            .map_err(|e| sdk_error(address, "iam:CreatePolicy", e));
        let output = match output {
            Ok(output) => output,
            // The SDK retried a create whose first answer was lost: the policy is ours.
            Err(err) => {
                return match (err, resume(self, desired).await?) {
                    (ProviderError::AlreadyExists { .. }, Some(live)) => Ok(live),
                    (err, _) => Err(err),
                };
            }
        };
        let arn = output
            .policy()
            .and_then(|p| p.arn())
            .ok_or_else(|| failed(address, "EmptyResponse", "CreatePolicy returned no policy"))?;
        self.reread(address, arn, ObservedOwnership::Owned).await
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
                "document" => {
                    let mut versions = self.versions(address, &live.id).await?;
                    if versions.len() >= MAX_POLICY_VERSIONS {
                        // Make room by dropping the oldest version that is not in use.
                        versions.retain(|v| !v.is_default_version());
                        versions
                            .sort_by_key(|v| v.create_date().map(|d| d.secs()).unwrap_or_default());
                        if let Some(oldest) = versions.first().and_then(|v| v.version_id()) {
                            self.delete_version(address, &live.id, oldest).await?;
                        }
                    }
                    let document = desired.spec.get("document").cloned().unwrap_or(Value::Null);
                    self.client
                        .create_policy_version()
                        .policy_arn(&live.id)
                        .policy_document(value_to_json(address, "document", &document)?)
                        .set_as_default(true)
                        .send()
                        .await
                        .map_err(|e| sdk_error(address, "iam:CreatePolicyVersion", e))?;
                }
                "tags" => {
                    self.client
                        .tag_policy()
                        .policy_arn(&live.id)
                        .set_tags(Some(iam_tags(address, &desired.spec)?))
                        .send()
                        .await
                        .map_err(|e| sdk_error(address, "iam:TagPolicy", e))?;
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
        self.reread(address, &live.id, live.ownership.clone()).await
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        let address = &live.address;
        if self.get(address, &live.id).await?.is_none() {
            return Ok(());
        }
        for version in self.versions(address, &live.id).await? {
            if !version.is_default_version() {
                if let Some(id) = version.version_id() {
                    self.delete_version(address, &live.id, id).await?;
                }
            }
        }
        // Still attached somewhere (a role outside the stack): IAM answers
        // DeleteConflict, which is reported as "still in use"; nothing is detached here.
        match self
            .client
            .delete_policy()
            .policy_arn(&live.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(address, "iam:DeletePolicy", e) {
                err if is_not_found(&err) => Ok(()),
                err => Err(err),
            },
        }
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        self.reread(&live.address, &live.id, live.ownership.clone())
            .await
    }

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        let mut changes = diff_attributes(desired, live, default_change_class);
        ignore_legacy_name(&mut changes, desired);
        ignore_equivalent_policy(&mut changes, "document");
        changes
    }
}
