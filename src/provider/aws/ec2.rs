//! EC2 providers: the VPC and its secondary (pod) CIDR, subnets, the internet gateway,
//! Elastic IPs, NAT gateways, route tables, security groups with their ingress rules,
//! and the node groups' launch templates.
//!
//! Owned resources are found by their `Name` tag (security groups and launch templates
//! by their real name) with describe filters, and carry the spec's tags from their
//! creation on. Adopted VPCs and subnets are read by id, checked, and never changed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, ConnectivityType, DomainType, Filter, IpPermission, IpRange,
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateInstanceMetadataEndpointState,
    LaunchTemplateInstanceMetadataOptionsRequest, NatGatewayState, RequestLaunchTemplateData,
    ResourceType, SubnetState, Tag, TagSpecification, VpcAttributeName, VpcCidrBlockStateCode,
    VpcState,
};

use super::support::{
    Backoff, Poll, client_token, client_token_of, done_if_absent, done_if_exists, failed,
    ignore_order, known_str, order_like, own_or, poll, resume, strings, vanished,
};
use super::{sdk_error, spec_tags, tags_value};
use crate::provider::{
    AttributeChange, ChangeClass, Live, Observation, ObservedOwnership, ProviderError, Providers,
    ResourceProvider, Status, default_change_class, diff_attributes,
};
use crate::stack::{
    ADDRESS_TAG, Address, Component, Ownership, PROFILE_TAG, Resource, ResourceKind, Spec, Value,
};

/// Registers the providers of every EC2 resource kind.
pub(crate) fn register(providers: &mut Providers, config: &aws_config::SdkConfig) {
    let ec2 = Ec2 {
        client: Client::new(config),
    };
    providers.insert(ResourceKind::Vpc, Arc::new(VpcProvider(ec2.clone())));
    providers.insert(
        ResourceKind::VpcCidrAssociation,
        Arc::new(CidrAssociationProvider(ec2.clone())),
    );
    providers.insert(ResourceKind::Subnet, Arc::new(SubnetProvider(ec2.clone())));
    providers.insert(
        ResourceKind::InternetGateway,
        Arc::new(InternetGatewayProvider(ec2.clone())),
    );
    providers.insert(
        ResourceKind::ElasticIp,
        Arc::new(ElasticIpProvider(ec2.clone())),
    );
    providers.insert(
        ResourceKind::NatGateway,
        Arc::new(NatGatewayProvider(ec2.clone())),
    );
    providers.insert(
        ResourceKind::RouteTable,
        Arc::new(RouteTableProvider(ec2.clone())),
    );
    providers.insert(
        ResourceKind::SecurityGroup,
        Arc::new(SecurityGroupProvider(ec2.clone())),
    );
    providers.insert(
        ResourceKind::LaunchTemplate,
        Arc::new(LaunchTemplateProvider(ec2)),
    );
}

// --- shared -------------------------------------------------------------------------

#[derive(Clone)]
struct Ec2 {
    client: Client,
}

pub(super) fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

pub(super) fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn ec2_tags(spec: &Spec) -> Vec<Tag> {
    spec_tags(spec)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The tags of `spec`, set on the resource by the call that creates it.
fn tag_specification(resource_type: ResourceType, spec: &Spec) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(ec2_tags(spec)))
        .build()
}

/// The filters that find the resource named `name`, in the VPC when it is known.
fn name_filters(desired: &Resource, name_filter: &str) -> Vec<Filter> {
    let mut filters = vec![filter(
        name_filter,
        [desired.spec.name().unwrap_or_default()],
    )];
    if let Some(vpc) = known_str(desired.spec.get("vpc_id")) {
        filters.push(filter("vpc-id", [vpc]));
    }
    filters
}

/// The filters that find every resource tagged with `profile`.
fn profile_filters(profile: &str) -> Vec<Filter> {
    vec![
        filter(&format!("tag:{PROFILE_TAG}"), [profile]),
        filter("tag-key", [ADDRESS_TAG]),
    ]
}

/// Picks, among resources with the desired name, the one this profile made at this
/// address if there is one: a look-alike made by hand must not hide ours.
fn pick<T>(desired: &Resource, items: Vec<T>, tags: impl Fn(&T) -> &[Tag]) -> Option<T> {
    let ours = |item: &T| {
        let tags = tag_map(tags(item));
        tags.get(PROFILE_TAG).map(String::as_str) == desired.profile_tag()
            && tags.get(ADDRESS_TAG) == Some(&desired.address.to_string())
    };
    match items.iter().position(ours) {
        Some(i) => items.into_iter().nth(i),
        None => items.into_iter().next(),
    }
}

/// What [`find_by_tag_then_name`] found: each desired resource found with its item, and
/// the profile's other items with the addresses their tags record.
struct Found<'d, T> {
    desired: Vec<(&'d Resource, T)>,
    others: Vec<(Address, T)>,
}

/// Finds the desired resources of one EC2 kind (none adopted) in two calls at most,
/// as `read` would one by one. The profile's resources, listed by tag, answer for each
/// desired resource whose address and name (and VPC, when known) they carry; the rest
/// are looked up by name, all in one call, and picked as `read` picks: ours first,
/// then a look-alike. A converged stack needs the first call only.
///
/// `by_names(names, vpc)` describes the resources with any of `names` (in `vpc` when
/// every one looked for is known to be there).
async fn find_by_tag_then_name<'d, T, LF, NF>(
    desired: &[&'d Resource],
    list: impl FnOnce() -> LF,
    by_names: impl FnOnce(Vec<String>, Option<String>) -> NF,
    tags: impl Fn(&T) -> &[Tag],
    name: impl Fn(&T) -> Option<&str>,
    vpc: impl Fn(&T) -> Option<&str>,
) -> Result<Found<'d, T>, ProviderError>
where
    T: Clone,
    LF: Future<Output = Result<Vec<T>, ProviderError>>,
    NF: Future<Output = Result<Vec<T>, ProviderError>>,
{
    let is_for = |d: &Resource, item: &T| {
        name(item) == d.spec.name()
            && known_str(d.spec.get("vpc_id")).is_none_or(|v| vpc(item) == Some(v))
    };
    let mut found = Found {
        desired: Vec::new(),
        others: Vec::new(),
    };
    let mut missing: Vec<&'d Resource> = desired.to_vec();
    for item in list().await? {
        let Some(address) = address_of(tags(&item)) else {
            continue;
        };
        if let Some(i) = missing.iter().position(|d| d.address == address) {
            if is_for(missing[i], &item) {
                found.desired.push((missing.remove(i), item));
            }
        } else if desired.iter().all(|d| d.address != address) {
            found.others.push((address, item));
        }
    }
    if missing.is_empty() {
        return Ok(found);
    }
    let names: BTreeSet<String> = missing
        .iter()
        .map(|d| d.spec.name().unwrap_or_default().to_owned())
        .collect();
    let vpcs: BTreeSet<Option<&str>> = missing
        .iter()
        .map(|d| known_str(d.spec.get("vpc_id")))
        .collect();
    let vpc_filter = match vpcs.into_iter().collect::<Vec<_>>().as_slice() {
        [Some(vpc)] => Some((*vpc).to_owned()),
        _ => None,
    };
    let named = by_names(names.into_iter().collect(), vpc_filter).await?;
    for d in missing {
        let candidates = named
            .iter()
            .filter(|item| is_for(d, item))
            .cloned()
            .collect();
        if let Some(item) = pick(d, candidates, &tags) {
            found.desired.push((d, item));
        }
    }
    Ok(found)
}

