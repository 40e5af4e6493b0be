//! Tests of the test harness itself: moto starts, answers and records; the setup helpers
//! make real resources; the fault proxy forwards faithfully, injects each fault in the
//! calling protocol's real error shape, decides by seed, and its faults are classified by
//! the AWS SDK for Rust the way real AWS errors are (retried, then reported by code).

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::moto::{
    self, Moto, Protocol, RecordedCall, classify, is_mutating, json_request, query_request,
    rest_json_request, xml_leaves, xml_text, xml_texts,
};
use crate::support::proxy::wire::{self, Request, Response};
use crate::support::proxy::{FaultConfig, FaultKind, FaultProxy};

const ECR: &str = "AmazonEC2ContainerRegistry_V20150921";
const TIMEOUT: Duration = Duration::from_secs(60);

fn names(calls: &[RecordedCall]) -> Vec<String> {
    calls.iter().map(RecordedCall::name).collect()
}

/// The value of the leaf at `path` (`Response/Errors/Error/Code`), if any.
fn leaf(xml: &str, path: &str) -> Option<String> {
    xml_leaves(xml)
        .into_iter()
        .find(|(p, _)| p == path)
        .map(|(_, text)| text)
}

fn json_body(response: &Response) -> Value {
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|err| panic!("not JSON ({err}): {}", response.text()))
}

/// One read-only request in each protocol the binary speaks, to send through the proxy.
fn read_requests(url: &str) -> Vec<(&'static str, Request)> {
    vec![
        (
            "ec2",
            query_request(url, "ec2", "2016-11-15", "DescribeVpcs", &[]),
        ),
        (
            "iam",
            query_request(url, "iam", "2010-05-08", "ListRoles", &[]),
        ),
        (
            "rds",
            query_request(url, "rds", "2014-10-31", "DescribeDBClusters", &[]),
        ),
        (
            "ecr",
            json_request(
                url,
                "ecr",
                &format!("{ECR}.DescribeRepositories"),
                &json!({}),
            ),
        ),
        (
            "secretsmanager",
            json_request(
                url,
                "secretsmanager",
                "secretsmanager.ListSecrets",
                &json!({}),
            ),
        ),
        (
            "eks",
            rest_json_request(url, "eks", "GET", "/clusters", None),
        ),
    ]
}

#[test]
fn moto_starts_answers_and_stops_on_drop() {
    let moto = Moto::start();
    let addr = moto.addr();

    // It answers EC2 with its default VPC, and IAM knows the AWS-managed policies
    // (MOTO_IAM_LOAD_MANAGED_POLICIES) that the EKS roles attach.
    let vpcs = moto.ec2("DescribeVpcs", &[]);
    assert_eq!(xml_texts(&vpcs, "isDefault"), ["true"], "{vpcs}");
    let policy = moto.iam(
        "GetPolicy",
        &[(
            "PolicyArn",
            "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
        )],
    );
    assert_eq!(
        xml_text(&policy, "PolicyName").as_deref(),
        Some("AmazonEKSClusterPolicy")
    );

    let env = moto.env();
    for expected in [
        ("AWS_ENDPOINT_URL", moto.endpoint_url()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_REGION", "us-west-2".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ] {
        assert!(env.contains(&expected), "{expected:?} missing from {env:?}");
    }
    assert_eq!(
        moto.endpoint_url(),
        format!("http://127.0.0.1:{}", moto.port())
    );

    drop(moto);
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "moto still listens on {addr} after drop"
    );
}

#[test]
fn recording_tells_mutating_calls_from_reads() {
    let moto = Moto::start();
    // Not recorded: recording is off.
    moto.ec2("DescribeVpcs", &[]);
    // The cluster's subnets (EKS wants them to exist, in two zones).
    let cluster_vpc = moto.create_vpc("10.11.0.0/16", &[]);
    let subnets = [
        moto.create_subnet(&cluster_vpc, "10.11.0.0/20", "us-west-2a", &[]),
        moto.create_subnet(&cluster_vpc, "10.11.16.0/20", "us-west-2b", &[]),
    ];
    moto.start_recording();

    let vpc = moto.create_vpc("10.10.0.0/16", &[]);
    moto.ec2("DescribeVpcs", &[("VpcId.1", &vpc)]);
    moto.iam("ListRoles", &[]);
    moto.json(
        "ecr",
        &format!("{ECR}.CreateRepository"),
        &json!({"repositoryName": "bpa/app"}),
    );
    moto.json("ecr", &format!("{ECR}.DescribeRepositories"), &json!({}));
    moto.rest_json("eks", "GET", "/clusters", None);
    let cluster = json!({
        "name": "c1",
        "roleArn": "arn:aws:iam::123456789012:role/cluster",
        "resourcesVpcConfig": {"subnetIds": subnets}
    });
    moto.rest_json("eks", "POST", "/clusters", Some(&cluster));
    let described = moto.rest_json("eks", "GET", "/clusters/c1", None);
    assert_eq!(described["cluster"]["name"], "c1");
    moto.reset(); // a /moto-api/ call: never listed

    let recording = moto.recording();
    assert_eq!(
        names(&recording),
        [
            "ec2:CreateVpc",
            "ec2:DescribeVpcs",
            "iam:ListRoles",
            "ecr:CreateRepository",
            "ecr:DescribeRepositories",
            "eks:ListClusters",
            "eks:CreateCluster",
            "eks:DescribeCluster",
        ]
    );
    assert!(recording.iter().all(|call| call.by_harness));
    let protocols: Vec<Protocol> = recording.iter().map(|call| call.protocol).collect();
    assert_eq!(protocols[0], Protocol::Ec2Query);
    assert_eq!(protocols[2], Protocol::AwsQuery);
    assert_eq!(protocols[3], Protocol::AwsJson);
    assert_eq!(protocols[6], Protocol::RestJson);
    assert_eq!(
        (recording[6].method.as_str(), recording[6].path.as_str()),
        ("POST", "/clusters")
    );

    assert_eq!(
        names(&moto.mutating_calls()),
        ["ec2:CreateVpc", "ecr:CreateRepository", "eks:CreateCluster"]
    );

    // reset() wiped the VPC; reset_recording() forgets the calls.
    let after_reset = moto.ec2("DescribeVpcs", &[]);
    assert!(!xml_texts(&after_reset, "vpcId").contains(&vpc));
    moto.reset_recording();
    assert_eq!(moto.recording(), []);
    moto.stop_recording();
    moto.ec2("DescribeVpcs", &[]);
    assert_eq!(moto.recording(), []);
}

