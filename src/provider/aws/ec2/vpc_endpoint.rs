//! The AWS half of the MongoDB Atlas private endpoint: an interface VPC endpoint to the
//! Atlas endpoint service, in the node subnets (one per availability zone), with the
//! Atlas security group (made by the EC2 provider).
//!
//! It is created with its tags (tag specifications) and an idempotency token, found by
//! its `Name` tag in its VPC, and waited for by polling, as EC2 has no waiter for it.
//! An endpoint to Atlas stays `pendingAcceptance` until Atlas accepts it, which happens
//! only once its id is registered with Atlas — by the `AtlasEndpoint` resource that
//! depends on this one, or by a person in the Atlas UI. So `pendingAcceptance` counts as
//! ready here (AWS has done its part), and the live endpoint then carries the step that
//! is left as the output [`NEXT_STEP`].
//!
//! [`EndpointLookup`] gives the Atlas providers what they need to know of these
//! endpoints — their ids, states and ownership tags — as plain data.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification, VpcEndpointType};

use super::{filter, tag_map};
use crate::provider::aws::support::{
    Backoff, Poll, client_token, ignore_order, known_str, order_like, poll, resume, strings,
    vanished,
};
use crate::provider::aws::{sdk_error, spec_tags, tags_value};
use crate::provider::{
    AttributeChange, Live, ObservedOwnership, ProviderError, ResourceProvider, Status,
    default_change_class, diff_attributes,
};
use crate::stack::{
    ADDRESS_TAG, Address, Component, PROFILE_TAG, Resource, ResourceKind, Spec, Value,
};

/// The output holding what a person still has to do in Atlas for the endpoint to be
/// accepted. The CLI shows it after `up` when the profile gives the endpoint service
/// name (`atlas.endpoint_service_name`): then bpa-infra makes no Atlas call and
/// registering the endpoint is left to the Atlas UI.
pub const NEXT_STEP: &str = "atlas_next_step";

/// The states of an endpoint that still exists: deleted endpoints stay listed for a while.
const LIVE_STATES: [&str; 8] = [
    "pendingAcceptance",
    "pending",
    "available",
    "deleting",
    "rejected",
    "failed",
    "expired",
    "partial",
];

/// Endpoints take a minute or two to come up; deleting them takes about as long.
const BACKOFF: Backoff = Backoff {
    first: std::time::Duration::from_secs(2),
    max: std::time::Duration::from_secs(15),
};

/// How many looks a wait takes at an endpoint EC2 does not list yet (its reads are
/// eventually consistent) before deciding it is gone.
const NOT_YET_VISIBLE: u32 = 10;

/// The provider of [`ResourceKind::VpcEndpoint`], registered by [`super::register`].
pub(super) struct VpcEndpointProvider {
    pub(super) client: Client,
}

/// Returns an endpoint's state in the API's own spelling (`pendingAcceptance`); the SDK
/// enum is spelled `PendingAcceptance`, the wire is not, so compare without case.
fn state_of(endpoint: &aws_sdk_ec2::types::VpcEndpoint) -> String {
    let raw = endpoint.state().map(|s| s.as_str()).unwrap_or("pending");
    LIVE_STATES
        .iter()
        .chain(&["deleted"])
        .find(|known| known.eq_ignore_ascii_case(raw))
        .map_or_else(|| raw.to_owned(), |known| (*known).to_owned())
}

/// Describes endpoints by filters or ids, every page.
async fn describe(
    client: &Client,
    address: &Address,
    filters: Vec<Filter>,
    ids: Vec<String>,
) -> Result<Vec<aws_sdk_ec2::types::VpcEndpoint>, ProviderError> {
    client
        .describe_vpc_endpoints()
        .set_filters((!filters.is_empty()).then_some(filters))
        .set_vpc_endpoint_ids((!ids.is_empty()).then_some(ids))
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| sdk_error(address, "ec2:DescribeVpcEndpoints", e))
}

