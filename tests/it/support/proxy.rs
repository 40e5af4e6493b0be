//! A fault-injection HTTP proxy that sits on loopback between `bpa-infra` and moto.
//!
//! The binary gets [`FaultProxy::url`] as its endpoint URL; every AWS call then passes
//! through the proxy, which can add latency and, chosen by a seed, answer with a throttling
//! error, a 500 or 503 in the calling protocol's own error shape, or drop the connection
//! without answering. The error bodies copy what AWS sends, so the AWS SDK for Rust
//! classifies them exactly as it would in production (throttling and 5xx are retried in the
//! standard retry mode, a dropped connection is a transient I/O error).
//!
//! Decisions are deterministic: the n-th call of an operation (say the third `ec2:CreateVpc`)
//! draws from a random generator seeded by (seed, service, operation, n). The same seed gives
//! the same faults even when the binary makes its calls concurrently and their arrival order
//! changes between runs.
//!
//! moto's own `/moto-api/` paths are forwarded untouched and not counted, so tests can use
//! the recorder through the proxy.
//!
//! The proxy runs on plain threads (one per connection) rather than an async runtime: the
//! tests are synchronous, the load is a handful of connections, and it keeps the support
//! code free of extra features on the HTTP crates the AWS SDK already compiles.
//!
//! ```ignore
//! let moto = Moto::start();
//! let proxy = FaultProxy::in_front_of(&moto, FaultConfig::seeded(7).probability(0.2));
//! moto.bpa_infra_via(&proxy.url()).args(["up", "--yes"]).assert().success();
//! let stats = proxy.stats();
//! assert!(stats.faulted > 0);
//! ```

// Test-support API: each integration test uses a different part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{self, BufReader};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::moto::{CallInfo, Moto, Protocol, classify};
use wire::{Request, Response};

/// How long the proxy waits for moto to answer one call. Generous: moto can be slow
/// on a loaded 2-core machine, and a timeout here would look like an injected fault.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(120);

/// One kind of injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// The protocol's throttling error: EC2 `RequestLimitExceeded` (503), IAM/RDS/STS
    /// `Throttling` (400), JSON `ThrottlingException` (400), EKS `ThrottlingException` (429),
    /// S3 `SlowDown` (503). The call never reaches moto.
    Throttle,
    /// HTTP 500 with the protocol's internal-error code. The call never reaches moto.
    InternalError,
    /// HTTP 503 with the protocol's unavailable code. The call never reaches moto.
    Unavailable,
    /// Read the request, then close the connection without answering. The call never
    /// reaches moto.
    DropConnection,
    /// Forward the call to moto, then close the connection without answering: the call
    /// took effect but the client cannot know. Not in [`FaultKind::STANDARD`]; opt in to
    /// test that a retried create does not make a duplicate.
    DropAfterForward,
    /// The protocol's permission error, which no retry can fix: EC2
    /// `UnauthorizedOperation` (403), IAM/RDS `AccessDenied` (403), JSON and REST-JSON
    /// `AccessDeniedException`, S3 `AccessDenied`. The call never reaches moto. In
    /// neither [`FaultKind::STANDARD`] nor [`FaultKind::ALL`]: a run it hits fails.
    Denied,
}

impl FaultKind {
    /// The faults that never let a call take effect.
    pub const STANDARD: [FaultKind; 4] = [
        FaultKind::Throttle,
        FaultKind::InternalError,
        FaultKind::Unavailable,
        FaultKind::DropConnection,
    ];
    /// Every kind, including [`FaultKind::DropAfterForward`].
    pub const ALL: [FaultKind; 5] = [
        FaultKind::Throttle,
        FaultKind::InternalError,
        FaultKind::Unavailable,
        FaultKind::DropConnection,
        FaultKind::DropAfterForward,
    ];
}

/// Which calls may be faulted, see [`FaultConfig::only`].
pub type CallFilter = Arc<dyn Fn(&CallInfo) -> bool + Send + Sync>;