#[test]
fn setup_helpers_make_resources_moto_reports() {
    let moto = Moto::start();
    let vpc = moto.create_vpc("10.30.0.0/16", &[("Name", "adopted")]);
    let subnets: Vec<String> = ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(i, az)| {
            moto.create_subnet(
                &vpc,
                &format!("10.30.{i}.0/24"),
                &format!("us-west-2{az}"),
                &[("Name", "node")],
            )
        })
        .collect();
    let look_alike = moto.create_vpc("10.40.0.0/16", &[]);
    moto.create_tags(&[&look_alike], &[("Name", "bpa-dev")]);
    let role = moto.create_role("bpa-dev-cluster", &[("team", "x")]);

    let described = moto.ec2(
        "DescribeSubnets",
        &[("Filter.1.Name", "vpc-id"), ("Filter.1.Value.1", &vpc)],
    );
    let mut found = xml_texts(&described, "subnetId");
    found.sort();
    let mut expected = subnets.clone();
    expected.sort();
    assert_eq!(found, expected);
    let mut zones = xml_texts(&described, "availabilityZone");
    zones.sort();
    assert_eq!(zones, ["us-west-2a", "us-west-2b", "us-west-2c"]);

    let tagged = moto.ec2(
        "DescribeVpcs",
        &[
            ("Filter.1.Name", "tag:Name"),
            ("Filter.1.Value.1", "bpa-dev"),
        ],
    );
    assert_eq!(xml_texts(&tagged, "vpcId"), [look_alike]);
    let adopted = moto.ec2("DescribeVpcs", &[("VpcId.1", &vpc)]);
    assert_eq!(xml_texts(&adopted, "value"), ["adopted"]);

    assert_eq!(role, "arn:aws:iam::123456789012:role/bpa-dev-cluster");
    let got = moto.iam("GetRole", &[("RoleName", "bpa-dev-cluster")]);
    assert_eq!(xml_text(&got, "Arn").as_deref(), Some(role.as_str()));
}

#[test]
fn classify_names_operations_in_every_protocol() {
    let auth = |service: &str| {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-west-2/{service}/aws4_request, \
             SignedHeaders=host, Signature=00"
        )
    };
    let call = |method: &str, target: &str, service: &str, extra: &[(&str, &str)], body: &str| {
        let mut headers = vec![("Authorization".to_owned(), auth(service))];
        headers.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let info = classify(
            method,
            target,
            |name| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            },
            body.as_bytes(),
        );
        let mutating = info.is_mutating();
        (info.service, info.operation, info.protocol, mutating)
    };
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    assert_eq!(
        call(
            "POST",
            "/",
            "ec2",
            &form,
            "Action=CreateVpc&CidrBlock=10.0.0.0%2F16"
        ),
        ("ec2".into(), "CreateVpc".into(), Protocol::Ec2Query, true)
    );
    assert_eq!(
        call(
            "POST",
            "/",
            "iam",
            &form,
            "Version=2010-05-08&Action=GetRole"
        ),
        ("iam".into(), "GetRole".into(), Protocol::AwsQuery, false)
    );
    assert_eq!(
        call(
            "GET",
            "/?Action=DescribeDBClusters&Version=2014-10-31",
            "rds",
            &[],
            ""
        ),
        (
            "rds".into(),
            "DescribeDBClusters".into(),
            Protocol::AwsQuery,
            false
        )
    );
    assert_eq!(
        call(
            "POST",
            "/",
            "secretsmanager",
            &[("X-Amz-Target", "secretsmanager.PutSecretValue")],
            "{}"
        ),
        (
            "secretsmanager".into(),
            "PutSecretValue".into(),
            Protocol::AwsJson,
            true
        )
    );
    let eks = |method: &str, path: &str| call(method, path, "eks", &[], "").1;
    assert_eq!(
        eks("GET", "/clusters/c1/node-groups/ng1"),
        "DescribeNodegroup"
    );
    assert_eq!(
        eks("POST", "/clusters/c1/node-groups/ng1/update-config"),
        "UpdateNodegroupConfig"
    );
    assert_eq!(eks("POST", "/clusters/c1/updates"), "UpdateClusterVersion");
    assert_eq!(
        eks("GET", "/clusters/c1/addons/vpc-cni?x=1"),
        "DescribeAddon"
    );
    assert_eq!(
        eks(
            "DELETE",
            "/tags/arn%3Aaws%3Aeks%3Aus-west-2%3A1%3Acluster%2Fc1"
        ),
        "UntagResource"
    );
    // Unknown REST calls fall back to method and path; GET is a read, PATCH is not.
    assert_eq!(eks("PATCH", "/somewhere"), "PATCH /somewhere");
    assert!(is_mutating("PATCH /somewhere", "PATCH"));
    assert!(!is_mutating("GET /somewhere", "GET"));
    // `Get` must be a word: `GetRole` reads, `Getaway` would not.
    assert!(!is_mutating("GetRole", "POST"));
    assert!(is_mutating("Getaway", "POST"));
    // The describe endpoint of identity providers is a POST, yet a read.
    assert!(
        !call(
            "POST",
            "/clusters/c/identity-provider-configs/describe",
            "eks",
            &[],
            ""
        )
        .3
    );
}

