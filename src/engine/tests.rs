//! Engine tests against the strict fake cloud, on tokio's paused clock: durations are
//! realistic (a 20-minute database), the tests take milliseconds.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::plan::{LiveState, observe, plan_apply, plan_destroy};
use crate::profile::{Atlas, AtlasTarget, Profile};
use crate::provider::fake::{FakeCloud, Op, Seed};
use crate::stack::testing::profile;
use crate::stack::{Component, Ownership, Spec, build};

fn a(text: &str) -> Address {
    text.parse().unwrap()
}

/// The production profile without deletion protection, so that `down` may run.
fn prod() -> Profile {
    let mut prod = profile("prod-us-west-2");
    prod.rds.deletion_protection = false;
    prod
}

/// The example profile (its own VPC) with an Atlas private endpoint made through the
/// Admin API: every kind of resource the stack knows.
fn example_with_atlas() -> Profile {
    let mut example = profile("example");
    example.atlas = Some(Atlas {
        target: AtlasTarget::Project {
            project_id: "6500000000000000000000aa".into(),
            region: "US_WEST_2".into(),
        },
        allowed_cidrs: vec!["100.64.0.0/16".parse().unwrap()],
        ports: (1024, 65535),
    });
    example
}

/// A fake cloud holding the profile's adopted resources, with realistic durations.
fn cloud_for(stack: &Stack) -> Arc<FakeCloud> {
    let cloud = FakeCloud::new();
    cloud.use_typical_durations();
    for resource in stack
        .resources()
        .iter()
        .filter(|r| r.ownership == Ownership::Adopted)
    {
        cloud.seed(
            &resource.address,
            resource.kind,
            resource.spec.clone(),
            Seed::Adopted,
        );
    }
    cloud
}

fn options() -> ExecutorOptions {
    ExecutorOptions {
        seed: Some(7),
        ..ExecutorOptions::default()
    }
}

async fn observe_and_plan(cloud: &Arc<FakeCloud>, stack: &Stack) -> (LiveState, Plan) {
    let providers = cloud.providers();
    let live = observe(stack, &providers, &RetryPolicy::default())
        .await
        .expect("reads succeed");
    let plan = with_estimate(plan_apply(stack, &live, &providers), stack);
    (live, plan)
}

/// `bpa-infra up`: observe, plan, apply.
async fn up_with(
    cloud: &Arc<FakeCloud>,
    stack: &Stack,
    reporter: &dyn Reporter,
    cancel: &Cancellation,
) -> (Plan, Summary) {
    let (live, plan) = observe_and_plan(cloud, stack).await;
    let executor = Executor::new(cloud.providers(), options());
    let summary = executor
        .apply(&plan, stack, &live, reporter, cancel)
        .await
        .expect("the plan applies");
    (plan, summary)
}

async fn up(cloud: &Arc<FakeCloud>, stack: &Stack) -> Summary {
    up_with(cloud, stack, &NullReporter, &Cancellation::new())
        .await
        .1
}

/// `bpa-infra down`.
async fn down(cloud: &Arc<FakeCloud>, stack: &Stack) -> (Plan, Summary) {
    let providers = cloud.providers();
    let live = observe(stack, &providers, &RetryPolicy::default())
        .await
        .expect("reads succeed");
    let plan = with_estimate(plan_destroy(stack, &live, &providers), stack);
    let executor = Executor::new(providers, options());
    let summary = executor
        .apply(&plan, stack, &live, &NullReporter, &Cancellation::new())
        .await
        .expect("the plan applies");
    (plan, summary)
}

/// Tells whether `earlier` was done (ready or gone) before work on `later` began.
fn done_before(cloud: &FakeCloud, earlier: &str, later: &str) -> bool {
    let (_, end) = cloud
        .span(&a(earlier))
        .unwrap_or_else(|| panic!("{earlier} was not worked on"));
    let (start, _) = cloud
        .span(&a(later))
        .unwrap_or_else(|| panic!("{later} was not worked on"));
    end <= start
}

