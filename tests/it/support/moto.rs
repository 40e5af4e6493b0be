//! The project's local AWS for one test: `scripts/emulator.py`, moto's standalone server
//! with the calls moto lacks (EKS addons, access entries, Pod Identity associations, the
//! cluster security group, the RDS for PostgreSQL catalogue) and every EKS request checked
//! against botocore's model.
//!
//! [`Moto::start`] runs a fresh `python3 scripts/emulator.py -H 127.0.0.1 -p PORT` on a free
//! loopback port (with `MOTO_IAM_LOAD_MANAGED_POLICIES=true`, so AWS-managed policy ARNs
//! exist) in its own temporary directory, waits until it answers, and kills it when
//! dropped. A missing moto fails the test with the way to install it; it never skips.
//!
//! Besides the environment for the binary ([`Moto::env`], [`Moto::bpa_infra`]), it reads
//! moto's recorder back as a list of AWS operations ([`Moto::recording`],
//! [`Moto::mutating_calls`]; the emulator's own calls are recorded there too) and makes
//! resources directly for test setup ([`Moto::create_vpc`], [`Moto::create_subnet`],
//! [`Moto::create_role`], or any call with [`Moto::ec2`], [`Moto::iam`], [`Moto::json`],
//! [`Moto::rest_json`]), without the awscli and without the binary under test. moto does
//! not check signatures: the requests carry a fake SigV4 `Authorization` header whose
//! credential scope names the region and service, which is how moto's server routes a
//! request to a service.
//!
//! ```ignore
//! let moto = Moto::start();
//! let vpc = moto.create_vpc("10.20.0.0/16", &[("Name", "adopted")]);
//! moto.start_recording();
//! moto.bpa_infra().args(["plan", "-p", "profiles/example.yaml"]).assert().success();
//! assert_eq!(moto.mutating_calls(), vec![]);
//! ```

// Test-support API: each integration test uses a different part of it.
#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::proxy::wire::{self, Request, Response};

/// The region the binary is pointed at.
pub const REGION: &str = "us-west-2";
/// The account moto answers for.
pub const ACCOUNT_ID: &str = "123456789012";
/// The pinned moto version `./scripts/test` installs.
pub const MOTO_VERSION: &str = "5.2.1";
/// The launcher: moto's server plus the calls moto lacks.
const EMULATOR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/emulator.py");
/// The User-Agent of the support code's own calls, to tell them apart in the recording.
const HARNESS_USER_AGENT: &str = "bpa-infra-test-support/1";

/// How long the emulator may take to answer after it was spawned. moto imports every
/// service and the emulator loads botocore's EKS model at start, which takes a few
/// seconds on a 2-core machine busy compiling.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one direct call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// One emulator (moto's server and its extensions), killed on drop.
pub struct Moto {
    child: Child,
    port: u16,
    log_path: PathBuf,
    // Holds moto's working directory (its recording file and log) until moto is gone.
    _dir: tempfile::TempDir,
}

impl Moto {
    /// Starts a fresh server and waits until it answers. Panics, with moto's log,
    /// if it cannot.
    pub fn start() -> Moto {
        Self::start_with(&[])
    }