#[test]
fn proxy_forwards_faithfully_without_faults() {
    let moto = Moto::start();
    let proxy = FaultProxy::in_front_of(&moto, FaultConfig::passthrough());
    let url = moto.endpoint_url();
    moto.create_vpc("10.50.0.0/16", &[]);

    // Answers that do not vary between calls must be the same byte for byte,
    // errors included.
    let same_twice = [
        query_request(&url, "ec2", "2016-11-15", "DescribeVpcs", &[]),
        json_request(
            &url,
            "ecr",
            &format!("{ECR}.DescribeRepositories"),
            &json!({"repositoryNames": ["missing"]}),
        ),
        rest_json_request(&url, "eks", "GET", "/clusters/missing", None),
        rest_json_request(&url, "eks", "GET", "/clusters", None),
    ];
    for request in &same_twice {
        let direct = moto.send(request);
        let proxied = wire::send(proxy.addr(), request, TIMEOUT).expect("proxy answers");
        assert_eq!(proxied.status, direct.status, "{}", request.target);
        assert_eq!(proxied.text(), direct.text(), "{}", request.target);
        for header in ["content-type", "x-amzn-errortype"] {
            assert_eq!(proxied.header(header), direct.header(header), "{header}");
        }
    }

    // A write through the proxy takes effect in moto.
    let create = query_request(
        &url,
        "ec2",
        "2016-11-15",
        "CreateVpc",
        &[("CidrBlock", "10.60.0.0/16")],
    );
    let created = wire::send(proxy.addr(), &create, TIMEOUT).expect("proxy answers");
    assert_eq!(created.status, 200, "{}", created.text());
    let vpc = xml_text(&created.text(), "vpcId").expect("a vpc id");
    assert!(xml_texts(&moto.ec2("DescribeVpcs", &[]), "vpcId").contains(&vpc));

    // Keep-alive: two requests on one connection, the second with a chunked body.
    let stream = TcpStream::connect(proxy.addr()).expect("connect to the proxy");
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut reader = BufReader::new(stream);
    let host = format!("Host: {}\r\n", proxy.addr());
    let auth = "Authorization: AWS4-HMAC-SHA256 Credential=t/20250101/us-west-2/ec2/aws4_request, \
                SignedHeaders=host, Signature=00\r\n";
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let body = "Action=DescribeVpcs&Version=2016-11-15";
    write!(
        writer,
        "POST / HTTP/1.1\r\n{host}{auth}{form}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let first = wire::read_response(&mut reader, false).expect("first answer");
    let (head, tail) = body.split_at(10);
    write!(
        writer,
        "POST / HTTP/1.1\r\n{host}{auth}{form}Transfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{head}\r\n{:x}\r\n{tail}\r\n0\r\n\r\n",
        head.len(),
        tail.len()
    )
    .unwrap();
    let second = wire::read_response(&mut reader, false).expect("second answer");
    assert_eq!(
        (first.status, second.status),
        (200, 200),
        "{}",
        second.text()
    );
    assert_eq!(
        xml_texts(&first.text(), "vpcId"),
        xml_texts(&second.text(), "vpcId")
    );

    // moto's own API passes through and is not counted.
    let recording = Request::new(
        "GET",
        "/moto-api/recorder/download-recording",
        vec![("Host".into(), proxy.addr().to_string())],
        Vec::new(),
    );
    assert_eq!(
        wire::send(proxy.addr(), &recording, TIMEOUT)
            .unwrap()
            .status,
        200
    );

    let stats = proxy.stats();
    // 4 compared calls, 1 create, 2 on the kept-alive connection.
    assert_eq!(stats.total, 7, "{stats:?}");
    assert_eq!(stats.faulted, 0);
    assert_eq!(stats.upstream_errors, 0);
    assert_eq!(stats.by_operation["ec2:DescribeVpcs"].calls, 3);
    assert_eq!(stats.by_operation["ec2:CreateVpc"].calls, 1);
    assert_eq!(stats.by_operation["eks:DescribeCluster"].calls, 1);
}

#[test]
fn proxy_faults_have_each_protocols_real_shape() {
    let moto = Moto::start();
    let proxy = FaultProxy::in_front_of(&moto, FaultConfig::seeded(3).probability(1.0));
    let url = proxy.url();
    moto.start_recording();

    for kind in [
        FaultKind::Throttle,
        FaultKind::InternalError,
        FaultKind::Unavailable,
    ] {
        proxy.update_config(|config| config.kinds = vec![kind]);
        for (service, request) in read_requests(&url) {
            let response = wire::send(proxy.addr(), &request, TIMEOUT).expect("a fault answer");
            let body = response.text();
            let context = format!("{service} {kind:?}: HTTP {} {body}", response.status);
            match service {
                "ec2" => {
                    let (status, code) = match kind {
                        FaultKind::Throttle => (503, "RequestLimitExceeded"),
                        FaultKind::InternalError => (500, "InternalError"),
                        _ => (503, "Unavailable"),
                    };
                    assert_eq!(response.status, status, "{context}");
                    assert_eq!(
                        leaf(&body, "Response/Errors/Error/Code").as_deref(),
                        Some(code),
                        "{context}"
                    );
                    assert!(
                        leaf(&body, "Response/Errors/Error/Message").is_some_and(|m| !m.is_empty())
                    );
                    assert!(leaf(&body, "Response/RequestID").is_some_and(|id| !id.is_empty()));
                }
                "iam" | "rds" => {
                    let (status, code, fault) = match kind {
                        FaultKind::Throttle => (400, "Throttling", "Sender"),
                        FaultKind::InternalError => (500, "InternalFailure", "Receiver"),
                        _ => (503, "ServiceUnavailable", "Receiver"),
                    };
                    assert_eq!(response.status, status, "{context}");
                    assert_eq!(
                        leaf(&body, "ErrorResponse/Error/Code").as_deref(),
                        Some(code),
                        "{context}"
                    );
                    assert_eq!(
                        leaf(&body, "ErrorResponse/Error/Type").as_deref(),
                        Some(fault),
                        "{context}"
                    );
                    assert!(
                        leaf(&body, "ErrorResponse/RequestId").is_some_and(|id| !id.is_empty())
                    );
                    assert!(response.header("x-amzn-requestid").is_some());
                }
                "ecr" | "secretsmanager" => {
                    let (status, code) = match kind {
                        FaultKind::Throttle => (400, "ThrottlingException"),
                        FaultKind::InternalError => (500, "InternalFailure"),
                        _ => (503, "ServiceUnavailable"),
                    };
                    assert_eq!(response.status, status, "{context}");
                    assert_eq!(
                        response.header("content-type"),
                        Some("application/x-amz-json-1.1")
                    );
                    let json = json_body(&response);
                    assert_eq!(json["__type"], code, "{context}");
                    assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
                }
                "eks" => {
                    let (status, code) = match kind {
                        FaultKind::Throttle => (429, "ThrottlingException"),
                        FaultKind::InternalError => (500, "InternalFailure"),
                        _ => (503, "ServiceUnavailable"),
                    };
                    assert_eq!(response.status, status, "{context}");
                    assert_eq!(response.header("x-amzn-errortype"), Some(code), "{context}");
                    assert!(json_body(&response)["message"].is_string());
                }
                other => unreachable!("{other}"),
            }
        }
    }

    // A dropped connection answers nothing at all.
    proxy.update_config(|config| config.kinds = vec![FaultKind::DropConnection]);
    for (service, request) in read_requests(&url) {
        let result = wire::send(proxy.addr(), &request, TIMEOUT);
        assert!(
            result.is_err(),
            "{service}: expected no answer, got {result:?}"
        );
    }
    // None of those calls reached moto.
    assert_eq!(moto.recording(), [], "faulted calls reached moto");

    // After forward: moto did the work, the client heard nothing.
    proxy.update_config(|config| config.kinds = vec![FaultKind::DropAfterForward]);
    let create = query_request(
        &url,
        "ec2",
        "2016-11-15",
        "CreateVpc",
        &[("CidrBlock", "10.70.0.0/16")],
    );
    assert!(wire::send(proxy.addr(), &create, TIMEOUT).is_err());
    assert_eq!(names(&moto.recording()), ["ec2:CreateVpc"]);
    let vpcs = moto.ec2(
        "DescribeVpcs",
        &[
            ("Filter.1.Name", "cidr"),
            ("Filter.1.Value.1", "10.70.0.0/16"),
        ],
    );
    assert_eq!(xml_texts(&vpcs, "vpcId").len(), 1, "{vpcs}");

    // moto's own API is never faulted.
    let download = Request::new(
        "GET",
        "/moto-api/recorder/download-recording",
        vec![("Host".into(), proxy.addr().to_string())],
        Vec::new(),
    );
    assert_eq!(
        wire::send(proxy.addr(), &download, TIMEOUT).unwrap().status,
        200
    );

    let stats = proxy.stats();
    assert_eq!(stats.total, 6 * 4 + 1);
    assert_eq!(stats.faulted, stats.total);
    assert_eq!(stats.by_fault[&FaultKind::Throttle], 6);
    assert_eq!(stats.by_fault[&FaultKind::DropConnection], 6);
}

/// Sends `count` calls through a fresh proxy with `config`, cycling over `requests`;
/// returns what the proxy decided and what the client saw for each.
fn run_sequence(
    moto: &Moto,
    config: FaultConfig,
    requests: &[(&str, Request)],
    count: usize,
) -> Vec<(String, Option<FaultKind>, Option<u16>)> {
    let proxy = FaultProxy::in_front_of(moto, config);
    let seen: Vec<Option<u16>> = (0..count)
        .map(|i| {
            let (_, request) = &requests[i % requests.len()];
            wire::send(proxy.addr(), request, TIMEOUT)
                .ok()
                .map(|r| r.status)
        })
        .collect();
    proxy
        .calls()
        .into_iter()
        .zip(seen)
        .map(|(call, status)| {
            (
                format!("{}:{}", call.service, call.operation),
                call.fault,
                status,
            )
        })
        .collect()
}

#[test]
fn proxy_faults_are_deterministic_per_seed() {
    let moto = Moto::start();
    let url = moto.endpoint_url();
    let requests = read_requests(&url);
    let config = |seed| FaultConfig::seeded(seed).probability(0.5);

    let first = run_sequence(&moto, config(42), &requests, 36);
    let again = run_sequence(&moto, config(42), &requests, 36);
    let other = run_sequence(&moto, config(43), &requests, 36);
    assert_eq!(first, again, "the same seed gave different faults");
    assert_ne!(first, other, "another seed gave the same faults");

    let faulted = first.iter().filter(|(_, fault, _)| fault.is_some()).count();
    assert!(
        (9..=27).contains(&faulted),
        "{faulted} of 36 faulted at p=0.5"
    );
    let mut kinds: Vec<FaultKind> = first.iter().filter_map(|(_, fault, _)| *fault).collect();
    kinds.sort();
    kinds.dedup();
    assert!(kinds.len() >= 3, "only {kinds:?} chosen");
    // What the client saw matches the decision: answers for forwarded calls, none when dropped.
    for (name, fault, status) in &first {
        match fault {
            None => assert!(status.is_some_and(|s| s < 500), "{name}: {status:?}"),
            Some(FaultKind::DropConnection) => assert_eq!(*status, None, "{name}"),
            Some(_) => assert!(status.is_some_and(|s| s >= 400), "{name}: {status:?}"),
        }
    }

    // Decisions belong to (operation, n-th call), so interleaving other calls, as a
    // concurrent run does, does not change which DescribeVpcs calls are faulted.
    let ec2_only = run_sequence(&moto, config(42), &requests[..1], 6);
    let ec2_in_mix: Vec<_> = first
        .iter()
        .filter(|(name, ..)| name == "ec2:DescribeVpcs")
        .cloned()
        .collect();
    assert_eq!(ec2_only, ec2_in_mix);

    // The cap on consecutive faults lets every third attempt through.
    let capped = run_sequence(
        &moto,
        FaultConfig::seeded(1)
            .probability(1.0)
            .max_consecutive_faults(2),
        &requests[..1],
        6,
    );
    let pattern: Vec<bool> = capped.iter().map(|(_, fault, _)| fault.is_some()).collect();
    assert_eq!(pattern, [true, true, false, true, true, false]);
}

#[test]
fn proxy_adds_latency() {
    let moto = Moto::start();
    let latency = Duration::from_millis(200);
    let jitter = Duration::from_millis(100);
    let proxy = FaultProxy::in_front_of(&moto, FaultConfig::seeded(5).latency(latency, jitter));
    let request = query_request(&proxy.url(), "ec2", "2016-11-15", "DescribeVpcs", &[]);
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(
            wire::send(proxy.addr(), &request, TIMEOUT).unwrap().status,
            200
        );
        assert!(
            started.elapsed() >= latency,
            "answered in {:?}",
            started.elapsed()
        );
    }
    let latencies: Vec<Duration> = proxy.calls().iter().map(|call| call.latency).collect();
    assert!(
        latencies
            .iter()
            .all(|l| (latency..=latency + jitter).contains(l)),
        "{latencies:?}"
    );
    assert!(
        latencies.windows(2).any(|w| w[0] != w[1]),
        "no jitter: {latencies:?}"
    );
}

