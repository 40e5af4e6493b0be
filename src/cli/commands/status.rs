//! `status`: what exists of the profile's stack, in what state, owned by whom, and how
//! it drifted from the profile. Reads only.

use bpa_infra::plan::Action;
use bpa_infra::provider::{ObservedOwnership, Status};
use serde::Serialize;

use crate::cli::stack_context::StackContext;
use crate::cli::{CliError, ExitStatus, GlobalArgs, OutputFormat, live};

/// One resource's line in the status.
#[derive(Debug, Serialize)]
struct Row {
    address: String,
    kind: String,
    /// The cloud's id; `None` when the resource does not exist.
    id: Option<String>,
    /// `missing`, `ready`, `in_progress: …`, `failed: …`.
    state: String,
    /// `owned`, `adopted`, `unowned`, `profile <name>`; `None` when missing.
    owner: Option<String>,
    /// What `up` would do: `no-op`, `create`, `update` (with attributes), `replace`.
    drift: String,
    drifted_attributes: Vec<String>,
}

#[allow(clippy::print_stdout)]
pub fn exec(global: &GlobalArgs) -> Result<ExitStatus, CliError> {
    let context = StackContext::load(global, &[])?;
    let (live, plan) = live::runtime()?.block_on(async {
        let providers = context.providers(global, "status").await?;
        let live = context.observe(&context.full, &providers).await?;
        let plan = bpa_infra::plan::plan_apply(&context.full, &live, &providers);
        Ok::<_, CliError>((live, plan))
    })?;
    let rows: Vec<Row> = context
        .full
        .resources()
        .iter()
        .map(|resource| {
            let found = live.get(&resource.address);
            let change = plan.change(&resource.address);
            Row {
                address: resource.address.to_string(),
                kind: resource.kind.to_string(),
                id: found.map(|l| l.id.clone()),
                state: match found.map(|l| &l.status) {
                    None => "missing".into(),
                    Some(Status::Ready) => "ready".into(),
                    Some(Status::InProgress(what)) => format!("in progress: {what}"),
                    Some(Status::Failed(why)) => format!("failed: {why}"),
                },
                owner: found.map(|l| match &l.ownership {
                    ObservedOwnership::Owned => "owned".into(),
                    ObservedOwnership::Adopted => "adopted".into(),
                    ObservedOwnership::Unowned => "unowned (conflict)".into(),
                    ObservedOwnership::OtherProfile { profile } => {
                        format!("profile {profile} (conflict)")
                    }
                    ObservedOwnership::OtherStack { profile, region } => {
                        format!("profile {profile} in {region} (conflict)")
                    }
                    ObservedOwnership::Legacy => "made before 0.2, unused (conflict)".into(),
                }),
                drift: change
                    .map_or(Action::NoOp, |c| c.action)
                    .as_str()
                    .to_owned(),
                drifted_attributes: change
                    .map(|c| c.diffs.iter().map(|d| d.attribute.clone()).collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    match global.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({
                "format_version": 1,
                "profile": context.profile.name,
                "resources": rows,
                "leftovers": live.leftovers().iter().map(|l| l.address.to_string()).collect::<Vec<_>>(),
                "counts": plan.counts(),
            })
        ),
        OutputFormat::Text => {
            let width = rows
                .iter()
                .map(|r| r.address.len())
                .max()
                .unwrap_or(7)
                .max(7);
            println!(
                "{:width$}  {:26}  {:12}  {:18}  DRIFT",
                "ADDRESS", "KIND", "STATE", "OWNER"
            );
            for row in &rows {
                let drift = if row.drifted_attributes.is_empty() {
                    row.drift.clone()
                } else {
                    format!("{} ({})", row.drift, row.drifted_attributes.join(", "))
                };
                println!(
                    "{:width$}  {:26}  {:12}  {:18}  {drift}",
                    row.address,
                    row.kind,
                    row.state,
                    row.owner.as_deref().unwrap_or("-"),
                );
            }
            for leftover in live.leftovers() {
                println!(
                    "{:width$}  {:26}  {:12}  {:18}  delete (no longer in the profile)",
                    leftover.address.to_string(),
                    leftover.kind.to_string(),
                    "ready",
                    "owned"
                );
            }
            println!("\n{}", plan.summary());
        }
    }
    Ok(ExitStatus::Success)
}
