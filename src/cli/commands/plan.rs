//! `plan`: what `up` would do, read from the live state (or against none with
//! `--offline`); never makes a mutating call.

use std::io::IsTerminal;
use std::path::PathBuf;

use bpa_infra::plan::{self, Plan, TextOptions};
use bpa_infra::stack::Component;
use clap::Args;

use crate::cli::stack_context::{StackContext, component_parser};
use crate::cli::{CliError, ExitStatus, GlobalArgs, OutputFormat, live};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Plan against no live state: no AWS call and no credentials needed
    #[arg(long)]
    pub offline: bool,
    /// Exit 2 when the plan has changes and 0 when it has none
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Save the plan to FILE, to apply it later with `up --plan FILE`
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Plan only these components and what they depend on
    #[arg(long, value_delimiter = ',', value_parser = component_parser(), value_name = "COMPONENTS")]
    pub only: Vec<Component>,
}

pub fn exec(global: &GlobalArgs, args: &PlanArgs) -> Result<ExitStatus, CliError> {
    let context = StackContext::load(global, &args.only)?;
    let plan = if args.offline {
        plan::plan_offline(&context.scoped)
    } else {
        live::runtime()?.block_on(async {
            let (aws, providers) = context.connect(global, "plan", &Default::default()).await?;
            let live = context.observe(&context.scoped, &providers).await?;
            let mut plan = context.plan_apply(&live, &providers);
            context.preflight(&aws, &mut plan).await;
            Ok::<Plan, CliError>(plan)
        })?
    };
    let mut plan = plan;
    plan.only = args.only.clone();
    if let Some(path) = &args.out {
        plan.save(path)?;
    }
    print_plan(global, &plan);
    if !plan.is_applicable() {
        return Err(CliError::cloud(format!("the plan has {} conflict(s)", plan.conflicts.len()))
            .hinted("each conflict says what blocks it: resources with the tool's names but not its ownership tags are never touched (rename or remove them, or change the profile's name); a pre-flight refusal needs a setting RDS accepts"));
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}

/// Prints a plan on stdout in the chosen format.
#[allow(clippy::print_stdout)]
pub fn print_plan(global: &GlobalArgs, plan: &Plan) {
    match global.output {
        OutputFormat::Json => print!("{}", plan::render_json(plan)),
        OutputFormat::Text => {
            let options = TextOptions {
                color: global.color(std::io::stdout().is_terminal()),
            };
            print!("{}", plan::render_text(plan, &options));
        }
    }
}
