//! `validate`: checks the profile offline.

use crate::cli::{CliError, ExitStatus, GlobalArgs, OutputFormat};

#[allow(clippy::print_stdout)]
pub fn exec(global: &GlobalArgs) -> Result<ExitStatus, CliError> {
    let (path, profile) = global.load_profile()?;
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
