//! The MongoDB Atlas private endpoint against moto (the AWS side) and the fake Atlas
//! Admin API of the test support code (`support::atlas`), which checks every request
//! against operations vendored from MongoDB's OpenAPI spec (versions, media types,
//! parameters, bodies), answers with the spec's statuses and error shapes, and walks
//! the spec's status sequences, the endpoint's following the AWS endpoint in moto.
//!
//! `up --only atlas` creates the VPC and node subnets it needs, the Atlas security
//! group, the endpoint service, the VPC endpoint and its registration; a second `up`
//! writes nothing on either side; `down --only atlas` removes both sides in reverse.
//! Every run that holds credentials runs at `-vvv`, and none of the credentials (nor the
//! access tokens the fake issued) may show in its output.

// `outputs` reads the whole profile, EKS addons included, which moto lacks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::atlas::{self, FakeAtlas, PROJECT_ID};
use crate::support::moto::{Moto, RecordedCall, xml_text, xml_texts};
use crate::support::write_profile;

const SERVICE_NAME: &str = "com.amazonaws.vpce.us-west-2.vpce-svc-0123456789abcdef0";

/// A profile with a VPC of its own; `atlas` is its `atlas:` section.
fn profile(dir: &Path, atlas: &str) -> PathBuf {
    let text = format!(
        r#"apiVersion: bpa-infra/v1
name: atl
region: us-west-2
tags: {{ team: bpa }}
network:
  vpc: {{ cidr: 10.50.0.0/16 }}
  availability_zones: [us-west-2a, us-west-2b, us-west-2c]
eks:
  version: "1.35"
  node_groups:
    - {{ name: node-1, instance_type: m5.xlarge, data_volume: {{ size_gib: 100 }} }}
rds:
  engine_version: "16.4"
  instance_class: db.m5d.large
  storage: {{ type: gp3, size_gib: 100 }}
  deletion_protection: false
ecr:
  repositories: [bpa/ui]
atlas:
{atlas}
"#
    );
    write_profile(dir, "atl.yaml", &text)
}

fn project_profile(dir: &Path) -> PathBuf {
    profile(dir, &format!("  project_id: {PROJECT_ID}"))
}

fn manual_profile(dir: &Path) -> PathBuf {
    profile(dir, &format!("  endpoint_service_name: {SERVICE_NAME}"))
}