fn failed_to_apply(summary: &Summary) -> Vec<String> {
    summary
        .resources
        .iter()
        .filter(|r| r.outcome != Outcome::Succeeded)
        .map(|r| format!("{}: {:?}", r.address, r.outcome))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn up_follows_dependency_order() {
    let stack = build(&prod()).unwrap();
    let cloud = cloud_for(&stack);
    let summary = up(&cloud, &stack).await;
    assert!(summary.is_success(), "{:?}", failed_to_apply(&summary));

    assert!(done_before(&cloud, "rds.parameter_group", "rds.cluster"));
    assert!(done_before(&cloud, "rds.subnet_group", "rds.cluster"));
    for group in ["node-1", "node-2", "node-3", "node-4"] {
        let nodegroup = format!("eks.nodegroup[{group}]");
        assert!(done_before(&cloud, "iam.node_role", &nodegroup));
        assert!(done_before(&cloud, "eks.cluster", &nodegroup));
        assert!(done_before(&cloud, "eks.addon[vpc-cni]", &nodegroup));
        assert!(done_before(&cloud, &nodegroup, "eks.addon[coredns]"));
    }
    // The fake refused nothing: no call failed, and nothing was called twice.
    let failed: Vec<_> = cloud
        .calls()
        .into_iter()
        .filter(|c| c.error.is_some())
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
}

#[tokio::test(start_paused = true)]
async fn subnets_are_ready_before_the_vpc_endpoint() {
    let stack = build(&example_with_atlas()).unwrap();
    let cloud = cloud_for(&stack);
    let summary = up(&cloud, &stack).await;
    assert!(summary.is_success(), "{:?}", failed_to_apply(&summary));
    for zone in ["us-west-2a", "us-west-2b", "us-west-2c"] {
        assert!(done_before(
            &cloud,
            &format!("network.subnet[node/{zone}]"),
            "atlas.vpc_endpoint"
        ));
    }
    assert!(done_before(
        &cloud,
        "atlas.endpoint_service",
        "atlas.vpc_endpoint"
    ));
    assert!(done_before(&cloud, "atlas.vpc_endpoint", "atlas.endpoint"));
    assert!(done_before(
        &cloud,
        "network.internet_gateway",
        "network.nat_gateway[us-west-2a]"
    ));
}

#[tokio::test(start_paused = true)]
async fn independent_components_progress_side_by_side() {
    let stack = build(&prod()).unwrap();
    let cloud = cloud_for(&stack);
    let summary = up(&cloud, &stack).await;
    assert!(summary.is_success());
    let (db_start, db_end) = cloud.span(&a("rds.cluster")).unwrap();
    let (eks_start, eks_end) = cloud.span(&a("eks.cluster")).unwrap();
    let (ecr_start, _) = cloud.span(&a("ecr.repository[bpa/ui]")).unwrap();
    assert!(
        db_start < eks_end && eks_start < db_end,
        "RDS {db_start:?}..{db_end:?}, EKS {eks_start:?}..{eks_end:?}"
    );
    assert!(ecr_start < db_end);
    // The whole run takes the database's chain, not the sum of everything.
    let chain = Duration::from_secs(3 + 1200);
    assert!(
        summary.elapsed <= chain + Duration::from_secs(60),
        "{:?}",
        summary.elapsed
    );
}

#[tokio::test(start_paused = true)]
async fn a_failure_skips_its_dependents_and_everything_else_finishes() {
    let stack = build(&prod()).unwrap();
    let cloud = cloud_for(&stack);
    cloud.fail(&a("eks.cluster"), Op::Create, "InvalidParameterException");
    let reporter = RecordingReporter::new();
    let (_, summary) = up_with(&cloud, &stack, &reporter, &Cancellation::new()).await;

    assert!(!summary.is_success());
    assert!(
        matches!(summary.outcome(&a("eks.cluster")), Some(Outcome::Failed { code, .. }) if code == "InvalidParameterException")
    );
    for dependent in [
        "eks.nodegroup[node-1]",
        "eks.launch_template[node-3]",
        "eks.addon[vpc-cni]",
        "eks.addon[coredns]",
    ] {
        assert_eq!(
            summary.outcome(&a(dependent)),
            Some(&Outcome::Skipped {
                reason: "eks.cluster failed".into()
            }),
            "{dependent}"
        );
        let touched = cloud
            .calls()
            .into_iter()
            .any(|c| c.address == a(dependent) && c.op != Op::Read);
        assert!(!touched, "{dependent} was touched");
    }
    for independent in [
        "rds.cluster",
        "ecr.repository[bpa/ui]",
        "atlas.vpc_endpoint",
        "iam.node_role",
        "eks.node_security_group",
    ] {
        assert_eq!(
            summary.outcome(&a(independent)),
            Some(&Outcome::Succeeded),
            "{independent}"
        );
    }
    let tally = summary.tally();
    assert_eq!((tally.failed, tally.skipped, tally.interrupted), (1, 12, 0));

    let events = reporter.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Failed { address, .. } if *address == a("eks.cluster")))
    );
    let skipped = events
        .iter()
        .filter(|e| matches!(e, Event::Skipped { .. }))
        .count();
    assert_eq!(skipped, 12);
    assert!(matches!(
        events.last(),
        Some(Event::RunFinished {
            failed: 1,
            skipped: 12,
            ..
        })
    ));

    // Fixed, the next run does what is left, and only that.
    cloud.heal();
    cloud.clear_calls();
    let summary = up(&cloud, &stack).await;
    assert!(summary.is_success(), "{:?}", failed_to_apply(&summary));
    assert_eq!(summary.tally().succeeded, 13);
}

