//! Providers of the Atlas side of the private endpoint, through the Atlas Admin API
//! ([`crate::atlas`]): the project's AWS endpoint service in one region
//! ([`ResourceKind::AtlasEndpointService`]) and the registration of the AWS VPC endpoint
//! with it ([`ResourceKind::AtlasEndpoint`]).
//!
//! The flow (docs/aws-facts.md, "MongoDB Atlas private endpoint"): find or create the endpoint service, wait for `WAITING_FOR_USER` and read
//! its AWS service name; the VPC endpoint is created with it (`atlas.vpc_endpoint`, an
//! AWS provider); register that endpoint's id, wait until Atlas says `AVAILABLE` and AWS
//! says `available`. A service `FAILED` or an endpoint `REJECTED` ends with an error
//! naming the project, the endpoint service and the endpoint, and Atlas's
//! `errorMessage`. Destroy goes in reverse.
//!
//! # Statuses (MongoDB's OpenAPI spec, `mongodb/openapi` `openapi/v2.yaml`)
//!
//! - endpoint service (`AWSPrivateLinkConnection.status`): `INITIATING` is in progress;
//!   `WAITING_FOR_USER` and `AVAILABLE` are ready once the AWS service name is known;
//!   `FAILED` is an error; `DELETING` is on its way out: absent for planning, waited out
//!   before creating anew, never a live owned service. The spec (deletePrivateEndpoint):
//!   "When the last private endpoint is removed from a given private endpoint service,
//!   that private endpoint service is also removed", so `down` finds it `DELETING` (or
//!   gone) after the registration and only waits;
//! - registration (`AWSInterfaceEndpoint.connectionStatus`): `PENDING_ACCEPTANCE` and
//!   `PENDING` are in progress; `AVAILABLE` is ready (once AWS says `available` too);
//!   `REJECTED` is an error; `DELETING` is absent for planning and waited out.
//!
//! # Ownership
//!
//! Atlas objects carry no tags, and Atlas keeps one AWS endpoint service per project and
//! region, so ownership is read from the AWS side, whose endpoints carry our tags:
//!
//! - the endpoint service of the profile's project and region is **owned** when no
//!   interface endpoint is registered with it (it is the one bpa-infra would create, or
//!   a leftover nobody uses) or when one of them is a VPC endpoint tagged with this
//!   profile; it **belongs to another profile** when the registered endpoints carry only
//!   another profile's tag; otherwise it is **unowned** (someone's endpoints use it) and
//!   the plan reports a conflict rather than touch it. `down` deletes an owned service
//!   only once no interface endpoint is registered with it any more, and otherwise
//!   stops with an error naming the endpoints still registered;
//! - a registration (`AtlasEndpoint`) has the ownership of its VPC endpoint's tags.
//!
//! Before the VPC endpoint's id is known (a plan reads with references unresolved), the
//! registration is found through the VPC endpoint this profile tagged at the address
//! the spec refers to.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::atlas::{AtlasClient, AtlasError, EndpointService, InterfaceEndpoint, atlas_region};

/// The output of a registration that holds why its private connection strings could
/// not be read (the call, the status and Atlas's `errorCode`); absent when they were.
pub const CONNECTIONS_UNREAD: &str = "private_connection_error";

/// Returns the warnings a command reading `lives` should show: the private connection
/// strings Atlas could not give (so that an empty output is not taken for "none yet").
pub fn read_warnings(lives: &[Live]) -> Vec<String> {
    lives
        .iter()
        .filter(|live| live.kind == ResourceKind::AtlasEndpoint)
        .filter_map(|live| live.outputs.get(CONNECTIONS_UNREAD)?.as_str())
        .map(|why| format!("the Atlas private connection strings could not be read: {why}"))
        .collect()
}

/// Atlas's status of a service or registration that is on its way out.
const DELETING: &str = "DELETING";
use crate::profile::{AtlasTarget, Profile};
use crate::provider::aws::{EndpointFacts, EndpointLookup, NEXT_STEP};
use crate::provider::{
    AttributeChange, Live, ObservedOwnership, ProviderError, Providers, ResourceProvider, Status,
};
use crate::stack::{Address, Component, Resource, ResourceKind, Spec, Value};

/// The first wait between two looks at something Atlas is changing; it grows by half
/// each time up to [`MAX_POLL`]. Atlas takes a minute or two for each step.
const FIRST_POLL: Duration = Duration::from_secs(1);
const MAX_POLL: Duration = Duration::from_secs(10);

