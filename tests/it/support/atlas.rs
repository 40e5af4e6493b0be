//! A fake MongoDB Atlas Admin API v2 on loopback, for the Atlas private endpoint tests.
//!
//! It is strict where the real API is: every `/api/atlas/v2` call must carry
//! `Accept: application/vnd.atlas.2023-01-01+json` (406 otherwise), a body must carry the
//! same `Content-Type` (415 otherwise), and a call must be authenticated — with a bearer
//! token this server issued at `POST /api/oauth/token` (HTTP Basic with the service
//! account's id and secret, `grant_type=client_credentials`) and that has not expired, or
//! with an HTTP Digest answer (MD5, `qop=auth`) to a nonce it issued, for the API key.
//! Anything else gets a 401 with a Digest challenge, as Atlas answers.
//!
//! Objects walk the real status sequence, one [`FakeAtlas::step`] per status: an endpoint
//! service goes `INITIATING` → `WAITING_FOR_USER` (with its `endpointServiceName`), and
//! `AVAILABLE` once an endpoint registered with it is; a registered endpoint goes
//! `INITIATING` → `PENDING_ACCEPTANCE` → `PENDING` → `AVAILABLE`, or to `REJECTED` after
//! `PENDING_ACCEPTANCE` ([`FakeAtlas::reject_new_endpoints`]) or `FAILED` after `PENDING`
//! ([`FakeAtlas::fail_new_endpoints`]) when told; deletions go through `DELETING` before the
//! object is gone. [`FakeAtlas::throttle_next`] answers the next calls with 429 and a
//! `Retry-After`. Every call is recorded ([`FakeAtlas::calls`], [`FakeAtlas::writes`]).
//!
//! The server runs on plain threads, like the fault proxy, and reuses its HTTP wire code.

// Test-support API: each integration test uses a different part of it.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use serde_json::{Value, json};

use super::proxy::wire::{self, Request, Response};

/// The service account the fake accepts.
pub const CLIENT_ID: &str = "mdb_sa_id_0f1e2d3c4b5a69788796a5b4";
pub const CLIENT_SECRET: &str = "mdb_sa_sk_Fake-Secret-7Q2vX9kLm4Np8Rs";
/// The API key the fake accepts.
pub const PUBLIC_KEY: &str = "fakepubk";
pub const PRIVATE_KEY: &str = "4f3e2d1c-0b9a-8765-4321-fedcba987654";
/// The one project the fake knows.
pub const PROJECT_ID: &str = "5f0a1b2c3d4e5f6a7b8c9d0e";
/// The versioned media type every call must use.
pub const MEDIA_TYPE: &str = "application/vnd.atlas.2023-01-01+json";
const REALM: &str = "MMS Public API";
const API: &str = "/api/atlas/v2";

/// How a call was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic,
    Bearer,
    Digest,
    /// Credentials were offered and refused.
    Refused,
}

/// One request the fake answered.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    pub status: u16,
    pub auth: Auth,
    pub at: Instant,
}

impl Call {
    /// `METHOD /path`.
    pub fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Tells whether the call asked the API to change something (token requests are not).
    pub fn is_write(&self) -> bool {
        self.method != "GET" && self.path.starts_with(API)
    }
}

struct Service {
    id: String,
    region: String,
    created: Instant,
    name: String,
    deleting_since: Option<Instant>,
    endpoints: Vec<Endpoint>,
}

struct Endpoint {
    id: String,
    created: Instant,
    /// Where the endpoint's sequence ends.
    fate: Fate,
    deleting_since: Option<Instant>,
}

/// How a registered endpoint's status sequence ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Available,
    Rejected,
    Failed,
}

struct State {
    step: Duration,
    token_lifetime: u64,
    tokens: HashMap<String, Instant>,
    nonces: Vec<String>,
    services: Vec<Service>,
    /// The fate of endpoints registered from now on.
    new_fate: Fate,
    /// Retry-After seconds of the 429s still to answer.
    throttle: VecDeque<u64>,
    calls: Vec<Call>,
    counter: u64,
}

impl State {
    fn next_id(&mut self, width: usize) -> String {
        self.counter += 1;
        format!("{:0width$x}", 0x65a0_0000_0000_0000_u64 + self.counter)
    }

    /// Drops what finished deleting.
    fn purge(&mut self) {
        let step = self.step;
        let done = |since: Option<Instant>| since.is_some_and(|s| s.elapsed() >= step);
        self.services.retain(|s| !done(s.deleting_since));
        for service in &mut self.services {
            service.endpoints.retain(|e| !done(e.deleting_since));
        }
    }
}