#[tokio::test(start_paused = true)]
async fn a_second_up_makes_no_write() {
    let stack = build(&prod()).unwrap();
    let cloud = cloud_for(&stack);
    assert!(up(&cloud, &stack).await.is_success());
    cloud.clear_calls();

    let (plan, summary) = up_with(&cloud, &stack, &NullReporter, &Cancellation::new()).await;
    assert!(
        !plan.has_changes(),
        "{}",
        crate::plan::render_text(&plan, &Default::default())
    );
    assert!(summary.resources.is_empty());
    assert_eq!(cloud.write_calls(), vec![]);
    assert!(
        cloud
            .calls()
            .iter()
            .all(|c| matches!(c.op, Op::Read | Op::List))
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_killed_after_any_write_converges_when_run_again() {
    let stack = build(&example_with_atlas()).unwrap();
    let reference = cloud_for(&stack);
    assert!(up(&reference, &stack).await.is_success());
    let writes = reference.write_calls().len();
    let expected = reference.snapshot();

    for killed_after in 0..=writes {
        let cloud = cloud_for(&stack);
        cloud.halt_after_writes(killed_after);
        let first = up(&cloud, &stack).await;
        assert_eq!(
            first.is_success(),
            killed_after >= writes,
            "killed after {killed_after} writes"
        );

        cloud.resume();
        let second = up(&cloud, &stack).await;
        assert!(
            second.is_success(),
            "killed after {killed_after}: {:?}",
            failed_to_apply(&second)
        );
        assert_eq!(
            cloud.snapshot(),
            expected,
            "killed after {killed_after} writes"
        );
        let (_, plan) = observe_and_plan(&cloud, &stack).await;
        assert!(!plan.has_changes(), "killed after {killed_after} writes");
    }
}

#[tokio::test(start_paused = true)]
async fn cancelling_stops_new_work_and_reports_what_was_in_flight() {
    let stack = build(&prod()).unwrap();
    let cloud = cloud_for(&stack);
    let cancel = Cancellation::new();
    let reporter = RecordingReporter::new();
    let canceller = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(300)).await;
            cancel.cancel();
        })
    };
    let (_, summary) = up_with(&cloud, &stack, &reporter, &cancel).await;
    canceller.await.unwrap();

    assert_eq!(summary.elapsed, Duration::from_secs(300), "stopped at once");
    assert_eq!(
        summary.outcome(&a("rds.cluster")),
        Some(&Outcome::Interrupted {
            phase: Some(Phase::WaitingReady)
        })
    );
    assert_eq!(
        summary.outcome(&a("eks.cluster")),
        Some(&Outcome::Interrupted {
            phase: Some(Phase::WaitingReady)
        })
    );
    assert!(matches!(
        summary.outcome(&a("eks.nodegroup[node-1]")),
        Some(Outcome::Skipped { .. })
    ));
    assert_eq!(
        summary.outcome(&a("ecr.repository[bpa/ui]")),
        Some(&Outcome::Succeeded),
        "{summary:#?}"
    );
    let calls_at_cancel = cloud.calls().len();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        cloud.calls().len(),
        calls_at_cancel,
        "nothing runs after the cancellation"
    );
    assert!(
        reporter.events().iter().any(
            |e| matches!(e, Event::Interrupted { address, .. } if *address == a("rds.cluster"))
        )
    );

    // The next run waits for what was in flight instead of creating it again.
    cloud.clear_calls();
    let summary = up(&cloud, &stack).await;
    assert!(summary.is_success(), "{:?}", failed_to_apply(&summary));
    assert!(cloud.calls_to(&a("rds.cluster"), Op::Create).is_empty());
    assert_eq!(cloud.calls_to(&a("rds.cluster"), Op::WaitReady).len(), 1);
    assert_eq!(
        summary.outcome(&a("rds.cluster")),
        Some(&Outcome::Succeeded)
    );
    let (_, plan) = observe_and_plan(&cloud, &stack).await;
    assert!(!plan.has_changes());
}