fn ownership(desired: &Resource, tags: &BTreeMap<String, String>) -> ObservedOwnership {
    ObservedOwnership::of(desired, tags.get(PROFILE_TAG).map(String::as_str))
}

/// Adds the `name` (the `Name` tag) and `tags` attributes.
fn with_tags(mut attributes: Spec, tags: &[Tag]) -> Spec {
    let tags = tag_map(tags);
    if let Some(name) = tags.get("Name") {
        attributes.insert("name", name.as_str());
    }
    attributes.insert("tags", tags_value(tags));
    attributes
}

/// The value of the `Name` tag.
fn name_tag(tags: &[Tag]) -> Option<&str> {
    tags.iter()
        .find(|t| t.key() == Some("Name"))
        .and_then(Tag::value)
}

/// The address a listed resource records in its tags.
fn address_of(tags: &[Tag]) -> Option<Address> {
    tag_map(tags).get(ADDRESS_TAG)?.parse().ok()
}

fn outputs(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .filter_map(|(k, v)| Some(((*k).to_owned(), Value::from(v.as_ref()?.to_owned()))))
        .collect()
}

fn live(
    address: &Address,
    kind: ResourceKind,
    id: &str,
    ownership: ObservedOwnership,
    status: Status,
    attributes: Spec,
    outputs: BTreeMap<String, Value>,
) -> Live {
    Live {
        address: address.clone(),
        kind,
        id: id.to_owned(),
        ownership,
        status,
        attributes,
        outputs,
    }
}

/// Turns "not found" into `None`: the resource is simply not there (yet, or any more).
fn absent<T>(result: Result<T, ProviderError>) -> Result<Option<T>, ProviderError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(ProviderError::NotFound { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Makes an adopted resource's differences refusals: it belongs to someone else, so the
/// profile must be fixed, not the resource.
fn adopted_diff(desired: &Resource, live: &Live, what: &str) -> Vec<AttributeChange> {
    diff_attributes(desired, live, |_, attribute, before, after| {
        ChangeClass::Forbidden(format!(
            "the adopted {what} {} has {attribute} {}, the profile says {}; bpa-infra never changes an adopted {what}: fix the profile",
            live.id,
            before.map_or_else(|| "unset".to_owned(), ToString::to_string),
            after.map_or_else(|| "unset".to_owned(), ToString::to_string),
        ))
    })
}

/// No SDK retry for one call: for creates that take no idempotency token (or whose
/// token an implementation may not honour), where the SDK retrying after an answer was
/// lost (the create done) would make a second resource. The executor retries the whole
/// create instead, which finds the first one through [`resume`] before it creates
/// anything.
fn once() -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::config::Builder::default()
        .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
}

/// Tells whether an "already associated" answer means an earlier attempt of the same
/// association got through.
fn already_associated(err: &ProviderError) -> bool {
    err.code() == "Resource.AlreadyAssociated"
}

/// How many looks a wait takes at a resource EC2 does not list yet (its reads are
/// eventually consistent) before deciding it is gone.
const NOT_YET_VISIBLE: u32 = 10;

/// Waits until `look` reports the resource ready; a failed resource is an error.
async fn wait_until_ready<F, Fut>(
    address: &Address,
    id: &str,
    backoff: Backoff,
    mut look: F,
) -> Result<Live, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<Live>, ProviderError>>,
{
    let misses = std::sync::atomic::AtomicU32::new(0);
    let misses = &misses;
    poll(backoff, move || {
        let found = look();
        async move {
            match found.await? {
                Some(live) => match &live.status {
                    Status::Ready => Ok(Poll::Done(live)),
                    Status::Failed(reason) => {
                        Err(failed(address, "ResourceFailed", reason.clone()))
                    }
                    Status::InProgress(_) => Ok(Poll::Pending),
                },
                None if misses.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    < NOT_YET_VISIBLE =>
                {
                    Ok(Poll::Pending)
                }
                None => Err(vanished(address, id)),
            }
        }
    })
    .await
}

/// Waits until `look` no longer finds the resource.
async fn wait_until_gone<F, Fut>(backoff: Backoff, mut look: F) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, ProviderError>>,
{
    poll(backoff, || {
        let exists = look();
        async move {
            Ok(if exists.await? {
                Poll::Pending
            } else {
                Poll::Done(())
            })
        }
    })
    .await
}

impl Ec2 {
    /// Adds or updates the spec's tags on `id`; tags someone else added stay.
    async fn put_tags(
        &self,
        address: &Address,
        id: &str,
        spec: &Spec,
    ) -> Result<(), ProviderError> {
        self.client
            .create_tags()
            .resources(id)
            .set_tags(Some(ec2_tags(spec)))
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:CreateTags", e))?;
        Ok(())
    }

    /// Adds to an "in use" error what is still using the resource: the network
    /// interfaces matching `filter`, with their descriptions, which name the load
    /// balancers Kubernetes made (AWS-FACTS.md, EKS).
    async fn explain_in_use(&self, err: ProviderError, users: Filter) -> ProviderError {
        let ProviderError::InUse {
            address,
            code,
            message,
        } = err
        else {
            return err;
        };
        let interfaces = match self
            .client
            .describe_network_interfaces()
            .filters(users)
            .send()
            .await
        {
            Ok(output) => output.network_interfaces().to_vec(),
            Err(_) => Vec::new(),
        };
        if interfaces.is_empty() {
            return ProviderError::InUse {
                address,
                code,
                message,
            };
        }
        let list: Vec<String> = interfaces
            .iter()
            .take(10)
            .map(|eni| {
                format!(
                    "{} ({})",
                    eni.network_interface_id().unwrap_or("?"),
                    eni.description().unwrap_or("no description")
                )
            })
            .collect();
        let load_balancers = interfaces
            .iter()
            .any(|eni| eni.description().is_some_and(|d| d.starts_with("ELB ")));
        let hint = if load_balancers {
            "; delete the Kubernetes Ingresses and Services of type LoadBalancer (their load balancers hold these interfaces), then run down again"
        } else {
            "; these network interfaces must be deleted first"
        };
        ProviderError::InUse {
            address,
            code,
            message: format!(
                "{message}; still used by {} network interface(s): {}{hint}",
                interfaces.len(),
                list.join(", ")
            ),
        }
    }
}

// --- VPC ------------------------------------------------------------------------------

struct VpcProvider(Ec2);

impl VpcProvider {
    async fn describe(
        &self,
        address: &Address,
        filters: Vec<Filter>,
        ids: Vec<String>,
    ) -> Result<Vec<aws_sdk_ec2::types::Vpc>, ProviderError> {
        self.0
            .client
            .describe_vpcs()
            .set_filters((!filters.is_empty()).then_some(filters))
            .set_vpc_ids((!ids.is_empty()).then_some(ids))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(address, "ec2:DescribeVpcs", e))
    }

    async fn dns_attribute(
        &self,
        address: &Address,
        id: &str,
        attribute: VpcAttributeName,
    ) -> Result<Option<bool>, ProviderError> {
        let output = self
            .0
            .client
            .describe_vpc_attribute()
            .vpc_id(id)
            .attribute(attribute.clone())
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:DescribeVpcAttribute", e))?;
        let value = match attribute {
            VpcAttributeName::EnableDnsSupport => output.enable_dns_support(),
            _ => output.enable_dns_hostnames(),
        };
        Ok(value.and_then(AttributeBooleanValue::value))
    }

    async fn to_live(
        &self,
        address: &Address,
        vpc: &aws_sdk_ec2::types::Vpc,
        ownership: ObservedOwnership,
    ) -> Result<Live, ProviderError> {
        let id = vpc.vpc_id().unwrap_or_default();
        let mut attributes = Spec::new().with("cidr_block", vpc.cidr_block().unwrap_or_default());
        if ownership == ObservedOwnership::Adopted {
            attributes.insert("id", id);
        } else {
            attributes = with_tags(attributes, vpc.tags());
            if let Some(support) = self
                .dns_attribute(address, id, VpcAttributeName::EnableDnsSupport)
                .await?
            {
                attributes.insert("enable_dns_support", support);
            }
            if let Some(hostnames) = self
                .dns_attribute(address, id, VpcAttributeName::EnableDnsHostnames)
                .await?
            {
                attributes.insert("enable_dns_hostnames", hostnames);
            }
        }
        let status = match vpc.state() {
            Some(VpcState::Pending) => Status::InProgress("pending".into()),
            _ => Status::Ready,
        };
        let outputs = outputs(&[("id", Some(id)), ("cidr_block", vpc.cidr_block())]);
        Ok(live(
            address,
            ResourceKind::Vpc,
            id,
            ownership,
            status,
            attributes,
            outputs,
        ))
    }

    async fn set_dns(
        &self,
        address: &Address,
        id: &str,
        attribute: &str,
        value: bool,
    ) -> Result<(), ProviderError> {
        let flag = AttributeBooleanValue::builder().value(value).build();
        let request = self.0.client.modify_vpc_attribute().vpc_id(id);
        let request = if attribute == "enable_dns_support" {
            request.enable_dns_support(flag)
        } else {
            request.enable_dns_hostnames(flag)
        };
        request
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:ModifyVpcAttribute", e))?;
        Ok(())
    }
}

