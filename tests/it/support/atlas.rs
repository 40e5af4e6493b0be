//! A fake MongoDB Atlas Admin API v2 on loopback, for the Atlas private endpoint tests,
//! written from MongoDB's OpenAPI spec rather than from the client.
//!
//! Every API request is checked against the operations vendored from the spec in
//! `atlas_spec/operations.json` (see `atlas_spec/README.md` for the spec's commits and
//! dates): the method and path must be an operation's; path and query parameters must
//! match its schemas (`groupId` is 24 hex digits, `endpointId` a `vpce-` id…) or the
//! answer is 400 `VALIDATION_ERROR`; `Accept` must be one of the versioned media types
//! of its success answer (406 otherwise), and one past its `x-sunset` gets the spec's
//! 410 `VERSION_GONE`; a body must come with one of its request media types (415
//! otherwise) and hold the required fields (400). Answers use the spec's statuses (a
//! create answers 200, a delete 204), success bodies the requested media type, errors
//! `application/json` with `error`, `errorCode`, `detail`, `reason` and `parameters`.
//! Those checks (and authentication, throttling) apply to every operation; past them, an
//! answer whose status the operation does not list is a fake bug: it is recorded
//! ([`FakeAtlas::spec_violations`]) and turned into a 500.
//!
//! A call must be authenticated — with a bearer token this server issued at
//! `POST /api/oauth/token` (HTTP Basic with the service account's id and secret,
//! `grant_type=client_credentials`) and that has not expired, or with an HTTP Digest
//! answer (MD5, `qop=auth`) to a nonce it issued, for the API key. A nonce goes stale
//! after a few uses (401 with `stale=true` and a new nonce). Anything else gets a 401
//! with a Digest challenge, as Atlas answers.
//!
//! Statuses are the spec's only: an endpoint service goes `INITIATING` →
//! `WAITING_FOR_USER` (with its `endpointServiceName`) → `AVAILABLE` once an endpoint
//! registered with it is, or `FAILED` when told ([`FakeAtlas::fail_new_services`]); a
//! registration is `PENDING_ACCEPTANCE` until Atlas accepts it (one step), then follows
//! the AWS VPC endpoint's state — `PENDING` while AWS has it pending, `AVAILABLE` once
//! AWS says `available`, `REJECTED` when AWS has no such endpoint or rejected it (read
//! from moto with [`FakeAtlas::watch_aws`]; without it AWS is taken to accept at once,
//! as moto does). Deletions go through `DELETING` before the object is gone, and the
//! spec's rule holds: "When the last private endpoint is removed from a given private
//! endpoint service, that private endpoint service is also removed."
//! [`FakeAtlas::throttle_next`] and [`FakeAtlas::unavailable_next`] answer the next
//! calls with 429 or 503 and a `Retry-After`. Every call is recorded.
//!
//! The server runs on plain threads, like the fault proxy, and reuses its HTTP wire code.

// Test-support API: each integration test uses a different part of it.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use serde_json::{Value, json};

use super::moto::{Moto, query_request, xml_text};
use super::proxy::wire::{self, Request, Response};

/// The service account the fake accepts.
pub const CLIENT_ID: &str = "mdb_sa_id_0f1e2d3c4b5a69788796a5b4";
pub const CLIENT_SECRET: &str = "mdb_sa_sk_Fake-Secret-7Q2vX9kLm4Np8Rs";
/// The API key the fake accepts.
pub const PUBLIC_KEY: &str = "fakepubk";
pub const PRIVATE_KEY: &str = "4f3e2d1c-0b9a-8765-4321-fedcba987654";
/// The one project the fake knows.
pub const PROJECT_ID: &str = "5f0a1b2c3d4e5f6a7b8c9d0e";
/// How many requests a Digest nonce answers before it goes stale.
const NONCE_USES: u32 = 5;
const REALM: &str = "MMS Public API";
const API: &str = "/api/atlas/v2";

/// The operations vendored from the spec.
const SPEC: &str = include_str!("atlas_spec/operations.json");

