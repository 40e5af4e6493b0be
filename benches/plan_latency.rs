//! Benchmark: a no-op `plan` of the production profile against moto, every AWS call
//! slowed to 50 ms by the test proxy, next to the same reads done one after another with
//! the AWS CLI as the runbook does them, in the same run and through the same proxy.
//!
//! The stack: `scripts/emulator.py` (moto with the EKS addons and the cluster security
//! group moto lacks), started by the integration tests' harness, and the fault proxy in
//! front of it, adding latency only. The prod profile adopts a VPC by id; the benchmark makes that VPC
//! and its three node subnets in moto, writes the prod profile with their ids in place of
//! the profile's, and runs `up` once without the proxy so that the plan it measures has
//! no change. Everything else in the profile is measured as it is.
//!
//! Prints the median wall time and the calls of `bpa-infra plan` (by operation), the wall
//! time and calls of the AWS CLI's reads, their ratio, and whether the goals of the plan
//! are met (under 1 s, under 60 calls, at least 10x faster than the CLI). Fails only when
//! the setup fails or the plan is not a no-op: timings on a shared machine are figures to
//! read, not assertions.
//!
//! Needs moto (`moto[server]`, for python3) and `aws` on PATH: run `scripts/bench-plan`, which installs them
//! when missing, builds the release binary and runs this harness (in the test profile,
//! which reuses the test build: the harness only forwards bytes and sleeps) against it
//! with `BPA_INFRA_BIN`. `cargo bench --bench plan_latency` works too, slowly: the bench
//! profile builds the AWS SDK once more with the dev-dependencies' features.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use bpa_infra::stack::{ResourceKind, Stack, build};

/// The integration tests' moto harness and fault proxy, compiled into this binary as they
/// are, so that the benchmark measures through exactly the proxy the tests use.
#[allow(dead_code, unused_imports)]
#[path = "../tests/it/support"]
mod support {
    pub mod moto;
    pub mod proxy;

    /// The binary under test (moto.rs calls this helper): `BPA_INFRA_BIN` when set (the
    /// release build, as `scripts/bench-plan` does), else the one Cargo built alongside.
    pub fn bpa_infra() -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new(super::binary());
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
        cmd.env_remove("AWS_PROFILE");
        cmd.env("AWS_CONFIG_FILE", "/nonexistent/bpa-infra-bench/config");
        cmd.env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/bpa-infra-bench/credentials",
        );
        cmd
    }
}

use support::moto::{ACCOUNT_ID, Moto, REGION};
use support::proxy::{FaultConfig, FaultProxy, ProxyStats};

/// What every call through the proxy costs, as a round trip to AWS from a laptop would.
const LATENCY: Duration = Duration::from_millis(50);
/// Runs of `plan` measured (after one warm-up); the median is reported.
const PLAN_RUNS: usize = 5;
const GOAL_WALL: Duration = Duration::from_secs(1);
const GOAL_CALLS: u64 = 60;
const GOAL_SPEEDUP: f64 = 10.0;
/// The adopted VPC and node subnets of profiles/prod-us-west-2.yaml, replaced by the
/// ones made in moto.
const PROD_VPC: &str = "vpc-0a1b2c3d4e5f60718";
const PROD_SUBNETS: [(&str, &str, &str); 3] = [
    ("us-west-2a", "subnet-0aa1111111111111a", "10.0.0.0/19"),
    ("us-west-2b", "subnet-0bb2222222222222b", "10.0.32.0/19"),
    ("us-west-2c", "subnet-0cc3333333333333c", "10.0.64.0/19"),
];