#[async_trait]
impl ResourceProvider for VpcProvider {
    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let address = &desired.address;
        let found = if desired.ownership == Ownership::Adopted {
            let id = known_str(desired.spec.get("id"))
                .unwrap_or_default()
                .to_owned();
            absent(self.describe(address, Vec::new(), vec![id]).await)?
                .unwrap_or_default()
                .into_iter()
                .next()
        } else {
            let filters = vec![filter(
                "tag:Name",
                [desired.spec.name().unwrap_or_default()],
            )];
            pick(
                desired,
                self.describe(address, filters, Vec::new()).await?,
                |v| v.tags(),
            )
        };
        match found {
            Some(vpc) => {
                let ownership = ownership(desired, &tag_map(vpc.tags()));
                Ok(Some(self.to_live(address, &vpc, ownership).await?))
            }
            None => Ok(None),
        }
    }

    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        let placeholder = Address::new(Component::Network, "vpc");
        let mut lives = Vec::new();
        for vpc in self
            .describe(&placeholder, profile_filters(profile), Vec::new())
            .await?
        {
            if let Some(address) = address_of(vpc.tags()) {
                lives.push(
                    self.to_live(&address, &vpc, ObservedOwnership::Owned)
                        .await?,
                );
            }
        }
        Ok(lives)
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        if let Some(live) = resume(self, desired).await? {
            return Ok(live);
        }
        let address = &desired.address;
        let output = self
            .0
            .client
            .create_vpc()
            .cidr_block(known_str(desired.spec.get("cidr_block")).unwrap_or_default())
            .tag_specifications(tag_specification(ResourceType::Vpc, &desired.spec))
            .customize()
            .config_override(once())
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:CreateVpc", e))?;
        let vpc = output
            .vpc()
            .ok_or_else(|| failed(address, "EmptyResponse", "CreateVpc returned no VPC"))?;
        let id = vpc.vpc_id().unwrap_or_default();
        for attribute in ["enable_dns_support", "enable_dns_hostnames"] {
            if let Some(value) = desired.spec.get(attribute).and_then(Value::as_bool) {
                self.set_dns(address, id, attribute, value).await?;
            }
        }
        let mut created = self.to_live(address, vpc, ObservedOwnership::Owned).await?;
        // The create answer predates the attribute calls: report what was just set.
        for attribute in ["enable_dns_support", "enable_dns_hostnames"] {
            if let Some(value) = desired.spec.get(attribute) {
                created.attributes.insert(attribute, value.clone());
            }
        }
        Ok(created)
    }

    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        for change in changes {
            match change.attribute.as_str() {
                "enable_dns_support" | "enable_dns_hostnames" => {
                    let value = change
                        .after
                        .as_ref()
                        .and_then(Value::as_bool)
                        .unwrap_or(true);
                    self.set_dns(&desired.address, &live.id, &change.attribute, value)
                        .await?;
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

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        match self.0.client.delete_vpc().vpc_id(&live.id).send().await {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(&live.address, "ec2:DeleteVpc", e) {
                ProviderError::NotFound { .. } => Ok(()),
                err => Err(self
                    .0
                    .explain_in_use(err, filter("vpc-id", [live.id.as_str()]))
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
            match found.first() {
                Some(vpc) => Ok(Some(
                    self.to_live(address, vpc, live.ownership.clone()).await?,
                )),
                None => Ok(None),
            }
        })
        .await
    }

    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        wait_until_gone(Backoff::FAST, || async {
            Ok(!absent(
                self.describe(&live.address, Vec::new(), vec![live.id.clone()])
                    .await,
            )?
            .unwrap_or_default()
            .is_empty())
        })
        .await
    }

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        if desired.ownership == Ownership::Adopted {
            return adopted_diff(desired, live, "VPC");
        }
        diff_attributes(desired, live, default_change_class)
    }
}