    /// [`Moto::start`] with these extra environment variables for the emulator (e.g.
    /// `EMULATOR_TRANSITION_READS`, see scripts/emulator.py).
    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        let dir = tempfile::Builder::new()
            .prefix("bpa-moto-")
            .tempdir()
            .expect("create a temporary directory for moto");
        let mut failures = Vec::new();
        // A free port can be taken by another test between our probe and moto's bind:
        // try again on another port when that happens.
        for _ in 0..5 {
            let port = free_port();
            let log_path = dir.path().join(format!("moto-{port}.log"));
            let log = File::create(&log_path).expect("create moto's log file");
            let spawned = Command::new("python3")
                .arg(EMULATOR)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .current_dir(dir.path())
                .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
                // The recorder writes to `moto_recording` in the working directory by
                // default; keep each server's recording its own.
                .env("MOTO_RECORDER_FILEPATH", dir.path().join("recording.jsonl"))
                .env_remove("MOTO_ENABLE_RECORDING")
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("share moto's log file"))
                .stderr(log)
                .spawn();
            let mut child = match spawned {
                Ok(child) => child,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
                    "python3 is not installed (not found on PATH). The AWS integration tests \
                     run scripts/emulator.py, moto's standalone server with the calls moto \
                     lacks: install Python 3, then run ./scripts/test, which installs \
                     moto[server]=={MOTO_VERSION} with pip."
                ),
                Err(err) => panic!("could not run {EMULATOR}: {err}"),
            };
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            match wait_until_answering(&mut child, addr) {
                Ok(()) => {
                    let moto = Moto {
                        child,
                        port,
                        log_path,
                        _dir: dir,
                    };
                    // moto answers 500 to a download until the recording file exists;
                    // create it empty so that "nothing recorded" reads as an empty list.
                    moto.reset_recording();
                    return moto;
                }
                Err(reason) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    let port_taken = log.contains("Address already in use");
                    failures.push(format!("port {port}: {reason}\n{}", tail(&log, 30)));
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        panic!(
            "the emulator (scripts/emulator.py) did not start:\n{}\n(is \
             moto[server]=={MOTO_VERSION} installed for python3? ./scripts/test installs it)",
            failures.join("\n")
        );
    }

    /// The emulator's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// How many RDS catalogue reads (`DescribeDBEngineVersions`,
    /// `DescribeOrderableDBInstanceOptions`) were recorded: start recording first.
    pub fn catalogue_reads(&self) -> usize {
        self.recording()
            .iter()
            .filter(|c| {
                c.service == "rds"
                    && matches!(
                        c.operation.as_str(),
                        "DescribeDBEngineVersions" | "DescribeOrderableDBInstanceOptions"
                    )
            })
            .count()
    }

    // --- EKS state -----------------------------------------------------------------------

    /// Every addon of every cluster, as `cluster/name`.
    pub fn addons(&self) -> Vec<String> {
        let clusters = self.rest_json("eks", "GET", "/clusters", None);
        let mut all = Vec::new();
        for cluster in clusters["clusters"].as_array().into_iter().flatten() {
            let cluster = cluster.as_str().unwrap_or_default();
            let addons = self.rest_json("eks", "GET", &format!("/clusters/{cluster}/addons"), None);
            for addon in addons["addons"].as_array().into_iter().flatten() {
                all.push(format!("{cluster}/{}", addon.as_str().unwrap_or_default()));
            }
        }
        all
    }

    /// The addon `name` of `cluster` as EKS describes it, or `None` when there is none.
    pub fn addon(&self, cluster: &str, name: &str) -> Option<Value> {
        let (status, body) =
            self.eks_call("GET", &format!("/clusters/{cluster}/addons/{name}"), None);
        match status {
            200 => Some(body["addon"].clone()),
            404 => None,
            other => panic!("DescribeAddon {cluster}/{name} answered {other}: {body}"),
        }
    }

    /// The binary's recorded EKS addon calls (`eks:CreateAddon`, `eks:DescribeAddon`, ...).
    pub fn addon_calls(&self) -> Vec<String> {
        self.recording()
            .iter()
            .filter(|c| !c.by_harness && c.service == "eks" && c.operation.contains("Addon"))
            .map(RecordedCall::name)
            .collect()
    }

    /// An EKS call that may fail: the HTTP status and the JSON body (`Null` when empty),
    /// with the error code of a failure in the body's `code` (from `x-amzn-ErrorType`).
    pub fn eks_call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let request = rest_json_request(&self.endpoint_url(), "eks", method, path, body);
        let response = self.send(&request);
        let mut json = parse_json(&response);
        if let (Some(code), Value::Object(map)) = (response.header("x-amzn-errortype"), &mut json) {
            map.insert("code".to_owned(), Value::String(code.to_owned()));
        }
        (response.status, json)
    }

    /// The environment that points the binary at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        Self::env_for(&self.endpoint_url())
    }

    /// The environment that points the binary at `endpoint_url` (a [`FaultProxy`] in
    /// front of the emulator, say) with moto's fake credentials.
    ///
    /// [`FaultProxy`]: super::proxy::FaultProxy
    pub fn env_for(endpoint_url: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", endpoint_url.to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
            // No instance-metadata lookups: they would wait for a timeout off EC2.
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }

    /// The `bpa-infra` command of [`super::bpa_infra`] pointed at this server.
    pub fn bpa_infra(&self) -> assert_cmd::Command {
        self.bpa_infra_via(&self.endpoint_url())
    }

    /// The `bpa-infra` command pointed at `endpoint_url` (e.g. `proxy.url()`).
    pub fn bpa_infra_via(&self, endpoint_url: &str) -> assert_cmd::Command {
        let mut cmd = super::bpa_infra();
        cmd.envs(Self::env_for(endpoint_url));
        cmd
    }

    /// moto's output so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    // --- recorder and state -------------------------------------------------------------

    /// Records every call from now on (until [`Moto::stop_recording`]).
    pub fn start_recording(&self) {
        self.moto_api("POST", "/moto-api/recorder/start-recording");
    }

    pub fn stop_recording(&self) {
        self.moto_api("POST", "/moto-api/recorder/stop-recording");
    }

    /// Forgets the calls recorded so far; recording stays on or off.
    pub fn reset_recording(&self) {
        self.moto_api("POST", "/moto-api/recorder/reset-recording");
    }

    /// The AWS calls recorded so far, in order (calls to `/moto-api/` left out).
    pub fn recording(&self) -> Vec<RecordedCall> {
        let text = self
            .moto_api("GET", "/moto-api/recorder/download-recording")
            .text();
        parse_recording(&text)
    }

    /// The recorded calls that may change something: every operation that is not a
    /// `Describe*`, `List*`, `Get*`, `Head*`, ... (see [`is_mutating`]).
    pub fn mutating_calls(&self) -> Vec<RecordedCall> {
        self.recording()
            .into_iter()
            .filter(RecordedCall::is_mutating)
            .collect()
    }

    /// Wipes every resource in every service (the recording is kept).
    pub fn reset(&self) {
        self.moto_api("POST", "/moto-api/reset");
    }

    fn moto_api(&self, method: &str, path: &str) -> Response {
        let request = Request::new(
            method,
            path,
            vec![
                ("Host".into(), format!("127.0.0.1:{}", self.port)),
                ("User-Agent".into(), HARNESS_USER_AGENT.into()),
                ("Content-Length".into(), "0".into()),
            ],
            Vec::new(),
        );
        let response = self.send(&request);
        assert!(
            response.status == 200,
            "moto {method} {path} answered {}: {}",
            response.status,
            response.text()
        );
        response
    }

    // --- direct AWS calls for test setup -----------------------------------------------

    /// Sends `request` to moto as is and returns the answer (any status).
    pub fn send(&self, request: &Request) -> Response {
        wire::send(self.addr(), request, CALL_TIMEOUT).unwrap_or_else(|err| {
            panic!(
                "moto did not answer {} {}: {err}\nmoto log:\n{}",
                request.method,
                request.target,
                tail(&self.log(), 30)
            )
        })
    }

    /// A query-protocol call (EC2, IAM, RDS, STS); returns the XML answer. Panics with
    /// the AWS error when the call fails.
    pub fn query(
        &self,
        service: &str,
        version: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> String {
        let request = query_request(&self.endpoint_url(), service, version, action, params);
        expect_ok(self.send(&request), service, action).text()
    }

    /// An EC2 call, e.g. `moto.ec2("DescribeVpcs", &[("VpcId.1", &id)])`.
    pub fn ec2(&self, action: &str, params: &[(&str, &str)]) -> String {
        self.query("ec2", "2016-11-15", action, params)
    }

    /// An IAM call, e.g. `moto.iam("GetRole", &[("RoleName", "x")])`.
    pub fn iam(&self, action: &str, params: &[(&str, &str)]) -> String {
        self.query("iam", "2010-05-08", action, params)
    }

    /// An RDS call.
    pub fn rds(&self, action: &str, params: &[(&str, &str)]) -> String {
        self.query("rds", "2014-10-31", action, params)
    }

    /// A JSON-protocol call (ECR, Secrets Manager, DynamoDB):
    /// `moto.json("ecr", "AmazonEC2ContainerRegistry_V20150921.CreateRepository", &body)`.
    pub fn json(&self, service: &str, target: &str, body: &Value) -> Value {
        let request = json_request(&self.endpoint_url(), service, target, body);
        let operation = target.rsplit('.').next().unwrap_or(target);
        parse_json(&expect_ok(self.send(&request), service, operation))
    }

    /// A REST-JSON call (EKS): `moto.rest_json("eks", "GET", "/clusters", None)`.
    pub fn rest_json(
        &self,
        service: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Value {
        let request = rest_json_request(&self.endpoint_url(), service, method, path, body);
        parse_json(&expect_ok(
            self.send(&request),
            service,
            &format!("{method} {path}"),
        ))
    }

    /// Creates a VPC with these tags (none: an untagged one) and returns its id.
    pub fn create_vpc(&self, cidr: &str, tags: &[(&str, &str)]) -> String {
        let mut params = vec![("CidrBlock".to_owned(), cidr.to_owned())];
        params.extend(tag_specification("vpc", tags));
        let xml = self.ec2("CreateVpc", &borrowed(&params));
        xml_text(&xml, "vpcId").unwrap_or_else(|| panic!("CreateVpc answer has no vpcId: {xml}"))
    }

    /// Creates a subnet of `vpc_id` in availability zone `az` (e.g. `us-west-2a`) and
    /// returns its id.
    pub fn create_subnet(
        &self,
        vpc_id: &str,
        cidr: &str,
        az: &str,
        tags: &[(&str, &str)],
    ) -> String {
        let mut params = vec![
            ("VpcId".to_owned(), vpc_id.to_owned()),
            ("CidrBlock".to_owned(), cidr.to_owned()),
            ("AvailabilityZone".to_owned(), az.to_owned()),
        ];
        params.extend(tag_specification("subnet", tags));
        let xml = self.ec2("CreateSubnet", &borrowed(&params));
        xml_text(&xml, "subnetId")
            .unwrap_or_else(|| panic!("CreateSubnet answer has no subnetId: {xml}"))
    }

    /// Adds tags to EC2 resources.
    pub fn create_tags(&self, resource_ids: &[&str], tags: &[(&str, &str)]) {
        let mut params = Vec::new();
        for (i, id) in resource_ids.iter().enumerate() {
            params.push((format!("ResourceId.{}", i + 1), (*id).to_owned()));
        }
        for (i, (key, value)) in tags.iter().enumerate() {
            params.push((format!("Tag.{}.Key", i + 1), (*key).to_owned()));
            params.push((format!("Tag.{}.Value", i + 1), (*value).to_owned()));
        }
        self.ec2("CreateTags", &borrowed(&params));
    }

    /// Creates a Multi-AZ PostgreSQL 16 DB cluster `id` whose master password RDS manages,
    /// tagged `bpa-infra:profile: <owner>` when `owner` is given, and returns the answer.
    pub fn create_db_cluster(
        &self,
        id: &str,
        master_username: &str,
        owner: Option<&str>,
    ) -> String {
        let mut params = vec![
            ("DBClusterIdentifier", id),
            ("Engine", "postgres"),
            ("EngineVersion", "16.4"),
            ("MasterUsername", master_username),
            ("ManageMasterUserPassword", "true"),
            ("DBClusterInstanceClass", "db.m5d.large"),
            ("AllocatedStorage", "100"),
            ("StorageType", "gp3"),
        ];
        if let Some(owner) = owner {
            params.extend([
                ("Tags.Tag.1.Key", "bpa-infra:profile"),
                ("Tags.Tag.1.Value", owner),
            ]);
        }
        self.rds("CreateDBCluster", &params)
    }

    /// Creates an IAM role that EKS and EC2 may assume, with these tags, and returns its ARN.
    pub fn create_role(&self, name: &str, tags: &[(&str, &str)]) -> String {
        let trust = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "Service": ["eks.amazonaws.com", "ec2.amazonaws.com"] },
                "Action": "sts:AssumeRole"
            }]
        })
        .to_string();
        let mut params = vec![
            ("RoleName".to_owned(), name.to_owned()),
            ("AssumeRolePolicyDocument".to_owned(), trust),
        ];
        for (i, (key, value)) in tags.iter().enumerate() {
            params.push((format!("Tags.member.{}.Key", i + 1), (*key).to_owned()));
            params.push((format!("Tags.member.{}.Value", i + 1), (*value).to_owned()));
        }
        let xml = self.iam("CreateRole", &borrowed(&params));
        xml_text(&xml, "Arn").unwrap_or_else(|| panic!("CreateRole answer has no Arn: {xml}"))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("find a free loopback port")
}