/// Registers the Atlas providers, talking to Atlas through `client` and reading the VPC
/// endpoints' ownership tags with the AWS configuration `aws`.
pub fn register(providers: &mut Providers, client: AtlasClient, aws: &aws_config::SdkConfig) {
    let endpoints = EndpointLookup::new(aws);
    providers.insert(
        ResourceKind::AtlasEndpointService,
        Arc::new(EndpointServiceProvider {
            atlas: client.clone(),
            endpoints: endpoints.clone(),
        }),
    );
    providers.insert(
        ResourceKind::AtlasEndpoint,
        Arc::new(EndpointProvider {
            atlas: client,
            endpoints,
        }),
    );
}

/// Registers stand-ins for the Atlas providers that fail every call with `reason` (which
/// the CLI words: which credentials to set). A command that never touches the Atlas
/// side (`up --only eks`) is not bothered; one that does gets the reason.
pub fn register_unavailable(providers: &mut Providers, reason: impl Into<String>) {
    let provider = Arc::new(Unavailable {
        reason: reason.into(),
    });
    providers.insert(ResourceKind::AtlasEndpointService, provider.clone());
    providers.insert(ResourceKind::AtlasEndpoint, provider);
}

/// Returns the address of the Atlas VPC endpoint in the stack of every profile with an
/// `atlas` section.
pub fn vpc_endpoint_address() -> Address {
    Address::new(Component::Atlas, "vpc_endpoint")
}

/// Returns what a person still has to do in the Atlas UI, if anything: when the profile
/// names the endpoint service (`atlas.endpoint_service_name`) bpa-infra makes no Atlas
/// call, and the VPC endpoint's outputs (`vpc_endpoint`, from the run's summary or the
/// live state) say whether Atlas may not know its id yet.
pub fn manual_next_step(
    profile: &Profile,
    vpc_endpoint: Option<&BTreeMap<String, Value>>,
) -> Option<String> {
    let atlas = profile.atlas.as_ref()?;
    if !matches!(atlas.target, AtlasTarget::ServiceName(_)) {
        return None;
    }
    vpc_endpoint?
        .get(NEXT_STEP)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

// --- shared ---------------------------------------------------------------------------

/// Maps a client error onto the provider's classes: 429 is throttling, 5xx and broken
/// connections are worth retrying, the rest is permanent. The message keeps the
/// request, whose path names the project and resource ids, and Atlas's `errorCode`.
fn atlas_error(address: &Address, err: AtlasError) -> ProviderError {
    let code = err.code().to_owned();
    let message = err.to_string();
    let address = address.clone();
    if err.is_project_not_found() {
        let project = err.project().unwrap_or("?").to_owned();
        return ProviderError::Rejected {
            address,
            code,
            message: format!(
                "Atlas has no project {project} ({message}): check atlas.project_id in the profile (the 24-hex id in the Atlas UI under Project Settings) and that the credentials belong to that project's organization"
            ),
            source: Some(Box::new(err)),
        };
    }
    match (&err, err.status()) {
        (AtlasError::Transport { .. }, _) => ProviderError::Connection {
            address,
            code,
            message,
            source: Some(Box::new(err)),
        },
        (_, Some(429)) => ProviderError::Throttled {
            address,
            code,
            message,
        },
        (_, Some(status)) if status >= 500 => ProviderError::Unavailable {
            address,
            code,
            message,
        },
        (_, Some(404)) => ProviderError::NotFound {
            address,
            code,
            message,
        },
        (_, Some(409)) => ProviderError::AlreadyExists {
            address,
            code,
            message,
        },
        (_, Some(401 | 403)) => ProviderError::Rejected {
            address,
            code,
            message: format!(
                "{message}; check the Atlas credentials, and that the service account or API key has the Project Owner role in this project"
            ),
            source: Some(Box::new(err)),
        },
        _ => ProviderError::Rejected {
            address,
            code,
            message,
            source: Some(Box::new(err)),
        },
    }
}

/// Returns a string attribute the spec must hold, known.
fn required<'a>(desired: &'a Resource, attribute: &str) -> Result<&'a str, ProviderError> {
    desired
        .spec
        .get(attribute)
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ProviderError::rejected(
                &desired.address,
                "UnresolvedReference",
                format!("{attribute} is not known"),
            )
        })
}

/// Returns a string attribute of a live resource (as its provider recorded it).
fn recorded<'a>(live: &'a Live, attribute: &str) -> Result<&'a str, ProviderError> {
    live.attributes
        .get(attribute)
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ProviderError::rejected(
                &live.address,
                "MissingAttribute",
                format!("the live {} has no {attribute}", live.kind),
            )
        })
}

