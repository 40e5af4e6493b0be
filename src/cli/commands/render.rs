//! `render`: writes the Kubernetes-side files (manifests, Helm values, scripts).

use std::path::{Path, PathBuf};

use bpa_infra::profile::{AtlasTarget, Profile};
use bpa_infra::render::{self, FileKind, LiveOutputs, RenderedFile, Templates};
use bpa_infra::stack::Component;
use clap::Args;

use crate::cli::stack_context::StackContext;
use crate::cli::{CliError, ExitStatus, GlobalArgs, OutputFormat, live};

/// Flags of `render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Write the files to this directory [default: rendered/<profile name>]
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Use the `*.j2` templates in this directory instead of the built-in ones of the same name
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Read nothing from AWS: values from the deployed stack render as placeholders
    #[arg(long)]
    pub offline: bool,
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
pub fn exec(global: &GlobalArgs, args: &RenderArgs) -> Result<ExitStatus, CliError> {
    let (_, profile) = global.load_profile()?;
    let templates = match &args.templates {
        Some(dir) => Templates::with_overrides(dir)?,
        None => Templates::embedded(),
    };
    let outputs = if args.offline {
        LiveOutputs::default()
    } else {
        let mut outputs = live::outputs(global, &profile)?;
        outputs.atlas_host = atlas_host(global, &profile);
        outputs
    };
    let files = render::render_all(&profile, &outputs, &templates)?;

    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| Path::new("rendered").join(&profile.name));
    let written = write_files(&out_dir, &files)?;

    match global.output {
        OutputFormat::Json => println!("{}", json_report(&profile, &out_dir, &files, &written)),
        OutputFormat::Text => {
            for path in &written {
                println!("{}", path.display());
            }
            if !global.quiet {
                eprint!("{}", notes(&files, args.offline));
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// The Atlas cluster's private-endpoint host, when the profile drives the Atlas Admin
/// API (`atlas.project_id`): the host of the private connection string Atlas gives for
/// the profile's endpoint, read through the providers as `outputs` does. Atlas gives it
/// only once a cluster uses the endpoint; without it (or when Atlas cannot be read, e.g.
/// no credentials: logged) the file shows a placeholder saying how to get it.
fn atlas_host(global: &GlobalArgs, profile: &Profile) -> Option<String> {
    let uses_api = profile
        .atlas
        .as_ref()
        .is_some_and(|a| matches!(a.target, AtlasTarget::Project { .. }));
    if !uses_api {
        return None;
    }
    let read = || -> Result<Option<String>, CliError> {
        let context = StackContext::load(global, &[Component::Atlas])?;
        let lives = live::runtime()?.block_on(async {
            let providers = context.providers(global, "render").await?;
            let live = context.observe(&context.scoped, &providers).await?;
            Ok::<_, CliError>(live.iter().cloned().collect::<Vec<_>>())
        })?;
        Ok(bpa_infra::outputs::collect(&lives)
            .get("atlas_private_connection_string")
            .and_then(|v| v.as_str())
            .and_then(render::connection_string_host))
    };
    match read() {
        Ok(host) => host,
        Err(err) => {
            tracing::warn!("the Atlas private-endpoint host could not be read: {err}");
            None
        }
    }
}

fn write_files(out_dir: &Path, files: &[RenderedFile]) -> Result<Vec<PathBuf>, CliError> {
    std::fs::create_dir_all(out_dir).map_err(|err| {
        CliError::local(format!(
            "cannot create output directory {}: {err}",
            out_dir.display()
        ))
    })?;
    files
        .iter()
        .map(|file| {
            let path = out_dir.join(&file.name);
            std::fs::write(&path, &file.contents).map_err(|err| {
                CliError::local(format!("cannot write {}: {err}", path.display()))
            })?;
            if file.kind == FileKind::Script {
                make_executable(&path)?;
            }
            Ok(path)
        })
        .collect()
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|err| CliError::local(format!("cannot make {} executable: {err}", path.display())))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<(), CliError> {
    Ok(())
}

/// What the user should know after rendering, for stderr.
fn notes(files: &[RenderedFile], offline: bool) -> String {
    let mut text = String::new();
    let mut unknowns: Vec<&str> = Vec::new();
    for file in files {
        for unknown in &file.unknowns {
            if !unknowns.contains(&unknown.as_str()) {
                unknowns.push(unknown);
            }
        }
    }
    if !unknowns.is_empty() {
        text.push_str(&format!(
            "{} value(s) are not known yet and render as placeholders{}:\n",
            unknowns.len(),
            if offline { " (--offline)" } else { "" }
        ));
        for unknown in unknowns {
            text.push_str(&format!("  {unknown}\n"));
        }
    }
    if files.iter().any(|f| f.name == "db-init-secret.sh") {
        text.push_str(&format!(
            "note: no password is rendered; db-init-secret.sh creates the Secrets {} and {} from your environment\n",
            render::DB_MASTER_SECRET,
            render::DB_SECRET
        ));
    }
    text
}

fn json_report(
    profile: &Profile,
    out_dir: &Path,
    files: &[RenderedFile],
    written: &[PathBuf],
) -> serde_json::Value {
    serde_json::json!({
        "format_version": 1,
        "profile": profile.name,
        "out_dir": out_dir.display().to_string(),
        "files": files.iter().zip(written).map(|(file, path)| serde_json::json!({
            "path": path.display().to_string(),
            "template": file.template,
            "kind": file.kind,
            "unknowns": file.unknowns,
        })).collect::<Vec<_>>(),
    })
}
