//! EC2 providers: the VPC and its secondary (pod) CIDR, subnets, the internet gateway,
//! Elastic IPs, NAT gateways, route tables, security groups with their ingress rules,
//! the node groups' launch templates, and the Atlas interface VPC endpoint.
//!
//! Owned resources are found by their `Name` tag (security groups and launch templates
//! by their real name) with describe filters, and carry the spec's tags from their
//! creation on. Adopted VPCs and subnets are read by id, checked, and never changed.
//!
//! One file per resource kind, named after it, each in the same order: the provider
//! type and its spec conversions, then `create`, `read` (with `observe` and `list`),
//! `update` (with `diff`), `delete`, the waiters, and last the kind's finders (its
//! describe calls) and call helpers; its unit tests at the bottom. This module holds
//! what the kinds share: the one EC2 client, describe filters, tag conversion, the
//! find-by-tag-then-name lookup and the waits. Those items are private to `ec2`, so
//! only the kind files see them, and each imports by name what it uses.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use super::support::{Backoff, Poll, failed, known_str, poll, vanished};
use super::{sdk_error, spec_tags, tags_value};
use crate::provider::{
    AttributeChange, ChangeClass, Live, ObservedOwnership, ProviderError, Providers, Status,
    diff_attributes,
};
use crate::stack::{ADDRESS_TAG, Address, PROFILE_TAG, Resource, ResourceKind, Spec, Value};

mod cidr_association;
mod elastic_ip;
mod internet_gateway;
mod launch_template;
mod nat_gateway;
mod route_table;
mod security_group;
mod subnet;
mod vpc;
mod vpc_endpoint;

// For the Atlas providers, which decide ownership from the VPC endpoint's tags.
pub(crate) use vpc_endpoint::{EndpointFacts, EndpointLookup, NEXT_STEP};

use cidr_association::CidrAssociationProvider;
use elastic_ip::ElasticIpProvider;
use internet_gateway::InternetGatewayProvider;
use launch_template::LaunchTemplateProvider;
use nat_gateway::NatGatewayProvider;
use route_table::RouteTableProvider;
use security_group::SecurityGroupProvider;
use subnet::SubnetProvider;
use vpc::VpcProvider;
use vpc_endpoint::VpcEndpointProvider;

/// Registers the providers of every EC2 resource kind, over one shared client.
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
        Arc::new(LaunchTemplateProvider(ec2.clone())),
    );
    providers.insert(
        ResourceKind::VpcEndpoint,
        Arc::new(VpcEndpointProvider { client: ec2.client }),
    );
}

// --- shared -------------------------------------------------------------------------

#[derive(Clone)]
struct Ec2 {
    client: Client,
}

fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
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
    /// balancers Kubernetes made: a service describes the interfaces it manages, ELB's as
    /// `ELB app/…` or `ELB net/…` (EC2 User Guide, "Requester-managed network interfaces").
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

/// Refuses an in-place change of `attribute`: EC2 has no call that makes it.
fn unsupported(address: &Address, attribute: &str) -> ProviderError {
    ProviderError::rejected(
        address,
        "UnsupportedChange",
        format!("{attribute} cannot be changed in place"),
    )
}

/// The items of a list value; none when it is unset.
fn list_of(value: Option<&Value>) -> Vec<Value> {
    match value {
        Some(Value::List(items)) => items.clone(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The EC2 kinds, the VPC endpoint among them: each file under `ec2/` serves one.
    const EC2_KINDS: [ResourceKind; 10] = [
        ResourceKind::Vpc,
        ResourceKind::VpcCidrAssociation,
        ResourceKind::Subnet,
        ResourceKind::InternetGateway,
        ResourceKind::ElasticIp,
        ResourceKind::NatGateway,
        ResourceKind::RouteTable,
        ResourceKind::SecurityGroup,
        ResourceKind::LaunchTemplate,
        ResourceKind::VpcEndpoint,
    ];

    #[test]
    fn register_serves_every_ec2_kind_and_no_other() {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-west-2"))
            .build();
        let mut providers = Providers::new();
        register(&mut providers, &config);
        for kind in ResourceKind::ALL {
            assert_eq!(
                providers.get(kind).is_some(),
                EC2_KINDS.contains(&kind),
                "{kind:?}"
            );
        }
    }
}