fn wait_until_answering(child: &mut Child, addr: SocketAddr) -> Result<(), String> {
    let started = Instant::now();
    let probe = Request::new(
        "GET",
        "/moto-api/",
        vec![
            ("Host".into(), addr.to_string()),
            ("User-Agent".into(), HARNESS_USER_AGENT.into()),
        ],
        Vec::new(),
    );
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the emulator exited ({status}) before answering"));
        }
        if let Ok(response) = wire::send(addr, &probe, Duration::from_secs(5)) {
            if response.status == 200 {
                return Ok(());
            }
        }
        if started.elapsed() > START_TIMEOUT {
            return Err(format!(
                "the emulator did not answer on {addr} within {}s",
                START_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn expect_ok(response: Response, service: &str, operation: &str) -> Response {
    assert!(
        (200..300).contains(&response.status),
        "{service} {operation} failed with HTTP {}: {}",
        response.status,
        response.text()
    );
    response
}

fn parse_json(response: &Response) -> Value {
    if response.body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|err| panic!("answer is not JSON ({err}): {}", response.text()))
}

fn borrowed(params: &[(String, String)]) -> Vec<(&str, &str)> {
    params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn tag_specification(resource_type: &str, tags: &[(&str, &str)]) -> Vec<(String, String)> {
    if tags.is_empty() {
        return Vec::new();
    }
    let mut params = vec![(
        "TagSpecification.1.ResourceType".to_owned(),
        resource_type.to_owned(),
    )];
    for (i, (key, value)) in tags.iter().enumerate() {
        params.push((
            format!("TagSpecification.1.Tag.{}.Key", i + 1),
            (*key).to_owned(),
        ));
        params.push((
            format!("TagSpecification.1.Tag.{}.Value", i + 1),
            (*value).to_owned(),
        ));
    }
    params
}

// --- requests in each protocol -------------------------------------------------------

/// The region a service's calls are signed for: IAM is global and lives in us-east-1.
pub fn signing_region(service: &str) -> &'static str {
    if service == "iam" {
        "us-east-1"
    } else {
        REGION
    }
}

/// Headers every direct call carries: the host, our User-Agent and a fake SigV4
/// `Authorization` whose credential scope names the region and service (moto routes by it
/// and does not check the signature).
pub fn aws_headers(endpoint_url: &str, service: &str) -> Vec<(String, String)> {
    let host = endpoint_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let region = signing_region(service);
    vec![
        ("Host".into(), host),
        ("User-Agent".into(), HARNESS_USER_AGENT.into()),
        ("X-Amz-Date".into(), "20250101T000000Z".into()),
        (
            "Authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential=testing/20250101/{region}/{service}/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature={}",
                "0".repeat(64)
            ),
        ),
    ]
}

/// A query-protocol request: form body `Action=...&Version=...&params`.
pub fn query_request(
    endpoint_url: &str,
    service: &str,
    version: &str,
    action: &str,
    params: &[(&str, &str)],
) -> Request {
    let mut body = format!(
        "Action={}&Version={}",
        form_encode(action),
        form_encode(version)
    );
    for (key, value) in params {
        body.push_str(&format!("&{}={}", form_encode(key), form_encode(value)));
    }
    let mut headers = aws_headers(endpoint_url, service);
    headers.push((
        "Content-Type".into(),
        "application/x-www-form-urlencoded; charset=utf-8".into(),
    ));
    Request::new("POST", "/", headers, body.into_bytes())
}

/// A JSON-protocol request (`X-Amz-Target: Prefix.Operation`, JSON 1.1, or 1.0 for DynamoDB).
pub fn json_request(endpoint_url: &str, service: &str, target: &str, body: &Value) -> Request {
    let version = if service == "dynamodb" { "1.0" } else { "1.1" };
    let mut headers = aws_headers(endpoint_url, service);
    headers.push((
        "Content-Type".into(),
        format!("application/x-amz-json-{version}"),
    ));
    headers.push(("X-Amz-Target".into(), target.into()));
    Request::new("POST", "/", headers, body.to_string().into_bytes())
}

/// A REST-JSON request (EKS).
pub fn rest_json_request(
    endpoint_url: &str,
    service: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Request {
    let mut headers = aws_headers(endpoint_url, service);
    let body = match body {
        Some(body) => {
            headers.push(("Content-Type".into(), "application/json".into()));
            body.to_string().into_bytes()
        }
        None => Vec::new(),
    };
    Request::new(method, path, headers, body)
}

/// `application/x-www-form-urlencoded` encoding of one key or value.
pub fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

pub fn percent_decode(text: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// --- what a call is ----------------------------------------------------------------

/// The wire protocol of an AWS call, which decides the shape of its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// EC2's own query protocol (`<Response><Errors><Error>`).
    Ec2Query,
    /// The query protocol of IAM, RDS, STS (`<ErrorResponse><Error>`).
    AwsQuery,
    /// `X-Amz-Target` JSON 1.0/1.1 (ECR, Secrets Manager, DynamoDB).
    AwsJson,
    /// REST with JSON bodies (EKS).
    RestJson,
    /// REST with XML bodies (S3).
    RestXml,
}

/// What one HTTP request is, in AWS terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallInfo {
    /// The signing name: `ec2`, `iam`, `eks`, `rds`, `ecr`, `secretsmanager`, ...
    pub service: String,
    /// The operation, e.g. `CreateVpc`; for a REST call not in the tables,
    /// `METHOD /path` with the path as sent.
    pub operation: String,
    pub method: String,
    /// The path without the query.
    pub path: String,
    pub protocol: Protocol,
}

impl CallInfo {
    pub fn is_mutating(&self) -> bool {
        is_mutating(&self.operation, &self.method)
    }
}

/// One call from moto's recorder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedCall {
    pub service: String,
    pub operation: String,
    pub method: String,
    pub path: String,
    pub protocol: Protocol,
    /// Made by this support code (setup), not by the binary.
    pub by_harness: bool,
}

