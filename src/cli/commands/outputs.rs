//! `outputs`: endpoints and identifiers of what exists (cluster endpoint, DB writer
//! endpoint, master secret ARN, repository URIs, Atlas endpoint id and DNS). Reads only.

use bpa_infra::stack::Value;

use crate::cli::stack_context::StackContext;
use crate::cli::{CliError, ExitStatus, GlobalArgs, OutputFormat, live};

#[allow(clippy::print_stdout)]
pub fn exec(global: &GlobalArgs) -> Result<ExitStatus, CliError> {
    let context = StackContext::load(global, &[])?;
    let lives = live::runtime()?.block_on(async {
        let providers = context.providers(global, "outputs").await?;
        let live = context.observe(&context.full, &providers).await?;
        Ok::<_, CliError>(live.iter().cloned().collect::<Vec<_>>())
    })?;
    for warning in bpa_infra::provider::atlas::read_warnings(&lives) {
        tracing::warn!("{warning}");
    }
    let outputs = bpa_infra::outputs::collect(&lives);
    match global.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({ "format_version": 1, "profile": context.profile.name, "outputs": outputs })
        ),
        OutputFormat::Text => {
            if outputs.is_empty() {
                println!(
                    "No outputs: nothing of profile {} exists yet (run `bpa-infra up`).",
                    context.profile.name
                );
            }
            for (name, value) in &outputs {
                match value {
                    Value::Map(entries) => {
                        for (key, value) in entries {
                            println!("{name}[{key}] = {}", plain(value));
                        }
                    }
                    _ => println!("{name} = {}", plain(value)),
                }
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// Shows a value without quotes, so that `outputs | grep` gives what a script wants.
fn plain(value: &Value) -> String {
    match value.as_str() {
        Some(text) => text.to_owned(),
        None => value.to_string(),
    }
}
