//! `kubeconfig`: prints a kubeconfig for the profile's EKS cluster, or merges it into
//! the user's kubeconfig file with `--write`. Credentials come from `aws eks get-token`.

use std::path::PathBuf;

use bpa_infra::kubeconfig;
use clap::Args;

use crate::cli::stack_context::StackContext;
use crate::cli::{CliError, ExitStatus, GlobalArgs, OutputFormat, live};

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// Merge the entry into the kubeconfig file (and make it current) instead of printing it
    #[arg(long)]
    pub write: bool,
    /// Kubeconfig file for --write [default: first path of $KUBECONFIG, else ~/.kube/config]
    #[arg(long, value_name = "FILE", requires = "write")]
    pub kubeconfig: Option<PathBuf>,
}

#[allow(clippy::print_stdout)]
pub fn exec(global: &GlobalArgs, args: &KubeconfigArgs) -> Result<ExitStatus, CliError> {
    let context = StackContext::load(global, &[])?;
    let cluster = &context.profile.eks.cluster_name;
    let access = live::runtime()?.block_on(async {
        let aws = live::connect(global, &context.profile, "").await?;
        Ok::<_, CliError>(
            bpa_infra::provider::aws::cluster_access(aws.sdk_config(), cluster).await?,
        )
    })?;
    let access = access.ok_or_else(|| {
        CliError::cloud(format!(
            "EKS cluster {cluster} does not exist or has no endpoint yet"
        ))
        .hinted("run `bpa-infra up` (or `bpa-infra eks up`) first, and wait until it finishes")
    })?;
    let aws_profile = global.aws_profile.as_deref();
    if !args.write {
        match global.output {
            // The same kubeconfig as JSON, which kubectl reads as well (docs/json.md).
            OutputFormat::Json => println!(
                "{}",
                serde_json::to_string_pretty(&kubeconfig::kubeconfig(&access, aws_profile))
                    .expect("a kubeconfig is plain data")
            ),
            OutputFormat::Text => print!("{}", kubeconfig::to_yaml(&access, aws_profile)),
        }
        return Ok(ExitStatus::Success);
    }
    let path = args
        .kubeconfig
        .clone()
        .or_else(default_path)
        .ok_or_else(|| {
            CliError::usage("cannot tell where the kubeconfig file is")
                .hinted("pass --kubeconfig FILE, or set KUBECONFIG or HOME")
        })?;
    kubeconfig::merge_into_file(&path, &access, aws_profile)?;
    match global.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({
                "format_version": 1,
                "kubeconfig": path.display().to_string(),
                "context": access.arn,
                "cluster": cluster,
            })
        ),
        OutputFormat::Text => println!(
            "{}: context {} for cluster {cluster} is now current",
            path.display(),
            access.arn
        ),
    }
    Ok(ExitStatus::Success)
}

/// Returns where kubectl looks first: the first path of `KUBECONFIG`, else `~/.kube/config`.
fn default_path() -> Option<PathBuf> {
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        return std::env::split_paths(&list).next();
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".kube").join("config"))
}