fn unsupported(address: &Address, attribute: &str) -> ProviderError {
    ProviderError::rejected(
        address,
        "UnsupportedChange",
        format!("{attribute} cannot be changed in place"),
    )
}

// --- secondary CIDR (pod CIDR) --------------------------------------------------------

/// The pod CIDR's association with the VPC. AWS cannot tag an association, so it is
/// owned through the stack: the profile says the tool manages it, and it is found by
/// its CIDR in the VPC.
struct CidrAssociationProvider(Ec2);

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

#[async_trait]
impl ResourceProvider for CidrAssociationProvider {
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

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        if desired.ownership == Ownership::Adopted {
            return adopted_diff(desired, live, "pod CIDR association");
        }
        diff_attributes(desired, live, default_change_class)
    }
}

// --- subnets --------------------------------------------------------------------------

struct SubnetProvider(Ec2);

impl SubnetProvider {
    async fn describe(
        &self,
        address: &Address,
        filters: Vec<Filter>,
        ids: Vec<String>,
    ) -> Result<Vec<aws_sdk_ec2::types::Subnet>, ProviderError> {
        self.0
            .client
            .describe_subnets()
            .set_filters((!filters.is_empty()).then_some(filters))
            .set_subnet_ids((!ids.is_empty()).then_some(ids))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(address, "ec2:DescribeSubnets", e))
    }

    fn to_live(
        address: &Address,
        subnet: &aws_sdk_ec2::types::Subnet,
        ownership: ObservedOwnership,
    ) -> Live {
        let id = subnet.subnet_id().unwrap_or_default();
        let mut attributes = Spec::new()
            .with("vpc_id", subnet.vpc_id().unwrap_or_default())
            .with("cidr_block", subnet.cidr_block().unwrap_or_default())
            .with(
                "availability_zone",
                subnet.availability_zone().unwrap_or_default(),
            );
        if ownership == ObservedOwnership::Adopted {
            attributes.insert("id", id);
        } else {
            attributes.insert(
                "map_public_ip_on_launch",
                subnet.map_public_ip_on_launch().unwrap_or(false),
            );
            attributes = with_tags(attributes, subnet.tags());
        }
        let status = match subnet.state() {
            Some(SubnetState::Pending) => Status::InProgress("pending".into()),
            _ => Status::Ready,
        };
        let outputs = outputs(&[
            ("id", Some(id)),
            ("arn", subnet.subnet_arn()),
            ("cidr_block", subnet.cidr_block()),
            ("availability_zone", subnet.availability_zone()),
        ]);
        live(
            address,
            ResourceKind::Subnet,
            id,
            ownership,
            status,
            attributes,
            outputs,
        )
    }

    /// Reads the adopted subnets by id in one call; when one of the ids does not exist
    /// (which fails the call as a whole), one by one, so that the others are found.
    async fn adopted(
        &self,
        placeholder: &Address,
        adopted: &[&Resource],
    ) -> Result<Vec<Live>, ProviderError> {
        let ids: Vec<String> = adopted
            .iter()
            .filter_map(|d| known_str(d.spec.get("id")).map(str::to_owned))
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let Some(subnets) = absent(self.describe(placeholder, Vec::new(), ids).await)? else {
            let mut lives = Vec::new();
            for desired in adopted {
                lives.extend(ResourceProvider::read(self, desired).await?);
            }
            return Ok(lives);
        };
        Ok(adopted
            .iter()
            .filter_map(|d| {
                let id = known_str(d.spec.get("id"))?;
                let subnet = subnets.iter().find(|s| s.subnet_id() == Some(id))?;
                Some(Self::to_live(
                    &d.address,
                    subnet,
                    ownership(d, &tag_map(subnet.tags())),
                ))
            })
            .collect())
    }

    async fn set_public_ip(
        &self,
        address: &Address,
        id: &str,
        value: bool,
    ) -> Result<(), ProviderError> {
        self.0
            .client
            .modify_subnet_attribute()
            .subnet_id(id)
            .map_public_ip_on_launch(AttributeBooleanValue::builder().value(value).build())
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:ModifySubnetAttribute", e))?;
        Ok(())
    }
}