impl RecordedCall {
    pub fn is_mutating(&self) -> bool {
        is_mutating(&self.operation, &self.method)
    }

    /// `service:Operation`, handy in assertion messages.
    pub fn name(&self) -> String {
        format!("{}:{}", self.service, self.operation)
    }
}

/// Whether an operation may change something. Reads are the `Describe*`, `List*`, `Get*`,
/// `Head*`, `BatchGet*`, `Search*`, `Query` and `Scan` operations; a REST call that is not
/// in the tables counts as a read only when its method is GET or HEAD.
pub fn is_mutating(operation: &str, method: &str) -> bool {
    if operation.contains(' ') {
        return !matches!(method, "GET" | "HEAD");
    }
    const READ_PREFIXES: [&str; 6] = ["Describe", "List", "Get", "Head", "BatchGet", "Search"];
    let read = READ_PREFIXES.iter().any(|prefix| {
        operation.strip_prefix(prefix).is_some_and(|rest| {
            rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_uppercase())
        })
    }) || matches!(operation, "Query" | "Scan");
    !read
}

/// Works out service, operation and protocol of a request from its method, target
/// (path and query), headers and body.
pub fn classify(
    method: &str,
    target: &str,
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
) -> CallInfo {
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let amz_target = header("x-amz-target");
    let scope_service = header("authorization").and_then(|auth| credential_scope_service(&auth));
    let service = scope_service
        .or_else(|| amz_target.as_deref().map(target_prefix_service))
        .unwrap_or_else(|| "unknown".to_owned());
    let content_type = header("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();

    let (operation, protocol) = if let Some(amz_target) = &amz_target {
        let operation = amz_target
            .rsplit('.')
            .next()
            .unwrap_or(amz_target)
            .to_owned();
        (operation, Protocol::AwsJson)
    } else if let Some(action) = query_action(&content_type, body, query) {
        let protocol = if service == "ec2" {
            Protocol::Ec2Query
        } else {
            Protocol::AwsQuery
        };
        (action, protocol)
    } else if service == "s3" {
        (s3_operation(method, path, query), Protocol::RestXml)
    } else {
        let operation = match service.as_str() {
            "eks" => eks_operation(method, path),
            _ => None,
        };
        (
            operation.unwrap_or_else(|| format!("{method} {path}")),
            Protocol::RestJson,
        )
    };
    CallInfo {
        service,
        operation,
        method: method.to_owned(),
        path: path.to_owned(),
        protocol,
    }
}

/// The service of `Credential=AKID/DATE/REGION/SERVICE/aws4_request`.
fn credential_scope_service(authorization: &str) -> Option<String> {
    let credential = authorization.split("Credential=").nth(1)?;
    let scope = credential.split([',', ' ']).next()?;
    let parts: Vec<&str> = scope.split('/').collect();
    (parts.len() >= 5).then(|| parts[3].to_owned())
}

fn target_prefix_service(amz_target: &str) -> String {
    let prefix = amz_target.split('.').next().unwrap_or(amz_target);
    match prefix {
        "AmazonEC2ContainerRegistry_V20150921" => "ecr".to_owned(),
        "DynamoDB_20120810" => "dynamodb".to_owned(),
        other => other.to_ascii_lowercase(),
    }
}

/// `Action=` of a query-protocol call, from the form body or else the query string.
fn query_action(content_type: &str, body: &[u8], query: Option<&str>) -> Option<String> {
    let find = |form: &str| {
        form.split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == "Action")
            .map(|(_, value)| percent_decode(value))
    };
    let body_is_form = content_type.contains("x-www-form-urlencoded")
        || body.starts_with(b"Action=")
        || (content_type.is_empty() && !body.is_empty() && !body.starts_with(b"{"));
    let from_body = if body_is_form {
        std::str::from_utf8(body).ok().and_then(find)
    } else {
        None
    };
    from_body.or_else(|| query.and_then(find))
}

