//! One module per command; each parses its own flags, calls the core and renders the result.

mod completions;
mod schema;
mod validate;

use super::{Cli, CliError, Command, ExitStatus};

/// Runs the selected command.
pub fn run(cli: &Cli) -> Result<ExitStatus, CliError> {
    match &cli.command {
        Command::Validate => validate::exec(&cli.global),
        Command::Schema => schema::exec(),
        Command::Completions { shell } => completions::exec(*shell),
    }
}