#[async_trait]
impl ResourceProvider for SubnetProvider {
    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let address = &desired.address;
        let found = if desired.ownership == Ownership::Adopted {
            let id = known_str(desired.spec.get("id"))
                .unwrap_or_default()
                .to_owned();
            absent(self.describe(address, Vec::new(), vec![id]).await)?
                .unwrap_or_default()
                .into_iter()
                .next()
        } else {
            pick(
                desired,
                self.describe(address, name_filters(desired, "tag:Name"), Vec::new())
                    .await?,
                |s| s.tags(),
            )
        };
        Ok(found.map(|subnet| {
            let ownership = ownership(desired, &tag_map(subnet.tags()));
            Self::to_live(address, &subnet, ownership)
        }))
    }

    /// Adopted subnets by their ids and the others as [`find_by_tag_then_name`] finds
    /// them, side by side: three calls at most for any number of subnets.
    async fn observe(
        &self,
        desired: &[&Resource],
        profile: &str,
    ) -> Result<Observation, ProviderError> {
        let placeholder = Address::new(Component::Network, "subnet");
        let (adopted, managed): (Vec<&Resource>, Vec<&Resource>) = desired
            .iter()
            .partition(|d| d.ownership == Ownership::Adopted);
        let (adopted, found) = futures::join!(
            self.adopted(&placeholder, &adopted),
            find_by_tag_then_name(
                &managed,
                || self.describe(&placeholder, profile_filters(profile), Vec::new()),
                |names, vpc| {
                    let mut filters = vec![filter("tag:Name", names)];
                    filters.extend(vpc.map(|vpc| filter("vpc-id", [vpc])));
                    self.describe(&placeholder, filters, Vec::new())
                },
                |s| s.tags(),
                |s| name_tag(s.tags()),
                |s| s.vpc_id(),
            )
        );
        let mut observation = Observation {
            found: adopted?,
            others: Vec::new(),
        };
        let found = found?;
        observation
            .found
            .extend(found.desired.iter().map(|(d, subnet)| {
                Self::to_live(&d.address, subnet, ownership(d, &tag_map(subnet.tags())))
            }));
        observation.others = found
            .others
            .iter()
            .map(|(address, subnet)| Self::to_live(address, subnet, ObservedOwnership::Owned))
            .collect();
        Ok(observation)
    }

    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        let placeholder = Address::new(Component::Network, "subnet");
        let subnets = self
            .describe(&placeholder, profile_filters(profile), Vec::new())
            .await?;
        Ok(subnets
            .iter()
            .filter_map(|s| {
                Some(Self::to_live(
                    &address_of(s.tags())?,
                    s,
                    ObservedOwnership::Owned,
                ))
            })
            .collect())
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        if let Some(live) = resume(self, desired).await? {
            return Ok(live);
        }
        let address = &desired.address;
        let spec = &desired.spec;
        let output = self
            .0
            .client
            .create_subnet()
            .vpc_id(known_str(spec.get("vpc_id")).unwrap_or_default())
            .cidr_block(known_str(spec.get("cidr_block")).unwrap_or_default())
            .availability_zone(known_str(spec.get("availability_zone")).unwrap_or_default())
            .tag_specifications(tag_specification(ResourceType::Subnet, spec))
            .customize()
            .config_override(once())
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:CreateSubnet", e))?;
        let subnet = output
            .subnet()
            .ok_or_else(|| failed(address, "EmptyResponse", "CreateSubnet returned no subnet"))?;
        let id = subnet.subnet_id().unwrap_or_default();
        let public = spec
            .get("map_public_ip_on_launch")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if public {
            self.set_public_ip(address, id, true).await?;
        }
        let mut created = Self::to_live(address, subnet, ObservedOwnership::Owned);
        created.attributes.insert("map_public_ip_on_launch", public);
        Ok(created)
    }

    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        for change in changes {
            match change.attribute.as_str() {
                "map_public_ip_on_launch" => {
                    let value = change
                        .after
                        .as_ref()
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    self.set_public_ip(&desired.address, &live.id, value)
                        .await?;
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

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        match self
            .0
            .client
            .delete_subnet()
            .subnet_id(&live.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(&live.address, "ec2:DeleteSubnet", e) {
                ProviderError::NotFound { .. } => Ok(()),
                err => Err(self
                    .0
                    .explain_in_use(err, filter("subnet-id", [live.id.as_str()]))
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
                .map(|s| Self::to_live(address, s, live.ownership.clone())))
        })
        .await
    }

    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        wait_until_gone(Backoff::FAST, || async {
            Ok(!absent(
                self.describe(&live.address, Vec::new(), vec![live.id.clone()])
                    .await,
            )?
            .unwrap_or_default()
            .is_empty())
        })
        .await
    }

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        if desired.ownership == Ownership::Adopted {
            return adopted_diff(desired, live, "subnet");
        }
        diff_attributes(desired, live, default_change_class)
    }
}

// --- internet gateway -----------------------------------------------------------------

struct InternetGatewayProvider(Ec2);

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

#[async_trait]
impl ResourceProvider for InternetGatewayProvider {
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

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        diff_attributes(desired, live, |kind, attribute, before, after| {
            match (attribute, before) {
                // Attaching a detached gateway finishes a run that was cut short.
                ("vpc_id", Some(Value::Null)) => ChangeClass::InPlace,
                _ => default_change_class(kind, attribute, before, after),
            }
        })
    }
}

// --- Elastic IPs ----------------------------------------------------------------------

struct ElasticIpProvider(Ec2);

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

#[async_trait]
impl ResourceProvider for ElasticIpProvider {
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

// --- NAT gateways ---------------------------------------------------------------------

struct NatGatewayProvider(Ec2);

impl NatGatewayProvider {
    async fn describe(
        &self,
        address: &Address,
        filters: Vec<Filter>,
        ids: Vec<String>,
    ) -> Result<Vec<aws_sdk_ec2::types::NatGateway>, ProviderError> {
        self.0
            .client
            .describe_nat_gateways()
            .set_filter((!filters.is_empty()).then_some(filters))
            .set_nat_gateway_ids((!ids.is_empty()).then_some(ids))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(address, "ec2:DescribeNatGateways", e))
    }

    /// The states a NAT gateway that still exists can be in: deleted ones stay listed
    /// for about an hour.
    fn live_states() -> Filter {
        filter("state", ["pending", "available", "failed", "deleting"])
    }

    fn to_live(
        address: &Address,
        nat: &aws_sdk_ec2::types::NatGateway,
        ownership: ObservedOwnership,
    ) -> Live {
        let id = nat.nat_gateway_id().unwrap_or_default();
        let first = nat.nat_gateway_addresses().first();
        let mut attributes = Spec::new().with("subnet_id", nat.subnet_id().unwrap_or_default());
        if let Some(allocation) = first.and_then(|a| a.allocation_id()) {
            attributes.insert("allocation_id", allocation);
        }
        if let Some(connectivity) = nat.connectivity_type() {
            attributes.insert("connectivity_type", connectivity.as_str());
        }
        let attributes = with_tags(attributes, nat.tags());
        let status = match nat.state() {
            Some(NatGatewayState::Available) => Status::Ready,
            Some(NatGatewayState::Failed) => Status::Failed(format!(
                "{}: {}",
                nat.failure_code().unwrap_or("Failed"),
                nat.failure_message().unwrap_or("the NAT gateway failed")
            )),
            Some(state) => Status::InProgress(state.as_str().to_owned()),
            None => Status::InProgress("pending".into()),
        };
        let outputs = outputs(&[
            ("id", Some(id)),
            ("public_ip", first.and_then(|a| a.public_ip())),
        ]);
        live(
            address,
            ResourceKind::NatGateway,
            id,
            ownership,
            status,
            attributes,
            outputs,
        )
    }
}