/// Describes one endpoint by id; `None` when EC2 does not know it (any more) or it is
/// `deleted`.
async fn describe_one(
    client: &Client,
    address: &Address,
    id: &str,
) -> Result<Option<aws_sdk_ec2::types::VpcEndpoint>, ProviderError> {
    match describe(client, address, Vec::new(), vec![id.to_owned()]).await {
        Ok(found) => Ok(found.into_iter().find(|e| state_of(e) != "deleted")),
        Err(ProviderError::NotFound { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// The step left to a person when nothing registers the endpoint through the Atlas
/// Admin API: where to paste the endpoint id in the Atlas UI.
fn next_step(id: &str, service_name: &str) -> String {
    let region = service_name
        .strip_prefix("com.amazonaws.vpce.")
        .and_then(|rest| rest.split('.').next())
        .unwrap_or("your region");
    format!(
        "register the AWS VPC endpoint {id} with MongoDB Atlas: in the Atlas UI, open the project's \
         Network Access page, Private Endpoint tab, Dedicated Cluster, and at the AWS endpoint service \
         {service_name} ({region}) finish \"Add Private Endpoint\" by pasting {id} into \"Your VPC \
         Endpoint ID\" and choosing Create. Atlas then accepts the connection and the endpoint turns \
         from pendingAcceptance to available (`bpa-infra status` shows it)."
    )
}

impl VpcEndpointProvider {
    /// Turns an endpoint into plain data; `hint` orders the lists like the spec, and
    /// `awaits_registration` says the endpoint was just made, so Atlas cannot know it yet
    /// whatever state the first looks report.
    fn to_live(
        address: &Address,
        endpoint: &aws_sdk_ec2::types::VpcEndpoint,
        ownership: ObservedOwnership,
        hint: &Spec,
        awaits_registration: bool,
    ) -> Live {
        let id = endpoint.vpc_endpoint_id().unwrap_or_default();
        let state = state_of(endpoint);
        let service_name = endpoint.service_name().unwrap_or_default();
        let mut attributes = Spec::new()
            .with("vpc_id", endpoint.vpc_id().unwrap_or_default())
            .with("service_name", service_name)
            .with(
                "subnet_ids",
                order_like(hint.get("subnet_ids"), endpoint.subnet_ids().to_vec()),
            )
            .with(
                "security_group_ids",
                order_like(
                    hint.get("security_group_ids"),
                    endpoint
                        .groups()
                        .iter()
                        .filter_map(|g| g.group_id().map(str::to_owned))
                        .collect(),
                ),
            );
        if let Some(kind) = endpoint.vpc_endpoint_type() {
            attributes.insert("vpc_endpoint_type", kind.as_str());
        }
        if let Some(private_dns) = endpoint.private_dns_enabled() {
            attributes.insert("private_dns_enabled", private_dns);
        }
        let tags = tag_map(endpoint.tags());
        if let Some(name) = tags.get("Name") {
            attributes.insert("name", name.as_str());
        }
        attributes.insert("tags", tags_value(tags));

        let status = match state.as_str() {
            "available" | "pendingAcceptance" => Status::Ready,
            "rejected" | "failed" | "expired" => {
                let why = endpoint
                    .last_error()
                    .and_then(|e| e.message())
                    .or(endpoint.failure_reason())
                    .unwrap_or("no reason given");
                let hint = if state == "rejected" {
                    "; the endpoint service (Atlas) refused the connection: check that its id was registered with the right Atlas project and region"
                } else {
                    ""
                };
                Status::Failed(format!("VPC endpoint {id} is {state}: {why}{hint}"))
            }
            other => Status::InProgress(other.to_owned()),
        };

        let dns_names: Vec<String> = endpoint
            .dns_entries()
            .iter()
            .filter_map(|e| e.dns_name().map(str::to_owned))
            .collect();
        let mut outputs = BTreeMap::from([
            ("id".to_owned(), Value::from(id)),
            ("state".to_owned(), Value::from(state.as_str())),
            ("service_name".to_owned(), Value::from(service_name)),
            ("dns_names".to_owned(), Value::strings(dns_names.clone())),
        ]);
        // The first entry is the regional name; the others are per zone.
        if let Some(first) = dns_names.first() {
            outputs.insert("dns_name".to_owned(), Value::from(first.as_str()));
        }
        let unregistered = state == "pendingAcceptance"
            || (awaits_registration && matches!(state.as_str(), "pending" | "available"));
        if unregistered {
            outputs.insert(
                NEXT_STEP.to_owned(),
                Value::from(next_step(id, service_name)),
            );
        }
        Live {
            address: address.clone(),
            kind: ResourceKind::VpcEndpoint,
            id: id.to_owned(),
            ownership,
            status,
            attributes,
            outputs,
        }
    }

    async fn reread(&self, live: &Live, hint: &Spec) -> Result<Live, ProviderError> {
        let found = describe_one(&self.client, &live.address, &live.id)
            .await?
            .ok_or_else(|| vanished(&live.address, &live.id))?;
        Ok(Self::to_live(
            &live.address,
            &found,
            live.ownership.clone(),
            hint,
            live.outputs.contains_key(NEXT_STEP),
        ))
    }
}

#[async_trait]
impl ResourceProvider for VpcEndpointProvider {
    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let mut filters = vec![
            filter("tag:Name", [desired.spec.name().unwrap_or_default()]),
            filter("vpc-endpoint-state", LIVE_STATES),
        ];
        if let Some(vpc) = known_str(desired.spec.get("vpc_id")) {
            filters.push(filter("vpc-id", [vpc]));
        }
        let found = describe(&self.client, &desired.address, filters, Vec::new()).await?;
        // A look-alike made by hand must not hide ours.
        let ours = |e: &aws_sdk_ec2::types::VpcEndpoint| {
            let tags = tag_map(e.tags());
            tags.get(PROFILE_TAG).map(String::as_str) == desired.profile_tag()
                && tags.get(ADDRESS_TAG) == Some(&desired.address.to_string())
        };
        let pick = found.iter().find(|e| ours(e)).or_else(|| found.first());
        Ok(pick.map(|endpoint| {
            let tags = tag_map(endpoint.tags());
            Self::to_live(
                &desired.address,
                endpoint,
                ObservedOwnership::of(desired, tags.get(PROFILE_TAG).map(String::as_str)),
                &desired.spec,
                false,
            )
        }))
    }

    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        let placeholder = Address::new(Component::Atlas, "vpc_endpoint");
        let filters = vec![
            filter(&format!("tag:{PROFILE_TAG}"), [profile]),
            filter("tag-key", [ADDRESS_TAG]),
            filter("vpc-endpoint-state", LIVE_STATES),
        ];
        let found = describe(&self.client, &placeholder, filters, Vec::new()).await?;
        Ok(found
            .iter()
            .filter_map(|endpoint| {
                let address: Address = tag_map(endpoint.tags()).get(ADDRESS_TAG)?.parse().ok()?;
                Some(Self::to_live(
                    &address,
                    endpoint,
                    ObservedOwnership::Owned,
                    &Spec::new(),
                    false,
                ))
            })
            .collect())
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        // A run killed after its create call finds the endpoint it made, even on an
        // EC2 that ignores the idempotency token.
        if let Some(live) = resume(self, desired).await? {
            return Ok(live);
        }
        let address = &desired.address;
        let spec = &desired.spec;
        let tags = spec_tags(spec)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let mut request = self
            .client
            .create_vpc_endpoint()
            .vpc_endpoint_type(VpcEndpointType::from(
                known_str(spec.get("vpc_endpoint_type")).unwrap_or("Interface"),
            ))
            .vpc_id(known_str(spec.get("vpc_id")).unwrap_or_default())
            .service_name(known_str(spec.get("service_name")).unwrap_or_default())
            .set_subnet_ids(Some(strings(spec.get("subnet_ids"))))
            .set_security_group_ids(Some(strings(spec.get("security_group_ids"))))
            .client_token(client_token(desired))
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::VpcEndpoint)
                    .set_tags(Some(tags))
                    .build(),
            );
        if let Some(private_dns) = spec.get("private_dns_enabled").and_then(Value::as_bool) {
            request = request.private_dns_enabled(private_dns);
        }
        let output = request
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:CreateVpcEndpoint", e))?;
        let endpoint = output.vpc_endpoint().ok_or_else(|| {
            ProviderError::rejected(
                address,
                "EmptyResponse",
                "CreateVpcEndpoint returned no endpoint",
            )
        })?;
        Ok(Self::to_live(
            address,
            endpoint,
            ObservedOwnership::Owned,
            spec,
            true,
        ))
    }

    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let mut modify = self.client.modify_vpc_endpoint().vpc_endpoint_id(&live.id);
        let mut modified = false;
        for change in changes {
            match change.attribute.as_str() {
                "subnet_ids" | "security_group_ids" => {
                    let wanted = strings(desired.spec.get(&change.attribute));
                    let current = strings(live.attributes.get(&change.attribute));
                    let add: Vec<String> = wanted
                        .iter()
                        .filter(|w| !current.contains(w))
                        .cloned()
                        .collect();
                    let remove: Vec<String> = current
                        .iter()
                        .filter(|c| !wanted.contains(c))
                        .cloned()
                        .collect();
                    modify = if change.attribute == "subnet_ids" {
                        modify
                            .set_add_subnet_ids((!add.is_empty()).then_some(add))
                            .set_remove_subnet_ids((!remove.is_empty()).then_some(remove))
                    } else {
                        modify
                            .set_add_security_group_ids((!add.is_empty()).then_some(add))
                            .set_remove_security_group_ids((!remove.is_empty()).then_some(remove))
                    };
                    modified = true;
                }
                "private_dns_enabled" => {
                    let enabled = desired
                        .spec
                        .get("private_dns_enabled")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    modify = modify.private_dns_enabled(enabled);
                    modified = true;
                }
                "tags" => {
                    let tags = spec_tags(&desired.spec)
                        .into_iter()
                        .map(|(k, v)| Tag::builder().key(k).value(v).build())
                        .collect();
                    self.client
                        .create_tags()
                        .resources(&live.id)
                        .set_tags(Some(tags))
                        .send()
                        .await
                        .map_err(|e| sdk_error(address, "ec2:CreateTags", e))?;
                }
                other => {
                    return Err(ProviderError::rejected(
                        address,
                        "UnsupportedChange",
                        format!("{other} of a VPC endpoint cannot be changed in place"),
                    ));
                }
            }
        }
        if modified {
            modify
                .send()
                .await
                .map_err(|e| sdk_error(address, "ec2:ModifyVpcEndpoint", e))?;
        }
        self.reread(live, &desired.spec).await
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        let output = match self
            .client
            .delete_vpc_endpoints()
            .vpc_endpoint_ids(&live.id)
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) => {
                return match sdk_error(&live.address, "ec2:DeleteVpcEndpoints", e) {
                    ProviderError::NotFound { .. } => Ok(()),
                    err => Err(err),
                };
            }
        };
        // The call succeeds as a batch; each endpoint's failure comes back as an item.
        match output.unsuccessful().first().and_then(|item| item.error()) {
            Some(error) => {
                let code = error.code().unwrap_or("Unknown");
                if code.contains("NotFound") {
                    return Ok(());
                }
                Err(ProviderError::rejected(
                    &live.address,
                    code,
                    format!(
                        "ec2:DeleteVpcEndpoints {}: {}",
                        live.id,
                        error.message().unwrap_or("no message")
                    ),
                ))
            }
            None => Ok(()),
        }
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        let address = &live.address;
        let misses = std::sync::atomic::AtomicU32::new(0);
        poll(BACKOFF, || async {
            match describe_one(&self.client, address, &live.id).await? {
                Some(endpoint) => {
                    let now = Self::to_live(
                        address,
                        &endpoint,
                        live.ownership.clone(),
                        &live.attributes,
                        live.outputs.contains_key(NEXT_STEP),
                    );
                    match &now.status {
                        Status::Ready => Ok(Poll::Done(now)),
                        Status::Failed(reason) => Err(ProviderError::rejected(
                            address,
                            "VpcEndpointFailed",
                            reason.clone(),
                        )),
                        Status::InProgress(_) => Ok(Poll::Pending),
                    }
                }
                None if misses.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    < NOT_YET_VISIBLE =>
                {
                    Ok(Poll::Pending)
                }
                None => Err(vanished(address, &live.id)),
            }
        })
        .await
    }

    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        poll(BACKOFF, || async {
            Ok(
                match describe_one(&self.client, &live.address, &live.id).await? {
                    Some(_) => Poll::Pending,
                    None => Poll::Done(()),
                },
            )
        })
        .await
    }

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        let mut changes = diff_attributes(desired, live, default_change_class);
        ignore_order(&mut changes, &["subnet_ids", "security_group_ids"]);
        changes
    }
}