/// Runs `bpa-infra -p PROFILE ARGS...` against moto with `env` added and returns
/// (stdout, stderr), failing with both when the exit code is not `code`.
fn run(
    moto: &Moto,
    env: &[(&'static str, String)],
    profile: &Path,
    args: &[&str],
    code: i32,
) -> (String, String) {
    run_via(moto, &moto.endpoint_url(), env, profile, args, code)
}

/// [`run`] with the AWS endpoint at `endpoint_url`.
fn run_via(
    moto: &Moto,
    endpoint_url: &str,
    env: &[(&'static str, String)],
    profile: &Path,
    args: &[&str],
    code: i32,
) -> (String, String) {
    let output = moto
        .bpa_infra_via(endpoint_url)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .arg("-p")
        .arg(profile)
        .arg("--no-color")
        .args(args)
        .output()
        .expect("run bpa-infra");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "bpa-infra {args:?} exited {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status.code()
    );
    (stdout, stderr)
}

/// Fails if any credential value or issued token shows in `outputs`.
fn assert_no_secrets(fake: &FakeAtlas, outputs: &[&str]) {
    for secret in fake.secrets() {
        for output in outputs {
            assert!(
                !output.contains(&secret),
                "a credential value ({}…) appears in the output:\n{output}",
                &secret[..4]
            );
        }
    }
}

/// The VPC endpoints moto has (deleted ones included), as (id, state).
fn vpc_endpoints(moto: &Moto) -> Vec<(String, String)> {
    let xml = moto.ec2("DescribeVpcEndpoints", &[]);
    xml_texts(&xml, "vpcEndpointId")
        .into_iter()
        .zip(xml_texts(&xml, "state"))
        .collect()
}

/// The mutating AWS calls the binary made since recording started.
fn aws_writes(moto: &Moto) -> Vec<String> {
    moto.mutating_calls()
        .iter()
        .filter(|c| !c.by_harness)
        .map(RecordedCall::name)
        .collect()
}

/// The addresses of the `finished` events in a `--output json` run's stderr, in order.
fn finished(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["event"] == "finished")
        .filter_map(|event| event["address"].as_str().map(str::to_owned))
        .collect()
}

/// Fails if the fake answered anything its spec does not document.
fn assert_on_spec(fake: &FakeAtlas) {
    assert_eq!(fake.spec_violations(), Vec::<String>::new());
}

/// Starts moto and a fake Atlas that reads the VPC endpoints' states from it.
fn start() -> (Moto, FakeAtlas) {
    let moto = Moto::start();
    let fake = FakeAtlas::start();
    fake.watch_aws(&moto);
    (moto, fake)
}

fn position(list: &[String], item: &str) -> usize {
    list.iter()
        .position(|i| i == item)
        .unwrap_or_else(|| panic!("{item} is not in {list:?}"))
}

#[test]
fn up_registers_the_endpoint_then_writes_nothing_and_down_removes_both_sides() {
    let (moto, fake) = start();
    let env = fake.service_account_env();
    let dir = tempfile::tempdir().unwrap();
    let profile = project_profile(dir.path());

    let (out, err) = run(
        &moto,
        &env,
        &profile,
        &["up", "--yes", "--only", "atlas", "-vvv"],
        0,
    );
    assert!(out.contains("Done"), "{out}");
    assert!(
        !out.contains("Next step"),
        "Atlas registration is done by the tool: {out}"
    );

    // Atlas: one endpoint service in the profile's region, our endpoint registered.
    let services = fake.services();
    assert_eq!(services.len(), 1, "{services:?}");
    let (service_id, region, registered) = &services[0];
    assert_eq!(region, "US_WEST_2");
    assert_eq!(registered.len(), 1);
    let vpce = &registered[0];
    let base = format!("/api/atlas/v2/groups/{PROJECT_ID}/privateEndpoint");
    assert_eq!(
        fake.writes(),
        [
            format!("POST {base}/endpointService"),
            format!("POST {base}/AWS/endpointService/{service_id}/endpoint"),
        ]
    );
    // Every API call was an operation of the spec, authenticated with the one bearer
    // token, with the operation's media type (the fake answers 401, 406, 410 or 415
    // otherwise); the one 404 is the look for an earlier registration before
    // registering, with the endpoint's own not-found code.
    let calls = fake.calls();
    let api: Vec<_> = calls
        .iter()
        .filter(|c| c.path.starts_with("/api/atlas/v2"))
        .collect();
    assert!(
        api.iter().all(|c| c.operation.is_some()
            && c.auth == atlas::Auth::Bearer
            && ![400, 401, 406, 410, 415].contains(&c.status)),
        "{calls:#?}"
    );
    let not_found: Vec<_> = api.iter().filter(|c| c.status == 404).collect();
    assert_eq!(not_found.len(), 1, "{not_found:#?}");
    assert_eq!(
        not_found[0].error_code.as_deref(),
        Some("PRIVATE_ENDPOINT_NOT_FOUND")
    );
    // The endpoint went PENDING_ACCEPTANCE, then (AWS available in moto) AVAILABLE.
    let states: Vec<&str> = api
        .iter()
        .filter(|c| c.operation.as_deref() == Some("getPrivateEndpoint"))
        .filter_map(|c| c.state.as_deref())
        .collect();
    assert_eq!(states.first(), Some(&"PENDING_ACCEPTANCE"), "{states:?}");
    assert_eq!(states.last(), Some(&"AVAILABLE"), "{states:?}");
    assert_eq!(fake.tokens_issued(), 1);

    // AWS: the interface endpoint to the service Atlas made, tagged, in three subnets.
    let xml = moto.ec2("DescribeVpcEndpoints", &[("VpcEndpointId.1", vpce)]);
    let service_name = xml_text(&xml, "serviceName").unwrap();
    assert!(
        service_name.starts_with("com.amazonaws.vpce.us-west-2.vpce-svc-"),
        "{xml}"
    );
    assert_eq!(
        xml_text(&xml, "vpcEndpointType").as_deref(),
        Some("Interface")
    );
    assert_eq!(xml.matches("<item>subnet-").count(), 3, "{xml}");
    assert!(xml.contains("<groupName>atl-atlas</groupName>"), "{xml}");
    assert!(xml.contains("<key>bpa-infra:profile</key>") && xml.contains("<value>atl</value>"));
    assert!(xml.contains("<value>atlas.vpc_endpoint</value>"), "{xml}");
    assert_no_secrets(&fake, &[&out, &err]);
    // Atlas reports the service AVAILABLE once its endpoint is, and that is converged.
    assert_eq!(
        fake.service_statuses(),
        [(service_id.clone(), "AVAILABLE".to_owned())]
    );

    // A second run changes nothing, on either side.
    moto.start_recording();
    let atlas_writes = fake.writes().len();
    let (out, err) = run(
        &moto,
        &env,
        &profile,
        &["up", "--yes", "--only", "atlas", "-vvv"],
        0,
    );
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(aws_writes(&moto), Vec::<String>::new());
    assert_eq!(fake.writes().len(), atlas_writes, "{:?}", fake.writes());
    assert_no_secrets(&fake, &[&out, &err]);

    // What `outputs` shows of both sides, the private connection string included.
    let (out, _) = run_via(
        &moto,
        &moto.endpoint_url(),
        &env,
        &profile,
        &["outputs", "--output", "json"],
        0,
    );
    let outputs: Value = serde_json::from_str(&out).unwrap();
    let outputs = &outputs["outputs"];
    assert_eq!(outputs["atlas_vpc_endpoint_id"], vpce.as_str());
    assert_eq!(outputs["atlas_endpoint_service_id"], service_id.as_str());
    assert_eq!(
        outputs["atlas_endpoint_service_name"],
        service_name.as_str()
    );
    assert_eq!(outputs["atlas_connection_status"], "AVAILABLE");
    assert_eq!(
        outputs["atlas_private_connection_string"],
        "mongodb+srv://bpa-pl-0.abcde.mongodb.net"
    );
    assert!(
        outputs["atlas_vpc_endpoint_dns_name"]
            .as_str()
            .is_some_and(|d| d.starts_with(vpce.as_str())),
        "{outputs}"
    );
    assert_eq!(fake.writes().len(), atlas_writes);
    // The connection string came through listClusters' current version.
    let clusters: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.operation.as_deref() == Some("listClusters"))
        .collect();
    assert!(!clusters.is_empty());
    assert!(
        clusters.iter().all(|c| c.status == 200
            && c.accept.as_deref() == Some("application/vnd.atlas.2024-08-05+json")),
        "{clusters:#?}"
    );

    // Down removes the registration and the VPC endpoint; Atlas removes the endpoint
    // service with its last endpoint (the spec, deletePrivateEndpoint), so `down` only
    // waits for it to go: DELETING, then not found.
    let before_down = fake.calls().len();
    let (out, err) = run(
        &moto,
        &env,
        &profile,
        &[
            "down", "--yes", "--only", "atlas", "--output", "json", "-vvv",
        ],
        0,
    );
    assert_eq!(
        fake.writes()[atlas_writes..],
        [format!(
            "DELETE {base}/AWS/endpointService/{service_id}/endpoint/{vpce}"
        )]
    );
    assert_eq!(fake.services(), vec![]);
    let service_reads: Vec<(Option<String>, Option<String>)> = fake.calls()[before_down..]
        .iter()
        .filter(|c| c.operation.as_deref() == Some("getPrivateEndpointService"))
        .map(|c| (c.state.clone(), c.error_code.clone()))
        .collect();
    assert!(
        service_reads.contains(&(Some("DELETING".into()), None)),
        "{service_reads:?}"
    );
    assert_eq!(
        service_reads.last(),
        Some(&(None, Some("PRIVATE_ENDPOINT_SERVICE_NOT_FOUND".into()))),
        "{service_reads:?}"
    );
    assert_on_spec(&fake);
    assert!(
        vpc_endpoints(&moto)
            .iter()
            .all(|(_, state)| state == "deleted"),
        "{:?}",
        vpc_endpoints(&moto)
    );
    let order = finished(&err);
    assert!(position(&order, "atlas.endpoint") < position(&order, "atlas.vpc_endpoint"));
    assert!(position(&order, "atlas.vpc_endpoint") < position(&order, "atlas.endpoint_service"));
    assert!(position(&order, "atlas.vpc_endpoint") < position(&order, "atlas.security_group"));
    assert_no_secrets(&fake, &[&out, &err]);
}

/// Runs `up --only atlas` against a fake that ends the endpoint's sequence at `status`
/// (told by `set_up`) with `env`'s credentials, and checks the run fails with one error
/// line naming the status, the project, the endpoint service and the endpoint ids, and
/// Atlas's message.
fn up_fails_naming_every_id(
    status: &str,
    message: &str,
    set_up: impl Fn(&FakeAtlas),
    env: impl Fn(&FakeAtlas) -> Vec<(&'static str, String)>,
) -> FakeAtlas {
    let (moto, fake) = start();
    set_up(&fake);
    let env = env(&fake);
    let dir = tempfile::tempdir().unwrap();
    let profile = project_profile(dir.path());

    let (out, err) = run(
        &moto,
        &env,
        &profile,
        &["up", "--yes", "--only", "atlas", "-vvv"],
        1,
    );
    let services = fake.services();
    let (service_id, _, registered) = &services[0];
    let vpce = &registered[0];
    let failure = err
        .lines()
        .chain(out.lines())
        .find(|line| line.contains(status) && line.contains("atlas.endpoint"))
        .unwrap_or_else(|| panic!("no {status} error:\n{out}\n{err}"));
    for id in [PROJECT_ID, service_id.as_str(), vpce.as_str()] {
        assert!(failure.contains(id), "{id} is not named in: {failure}");
    }
    assert!(failure.contains(message), "{failure}");
    assert_no_secrets(&fake, &[&out, &err]);
    assert_on_spec(&fake);
    fake
}

#[test]
fn a_rejected_endpoint_ends_with_an_error_naming_every_id() {
    // The legacy API key this time: HTTP Digest.
    let fake = up_fails_naming_every_id(
        "REJECTED",
        "The VPC endpoint connection was rejected.",
        FakeAtlas::reject_new_endpoints,
        FakeAtlas::api_key_env,
    );
    let calls = fake.calls();
    assert!(calls.iter().any(|c| c.auth == atlas::Auth::Digest));
    assert!(calls.iter().all(|c| c.auth != atlas::Auth::Bearer));
    assert_eq!(fake.tokens_issued(), 0);
}

#[test]
fn a_failed_endpoint_service_ends_with_an_error_naming_it_and_atlas_message() {
    let (moto, fake) = start();
    fake.fail_new_services();
    let env = fake.service_account_env();
    let dir = tempfile::tempdir().unwrap();
    let profile = project_profile(dir.path());

    let (out, err) = run(
        &moto,
        &env,
        &profile,
        &["up", "--yes", "--only", "atlas"],
        1,
    );
    let services = fake.services();
    let service_id = &services[0].0;
    let failure = err
        .lines()
        .chain(out.lines())
        .find(|line| line.contains("atlas.endpoint_service") && line.contains(service_id.as_str()))
        .unwrap_or_else(|| panic!("no endpoint service error:\n{out}\n{err}"));
    for text in [
        PROJECT_ID,
        "US_WEST_2",
        "Atlas could not create the endpoint service.",
    ] {
        assert!(failure.contains(text), "{text} is not in: {failure}");
    }
    // Nothing was registered with a service that failed.
    assert!(services[0].2.is_empty());
    assert!(!fake.writes().iter().any(|w| w.ends_with("/endpoint")));
    assert_on_spec(&fake);
}

#[test]
fn up_with_an_api_key_answers_digest_challenges_and_stale_nonces() {
    let (moto, fake) = start();
    let env = fake.api_key_env();
    let dir = tempfile::tempdir().unwrap();
    let profile = project_profile(dir.path());

    let (out, err) = run(
        &moto,
        &env,
        &profile,
        &["up", "--yes", "--only", "atlas", "-vvv"],
        0,
    );
    assert!(out.contains("Done"), "{out}");
    assert_eq!(fake.services()[0].2.len(), 1, "the endpoint is registered");
    let calls: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.path.starts_with("/api/atlas/v2"))
        .collect();
    assert_eq!(fake.tokens_issued(), 0);
    assert!(calls.iter().all(|c| c.auth != atlas::Auth::Bearer));
    // The first call is challenged; later a nonce goes stale and is answered anew: more
    // than one 401, each followed by a Digest success of the same call.
    let challenged: Vec<usize> = (0..calls.len())
        .filter(|&i| calls[i].status == 401)
        .collect();
    assert!(challenged.len() >= 2, "no stale nonce was met: {calls:#?}");
    for &i in &challenged {
        let next = calls[i + 1..]
            .iter()
            .find(|c| c.name() == calls[i].name())
            .expect("the challenged call was sent again");
        assert_eq!(next.auth, atlas::Auth::Digest, "{next:?}");
    }
    assert_no_secrets(&fake, &[&out, &err]);
    assert_on_spec(&fake);
}

#[test]
fn outputs_warn_naming_the_call_when_atlas_retired_the_clusters_version() {
    let (moto, fake) = start();
    let env = fake.service_account_env();
    let dir = tempfile::tempdir().unwrap();
    let profile = project_profile(dir.path());
    run(
        &moto,
        &env,
        &profile,
        &["up", "--yes", "--only", "atlas"],
        0,
    );

    // The day Atlas stops serving the version the client sends for listClusters.
    fake.retire("listClusters", "2024-08-05");
    let eks = eks_stand_in::EksStandIn::in_front_of(&moto);
    let (out, err) = run_via(
        &moto,
        &eks.url(),
        &env,
        &profile,
        &["outputs", "--output", "json"],
        0,
    );
    let outputs: Value = serde_json::from_str(&out).unwrap();
    assert!(
        outputs["outputs"]["atlas_private_connection_string"].is_null(),
        "{out}"
    );
    assert_eq!(outputs["outputs"]["atlas_connection_status"], "AVAILABLE");
    // Not a silent empty output: a warning naming the call, the status and the code.
    let warning = err
        .lines()
        .find(|l| l.contains("private connection strings could not be read"))
        .unwrap_or_else(|| panic!("no warning:\n{err}"));
    for text in [
        format!("GET /api/atlas/v2/groups/{PROJECT_ID}/clusters"),
        "410".to_owned(),
        "VERSION_GONE".to_owned(),
    ] {
        assert!(warning.contains(&text), "{text} is not in: {warning}");
    }
    let gone = fake
        .calls()
        .into_iter()
        .filter(|c| c.operation.as_deref() == Some("listClusters"))
        .next_back()
        .unwrap();
    assert_eq!(
        (gone.status, gone.error_code.as_deref()),
        (410, Some("VERSION_GONE"))
    );
    assert_on_spec(&fake);
}

#[test]
fn a_wrong_project_id_fails_naming_it() {
    let (moto, fake) = start();
    let env = fake.service_account_env();
    let dir = tempfile::tempdir().unwrap();
    let wrong = "0123456789abcdef0123abcd";
    let profile = profile(dir.path(), &format!("  project_id: {wrong}"));

    let (out, err) = run(&moto, &env, &profile, &["plan", "--only", "atlas"], 1);
    let text = format!("{out}\n{err}");
    assert!(
        text.contains(&format!("Atlas has no project {wrong}")),
        "{text}"
    );
    assert!(text.contains("GROUP_NOT_FOUND"), "{text}");
    assert!(text.contains("atlas.project_id"), "{text}");
    // Not taken for "nothing there yet": nothing is planned to be created.
    assert!(!out.contains("create"), "{out}");
    assert_on_spec(&fake);
}

#[test]
fn rate_limited_and_unavailable_atlas_calls_wait_for_retry_after() {
    let (moto, fake) = start();
    // The client's own first wait after a 429 or 503 without Retry-After is 2 s (then
    // 4 s): a Retry-After of 3 s is only waited out if the client honours it. One call
    // is throttled, its retry finds Atlas unavailable, the next retry succeeds.
    const RETRY_AFTER: u64 = 3;
    fake.throttle_next(1, RETRY_AFTER);
    fake.unavailable_next(1, RETRY_AFTER);
    let dir = tempfile::tempdir().unwrap();
    let profile = project_profile(dir.path());
    let env = fake.service_account_env();

    let (out, err) = run(
        &moto,
        &env,
        &profile,
        &["up", "--yes", "--only", "atlas", "-vvv"],
        0,
    );
    let calls: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.path.starts_with("/api/atlas/v2"))
        .collect();
    let refused: Vec<usize> = (0..calls.len())
        .filter(|&i| [429, 503].contains(&calls[i].status))
        .collect();
    assert_eq!(refused.len(), 2, "{calls:#?}");
    assert_eq!(calls[refused[0]].status, 429);
    assert_eq!(
        calls[refused[0]].error_code.as_deref(),
        Some("RATE_LIMITED")
    );
    assert_eq!(calls[refused[1]].status, 503);
    assert_eq!(
        calls[refused[1]].error_code.as_deref(),
        Some("SERVICE_UNAVAILABLE")
    );
    for &i in &refused {
        let retry = calls[i + 1..]
            .iter()
            .find(|c| c.name() == calls[i].name())
            .expect("the refused call was tried again");
        let waited = retry.at - calls[i].at;
        assert!(
            waited >= Duration::from_secs(RETRY_AFTER),
            "{} retried after {waited:?}, not the {RETRY_AFTER} s Retry-After asked",
            calls[i].status
        );
    }
    let last = calls[refused[1] + 1..]
        .iter()
        .find(|c| c.name() == calls[refused[1]].name())
        .unwrap();
    assert!(last.status < 400, "{last:?}");
    assert_eq!(fake.services()[0].2.len(), 1, "the flow completed");
    // The throttled run, at the highest verbosity, shows no credential or token.
    assert!(!err.is_empty(), "the run logged at -vvv");
    assert_no_secrets(&fake, &[&out, &err]);
    assert_on_spec(&fake);
}