/// Looks with `check` until it returns something, waiting longer each time. No
/// deadline: the executor bounds every wait with the kind's timeout.
async fn poll<T, F, Fut>(mut check: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ProviderError>>,
{
    let mut delay = FIRST_POLL;
    loop {
        if let Some(done) = check().await? {
            return Ok(done);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 3 / 2).min(MAX_POLL);
    }
}

fn unsupported(address: &Address, changes: &[AttributeChange]) -> ProviderError {
    let names: Vec<&str> = changes.iter().map(|c| c.attribute.as_str()).collect();
    ProviderError::rejected(
        address,
        "UnsupportedChange",
        format!("{} cannot be changed in place in Atlas", names.join(", ")),
    )
}

// --- endpoint service -----------------------------------------------------------------

struct EndpointServiceProvider {
    atlas: AtlasClient,
    endpoints: EndpointLookup,
}

impl EndpointServiceProvider {
    fn to_live(
        address: &Address,
        project: &str,
        service: &EndpointService,
        ownership: ObservedOwnership,
    ) -> Live {
        let region = service
            .region_name
            .as_deref()
            .map(atlas_region)
            .unwrap_or_default();
        let state = service.status.as_deref().unwrap_or("INITIATING");
        let status = match (state, &service.endpoint_service_name) {
            ("WAITING_FOR_USER" | "AVAILABLE", Some(_)) => Status::Ready,
            // Atlas gives the AWS name with WAITING_FOR_USER; until then it is working.
            ("WAITING_FOR_USER" | "AVAILABLE" | "INITIATING", None) => {
                Status::InProgress(state.to_owned())
            }
            ("FAILED", _) => Status::Failed(format!(
                "Atlas could not make endpoint service {} of project {project} in {region}: {}",
                service.id,
                service
                    .error_message
                    .as_deref()
                    .unwrap_or("no reason given")
            )),
            (DELETING, _) => Status::Failed(format!(
                "endpoint service {} of project {project} in {region} is being deleted by Atlas (its last interface endpoint was removed, or someone deleted it)",
                service.id
            )),
            // A status the spec does not list: keep looking, the kind's timeout bounds it.
            (other, _) => Status::InProgress(other.to_owned()),
        };
        let attributes = Spec::new()
            .with("project_id", project)
            .with("provider_name", "AWS")
            .with("region", region.as_str());
        let mut outputs = BTreeMap::from([
            ("id".to_owned(), Value::from(service.id.as_str())),
            ("status".to_owned(), Value::from(state)),
            (
                "interface_endpoints".to_owned(),
                Value::strings(service.interface_endpoints.iter().cloned()),
            ),
        ]);
        if let Some(name) = &service.endpoint_service_name {
            outputs.insert("service_name".to_owned(), Value::from(name.as_str()));
        }
        Live {
            address: address.clone(),
            kind: ResourceKind::AtlasEndpointService,
            id: service.id.clone(),
            ownership,
            status,
            attributes,
            outputs,
        }
    }

    /// Decides who owns `service` from the tags of the VPC endpoints registered with it
    /// (see the module docs).
    async fn ownership(
        &self,
        desired: &Resource,
        service: &EndpointService,
    ) -> Result<ObservedOwnership, ProviderError> {
        if service.interface_endpoints.is_empty() {
            return Ok(ObservedOwnership::of(desired, desired.profile_tag()));
        }
        let tagged: Vec<EndpointFacts> = self
            .endpoints
            .tagged(&desired.address)
            .await?
            .into_iter()
            .filter(|e| service.interface_endpoints.contains(&e.id))
            .collect();
        let ours = desired.profile_tag();
        let profile = tagged
            .iter()
            .find(|e| e.profile.as_deref() == ours)
            .or_else(|| tagged.first())
            .and_then(|e| e.profile.as_deref());
        Ok(ObservedOwnership::of(desired, profile))
    }

    async fn get(
        &self,
        address: &Address,
        project: &str,
        id: &str,
    ) -> Result<Option<EndpointService>, ProviderError> {
        self.atlas
            .endpoint_service(project, id)
            .await
            .map_err(|e| atlas_error(address, e))
    }

    /// Waits until no service of the project in `region` is `DELETING`: Atlas keeps one
    /// service per project and region, so a new one can only follow the old one.
    async fn wait_gone_in_region(
        &self,
        address: &Address,
        project: &str,
        region: &str,
    ) -> Result<(), ProviderError> {
        poll(|| async {
            let services = self
                .atlas
                .endpoint_services(project)
                .await
                .map_err(|e| atlas_error(address, e))?;
            let leaving = services
                .iter()
                .any(|s| s.is_in(region) && s.status.as_deref() == Some(DELETING));
            Ok((!leaving).then_some(()))
        })
        .await
    }
}

#[async_trait]
impl ResourceProvider for EndpointServiceProvider {
    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let address = &desired.address;
        let project = required(desired, "project_id")?;
        let region = required(desired, "region")?;
        let services = self
            .atlas
            .endpoint_services(project)
            .await
            .map_err(|e| atlas_error(address, e))?;
        // One on its way out is no service to use or own: absent, made anew once gone.
        let Some(service) = services
            .into_iter()
            .find(|s| s.is_in(region) && s.status.as_deref() != Some(DELETING))
        else {
            return Ok(None);
        };
        let ownership = self.ownership(desired, &service).await?;
        Ok(Some(Self::to_live(address, project, &service, ownership)))
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        // Atlas has one service per project and region: an earlier attempt's is ours.
        if let Some(live) = self.read(desired).await? {
            return match live.ownership {
                ObservedOwnership::Owned => Ok(live),
                _ => Err(ProviderError::AlreadyExists {
                    address: desired.address.clone(),
                    code: "ENDPOINT_SERVICE_EXISTS".to_owned(),
                    message: format!(
                        "project {} already has endpoint service {} in {}, used by interface endpoints that are not this profile's",
                        required(desired, "project_id")?,
                        live.id,
                        required(desired, "region")?
                    ),
                }),
            };
        }
        let project = required(desired, "project_id")?;
        let region = required(desired, "region")?;
        self.wait_gone_in_region(&desired.address, project, region)
            .await?;
        let service = self
            .atlas
            .create_endpoint_service(project, region)
            .await
            .map_err(|e| atlas_error(&desired.address, e))?;
        Ok(Self::to_live(
            &desired.address,
            project,
            &service,
            ObservedOwnership::Owned,
        ))
    }

    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        // Project, provider and region are all it has, and none changes in place.
        if !changes.is_empty() {
            return Err(unsupported(&desired.address, changes));
        }
        self.wait_ready(live).await
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        let address = &live.address;
        let project = recorded(live, "project_id")?;
        let Some(service) = self.get(address, project, &live.id).await? else {
            return Ok(());
        };
        // Atlas removes a service with its last endpoint: nothing to ask, only to wait.
        if service.status.as_deref() == Some(DELETING) {
            return Ok(());
        }
        if !service.interface_endpoints.is_empty() {
            return Err(ProviderError::InUse {
                address: address.clone(),
                code: "ENDPOINT_SERVICE_IN_USE".to_owned(),
                message: format!(
                    "endpoint service {} of project {project} still has interface endpoint(s) {} registered; it is left in place: remove them in Atlas first (they are not this profile's, or are still being deleted), then run down again",
                    live.id,
                    service.interface_endpoints.join(", ")
                ),
            });
        }
        self.atlas
            .delete_endpoint_service(project, &live.id)
            .await
            .map_err(|e| atlas_error(address, e))
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        let address = &live.address;
        let project = recorded(live, "project_id")?;
        poll(|| async {
            let service = self.get(address, project, &live.id).await?.ok_or_else(|| {
                ProviderError::NotFound {
                    address: address.clone(),
                    code: "ENDPOINT_SERVICE_NOT_FOUND".to_owned(),
                    message: format!(
                        "endpoint service {} of project {project} no longer exists",
                        live.id
                    ),
                }
            })?;
            let now = Self::to_live(address, project, &service, live.ownership.clone());
            match &now.status {
                Status::Ready => Ok(Some(now)),
                Status::Failed(reason) => Err(ProviderError::rejected(
                    address,
                    "ENDPOINT_SERVICE_FAILED",
                    reason.clone(),
                )),
                Status::InProgress(_) => Ok(None),
            }
        })
        .await
    }

    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        let project = recorded(live, "project_id")?;
        poll(|| async {
            let found = self.get(&live.address, project, &live.id).await?;
            Ok(found.is_none().then_some(()))
        })
        .await
    }
}

