//! IAM providers: the EKS cluster and node roles with their trust policies and attached
//! managed policies, and the customer-managed ECR pull policy.
//!
//! Roles and policies have real, deterministic names, so they are read by name. Policy
//! documents come back URL-encoded and in whatever layout IAM keeps; they are decoded,
//! parsed and compared as data with IAM's equivalences (a single action is the same as
//! a list of one; statement and action order do not matter), never as text.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_iam::Client;
use aws_sdk_iam::types::Tag;
use tokio::sync::OnceCell;

use super::support::{
    failed, ignore_order, order_like, parse_json, resume, strings, value_to_json,
};
use super::{sdk_error, spec_tags, tags_value};
use crate::provider::{
    AttributeChange, Live, ObservedOwnership, ProviderError, Providers, ResourceProvider, Status,
    default_change_class, diff_attributes,
};
use crate::stack::build::legacy_name;
use crate::stack::{Address, Resource, ResourceKind, Spec, Value};

/// Registers the IAM role and policy providers.
pub(crate) fn register(providers: &mut Providers, config: &aws_config::SdkConfig) {
    let client = Client::new(config);
    providers.insert(
        ResourceKind::IamRole,
        Arc::new(RoleProvider {
            client: client.clone(),
        }),
    );
    providers.insert(
        ResourceKind::IamPolicy,
        Arc::new(PolicyProvider {
            client,
            sts: aws_sdk_sts::Client::new(config),
            account: OnceCell::new(),
        }),
    );
}

fn iam_tags(address: &Address, spec: &Spec) -> Result<Vec<Tag>, ProviderError> {
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

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

fn is_not_found(err: &ProviderError) -> bool {
    matches!(err, ProviderError::NotFound { .. })
}

/// Decodes a policy document as IAM returns it: URL-encoded (RFC 3986) JSON. A document
/// that is plain JSON already is taken as is, as a `%` in it is not an escape.
pub(crate) fn decode_document(text: &str) -> Option<Value> {
    if text.trim_start().starts_with('{') {
        return parse_json(text);
    }
    parse_json(&percent_decode(text)?)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Puts a policy document in a canonical form for comparison: every statement list a
/// list, single actions, resources and principals lists of one, those lists sorted.
pub(crate) fn canonical_policy(document: &Value) -> Value {
    fn as_sorted_list(value: &Value) -> Value {
        match value {
            Value::Str(_) => Value::List(vec![value.clone()]),
            Value::List(items) => {
                let mut items = items.clone();
                items.sort_by_key(|v| serde_json::to_string(v).unwrap_or_default());
                items.dedup();
                Value::List(items)
            }
            other => other.clone(),
        }
    }
    fn statement(value: &Value) -> Value {
        let Value::Map(map) = value else {
            return value.clone();
        };
        Value::Map(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("Action" | "NotAction" | "Resource" | "NotResource", _) => {
                            as_sorted_list(v)
                        }
                        ("Principal" | "NotPrincipal", Value::Map(principals)) => Value::Map(
                            principals
                                .iter()
                                .map(|(k, v)| (k.clone(), as_sorted_list(v)))
                                .collect(),
                        ),
                        _ => v.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        )
    }
    let Value::Map(map) = document else {
        return document.clone();
    };
    let mut map = map.clone();
    if let Some(statements) = map.get("Statement") {
        let mut list: Vec<Value> = match statements {
            Value::List(items) => items.iter().map(statement).collect(),
            single => vec![statement(single)],
        };
        list.sort_by_key(|v| serde_json::to_string(v).unwrap_or_default());
        map.insert("Statement".to_owned(), Value::List(list));
    }
    Value::Map(map)
}

/// Tells whether a resource found under its legacy name (see [`legacy_name`]) is kept
/// under that name: when it is this stack's, or may be (a release before 0.2 made it
/// and the plan decides). A legacy-named resource of another stack or of nobody is not
/// in the way of this stack's own name, so it is not reported at this address.
fn keeps_legacy_name(ownership: &ObservedOwnership) -> bool {
    matches!(
        ownership,
        ObservedOwnership::Owned | ObservedOwnership::Legacy
    )
}

/// Drops the change of `name` from the name of a new resource to the legacy name it was
/// found under: that name is kept (renaming a role would mean replacing what uses it).
fn ignore_legacy_name(changes: &mut Vec<AttributeChange>, desired: &Resource) {
    let legacy = legacy_name(&desired.spec);
    changes.retain(|c| {
        c.attribute != "name"
            || legacy.is_none()
            || c.before.as_ref().and_then(Value::as_str) != legacy.as_deref()
    });
}

/// Drops a change of `attribute` whose documents are equivalent policies.
fn ignore_equivalent_policy(changes: &mut Vec<AttributeChange>, attribute: &str) {
    changes.retain(|c| {
        c.attribute != attribute
            || match (&c.before, &c.after) {
                (Some(before), Some(after)) => canonical_policy(before) != canonical_policy(after),
                _ => true,
            }
    });
}

// --- roles ----------------------------------------------------------------------------

struct RoleProvider {
    client: Client,
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

// --- customer-managed policy ----------------------------------------------------------

struct PolicyProvider {
    client: Client,
    sts: aws_sdk_sts::Client,
    /// The partition and account of the caller, which policy ARNs are made of.
    account: OnceCell<(String, String)>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_url_encoded_documents() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22eks.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D";
        let plain = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        assert_eq!(decode_document(encoded), decode_document(plain));
        assert!(decode_document(plain).is_some());
        assert_eq!(decode_document("%7B%ZZ"), None);
    }

    #[test]
    fn equivalent_policies_compare_equal() {
        let ours = parse_json(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"EcrToken","Effect":"Allow","Action":["ecr:GetAuthorizationToken"],"Resource":"*"},
                {"Sid":"EcrPull","Effect":"Allow","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Resource":["arn:b","arn:a"]}]}"#,
        )
        .unwrap();
        let theirs = parse_json(
            r#"{"Statement":[{"Sid":"EcrPull","Effect":"Allow","Action":["ecr:GetDownloadUrlForLayer","ecr:BatchGetImage"],"Resource":["arn:a","arn:b"]},
                {"Resource":["*"],"Action":"ecr:GetAuthorizationToken","Effect":"Allow","Sid":"EcrToken"}],"Version":"2012-10-17"}"#,
        )
        .unwrap();
        assert_eq!(canonical_policy(&ours), canonical_policy(&theirs));
        let wider = parse_json(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"EcrToken","Effect":"Allow","Action":"ecr:*","Resource":"*"}]}"#,
        )
        .unwrap();
        assert_ne!(canonical_policy(&ours), canonical_policy(&wider));
    }
}