#[test]
fn without_the_atlas_api_up_creates_the_aws_side_and_prints_the_next_step() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let profile = manual_profile(dir.path());

    let (out, _) = run(&moto, &[], &profile, &["up", "--yes", "--only", "atlas"], 0);
    let endpoints = vpc_endpoints(&moto);
    assert_eq!(endpoints.len(), 1, "{endpoints:?}");
    let vpce = &endpoints[0].0;
    let xml = moto.ec2("DescribeVpcEndpoints", &[("VpcEndpointId.1", vpce)]);
    assert_eq!(xml_text(&xml, "serviceName").as_deref(), Some(SERVICE_NAME));
    let step = out
        .lines()
        .find(|l| l.starts_with("Next step:"))
        .unwrap_or_else(|| panic!("no next step printed:\n{out}"));
    assert!(step.contains(vpce.as_str()), "{step}");
    assert!(step.contains("Your VPC Endpoint ID"), "{step}");
    assert!(step.contains(SERVICE_NAME), "{step}");

    // moto's endpoint is `available` at once, which on AWS means Atlas accepted it:
    // nothing is left to do, so a second run says nothing more.
    let (out, _) = run(&moto, &[], &profile, &["up", "--yes", "--only", "atlas"], 0);
    assert!(out.contains("No changes"), "{out}");
    assert!(!out.contains("Next step"), "{out}");
}