/// The `bpa-infra` binary measured.
fn binary() -> String {
    std::env::var("BPA_INFRA_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_bpa-infra").to_owned())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("plan latency benchmark: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let prod = std::fs::read_to_string(root.join("profiles/prod-us-west-2.yaml"))
        .map_err(|err| format!("cannot read the prod profile: {err}"))?;
    require_aws_cli()?;

    eprintln!("starting the emulator (scripts/emulator.py) …");
    let moto = Moto::start();

    // The VPC and subnets the prod profile adopts, made as someone else would have.
    let vpc = moto.create_vpc("10.0.0.0/16", &[("Name", "corporate")]);
    let mut profile_text = prod.replace(PROD_VPC, &vpc);
    for (az, id, cidr) in PROD_SUBNETS {
        let made = moto.create_subnet(&vpc, cidr, az, &[("Name", "corporate-private")]);
        profile_text = profile_text.replace(id, &made);
    }
    let dir = tempfile::tempdir().map_err(|err| format!("temporary directory: {err}"))?;
    let profile = dir.path().join("prod-bench.yaml");
    std::fs::write(&profile, &profile_text).map_err(|err| format!("write profile: {err}"))?;

    eprintln!("creating the prod stack in moto (bpa-infra up, no latency) …");
    bpa(&moto, &moto.endpoint_url(), &profile, &["up", "--yes"], 0)?;
    bpa(
        &moto,
        &moto.endpoint_url(),
        &profile,
        &["plan", "--detailed-exitcode"],
        0,
    )
    .map_err(|err| format!("the plan after up is not a no-op: {err}"))?;

    let proxy = FaultProxy::start(
        &moto.endpoint_url(),
        FaultConfig::seeded(1).latency(LATENCY, Duration::ZERO),
    );

    // One warm-up run: moto builds some of its answers lazily on first use.
    bpa(
        &moto,
        &proxy.url(),
        &profile,
        &["plan", "--detailed-exitcode"],
        0,
    )?;
    let mut walls = Vec::new();
    let mut plan_stats = ProxyStats::default();
    for _ in 0..PLAN_RUNS {
        proxy.reset_stats();
        let started = Instant::now();
        bpa(
            &moto,
            &proxy.url(),
            &profile,
            &["plan", "--detailed-exitcode"],
            0,
        )?;
        walls.push(started.elapsed());
        plan_stats = proxy.stats();
    }
    walls.sort();
    let plan_wall = walls[walls.len() / 2];

    let loaded = bpa_infra::profile::load(&profile)
        .map_err(|err| format!("cannot load {}: {err}", profile.display()))?;
    let stack = build(&loaded).map_err(|err| format!("the prod stack does not build: {err:?}"))?;
    let commands = runbook_reads(&stack, &vpc);
    eprintln!(
        "running the runbook's {} reads with the AWS CLI …",
        commands.len()
    );
    proxy.reset_stats();
    let started = Instant::now();
    let mut failed = Vec::new();
    for args in &commands {
        if !aws_cli(&proxy.url(), args)? {
            failed.push(args.join(" "));
        }
    }
    let cli_wall = started.elapsed();
    let cli_stats = proxy.stats();

    let ratio = cli_wall.as_secs_f64() / plan_wall.as_secs_f64();
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    println!(
        "plan latency benchmark: profile {} ({} resources), {} ms per AWS call",
        loaded.name,
        stack.resources().len(),
        LATENCY.as_millis()
    );
    println!("  binary: {}", binary());
    println!(
        "  bpa-infra plan (no-op):   {} ms median of {PLAN_RUNS} (min {} ms, max {} ms), {} AWS calls",
        plan_wall.as_millis(),
        walls[0].as_millis(),
        walls[walls.len() - 1].as_millis(),
        plan_stats.total
    );
    for (operation, count) in &plan_stats.by_operation {
        println!("      {operation:<45} {}", count.calls);
    }
    println!(
        "  AWS CLI, one read at a time: {} ms, {} commands, {} AWS calls",
        cli_wall.as_millis(),
        commands.len(),
        cli_stats.total
    );
    for command in &failed {
        println!("      failed: aws {command}");
    }
    println!("  speed-up over the AWS CLI: {ratio:.1}x");
    println!(
        "  goals: wall < {} ms: {}; calls < {GOAL_CALLS}: {}; >= {GOAL_SPEEDUP:.0}x the CLI: {}",
        GOAL_WALL.as_millis(),
        verdict(plan_wall < GOAL_WALL),
        verdict(plan_stats.total < GOAL_CALLS),
        verdict(ratio >= GOAL_SPEEDUP)
    );
    Ok(())
}

