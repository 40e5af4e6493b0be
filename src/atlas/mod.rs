//! A client of the MongoDB Atlas Admin API v2, for the calls the private endpoint needs:
//! the project's AWS endpoint services, the interface endpoints registered with them,
//! and the clusters' private connection strings, as MongoDB's OpenAPI spec
//! (`mongodb/openapi`, `openapi/v2.yaml`) describes them (docs/aws-facts.md, "MongoDB
//! Atlas private endpoint").
//!
//! Every request carries the versioned media type of its operation
//! (`Accept: application/vnd.atlas.<version>+json`, and the same `Content-Type` on a
//! body; the versions are in [`versions`]) and authenticates with a service account
//! (OAuth 2.0 client credentials, the bearer token cached until a minute before it
//! expires) or a legacy API key (HTTP Digest). A `429 Too Many Requests` or a
//! `503 Service Unavailable` is retried after the `Retry-After` the answer gives (the
//! spec's `HeaderRetryAfter`: "might be returned for 429 or 503 error responses") or a
//! doubling wait, a bounded number of times; every other failure comes back as an
//! [`AtlasError`] with Atlas's `errorCode` and the request that failed, whose path names
//! the project and resource ids.
//!
//! A 404 means "absent" only with the resource's own not-found codes: `GROUP_NOT_FOUND`
//! (a wrong project id) stays an error.
//!
//! Credentials are passed in as values (the CLI reads them from the environment) and
//! never appear in a `Debug` output, an error or a log line.

mod auth;
pub mod versions;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use auth::{Challenge, Token};
pub use auth::{Credentials, Secret};
use versions::Operation;

/// Where the Atlas Admin API lives; [`AtlasClient::with_base_url`] points elsewhere (a
/// local fake in tests).
pub const DEFAULT_BASE_URL: &str = "https://cloud.mongodb.com";
/// Where the Admin API v2 paths start.
const API_PREFIX: &str = "/api/atlas/v2";
/// Where service accounts get their access tokens.
const TOKEN_PATH: &str = "/api/oauth/token";
/// The only cloud provider this tool asks Atlas about.
const PROVIDER: &str = "AWS";

/// How long one request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the client waits out `429 Too Many Requests` and `503 Service Unavailable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitRetry {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The longest wait the client accepts; a `Retry-After` beyond it ends the retries
    /// (the error is retryable, so the caller may try again much later).
    pub max_wait: Duration,
    /// The first wait when the answer has no `Retry-After`; it doubles after that.
    pub default_wait: Duration,
}

impl Default for RateLimitRetry {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_wait: Duration::from_secs(60),
            default_wait: Duration::from_secs(2),
        }
    }
}

impl RateLimitRetry {
    /// Returns how long to wait after the `throttled`-th 429 or 503 in a row (1 for the first),
    /// or `None` when the client should give up.
    fn wait(&self, throttled: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if throttled >= self.max_attempts {
            return None;
        }
        let doubling = self
            .default_wait
            .saturating_mul(1 << throttled.saturating_sub(1).min(16));
        let wait = retry_after.unwrap_or(doubling);
        (wait <= self.max_wait).then_some(wait)
    }
}

/// Why an Atlas call failed.
#[derive(Debug, thiserror::Error)]
pub enum AtlasError {
    /// Atlas answered with an error status; `code` is its `errorCode`
    /// (`RESOURCE_NOT_FOUND`, `RATE_LIMITED_TOKEN_BUCKET`…) or `HTTP<status>`.
    #[error("{operation}: HTTP {status} {code}: {detail}")]
    Api {
        operation: String,
        status: u16,
        code: String,
        detail: String,
    },
    /// Atlas could not be reached, or the connection broke or timed out.
    #[error("{operation}: {message}")]
    Transport {
        operation: String,
        message: String,
        #[source]
        source: reqwest::Error,
    },
    /// An answer that is not what the API documents.
    #[error("{operation}: unexpected answer: {message}")]
    Decode { operation: String, message: String },
    /// The client cannot be set up as asked (a base URL it refuses).
    #[error("{0}")]
    Config(String),
}

impl AtlasError {
    /// Returns the HTTP status Atlas answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Returns Atlas's `errorCode`, or a code naming what went wrong.
    pub fn code(&self) -> &str {
        match self {
            Self::Api { code, .. } => code,
            Self::Transport { source, .. } if source.is_timeout() => "Timeout",
            Self::Transport { .. } => "ConnectionError",
            Self::Decode { .. } => "UnexpectedAnswer",
            Self::Config(_) => "InvalidConfiguration",
        }
    }