/// The fake server; stopped when dropped.
pub struct FakeAtlas {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

impl FakeAtlas {
    /// Starts a fake whose objects change status every 300 ms.
    pub fn start() -> FakeAtlas {
        Self::start_with_step(Duration::from_millis(300))
    }

    pub fn start_with_step(step: Duration) -> FakeAtlas {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake Atlas");
        let addr = listener.local_addr().expect("the fake Atlas's address");
        let state = Arc::new(Mutex::new(State {
            step,
            token_lifetime: 3600,
            tokens: HashMap::new(),
            nonces: Vec::new(),
            services: Vec::new(),
            new_fate: Fate::Available,
            throttle: VecDeque::new(),
            calls: Vec::new(),
            counter: 0,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let (state, stop, connections) = (state.clone(), stop.clone(), connections.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    if let Ok(clone) = stream.try_clone() {
                        lock(&connections).push(clone);
                    }
                    let state = state.clone();
                    std::thread::spawn(move || serve(stream, &state));
                }
            })
        };
        FakeAtlas {
            addr,
            state,
            stop,
            connections,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT`, for `BPA_INFRA_ATLAS_BASE_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How long each status lasts.
    pub fn step(&self) -> Duration {
        lock(&self.state).step
    }

    /// The environment that points the binary here with the service account.
    pub fn service_account_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("BPA_INFRA_ATLAS_BASE_URL", self.url()),
            ("MONGODB_ATLAS_CLIENT_ID", CLIENT_ID.to_owned()),
            ("MONGODB_ATLAS_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ]
    }

    /// The environment that points the binary here with the API key.
    pub fn api_key_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("BPA_INFRA_ATLAS_BASE_URL", self.url()),
            ("MONGODB_ATLAS_PUBLIC_KEY", PUBLIC_KEY.to_owned()),
            ("MONGODB_ATLAS_PRIVATE_KEY", PRIVATE_KEY.to_owned()),
        ]
    }

    /// Every credential value the binary was given or was issued (access tokens): none
    /// may appear in its output.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = [CLIENT_ID, CLIENT_SECRET, PUBLIC_KEY, PRIVATE_KEY]
            .map(str::to_owned)
            .to_vec();
        secrets.extend(lock(&self.state).tokens.keys().cloned());
        secrets
    }

    /// Endpoints registered from now on end `REJECTED` instead of `AVAILABLE`.
    pub fn reject_new_endpoints(&self) {
        lock(&self.state).new_fate = Fate::Rejected;
    }

    /// Endpoints registered from now on go `FAILED` after `PENDING`, with an error
    /// message, as when Atlas cannot set up its side of the connection.
    pub fn fail_new_endpoints(&self) {
        lock(&self.state).new_fate = Fate::Failed;
    }

    /// The status each endpoint service reports now, by id.
    pub fn service_statuses(&self) -> Vec<(String, String)> {
        let mut state = lock(&self.state);
        state.purge();
        let step = state.step;
        state
            .services
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    service_json(s, step)["status"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect()
    }

    /// Answers the next `count` API calls with 429 and `Retry-After: retry_after_secs`.
    pub fn throttle_next(&self, count: usize, retry_after_secs: u64) {
        lock(&self.state)
            .throttle
            .extend(std::iter::repeat_n(retry_after_secs, count));
    }

    /// Issued tokens expire after this many seconds from now on.
    pub fn set_token_lifetime(&self, seconds: u64) {
        lock(&self.state).token_lifetime = seconds;
    }

    /// Every call answered so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.state).calls.clone()
    }

    /// The calls that asked to change something, as `METHOD /path`.
    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .iter()
            .filter(|c| c.is_write())
            .map(Call::name)
            .collect()
    }

    /// How many access tokens were issued.
    pub fn tokens_issued(&self) -> usize {
        lock(&self.state).tokens.len()
    }

    /// The endpoint services that exist (deleting ones included), as (id, region,
    /// registered endpoint ids).
    pub fn services(&self) -> Vec<(String, String, Vec<String>)> {
        let mut state = lock(&self.state);
        state.purge();
        state
            .services
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    s.region.clone(),
                    s.endpoints.iter().map(|e| e.id.clone()).collect(),
                )
            })
            .collect()
    }
}