/// Runs `bpa-infra -p PROFILE ARGS` against `url` and checks its exit code.
fn bpa(moto: &Moto, url: &str, profile: &Path, args: &[&str], code: i32) -> Result<(), String> {
    let output = moto
        .bpa_infra_via(url)
        .arg("-p")
        .arg(profile)
        .arg("--no-color")
        .args(args)
        // `up` checks that the profile's database passwords are set; `db init` (not run
        // here) is the only command that uses them.
        .env("BPA_KONG_DB_PASSWORD", "bench-only-kong")
        .env("BPA_CAMUNDA_DB_PASSWORD", "bench-only-camunda")
        .timeout(Duration::from_secs(600))
        .output()
        .map_err(|err| format!("cannot run bpa-infra: {err}"))?;
    if output.status.code() == Some(code) {
        Ok(())
    } else {
        Err(format!(
            "bpa-infra {args:?} exited {:?}\n--- stdout\n{}\n--- stderr\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn require_aws_cli() -> Result<(), String> {
    match Command::new("aws").arg("--version").output() {
        Ok(output) if output.status.success() => Ok(()),
        _ => Err(
            "the AWS CLI (`aws`) is not on PATH: run scripts/bench-plan, which \
                  installs it with `python3 -m pip install awscli`"
                .to_owned(),
        ),
    }
}

/// Runs one `aws` command against `url` with moto's credentials; false when it failed.
fn aws_cli(url: &str, args: &[String]) -> Result<bool, String> {
    let status = Command::new("aws")
        .args([
            "--endpoint-url",
            url,
            "--region",
            REGION,
            "--output",
            "json",
        ])
        .args(args)
        .envs(Moto::env_for(url))
        .env("AWS_CONFIG_FILE", "/nonexistent/bpa-infra-bench/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/bpa-infra-bench/credentials",
        )
        .env("AWS_PAGER", "")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|err| format!("cannot run aws: {err}"))?;
    Ok(status.success())
}

/// The reads the runbook does to check the deployed stack by hand: per resource, the
/// describe (and, where the runbook checks a setting the describe does not show, the one
/// further read) a person would type. Reads that cover many resources at once (the VPC's
/// subnets, security groups and endpoints) are run once, as a person would.
fn runbook_reads(stack: &Stack, vpc: &str) -> Vec<Vec<String>> {
    let mut commands: Vec<Vec<String>> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut add = |args: Vec<String>| {
        if seen.insert(args.clone()) {
            commands.push(args);
        }
    };
    let in_vpc = format!("Name=vpc-id,Values={vpc}");
    for resource in stack.resources() {
        let name = || {
            resource
                .spec
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let cluster = || {
            resource
                .spec
                .get("cluster_name")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let reads: Vec<Vec<String>> = match resource.kind {
            ResourceKind::Vpc | ResourceKind::VpcCidrAssociation => {
                vec![args(&["ec2", "describe-vpcs", "--vpc-ids", vpc])]
            }
            ResourceKind::Subnet => {
                vec![args(&["ec2", "describe-subnets", "--filters", &in_vpc])]
            }
            ResourceKind::SecurityGroup => vec![args(&[
                "ec2",
                "describe-security-groups",
                "--filters",
                &in_vpc,
            ])],
            ResourceKind::VpcEndpoint => vec![args(&[
                "ec2",
                "describe-vpc-endpoints",
                "--filters",
                &in_vpc,
            ])],
            ResourceKind::IamRole => vec![
                args(&["iam", "get-role", "--role-name", &name()]),
                args(&["iam", "list-attached-role-policies", "--role-name", &name()]),
            ],
            ResourceKind::IamPolicy => {
                let arn = format!("arn:aws:iam::{ACCOUNT_ID}:policy/{}", name());
                vec![
                    args(&["iam", "get-policy", "--policy-arn", &arn]),
                    args(&[
                        "iam",
                        "get-policy-version",
                        "--policy-arn",
                        &arn,
                        "--version-id",
                        "v1",
                    ]),
                ]
            }
            ResourceKind::EksCluster => {
                vec![args(&["eks", "describe-cluster", "--name", &name()])]
            }
            ResourceKind::EksAddon => vec![args(&[
                "eks",
                "describe-addon",
                "--cluster-name",
                &cluster(),
                "--addon-name",
                &name(),
            ])],
            ResourceKind::NodeGroup => vec![args(&[
                "eks",
                "describe-nodegroup",
                "--cluster-name",
                &cluster(),
                "--nodegroup-name",
                &name(),
            ])],
            ResourceKind::LaunchTemplate => vec![args(&[
                "ec2",
                "describe-launch-template-versions",
                "--launch-template-name",
                &name(),
                "--versions",
                "$Latest",
            ])],
            ResourceKind::DbClusterParameterGroup => vec![
                args(&[
                    "rds",
                    "describe-db-cluster-parameter-groups",
                    "--db-cluster-parameter-group-name",
                    &name(),
                ]),
                args(&[
                    "rds",
                    "describe-db-cluster-parameters",
                    "--db-cluster-parameter-group-name",
                    &name(),
                    "--source",
                    "user",
                ]),
            ],
            ResourceKind::DbSubnetGroup => vec![args(&[
                "rds",
                "describe-db-subnet-groups",
                "--db-subnet-group-name",
                &name(),
            ])],
            ResourceKind::DbCluster => vec![args(&[
                "rds",
                "describe-db-clusters",
                "--db-cluster-identifier",
                &name(),
            ])],
            ResourceKind::EcrRepository => vec![
                args(&[
                    "ecr",
                    "describe-repositories",
                    "--repository-names",
                    &name(),
                ]),
                args(&["ecr", "get-lifecycle-policy", "--repository-name", &name()]),
            ],
            // Not in the prod profile (it adopts its VPC and uses an Atlas endpoint
            // service by name); a runbook read for each would go here.
            ResourceKind::InternetGateway
            | ResourceKind::ElasticIp
            | ResourceKind::NatGateway
            | ResourceKind::RouteTable
            | ResourceKind::DbParameterGroup
            | ResourceKind::DbInstance
            | ResourceKind::AtlasEndpointService
            | ResourceKind::AtlasEndpoint => Vec::new(),
        };
        for read in reads {
            add(read);
        }
    }
    commands
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|&s| s.to_owned()).collect()
}
