//! `render`: writes the Kubernetes-side files (manifests, Helm values, scripts).

use std::path::{Path, PathBuf};

use bpa_infra::profile::{AtlasTarget, Profile};
use bpa_infra::render::{self, FileKind, LiveOutputs, RenderedFile, Templates};
use bpa_infra::stack::{Resource, ResourceKind};
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
    // Offline, only the profile is needed; live, its stack says what to read.
    let (context, profile) = if args.offline {
        (None, global.load_profile()?.1)
    } else {
        let context = StackContext::load(global, &[])?;
        let profile = context.profile.clone();
        (Some(context), profile)
    };
    let templates = match &args.templates {
        Some(dir) => Templates::with_overrides(dir)?,
        None => Templates::embedded(),
    };
    let outputs = match &context {
        None => LiveOutputs::default(),
        Some(context) => live_outputs(global, context)?,
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

/// Tells whether the rendered files use the outputs of `resource`: the EKS cluster, the
/// database, the repositories, the pod subnets and the VPC endpoint to Atlas.
fn rendered_from(resource: &Resource) -> bool {
    match resource.kind {
        ResourceKind::EksCluster
        | ResourceKind::DbCluster
        | ResourceKind::DbInstance
        | ResourceKind::EcrRepository
        | ResourceKind::VpcEndpoint => true,
        ResourceKind::Subnet => resource
            .address
            .key()
            .is_some_and(|key| key.starts_with("pod/")),
        _ => false,
    }
}

/// Reads what the files use from the profile's stack, as `plan` and `outputs` read it.
/// A resource that does not exist yet leaves its values unset (the file shows a
/// placeholder); one of the profile's names that is not the profile's stops the command.
///
/// The Atlas cluster's private-endpoint host is read too when the profile drives the
/// Atlas Admin API (`atlas.project_id`): the host of the private connection string
/// Atlas gives for the profile's endpoint, once a cluster uses it. When Atlas cannot be
/// read (e.g. no credentials) that is logged and the file shows a placeholder saying how
/// to get it.
fn live_outputs(global: &GlobalArgs, context: &StackContext) -> Result<LiveOutputs, CliError> {
    let uses_api = context
        .profile
        .atlas
        .as_ref()
        .is_some_and(|a| matches!(a.target, AtlasTarget::Project { .. }));
    live::runtime()?.block_on(async {
        let providers = context.providers(global, "render").await?;
        let mut lives = context.read_ours(&providers, rendered_from).await?;
        if uses_api {
            let endpoint = |r: &Resource| r.kind == ResourceKind::AtlasEndpoint;
            match context.read_ours(&providers, endpoint).await {
                Ok(found) => {
                    for warning in bpa_infra::provider::atlas::read_warnings(&found) {
                        tracing::warn!("{warning}");
                    }
                    lives.extend(found)
                }
                Err(err) => {
                    tracing::warn!("the Atlas private-endpoint host could not be read: {err}")
                }
            }
        }
        Ok(LiveOutputs::from_outputs(&bpa_infra::outputs::collect(
            &lives,
        )))
    })
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
