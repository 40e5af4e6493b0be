//! ECR repositories: scan on push, tag mutability, encryption and the lifecycle policy.
//!
//! The lifecycle policy is compared as parsed JSON, so the way ECR stores the text
//! (spacing, key order) never shows as a change. `down` refuses a repository that
//! still holds images unless the teardown options allow deleting them with it.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability,
    Repository, Tag,
};
use futures::stream::{self, StreamExt};

use super::options::{ProviderOptions, TeardownOptions};
use super::support::parse_json;
use super::{sdk_error, spec_tags, tags_value};
use crate::provider::{
    AttributeChange, ChangeClass, Live, Observation, ObservedOwnership, ProviderError, Providers,
    ResourceProvider, Status,
};
use crate::stack::{
    ADDRESS_TAG, Address, Component, PROFILE_TAG, Resource, ResourceKind, Spec, Value,
};

/// How many repositories `observe` reads at once (three calls each).
const LIST_CONCURRENCY: usize = 8;

/// Registers the ECR provider.
pub fn register(
    providers: &mut Providers,
    config: &aws_config::SdkConfig,
    options: &ProviderOptions,
) {
    let provider = EcrProvider::new(Client::new(config), options.teardown.clone());
    providers.insert(ResourceKind::EcrRepository, Arc::new(provider));
}

/// The name of the repository `desired` describes.
fn repository_name(desired: &Resource) -> &str {
    desired
        .spec
        .name()
        .unwrap_or_else(|| desired.address.key().unwrap_or_default())
}

/// A repository `observe` read in full.
enum Seen {
    /// One of the desired repositories.
    Desired(Live),
    /// One the profile owns at another address.
    Other(Live),
}

/// The ECR side of the provider boundary.
pub struct EcrProvider {
    client: Client,
    teardown: TeardownOptions,
}

impl EcrProvider {
    pub fn new(client: Client, teardown: TeardownOptions) -> Self {
        Self { client, teardown }
    }