/// EKS routes (method, path with `*` for one segment) to operation names, from the
/// `aws-sdk-eks` request serializers.
const EKS_ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/clusters", "ListClusters"),
    ("POST", "/clusters", "CreateCluster"),
    ("GET", "/clusters/*", "DescribeCluster"),
    ("DELETE", "/clusters/*", "DeleteCluster"),
    ("POST", "/clusters/*/update-config", "UpdateClusterConfig"),
    ("POST", "/clusters/*/updates", "UpdateClusterVersion"),
    ("GET", "/clusters/*/updates", "ListUpdates"),
    ("GET", "/clusters/*/updates/*", "DescribeUpdate"),
    (
        "POST",
        "/clusters/*/updates/*/cancel-update",
        "CancelUpdate",
    ),
    ("POST", "/clusters/*/node-groups", "CreateNodegroup"),
    ("GET", "/clusters/*/node-groups", "ListNodegroups"),
    ("GET", "/clusters/*/node-groups/*", "DescribeNodegroup"),
    ("DELETE", "/clusters/*/node-groups/*", "DeleteNodegroup"),
    (
        "POST",
        "/clusters/*/node-groups/*/update-config",
        "UpdateNodegroupConfig",
    ),
    (
        "POST",
        "/clusters/*/node-groups/*/update-version",
        "UpdateNodegroupVersion",
    ),
    ("POST", "/clusters/*/addons", "CreateAddon"),
    ("GET", "/clusters/*/addons", "ListAddons"),
    ("GET", "/clusters/*/addons/*", "DescribeAddon"),
    ("DELETE", "/clusters/*/addons/*", "DeleteAddon"),
    ("POST", "/clusters/*/addons/*/update", "UpdateAddon"),
    ("GET", "/addons/supported-versions", "DescribeAddonVersions"),
    (
        "GET",
        "/addons/configuration-schemas",
        "DescribeAddonConfiguration",
    ),
    ("GET", "/cluster-versions", "DescribeClusterVersions"),
    ("POST", "/clusters/*/access-entries", "CreateAccessEntry"),
    ("GET", "/clusters/*/access-entries", "ListAccessEntries"),
    ("GET", "/clusters/*/access-entries/*", "DescribeAccessEntry"),
    ("POST", "/clusters/*/access-entries/*", "UpdateAccessEntry"),
    (
        "DELETE",
        "/clusters/*/access-entries/*",
        "DeleteAccessEntry",
    ),
    (
        "POST",
        "/clusters/*/access-entries/*/access-policies",
        "AssociateAccessPolicy",
    ),
    (
        "GET",
        "/clusters/*/access-entries/*/access-policies",
        "ListAssociatedAccessPolicies",
    ),
    (
        "DELETE",
        "/clusters/*/access-entries/*/access-policies/*",
        "DisassociateAccessPolicy",
    ),
    ("GET", "/access-policies", "ListAccessPolicies"),
    (
        "POST",
        "/clusters/*/pod-identity-associations",
        "CreatePodIdentityAssociation",
    ),
    (
        "GET",
        "/clusters/*/pod-identity-associations",
        "ListPodIdentityAssociations",
    ),
    (
        "GET",
        "/clusters/*/pod-identity-associations/*",
        "DescribePodIdentityAssociation",
    ),
    (
        "POST",
        "/clusters/*/pod-identity-associations/*",
        "UpdatePodIdentityAssociation",
    ),
    (
        "DELETE",
        "/clusters/*/pod-identity-associations/*",
        "DeletePodIdentityAssociation",
    ),
    (
        "GET",
        "/clusters/*/identity-provider-configs",
        "ListIdentityProviderConfigs",
    ),
    (
        "POST",
        "/clusters/*/identity-provider-configs/associate",
        "AssociateIdentityProviderConfig",
    ),
    (
        "POST",
        "/clusters/*/identity-provider-configs/describe",
        "DescribeIdentityProviderConfig",
    ),
    (
        "POST",
        "/clusters/*/identity-provider-configs/disassociate",
        "DisassociateIdentityProviderConfig",
    ),
    (
        "POST",
        "/clusters/*/encryption-config/associate",
        "AssociateEncryptionConfig",
    ),
    (
        "POST",
        "/clusters/*/fargate-profiles",
        "CreateFargateProfile",
    ),
    ("GET", "/clusters/*/fargate-profiles", "ListFargateProfiles"),
    (
        "GET",
        "/clusters/*/fargate-profiles/*",
        "DescribeFargateProfile",
    ),
    (
        "DELETE",
        "/clusters/*/fargate-profiles/*",
        "DeleteFargateProfile",
    ),
    ("POST", "/clusters/*/insights", "ListInsights"),
    ("GET", "/clusters/*/insights/*", "DescribeInsight"),
    ("POST", "/tags/*", "TagResource"),
    ("DELETE", "/tags/*", "UntagResource"),
    ("GET", "/tags/*", "ListTagsForResource"),
];