impl Drop for FakeAtlas {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for stream in lock(&self.connections).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Answers the requests of one keep-alive connection.
fn serve(stream: TcpStream, state: &Mutex<State>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = std::io::BufReader::new(stream);
    while let Ok(Some(request)) = wire::read_request(&mut reader, &mut writer) {
        let response = answer(&request, state);
        if response
            .write_to(&mut writer, request.method == "HEAD")
            .is_err()
        {
            return;
        }
    }
}

fn json_response(status: u16, content_type: &str, body: &Value) -> Response {
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    Response::new(
        status,
        vec![("Content-Type".into(), content_type.into())],
        body,
    )
}

fn api_error(status: u16, code: &str, detail: &str) -> Response {
    json_response(
        status,
        MEDIA_TYPE,
        &json!({"error": status, "errorCode": code, "detail": detail, "reason": wire_reason(status), "parameters": []}),
    )
}

fn wire_reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        406 => "Not Acceptable",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        _ => "Error",
    }
}

fn answer(request: &Request, state: &Mutex<State>) -> Response {
    let path = request.path().to_owned();
    let mut state = lock(state);
    let (response, auth) = if path == "/api/oauth/token" {
        token(request, &mut state)
    } else if let Some(rest) = path.strip_prefix(API) {
        api(request, rest, &mut state)
    } else {
        (
            api_error(404, "RESOURCE_NOT_FOUND", "no such path"),
            Auth::None,
        )
    };
    state.calls.push(Call {
        method: request.method.clone(),
        path,
        status: response.status,
        auth,
        at: Instant::now(),
    });
    response
}