// --- endpoint registration --------------------------------------------------------------

struct EndpointProvider {
    atlas: AtlasClient,
    endpoints: EndpointLookup,
}

/// Where a registration is: the ids Atlas files it under.
struct Registration<'a> {
    project: &'a str,
    service_id: &'a str,
    endpoint_id: &'a str,
}

impl Registration<'_> {
    fn names(&self) -> String {
        format!(
            "AWS endpoint {} at endpoint service {} of project {}",
            self.endpoint_id, self.service_id, self.project
        )
    }
}

impl EndpointProvider {
    fn to_live(
        address: &Address,
        at: &Registration<'_>,
        found: &InterfaceEndpoint,
        ownership: ObservedOwnership,
        connections: BTreeMap<String, Value>,
    ) -> Live {
        let state = found
            .connection_status
            .as_deref()
            .unwrap_or("PENDING_ACCEPTANCE");
        let status = match state {
            "AVAILABLE" => Status::Ready,
            "PENDING_ACCEPTANCE" | "PENDING" => Status::InProgress(state.to_owned()),
            // FAILED is not in the spec's list; should Atlas send it, it is no success.
            "REJECTED" | "FAILED" => Status::Failed(format!(
                "Atlas reports the private endpoint {state}: {}: {}",
                at.names(),
                found
                    .error_message
                    .as_deref()
                    .unwrap_or("no reason given; check that the VPC endpoint uses the endpoint service's name and the region's subnets")
            )),
            DELETING => Status::Failed(format!(
                "Atlas is deleting the private endpoint: {}",
                at.names()
            )),
            // A status the spec does not list: keep looking, the kind's timeout bounds it.
            other => Status::InProgress(other.to_owned()),
        };
        let attributes = Spec::new()
            .with("project_id", at.project)
            .with("endpoint_service_id", at.service_id)
            .with("vpc_endpoint_id", at.endpoint_id);
        let mut outputs = BTreeMap::from([
            ("id".to_owned(), Value::from(at.endpoint_id)),
            ("connection_status".to_owned(), Value::from(state)),
            ("endpoint_service_id".to_owned(), Value::from(at.service_id)),
        ]);
        outputs.extend(connections);
        Live {
            address: address.clone(),
            kind: ResourceKind::AtlasEndpoint,
            id: at.endpoint_id.to_owned(),
            ownership,
            status,
            attributes,
            outputs,
        }
    }

