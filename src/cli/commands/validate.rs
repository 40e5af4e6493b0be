//! `validate`: checks the profile offline.

use bpa_infra::profile;

use crate::cli::{CliError, ExitStatus, GlobalArgs, OutputFormat};

#[allow(clippy::print_stdout)]
pub fn exec(global: &GlobalArgs) -> Result<ExitStatus, CliError> {
    let path = global.profile_path()?;
    let profile = profile::load(&path)?;
    match global.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({
                "format_version": 1,
                "profile": path.display().to_string(),
                "name": profile.name,
                "valid": true,
            })
        ),
        OutputFormat::Text => {
            if !global.quiet {
                println!(
                    "{}: valid profile `{}` ({})",
                    path.display(),
                    profile.name,
                    profile.region
                );
            }
        }
    }
    Ok(ExitStatus::Success)
}