/// What the proxy does to each call. Build it with [`FaultConfig::seeded`] and the
/// builder methods; change it while running with [`FaultProxy::update_config`].
#[derive(Clone)]
pub struct FaultConfig {
    /// Seed of every random decision.
    pub seed: u64,
    /// Chance in `0.0..=1.0` that a call is faulted.
    pub probability: f64,
    /// The kinds to choose from (uniformly) when a call is faulted.
    pub kinds: Vec<FaultKind>,
    /// Added to every call, faulted or not.
    pub latency: Duration,
    /// A random extra in `0..=jitter` added to `latency`.
    pub jitter: Duration,
    /// At most this many faults in a row for the same operation; the next call of it is
    /// forwarded. With 2, the SDK's default 3 attempts always get through.
    pub max_consecutive_faults: Option<u32>,
    /// Only calls this returns true for may be faulted (all calls by default).
    pub filter: Option<CallFilter>,
}

impl FaultConfig {
    /// Forward everything, no latency.
    pub fn passthrough() -> Self {
        Self::seeded(0)
    }

    /// No faults yet (probability 0), [`FaultKind::STANDARD`] kinds, no latency.
    pub fn seeded(seed: u64) -> Self {
        FaultConfig {
            seed,
            probability: 0.0,
            kinds: FaultKind::STANDARD.to_vec(),
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            max_consecutive_faults: None,
            filter: None,
        }
    }

    pub fn probability(mut self, probability: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&probability),
            "fault probability {probability} is not in 0..=1"
        );
        self.probability = probability;
        self
    }

    pub fn kinds(mut self, kinds: &[FaultKind]) -> Self {
        self.kinds = kinds.to_vec();
        self
    }

    pub fn latency(mut self, latency: Duration, jitter: Duration) -> Self {
        self.latency = latency;
        self.jitter = jitter;
        self
    }

    pub fn max_consecutive_faults(mut self, max: u32) -> Self {
        self.max_consecutive_faults = Some(max);
        self
    }

    /// Faults only the calls `filter` accepts, e.g. `|c| c.is_mutating()`.
    pub fn only(mut self, filter: impl Fn(&CallInfo) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Arc::new(filter));
        self
    }
}

impl fmt::Debug for FaultConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultConfig")
            .field("seed", &self.seed)
            .field("probability", &self.probability)
            .field("kinds", &self.kinds)
            .field("latency", &self.latency)
            .field("jitter", &self.jitter)
            .field("max_consecutive_faults", &self.max_consecutive_faults)
            .field("filter", &self.filter.as_ref().map(|_| "<fn>"))
            .finish()
    }
}

/// Calls and faults of one operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCount {
    pub calls: u64,
    pub faulted: u64,
}

/// What the proxy has seen since it started (or since [`FaultProxy::reset_stats`]).
/// moto's `/moto-api/` calls are not counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// AWS calls, including retries and faulted ones.
    pub total: u64,
    /// Calls that got a fault.
    pub faulted: u64,
    /// Forwarded calls moto did not answer (connection refused, timeout); the client got a 502.
    pub upstream_errors: u64,
    /// Per `service:Operation`, e.g. `ec2:CreateVpc`.
    pub by_operation: BTreeMap<String, OpCount>,
    /// Per fault kind.
    pub by_fault: BTreeMap<FaultKind, u64>,
}

/// One call as the proxy saw it, in arrival order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxiedCall {
    pub service: String,
    pub operation: String,
    pub method: String,
    pub path: String,
    pub fault: Option<FaultKind>,
    pub latency: Duration,
}

/// The proxy. Stops (closing every connection) when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    upstream: SocketAddr,
    config: Mutex<FaultConfig>,
    state: Mutex<State>,
    /// Signalled on every counted call, for [`FaultProxy::wait_for_calls`].
    counted: Condvar,
    stopping: AtomicBool,
    /// Every open socket (client and upstream side), shut down on drop so that no
    /// worker stays blocked in a read.
    sockets: Mutex<HashMap<u64, TcpStream>>,
    next_socket: AtomicU64,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Default)]
struct State {
    stats: ProxyStats,
    log: Vec<ProxiedCall>,
    /// How many calls of each `service:Operation` were decided, the index of the next one.
    seen: HashMap<String, u64>,
    consecutive: HashMap<String, u32>,
}