#[async_trait]
impl ResourceProvider for NatGatewayProvider {
    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let filters = vec![
            filter("tag:Name", [desired.spec.name().unwrap_or_default()]),
            Self::live_states(),
        ];
        let found = pick(
            desired,
            self.describe(&desired.address, filters, Vec::new()).await?,
            |n| n.tags(),
        );
        Ok(found.map(|nat| {
            Self::to_live(
                &desired.address,
                &nat,
                ownership(desired, &tag_map(nat.tags())),
            )
        }))
    }

    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        let placeholder = Address::new(Component::Network, "nat_gateway");
        let mut filters = profile_filters(profile);
        filters.push(Self::live_states());
        let found = self.describe(&placeholder, filters, Vec::new()).await?;
        Ok(found
            .iter()
            .filter_map(|n| {
                Some(Self::to_live(
                    &address_of(n.tags())?,
                    n,
                    ObservedOwnership::Owned,
                ))
            })
            .collect())
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let spec = &desired.spec;
        let output = self
            .0
            .client
            .create_nat_gateway()
            .subnet_id(known_str(spec.get("subnet_id")).unwrap_or_default())
            .allocation_id(known_str(spec.get("allocation_id")).unwrap_or_default())
            .connectivity_type(ConnectivityType::from(
                known_str(spec.get("connectivity_type")).unwrap_or("public"),
            ))
            .client_token(client_token(desired))
            .tag_specifications(tag_specification(ResourceType::Natgateway, spec))
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:CreateNatGateway", e));
        let output = match output {
            Ok(output) => output,
            // The Elastic IP is taken: by our gateway when an earlier attempt made it and
            // its answer was lost (past the token's lifetime, or not honoured).
            Err(err) if already_associated(&err) => {
                return match self.read(desired).await? {
                    Some(live) if live.ownership == ObservedOwnership::Owned => Ok(live),
                    _ => Err(err),
                };
            }
            Err(err) => return Err(err),
        };
        let nat = output.nat_gateway().ok_or_else(|| {
            failed(
                address,
                "EmptyResponse",
                "CreateNatGateway returned no gateway",
            )
        })?;
        Ok(Self::to_live(address, nat, ObservedOwnership::Owned))
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
            .delete_nat_gateway()
            .nat_gateway_id(&live.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(&live.address, "ec2:DeleteNatGateway", e) {
                ProviderError::NotFound { .. } => Ok(()),
                err => Err(err),
            },
        }
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        let address = &live.address;
        wait_until_ready(address, &live.id, Backoff::SLOW, || async {
            let found = absent(
                self.describe(address, Vec::new(), vec![live.id.clone()])
                    .await,
            )?
            .unwrap_or_default();
            Ok(found
                .first()
                .map(|n| Self::to_live(address, n, live.ownership.clone())))
        })
        .await
    }

    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        // Its Elastic IP is released only once the gateway is `deleted`.
        wait_until_gone(Backoff::SLOW, || async {
            let found = absent(
                self.describe(&live.address, Vec::new(), vec![live.id.clone()])
                    .await,
            )?
            .unwrap_or_default();
            Ok(found
                .iter()
                .any(|n| n.state() != Some(&NatGatewayState::Deleted)))
        })
        .await
    }
}

// --- route tables ---------------------------------------------------------------------

struct RouteTableProvider(Ec2);

/// One route as the spec writes it: a destination and one target.
fn route_value(route: &aws_sdk_ec2::types::Route) -> Option<Value> {
    let destination = route.destination_cidr_block()?;
    let target = [
        ("gateway_id", route.gateway_id()),
        ("nat_gateway_id", route.nat_gateway_id()),
        ("transit_gateway_id", route.transit_gateway_id()),
        (
            "vpc_peering_connection_id",
            route.vpc_peering_connection_id(),
        ),
        ("network_interface_id", route.network_interface_id()),
    ]
    .into_iter()
    .find_map(|(key, id)| Some((key, id?)))?;
    Some(Value::Map(
        [
            (
                "destination_cidr_block".to_owned(),
                Value::from(destination),
            ),
            (target.0.to_owned(), Value::from(target.1)),
        ]
        .into(),
    ))
}

fn route_destination(route: &Value) -> Option<&str> {
    route.as_map()?.get("destination_cidr_block")?.as_str()
}