#[tokio::test(start_paused = true)]
async fn down_deletes_in_reverse_and_never_touches_unowned_or_adopted_resources() {
    let stack = build(&prod()).unwrap();
    let cloud = cloud_for(&stack);
    // A look-alike with the name of the Atlas security group, and no Atlas in this run.
    cloud.seed(
        &a("atlas.security_group"),
        ResourceKind::SecurityGroup,
        Spec::new(),
        Seed::Unowned,
    );
    let without_atlas = stack.for_components(&[
        Component::Network,
        Component::Iam,
        Component::Eks,
        Component::Rds,
        Component::Ecr,
    ]);
    assert!(up(&cloud, &without_atlas).await.is_success());
    cloud.clear_calls();

    let (plan, summary) = down(&cloud, &stack).await;
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    assert!(summary.is_success(), "{:?}", failed_to_apply(&summary));

    let left: Vec<String> = cloud.snapshot().keys().map(ToString::to_string).collect();
    assert_eq!(
        left,
        [
            "network.subnet[node/us-west-2a]",
            "network.subnet[node/us-west-2b]",
            "network.subnet[node/us-west-2c]",
            "network.vpc",
            "atlas.security_group",
        ]
    );
    for untouched in &left {
        let calls: Vec<Op> = cloud
            .calls()
            .iter()
            .filter(|c| c.address.to_string() == *untouched)
            .map(|c| c.op)
            .collect();
        assert!(
            calls.iter().all(|op| *op == Op::Read),
            "{untouched}: {calls:?}"
        );
    }

    // Everything was deleted only after everything that used it was gone.
    for resource in stack.resources() {
        let Some((start, _)) = cloud.span(&resource.address) else {
            continue;
        };
        for dependent in stack.dependents(&resource.address) {
            if let Some((_, gone)) = cloud.span(&dependent.address) {
                assert!(
                    gone <= start,
                    "{} deleted before {}",
                    resource.address,
                    dependent.address
                );
            }
        }
    }
    assert!(done_before(&cloud, "eks.nodegroup[node-1]", "eks.cluster"));
    assert!(done_before(&cloud, "rds.cluster", "rds.parameter_group"));
    assert!(done_before(&cloud, "iam.node_role", "iam.ecr_pull_policy"));

    // A second `down` has nothing left to do.
    cloud.clear_calls();
    let (plan, _) = down(&cloud, &stack).await;
    assert!(!plan.has_changes());
    assert_eq!(cloud.write_calls(), vec![]);
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_with_backoff() {
    let stack = build(&prod()).unwrap();
    let cloud = cloud_for(&stack);
    let group = a("rds.parameter_group");
    cloud.throttle(&group, Op::Create, 3);
    cloud.fail_retryably(&a("rds.cluster"), Op::WaitReady, 2);
    let reporter = RecordingReporter::new();
    let (_, summary) = up_with(&cloud, &stack, &reporter, &Cancellation::new()).await;
    assert!(summary.is_success(), "{:?}", failed_to_apply(&summary));

    let attempts: Vec<(Duration, Option<String>)> = cloud
        .calls()
        .into_iter()
        .filter(|c| c.address == group && c.op == Op::Create)
        .map(|c| (c.start, c.error))
        .collect();
    assert_eq!(attempts.len(), 4);
    assert_eq!(
        attempts
            .iter()
            .filter(|(_, e)| e.as_deref() == Some("Throttling"))
            .count(),
        3
    );
    // Equal jitter: each wait is at least half of 1 s, 2 s, 4 s.
    for (ceiling, pair) in [1, 2, 4].into_iter().zip(attempts.windows(2)) {
        let gap = pair[1].0 - pair[0].0;
        let ceiling = Duration::from_secs(ceiling);
        assert!(
            gap >= ceiling / 2 && gap <= ceiling,
            "{gap:?} for a ceiling of {ceiling:?}"
        );
    }
    let retries: Vec<u32> = reporter
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Retrying {
                address, attempt, ..
            } if *address == group => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(retries, vec![2, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_and_exhausted_retries_fail_without_more_attempts() {
    let stack = build(&prod()).unwrap();
    let cloud = cloud_for(&stack);
    cloud.fail(
        &a("ecr.repository[bpa/ui]"),
        Op::Create,
        "InvalidParameterException",
    );
    cloud.fail_retryably(&a("ecr.repository[bpa/bpm]"), Op::Create, 100);
    let summary = up(&cloud, &stack).await;
    let creates = |address: &str| {
        cloud
            .calls()
            .iter()
            .filter(|c| c.address == a(address) && c.op == Op::Create)
            .count()
    };
    assert_eq!(creates("ecr.repository[bpa/ui]"), 1);
    assert_eq!(
        creates("ecr.repository[bpa/bpm]"),
        RetryPolicy::default().max_attempts as usize
    );
    assert!(
        matches!(summary.outcome(&a("ecr.repository[bpa/bpm]")), Some(Outcome::Failed { code, .. }) if code == "ServiceUnavailable")
    );
    // The pull policy names every repository: it waits for both, so it is skipped.
    assert!(matches!(
        summary.outcome(&a("iam.ecr_pull_policy")),
        Some(Outcome::Skipped { .. })
    ));
    assert_eq!(
        summary.outcome(&a("rds.cluster")),
        Some(&Outcome::Succeeded)
    );
}

#[tokio::test(start_paused = true)]
async fn waiting_gives_up_at_the_kinds_timeout() {
    let stack = build(&prod()).unwrap();
    let cloud = cloud_for(&stack);
    cloud.set_duration(&a("eks.cluster"), Duration::from_secs(6 * 3600));
    let summary = up(&cloud, &stack).await;
    let Some(Outcome::Failed { code, message }) = summary.outcome(&a("eks.cluster")) else {
        panic!("{:?}", summary.outcome(&a("eks.cluster")));
    };
    assert_eq!(code, "ReadyTimeout");
    assert_eq!(message, "timed out after 2400s waiting for it");
    let elapsed = summary
        .resources
        .iter()
        .find(|r| r.address == a("eks.cluster"))
        .unwrap()
        .elapsed
        .unwrap();
    assert_eq!(elapsed, ResourceKind::EksCluster.ready_timeout());
}

#[tokio::test(start_paused = true)]
async fn leftovers_and_replacements_are_applied_in_a_safe_order() {
    let mut profile = prod();
    let stack = build(&profile).unwrap();
    let cloud = cloud_for(&stack);
    assert!(up(&cloud, &stack).await.is_success());

    // node-4 leaves the profile, node-2 changes instance type.
    profile.eks.node_groups.pop();
    profile.eks.node_groups[1].instance_type = "m5.4xlarge".into();
    let stack = build(&profile).unwrap();
    cloud.clear_calls();
    let (plan, summary) = up_with(&cloud, &stack, &NullReporter, &Cancellation::new()).await;
    assert!(summary.is_success(), "{:?}", failed_to_apply(&summary));
    let changed: Vec<(String, Action)> = plan
        .changes
        .iter()
        .filter(|c| c.action.is_write())
        .map(|c| (c.address.to_string(), c.action))
        .collect();
    assert_eq!(
        changed,
        [
            ("eks.nodegroup[node-2]".to_owned(), Action::Replace),
            ("eks.launch_template[node-4]".to_owned(), Action::Delete),
            ("eks.nodegroup[node-4]".to_owned(), Action::Delete),
        ]
    );
    let deleted = cloud.calls_to(&a("eks.nodegroup[node-2]"), Op::WaitDeleted);
    let created = cloud.calls_to(&a("eks.nodegroup[node-2]"), Op::Create);
    assert!(deleted[0].end <= created[0].start);
    assert!(done_before(
        &cloud,
        "eks.nodegroup[node-4]",
        "eks.launch_template[node-4]"
    ));
    assert!(!cloud.exists(&a("eks.nodegroup[node-4]")));
    let (_, plan) = observe_and_plan(&cloud, &stack).await;
    assert!(!plan.has_changes());
}

#[tokio::test(start_paused = true)]
async fn a_plan_with_conflicts_is_not_applied() {
    let stack = build(&prod()).unwrap();
    let cloud = cloud_for(&stack);
    cloud.seed(
        &a("rds.cluster"),
        ResourceKind::DbCluster,
        Spec::new(),
        Seed::Profile("staging".into()),
    );
    let (live, plan) = observe_and_plan(&cloud, &stack).await;
    assert_eq!(plan.conflicts.len(), 1);
    cloud.clear_calls();
    let executor = Executor::new(cloud.providers(), options());
    let result = executor
        .apply(&plan, &stack, &live, &NullReporter, &Cancellation::new())
        .await;
    assert!(matches!(result, Err(ApplyError::Conflicts(_))));
    assert!(cloud.calls().is_empty());
}

#[test]
fn leftover_layers_agree_with_every_stack_edge() {
    for profile in [prod(), profile("example"), example_with_atlas()] {
        let stack = build(&profile).unwrap();
        for resource in stack.resources() {
            for dependency in &resource.depends_on {
                let used = stack.get(dependency).unwrap();
                assert!(
                    steps::layer(resource.kind) > steps::layer(used.kind),
                    "{} ({}) uses {} ({})",
                    resource.address,
                    resource.kind,
                    used.address,
                    used.kind
                );
            }
        }
    }
}

#[test]
fn summaries_serialize_with_stable_names() {
    let summary = Summary {
        profile: "prod".into(),
        operation: Operation::Apply,
        resources: vec![ResourceOutcome {
            address: a("eks.cluster"),
            kind: ResourceKind::EksCluster,
            action: Action::Create,
            outcome: Outcome::Failed {
                code: "ReadyTimeout".into(),
                message: "timed out".into(),
            },
            elapsed: Some(Duration::from_secs(2400)),
        }],
        elapsed: Duration::from_secs(2401),
        estimated: Duration::from_secs(2100),
        outputs: BTreeMap::new(),
    };
    insta::assert_json_snapshot!(summary, @r#"
    {
      "profile": "prod",
      "operation": "apply",
      "resources": [
        {
          "address": "eks.cluster",
          "kind": "eks_cluster",
          "action": "create",
          "status": "failed",
          "code": "ReadyTimeout",
          "message": "timed out",
          "elapsed_seconds": 2400.0
        }
      ],
      "elapsed_seconds": 2401.0,
      "estimated_duration_seconds": 2100.0
    }
    "#);
}

#[tokio::test(start_paused = true)]
async fn events_tell_each_resource_from_start_to_finish() {
    let stack = build(&prod()).unwrap();
    let cloud = cloud_for(&stack);
    let reporter = RecordingReporter::new();
    let (plan, summary) = up_with(&cloud, &stack, &reporter, &Cancellation::new()).await;
    assert!(summary.is_success());
    let events = reporter.events();
    let about = |address: &Address| -> Vec<Event> {
        events
            .iter()
            .filter(|e| match e {
                Event::Started { address: a, .. }
                | Event::Phase { address: a, .. }
                | Event::Finished { address: a, .. } => a == address,
                _ => false,
            })
            .cloned()
            .collect()
    };
    let db = a("rds.cluster");
    assert_eq!(
        about(&db),
        vec![
            Event::Started {
                address: db.clone(),
                kind: ResourceKind::DbCluster,
                action: Action::Create,
                typical: Duration::from_secs(1200)
            },
            Event::Phase {
                address: db.clone(),
                phase: Phase::Creating
            },
            Event::Phase {
                address: db.clone(),
                phase: Phase::WaitingReady
            },
            Event::Finished {
                address: db.clone(),
                action: Action::Create,
                elapsed: Duration::from_secs(1200)
            },
        ]
    );
    // Adopted resources that are ready cost nothing and say nothing.
    assert!(about(&a("network.vpc")).is_empty());
    assert!(matches!(
        events.first(),
        Some(Event::RunStarted { resources: 32, .. })
    ));
    assert_eq!(plan.counts().create, 32);
    assert!(matches!(
        events.last(),
        Some(Event::RunFinished {
            succeeded: 32,
            failed: 0,
            ..
        })
    ));
}

// --- the estimate of a plan ----------------------------------------------------------------

/// The fake cloud takes each kind's typical duration, so the run must take what the
/// plan said: the estimate plays the executor's own schedule.
#[tokio::test(start_paused = true)]
async fn the_estimate_is_what_a_run_takes_on_typical_durations() {
    for profile in [prod(), example_with_atlas()] {
        let stack = build(&profile).unwrap();
        let cloud = cloud_for(&stack);
        let (plan, summary) = up_with(&cloud, &stack, &NullReporter, &Cancellation::new()).await;
        assert!(summary.is_success(), "{}", stack.profile());
        let estimated = plan.estimated_duration_seconds;
        assert_eq!(summary.estimated, Duration::from_secs(estimated));
        let took = summary.elapsed.as_secs_f64();
        // Waits poll the cloud: a run may end a poll interval after its last resource.
        assert!(
            (estimated as f64) <= took + 1.0 && took <= estimated as f64 * 1.05 + 30.0,
            "{}: estimated {estimated} s, took {took} s",
            stack.profile()
        );
        // The database cluster (20 minutes) is the longest chain of any full stack.
        assert!(
            plan.critical_path
                .iter()
                .any(|s| s.kind == ResourceKind::DbCluster && s.seconds == 1200),
            "{:?}",
            plan.critical_path
        );
        let chain: u64 = plan.critical_path.iter().map(|s| s.seconds).sum();
        assert_eq!(
            chain, estimated,
            "ten at once never delays the longest chain"
        );
    }
}

/// Known durations: the estimate is the longest chain of the plan's own steps.
#[test]
fn the_estimate_follows_the_longest_chain_of_the_plan() {
    let stack = build(&prod()).unwrap();
    let plan = with_estimate(crate::plan::plan_offline(&stack), &stack);
    let seconds = |kind: ResourceKind| kind.typical_duration().as_secs();
    let path: Vec<(String, u64)> = plan
        .critical_path
        .iter()
        .map(|s| (s.address.to_string(), s.seconds))
        .collect();
    // rds.security_group (3 s), then rds.cluster (20 min): it waits for nothing longer.
    let last = path.last().expect("a create plan has a critical path");
    assert_eq!(last.0, "rds.cluster", "{path:?}");
    assert_eq!(last.1, seconds(ResourceKind::DbCluster));
    assert_eq!(
        plan.estimated_duration_seconds,
        path.iter().map(|(_, s)| s).sum::<u64>()
    );
    assert_eq!(
        plan.eta_sentence().unwrap(),
        "up takes about 20 min; longest: rds.security_group 3 s → rds.cluster 20 min"
    );
    // Each step of the path waits for the one before it.
    for pair in plan.critical_path.windows(2) {
        let later = stack.get(&pair[1].address).unwrap();
        assert!(
            later.dependencies().any(|d| d == &pair[0].address),
            "{} does not wait for {}",
            pair[1].address,
            pair[0].address
        );
    }
}

/// `--only ecr` plans the repositories alone: seconds, not the database's minutes.
#[test]
fn the_estimate_of_a_scoped_plan_covers_only_its_components() {
    let stack = build(&prod()).unwrap();
    let ecr = stack.for_components(&[Component::Ecr]);
    let plan = with_estimate(crate::plan::plan_offline(&ecr), &ecr);
    assert!(plan.has_changes());
    assert_eq!(
        plan.estimated_duration_seconds,
        ResourceKind::EcrRepository.typical_duration().as_secs()
    );
    assert_eq!(plan.critical_path.len(), 1);
    assert_eq!(plan.critical_path[0].kind, ResourceKind::EcrRepository);
    let sentence = plan.eta_sentence().unwrap();
    assert!(
        sentence.starts_with("up takes about 2 s; longest: ecr.repository["),
        "{sentence}"
    );
}

/// A plan that changes nothing takes no time; a destroy plan is timed like `down` runs it.
#[tokio::test(start_paused = true)]
async fn no_changes_have_no_estimate_and_down_has_its_own() {
    let stack = build(&prod()).unwrap();
    let cloud = cloud_for(&stack);
    up(&cloud, &stack).await;
    let (_, again) = observe_and_plan(&cloud, &stack).await;
    assert!(!again.has_changes());
    assert_eq!(again.estimated_duration_seconds, 0);
    assert!(again.critical_path.is_empty());
    assert_eq!(again.eta_sentence(), None);

    let (plan, summary) = down(&cloud, &stack).await;
    assert!(summary.is_success());
    assert!(plan.estimated_duration_seconds > 0);
    assert!(
        plan.critical_path
            .iter()
            .all(|s| s.action == Action::Delete)
    );
    let took = summary.elapsed.as_secs_f64();
    let estimated = plan.estimated_duration_seconds as f64;
    assert!(
        estimated <= took + 1.0 && took <= estimated * 1.05 + 30.0,
        "estimated {estimated} s, took {took} s"
    );
    assert!(
        plan.eta_sentence()
            .unwrap()
            .starts_with("down takes about ")
    );
}