/// One operation of the spec, as the fake checks requests against it.
struct Operation {
    id: String,
    method: String,
    /// The path's segments; `{name}` for a parameter.
    segments: Vec<String>,
    /// (name, location, required, schema).
    parameters: Vec<(String, String, bool, Value)>,
    /// Request media types and the body fields each requires.
    body: Option<Vec<(String, Vec<String>)>>,
    /// Statuses the operation documents.
    statuses: HashSet<u16>,
    /// The success answer's media types and their sunset dates.
    versions: Vec<(String, Option<String>)>,
}

fn spec() -> &'static (Vec<Operation>, Value) {
    static SPEC_OPS: OnceLock<(Vec<Operation>, Value)> = OnceLock::new();
    SPEC_OPS.get_or_init(|| {
        let spec: Value = serde_json::from_str(SPEC).expect("atlas_spec/operations.json");
        let operations = spec["operations"]
            .as_array()
            .expect("operations")
            .iter()
            .map(|op| {
                let responses = op["responses"].as_object().expect("responses");
                let success = responses
                    .iter()
                    .find(|(status, _)| status.starts_with('2'))
                    .expect("a success answer");
                Operation {
                    id: op["operationId"].as_str().unwrap().to_owned(),
                    method: op["method"].as_str().unwrap().to_owned(),
                    segments: op["path"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches('/')
                        .split('/')
                        .map(str::to_owned)
                        .collect(),
                    parameters: op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| {
                            (
                                p["name"].as_str().unwrap().to_owned(),
                                p["in"].as_str().unwrap().to_owned(),
                                p["required"].as_bool().unwrap_or(false),
                                p["schema"].clone(),
                            )
                        })
                        .collect(),
                    body: op["requestBody"]["content"].as_object().map(|content| {
                        content
                            .iter()
                            .map(|(media, c)| {
                                let required = c["required"]
                                    .as_array()
                                    .unwrap()
                                    .iter()
                                    .map(|f| f.as_str().unwrap().to_owned())
                                    .collect();
                                (media.clone(), required)
                            })
                            .collect()
                    }),
                    statuses: responses.keys().map(|s| s.parse().unwrap()).collect(),
                    versions: success.1["content"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(media, c)| {
                            (media.clone(), c["x-sunset"].as_str().map(str::to_owned))
                        })
                        .collect(),
                }
            })
            .collect();
        (operations, spec["errorResponses"].clone())
    })
}

/// How a call was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic,
    Bearer,
    Digest,
    /// Credentials were offered and refused (or a Digest nonce went stale).
    Refused,
}

/// One request the fake answered.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The spec's operationId, when the request was one.
    pub operation: Option<String>,
    /// The `Accept` header sent.
    pub accept: Option<String>,
    pub status: u16,
    /// Atlas's `errorCode` of an error answer.
    pub error_code: Option<String>,
    /// The `status` or `connectionStatus` of the object answered.
    pub state: Option<String>,
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
    /// Ends `FAILED` instead of `WAITING_FOR_USER`.
    fails: bool,
    deleting_since: Option<Instant>,
    /// Whether an endpoint was ever registered (the last one's removal removes it).
    had_endpoints: bool,
    endpoints: Vec<Endpoint>,
}

struct Endpoint {
    id: String,
    created: Instant,
    /// Atlas rejects the connection instead of accepting it.
    rejected: bool,
    deleting_since: Option<Instant>,
}

/// Reads the state of an AWS VPC endpoint (`available`, `pendingAcceptance`…), `None`
/// when AWS has no such endpoint.
type AwsLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

struct State {
    step: Duration,
    token_lifetime: u64,
    tokens: HashMap<String, Instant>,
    /// Nonces issued and how many requests each answered.
    nonces: HashMap<String, u32>,
    services: Vec<Service>,
    fail_new_services: bool,
    reject_new_endpoints: bool,
    /// (status, Retry-After seconds) of the 429s and 503s still to answer.
    refusals: VecDeque<(u16, u64)>,
    /// (operationId, media type) pairs retired before their spec sunset.
    retired: HashSet<(String, String)>,
    /// The day sunsets are compared with.
    today: jiff::civil::Date,
    aws: Option<AwsLookup>,
    calls: Vec<Call>,
    violations: Vec<String>,
    counter: u64,
}

impl State {
    fn next_id(&mut self, width: usize) -> String {
        self.counter += 1;
        format!("{:0width$x}", 0x65a0_0000_0000_0000_u64 + self.counter)
    }