/// The EKS operation of a REST call, if it is in [`EKS_ROUTES`].
pub fn eks_operation(method: &str, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    EKS_ROUTES
        .iter()
        .find(|(route_method, pattern, _)| {
            let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
            *route_method == method
                && pattern.len() == segments.len()
                && pattern
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| *p == "*" || p == s)
        })
        .map(|(_, _, operation)| (*operation).to_owned())
}

/// Approximate S3 operation names for path-style requests: enough to tell reads from
/// writes and to count calls.
fn s3_operation(method: &str, path: &str, query: Option<&str>) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let keys: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split('=').next().unwrap_or(pair))
        .collect();
    let has = |key: &str| keys.contains(&key);
    const SUBRESOURCES: [(&str, &str); 9] = [
        ("tagging", "Tagging"),
        ("versioning", "Versioning"),
        ("policy", "Policy"),
        ("encryption", "Encryption"),
        ("lifecycle", "LifecycleConfiguration"),
        ("acl", "Acl"),
        ("location", "Location"),
        ("publicAccessBlock", "PublicAccessBlock"),
        ("ownershipControls", "OwnershipControls"),
    ];
    let sub = SUBRESOURCES
        .iter()
        .find(|(key, _)| has(key))
        .map(|(_, name)| *name);
    let verb = match method {
        "GET" => "Get",
        "PUT" => "Put",
        "DELETE" => "Delete",
        "HEAD" => "Head",
        _ => "Post",
    };
    match (segments.len(), method, sub) {
        (0, "GET", _) => "ListBuckets".to_owned(),
        (1, _, Some(name)) => format!("{verb}Bucket{name}"),
        (1, "PUT", None) => "CreateBucket".to_owned(),
        (1, "DELETE", None) => "DeleteBucket".to_owned(),
        (1, "HEAD", None) => "HeadBucket".to_owned(),
        (1, "GET", None) => "ListObjectsV2".to_owned(),
        (1, "POST", None) if has("delete") => "DeleteObjects".to_owned(),
        (n, _, Some(name)) if n > 1 => format!("{verb}Object{name}"),
        (n, "POST", None) if n > 1 && has("uploads") => "CreateMultipartUpload".to_owned(),
        (n, "PUT", None) if n > 1 && has("uploadId") => "UploadPart".to_owned(),
        (n, "POST", None) if n > 1 && has("uploadId") => "CompleteMultipartUpload".to_owned(),
        (n, "DELETE", None) if n > 1 && has("uploadId") => "AbortMultipartUpload".to_owned(),
        (n, _, None) if n > 1 => format!("{verb}Object"),
        _ => format!("{method} {path}"),
    }
}