    /// Tells whether Atlas answered 404 with one of `codes`, the not-found codes of the
    /// resource asked for; any other 404 (`GROUP_NOT_FOUND`…) is not "absent".
    pub fn is_not_found(&self, codes: &[&str]) -> bool {
        self.status() == Some(404) && codes.contains(&self.code())
    }

    /// Tells whether Atlas says the project does not exist (or the credentials cannot
    /// see it): a wrong `atlas.project_id`.
    pub fn is_project_not_found(&self) -> bool {
        self.status() == Some(404) && self.code() == GROUP_NOT_FOUND
    }

    /// Returns the project id in the failed request's path, if any.
    pub fn project(&self) -> Option<&str> {
        let operation = match self {
            Self::Api { operation, .. }
            | Self::Transport { operation, .. }
            | Self::Decode { operation, .. } => operation,
            Self::Config(_) => return None,
        };
        let (_, rest) = operation.split_once("/groups/")?;
        rest.split(['/', '?', ' ']).next().filter(|p| !p.is_empty())
    }
}

/// The 404 code of a project Atlas does not know.
pub const GROUP_NOT_FOUND: &str = "GROUP_NOT_FOUND";
/// The 404 codes of an endpoint service that does not exist: the one Atlas sends (as
/// MongoDB's Kubernetes operator reads it) and the spec's generic `RESOURCE_NOT_FOUND`
/// (components.responses.notFound).
const SERVICE_NOT_FOUND: &[&str] = &["PRIVATE_ENDPOINT_SERVICE_NOT_FOUND", "RESOURCE_NOT_FOUND"];
/// The 404 codes of an endpoint registration that does not exist (its service's codes
/// too: the registration goes with it).
const ENDPOINT_NOT_FOUND: &[&str] = &[
    "PRIVATE_ENDPOINT_NOT_FOUND",
    "PRIVATE_ENDPOINT_SERVICE_NOT_FOUND",
    "RESOURCE_NOT_FOUND",
];

/// A private endpoint service of a project: Atlas's side of AWS PrivateLink in one region.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointService {
    pub id: String,
    /// Atlas region name, `US_WEST_2` style.
    #[serde(default)]
    pub region_name: Option<String>,
    /// `INITIATING`, `AVAILABLE`, `WAITING_FOR_USER`, `FAILED` or `DELETING`
    /// (AWSPrivateLinkConnection.status).
    #[serde(default)]
    pub status: Option<String>,
    /// The AWS endpoint service name (`com.amazonaws.vpce.<region>.vpce-svc-…`); `None`
    /// while Atlas is still making it.
    #[serde(default)]
    pub endpoint_service_name: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    /// Ids of the AWS interface endpoints registered with this service.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub interface_endpoints: Vec<String>,
}

impl EndpointService {
    /// Tells whether the service is in `region` (`US_WEST_2`; `us-west-2` matches too).
    pub fn is_in(&self, region: &str) -> bool {
        self.region_name
            .as_deref()
            .is_some_and(|r| atlas_region(r) == atlas_region(region))
    }
}

/// An AWS interface endpoint registered with an endpoint service.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceEndpoint {
    /// The AWS endpoint id (`vpce-…`).
    #[serde(default)]
    pub interface_endpoint_id: Option<String>,
    /// `PENDING_ACCEPTANCE`, `PENDING`, `AVAILABLE`, `REJECTED` or `DELETING`
    /// (AWSInterfaceEndpoint.connectionStatus).
    #[serde(default)]
    pub connection_status: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    /// Whether Atlas was asked to remove it.
    #[serde(default)]
    pub delete_requested: Option<bool>,
}

/// The private connection strings of one cluster through one set of endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateConnection {
    pub cluster: String,
    pub connection_string: Option<String>,
    pub srv_connection_string: Option<String>,
    /// The AWS endpoint ids this connection goes through.
    pub endpoint_ids: Vec<String>,
}