impl RouteTableProvider {
    async fn describe(
        &self,
        address: &Address,
        filters: Vec<Filter>,
        ids: Vec<String>,
    ) -> Result<Vec<aws_sdk_ec2::types::RouteTable>, ProviderError> {
        self.0
            .client
            .describe_route_tables()
            .set_filters((!filters.is_empty()).then_some(filters))
            .set_route_table_ids((!ids.is_empty()).then_some(ids))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(address, "ec2:DescribeRouteTables", e))
    }

    fn to_live(
        address: &Address,
        table: &aws_sdk_ec2::types::RouteTable,
        ownership: ObservedOwnership,
        hint: &Spec,
    ) -> Live {
        let id = table.route_table_id().unwrap_or_default();
        // Only the routes someone added: the VPC's local routes come with the table.
        let mut routes: Vec<Value> = table
            .routes()
            .iter()
            .filter(|r| r.origin().is_none_or(|o| o.as_str() == "CreateRoute"))
            .filter_map(route_value)
            .collect();
        let order: Vec<String> = match hint.get("routes") {
            Some(Value::List(items)) => items
                .iter()
                .filter_map(|r| route_destination(r).map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        routes.sort_by_key(|r| {
            let destination = route_destination(r).unwrap_or_default().to_owned();
            (
                order
                    .iter()
                    .position(|d| *d == destination)
                    .unwrap_or(usize::MAX),
                destination,
            )
        });
        let subnets: Vec<String> = table
            .associations()
            .iter()
            .filter(|a| !a.main().unwrap_or(false))
            .filter_map(|a| a.subnet_id().map(str::to_owned))
            .collect();
        let attributes = Spec::new()
            .with("vpc_id", table.vpc_id().unwrap_or_default())
            .with("routes", Value::List(routes))
            .with("subnet_ids", order_like(hint.get("subnet_ids"), subnets));
        let attributes = with_tags(attributes, table.tags());
        let outputs = outputs(&[("id", Some(id))]);
        live(
            address,
            ResourceKind::RouteTable,
            id,
            ownership,
            Status::Ready,
            attributes,
            outputs,
        )
    }

    async fn add_route(
        &self,
        address: &Address,
        id: &str,
        route: &Value,
        replace: bool,
    ) -> Result<(), ProviderError> {
        let Some(map) = route.as_map() else {
            return Ok(());
        };
        let get = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
        if replace {
            self.0
                .client
                .replace_route()
                .route_table_id(id)
                .set_destination_cidr_block(get("destination_cidr_block"))
                .set_gateway_id(get("gateway_id"))
                .set_nat_gateway_id(get("nat_gateway_id"))
                .send()
                .await
                .map_err(|e| sdk_error(address, "ec2:ReplaceRoute", e))?;
        } else {
            let created = self
                .0
                .client
                .create_route()
                .route_table_id(id)
                .set_destination_cidr_block(get("destination_cidr_block"))
                .set_gateway_id(get("gateway_id"))
                .set_nat_gateway_id(get("nat_gateway_id"))
                .send()
                .await;
            if let Err(e) = created {
                match sdk_error(address, "ec2:CreateRoute", e) {
                    // Added by an earlier attempt, maybe to another target: set it.
                    ProviderError::AlreadyExists { .. } => {
                        return Box::pin(self.add_route(address, id, route, true)).await;
                    }
                    err => return Err(err),
                }
            }
        }
        Ok(())
    }

    /// Makes the table's routes those of `wanted`.
    async fn set_routes(
        &self,
        address: &Address,
        id: &str,
        current: &[Value],
        wanted: &[Value],
    ) -> Result<(), ProviderError> {
        for route in wanted {
            let destination = route_destination(route);
            match current.iter().find(|c| route_destination(c) == destination) {
                Some(existing) if existing == route => {}
                Some(_) => self.add_route(address, id, route, true).await?,
                None => self.add_route(address, id, route, false).await?,
            }
        }
        for route in current {
            let destination = route_destination(route);
            if !wanted.iter().any(|w| route_destination(w) == destination) {
                self.0
                    .client
                    .delete_route()
                    .route_table_id(id)
                    .set_destination_cidr_block(destination.map(str::to_owned))
                    .send()
                    .await
                    .map_err(|e| sdk_error(address, "ec2:DeleteRoute", e))?;
            }
        }
        Ok(())
    }

    /// Associates the table with exactly the subnets of `wanted`. A subnet associated
    /// with another table is moved over, as a subnet has one table at a time.
    async fn set_subnets(
        &self,
        address: &Address,
        id: &str,
        current: &[String],
        wanted: &[String],
    ) -> Result<(), ProviderError> {
        for subnet in wanted.iter().filter(|s| !current.contains(s)) {
            let elsewhere = self
                .describe(
                    address,
                    vec![filter("association.subnet-id", [subnet.as_str()])],
                    Vec::new(),
                )
                .await?
                .iter()
                .flat_map(|t| t.associations().to_vec())
                .find(|a| a.subnet_id() == Some(subnet.as_str()))
                .and_then(|a| a.route_table_association_id().map(str::to_owned));
            match elsewhere {
                Some(association) => {
                    self.0
                        .client
                        .replace_route_table_association()
                        .association_id(association)
                        .route_table_id(id)
                        .send()
                        .await
                        .map_err(|e| sdk_error(address, "ec2:ReplaceRouteTableAssociation", e))?;
                }
                None => {
                    self.0
                        .client
                        .associate_route_table()
                        .route_table_id(id)
                        .subnet_id(subnet)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| sdk_error(address, "ec2:AssociateRouteTable", e))
                        .or_else(|err| {
                            if already_associated(&err) {
                                Ok(())
                            } else {
                                Err(err)
                            }
                        })?;
                }
            }
        }
        let stale: Vec<&String> = current.iter().filter(|s| !wanted.contains(s)).collect();
        if !stale.is_empty() {
            self.disassociate(address, id, |subnet| {
                stale.iter().any(|s| s.as_str() == subnet)
            })
            .await?;
        }
        Ok(())
    }

    async fn disassociate(
        &self,
        address: &Address,
        id: &str,
        which: impl Fn(&str) -> bool,
    ) -> Result<(), ProviderError> {
        let tables = absent(
            self.describe(address, Vec::new(), vec![id.to_owned()])
                .await,
        )?
        .unwrap_or_default();
        for association in tables.iter().flat_map(|t| t.associations().to_vec()) {
            let (Some(subnet), Some(association_id)) = (
                association.subnet_id(),
                association.route_table_association_id(),
            ) else {
                continue;
            };
            if association.main().unwrap_or(false) || !which(subnet) {
                continue;
            }
            match self
                .0
                .client
                .disassociate_route_table()
                .association_id(association_id)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) => match sdk_error(address, "ec2:DisassociateRouteTable", e) {
                    ProviderError::NotFound { .. } => {}
                    err => return Err(err),
                },
            }
        }
        Ok(())
    }
}

fn list_of(value: Option<&Value>) -> Vec<Value> {
    match value {
        Some(Value::List(items)) => items.clone(),
        _ => Vec::new(),
    }
}