/// Parses moto's recording (JSON lines of `{headers, method, url, body, body_encoded}`).
pub fn parse_recording(text: &str) -> Vec<RecordedCall> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let entry: Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("moto recording line is not JSON ({err}): {line}"));
            let headers: Vec<(String, String)> = entry["headers"]
                .as_object()
                .map(|map| {
                    map.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let method = entry["method"].as_str().unwrap_or("GET");
            let url = entry["url"].as_str().unwrap_or("/");
            // `http://host:port/path?query` -> `/path?query`
            let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
            let target = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
            let body = match (entry["body"].as_str(), entry["body_encoded"].as_bool()) {
                (Some(body), Some(true)) => base64_decode(body)
                    .unwrap_or_else(|| panic!("moto recording body is not base64: {body}")),
                (Some(body), _) => body.as_bytes().to_vec(),
                (None, _) => Vec::new(),
            };
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            };
            let by_harness =
                header("user-agent").is_some_and(|ua| ua.starts_with(HARNESS_USER_AGENT));
            let call = classify(method, target, header, &body);
            RecordedCall {
                service: call.service,
                operation: call.operation,
                method: call.method,
                path: call.path,
                protocol: call.protocol,
                by_harness,
            }
        })
        .filter(|call| !call.path.starts_with("/moto-api/"))
        .collect()
}