    async fn describe(
        &self,
        address: &Address,
        name: &str,
    ) -> Result<Option<Repository>, ProviderError> {
        let result = self
            .client
            .describe_repositories()
            .repository_names(name)
            .send()
            .await
            .map_err(|e| sdk_error(address, "ecr:DescribeRepositories", e));
        match result {
            Ok(output) => Ok(output.repositories().first().cloned()),
            Err(ProviderError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Reads everything about `repository` that the spec names, plus its outputs, given
    /// its tags (which the caller has read already, to know whose it is).
    async fn live_of(
        &self,
        address: &Address,
        repository: &Repository,
        tags: BTreeMap<String, String>,
        ownership: impl FnOnce(Option<&str>) -> ObservedOwnership,
    ) -> Result<Live, ProviderError> {
        let name = repository.repository_name().unwrap_or_default().to_owned();
        let arn = repository.repository_arn().unwrap_or_default().to_owned();
        // Side by side: each is a round trip, and a plan waits for the slowest repository.
        let (lifecycle, holds_images) = futures::try_join!(
            self.lifecycle_policy(address, &name),
            self.holds_images(address, &name)
        )?;
        let attributes = Spec::new()
            .with("name", name.as_str())
            .with(
                "image_tag_mutability",
                repository
                    .image_tag_mutability()
                    .map_or("MUTABLE", ImageTagMutability::as_str),
            )
            .with(
                "scan_on_push",
                repository
                    .image_scanning_configuration()
                    .is_some_and(ImageScanningConfiguration::scan_on_push),
            )
            .with(
                "encryption_type",
                repository
                    .encryption_configuration()
                    .map_or("AES256", |e| e.encryption_type().as_str()),
            )
            .with("lifecycle_policy", lifecycle)
            .with("tags", tags_value(tags.clone()));
        let mut outputs = BTreeMap::from([
            ("id".to_owned(), Value::from(name.as_str())),
            ("arn".to_owned(), Value::from(arn)),
            ("holds_images".to_owned(), Value::Bool(holds_images)),
        ]);
        if let Some(uri) = repository.repository_uri() {
            outputs.insert("repository_uri".to_owned(), uri.into());
        }
        if let Some(registry) = repository.registry_id() {
            outputs.insert("registry_id".to_owned(), registry.into());
        }
        Ok(Live {
            address: address.clone(),
            kind: ResourceKind::EcrRepository,
            id: name,
            ownership: ownership(tags.get(PROFILE_TAG).map(String::as_str)),
            status: Status::Ready,
            attributes,
            outputs,
        })
    }

    async fn tags_of(
        &self,
        address: &Address,
        arn: &str,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        let output = self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| sdk_error(address, "ecr:ListTagsForResource", e))?;
        Ok(output
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect())
    }

    /// Returns the lifecycle policy as a value, or `Null` when there is none.
    async fn lifecycle_policy(
        &self,
        address: &Address,
        name: &str,
    ) -> Result<Value, ProviderError> {
        let result = self
            .client
            .get_lifecycle_policy()
            .repository_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(address, "ecr:GetLifecyclePolicy", e));
        let text = match result {
            Ok(output) => output
                .lifecycle_policy_text()
                .unwrap_or_default()
                .to_owned(),
            // LifecyclePolicyNotFoundException: no policy yet.
            Err(ProviderError::NotFound { .. }) => return Ok(Value::Null),
            Err(err) => return Err(err),
        };
        // Not JSON: keep the text, which differs from any desired policy.
        Ok(parse_json(&text).unwrap_or_else(|| Value::from(text)))
    }

    async fn holds_images(&self, address: &Address, name: &str) -> Result<bool, ProviderError> {
        let output = self
            .client
            .list_images()
            .repository_name(name)
            .max_results(1)
            .send()
            .await
            .map_err(|e| sdk_error(address, "ecr:ListImages", e))?;
        Ok(!output.image_ids().is_empty())
    }

    async fn put_lifecycle_policy(
        &self,
        address: &Address,
        name: &str,
        policy: &Value,
    ) -> Result<(), ProviderError> {
        if *policy == Value::Null {
            return Ok(());
        }
        let text = to_json(policy)
            .map(|json| json.to_string())
            .map_err(|what| ProviderError::rejected(address, "InvalidLifecyclePolicy", what))?;
        self.client
            .put_lifecycle_policy()
            .repository_name(name)
            .lifecycle_policy_text(text)
            .send()
            .await
            .map_err(|e| sdk_error(address, "ecr:PutLifecyclePolicy", e))?;
        Ok(())
    }

    /// Reads `repository` in full when it is one of `desired` or the profile owns it
    /// (tags read once and handed on).
    async fn observe_one(
        &self,
        placeholder: &Address,
        repository: &Repository,
        desired: &[&Resource],
        profile: &str,
    ) -> Result<Option<Seen>, ProviderError> {
        let name = repository.repository_name().unwrap_or_default();
        let arn = repository.repository_arn().unwrap_or_default();
        let wanted = desired.iter().find(|d| repository_name(d) == name);
        let tags = self
            .tags_of(wanted.map_or(placeholder, |d| &d.address), arn)
            .await?;
        if let Some(wanted) = wanted {
            let live = self
                .live_of(&wanted.address, repository, tags, |tag| {
                    ObservedOwnership::of(wanted, tag)
                })
                .await?;
            return Ok(Some(Seen::Desired(live)));
        }
        if tags.get(PROFILE_TAG).map(String::as_str) != Some(profile) {
            return Ok(None);
        }
        let Some(address) = tags
            .get(ADDRESS_TAG)
            .and_then(|a| a.parse::<Address>().ok())
        else {
            return Ok(None);
        };
        let live = self
            .live_of(&address, repository, tags, |_| ObservedOwnership::Owned)
            .await?;
        Ok(Some(Seen::Other(live)))
    }

    async fn reread(
        &self,
        address: &Address,
        name: &str,
        ownership: ObservedOwnership,
    ) -> Result<Live, ProviderError> {
        let repository =
            self.describe(address, name)
                .await?
                .ok_or_else(|| ProviderError::NotFound {
                    address: address.clone(),
                    code: "RepositoryNotFoundException".to_owned(),
                    message: format!("repository {name} disappeared while it was being changed"),
                })?;
        let tags = self
            .tags_of(address, repository.repository_arn().unwrap_or_default())
            .await?;
        self.live_of(address, &repository, tags, |_| ownership)
            .await
    }
}

#[async_trait]
impl ResourceProvider for EcrProvider {
    fn deletion_refusal(&self, live: &Live) -> Option<String> {
        deletion_refusal(live, &self.teardown).map(|err| err.to_string())
    }

    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let address = &desired.address;
        let Some(repository) = self.describe(address, repository_name(desired)).await? else {
            return Ok(None);
        };
        let tags = self
            .tags_of(address, repository.repository_arn().unwrap_or_default())
            .await?;
        self.live_of(address, &repository, tags, |tag| {
            ObservedOwnership::of(desired, tag)
        })
        .await
        .map(Some)
    }