#[async_trait]
impl ResourceProvider for RouteTableProvider {
    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let found = pick(
            desired,
            self.describe(
                &desired.address,
                name_filters(desired, "tag:Name"),
                Vec::new(),
            )
            .await?,
            |t| t.tags(),
        );
        Ok(found.map(|table| {
            Self::to_live(
                &desired.address,
                &table,
                ownership(desired, &tag_map(table.tags())),
                &desired.spec,
            )
        }))
    }

    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        let placeholder = Address::new(Component::Network, "route_table");
        let found = self
            .describe(&placeholder, profile_filters(profile), Vec::new())
            .await?;
        Ok(found
            .iter()
            .filter_map(|t| {
                Some(Self::to_live(
                    &address_of(t.tags())?,
                    t,
                    ObservedOwnership::Owned,
                    &Spec::new(),
                ))
            })
            .collect())
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        if let Some(live) = resume(self, desired).await? {
            return Ok(live);
        }
        let address = &desired.address;
        let spec = &desired.spec;
        let output = self
            .0
            .client
            .create_route_table()
            .vpc_id(known_str(spec.get("vpc_id")).unwrap_or_default())
            .client_token(client_token(desired))
            .tag_specifications(tag_specification(ResourceType::RouteTable, spec))
            .customize()
            .config_override(once())
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:CreateRouteTable", e))?;
        let id = output
            .route_table()
            .and_then(|t| t.route_table_id())
            .unwrap_or_default()
            .to_owned();
        self.set_routes(address, &id, &[], &list_of(spec.get("routes")))
            .await?;
        self.set_subnets(address, &id, &[], &strings(spec.get("subnet_ids")))
            .await?;
        let tables = self.describe(address, Vec::new(), vec![id.clone()]).await?;
        let table = tables.first().ok_or_else(|| vanished(address, &id))?;
        Ok(Self::to_live(
            address,
            table,
            ObservedOwnership::Owned,
            spec,
        ))
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
                "routes" => {
                    let current = list_of(live.attributes.get("routes"));
                    self.set_routes(
                        address,
                        &live.id,
                        &current,
                        &list_of(desired.spec.get("routes")),
                    )
                    .await?;
                }
                "subnet_ids" => {
                    let current = strings(live.attributes.get("subnet_ids"));
                    self.set_subnets(
                        address,
                        &live.id,
                        &current,
                        &strings(desired.spec.get("subnet_ids")),
                    )
                    .await?;
                }
                "tags" => self.0.put_tags(address, &live.id, &desired.spec).await?,
                other => return Err(unsupported(address, other)),
            }
        }
        let tables = self
            .describe(address, Vec::new(), vec![live.id.clone()])
            .await?;
        let table = tables.first().ok_or_else(|| vanished(address, &live.id))?;
        Ok(Self::to_live(
            address,
            table,
            live.ownership.clone(),
            &desired.spec,
        ))
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        self.disassociate(&live.address, &live.id, |_| true).await?;
        match self
            .0
            .client
            .delete_route_table()
            .route_table_id(&live.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(&live.address, "ec2:DeleteRouteTable", e) {
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
                .map(|t| Self::to_live(address, t, live.ownership.clone(), &live.attributes)))
        })
        .await
    }

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        let mut changes = diff_attributes(desired, live, default_change_class);
        ignore_order(&mut changes, &["routes", "subnet_ids"]);
        changes
    }
}

// --- security groups ------------------------------------------------------------------

struct SecurityGroupProvider(Ec2);

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

#[async_trait]
impl ResourceProvider for SecurityGroupProvider {
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
}

// --- launch templates -----------------------------------------------------------------

struct LaunchTemplateProvider(Ec2);

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

#[async_trait]
impl ResourceProvider for LaunchTemplateProvider {
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

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        let mut changes = diff_attributes(desired, live, default_change_class);
        ignore_order(&mut changes, &["security_group_ids"]);
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::operation::create_nat_gateway::CreateNatGatewayOutput;
    use aws_sdk_ec2::types::NatGateway;
    use aws_smithy_mocks::{
        MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock,
    };

    /// An EC2 client whose calls `rules` answer; SDK retries off, so each answer's
    /// classification is what is seen.
    fn client(rules: &[&Rule]) -> Client {
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in rules {
            interceptor = interceptor.with_rule(rule);
        }
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
            .region(aws_sdk_ec2::config::Region::new("us-west-2"))
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "AKID", "SECRET", None, None, "test",
            ))
            .http_client(create_mock_http_client())
            .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
            .interceptor(interceptor)
            .build();
        Client::from_conf(config)
    }

    /// An EC2 (query protocol) error answer.
    fn ec2_error(code: &str, message: &str) -> Option<String> {
        Some(format!(
            "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
        ))
    }

    fn nat_gateway() -> Resource {
        let profile = crate::profile::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/example.yaml"),
        )
        .unwrap();
        let stack = crate::stack::build(&profile).unwrap();
        let mut nat = stack
            .get(&"network.nat_gateway[us-west-2a]".parse().unwrap())
            .unwrap()
            .clone();
        // As the executor hands it over: references resolved.
        nat.spec = nat
            .spec
            .resolve(&|r| Some(Value::from(format!("{}-id", r.address.name()))));
        nat
    }

    #[tokio::test]
    async fn nat_gateway_is_created_once_tagged_with_a_deterministic_token() {
        let desired = nat_gateway();
        let token = client_token(&desired);
        let expected = token.clone();
        let create = mock!(Client::create_nat_gateway)
            .match_requests(move |r| {
                let tags = r
                    .tag_specifications()
                    .first()
                    .map(|t| tag_map(t.tags()))
                    .unwrap_or_default();
                r.client_token() == Some(expected.as_str())
                    && r.subnet_id() == Some("subnet-id")
                    && r.allocation_id() == Some("nat_eip-id")
                    && tags.get(PROFILE_TAG).map(String::as_str) == Some("example")
                    && tags.get(ADDRESS_TAG).map(String::as_str)
                        == Some("network.nat_gateway[us-west-2a]")
            })
            .then_output(|| {
                CreateNatGatewayOutput::builder()
                    .nat_gateway(
                        NatGateway::builder()
                            .nat_gateway_id("nat-1")
                            .subnet_id("subnet-id")
                            .state(NatGatewayState::Pending)
                            .build(),
                    )
                    .build()
            });
        let provider = NatGatewayProvider(Ec2 {
            client: client(&[&create]),
        });
        let live = provider.create(&desired).await.unwrap();
        assert_eq!(live.id, "nat-1");
        assert_eq!(live.status, Status::InProgress("pending".into()));
        assert_eq!(create.num_calls(), 1);
        assert_eq!(token, client_token(&nat_gateway()), "the same on every run");
    }

    #[tokio::test]
    async fn throttling_and_5xx_are_retryable_and_a_permanent_error_names_resource_and_code() {
        let desired = nat_gateway();
        for (status, body, code, retryable) in [
            (
                503,
                ec2_error("RequestLimitExceeded", "Request limit exceeded."),
                "RequestLimitExceeded",
                true,
            ),
            (
                500,
                ec2_error("InternalError", "An internal error has occurred"),
                "InternalError",
                true,
            ),
            (503, None, "HTTP503", true),
            (
                400,
                ec2_error("InvalidParameterValue", "Invalid value for allocationId"),
                "InvalidParameterValue",
                false,
            ),
        ] {
            let rule = mock!(Client::create_nat_gateway)
                .sequence()
                .http_status(status, body)
                .build();
            let provider = NatGatewayProvider(Ec2 {
                client: client(&[&rule]),
            });
            let err = provider.create(&desired).await.unwrap_err();
            assert_eq!(err.retryable(), retryable, "{err}");
            assert_eq!(err.code(), code, "{err}");
            assert!(
                err.to_string()
                    .starts_with("network.nat_gateway[us-west-2a]: "),
                "{err}"
            );
        }
    }

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