/// Standard base64 (with or without padding); `None` if it is not base64.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let digits: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let digits = digits
        .strip_suffix(b"==")
        .or_else(|| digits.strip_suffix(b"="))
        .unwrap_or(&digits);
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

// --- XML -----------------------------------------------------------------------------

/// Every leaf element of an XML document as (`/`-joined path of local names, text),
/// in document order, e.g. `("Response/Errors/Error/Code", "RequestLimitExceeded")`.
/// Panics if the document is not well-formed.
pub fn xml_leaves(xml: &str) -> Vec<(String, String)> {
    use xmlparser::{ElementEnd, Token, Tokenizer};
    let mut stack: Vec<(String, bool)> = Vec::new(); // (name, has child elements)
    let mut text = String::new();
    let mut leaves = Vec::new();
    let mut saw_root = false;
    for token in Tokenizer::from(xml) {
        let token = token.unwrap_or_else(|err| panic!("malformed XML ({err}): {xml}"));
        match token {
            Token::ElementStart { local, .. } => {
                assert!(
                    !(stack.is_empty() && saw_root),
                    "XML has more than one root element: {xml}"
                );
                saw_root = true;
                if let Some(parent) = stack.last_mut() {
                    parent.1 = true;
                }
                stack.push((local.as_str().to_owned(), false));
                text.clear();
            }
            Token::ElementEnd { end, .. } => {
                let closes = match end {
                    ElementEnd::Open => continue,
                    ElementEnd::Empty => None,
                    ElementEnd::Close(_, local) => Some(local.as_str().to_owned()),
                };
                let path = stack
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>()
                    .join("/");
                let (name, has_children) = stack
                    .pop()
                    .unwrap_or_else(|| panic!("XML closes an element it never opened: {xml}"));
                if let Some(closed) = closes {
                    assert_eq!(closed, name, "XML closes <{name}> with </{closed}>: {xml}");
                }
                if !has_children {
                    leaves.push((path, std::mem::take(&mut text)));
                }
                text.clear();
            }
            Token::Text { text: chunk } => text.push_str(&xml_unescape(chunk.as_str())),
            Token::Cdata { text: chunk, .. } => text.push_str(chunk.as_str()),
            _ => {}
        }
    }
    assert!(saw_root && stack.is_empty(), "XML is incomplete: {xml}");
    leaves
}

/// The texts of every leaf element named `tag` (local name), in document order.
pub fn xml_texts(xml: &str, tag: &str) -> Vec<String> {
    xml_leaves(xml)
        .into_iter()
        .filter(|(path, _)| path.rsplit('/').next() == Some(tag))
        .map(|(_, text)| text)
        .collect()
}

/// The text of the first leaf element named `tag`.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    xml_texts(xml, tag).into_iter().next()
}

fn xml_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';') else { break };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
