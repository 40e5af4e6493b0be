//! The MongoDB Atlas private endpoint against moto (the AWS side) and the fake Atlas
//! Admin API of the test support code (`support::atlas`), which checks credentials and
//! media types and walks the real status sequence with delays.
//!
//! `up --only atlas` creates the VPC and node subnets it needs, the Atlas security
//! group, the endpoint service, the VPC endpoint and its registration; a second `up`
//! writes nothing on either side; `down --only atlas` removes both sides in reverse.
//! Every run that holds credentials runs at `-vvv`, and none of the credentials (nor the
//! access tokens the fake issued) may show in its output.

// `outputs` reads the whole profile, EKS addons included, which moto lacks.
use crate::support::eks_stand_in;

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
  storage: {{ type: gp3, size_gib: 400, iops: 12000 }}
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

/// [`run`] with the AWS endpoint at `endpoint_url` (the EKS stand-in in front of moto).
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

fn position(list: &[String], item: &str) -> usize {
    list.iter()
        .position(|i| i == item)
        .unwrap_or_else(|| panic!("{item} is not in {list:?}"))
}

#[test]
fn up_registers_the_endpoint_then_writes_nothing_and_down_removes_both_sides() {
    let moto = Moto::start();
    let fake = FakeAtlas::start();
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
    // Every API call was authenticated with the one bearer token and had the media
    // type (the fake answers 401, 406 or 415 otherwise); the one 404 is the look for an
    // earlier registration before registering.
    let calls = fake.calls();
    let api: Vec<_> = calls
        .iter()
        .filter(|c| c.path.starts_with("/api/atlas/v2"))
        .collect();
    assert!(
        api.iter()
            .all(|c| c.auth == atlas::Auth::Bearer && ![401, 406, 415].contains(&c.status)),
        "{calls:#?}"
    );
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
    let eks = eks_stand_in::EksStandIn::in_front_of(&moto);
    let (out, _) = run_via(
        &moto,
        &eks.url(),
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

    // Down removes the registration, the VPC endpoint, then the endpoint service.
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
        [
            format!("DELETE {base}/AWS/endpointService/{service_id}/endpoint/{vpce}"),
            format!("DELETE {base}/AWS/endpointService/{service_id}"),
        ]
    );
    assert_eq!(fake.services(), vec![]);
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
    let moto = Moto::start();
    let fake = FakeAtlas::start();
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
fn a_failed_endpoint_ends_with_an_error_naming_every_id() {
    let fake = up_fails_naming_every_id(
        "FAILED",
        "Atlas could not set up the private endpoint connection.",
        FakeAtlas::fail_new_endpoints,
        FakeAtlas::service_account_env,
    );
    // The endpoint service never became AVAILABLE: its endpoint did not.
    let statuses = fake.service_statuses();
    assert!(
        statuses.iter().all(|(_, s)| s == "WAITING_FOR_USER"),
        "{statuses:?}"
    );
}

#[test]
fn rate_limited_atlas_calls_wait_for_retry_after() {
    let moto = Moto::start();
    let fake = FakeAtlas::start();
    // The client's own first wait after a 429 without Retry-After is 2 s: a Retry-After
    // of 3 s is only waited out if the client honours it.
    const RETRY_AFTER: u64 = 3;
    fake.throttle_next(1, RETRY_AFTER);
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
    let throttled: Vec<usize> = (0..calls.len())
        .filter(|&i| calls[i].status == 429)
        .collect();
    assert_eq!(throttled.len(), 1, "{calls:#?}");
    let i = throttled[0];
    let retry = calls
        .iter()
        .skip(i + 1)
        .find(|c| c.name() == calls[i].name())
        .expect("the throttled call was tried again");
    let waited = retry.at - calls[i].at;
    assert!(
        waited >= Duration::from_secs(RETRY_AFTER),
        "retried after {waited:?}, not the {RETRY_AFTER} s Retry-After asked"
    );
    assert!(retry.status < 400, "{retry:?}");
    assert_eq!(fake.services()[0].2.len(), 1, "the flow completed");
    // The throttled run, at the highest verbosity, shows no credential or token.
    assert!(!err.is_empty(), "the run logged at -vvv");
    assert_no_secrets(&fake, &[&out, &err]);
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
