//! One module per command; each parses its own flags, calls the core and renders the result.

pub mod apply;
mod completions;
pub mod db;
pub mod kubeconfig;
mod outputs;
pub mod plan;
pub mod render;
mod schema;
mod status;
mod validate;

use bpa_infra::stack::Component;

use super::{Cli, CliError, Command, ComponentAction, ExitStatus};

/// Runs the selected command.
pub fn run(cli: &Cli) -> Result<ExitStatus, CliError> {
    match &cli.command {
        Command::Validate => validate::exec(&cli.global),
        Command::Schema => schema::exec(),
        Command::Completions { shell } => completions::exec(*shell),
        Command::Plan(args) => plan::exec(&cli.global, args),
        Command::Up(args) => apply::up(&cli.global, args),
        Command::Down(args) => apply::down(&cli.global, args),
        Command::Status => status::exec(&cli.global),
        Command::Outputs => outputs::exec(&cli.global),
        Command::Kubeconfig(args) => kubeconfig::exec(&cli.global, args),
        Command::Eks { action } => component(&cli.global, Component::Eks, action),
        Command::Rds { action } => component(&cli.global, Component::Rds, action),
        Command::Ecr { action } => component(&cli.global, Component::Ecr, action),
        Command::Atlas { action } => component(&cli.global, Component::Atlas, action),
        Command::Render(args) => render::exec(&cli.global, args),
        Command::Db { command } => db::exec(&cli.global, command),
    }
}

/// Runs `plan`, `up` or `down` scoped to one component (plus the ones given by `--only`).
fn component(
    global: &super::GlobalArgs,
    component: Component,
    action: &ComponentAction,
) -> Result<ExitStatus, CliError> {
    let scoped = |only: &[Component]| {
        let mut only = only.to_vec();
        if !only.contains(&component) {
            only.push(component);
        }
        only
    };
    match action {
        ComponentAction::Plan(args) => plan::exec(
            global,
            &plan::PlanArgs {
                only: scoped(&args.only),
                out: args.out.clone(),
                markdown: args.markdown.clone(),
                ..*args
            },
        ),
        ComponentAction::Up(args) => apply::up(
            global,
            &apply::UpArgs {
                only: scoped(&args.only),
                plan: args.plan.clone(),
                lock: args.lock.clone(),
            },
        ),
        ComponentAction::Down(args) => apply::down(
            global,
            &apply::DownArgs {
                only: scoped(&args.only),
                ..args.clone()
            },
        ),
    }
}
