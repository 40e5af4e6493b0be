//! `completions SHELL`: prints shell completions.

use clap::CommandFactory;

use crate::cli::{Cli, CliError, ExitStatus};

pub fn exec(shell: clap_complete::Shell) -> Result<ExitStatus, CliError> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "bpa-infra", &mut std::io::stdout());
    Ok(ExitStatus::Success)
}