struct Decision {
    fault: Option<FaultKind>,
    latency: Duration,
    request_id: String,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking worker must not hide the stats from the test that reads them.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port that forwards to `upstream_url`
    /// (`http://127.0.0.1:PORT`).
    pub fn start(upstream_url: &str, config: FaultConfig) -> FaultProxy {
        let upstream = wire::socket_addr(upstream_url);
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the fault proxy");
        let addr = listener.local_addr().expect("fault proxy address");
        let shared = Arc::new(Shared {
            upstream,
            config: Mutex::new(config),
            state: Mutex::new(State::default()),
            counted: Condvar::new(),
            stopping: AtomicBool::new(false),
            sockets: Mutex::new(HashMap::new()),
            next_socket: AtomicU64::new(0),
            workers: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("fault-proxy-accept".into())
                .spawn(move || accept_loop(&listener, &shared))
                .expect("spawn the fault proxy")
        };
        FaultProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Starts a proxy in front of `moto`.
    pub fn in_front_of(moto: &Moto, config: FaultConfig) -> FaultProxy {
        Self::start(&moto.endpoint_url(), config)
    }

    /// The URL to give the binary as its endpoint, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the configuration for the calls that arrive from now on.
    pub fn set_config(&self, config: FaultConfig) {
        *lock(&self.shared.config) = config;
    }

    /// Changes the configuration in place, e.g. `proxy.update_config(|c| c.probability = 0.0)`.
    pub fn update_config(&self, change: impl FnOnce(&mut FaultConfig)) {
        change(&mut lock(&self.shared.config));
    }

    pub fn stats(&self) -> ProxyStats {
        lock(&self.shared.state).stats.clone()
    }

    /// Every counted call in arrival order.
    pub fn calls(&self) -> Vec<ProxiedCall> {
        lock(&self.shared.state).log.clone()
    }

    /// Forgets counts and the call log. The per-operation call indexes that seed the
    /// decisions start again from zero too, so the fault sequence restarts.
    pub fn reset_stats(&self) {
        *lock(&self.shared.state) = State::default();
    }

    /// Blocks until at least `n` calls have been counted or `timeout` passes; true if
    /// they were. Lets a test act (e.g. kill the binary) at a chosen point of a run.
    /// From async code, call it inside `spawn_blocking`.
    pub fn wait_for_calls(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.shared.state);
        while state.stats.total < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .shared
                .counted
                .wait_timeout(state, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        true
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept() with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for socket in lock(&self.shared.sockets).values() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        let workers = std::mem::take(&mut *lock(&self.shared.workers));
        for worker in workers {
            let _ = worker.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let shared_for_worker = Arc::clone(shared);
        let worker = std::thread::Builder::new()
            .name("fault-proxy-conn".into())
            .spawn(move || {
                let Some(id) = shared_for_worker.register(&stream) else {
                    return;
                };
                serve_connection(stream, &shared_for_worker);
                shared_for_worker.unregister(id);
            });
        if let Ok(worker) = worker {
            let mut workers = lock(&shared.workers);
            // Keep the list short on long runs: forget finished workers.
            workers.retain(|w| !w.is_finished());
            workers.push(worker);
        }
    }
}

impl Shared {
    fn register(&self, stream: &TcpStream) -> Option<u64> {
        let clone = stream.try_clone().ok()?;
        let id = self.next_socket.fetch_add(1, Ordering::SeqCst);
        lock(&self.sockets).insert(id, clone);
        // Drop may have swept the sockets just before this one was added.
        if self.stopping.load(Ordering::SeqCst) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        Some(id)
    }

    fn unregister(&self, id: u64) {
        lock(&self.sockets).remove(&id);
    }

    /// Counts the call and decides its fate.
    fn decide(&self, call: &CallInfo, request: &Request) -> Decision {
        let config = lock(&self.config).clone();
        let key = format!("{}:{}", call.service, call.operation);
        let mut state = lock(&self.state);
        let index = {
            let seen = state.seen.entry(key.clone()).or_default();
            *seen += 1;
            *seen - 1
        };
        let mut rng = fastrand::Rng::with_seed(mix_seed(config.seed, &key, index));
        // Always draw the same values in the same order, whatever the configuration,
        // so a change of one setting does not reshuffle the others.
        let roll = rng.f64();
        let pick = rng.usize(..);
        let extra = rng.u64(..);
        let request_id = format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            rng.u32(..),
            rng.u16(..),
            rng.u16(..0x1000),
            rng.u16(..0x1000),
            rng.u64(..1 << 48)
        );

        let jitter_nanos = u64::try_from(config.jitter.as_nanos()).unwrap_or(u64::MAX);
        let latency = config.latency
            + Duration::from_nanos(if jitter_nanos == 0 {
                0
            } else {
                extra % (jitter_nanos + 1)
            });
        let eligible = config.filter.as_ref().is_none_or(|accepts| accepts(call));
        let mut fault = (eligible && !config.kinds.is_empty() && roll < config.probability)
            .then(|| config.kinds[pick % config.kinds.len()]);
        let consecutive = state.consecutive.entry(key.clone()).or_default();
        if fault.is_some()
            && config
                .max_consecutive_faults
                .is_some_and(|max| *consecutive >= max)
        {
            fault = None;
        }
        *consecutive = if fault.is_some() { *consecutive + 1 } else { 0 };

        let stats = &mut state.stats;
        stats.total += 1;
        let op = stats.by_operation.entry(key).or_default();
        op.calls += 1;
        if let Some(kind) = fault {
            op.faulted += 1;
            stats.faulted += 1;
            *stats.by_fault.entry(kind).or_default() += 1;
        }
        state.log.push(ProxiedCall {
            service: call.service.clone(),
            operation: call.operation.clone(),
            method: request.method.clone(),
            path: request.path().to_owned(),
            fault,
            latency,
        });
        drop(state);
        self.counted.notify_all();
        Decision {
            fault,
            latency,
            request_id,
        }
    }

    /// Sleeps for `duration` in short steps so that dropping the proxy does not wait for
    /// a long injected latency; false if the proxy is stopping.
    fn sleep_unless_stopping(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
    }

    /// Sends `request` to moto on a fresh connection (moto closes each one anyway).
    fn forward(&self, request: &Request) -> io::Result<Response> {
        let stream = TcpStream::connect_timeout(&self.upstream, Duration::from_secs(10))?;
        let id = self.register(&stream);
        let result = wire::exchange(stream, request, UPSTREAM_TIMEOUT);
        if let Some(id) = id {
            self.unregister(id);
        }
        result
    }
}

/// Mixes the seed, the operation and its call index into one generator seed (FNV-1a over
/// the key, then a splitmix64 finish so that neighbouring indexes give unrelated streams).
fn mix_seed(seed: u64, key: &str, index: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = seed ^ hash.rotate_left(29) ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let request = match wire::read_request(&mut reader, &mut writer) {
            Ok(Some(request)) => request,
            Ok(None) | Err(_) => return,
        };
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let keep_alive = request.keep_alive();
        let head_only = request.method == "HEAD";

        if request.path().starts_with("/moto-api/") {
            let response = shared
                .forward(&request)
                .unwrap_or_else(|err| bad_gateway(&err));
            if response.write_to(&mut writer, head_only).is_err() || !keep_alive {
                return;
            }
            continue;
        }

        let call = classify(
            &request.method,
            &request.target,
            |name| request.header(name).map(str::to_owned),
            &request.body,
        );
        let decision = shared.decide(&call, &request);
        if !shared.sleep_unless_stopping(decision.latency) {
            return;
        }
        let response = match decision.fault {
            None => shared.forward(&request).unwrap_or_else(|err| {
                lock(&shared.state).stats.upstream_errors += 1;
                bad_gateway(&err)
            }),
            Some(FaultKind::DropConnection) => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Some(FaultKind::DropAfterForward) => {
                let _ = shared.forward(&request);
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Some(kind) => fault_response(&call, &request, kind, &decision.request_id),
        };
        if response.write_to(&mut writer, head_only).is_err() || !keep_alive {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

fn bad_gateway(err: &io::Error) -> Response {
    Response::new(
        502,
        vec![("Content-Type".into(), "text/plain".into())],
        format!("fault proxy: moto did not answer: {err}").into_bytes(),
    )
}

/// The error AWS itself would send for `kind`, in the calling protocol's shape.
pub fn fault_response(
    call: &CallInfo,
    request: &Request,
    kind: FaultKind,
    request_id: &str,
) -> Response {
    // (status, code, message, awsQuery fault type)
    let (status, code, message, fault_type) = match (kind, call.protocol) {
        (FaultKind::Throttle, Protocol::Ec2Query) => {
            (503, "RequestLimitExceeded", "Request limit exceeded.", "")
        }
        (FaultKind::Throttle, Protocol::AwsQuery) => (400, "Throttling", "Rate exceeded", "Sender"),
        (FaultKind::Throttle, Protocol::AwsJson) => {
            (400, "ThrottlingException", "Rate exceeded", "")
        }
        (FaultKind::Throttle, Protocol::RestJson) => {
            (429, "ThrottlingException", "Rate exceeded", "")
        }
        (FaultKind::Throttle, Protocol::RestXml) => {
            (503, "SlowDown", "Please reduce your request rate.", "")
        }
        (FaultKind::InternalError, Protocol::Ec2Query) => {
            (500, "InternalError", "An internal error has occurred.", "")
        }
        (FaultKind::InternalError, Protocol::RestXml) => (
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
            "",
        ),
        (FaultKind::InternalError, _) => (
            500,
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
            "Receiver",
        ),
        (FaultKind::Unavailable, Protocol::Ec2Query) => (
            503,
            "Unavailable",
            "The server is overloaded and can't handle the request.",
            "",
        ),
        (FaultKind::Unavailable, _) => (
            503,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
            "Receiver",
        ),
        (FaultKind::Denied, Protocol::Ec2Query) => (
            403,
            "UnauthorizedOperation",
            "You are not authorized to perform this operation.",
            "",
        ),
        (FaultKind::Denied, Protocol::AwsQuery) => (
            403,
            "AccessDenied",
            "User is not authorized to perform this action",
            "Sender",
        ),
        (FaultKind::Denied, Protocol::AwsJson) => (
            400,
            "AccessDeniedException",
            "User is not authorized to perform this action",
            "",
        ),
        (FaultKind::Denied, Protocol::RestJson) => (
            403,
            "AccessDeniedException",
            "User is not authorized to perform this action",
            "",
        ),
        (FaultKind::Denied, Protocol::RestXml) => (403, "AccessDenied", "Access Denied", ""),
        (FaultKind::DropConnection | FaultKind::DropAfterForward, _) => {
            unreachable!("dropped connections get no answer")
        }
    };
    let xml = |body: String| ("text/xml;charset=UTF-8".to_owned(), body.into_bytes());
    let (content_type, body, extra) = match call.protocol {
        Protocol::Ec2Query => {
            let (ct, body) = xml(format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>\
                 <Code>{code}</Code><Message>{message}</Message></Error></Errors>\
                 <RequestID>{request_id}</RequestID></Response>"
            ));
            (ct, body, None)
        }
        Protocol::AwsQuery => {
            let service = &call.service;
            let (ct, body) = xml(format!(
                "<ErrorResponse xmlns=\"https://{service}.amazonaws.com/doc/\"><Error>\
                 <Type>{fault_type}</Type><Code>{code}</Code><Message>{message}</Message>\
                 </Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            ));
            (ct, body, None)
        }
        Protocol::AwsJson => {
            // Answer in the JSON version the client spoke (1.0 for DynamoDB, 1.1 for ECR).
            let content_type = request
                .header("content-type")
                .filter(|ct| ct.starts_with("application/x-amz-json"))
                .unwrap_or("application/x-amz-json-1.1")
                .to_owned();
            let body = serde_json::json!({ "__type": code, "message": message });
            (content_type, body.to_string().into_bytes(), None)
        }
        Protocol::RestJson => {
            let body = serde_json::json!({ "message": message });
            (
                "application/json".to_owned(),
                body.to_string().into_bytes(),
                Some(("x-amzn-ErrorType".to_owned(), code.to_owned())),
            )
        }
        Protocol::RestXml => {
            let (_, body) = xml(format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
                 <Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
            ));
            ("application/xml".to_owned(), body, None)
        }
    };
    let request_id_header = if call.protocol == Protocol::RestXml {
        "x-amz-request-id"
    } else {
        "x-amzn-RequestId"
    };
    let mut headers = vec![
        ("Content-Type".to_owned(), content_type),
        (request_id_header.to_owned(), request_id.to_owned()),
        ("Date".to_owned(), wire::http_date()),
    ];
    headers.extend(extra);
    Response::new(status, headers, body)
}

/// A small HTTP/1.1 implementation on `std::net`, enough for the AWS SDK and moto on
/// loopback: `Content-Length` and chunked bodies, keep-alive towards the client,
/// `Expect: 100-continue`, and one connection per call towards moto.
pub mod wire {
    use std::io::{self, BufRead, BufReader, Write};
    use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    /// Headers that describe one connection, not the message; never forwarded.
    const HOP_BY_HOP: [&str; 8] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "upgrade",
        "expect",
        "content-length",
    ];

    const MAX_HEAD: usize = 1 << 20;
    const MAX_HEADERS: usize = 128;

    #[derive(Clone, Debug)]
    pub struct Request {
        pub method: String,
        /// The request target as sent: path and query.
        pub target: String,
        pub version: u8,
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
    }

    impl Request {
        pub fn new(
            method: &str,
            target: &str,
            headers: Vec<(String, String)>,
            body: Vec<u8>,
        ) -> Self {
            Request {
                method: method.to_owned(),
                target: target.to_owned(),
                version: 1,
                headers,
                body,
            }
        }

        /// The first header of that name (case-insensitive).
        pub fn header(&self, name: &str) -> Option<&str> {
            find_header(&self.headers, name)
        }

        pub fn path(&self) -> &str {
            self.target.split('?').next().unwrap_or("")
        }

        pub fn query(&self) -> Option<&str> {
            self.target.split_once('?').map(|(_, query)| query)
        }

        pub fn keep_alive(&self) -> bool {
            let connection = self.header("connection").unwrap_or("").to_ascii_lowercase();
            if self.version == 0 {
                connection.contains("keep-alive")
            } else {
                !connection.contains("close")
            }
        }

        fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
            let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
            for (name, value) in &self.headers {
                if !is_hop_by_hop(name) {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
            }
            if !self.body.is_empty() || self.header("content-length").is_some() {
                head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
            }
            head.push_str("Connection: close\r\n\r\n");
            // One write: a head and a body in separate small segments can stall on
            // delayed ACKs.
            let mut message = head.into_bytes();
            message.extend_from_slice(&self.body);
            out.write_all(&message)?;
            out.flush()
        }
    }

    #[derive(Clone, Debug)]
    pub struct Response {
        pub status: u16,
        pub reason: String,
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
    }

    impl Response {
        pub fn new(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
            Response {
                status,
                reason: reason(status).to_owned(),
                headers,
                body,
            }
        }

        pub fn header(&self, name: &str) -> Option<&str> {
            find_header(&self.headers, name)
        }

        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }

        /// Writes the response to a keep-alive client, framed by `Content-Length`.
        /// For a HEAD request the upstream `Content-Length` is kept and no body is sent.
        pub fn write_to(&self, out: &mut impl Write, head_only: bool) -> io::Result<()> {
            let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, self.reason);
            for (name, value) in &self.headers {
                let keep_length = head_only && name.eq_ignore_ascii_case("content-length");
                if keep_length || !is_hop_by_hop(name) {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
            }
            let bodiless = head_only || self.status < 200 || matches!(self.status, 204 | 304);
            if !bodiless {
                head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
            }
            head.push_str("\r\n");
            let mut message = head.into_bytes();
            if !bodiless {
                message.extend_from_slice(&self.body);
            }
            out.write_all(&message)?;
            out.flush()
        }
    }

    fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn is_hop_by_hop(name: &str) -> bool {
        HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
    }

    /// `127.0.0.1:PORT` from `http://127.0.0.1:PORT[/]`.
    pub fn socket_addr(url: &str) -> SocketAddr {
        let authority = url
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("{url} is not an http:// URL"))
            .trim_end_matches('/');
        authority
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .unwrap_or_else(|| panic!("{url} does not name a host and port"))
    }

    /// Sends `request` to `addr` on a new connection and reads the whole answer.
    pub fn send(addr: SocketAddr, request: &Request, timeout: Duration) -> io::Result<Response> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        exchange(stream, request, timeout)
    }

    /// Sends `request` on `stream` (with `Connection: close`) and reads the answer.
    pub fn exchange(
        stream: TcpStream,
        request: &Request,
        timeout: Duration,
    ) -> io::Result<Response> {
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        let mut writer = stream.try_clone()?;
        request.write_to(&mut writer)?;
        let mut reader = BufReader::new(stream);
        loop {
            let response = read_response(&mut reader, request.method == "HEAD")?;
            // A 100 Continue is an interim answer; the real one follows.
            if response.status != 100 {
                return Ok(response);
            }
        }
    }

    /// Reads one request; `None` when the client closed the connection between requests.
    /// Answers `Expect: 100-continue` on `writer` before reading the body.
    pub fn read_request(
        reader: &mut BufReader<TcpStream>,
        writer: &mut TcpStream,
    ) -> io::Result<Option<Request>> {
        let Some(head) = read_head(reader)? else {
            return Ok(None);
        };
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut slots);
        let status = parsed.parse(&head).map_err(invalid)?;
        if status.is_partial() {
            return Err(invalid("incomplete request head"));
        }
        let headers = owned_headers(parsed.headers);
        let mut request = Request {
            method: parsed.method.unwrap_or("GET").to_owned(),
            target: parsed.path.unwrap_or("/").to_owned(),
            version: parsed.version.unwrap_or(1),
            headers,
            body: Vec::new(),
        };
        if request
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            writer.flush()?;
        }
        request.body = read_body(reader, &request.headers, false)?;
        Ok(Some(request))
    }

    /// Reads one response from `reader` (no body for a HEAD request).
    pub fn read_response(
        reader: &mut BufReader<TcpStream>,
        head_only: bool,
    ) -> io::Result<Response> {
        let head = read_head(reader)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no answer"))?;
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut slots);
        let status = parsed.parse(&head).map_err(invalid)?;
        if status.is_partial() {
            return Err(invalid("incomplete response head"));
        }
        let code = parsed.code.unwrap_or(0);
        let headers = owned_headers(parsed.headers);
        let bodiless = head_only || code < 200 || code == 204 || code == 304;
        let body = if bodiless {
            Vec::new()
        } else {
            read_body(reader, &headers, true)?
        };
        Ok(Response {
            status: code,
            reason: parsed.reason.unwrap_or("").to_owned(),
            headers,
            body,
        })
    }

    fn owned_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect()
    }

    /// The bytes up to and including the blank line; `None` on a clean EOF before any byte.
    fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
        let mut head = Vec::new();
        loop {
            let start = head.len();
            if reader.read_until(b'\n', &mut head)? == 0 {
                return if head.is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "truncated head",
                    ))
                };
            }
            let line = &head[start..];
            if line == b"\r\n" || line == b"\n" {
                if start == 0 {
                    // Stray blank lines between keep-alive requests are allowed (RFC 9112 §2.2).
                    head.clear();
                    continue;
                }
                return Ok(Some(head));
            }
            if head.len() > MAX_HEAD {
                return Err(invalid("head too large"));
            }
        }
    }

    fn read_body(
        reader: &mut impl BufRead,
        headers: &[(String, String)],
        until_eof: bool,
    ) -> io::Result<Vec<u8>> {
        let chunked = find_header(headers, "transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        if chunked {
            return read_chunked(reader);
        }
        if let Some(length) = find_header(headers, "content-length") {
            let length: usize = length.trim().parse().map_err(invalid)?;
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
            return Ok(body);
        }
        let mut body = Vec::new();
        if until_eof {
            reader.read_to_end(&mut body)?;
        }
        Ok(body)
    }

    fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let size = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size.trim(), 16).map_err(invalid)?;
            if size == 0 {
                // Trailer fields, up to the blank line.
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = [0; 2];
            reader.read_exact(&mut crlf)?;
        }
    }

    fn invalid(err: impl ToString) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, err.to_string())
    }

    fn reason(status: u16) -> &'static str {
        match status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            429 => "Too Many Requests",
            500 => "Internal Server Error",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            _ => "Status",
        }
    }

    /// The current time as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
    pub fn http_date() -> String {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let (days, rest) = (secs / 86_400, secs % 86_400);
        let (hour, minute, second) = (rest / 3600, rest % 3600 / 60, rest % 60);
        let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let month = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ][(month - 1) as usize];
        format!("{weekday}, {day:02} {month} {year} {hour:02}:{minute:02}:{second:02} GMT")
    }
}