    /// Drops what finished deleting; a service whose last endpoint went goes too.
    fn purge(&mut self) {
        let step = self.step;
        let done = |since: Option<Instant>| since.is_some_and(|s| s.elapsed() >= step);
        self.services.retain(|s| !done(s.deleting_since));
        for service in &mut self.services {
            service.endpoints.retain(|e| !done(e.deleting_since));
            if service.had_endpoints && service.endpoints.is_empty() {
                service.deleting_since.get_or_insert_with(Instant::now);
            }
        }
    }

    fn aws_state(&self, endpoint_id: &str) -> Option<String> {
        match &self.aws {
            Some(lookup) => lookup(endpoint_id),
            None => Some("available".to_owned()),
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
        let today = jiff::tz::Offset::UTC
            .to_datetime(jiff::Timestamp::now())
            .date();
        let state = Arc::new(Mutex::new(State {
            step,
            token_lifetime: 3600,
            tokens: HashMap::new(),
            nonces: HashMap::new(),
            services: Vec::new(),
            fail_new_services: false,
            reject_new_endpoints: false,
            refusals: VecDeque::new(),
            retired: HashSet::new(),
            today,
            aws: None,
            calls: Vec::new(),
            violations: Vec::new(),
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

    /// `http://127.0.0.1:PORT`, for `MONGODB_ATLAS_BASE_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How long each status lasts.
    pub fn step(&self) -> Duration {
        lock(&self.state).step
    }

    /// The environment that points the binary here with the service account.
    pub fn service_account_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MONGODB_ATLAS_BASE_URL", self.url()),
            ("MONGODB_ATLAS_CLIENT_ID", CLIENT_ID.to_owned()),
            ("MONGODB_ATLAS_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ]
    }

    /// The environment that points the binary here with the API key.
    pub fn api_key_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("MONGODB_ATLAS_BASE_URL", self.url()),
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

    /// Reads the AWS side's VPC endpoint states from `moto`, as Atlas sees the
    /// connection requests to its endpoint service.
    pub fn watch_aws(&self, moto: &Moto) {
        let (addr, url) = (moto.addr(), moto.endpoint_url());
        let lookup: AwsLookup = Arc::new(move |id: &str| {
            let request = query_request(
                &url,
                "ec2",
                "2016-11-15",
                "DescribeVpcEndpoints",
                &[("VpcEndpointId.1", id)],
            );
            let answer = wire::send(addr, &request, Duration::from_secs(10)).ok()?;
            if answer.status != 200 {
                return None;
            }
            xml_text(&answer.text(), "state")
        });
        lock(&self.state).aws = Some(lookup);
    }

    /// Atlas rejects the connection of endpoints registered from now on.
    pub fn reject_new_endpoints(&self) {
        lock(&self.state).reject_new_endpoints = true;
    }

    /// Endpoint services made from now on end `FAILED`, with an error message, as when
    /// Atlas cannot set up its side.
    pub fn fail_new_services(&self) {
        lock(&self.state).fail_new_services = true;
    }

    /// Atlas stops serving `version` (`2024-08-05`) of `operation` (`listClusters`)
    /// from now on, as on the day after its sunset.
    pub fn retire(&self, operation: &str, version: &str) {
        lock(&self.state).retired.insert((
            operation.to_owned(),
            format!("application/vnd.atlas.{version}+json"),
        ));
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
                    service_json(s, step, &state)["status"]
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
            .refusals
            .extend(std::iter::repeat_n((429, retry_after_secs), count));
    }

    /// Answers the next `count` API calls with 503 and `Retry-After: retry_after_secs`.
    pub fn unavailable_next(&self, count: usize, retry_after_secs: u64) {
        lock(&self.state)
            .refusals
            .extend(std::iter::repeat_n((503, retry_after_secs), count));
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

    /// Answers the fake was about to give with a status its operation does not document.
    pub fn spec_violations(&self) -> Vec<String> {
        lock(&self.state).violations.clone()
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

/// An error answer in the spec's `ApiError` shape, as `application/json`.
fn api_error(status: u16, code: &str, detail: &str) -> Response {
    json_response(
        status,
        "application/json",
        &json!({"error": status, "errorCode": code, "detail": detail, "reason": wire_reason(status), "parameters": []}),
    )
}

/// The spec's example body of a component response (`gone`, `tooManyRequests`…).
fn spec_error(component: &str, detail: &str) -> Response {
    let example = &spec().1[component];
    let status = example["error"].as_u64().expect("an example status") as u16;
    api_error(
        status,
        example["errorCode"].as_str().expect("an example code"),
        detail,
    )
}

fn wire_reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        406 => "Not Acceptable",
        409 => "Conflict",
        410 => "Gone",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn answer(request: &Request, state: &Mutex<State>) -> Response {
    let path = request.path().to_owned();
    let mut state = lock(state);
    let (response, auth, operation) = if path == "/api/oauth/token" {
        let (response, auth) = token(request, &mut state);
        (response, auth, None)
    } else if path.starts_with(API) {
        api(request, &path, &mut state)
    } else {
        (
            api_error(404, "RESOURCE_NOT_FOUND", "no such path"),
            Auth::None,
            None,
        )
    };
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let error_code = (response.status >= 400)
        .then(|| body["errorCode"].as_str().map(str::to_owned))
        .flatten();
    let object_state = body["status"]
        .as_str()
        .or(body["connectionStatus"].as_str())
        .map(str::to_owned);
    state.calls.push(Call {
        method: request.method.clone(),
        path,
        operation,
        accept: request.header("accept").map(str::to_owned),
        status: response.status,
        error_code,
        state: object_state,
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

/// Checks the `Authorization` header of an API call; a stale Digest nonce is refused
/// with `stale` set.
fn authenticate(request: &Request, state: &mut State) -> (Auth, bool) {
    let Some(header) = request.header("authorization") else {
        return (Auth::None, false);
    };
    if let Some(token) = header.strip_prefix("Bearer ") {
        return match state.tokens.get(token) {
            Some(expiry) if Instant::now() < *expiry => (Auth::Bearer, false),
            _ => (Auth::Refused, false),
        };
    }
    if let Some(params) = header.strip_prefix("Digest ") {
        let p = digest_params(params);
        let nonce = p.get("nonce").cloned().unwrap_or_default();
        if !digest_ok(&p, &request.method, &request.target) {
            return (Auth::Refused, false);
        }
        return match state.nonces.get_mut(&nonce) {
            Some(uses) if *uses < NONCE_USES => {
                *uses += 1;
                (Auth::Digest, false)
            }
            // A right answer to a nonce too often used: stale, try the new one.
            Some(_) => (Auth::Refused, true),
            None => (Auth::Refused, false),
        };
    }
    (Auth::Refused, false)
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

fn digest_ok(p: &HashMap<String, String>, method: &str, target: &str) -> bool {
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or_default();
    if get("username") != PUBLIC_KEY
        || get("realm") != REALM
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

fn unauthorized(state: &mut State, stale: bool) -> Response {
    let nonce = format!("fake-nonce-{}", state.next_id(16));
    state.nonces.insert(nonce.clone(), 0);
    let mut response = api_error(
        401,
        "UNAUTHORIZED",
        "You are not authorized for this resource.",
    );
    response.headers.push((
        "WWW-Authenticate".into(),
        format!(
            "Digest realm=\"{REALM}\", domain=\"\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\", stale={stale}"
        ),
    ));
    response
}

/// Finds the operation of `method` at `path` and its path parameters.
fn find_operation<'a>(
    method: &str,
    path: &str,
) -> Option<(&'a Operation, HashMap<String, String>)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    spec().0.iter().find_map(|op| {
        if op.method != method || op.segments.len() != segments.len() {
            return None;
        }
        let mut params = HashMap::new();
        for (pattern, actual) in op.segments.iter().zip(&segments) {
            match pattern.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => {
                    params.insert(name.to_owned(), (*actual).to_owned());
                }
                None if pattern == actual => {}
                None => return None,
            }
        }
        Some((op, params))
    })
}

/// Checks a parameter's value against its schema from the spec.
fn valid(schema: &Value, value: &str) -> bool {
    let typed = match schema["type"].as_str() {
        Some("integer") => match value.parse::<i64>() {
            Ok(n) => json!(n),
            Err(_) => return false,
        },
        Some("boolean") => match value {
            "true" => json!(true),
            "false" => json!(false),
            _ => return false,
        },
        _ => json!(value),
    };
    jsonschema::validator_for(schema).is_ok_and(|v| v.is_valid(&typed))
}

fn query_params(target: &str) -> HashMap<String, String> {
    target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn api(request: &Request, path: &str, state: &mut State) -> (Response, Auth, Option<String>) {
    let (auth, stale) = authenticate(request, state);
    if !matches!(auth, Auth::Bearer | Auth::Digest) {
        return (unauthorized(state, stale), auth, None);
    }
    let Some((op, path_params)) = find_operation(&request.method, path) else {
        let response = spec_error(
            "notFound",
            &format!("No operation {} {path}.", request.method),
        );
        return (response, auth, None);
    };
    let response = checked(request, op, &path_params, state);
    (response, auth, Some(op.id.clone()))
}

/// Checks the request against operation `op` of the spec, then answers it.
fn checked(
    request: &Request,
    op: &Operation,
    path_params: &HashMap<String, String>,
    state: &mut State,
) -> Response {
    // Content negotiation: one of the operation's versions, not past its sunset.
    let accept = request.header("accept").unwrap_or_default();
    let Some((media, sunset)) = op.versions.iter().find(|(m, _)| m == accept) else {
        let offered: Vec<&str> = op.versions.iter().map(|(m, _)| m.as_str()).collect();
        // The spec documents no 406 body: the code is this fake's own.
        return api_error(
            406,
            "INVALID_ACCEPT_HEADER",
            &format!("{} answers {}, not {accept:?}", op.id, offered.join(", ")),
        );
    };
    let gone = sunset
        .as_deref()
        .and_then(|s| s.parse::<jiff::civil::Date>().ok())
        .is_some_and(|s| state.today > s)
        || state.retired.contains(&(op.id.clone(), media.clone()));
    if gone {
        return spec_error("gone", &format!("{media} of {} is past its sunset.", op.id));
    }
    // The body: one of the request media types, with the fields it requires.
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    if let Some(content) = &op.body {
        let content_type = request.header("content-type").unwrap_or_default();
        let Some((_, required)) = content.iter().find(|(m, _)| m == content_type) else {
            return api_error(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                &format!("{} takes {}", op.id, content[0].0),
            );
        };
        if let Some(missing) = required.iter().find(|f| body.get(f.as_str()).is_none()) {
            return spec_error("badRequest", &format!("{missing} is required."));
        }
    }
    // Parameters, against their schemas.
    let query = query_params(&request.target);
    for (name, location, required, schema) in &op.parameters {
        let value = match location.as_str() {
            "path" => path_params.get(name),
            "query" => query.get(name),
            _ => continue,
        };
        match value {
            Some(value) if !valid(schema, value) => {
                return spec_error("badRequest", &format!("Invalid {name}: {value}."));
            }
            None if *required => {
                return spec_error("badRequest", &format!("{name} is required."));
            }
            _ => {}
        }
    }
    if let Some((status, retry_after)) = state.refusals.pop_front() {
        let component = if status == 429 {
            "tooManyRequests"
        } else {
            "serviceUnavailable"
        };
        let mut response = spec_error(component, "Try again later.");
        response
            .headers
            .push(("Retry-After".into(), retry_after.to_string()));
        return response;
    }
    if path_params.get("groupId").map(String::as_str) != Some(PROJECT_ID) {
        return api_error(
            404,
            "GROUP_NOT_FOUND",
            &format!(
                "No group with ID {} exists.",
                path_params.get("groupId").map_or("", String::as_str)
            ),
        );
    }
    state.purge();
    let mut response = route(op, path_params, &query, &body, state);
    // What the fake decides answers only statuses the spec documents for the operation.
    if !op.statuses.contains(&response.status) {
        state.violations.push(format!(
            "{} answered {}, which the spec does not list",
            op.id, response.status
        ));
        return spec_error("internalServerError", "the fake answered off the spec");
    }
    if response.status < 300 {
        response.headers = vec![("Content-Type".into(), media.clone())];
    }
    response
}

fn service_json(service: &Service, step: Duration, state: &State) -> Value {
    let status = if service.deleting_since.is_some() {
        "DELETING"
    } else if service.created.elapsed() < step {
        "INITIATING"
    } else if service.fails {
        "FAILED"
    } else if service
        .endpoints
        .iter()
        .any(|e| endpoint_status(e, step, state) == "AVAILABLE")
    {
        // As Atlas reports a service once an endpoint registered with it is available.
        "AVAILABLE"
    } else {
        "WAITING_FOR_USER"
    };
    let name = matches!(status, "WAITING_FOR_USER" | "AVAILABLE" | "DELETING")
        .then(|| service.name.clone());
    let error = (status == "FAILED").then_some("Atlas could not create the endpoint service.");
    json!({
        "id": service.id,
        "cloudProvider": "AWS",
        "regionName": service.region,
        "status": status,
        "endpointServiceName": name,
        "errorMessage": error,
        "interfaceEndpoints": service.endpoints.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
    })
}

fn endpoint_status(endpoint: &Endpoint, step: Duration, state: &State) -> &'static str {
    if endpoint.deleting_since.is_some() {
        return "DELETING";
    }
    if endpoint.created.elapsed() < step {
        return "PENDING_ACCEPTANCE";
    }
    if endpoint.rejected {
        return "REJECTED";
    }
    // Accepted by Atlas: the connection is what AWS says of its endpoint.
    match state.aws_state(&endpoint.id).as_deref() {
        Some("available") => "AVAILABLE",
        Some("pendingAcceptance" | "pending") => "PENDING",
        _ => "REJECTED",
    }
}

fn endpoint_json(endpoint: &Endpoint, step: Duration, state: &State) -> Value {
    let status = endpoint_status(endpoint, step, state);
    let error = (status == "REJECTED").then(|| {
        if endpoint.rejected {
            "The VPC endpoint connection was rejected.".to_owned()
        } else {
            format!(
                "Interface endpoint {} is not available in AWS.",
                endpoint.id
            )
        }
    });
    json!({
        "cloudProvider": "AWS",
        "interfaceEndpointId": endpoint.id,
        "connectionStatus": status,
        "deleteRequested": endpoint.deleting_since.is_some(),
        "errorMessage": error,
    })
}

fn service_not_found(id: &str) -> Response {
    api_error(
        404,
        "PRIVATE_ENDPOINT_SERVICE_NOT_FOUND",
        &format!("Private endpoint service {id} not found."),
    )
}

/// Answers a request the spec allows, by operationId.
fn route(
    op: &Operation,
    params: &HashMap<String, String>,
    query: &HashMap<String, String>,
    body: &Value,
    state: &mut State,
) -> Response {
    let step = state.step;
    let param = |name: &str| params.get(name).cloned().unwrap_or_default();
    if params.get("cloudProvider").is_some_and(|p| p != "AWS") {
        return spec_error("badRequest", "Only AWS is served by this fake.");
    }
    match op.id.as_str() {
        "createPrivateEndpointService" => {
            if body["providerName"] != "AWS" {
                return spec_error("badRequest", "providerName must be AWS.");
            }
            let region = body["region"].as_str().unwrap_or_default().to_owned();
            if state.services.iter().any(|s| s.region == region) {
                // One service per project and region; the spec lists no 409 here.
                return spec_error(
                    "badRequest",
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
                region,
                created: Instant::now(),
                name,
                fails: state.fail_new_services,
                deleting_since: None,
                had_endpoints: false,
                endpoints: Vec::new(),
            };
            let json = service_json(&service, step, state);
            state.services.push(service);
            json_response(200, "", &json)
        }
        "listPrivateEndpointService" => {
            let list: Vec<Value> = state
                .services
                .iter()
                .map(|s| service_json(s, step, state))
                .collect();
            json_response(200, "", &Value::Array(list))
        }
        "getPrivateEndpointService" => {
            let id = param("endpointServiceId");
            match state.services.iter().find(|s| s.id == id) {
                Some(service) => json_response(200, "", &service_json(service, step, state)),
                None => service_not_found(&id),
            }
        }
        "deletePrivateEndpointService" => {
            let id = param("endpointServiceId");
            let Some(service) = state.services.iter_mut().find(|s| s.id == id) else {
                return service_not_found(&id);
            };
            if !service.endpoints.is_empty() {
                return spec_error("badRequest", "Remove the interface endpoints first.");
            }
            service.deleting_since.get_or_insert_with(Instant::now);
            json_response(204, "", &Value::Null)
        }
        "createPrivateEndpoint" => {
            let id = param("endpointServiceId");
            let reject = state.reject_new_endpoints;
            let status = state
                .services
                .iter()
                .find(|s| s.id == id)
                .map(|s| service_json(s, step, state)["status"].clone());
            let Some(status) = status else {
                return service_not_found(&id);
            };
            if status != "WAITING_FOR_USER" && status != "AVAILABLE" {
                return spec_error(
                    "badRequest",
                    &format!("The endpoint service is {status}, not waiting for an endpoint."),
                );
            }
            let Some(endpoint_id) = body["id"].as_str().filter(|id| id.starts_with("vpce-")) else {
                return spec_error("badRequest", "id must be a vpce- id.");
            };
            let service = state.services.iter_mut().find(|s| s.id == id).unwrap();
            if service.endpoints.iter().any(|e| e.id == endpoint_id) {
                return api_error(
                    409,
                    "PRIVATE_ENDPOINT_ALREADY_EXISTS",
                    "This endpoint is already registered.",
                );
            }
            let endpoint = Endpoint {
                id: endpoint_id.to_owned(),
                created: Instant::now(),
                rejected: reject,
                deleting_since: None,
            };
            service.had_endpoints = true;
            service.endpoints.push(endpoint);
            let endpoint = state
                .services
                .iter()
                .find(|s| s.id == id)
                .and_then(|s| s.endpoints.last())
                .unwrap();
            json_response(200, "", &endpoint_json(endpoint, step, state))
        }
        "getPrivateEndpoint" | "deletePrivateEndpoint" => {
            let (id, endpoint_id) = (param("endpointServiceId"), param("endpointId"));
            let Some(service) = state.services.iter().position(|s| s.id == id) else {
                return service_not_found(&id);
            };
            let Some(endpoint) = state.services[service]
                .endpoints
                .iter()
                .position(|e| e.id == endpoint_id)
            else {
                return api_error(
                    404,
                    "PRIVATE_ENDPOINT_NOT_FOUND",
                    &format!("Private endpoint {endpoint_id} not found."),
                );
            };
            if op.id == "getPrivateEndpoint" {
                let endpoint = &state.services[service].endpoints[endpoint];
                return json_response(200, "", &endpoint_json(endpoint, step, state));
            }
            state.services[service].endpoints[endpoint]
                .deleting_since
                .get_or_insert_with(Instant::now);
            json_response(204, "", &Value::Null)
        }
        "listClusters" => clusters(query, step, state),
        other => spec_error("notFound", &format!("{other} is not served by this fake.")),
    }
}

/// One cluster, `bpa`, whose private connection string lists the available endpoints
/// (ClusterDescription20240805), paged as asked.
fn clusters(query: &HashMap<String, String>, step: Duration, state: &State) -> Response {
    let available: Vec<Value> = state
        .services
        .iter()
        .flat_map(|s| &s.endpoints)
        .filter(|e| endpoint_status(e, step, state) == "AVAILABLE")
        .map(|e| json!({"endpointId": e.id, "providerName": "AWS", "region": "US_WEST_2"}))
        .collect();
    let private = if available.is_empty() {
        json!([])
    } else {
        json!([{
            "connectionString": "mongodb://pl-0-us-west-2.abcde.mongodb.net:1024/?ssl=true",
            "srvConnectionString": "mongodb+srv://bpa-pl-0.abcde.mongodb.net",
            "srvShardOptimizedConnectionString": "mongodb+srv://bpa-pl-0.abcde.mongodb.net",
            "type": "MONGOD",
            "endpoints": available,
        }])
    };
    let all = [json!({
        "name": "bpa",
        "clusterType": "REPLICASET",
        "stateName": "IDLE",
        "connectionStrings": {
            "standardSrv": "mongodb+srv://bpa.abcde.mongodb.net",
            "privateEndpoint": private,
        },
    })];
    let per_page: usize = query
        .get("itemsPerPage")
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    let page: usize = query
        .get("pageNum")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let results: Vec<Value> = all
        .iter()
        .skip(per_page * (page - 1))
        .take(per_page)
        .cloned()
        .collect();
    let page = json!({"results": results, "totalCount": all.len(), "links": []});
    json_response(200, "", &page)
}