    /// Finds the profile's repositories by their ownership tag, so that one removed
    /// from the profile is found and planned for deletion.
    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        Ok(self.observe(&[], profile).await?.others)
    }

    /// Lists the registry's repositories once (ECR filters neither by tag nor by names
    /// that may not exist) and reads each one's tags, a few at a time: a desired
    /// repository is read in full under its address, one the profile owns elsewhere
    /// under the address its tags record, and the rest no further.
    async fn observe(
        &self,
        desired: &[&Resource],
        profile: &str,
    ) -> Result<Observation, ProviderError> {
        let placeholder = Address::new(Component::Ecr, "repository");
        let mut observation = Observation::default();
        let mut token = None;
        loop {
            let output = self
                .client
                .describe_repositories()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| sdk_error(&placeholder, "ecr:DescribeRepositories", e))?;
            // (The futures are made first: a closure inside the stream would be generic
            // over the repository's lifetime, which async_trait's `Send` check rejects.)
            let lookups: Vec<_> = output
                .repositories()
                .iter()
                .map(|repository| self.observe_one(&placeholder, repository, desired, profile))
                .collect();
            let page: Vec<Result<Option<Seen>, ProviderError>> = stream::iter(lookups)
                .buffered(LIST_CONCURRENCY)
                .collect()
                .await;
            for seen in page {
                match seen? {
                    Some(Seen::Desired(live)) => observation.found.push(live),
                    Some(Seen::Other(live)) => observation.others.push(live),
                    None => {}
                }
            }
            token = output.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(observation);
            }
        }
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let spec = &desired.spec;
        let name = spec.name().ok_or_else(|| {
            ProviderError::rejected(address, "NoName", "a repository needs a name")
        })?;
        let encryption = EncryptionConfiguration::builder()
            .encryption_type(EncryptionType::from(
                str_attr(spec, "encryption_type").unwrap_or("AES256"),
            ))
            .build()
            .map_err(|e| ProviderError::rejected(address, "InvalidEncryption", e.to_string()))?;
        self.client
            .create_repository()
            .repository_name(name)
            .image_tag_mutability(ImageTagMutability::from(
                str_attr(spec, "image_tag_mutability").unwrap_or("MUTABLE"),
            ))
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(
                        spec.get("scan_on_push")
                            .and_then(Value::as_bool)
                            .unwrap_or(true),
                    )
                    .build(),
            )
            .encryption_configuration(encryption)
            .set_tags(Some(ecr_tags(address, spec)?))
            .send()
            .await
            .map_err(|e| sdk_error(address, "ecr:CreateRepository", e))?;
        if let Some(policy) = spec.get("lifecycle_policy") {
            self.put_lifecycle_policy(address, name, policy).await?;
        }
        self.reread(address, name, ObservedOwnership::Owned).await
    }

    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        let address = &desired.address;
        check_owned(live)?;
        let spec = &desired.spec;
        for change in changes {
            match change.attribute.as_str() {
                "image_tag_mutability" => {
                    let mutability = str_attr(spec, "image_tag_mutability").unwrap_or("MUTABLE");
                    self.client
                        .put_image_tag_mutability()
                        .repository_name(&live.id)
                        .image_tag_mutability(ImageTagMutability::from(mutability))
                        .send()
                        .await
                        .map_err(|e| sdk_error(address, "ecr:PutImageTagMutability", e))?;
                }
                "scan_on_push" => {
                    let scan = spec
                        .get("scan_on_push")
                        .and_then(Value::as_bool)
                        .unwrap_or(true);
                    self.client
                        .put_image_scanning_configuration()
                        .repository_name(&live.id)
                        .image_scanning_configuration(
                            ImageScanningConfiguration::builder()
                                .scan_on_push(scan)
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(|e| sdk_error(address, "ecr:PutImageScanningConfiguration", e))?;
                }
                "lifecycle_policy" => {
                    if let Some(policy) = spec.get("lifecycle_policy") {
                        self.put_lifecycle_policy(address, &live.id, policy).await?;
                    }
                }
                "tags" => {
                    let arn = live
                        .outputs
                        .get("arn")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    self.client
                        .tag_resource()
                        .resource_arn(arn)
                        .set_tags(Some(ecr_tags(address, spec)?))
                        .send()
                        .await
                        .map_err(|e| sdk_error(address, "ecr:TagResource", e))?;
                }
                other => {
                    let reason = match &change.class {
                        ChangeClass::Forbidden(reason) => reason.clone(),
                        _ => "ECR has no call that changes it in place".to_owned(),
                    };
                    return Err(ProviderError::rejected(
                        address,
                        "NotUpdatable",
                        format!("cannot change {other}: {reason}"),
                    ));
                }
            }
        }
        self.reread(address, &live.id, live.ownership.clone()).await
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        let address = &live.address;
        check_owned(live)?;
        let Some(repository) = self.describe(address, &live.id).await? else {
            return Ok(());
        };
        let name = repository.repository_name().unwrap_or(&live.id);
        // Decide on what the repository holds now, not on what the plan read.
        if !self.teardown.force_delete_images && self.holds_images(address, name).await? {
            return Err(not_empty(live));
        }
        let result = self
            .client
            .delete_repository()
            .repository_name(name)
            .force(self.teardown.force_delete_images)
            .send()
            .await
            .map_err(|e| sdk_error(address, "ecr:DeleteRepository", e));
        match result {
            Ok(_) | Err(ProviderError::NotFound { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        // A repository is usable as soon as CreateRepository answers.
        Ok(Live {
            status: Status::Ready,
            ..live.clone()
        })
    }
}

/// Tells why `live` (a repository) may not be deleted with `teardown`.
pub(crate) fn deletion_refusal(live: &Live, teardown: &TeardownOptions) -> Option<ProviderError> {
    let holds_images = live.outputs.get("holds_images").and_then(Value::as_bool) == Some(true);
    (holds_images && !teardown.force_delete_images).then(|| not_empty(live))
}

fn not_empty(live: &Live) -> ProviderError {
    ProviderError::rejected(
        &live.address,
        "RepositoryNotEmpty",
        format!(
            "ECR repository {} still holds images; run `down --force-delete-images` to delete them with it",
            live.id
        ),
    )
}

fn check_owned(live: &Live) -> Result<(), ProviderError> {
    if live.ownership == ObservedOwnership::Owned {
        return Ok(());
    }
    Err(ProviderError::rejected(
        &live.address,
        "NotOwned",
        format!(
            "repository {} is not owned by this profile; it is never changed or deleted",
            live.id
        ),
    ))
}

fn str_attr<'a>(spec: &'a Spec, attribute: &str) -> Option<&'a str> {
    spec.get(attribute).and_then(Value::as_str)
}

fn ecr_tags(address: &Address, spec: &Spec) -> Result<Vec<Tag>, ProviderError> {
    spec_tags(spec)
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ProviderError::rejected(address, "InvalidTag", e.to_string()))
        })
        .collect()
}

/// Turns a spec value into JSON; references and secrets have no place in a policy.
fn to_json(value: &Value) -> Result<serde_json::Value, String> {
    Ok(match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Str(s) => s.as_str().into(),
        Value::List(items) => {
            serde_json::Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Value::Map(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), to_json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        Value::Ref(_) | Value::Secret(_) | Value::Sensitive(_) => {
            return Err("the lifecycle policy holds a reference or a secret".to_owned());
        }
    })
}

#[cfg(test)]
mod tests;