#[test]
fn a_project_without_atlas_credentials_says_what_to_set() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let profile = project_profile(dir.path());

    let (_, err) = run(&moto, &[], &profile, &["plan", "--only", "atlas"], 1);
    assert!(err.contains("MONGODB_ATLAS_CLIENT_ID"), "{err}");
    assert!(err.contains("endpoint_service_name"), "{err}");
    // Components that do not touch Atlas do not need the credentials.
    run(&moto, &[], &profile, &["plan", "--only", "ecr"], 0);
}

/// Sends `method target` to the fake with a fresh bearer token and these headers, and
/// returns (status, errorCode).
fn raw_call(
    fake: &FakeAtlas,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Option<String>) {
    use crate::support::proxy::wire::{self, Request};
    let send = |request: &Request| {
        wire::send(fake.addr(), request, Duration::from_secs(10)).expect("the fake answers")
    };
    let basic =
        aws_smithy_types::base64::encode(format!("{}:{}", atlas::CLIENT_ID, atlas::CLIENT_SECRET));
    let token = send(&Request::new(
        "POST",
        "/api/oauth/token",
        vec![
            ("Authorization".into(), format!("Basic {basic}")),
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
        ],
        b"grant_type=client_credentials".to_vec(),
    ));
    let token: Value = serde_json::from_str(&token.text()).unwrap();
    let mut all = vec![(
        "Authorization".to_owned(),
        format!("Bearer {}", token["access_token"].as_str().unwrap()),
    )];
    all.extend(
        headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let answer = send(&Request::new(method, target, all, body.as_bytes().to_vec()));
    if answer.status >= 400 {
        assert_eq!(answer.header("content-type"), Some("application/json"));
    }
    let body: Value = serde_json::from_str(&answer.text()).unwrap_or(Value::Null);
    (answer.status, body["errorCode"].as_str().map(str::to_owned))
}

#[test]
fn the_fake_refuses_what_the_spec_does_not_allow() {
    let fake = FakeAtlas::start();
    let clusters = format!("/api/atlas/v2/groups/{PROJECT_ID}/clusters");
    let version = |v: &str| format!("application/vnd.atlas.{v}+json");
    // listClusters: the current version answers; 2023-01-01 is past its sunset
    // (2026-11-30); a version the operation never had is not acceptable.
    let current = version("2024-08-05");
    assert_eq!(
        raw_call(&fake, "GET", &clusters, &[("Accept", &current)], "").0,
        200
    );
    assert_eq!(
        raw_call(
            &fake,
            "GET",
            &clusters,
            &[("Accept", &version("2023-01-01"))],
            ""
        ),
        (410, Some("VERSION_GONE".into()))
    );
    assert_eq!(
        raw_call(
            &fake,
            "GET",
            &clusters,
            &[("Accept", &version("2099-01-01"))],
            ""
        )
        .0,
        406
    );
    // Parameters are checked against their schemas: itemsPerPage is at most 500.
    let too_many = format!("{clusters}?itemsPerPage=501");
    assert_eq!(
        raw_call(&fake, "GET", &too_many, &[("Accept", &current)], ""),
        (400, Some("VALIDATION_ERROR".into()))
    );
    // groupId is 24 hex digits; a well-formed one Atlas does not know is GROUP_NOT_FOUND.
    let bad = "/api/atlas/v2/groups/not-a-project/clusters";
    assert_eq!(
        raw_call(&fake, "GET", bad, &[("Accept", &current)], "").0,
        400
    );
    let unknown = "/api/atlas/v2/groups/0123456789abcdef0123abcd/clusters";
    assert_eq!(
        raw_call(&fake, "GET", unknown, &[("Accept", &current)], ""),
        (404, Some("GROUP_NOT_FOUND".into()))
    );
    // createPrivateEndpointService: its body media type, with providerName and region.
    let create = format!("/api/atlas/v2/groups/{PROJECT_ID}/privateEndpoint/endpointService");
    let v1 = version("2023-01-01");
    let body = r#"{"providerName":"AWS","region":"US_WEST_2"}"#;
    assert_eq!(
        raw_call(
            &fake,
            "POST",
            &create,
            &[("Accept", &v1), ("Content-Type", "application/json")],
            body
        )
        .0,
        415
    );
    assert_eq!(
        raw_call(
            &fake,
            "POST",
            &create,
            &[("Accept", &v1), ("Content-Type", &v1)],
            r#"{"providerName":"AWS"}"#
        ),
        (400, Some("VALIDATION_ERROR".into()))
    );
    // A create answers 200, as the spec says (not 201).
    assert_eq!(
        raw_call(
            &fake,
            "POST",
            &create,
            &[("Accept", &v1), ("Content-Type", &v1)],
            body
        )
        .0,
        200
    );
    // No such operation.
    let other = format!("/api/atlas/v2/groups/{PROJECT_ID}/privateEndpoint/AWS/nothing");
    assert_eq!(
        raw_call(&fake, "GET", &other, &[("Accept", &v1)], ""),
        (404, Some("RESOURCE_NOT_FOUND".into()))
    );
    assert_on_spec(&fake);
}