    /// Returns the private connection strings through `endpoint_id`, as outputs
    /// (`private_connection_string` when one cluster has one, and
    /// `private_connection_strings` by cluster). Atlas gives them only once a cluster
    /// uses the endpoint (none yet: no output); when they cannot be read (a retired
    /// version, credentials that may not read clusters) [`CONNECTIONS_UNREAD`] says why,
    /// for the command to warn.
    async fn connections(&self, project: &str, endpoint_id: &str) -> BTreeMap<String, Value> {
        let connections = match self.atlas.private_connections(project).await {
            Ok(connections) => connections,
            Err(err) => {
                return BTreeMap::from([(
                    CONNECTIONS_UNREAD.to_owned(),
                    Value::from(err.to_string()),
                )]);
            }
        };
        let by_cluster: BTreeMap<String, Value> = connections
            .into_iter()
            .filter(|c| c.endpoint_ids.iter().any(|id| id == endpoint_id))
            .filter_map(|c| {
                let text = c.srv_connection_string.or(c.connection_string)?;
                Some((c.cluster, Value::from(text)))
            })
            .collect();
        let mut outputs = BTreeMap::new();
        if by_cluster.len() == 1 {
            let only = by_cluster.values().next().cloned().unwrap_or(Value::Null);
            outputs.insert("private_connection_string".to_owned(), only);
        }
        if !by_cluster.is_empty() {
            outputs.insert(
                "private_connection_strings".to_owned(),
                Value::Map(by_cluster),
            );
        }
        outputs
    }

