//! Kubernetes-side files: manifests, a Helm values overlay and two helper scripts,
//! rendered from `templates/` with values from the profile and from live outputs.
//!
//! Rendering is a pure function of the profile, the [`LiveOutputs`] and the
//! [`Templates`]. A value that is not known yet (nothing deployed, or `--offline`)
//! renders as a placeholder `<unknown: what — how to get it>`, quoted so the file stays
//! valid; [`RenderedFile::unknowns`] lists the ones in each file. Every `.yaml` file is
//! checked to parse as YAML before it is returned.

mod context;
mod filters;
mod outputs;
mod templates;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

use crate::profile::Profile;

pub use context::{
    DB_INIT_CONFIG_MAP, DB_INIT_JOB, DB_MASTER_SECRET, DB_SECRET, DEFAULT_NAMESPACE, INGRESS_NAME,
    KIE_CONFIG_MAP, PLACEHOLDER_START, SERVICE_NAME, TLS_SECRET, unknown,
};
pub use filters::{shell_word, yaml_scalar};
pub use outputs::{LiveOutputs, connection_string_host};
pub use templates::{Origin, TEMPLATE_EXTENSION, Templates, output_name};

/// What a rendered file is, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// `.yaml`/`.yml`: checked to parse, may hold several documents.
    Yaml,
    /// `.sh`: meant to be executable.
    Script,
    /// Anything else, written as rendered.
    Other,
}

impl FileKind {
    fn of(name: &str) -> Self {
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            Self::Yaml
        } else if name.ends_with(".sh") {
            Self::Script
        } else {
            Self::Other
        }
    }
}

/// One rendered file.
#[derive(Debug, Clone)]
pub struct RenderedFile {
    /// File name, e.g. `bpm-ingress.yaml`.
    pub name: String,
    /// Template it came from, e.g. `bpm-ingress.yaml.j2`.
    pub template: String,
    pub kind: FileKind,
    pub contents: String,
    /// The placeholders in the file, without duplicates, in order of appearance.
    pub unknowns: Vec<String>,
}

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot read templates directory {}", path.display())]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read template {}", path.display())]
    ReadTemplate {
        path: PathBuf,
        #[source]
        source: crate::profile::input::InputError,
    },
    #[error("no `*{TEMPLATE_EXTENSION}` template in {}", path.display())]
    NoTemplates { path: PathBuf },
    #[error("template {template} ({origin}) does not render")]
    Template {
        template: String,
        origin: Origin,
        #[source]
        source: minijinja::Error,
    },
    #[error("{file} (from template {template}, {origin}) is not valid YAML")]
    InvalidYaml {
        file: String,
        template: String,
        origin: Origin,
        #[source]
        source: serde_yaml::Error,
    },
}

/// Renders every file template with values from the profile and the live outputs.
pub fn render_all(
    profile: &Profile,
    outputs: &LiveOutputs,
    templates: &Templates,
) -> Result<Vec<RenderedFile>, RenderError> {
    let env = environment(templates)?;
    let context = Value::from(Serde(context::Context::new(profile, outputs)));
    let origin = |name: &str| templates.origin(name).cloned().unwrap_or(Origin::Embedded);
    templates
        .file_templates()
        .map(|template| {
            let contents = env
                .get_template(template)
                .and_then(|t| t.render(&context))
                .map_err(|source| RenderError::Template {
                    template: template.to_owned(),
                    origin: origin(template),
                    source,
                })?;
            let name = output_name(template).to_owned();
            let kind = FileKind::of(&name);
            if kind == FileKind::Yaml {
                check_yaml(&contents).map_err(|source| RenderError::InvalidYaml {
                    file: name.clone(),
                    template: template.to_owned(),
                    origin: origin(template),
                    source,
                })?;
            }
            Ok(RenderedFile {
                unknowns: placeholders(&contents),
                name,
                template: template.to_owned(),
                kind,
                contents,
            })
        })
        .collect()
}

fn environment(templates: &Templates) -> Result<Environment<'static>, RenderError> {
    let mut env = Environment::new();
    // A misspelt variable must fail, not render as an empty string in a manifest.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are valid"),
    );
    filters::register(&mut env);
    for (name, source, origin) in templates.iter() {
        env.add_template_owned(name.to_owned(), source.to_owned())
            .map_err(|source| RenderError::Template {
                template: name.to_owned(),
                origin: origin.clone(),
                source,
            })?;
    }
    Ok(env)
}

/// Parses every document of a YAML stream.
fn check_yaml(text: &str) -> Result<(), serde_yaml::Error> {
    use serde::Deserialize;
    for document in serde_yaml::Deserializer::from_str(text) {
        serde_yaml::Value::deserialize(document)?;
    }
    Ok(())
}

/// Finds the placeholders in rendered text.
fn placeholders(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(PLACEHOLDER_START) {
        let tail = &rest[start..];
        let Some(end) = tail.find('>') else { break };
        let placeholder = &tail[..=end];
        if !found.iter().any(|p| p == placeholder) {
            found.push(placeholder.to_owned());
        }
        rest = &tail[end + 1..];
    }
    found
}
