//! The pre-flight checks of a plan: before anything is applied, each resource the plan
//! creates, replaces or updates is checked by its provider against what the cloud
//! accepts ([`ResourceProvider::preflight`](crate::provider::ResourceProvider::preflight)),
//! and what the cloud would reject becomes a conflict.

use crate::provider::{Finding, Proposal, ProviderError, Providers, Severity};
use crate::stack::Stack;

use super::{Action, Plan};

/// Runs the pre-flight checks of every resource of `stack` that `plan` creates, replaces
/// or updates, with the provider of its kind, and refuses in `plan` every change an error
/// finding is about (the cloud said it would reject it), so that neither `plan` nor `up`
/// goes on as if it could be applied. Returns every finding, warnings included.
pub async fn preflight(
    stack: &Stack,
    plan: &mut Plan,
    providers: &Providers,
) -> Result<Vec<Finding>, ProviderError> {
    let mut findings = Vec::new();
    let mut refusals = Vec::new();
    for resource in stack.resources() {
        let Some(change) = plan.change(&resource.address) else {
            continue;
        };
        let attributes: Vec<&str> = change.diffs.iter().map(|d| d.attribute.as_str()).collect();
        let proposal = match change.action {
            Action::Create | Action::Replace => Proposal::Create,
            Action::Update => Proposal::Update(&attributes),
            Action::Delete | Action::NoOp => continue,
        };
        let Some(provider) = providers.get(resource.kind) else {
            continue;
        };
        for finding in provider.preflight(resource, proposal).await? {
            if finding.severity == Severity::Error {
                refusals.push((
                    finding.address.clone(),
                    resource.kind,
                    finding.message.clone(),
                ));
            }
            findings.push(finding);
        }
    }
    for (address, kind, message) in refusals {
        plan.refuse(address, kind, format!("pre-flight check: {message}"));
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use aws_smithy_mocks::{Rule, mock};

    use super::*;
    use crate::plan::{
        Change, Diff, FORMAT_VERSION, Operation, TextOptions, render_json, render_text,
    };
    use crate::provider::aws::ProviderOptions;
    use crate::provider::aws::rds::DbClusterProvider;
    use crate::provider::aws::rds::test_support::{
        cluster_address, cluster_resource, cluster_spec, engine_versions, orderable, rds,
    };
    use crate::stack::{ResourceKind, Spec, Value};

    /// The providers of a plan with one Multi-AZ DB cluster, over mocked RDS.
    fn clusters(rules: &[&Rule]) -> Providers {
        let provider = DbClusterProvider::new(rds(rules, ProviderOptions::default()));
        Providers::new().with(&[ResourceKind::DbCluster], Arc::new(provider))
    }

    fn one_change(action: Action, diffs: &[(&str, Value, Value)]) -> Plan {
        Plan {
            format_version: FORMAT_VERSION,
            profile: "prod".into(),
            region: None,
            account: None,
            only: Vec::new(),
            estimated_duration_seconds: 0,
            critical_path: Vec::new(),
            operation: Operation::Apply,
            changes: vec![Change {
                address: cluster_address(),
                kind: ResourceKind::DbCluster,
                action,
                id: None,
                diffs: diffs
                    .iter()
                    .map(|(attribute, before, after)| Diff {
                        attribute: (*attribute).to_owned(),
                        before: Some(before.clone()),
                        after: Some(after.clone()),
                    })
                    .collect(),
                reason: None,
                needs_reboot: false,
            }],
            conflicts: Vec::new(),
        }
    }

    fn one_cluster_stack(spec: Spec) -> Stack {
        Stack::new("prod", vec![cluster_resource(spec)]).unwrap()
    }

    #[tokio::test]
    async fn a_plan_creating_a_database_rds_would_reject_is_refused() {
        let versions = engine_versions(&["16.4"]);
        let options = orderable(false);
        let providers = clusters(&[&versions, &options]);
        let stack = one_cluster_stack(cluster_spec());
        let mut plan = one_change(Action::Create, &[]);
        assert!(plan.is_applicable());

        let findings = preflight(&stack, &mut plan, &providers).await.unwrap();

        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(!plan.is_applicable(), "an error finding blocks the plan");
        assert_eq!(plan.conflicts.len(), 1);
        assert_eq!(plan.conflicts[0].address, cluster_address());
        assert_eq!(plan.conflicts[0].kind, ResourceKind::DbCluster);
        assert_eq!(
            plan.conflicts[0].reason,
            "pre-flight check: instance class db.m5d.2xlarge is orderable for PostgreSQL 16.4, but not as a Multi-AZ DB cluster"
        );
        let text = render_text(&plan, &TextOptions { color: false });
        assert!(text.contains("not as a Multi-AZ DB cluster"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&render_json(&plan)).unwrap();
        assert_eq!(json["conflicts"][0]["address"], "rds.cluster", "{json}");
    }

    #[tokio::test]
    async fn a_plan_changing_the_class_or_version_is_checked_and_other_updates_are_not() {
        let versions = engine_versions(&["16.4"]);
        let options = orderable(false);
        let providers = clusters(&[&versions, &options]);
        let stack = one_cluster_stack(cluster_spec());

        // A backup setting says nothing about what RDS can order: no check, no refusal.
        let mut backups = one_change(
            Action::Update,
            &[("backup_retention_period", 7u32.into(), 14u32.into())],
        );
        assert_eq!(
            preflight(&stack, &mut backups, &providers).await.unwrap(),
            vec![]
        );
        assert!(backups.is_applicable());
        assert_eq!(versions.num_calls() + options.num_calls(), 0);

        // The instance class and the engine version are checked as on create.
        for attribute in ["db_cluster_instance_class", "engine_version"] {
            let mut plan = one_change(
                Action::Update,
                &[(attribute, "before".into(), "after".into())],
            );
            preflight(&stack, &mut plan, &providers).await.unwrap();
            assert!(!plan.is_applicable(), "{attribute}: {plan:?}");
            assert!(
                plan.conflicts[0]
                    .reason
                    .contains("not as a Multi-AZ DB cluster"),
                "{attribute}: {:?}",
                plan.conflicts
            );
        }
        assert_eq!(options.num_calls(), 2);

        // Nothing to check for a change that is not planned.
        let mut nothing = one_change(Action::NoOp, &[]);
        preflight(&stack, &mut nothing, &providers).await.unwrap();
        assert!(nothing.is_applicable());
        assert_eq!(options.num_calls(), 2);
    }

    #[tokio::test]
    async fn a_check_that_cannot_be_made_does_not_refuse_the_plan() {
        let failing = mock!(aws_sdk_rds::Client::describe_db_engine_versions)
            .sequence()
            .http_status(500, None)
            .repeatedly()
            .build();
        let options = orderable(true);
        let providers = clusters(&[&failing, &options]);
        let stack = one_cluster_stack(cluster_spec());
        let mut plan = one_change(Action::Create, &[]);
        let findings = preflight(&stack, &mut plan, &providers).await.unwrap();
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].severity, Severity::Warning);
        assert!(plan.is_applicable(), "{:?}", plan.conflicts);
    }
}