    /// Finds the VPC endpoint `desired` registers: by id once known, otherwise the one
    /// this profile tagged at the address its spec refers to.
    async fn vpc_endpoint(
        &self,
        desired: &Resource,
    ) -> Result<Option<EndpointFacts>, ProviderError> {
        let address = &desired.address;
        match desired.spec.get("vpc_endpoint_id") {
            Some(Value::Str(id)) => self.endpoints.by_id(address, id).await,
            Some(Value::Ref(reference)) => match desired.profile_tag() {
                Some(profile) => {
                    self.endpoints
                        .owned(address, profile, &reference.address)
                        .await
                }
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }

    async fn get(
        &self,
        address: &Address,
        at: &Registration<'_>,
    ) -> Result<Option<InterfaceEndpoint>, ProviderError> {
        self.atlas
            .endpoint(at.project, at.service_id, at.endpoint_id)
            .await
            .map_err(|e| atlas_error(address, e))
    }

    fn registration(live: &Live) -> Result<Registration<'_>, ProviderError> {
        Ok(Registration {
            project: recorded(live, "project_id")?,
            service_id: recorded(live, "endpoint_service_id")?,
            endpoint_id: &live.id,
        })
    }
}

#[async_trait]
impl ResourceProvider for EndpointProvider {
    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let address = &desired.address;
        let project = required(desired, "project_id")?;
        let Some(vpc_endpoint) = self.vpc_endpoint(desired).await? else {
            return Ok(None);
        };
        let service_id = match desired.spec.get("endpoint_service_id") {
            Some(Value::Str(id)) => id.clone(),
            _ => {
                let services = self
                    .atlas
                    .endpoint_services(project)
                    .await
                    .map_err(|e| atlas_error(address, e))?;
                match services
                    .into_iter()
                    .find(|s| s.interface_endpoints.contains(&vpc_endpoint.id))
                {
                    Some(service) => service.id,
                    None => return Ok(None),
                }
            }
        };
        let at = Registration {
            project,
            service_id: &service_id,
            endpoint_id: &vpc_endpoint.id,
        };
        let Some(found) = self.get(address, &at).await? else {
            return Ok(None);
        };
        // On its way out: absent for planning; create waits for it to go.
        if found.connection_status.as_deref() == Some(DELETING) {
            return Ok(None);
        }
        let connections = if found.connection_status.as_deref() == Some("AVAILABLE") {
            self.connections(project, &vpc_endpoint.id).await
        } else {
            BTreeMap::new()
        };
        let ownership = ObservedOwnership::of(desired, vpc_endpoint.profile.as_deref());
        Ok(Some(Self::to_live(
            address,
            &at,
            &found,
            ownership,
            connections,
        )))
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let at = Registration {
            project: required(desired, "project_id")?,
            service_id: required(desired, "endpoint_service_id")?,
            endpoint_id: required(desired, "vpc_endpoint_id")?,
        };
        // Still leaving from an earlier `down`: register anew once it has gone.
        let existing = match self.get(address, &at).await? {
            Some(found) if found.connection_status.as_deref() == Some(DELETING) => {
                poll(|| async {
                    let now = self.get(address, &at).await?;
                    Ok(now.is_none().then_some(()))
                })
                .await?;
                None
            }
            other => other,
        };
        // Registered by an earlier attempt whose answer was lost: done already.
        let found = match existing {
            Some(found) => found,
            None => match self
                .atlas
                .create_endpoint(at.project, at.service_id, at.endpoint_id)
                .await
            {
                Ok(created) => created,
                Err(err) if err.status() == Some(409) => self
                    .get(address, &at)
                    .await?
                    .ok_or_else(|| atlas_error(address, err))?,
                Err(err) => return Err(atlas_error(address, err)),
            },
        };
        Ok(Self::to_live(
            address,
            &at,
            &found,
            ObservedOwnership::Owned,
            BTreeMap::new(),
        ))
    }

    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        // Its three ids are what it is: a change is a new registration.
        if !changes.is_empty() {
            return Err(unsupported(&desired.address, changes));
        }
        self.wait_ready(live).await
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        let at = Self::registration(live)?;
        self.atlas
            .delete_endpoint(at.project, at.service_id, at.endpoint_id)
            .await
            .map_err(|e| atlas_error(&live.address, e))
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        let address = &live.address;
        let at = Self::registration(live)?;
        let at = &at;
        poll(|| async move {
            let found = self
                .get(address, at)
                .await?
                .ok_or_else(|| ProviderError::NotFound {
                    address: address.clone(),
                    code: "PRIVATE_ENDPOINT_NOT_FOUND".to_owned(),
                    message: format!("the registration of {} no longer exists", at.names()),
                })?;
            let now = Self::to_live(address, at, &found, live.ownership.clone(), BTreeMap::new());
            match &now.status {
                Status::Failed(reason) => Err(ProviderError::rejected(
                    address,
                    found.connection_status.as_deref().unwrap_or("FAILED"),
                    reason.clone(),
                )),
                Status::InProgress(_) => Ok(None),
                Status::Ready => {
                    // Atlas accepted; AWS follows within moments (pendingAcceptance →
                    // available), and only then does traffic flow.
                    let aws = self.endpoints.by_id(address, at.endpoint_id).await?;
                    match aws {
                        Some(aws) if aws.state == "available" => {
                            let connections = self.connections(at.project, at.endpoint_id).await;
                            Ok(Some(Self::to_live(
                                address,
                                at,
                                &found,
                                live.ownership.clone(),
                                connections,
                            )))
                        }
                        Some(aws)
                            if matches!(aws.state.as_str(), "rejected" | "failed" | "expired") =>
                        {
                            Err(ProviderError::rejected(
                                address,
                                "VpcEndpointFailed",
                                format!(
                                    "Atlas accepted {}, but AWS reports the VPC endpoint {}",
                                    at.names(),
                                    aws.state
                                ),
                            ))
                        }
                        Some(_) => Ok(None),
                        None => Err(ProviderError::NotFound {
                            address: address.clone(),
                            code: "InvalidVpcEndpointId.NotFound".to_owned(),
                            message: format!(
                                "the VPC endpoint {} registered with Atlas no longer exists in AWS",
                                at.endpoint_id
                            ),
                        }),
                    }
                }
            }
        })
        .await
    }

    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        let at = Self::registration(live)?;
        let at = &at;
        poll(|| async move {
            let found = self.get(&live.address, at).await?;
            Ok(found.is_none().then_some(()))
        })
        .await
    }
}

