//! One module per command; each parses its own flags, calls the core and renders the result.

mod completions;
pub mod db;
pub mod plan;
pub mod render;
mod schema;
mod validate;

use super::{Cli, CliError, Command, ExitStatus};

/// Runs the selected command.
pub fn run(cli: &Cli) -> Result<ExitStatus, CliError> {
    match &cli.command {
        Command::Validate => validate::exec(&cli.global),
        Command::Schema => schema::exec(),
        Command::Completions { shell } => completions::exec(*shell),
        Command::Plan(args) => plan::exec(&cli.global, args),
        Command::Render(args) => render::exec(&cli.global, args),
        Command::Db { command } => db::exec(&cli.global, command),
    }
}