/// What the Atlas providers know of a VPC endpoint: no SDK type crosses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndpointFacts {
    pub id: String,
    /// `pendingAcceptance`, `available`, … (the API's spelling).
    pub state: String,
    /// The profile in its ownership tag, if any.
    pub profile: Option<String>,
}

/// Reads VPC endpoints for the Atlas providers, which decide ownership from them: the
/// Atlas side cannot carry AWS tags.
#[derive(Clone)]
pub(crate) struct EndpointLookup {
    client: Client,
}

impl EndpointLookup {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: Client::new(config),
        }
    }

    fn facts(endpoint: &aws_sdk_ec2::types::VpcEndpoint) -> EndpointFacts {
        EndpointFacts {
            id: endpoint.vpc_endpoint_id().unwrap_or_default().to_owned(),
            state: state_of(endpoint),
            profile: tag_map(endpoint.tags()).get(PROFILE_TAG).cloned(),
        }
    }

    /// Finds the endpoint `profile` made at `address`.
    pub async fn owned(
        &self,
        asking: &Address,
        profile: &str,
        address: &Address,
    ) -> Result<Option<EndpointFacts>, ProviderError> {
        let filters = vec![
            filter(&format!("tag:{PROFILE_TAG}"), [profile]),
            filter(&format!("tag:{ADDRESS_TAG}"), [address.to_string()]),
            filter("vpc-endpoint-state", LIVE_STATES),
        ];
        let found = describe(&self.client, asking, filters, Vec::new()).await?;
        Ok(found.first().map(Self::facts))
    }

    /// Reads one endpoint by id; `None` when it does not exist (any more).
    pub async fn by_id(
        &self,
        asking: &Address,
        id: &str,
    ) -> Result<Option<EndpointFacts>, ProviderError> {
        Ok(describe_one(&self.client, asking, id)
            .await?
            .as_ref()
            .map(Self::facts))
    }

    /// Lists every existing endpoint that carries a bpa-infra ownership tag.
    pub async fn tagged(&self, asking: &Address) -> Result<Vec<EndpointFacts>, ProviderError> {
        let filters = vec![
            filter("tag-key", [PROFILE_TAG]),
            filter("vpc-endpoint-state", LIVE_STATES),
        ];
        let found = describe(&self.client, asking, filters, Vec::new()).await?;
        Ok(found.iter().map(Self::facts).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{DnsEntry, LastError, SecurityGroupIdentifier, State};

    fn endpoint(state: &str) -> aws_sdk_ec2::types::VpcEndpoint {
        builder(state).build()
    }

    fn builder(state: &str) -> aws_sdk_ec2::types::builders::VpcEndpointBuilder {
        aws_sdk_ec2::types::VpcEndpoint::builder()
            .vpc_endpoint_id("vpce-0abc")
            .vpc_id("vpc-1")
            .service_name("com.amazonaws.vpce.us-west-2.vpce-svc-0123456789abcdef0")
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .state(State::from(state))
            .subnet_ids("subnet-b")
            .subnet_ids("subnet-a")
            .groups(SecurityGroupIdentifier::builder().group_id("sg-1").build())
            .private_dns_enabled(false)
            .dns_entries(
                DnsEntry::builder()
                    .dns_name("vpce-0abc-1.vpce-svc-0123.us-west-2.vpce.amazonaws.com")
                    .build(),
            )
            .dns_entries(
                DnsEntry::builder()
                    .dns_name("vpce-0abc-1-us-west-2a.vpce-svc-0123.us-west-2.vpce.amazonaws.com")
                    .build(),
            )
            .tags(Tag::builder().key("Name").value("prod-atlas").build())
            .tags(Tag::builder().key(PROFILE_TAG).value("prod").build())
    }

    fn address() -> Address {
        Address::new(Component::Atlas, "vpc_endpoint")
    }

    fn to_live(state: &str, just_created: bool) -> Live {
        let hint = Spec::new().with("subnet_ids", Value::strings(["subnet-a", "subnet-b"]));
        VpcEndpointProvider::to_live(
            &address(),
            &endpoint(state),
            ObservedOwnership::Owned,
            &hint,
            just_created,
        )
    }

    #[test]
    fn pending_acceptance_is_ready_and_says_what_is_left() {
        // The wire says `pendingAcceptance`, which the SDK keeps as an unknown value.
        let live = to_live("pendingAcceptance", false);
        assert_eq!(live.status, Status::Ready);
        assert_eq!(live.outputs["state"], Value::from("pendingAcceptance"));
        let step = live.outputs[NEXT_STEP].as_str().unwrap();
        assert!(step.contains("vpce-0abc"), "{step}");
        assert!(step.contains("Your VPC Endpoint ID"), "{step}");
        assert!(step.contains("(us-west-2)"), "{step}");
        assert_eq!(
            live.attributes.get("subnet_ids"),
            Some(&Value::strings(["subnet-a", "subnet-b"])),
            "ordered like the spec"
        );
        assert_eq!(
            live.outputs["dns_name"],
            Value::from("vpce-0abc-1.vpce-svc-0123.us-west-2.vpce.amazonaws.com")
        );
    }

    #[test]
    fn an_accepted_endpoint_needs_nothing_unless_just_made() {
        let live = to_live("available", false);
        assert_eq!(live.status, Status::Ready);
        assert!(!live.outputs.contains_key(NEXT_STEP));
        // Made by this run: Atlas cannot know its id yet.
        assert!(to_live("available", true).outputs.contains_key(NEXT_STEP));
        assert_eq!(
            to_live("pending", false).status,
            Status::InProgress("pending".into())
        );
    }

    #[test]
    fn a_rejected_endpoint_fails_with_the_reason() {
        let rejected = builder("rejected")
            .last_error(
                LastError::builder()
                    .code("Rejected")
                    .message("rejected by the service owner")
                    .build(),
            )
            .build();
        let live = VpcEndpointProvider::to_live(
            &address(),
            &rejected,
            ObservedOwnership::Owned,
            &Spec::new(),
            false,
        );
        let Status::Failed(reason) = live.status else {
            panic!("{:?}", live.status)
        };
        assert!(reason.contains("vpce-0abc is rejected: rejected by the service owner"));
        assert!(reason.contains("Atlas"));
    }
}
