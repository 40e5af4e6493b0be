//! `schema`: prints the JSON Schema of the profile, for editors and CI checks.

use crate::cli::{CliError, ExitStatus};

#[allow(clippy::print_stdout)]
pub fn exec() -> Result<ExitStatus, CliError> {
    let schema = bpa_infra::profile::schema();
    println!(
        "{}",
        serde_json::to_string_pretty(&schema).expect("a schema serialises")
    );
    Ok(ExitStatus::Success)
}