// --- without credentials ----------------------------------------------------------------

/// Stands in for the Atlas providers when the Admin API cannot be used.
struct Unavailable {
    reason: String,
}

impl Unavailable {
    fn error(&self, address: &Address) -> ProviderError {
        ProviderError::rejected(address, "AtlasNotConfigured", self.reason.clone())
    }
}

#[async_trait]
impl ResourceProvider for Unavailable {
    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        Err(self.error(&desired.address))
    }

    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        Err(self.error(&desired.address))
    }

    async fn update(
        &self,
        desired: &Resource,
        _live: &Live,
        _changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        Err(self.error(&desired.address))
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        Err(self.error(&live.address))
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        Err(self.error(&live.address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration() -> Registration<'static> {
        Registration {
            project: "0123456789abcdef01234567",
            service_id: "65a1b2c3d4e5f60718293a4b",
            endpoint_id: "vpce-0abc",
        }
    }

    fn endpoint(status: &str, error: Option<&str>) -> InterfaceEndpoint {
        InterfaceEndpoint {
            interface_endpoint_id: Some("vpce-0abc".into()),
            connection_status: Some(status.into()),
            error_message: error.map(str::to_owned),
            delete_requested: Some(false),
        }
    }

    #[test]
    fn a_rejected_endpoint_names_every_id() {
        let live = EndpointProvider::to_live(
            &Address::new(Component::Atlas, "endpoint"),
            &registration(),
            &endpoint("REJECTED", Some("The endpoint was rejected.")),
            ObservedOwnership::Owned,
            BTreeMap::new(),
        );
        let Status::Failed(reason) = &live.status else {
            panic!("{:?}", live.status)
        };
        assert_eq!(
            reason,
            "Atlas reports the private endpoint REJECTED: AWS endpoint vpce-0abc at endpoint service 65a1b2c3d4e5f60718293a4b of project 0123456789abcdef01234567: The endpoint was rejected."
        );
        let pending = EndpointProvider::to_live(
            &Address::new(Component::Atlas, "endpoint"),
            &registration(),
            &endpoint("PENDING_ACCEPTANCE", None),
            ObservedOwnership::Owned,
            BTreeMap::new(),
        );
        assert_eq!(
            pending.status,
            Status::InProgress("PENDING_ACCEPTANCE".into())
        );
        assert_eq!(
            pending.attributes.get("vpc_endpoint_id"),
            Some(&Value::from("vpce-0abc"))
        );
    }

    #[test]
    fn a_service_is_ready_once_it_has_its_aws_name() {
        let service = |status: &str, name: Option<&str>| EndpointService {
            id: "65a1b2c3d4e5f60718293a4b".into(),
            region_name: Some("US_WEST_2".into()),
            status: Some(status.into()),
            endpoint_service_name: name.map(str::to_owned),
            error_message: None,
            interface_endpoints: Vec::new(),
        };
        let address = Address::new(Component::Atlas, "endpoint_service");
        let live = |s| {
            EndpointServiceProvider::to_live(&address, "p", &s, ObservedOwnership::Owned).status
        };
        assert_eq!(
            live(service("INITIATING", None)),
            Status::InProgress("INITIATING".into())
        );
        assert_eq!(
            live(service(
                "WAITING_FOR_USER",
                Some("com.amazonaws.vpce.us-west-2.vpce-svc-0123456789abcdef0")
            )),
            Status::Ready
        );
        assert!(
            matches!(live(service("FAILED", None)), Status::Failed(r) if r.contains("project p in US_WEST_2"))
        );
    }

    #[test]
    fn every_status_of_the_spec_is_handled_on_purpose() {
        let service = |status: &str| EndpointService {
            id: "65a1b2c3d4e5f60718293a4b".into(),
            region_name: Some("US_WEST_2".into()),
            status: Some(status.into()),
            endpoint_service_name: Some("com.amazonaws.vpce.us-west-2.vpce-svc-0123".into()),
            error_message: Some("quota reached".into()),
            interface_endpoints: Vec::new(),
        };
        let address = Address::new(Component::Atlas, "endpoint_service");
        let status = |s: &str| {
            EndpointServiceProvider::to_live(&address, "p", &service(s), ObservedOwnership::Owned)
                .status
        };
        assert_eq!(
            status("INITIATING"),
            Status::InProgress("INITIATING".into())
        );
        assert_eq!(status("WAITING_FOR_USER"), Status::Ready);
        assert_eq!(status("AVAILABLE"), Status::Ready);
        assert!(matches!(status("FAILED"), Status::Failed(r) if r.ends_with("quota reached")));
        assert!(matches!(status("DELETING"), Status::Failed(r) if r.contains("being deleted")));

        let at = registration();
        let address = Address::new(Component::Atlas, "endpoint");
        let status = |s: &str| {
            EndpointProvider::to_live(
                &address,
                &at,
                &endpoint(s, Some("no route")),
                ObservedOwnership::Owned,
                BTreeMap::new(),
            )
            .status
        };
        assert_eq!(
            status("PENDING_ACCEPTANCE"),
            Status::InProgress("PENDING_ACCEPTANCE".into())
        );
        assert_eq!(status("PENDING"), Status::InProgress("PENDING".into()));
        assert_eq!(status("AVAILABLE"), Status::Ready);
        assert!(matches!(status("REJECTED"), Status::Failed(r) if r.ends_with("no route")));
        assert!(matches!(status("DELETING"), Status::Failed(r) if r.contains("deleting")));
    }

    #[test]
    fn a_wrong_project_is_an_error_naming_it_not_absent() {
        let address = Address::new(Component::Atlas, "endpoint_service");
        let err = AtlasError::Api {
            operation: "GET /api/atlas/v2/groups/0123456789abcdef0123abcd/privateEndpoint/AWS/endpointService".into(),
            status: 404,
            code: "GROUP_NOT_FOUND".into(),
            detail: "No group with ID 0123456789abcdef0123abcd exists.".into(),
        };
        let mapped = atlas_error(&address, err);
        assert!(
            matches!(mapped, ProviderError::Rejected { .. }),
            "{mapped:?}"
        );
        let text = mapped.to_string();
        assert!(
            text.contains("Atlas has no project 0123456789abcdef0123abcd"),
            "{text}"
        );
        assert!(text.contains("atlas.project_id"), "{text}");
    }

    #[test]
    fn unread_connection_strings_become_a_warning() {
        let live = |outputs: BTreeMap<String, Value>| Live {
            address: Address::new(Component::Atlas, "endpoint"),
            kind: ResourceKind::AtlasEndpoint,
            id: "vpce-0abc".into(),
            ownership: ObservedOwnership::Owned,
            status: Status::Ready,
            attributes: Spec::new(),
            outputs,
        };
        let why = "GET /api/atlas/v2/groups/p/clusters: HTTP 410 VERSION_GONE: gone";
        let lives = [
            live(BTreeMap::new()),
            live(BTreeMap::from([(
                CONNECTIONS_UNREAD.to_owned(),
                Value::from(why),
            )])),
        ];
        assert_eq!(
            read_warnings(&lives),
            [format!(
                "the Atlas private connection strings could not be read: {why}"
            )]
        );
        assert!(
            read_warnings(&lives[..1]).is_empty(),
            "none yet is no warning"
        );
    }

    #[test]
    fn errors_keep_their_class() {
        let address = Address::new(Component::Atlas, "endpoint");
        let api = |status| AtlasError::Api {
            operation: "GET /x".into(),
            status,
            code: "CODE".into(),
            detail: "d".into(),
        };
        assert!(atlas_error(&address, api(429)).retryable());
        assert!(atlas_error(&address, api(503)).retryable());
        assert!(matches!(
            atlas_error(&address, api(404)),
            ProviderError::NotFound { .. }
        ));
        let denied = atlas_error(&address, api(403));
        assert!(!denied.retryable());
        assert!(denied.to_string().contains("Project Owner"), "{denied}");
        assert_eq!(denied.code(), "CODE");
    }
}