fn token(request: &Request, state: &mut State) -> (Response, Auth) {
    let expected = format!(
        "Basic {}",
        aws_smithy_types::base64::encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let form = request
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let grant = String::from_utf8_lossy(&request.body)
        .split('&')
        .any(|p| p == "grant_type=client_credentials");
    if request.method != "POST" || !form || !grant {
        let body = json!({"error": "invalid_request", "error_description": "grant_type=client_credentials as a form is required"});
        return (json_response(400, "application/json", &body), Auth::None);
    }
    if request.header("authorization") != Some(expected.as_str()) {
        let body =
            json!({"error": "invalid_client", "error_description": "Invalid client credentials"});
        return (json_response(401, "application/json", &body), Auth::Refused);
    }
    let token = format!("fake-atlas-token-{}", state.next_id(20));
    let lifetime = state.token_lifetime;
    state.tokens.insert(
        token.clone(),
        Instant::now() + Duration::from_secs(lifetime),
    );
    let body = json!({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"});
    (json_response(200, "application/json", &body), Auth::Basic)
}

/// Checks the `Authorization` header of an API call.
fn authenticate(request: &Request, state: &State) -> Auth {
    let Some(header) = request.header("authorization") else {
        return Auth::None;
    };
    if let Some(token) = header.strip_prefix("Bearer ") {
        return match state.tokens.get(token) {
            Some(expiry) if Instant::now() < *expiry => Auth::Bearer,
            _ => Auth::Refused,
        };
    }
    if let Some(params) = header.strip_prefix("Digest ") {
        return if digest_ok(params, &request.method, &request.target, &state.nonces) {
            Auth::Digest
        } else {
            Auth::Refused
        };
    }
    Auth::Refused
}

fn digest_params(text: &str) -> HashMap<String, String> {
    let mut params = HashMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().trim_start_matches(',').trim().to_owned();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (
                quoted[..end].to_owned(),
                &quoted[(end + 1).min(quoted.len())..],
            )
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        params.insert(key, value);
        rest = after.trim_start_matches([',', ' ']);
    }
    params
}

fn md5_hex(text: &str) -> String {
    format!("{:x}", Md5::digest(text.as_bytes()))
}

fn digest_ok(params: &str, method: &str, target: &str, nonces: &[String]) -> bool {
    let p = digest_params(params);
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or_default();
    if get("username") != PUBLIC_KEY
        || get("realm") != REALM
        || !nonces.iter().any(|n| n == get("nonce"))
        || get("uri") != target
        || get("qop") != "auth"
    {
        return false;
    }
    let ha1 = md5_hex(&format!("{PUBLIC_KEY}:{REALM}:{PRIVATE_KEY}"));
    let ha2 = md5_hex(&format!("{method}:{}", get("uri")));
    let expected = md5_hex(&format!(
        "{ha1}:{}:{}:{}:auth:{ha2}",
        get("nonce"),
        get("nc"),
        get("cnonce")
    ));
    get("response") == expected
}

fn unauthorized(state: &mut State) -> Response {
    let nonce = format!("fake-nonce-{}", state.next_id(16));
    state.nonces.push(nonce.clone());
    let mut response = api_error(
        401,
        "UNAUTHORIZED",
        "You are not authorized for this resource.",
    );
    response.headers.push((
        "WWW-Authenticate".into(),
        format!(
            "Digest realm=\"{REALM}\", domain=\"\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\", stale=false"
        ),
    ));
    response
}

fn api(request: &Request, rest: &str, state: &mut State) -> (Response, Auth) {
    let auth = authenticate(request, state);
    if !matches!(auth, Auth::Bearer | Auth::Digest) {
        return (unauthorized(state), auth);
    }
    if request.header("accept") != Some(MEDIA_TYPE) {
        let detail = format!("Accept must be {MEDIA_TYPE}");
        return (api_error(406, "INVALID_VERSION_HEADER", &detail), auth);
    }
    if !request.body.is_empty() && request.header("content-type") != Some(MEDIA_TYPE) {
        let detail = format!("Content-Type must be {MEDIA_TYPE}");
        return (api_error(415, "UNSUPPORTED_MEDIA_TYPE", &detail), auth);
    }
    if let Some(retry_after) = state.throttle.pop_front() {
        let mut response = api_error(
            429,
            "RATE_LIMITED_TOKEN_BUCKET",
            "You have exceeded the rate limit.",
        );
        response
            .headers
            .push(("Retry-After".into(), retry_after.to_string()));
        return (response, auth);
    }
    state.purge();
    (route(request, rest, state), auth)
}

fn service_json(service: &Service, step: Duration) -> Value {
    let status = if service.deleting_since.is_some() {
        "DELETING"
    } else if service.created.elapsed() < step {
        "INITIATING"
    } else if service
        .endpoints
        .iter()
        .any(|e| endpoint_status(e, step) == "AVAILABLE")
    {
        // As Atlas reports a service once an endpoint registered with it is available.
        "AVAILABLE"
    } else {
        "WAITING_FOR_USER"
    };
    let name = (status != "INITIATING").then(|| service.name.clone());
    json!({
        "id": service.id,
        "cloudProvider": "AWS",
        "regionName": service.region,
        "status": status,
        "endpointServiceName": name,
        "errorMessage": null,
        "interfaceEndpoints": service.endpoints.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
    })
}

fn endpoint_status(endpoint: &Endpoint, step: Duration) -> &'static str {
    if endpoint.deleting_since.is_some() {
        return "DELETING";
    }
    let steps = endpoint.created.elapsed().as_millis() / step.as_millis().max(1);
    match (steps, endpoint.fate) {
        (0, _) => "INITIATING",
        (1, _) => "PENDING_ACCEPTANCE",
        (_, Fate::Rejected) => "REJECTED",
        (2, _) => "PENDING",
        (_, Fate::Failed) => "FAILED",
        _ => "AVAILABLE",
    }
}

fn endpoint_json(endpoint: &Endpoint, step: Duration) -> Value {
    let status = endpoint_status(endpoint, step);
    let error = match status {
        "REJECTED" => Some("The VPC endpoint connection was rejected."),
        "FAILED" => Some("Atlas could not set up the private endpoint connection."),
        _ => None,
    };
    json!({
        "cloudProvider": "AWS",
        "interfaceEndpointId": endpoint.id,
        "connectionStatus": status,
        "deleteRequested": endpoint.deleting_since.is_some(),
        "errorMessage": error,
    })
}

fn route(request: &Request, rest: &str, state: &mut State) -> Response {
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let method = request.method.as_str();
    let step = state.step;
    let new_fate = state.new_fate;
    if segments.len() < 2 || segments[0] != "groups" {
        return api_error(404, "RESOURCE_NOT_FOUND", "no such resource");
    }
    if segments[1] != PROJECT_ID {
        return api_error(
            404,
            "GROUP_NOT_FOUND",
            &format!("No group with ID {} exists.", segments[1]),
        );
    }
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    match (method, &segments[2..]) {
        ("POST", ["privateEndpoint", "endpointService"]) => {
            if body["providerName"] != "AWS" {
                return api_error(400, "INVALID_PROVIDER", "providerName must be AWS");
            }
            let Some(region) = body["region"].as_str() else {
                return api_error(400, "INVALID_REGION", "region is required");
            };
            if state.services.iter().any(|s| s.region == region) {
                return api_error(
                    409,
                    "PRIVATE_ENDPOINT_SERVICE_ALREADY_EXISTS_FOR_REGION",
                    "A private endpoint service already exists for this region.",
                );
            }
            let id = state.next_id(24);
            let aws_region = region.to_ascii_lowercase().replace('_', "-");
            let name = format!(
                "com.amazonaws.vpce.{aws_region}.vpce-svc-{}",
                state.next_id(17)
            );
            let service = Service {
                id,
                region: region.to_owned(),
                created: Instant::now(),
                name,
                deleting_since: None,
                endpoints: Vec::new(),
            };
            let json = service_json(&service, step);
            state.services.push(service);
            json_response(201, MEDIA_TYPE, &json)
        }
        ("GET", ["privateEndpoint", "AWS", "endpointService"]) => {
            let list: Vec<Value> = state
                .services
                .iter()
                .map(|s| service_json(s, step))
                .collect();
            json_response(200, MEDIA_TYPE, &Value::Array(list))
        }
        (
            _,
            [
                "privateEndpoint",
                "AWS",
                "endpointService",
                service_id,
                more @ ..,
            ],
        ) => {
            let Some(service) = state.services.iter_mut().find(|s| s.id == *service_id) else {
                return api_error(
                    404,
                    "PRIVATE_ENDPOINT_SERVICE_NOT_FOUND",
                    &format!("No endpoint service with ID {service_id}."),
                );
            };
            match (method, more) {
                ("GET", []) => json_response(200, MEDIA_TYPE, &service_json(service, step)),
                ("DELETE", []) => {
                    if !service.endpoints.is_empty() {
                        return api_error(
                            409,
                            "CANNOT_DELETE_ENDPOINT_SERVICE_WITH_ENDPOINTS",
                            "Remove the interface endpoints first.",
                        );
                    }
                    service.deleting_since.get_or_insert_with(Instant::now);
                    json_response(204, MEDIA_TYPE, &Value::Null)
                }
                ("POST", ["endpoint"]) => {
                    if service.created.elapsed() < step || service.deleting_since.is_some() {
                        return api_error(
                            400,
                            "ENDPOINT_SERVICE_NOT_READY",
                            "The endpoint service is not waiting for an endpoint.",
                        );
                    }
                    let Some(id) = body["id"].as_str().filter(|id| id.starts_with("vpce-")) else {
                        return api_error(400, "INVALID_ENDPOINT_ID", "id must be a vpce- id");
                    };
                    if service.endpoints.iter().any(|e| e.id == id) {
                        return api_error(
                            409,
                            "PRIVATE_ENDPOINT_ALREADY_EXISTS",
                            "This endpoint is already registered.",
                        );
                    }
                    let endpoint = Endpoint {
                        id: id.to_owned(),
                        created: Instant::now(),
                        fate: new_fate,
                        deleting_since: None,
                    };
                    let json = endpoint_json(&endpoint, step);
                    service.endpoints.push(endpoint);
                    json_response(201, MEDIA_TYPE, &json)
                }
                (_, ["endpoint", endpoint_id]) => {
                    let Some(endpoint) =
                        service.endpoints.iter_mut().find(|e| e.id == *endpoint_id)
                    else {
                        return api_error(
                            404,
                            "PRIVATE_ENDPOINT_NOT_FOUND",
                            &format!("No endpoint with ID {endpoint_id}."),
                        );
                    };
                    match method {
                        "GET" => json_response(200, MEDIA_TYPE, &endpoint_json(endpoint, step)),
                        "DELETE" => {
                            endpoint.deleting_since.get_or_insert_with(Instant::now);
                            json_response(204, MEDIA_TYPE, &Value::Null)
                        }
                        _ => api_error(405, "METHOD_NOT_ALLOWED", "not allowed"),
                    }
                }
                _ => api_error(404, "RESOURCE_NOT_FOUND", "no such resource"),
            }
        }
        ("GET", ["clusters"]) => {
            let available: Vec<Value> = state
                .services
                .iter()
                .flat_map(|s| &s.endpoints)
                .filter(|e| endpoint_status(e, step) == "AVAILABLE")
                .map(|e| json!({"endpointId": e.id, "providerName": "AWS", "region": "US_WEST_2"}))
                .collect();
            let private = if available.is_empty() {
                json!([])
            } else {
                json!([{
                    "connectionString": "mongodb://pl-0-us-west-2.abcde.mongodb.net:1024/?ssl=true",
                    "srvConnectionString": "mongodb+srv://bpa-pl-0.abcde.mongodb.net",
                    "type": "MONGOD",
                    "endpoints": available,
                }])
            };
            let page = json!({
                "results": [{
                    "name": "bpa",
                    "connectionStrings": {
                        "standardSrv": "mongodb+srv://bpa.abcde.mongodb.net",
                        "privateEndpoint": private,
                    },
                }],
                "totalCount": 1,
                "links": [],
            });
            json_response(200, MEDIA_TYPE, &page)
        }
        _ => api_error(404, "RESOURCE_NOT_FOUND", "no such resource"),
    }
}
