//! Errors at the CLI edge: classification, hints and exit codes (DESIGN.md §5).

use std::fmt;
use std::process::ExitCode;

use bpa_infra::profile::input::InputError;
use bpa_infra::profile::{LoadError, ProfileErrors};

use super::OutputFormat;

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: success (with `--detailed-exitcode`: and no changes).
    Success,
    /// 1: failure while talking to the cloud or applying.
    Failure,
    /// 2: the plan has changes (`--detailed-exitcode` only).
    Changes,
    /// 64: usage error.
    Usage,
    /// 65: invalid profile.
    InvalidProfile,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(match status {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Changes => 2,
            ExitStatus::Usage => 64,
            ExitStatus::InvalidProfile => 65,
        })
    }
}

/// An error ready to be shown to the user.
#[derive(Debug)]
pub enum CliError {
    /// The profile does not validate: every error with its line.
    InvalidProfile(ProfileErrors),
    /// Anything else: a message, an optional hint, and the exit status it maps to.
    Message {
        status: ExitStatus,
        message: String,
        hint: Option<String>,
    },
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Message {
            status: ExitStatus::Usage,
            message: message.into(),
            hint: None,
        }
    }

    pub fn invalid_profile(message: impl Into<String>) -> Self {
        Self::Message {
            status: ExitStatus::InvalidProfile,
            message: message.into(),
            hint: None,
        }
    }

    pub fn failure(message: impl Into<String>) -> Self {
        Self::Message {
            status: ExitStatus::Failure,
            message: message.into(),
            hint: None,
        }
    }

    pub fn hinted(mut self, text: impl Into<String>) -> Self {
        if let Self::Message { hint, .. } = &mut self {
            *hint = Some(text.into());
        }
        self
    }

    pub fn status(&self) -> ExitStatus {
        match self {
            Self::InvalidProfile(_) => ExitStatus::InvalidProfile,
            Self::Message { status, .. } => *status,
        }
    }

    /// Writes the error to stderr (or, with `--output json`, a JSON document to stdout).
    #[allow(clippy::print_stderr, clippy::print_stdout)]
    pub fn report(&self, output: OutputFormat, color: bool) {
        if output == OutputFormat::Json {
            println!("{}", self.to_json());
            return;
        }
        match self {
            Self::InvalidProfile(errors) => {
                let theme = if color {
                    miette::GraphicalTheme::unicode()
                } else {
                    miette::GraphicalTheme::unicode_nocolor()
                };
                let handler =
                    miette::GraphicalReportHandler::new_themed(theme).with_context_lines(1);
                let mut out = String::new();
                if handler.render_report(&mut out, errors).is_err() {
                    out = errors.to_plain_text();
                }
                eprint!("{out}");
            }
            Self::Message { message, hint, .. } => {
                eprintln!("error: {message}");
                if let Some(hint) = hint {
                    eprintln!("hint: {hint}");
                }
            }
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Self::InvalidProfile(errors) => serde_json::json!({
                "format_version": 1,
                "error": "invalid_profile",
                "profile": errors.origin,
                "errors": errors.errors().map(|e| serde_json::json!({
                    "path": e.path,
                    "line": e.location.map(|l| l.line),
                    "column": e.location.map(|l| l.column),
                    "message": e.message,
                    "hint": e.hint,
                })).collect::<Vec<_>>(),
            }),
            Self::Message {
                status,
                message,
                hint,
            } => serde_json::json!({
                "format_version": 1,
                "error": match status {
                    ExitStatus::Usage => "usage",
                    ExitStatus::InvalidProfile => "invalid_profile",
                    _ => "failure",
                },
                "message": message,
                "hint": hint,
            }),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidProfile(errors) => write!(f, "{errors}"),
            Self::Message { message, .. } => f.write_str(message),
        }
    }
}

impl From<LoadError> for CliError {
    fn from(err: LoadError) -> Self {
        match err {
            LoadError::Invalid(errors) => Self::InvalidProfile(errors),
            LoadError::Read { path, source } => {
                let not_found = matches!(&source, InputError::Io(e) if e.kind() == std::io::ErrorKind::NotFound);
                let hint = if not_found {
                    Some(format!(
                        "profile names resolve to profiles/NAME.yaml relative to the current directory; \
                         check that {} exists or pass a path",
                        path.display()
                    ))
                } else {
                    source.hint()
                };
                Self::Message {
                    status: ExitStatus::InvalidProfile,
                    message: format!("cannot read profile {}: {source}", path.display()),
                    hint,
                }
            }
        }
    }
}