/// Returns the Atlas name of an AWS region: `us-west-2` → `US_WEST_2`.
pub fn atlas_region(aws_region: &str) -> String {
    aws_region.trim().to_ascii_uppercase().replace('-', "_")
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// A client of the Atlas Admin API; cheap to clone (one connection pool, one token).
#[derive(Clone)]
pub struct AtlasClient {
    inner: Arc<Inner>,
    rate_limit: RateLimitRetry,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    auth: Auth,
}

enum Auth {
    Bearer {
        client_id: Secret,
        client_secret: Secret,
        token: tokio::sync::Mutex<Option<Token>>,
    },
    Digest {
        username: Secret,
        password: Secret,
        /// The last challenge and how many times its nonce was used.
        challenge: std::sync::Mutex<Option<(Challenge, u32)>>,
    },
}

impl fmt::Debug for AtlasClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match self.inner.auth {
            Auth::Bearer { .. } => "service account",
            Auth::Digest { .. } => "API key",
        };
        f.debug_struct("AtlasClient")
            .field("base_url", &self.inner.base_url)
            .field("auth", &auth)
            .finish_non_exhaustive()
    }
}

impl AtlasClient {
    /// Makes a client of `https://cloud.mongodb.com`.
    pub fn new(credentials: Credentials) -> Result<Self, AtlasError> {
        Self::with_base_url(credentials, DEFAULT_BASE_URL)
    }