macro_rules! sdk_client {
    ($sdk:ident, $url:expr) => {{
        use $sdk::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
        let config = $sdk::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(moto::REGION))
            .credentials_provider(Credentials::new(
                "testing", "testing", None, None, "harness",
            ))
            .endpoint_url($url)
            // The SDK's standard mode, with short back-offs to keep the test quick.
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(5)),
            )
            .build();
        $sdk::Client::from_conf(config)
    }};
}

#[test]
fn sdk_retries_injected_faults_like_real_aws_errors() {
    use aws_sdk_ec2::error::ProvideErrorMetadata;

    let moto = Moto::start();
    let proxy = FaultProxy::in_front_of(
        &moto,
        FaultConfig::seeded(9)
            .probability(1.0)
            .kinds(&[FaultKind::Throttle])
            .max_consecutive_faults(2),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let url = proxy.url();
    let ec2 = sdk_client!(aws_sdk_ec2, &url);
    let iam = sdk_client!(aws_sdk_iam, &url);
    let ecr = sdk_client!(aws_sdk_ecr, &url);
    let eks = sdk_client!(aws_sdk_eks, &url);
    let ops = [
        "ec2:DescribeVpcs",
        "iam:ListRoles",
        "ecr:DescribeRepositories",
        "eks:ListClusters",
    ];

    // Two throttles in a row per call: the third attempt gets through.
    runtime.block_on(async {
        ec2.describe_vpcs()
            .send()
            .await
            .expect("ec2 retried through throttling");
        iam.list_roles()
            .send()
            .await
            .expect("iam retried through throttling");
        ecr.describe_repositories()
            .send()
            .await
            .expect("ecr retried through throttling");
        eks.list_clusters()
            .send()
            .await
            .expect("eks retried through throttling");
    });
    let stats = proxy.stats();
    for op in ops {
        assert_eq!(stats.by_operation[op].calls, 3, "{op}: {stats:?}");
        assert_eq!(stats.by_operation[op].faulted, 2, "{op}: {stats:?}");
    }

    // Always throttled: the SDK gives up after its 3 attempts and reports the code.
    proxy.update_config(|config| config.max_consecutive_faults = None);
    proxy.reset_stats();
    let codes = runtime.block_on(async {
        [
            ec2.describe_vpcs()
                .send()
                .await
                .unwrap_err()
                .code()
                .map(str::to_owned),
            iam.list_roles()
                .send()
                .await
                .unwrap_err()
                .code()
                .map(str::to_owned),
            ecr.describe_repositories()
                .send()
                .await
                .unwrap_err()
                .code()
                .map(str::to_owned),
            eks.list_clusters()
                .send()
                .await
                .unwrap_err()
                .code()
                .map(str::to_owned),
        ]
    });
    assert_eq!(
        codes.map(Option::unwrap_or_default),
        [
            "RequestLimitExceeded",
            "Throttling",
            "ThrottlingException",
            "ThrottlingException"
        ]
    );
    let stats = proxy.stats();
    for op in ops {
        assert_eq!(stats.by_operation[op].calls, 3, "{op}: {stats:?}");
    }

    // 500s, 503s and dropped connections are transient too.
    for kind in [
        FaultKind::InternalError,
        FaultKind::Unavailable,
        FaultKind::DropConnection,
    ] {
        proxy.set_config(
            FaultConfig::seeded(9)
                .probability(1.0)
                .kinds(&[kind])
                .max_consecutive_faults(2),
        );
        proxy.reset_stats();
        runtime.block_on(async {
            ec2.describe_vpcs().send().await.unwrap_or_else(|err| {
                panic!(
                    "{kind:?} not retried: {}",
                    aws_sdk_ec2::error::DisplayErrorContext(err)
                )
            });
            eks.list_clusters().send().await.unwrap_or_else(|err| {
                panic!(
                    "{kind:?} not retried: {}",
                    aws_sdk_eks::error::DisplayErrorContext(err)
                )
            });
        });
        let stats = proxy.stats();
        assert_eq!(stats.total, 6, "{kind:?}: {stats:?}");
        assert_eq!(stats.faulted, 4, "{kind:?}: {stats:?}");
    }

    // A real error from moto passes through untouched and is not retried.
    proxy.set_config(FaultConfig::passthrough());
    proxy.reset_stats();
    let missing = runtime.block_on(async {
        ecr.describe_repositories()
            .repository_names("missing")
            .send()
            .await
            .unwrap_err()
    });
    assert_eq!(missing.code(), Some("RepositoryNotFoundException"));
    assert_eq!(proxy.stats().total, 1);
}

/// Not a test: measures what the proxy adds per call. Run with
/// `cargo test --test it harness::measure_proxy_overhead -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a test"]
#[allow(clippy::print_stderr)]
fn measure_proxy_overhead() {
    let moto = Moto::start();
    let proxy = FaultProxy::in_front_of(&moto, FaultConfig::passthrough());
    let request = query_request(
        &moto.endpoint_url(),
        "ec2",
        "2016-11-15",
        "DescribeAvailabilityZones",
        &[],
    );
    // Interleave direct and proxied calls so that both see the same load on the machine,
    // and compare medians.
    let (mut direct, mut proxied) = (Vec::new(), Vec::new());
    for round in 0..320 {
        for (addr, samples) in [(moto.addr(), &mut direct), (proxy.addr(), &mut proxied)] {
            let started = Instant::now();
            wire::send(addr, &request, TIMEOUT).unwrap();
            if round >= 20 {
                samples.push(started.elapsed());
            }
        }
    }
    let median = |samples: &mut Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let (direct, proxied) = (median(&mut direct), median(&mut proxied));
    eprintln!(
        "median per call: direct {direct:?}, through the proxy {proxied:?}, overhead {:?}",
        proxied.saturating_sub(direct)
    );
}

// --- the emulator refuses what EKS refuses ---------------------------------------------

/// A cluster `name` in a fresh VPC, with `authentication_mode` (`None`: EKS's default).
fn eks_cluster(moto: &Moto, name: &str, authentication_mode: Option<&str>) -> String {
    let vpc = moto.create_vpc("10.90.0.0/16", &[]);
    let subnets = [
        moto.create_subnet(&vpc, "10.90.0.0/20", "us-west-2a", &[]),
        moto.create_subnet(&vpc, "10.90.16.0/20", "us-west-2b", &[]),
    ];
    let role = moto.create_role(&format!("{name}-cluster"), &[]);
    let mut body = json!({
        "name": name,
        "roleArn": role,
        "resourcesVpcConfig": { "subnetIds": subnets },
    });
    if let Some(mode) = authentication_mode {
        body["accessConfig"] = json!({ "authenticationMode": mode });
    }
    let created = moto.rest_json("eks", "POST", "/clusters", Some(&body));
    created["cluster"]["name"].as_str().unwrap().to_owned()
}

/// Asserts an EKS answer is the error `code` with HTTP `status`, and its message says
/// `says`.
#[track_caller]
fn assert_eks_error(answer: &(u16, Value), status: u16, code: &str, says: &str) {
    let (got, body) = answer;
    assert_eq!(
        (*got, body["code"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{message:?} lacks {says:?}");
}

#[test]
fn the_emulator_refuses_eks_requests_as_eks_does() {
    let moto = Moto::start();
    let cluster = eks_cluster(&moto, "strict", None);
    let addons = format!("/clusters/{cluster}/addons");

    // A configuration that is neither JSON nor YAML, one that is not an object, and keys
    // the vpc-cni schema does not define.
    for (addon, configuration, says) in [
        ("kube-proxy", "{mode: [ipvs", "neither JSON nor YAML"),
        ("coredns", "[1, 2]", "must be an object"),
        (
            "vpc-cni",
            r#"{"envv": {"WARM_IP_TARGET": "2"}}"#,
            "$.envv: is not defined in the schema",
        ),
        (
            "vpc-cni",
            r#"{"env": {"AWS_VPC_K8S_CNI_CUSTOM_NETWORK": "true"}}"#,
            "$.env.AWS_VPC_K8S_CNI_CUSTOM_NETWORK: is not defined",
        ),
        (
            "vpc-cni",
            r#"{"env": {"WARM_IP_TARGET": 2}}"#,
            "string expected",
        ),
    ] {
        let answer = moto.eks_call(
            "POST",
            &addons,
            Some(&json!({ "addonName": addon, "configurationValues": configuration })),
        );
        assert_eks_error(&answer, 400, "InvalidParameterException", says);
        assert_eq!(moto.addon(&cluster, addon), None, "{addon} was created");
    }
    // The same configuration as YAML is fine.
    let answer = moto.eks_call(
        "POST",
        &addons,
        Some(&json!({
            "addonName": "vpc-cni",
            "configurationValues": "env:\n  AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG: \"true\"\n",
        })),
    );
    assert_eq!(answer.0, 200, "{}", answer.1);

    // Members botocore's model requires, enums, ranges and patterns, on calls the
    // extensions answer and on calls moto answers alike.
    assert_eks_error(
        &moto.eks_call(
            "POST",
            &addons,
            Some(&json!({ "addonVersion": "v1.0.0-eksbuild.1" })),
        ),
        400,
        "InvalidParameterException",
        "Missing required parameter in request: addonName",
    );
    assert_eks_error(
        &moto.eks_call(
            "POST",
            &addons,
            Some(&json!({ "addonName": "coredns", "resolveConflicts": "ALWAYS" })),
        ),
        400,
        "InvalidParameterException",
        "'ALWAYS' is not one of [OVERWRITE, NONE, PRESERVE]",
    );
    let role = moto.create_role("strict-node", &[]);
    assert_eks_error(
        &moto.eks_call(
            "POST",
            &format!("/clusters/{cluster}/node-groups"),
            Some(&json!({
                "nodegroupName": "node-1",
                "nodeRole": role,
                "subnets": ["subnet-1"],
                "scalingConfig": { "minSize": -1, "maxSize": 1, "desiredSize": 1 },
            })),
        ),
        400,
        "InvalidParameterException",
        "scalingConfig.minSize: value -1 is below the minimum 0",
    );
    assert_eks_error(
        &moto.eks_call(
            "POST",
            "/clusters",
            Some(&json!({
                "name": "-not-a-name",
                "roleArn": role,
                "resourcesVpcConfig": { "subnetIds": [] },
            })),
        ),
        400,
        "InvalidParameterException",
        "does not match the pattern",
    );

    // A cluster's subnets must exist, in two zones at least.
    let vpc = moto.create_vpc("10.91.0.0/16", &[]);
    let lonely = moto.create_subnet(&vpc, "10.91.0.0/20", "us-west-2a", &[]);
    for (subnets, says) in [
        (json!(["subnet-0123456789abcdef0"]), "does not exist"),
        (json!([lonely]), "at least two different AZs"),
    ] {
        let answer = moto.eks_call(
            "POST",
            "/clusters",
            Some(&json!({
                "name": "one-zone",
                "roleArn": role,
                "resourcesVpcConfig": { "subnetIds": subnets },
            })),
        );
        assert_eks_error(&answer, 400, "InvalidParameterException", says);
    }

    // What exists and what does not.
    assert_eks_error(
        &moto.eks_call("POST", &addons, Some(&json!({ "addonName": "vpc-cni" }))),
        409,
        "ResourceInUseException",
        "Addon already exists: vpc-cni",
    );
    assert_eks_error(
        &moto.eks_call(
            "POST",
            "/clusters/missing/addons",
            Some(&json!({ "addonName": "vpc-cni" })),
        ),
        404,
        "ResourceNotFoundException",
        "No cluster found for name: missing",
    );
    assert_eks_error(
        &moto.eks_call("GET", &format!("{addons}/coredns"), None),
        404,
        "ResourceNotFoundException",
        "No addon: coredns found in cluster: strict",
    );
    assert_eks_error(
        &moto.eks_call(
            "POST",
            &addons,
            Some(&json!({ "addonName": "not-an-addon" })),
        ),
        400,
        "InvalidParameterException",
        "Addon not-an-addon specified is not supported",
    );
    // Access entries need an authentication mode with the API.
    assert_eks_error(
        &moto.eks_call(
            "POST",
            &format!("/clusters/{cluster}/access-entries"),
            Some(&json!({ "principalArn": role })),
        ),
        400,
        "InvalidRequestException",
        "authentication mode must be set to one of [API, API_AND_CONFIG_MAP]",
    );

    // Kubernetes versions move up one minor version at a time.
    let version =
        moto.rest_json("eks", "GET", &format!("/clusters/{cluster}"), None)["cluster"]["version"]
            .as_str()
            .unwrap()
            .to_owned();
    let (major, minor) = version.split_once('.').unwrap();
    let minor: u32 = minor.parse().unwrap();
    let updates = format!("/clusters/{cluster}/updates");
    assert_eks_error(
        &moto.eks_call(
            "POST",
            &updates,
            Some(&json!({ "version": format!("{major}.{}", minor + 2) })),
        ),
        400,
        "InvalidParameterException",
        "Unsupported Kubernetes minor version update",
    );
    let next = format!("{major}.{}", minor + 1);
    let update = moto.rest_json("eks", "POST", &updates, Some(&json!({ "version": next })));
    assert_eq!(update["update"]["type"], "VersionUpdate");
    let id = update["update"]["id"].as_str().unwrap();
    assert_eq!(
        moto.rest_json("eks", "GET", &format!("{updates}/{id}"), None)["update"]["status"],
        "Successful"
    );
    assert_eq!(
        moto.rest_json("eks", "GET", &format!("/clusters/{cluster}"), None)["cluster"]["version"],
        next.as_str()
    );

    // The AWS SDK for Rust reads those answers as EKS errors, by code.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let url = moto.endpoint_url();
    let eks = sdk_client!(aws_sdk_eks, &url);
    let err = runtime
        .block_on(
            eks.create_addon()
                .cluster_name(&cluster)
                .addon_name("coredns")
                .configuration_values("{replicaCount: [")
                .send(),
        )
        .expect_err("a malformed configuration is refused");
    let err = err.into_service_error();
    assert!(err.is_invalid_parameter_exception(), "{err:?}");
}

#[test]
fn emulated_addons_go_through_the_status_sequence_of_eks() {
    // Each transitional status lasts one read.
    let moto = Moto::start_with(&[("EMULATOR_TRANSITION_READS", "1")]);
    let cluster = eks_cluster(&moto, "statuses", None);
    let addon = format!("/clusters/{cluster}/addons/vpc-cni");
    let status = |moto: &Moto| moto.addon(&cluster, "vpc-cni").map(|a| a["status"].clone());

    let created = moto.rest_json(
        "eks",
        "POST",
        &format!("/clusters/{cluster}/addons"),
        Some(&json!({ "addonName": "vpc-cni", "tags": { "team": "bpa" } })),
    );
    assert_eq!(created["addon"]["status"], "CREATING");
    assert_eq!(status(&moto), Some(json!("CREATING")));
    assert_eq!(status(&moto), Some(json!("ACTIVE")));
    let arn = created["addon"]["addonArn"].as_str().unwrap().to_owned();
    assert!(
        arn.starts_with(&format!(
            "arn:aws:eks:us-west-2:{}:addon/statuses/vpc-cni/",
            moto::ACCOUNT_ID
        )),
        "{arn}"
    );

    let update = moto.rest_json(
        "eks",
        "POST",
        &format!("{addon}/update"),
        Some(&json!({ "configurationValues": r#"{"env":{"WARM_IP_TARGET":"2"}}"# })),
    );
    assert_eq!(update["update"]["status"], "InProgress");
    assert_eq!(update["update"]["type"], "AddonUpdate");
    let id = update["update"]["id"].as_str().unwrap().to_owned();
    // A second update while the first runs is refused.
    assert_eks_error(
        &moto.eks_call("POST", &format!("{addon}/update"), Some(&json!({}))),
        409,
        "ResourceInUseException",
        "UPDATING",
    );
    assert_eq!(status(&moto), Some(json!("ACTIVE")));
    let describe = format!("/clusters/{cluster}/updates/{id}?addonName=vpc-cni");
    assert_eq!(
        moto.rest_json("eks", "GET", &describe, None)["update"]["status"],
        "InProgress"
    );
    assert_eq!(
        moto.rest_json("eks", "GET", &describe, None)["update"]["status"],
        "Successful"
    );
    let configuration = &moto.addon(&cluster, "vpc-cni").unwrap()["configurationValues"];
    assert_eq!(configuration, r#"{"env":{"WARM_IP_TARGET":"2"}}"#);

    // Tags on the addon's ARN.
    let tags_path = format!("/tags/{}", moto::form_encode(&arn));
    moto.rest_json(
        "eks",
        "POST",
        &tags_path,
        Some(&json!({ "tags": { "tier": "1" } })),
    );
    assert_eq!(
        moto.rest_json("eks", "GET", &tags_path, None)["tags"],
        json!({ "team": "bpa", "tier": "1" })
    );

    let deleted = moto.rest_json("eks", "DELETE", &addon, None);
    assert_eq!(deleted["addon"]["status"], "DELETING");
    assert_eq!(status(&moto), Some(json!("DELETING")));
    assert_eq!(status(&moto), None, "gone after DELETING");
    assert_eq!(moto.addons(), Vec::<String>::new());
}

#[test]
fn emulated_access_entries_and_pod_identity_associations_behave_as_in_eks() {
    let moto = Moto::start();
    let cluster = eks_cluster(&moto, "access", Some("API"));
    let entries = format!("/clusters/{cluster}/access-entries");
    let described = moto.rest_json("eks", "GET", &format!("/clusters/{cluster}"), None);
    assert_eq!(
        described["cluster"]["accessConfig"]["authenticationMode"],
        "API"
    );
    assert!(
        described["cluster"]["resourcesVpcConfig"]["clusterSecurityGroupId"]
            .as_str()
            .is_some_and(|id| id.starts_with("sg-")),
        "{described}"
    );
    // The cluster's creator is given an entry, as EKS does by default.
    let listed = moto.rest_json("eks", "GET", &entries, None);
    assert_eq!(
        listed["accessEntries"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );

    let ci = moto.create_role("ci-deployer", &[]);
    let entry_path = format!("{entries}/{}", moto::form_encode(&ci));
    let created = moto.rest_json(
        "eks",
        "POST",
        &entries,
        Some(&json!({ "principalArn": ci, "tags": { "team": "bpa" } })),
    );
    assert_eq!(created["accessEntry"]["type"], "STANDARD");
    assert_eq!(
        created["accessEntry"]["username"],
        format!(
            "arn:aws:sts::{}:assumed-role/ci-deployer/{{{{SessionName}}}}",
            moto::ACCOUNT_ID
        )
    );
    assert_eks_error(
        &moto.eks_call("POST", &entries, Some(&json!({ "principalArn": ci }))),
        409,
        "ResourceInUseException",
        "already in use",
    );
    assert_eks_error(
        &moto.eks_call(
            "POST",
            &entries,
            Some(&json!({ "principalArn": "arn:aws:iam::123456789012:group/devs" })),
        ),
        400,
        "InvalidParameterException",
        "principalArn is invalid",
    );
    assert_eks_error(
        &moto.eks_call(
            "POST",
            &entries,
            Some(&json!({ "principalArn": moto.create_role("x", &[]), "kubernetesGroups": ["system:masters"] })),
        ),
        400,
        "InvalidParameterException",
        "cannot start with 'system:'",
    );

    let policies = format!("{entry_path}/access-policies");
    let view = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
    assert_eks_error(
        &moto.eks_call(
            "POST",
            &policies,
            Some(&json!({ "policyArn": view, "accessScope": { "type": "namespace" } })),
        ),
        400,
        "InvalidParameterException",
        "at least one namespace",
    );
    assert_eks_error(
        &moto.eks_call(
            "POST",
            &policies,
            Some(&json!({ "policyArn": view, "accessScope": { "type": "everything" } })),
        ),
        400,
        "InvalidParameterException",
        "'everything' is not one of [cluster, namespace]",
    );
    assert_eks_error(
        &moto.eks_call(
            "POST",
            &policies,
            Some(&json!({
                "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSRootPolicy",
                "accessScope": { "type": "cluster" },
            })),
        ),
        404,
        "ResourceNotFoundException",
        "policyArn could not be found",
    );
    let associated = moto.rest_json(
        "eks",
        "POST",
        &policies,
        Some(&json!({ "policyArn": view, "accessScope": { "type": "namespace", "namespaces": ["bpa"] } })),
    );
    assert_eq!(
        associated["associatedAccessPolicy"]["accessScope"],
        json!({ "type": "namespace", "namespaces": ["bpa"] })
    );
    let listed = moto.rest_json("eks", "GET", &policies, None);
    assert_eq!(listed["associatedAccessPolicies"][0]["policyArn"], view);
    let filtered = moto.rest_json(
        "eks",
        "GET",
        &format!("{entries}?associatedPolicyArn={}", moto::form_encode(view)),
        None,
    );
    assert_eq!(filtered["accessEntries"], json!([ci]));
    let policy_path = format!("{policies}/{}", moto::form_encode(view));
    moto.rest_json("eks", "DELETE", &policy_path, None);
    assert_eks_error(
        &moto.eks_call("DELETE", &policy_path, None),
        404,
        "ResourceNotFoundException",
        "not associated",
    );
    moto.rest_json("eks", "DELETE", &entry_path, None);
    assert_eks_error(
        &moto.eks_call("GET", &entry_path, None),
        404,
        "ResourceNotFoundException",
        "principalArn could not be found",
    );

    // Pod Identity: the role must exist, one association per service account.
    let associations = format!("/clusters/{cluster}/pod-identity-associations");
    let lbc = moto.create_role("lbc", &[]);
    let missing_role = format!("arn:aws:iam::{}:role/nope", moto::ACCOUNT_ID);
    assert_eks_error(
        &moto.eks_call(
            "POST",
            &associations,
            Some(&json!({ "namespace": "kube-system", "serviceAccount": "aws-load-balancer-controller", "roleArn": missing_role })),
        ),
        400,
        "InvalidParameterException",
        "does not exist",
    );
    assert_eks_error(
        &moto.eks_call(
            "POST",
            &associations,
            Some(&json!({ "namespace": "kube-system", "roleArn": lbc })),
        ),
        400,
        "InvalidParameterException",
        "Missing required parameter in request: serviceAccount",
    );
    let made = moto.rest_json(
        "eks",
        "POST",
        &associations,
        Some(&json!({ "namespace": "kube-system", "serviceAccount": "aws-load-balancer-controller", "roleArn": lbc })),
    );
    let id = made["association"]["associationId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(id.starts_with("a-") && id.len() == 19, "{id}");
    assert_eks_error(
        &moto.eks_call(
            "POST",
            &associations,
            Some(&json!({ "namespace": "kube-system", "serviceAccount": "aws-load-balancer-controller", "roleArn": lbc })),
        ),
        409,
        "ResourceInUseException",
        "Association already exists",
    );
    let other = moto.create_role("lbc-2", &[]);
    let updated = moto.rest_json(
        "eks",
        "POST",
        &format!("{associations}/{id}"),
        Some(&json!({ "roleArn": other })),
    );
    assert_eq!(updated["association"]["roleArn"], other.as_str());

    // An addon's own association: only for the service account the addon uses, changed
    // only through the addon, removed with it.
    let ebs = moto.create_role("ebs-csi", &[]);
    let addons = format!("/clusters/{cluster}/addons");
    assert_eks_error(
        &moto.eks_call(
            "POST",
            &addons,
            Some(&json!({ "addonName": "aws-ebs-csi-driver", "podIdentityAssociations": [{ "serviceAccount": "default", "roleArn": ebs }] })),
        ),
        400,
        "InvalidParameterException",
        "it uses ebs-csi-controller-sa",
    );
    assert_eks_error(
        &moto.eks_call(
            "POST",
            &addons,
            Some(&json!({ "addonName": "coredns", "podIdentityAssociations": [{ "serviceAccount": "coredns", "roleArn": ebs }] })),
        ),
        400,
        "InvalidParameterException",
        "does not support Pod Identity",
    );
    let addon = moto.rest_json(
        "eks",
        "POST",
        &addons,
        Some(&json!({ "addonName": "aws-ebs-csi-driver", "podIdentityAssociations": [{ "serviceAccount": "ebs-csi-controller-sa", "roleArn": ebs }] })),
    );
    assert_eq!(
        addon["addon"]["podIdentityAssociations"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let listed = moto.rest_json(
        "eks",
        "GET",
        &format!("{associations}?serviceAccount=ebs-csi-controller-sa"),
        None,
    );
    let owned = &listed["associations"][0];
    assert_eq!(owned["ownerArn"], addon["addon"]["addonArn"]);
    let owned_id = owned["associationId"].as_str().unwrap();
    assert_eks_error(
        &moto.eks_call("DELETE", &format!("{associations}/{owned_id}"), None),
        400,
        "InvalidRequestException",
        "delete it through its owner",
    );
    moto.rest_json(
        "eks",
        "DELETE",
        &format!("{addons}/aws-ebs-csi-driver"),
        None,
    );
    let listed = moto.rest_json("eks", "GET", &associations, None);
    assert_eq!(
        listed["associations"].as_array().map(Vec::len),
        Some(1),
        "only the controller's association is left: {listed}"
    );

    // The cluster goes, and everything EKS keeps for it with it.
    moto.rest_json("eks", "DELETE", &format!("/clusters/{cluster}"), None);
    assert_eks_error(
        &moto.eks_call("GET", &associations, None),
        404,
        "ResourceNotFoundException",
        "No cluster found",
    );
}
