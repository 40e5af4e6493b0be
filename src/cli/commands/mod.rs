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

/// Runs `plan`, `up` or `down` scoped to one component; `--only` may name only that one.
fn component(
    global: &super::GlobalArgs,
    component: Component,
    action: &ComponentAction,
) -> Result<ExitStatus, CliError> {
    let only = match action {
        ComponentAction::Plan(args) => &args.only,
        ComponentAction::Up(args) => &args.only,
        ComponentAction::Down(args) => &args.only,
    };
    if let Some(other) = only.iter().find(|c| **c != component) {
        let verb = action.verb();
        return Err(CliError::usage(format!(
            "`{component} {verb} --only {other}`: the `{component}` subcommand works on {component} only"
        ))
        .hinted(format!(
            "run `bpa-infra {other} {verb}`, or `bpa-infra {verb} --only {component},{other}` for both"
        )));
    }
    if component == Component::Atlas {
        let (path, profile) = global.load_profile()?;
        if profile.atlas.is_none() {
            return Err(CliError::usage(format!(
                "profile {} ({}) has no `atlas` section: there is no Atlas private endpoint to {}",
                profile.name,
                path.display(),
                action.verb()
            ))
            .hinted("add an `atlas` section to the profile (see the README), or leave out the `atlas` subcommand"));
        }
    }
    let scoped = |_: &[Component]| vec![component];
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

impl ComponentAction {
    /// Returns the subcommand's name: `plan`, `up` or `down`.
    fn verb(&self) -> &'static str {
        match self {
            Self::Plan(_) => "plan",
            Self::Up(_) => "up",
            Self::Down(_) => "down",
        }
    }
}