    /// Makes a client of the API at `base_url`. Plain `http` is accepted only for a
    /// loopback address: credentials never cross a network in clear text.
    pub fn with_base_url(credentials: Credentials, base_url: &str) -> Result<Self, AtlasError> {
        let base_url = base_url.trim_end_matches('/').to_owned();
        check_base_url(&base_url)?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("bpa-infra/", env!("CARGO_PKG_VERSION")))
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // A redirect would carry the Authorization header elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| AtlasError::Config(format!("cannot set up the HTTP client: {err}")))?;
        let auth = match credentials {
            Credentials::ServiceAccount {
                client_id,
                client_secret,
            } => Auth::Bearer {
                client_id,
                client_secret,
                token: tokio::sync::Mutex::new(None),
            },
            Credentials::ApiKey {
                public_key,
                private_key,
            } => Auth::Digest {
                username: public_key,
                password: private_key,
                challenge: std::sync::Mutex::new(None),
            },
        };
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                auth,
            }),
            rate_limit: RateLimitRetry::default(),
        })
    }

    /// Replaces how `429` answers are waited out.
    pub fn with_rate_limit_retry(mut self, rate_limit: RateLimitRetry) -> Self {
        self.rate_limit = rate_limit;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    // --- endpoint services ----------------------------------------------------------

    /// Lists the project's AWS private endpoint services.
    pub async fn endpoint_services(
        &self,
        project: &str,
    ) -> Result<Vec<EndpointService>, AtlasError> {
        let path = format!(
            "/groups/{}/privateEndpoint/{PROVIDER}/endpointService",
            segment(project)
        );
        self.call(&versions::LIST_ENDPOINT_SERVICES, &path, None)
            .await
    }

    /// Reads one endpoint service; `None` when it does not exist (any more).
    pub async fn endpoint_service(
        &self,
        project: &str,
        service_id: &str,
    ) -> Result<Option<EndpointService>, AtlasError> {
        let path = service_path(project, service_id);
        found(
            self.call(&versions::GET_ENDPOINT_SERVICE, &path, None)
                .await,
            SERVICE_NOT_FOUND,
        )
    }

    /// Asks Atlas to make the project's AWS endpoint service in `region` (`US_WEST_2`).
    pub async fn create_endpoint_service(
        &self,
        project: &str,
        region: &str,
    ) -> Result<EndpointService, AtlasError> {
        let path = format!(
            "/groups/{}/privateEndpoint/endpointService",
            segment(project)
        );
        let body = serde_json::json!({ "providerName": PROVIDER, "region": atlas_region(region) });
        self.call(&versions::CREATE_ENDPOINT_SERVICE, &path, Some(body))
            .await
    }

    /// Asks Atlas to remove an endpoint service; one already gone is not an error.
    pub async fn delete_endpoint_service(
        &self,
        project: &str,
        service_id: &str,
    ) -> Result<(), AtlasError> {
        let path = service_path(project, service_id);
        gone(
            self.call_empty(&versions::DELETE_ENDPOINT_SERVICE, &path)
                .await,
            SERVICE_NOT_FOUND,
        )
    }

    // --- interface endpoints --------------------------------------------------------

    /// Reads the registration of AWS endpoint `endpoint_id` with an endpoint service;
    /// `None` when it is not registered.
    pub async fn endpoint(
        &self,
        project: &str,
        service_id: &str,
        endpoint_id: &str,
    ) -> Result<Option<InterfaceEndpoint>, AtlasError> {
        let path = endpoint_path(project, service_id, endpoint_id);
        found(
            self.call(&versions::GET_ENDPOINT, &path, None).await,
            ENDPOINT_NOT_FOUND,
        )
    }

    /// Registers AWS endpoint `endpoint_id` (`vpce-…`) with an endpoint service.
    pub async fn create_endpoint(
        &self,
        project: &str,
        service_id: &str,
        endpoint_id: &str,
    ) -> Result<InterfaceEndpoint, AtlasError> {
        let path = format!("{}/endpoint", service_path(project, service_id));
        let body = serde_json::json!({ "id": endpoint_id });
        self.call(&versions::CREATE_ENDPOINT, &path, Some(body))
            .await
    }

    /// Removes the registration of an AWS endpoint; one already gone is not an error.
    pub async fn delete_endpoint(
        &self,
        project: &str,
        service_id: &str,
        endpoint_id: &str,
    ) -> Result<(), AtlasError> {
        let path = endpoint_path(project, service_id, endpoint_id);
        gone(
            self.call_empty(&versions::DELETE_ENDPOINT, &path).await,
            ENDPOINT_NOT_FOUND,
        )
    }

    // --- clusters -------------------------------------------------------------------

    /// Returns the private-endpoint connection strings of the project's clusters, every
    /// page of them (`listClusters`, version [`versions::LIST_CLUSTERS`]).
    pub async fn private_connections(
        &self,
        project: &str,
    ) -> Result<Vec<PrivateConnection>, AtlasError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            #[serde(default)]
            results: Vec<Cluster>,
            #[serde(default)]
            total_count: Option<usize>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Cluster {
            name: String,
            #[serde(default)]
            connection_strings: Option<ConnectionStrings>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct ConnectionStrings {
            #[serde(default)]
            private_endpoint: Option<Vec<Private>>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Private {
            #[serde(default)]
            connection_string: Option<String>,
            #[serde(default)]
            srv_connection_string: Option<String>,
            #[serde(default)]
            endpoints: Option<Vec<PrivateEndpoint>>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct PrivateEndpoint {
            #[serde(default)]
            endpoint_id: Option<String>,
        }

        // The spec's itemsPerPage maximum; pageNum counts from 1.
        const PER_PAGE: usize = 500;
        let mut clusters = Vec::new();
        for page_num in 1.. {
            let path = format!(
                "/groups/{}/clusters?itemsPerPage={PER_PAGE}&pageNum={page_num}",
                segment(project)
            );
            let page: Page = self.call(&versions::LIST_CLUSTERS, &path, None).await?;
            let got = page.results.len();
            clusters.extend(page.results);
            let total = page.total_count.unwrap_or(clusters.len());
            if got < PER_PAGE || clusters.len() >= total {
                break;
            }
        }
        Ok(clusters
            .into_iter()
            .flat_map(|cluster| {
                let name = cluster.name;
                cluster
                    .connection_strings
                    .and_then(|c| c.private_endpoint)
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |p| PrivateConnection {
                        cluster: name.clone(),
                        connection_string: p.connection_string,
                        srv_connection_string: p.srv_connection_string,
                        endpoint_ids: p
                            .endpoints
                            .unwrap_or_default()
                            .into_iter()
                            .filter_map(|e| e.endpoint_id)
                            .collect(),
                    })
            })
            .collect())
    }

    // --- the wire -------------------------------------------------------------------

    /// Calls operation `op` at `path` and decodes the answer's JSON body.
    async fn call<T: DeserializeOwned>(
        &self,
        op: &Operation,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, AtlasError> {
        let (operation, bytes) = self.request(op, path, body).await?;
        serde_json::from_slice(&bytes).map_err(|err| AtlasError::Decode {
            operation,
            message: err.to_string(),
        })
    }

    /// Calls operation `op` at `path` for its status only.
    async fn call_empty(&self, op: &Operation, path: &str) -> Result<(), AtlasError> {
        self.request(op, path, None).await.map(|_| ())
    }

    /// Sends one request of operation `op` — with its version's media type,
    /// authenticated, retried after 429s and 503s — and returns the operation's name and
    /// the body of a successful answer.
    async fn request(
        &self,
        op: &Operation,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(String, Vec<u8>), AtlasError> {
        let method = Method::from_bytes(op.method.as_bytes())
            .map_err(|_| AtlasError::Config(format!("bad method {}", op.method)))?;
        let media_type = op.media_type();
        let uri = format!("{API_PREFIX}{path}");
        let operation = format!("{method} {}", uri.split('?').next().unwrap_or(&uri));
        let url = format!("{}{uri}", self.inner.base_url);
        let body = body.map(|b| b.to_string());
        let mut throttled = 0;
        let mut reauthenticated = false;
        loop {
            let mut request = self
                .inner
                .http
                .request(method.clone(), &url)
                .header(ACCEPT, media_type.as_str());
            if let Some(body) = &body {
                request = request
                    .header(CONTENT_TYPE, media_type.as_str())
                    .body(body.clone());
            }
            if let Some(authorization) = self.authorization(&method, &uri, &operation).await? {
                request = request.header(AUTHORIZATION, authorization);
            }
            let started = Instant::now();
            let response = request
                .send()
                .await
                .map_err(|err| transport(&operation, err))?;
            let status = response.status();
            tracing::debug!(
                operation = %operation,
                status = status.as_u16(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "atlas call"
            );
            if status == StatusCode::UNAUTHORIZED
                && !reauthenticated
                && self.reauthenticate(response.headers()).await
            {
                reauthenticated = true;
                continue;
            }
            if is_retried(status) {
                throttled += 1;
                let retry_after = retry_after(response.headers());
                if let Some(wait) = self.rate_limit.wait(throttled, retry_after) {
                    tracing::debug!(operation = %operation, status = status.as_u16(), wait_ms = wait.as_millis() as u64, "atlas asks to wait");
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|err| transport(&operation, err))?;
            if status.is_success() {
                return Ok((operation, bytes.to_vec()));
            }
            return Err(api_error(operation, status, &bytes));
        }
    }

    /// Returns the `Authorization` header of the next request: the bearer token
    /// (fetched or refreshed first if needed), or the answer to the last Digest
    /// challenge (none before the first challenge: the server sends one with its 401).
    async fn authorization(
        &self,
        method: &Method,
        uri: &str,
        operation: &str,
    ) -> Result<Option<HeaderValue>, AtlasError> {
        let value = match &self.inner.auth {
            Auth::Bearer { token, .. } => {
                let mut token = token.lock().await;
                let now = Instant::now();
                let fresh = token.as_ref().filter(|t| t.is_fresh(now)).cloned();
                let current = match fresh {
                    Some(current) => current,
                    None => {
                        let fetched = self.fetch_token(operation).await?;
                        *token = Some(fetched.clone());
                        fetched
                    }
                };
                format!("Bearer {}", current.value.expose())
            }
            Auth::Digest {
                username,
                password,
                challenge,
            } => {
                let mut challenge = challenge
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let Some((current, uses)) = challenge.as_mut() else {
                    return Ok(None);
                };
                *uses += 1;
                current.authorization(
                    username.expose(),
                    password.expose(),
                    method.as_str(),
                    uri,
                    *uses,
                    &auth::cnonce(),
                )
            }
        };
        let mut header = HeaderValue::from_str(&value).map_err(|_| {
            AtlasError::Config(
                "the Atlas credentials contain characters an HTTP header cannot carry".to_owned(),
            )
        })?;
        header.set_sensitive(true);
        Ok(Some(header))
    }

    /// Handles a 401: forgets the bearer token, or takes the new Digest challenge.
    /// Returns whether trying once more can help.
    async fn reauthenticate(&self, headers: &HeaderMap) -> bool {
        match &self.inner.auth {
            Auth::Bearer { token, .. } => {
                // Revoked or expired early: one new token, then give up.
                token.lock().await.take().is_some()
            }
            Auth::Digest { challenge, .. } => {
                let offered = headers
                    .get_all(reqwest::header::WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(Challenge::parse);
                match offered {
                    Some(offered) => {
                        *challenge
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) =
                            Some((offered, 0));
                        true
                    }
                    None => false,
                }
            }
        }
    }

    /// Gets an access token with the service account's client credentials.
    async fn fetch_token(&self, operation: &str) -> Result<Token, AtlasError> {
        #[derive(Deserialize)]
        struct Answer {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let Auth::Bearer {
            client_id,
            client_secret,
            ..
        } = &self.inner.auth
        else {
            unreachable!("only service accounts fetch tokens");
        };
        let token_operation = format!("POST {TOKEN_PATH} (for {operation})");
        let url = format!("{}{TOKEN_PATH}", self.inner.base_url);
        let mut throttled = 0;
        loop {
            let requested = Instant::now();
            let response = self
                .inner
                .http
                .post(&url)
                .basic_auth(client_id.expose(), Some(client_secret.expose()))
                .header(ACCEPT, "application/json")
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials")
                .send()
                .await
                .map_err(|err| transport(&token_operation, err))?;
            let status = response.status();
            tracing::debug!(status = status.as_u16(), "atlas access token");
            if is_retried(status) {
                throttled += 1;
                if let Some(wait) = self
                    .rate_limit
                    .wait(throttled, retry_after(response.headers()))
                {
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|err| transport(&token_operation, err))?;
            if !status.is_success() {
                return Err(api_error(token_operation, status, &bytes));
            }
            let answer: Answer =
                serde_json::from_slice(&bytes).map_err(|_| AtlasError::Decode {
                    operation: token_operation.clone(),
                    // Never the body: it holds the token.
                    message: "the token answer is not the JSON OAuth 2.0 documents".to_owned(),
                })?;
            let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(3600));
            return Ok(Token::new(answer.access_token, lifetime, requested));
        }
    }
}

/// Refuses a base URL that would send credentials in clear text over a network.
fn check_base_url(base_url: &str) -> Result<(), AtlasError> {
    if base_url.starts_with("https://") {
        return Ok(());
    }
    if let Some(rest) = base_url.strip_prefix("http://") {
        let host = rest.split(['/', '?']).next().unwrap_or_default();
        let host = match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        };
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            return Ok(());
        }
    }
    Err(AtlasError::Config(format!(
        "the Atlas base URL {base_url} must start with https:// (plain http:// only to a loopback address)"
    )))
}

/// Percent-encodes one path segment (ids are hexadecimal or `vpce-…`, but a profile
/// typo must not turn into another path).
fn segment(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

fn service_path(project: &str, service_id: &str) -> String {
    format!(
        "/groups/{}/privateEndpoint/{PROVIDER}/endpointService/{}",
        segment(project),
        segment(service_id)
    )
}

fn endpoint_path(project: &str, service_id: &str, endpoint_id: &str) -> String {
    format!(
        "{}/endpoint/{}",
        service_path(project, service_id),
        segment(endpoint_id)
    )
}

/// Turns a 404 with one of the resource's not-found `codes` into `None`.
fn found<T>(result: Result<T, AtlasError>, codes: &[&str]) -> Result<Option<T>, AtlasError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err) if err.is_not_found(codes) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Treats a 404 with one of the resource's not-found `codes` on a delete as done.
fn gone(result: Result<(), AtlasError>, codes: &[&str]) -> Result<(), AtlasError> {
    match result {
        Err(err) if err.is_not_found(codes) => Ok(()),
        other => other,
    }
}

/// Tells whether an answer asks the client to wait and try again: `429` (rate limited)
/// or `503` (the spec's `HeaderRetryAfter` comes with both).
fn is_retried(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
}

fn transport(operation: &str, err: reqwest::Error) -> AtlasError {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "connection failed"
    };
    // reqwest's message names the URL, which holds no credential.
    let mut message = format!("{what}: {err}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    AtlasError::Transport {
        operation: operation.to_owned(),
        message,
        source: err,
    }
}

/// Makes the error of an error answer from Atlas's JSON error body (`errorCode`,
/// `detail`), or from an OAuth error (`error`, `error_description`).
fn api_error(operation: String, status: StatusCode, body: &[u8]) -> AtlasError {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        error_code: Option<String>,
        detail: Option<String>,
        reason: Option<String>,
        #[serde(rename = "error")]
        oauth_error: Option<serde_json::Value>,
        #[serde(rename = "error_description")]
        oauth_description: Option<String>,
    }
    let parsed: Body = serde_json::from_slice(body).unwrap_or_default();
    let oauth_code = parsed
        .oauth_error
        .as_ref()
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let code = parsed
        .error_code
        .or(oauth_code)
        .unwrap_or_else(|| format!("HTTP{}", status.as_u16()));
    let detail = parsed
        .detail
        .or(parsed.oauth_description)
        .or(parsed.reason)
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("no detail given")
                .to_owned()
        });
    AtlasError::Api {
        operation,
        status: status.as_u16(),
        code,
        detail,
    }
}

/// Reads `Retry-After`: delay-seconds, or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let ahead = at.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(ahead).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests;
