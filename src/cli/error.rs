//! The one error type of the command line: what kind of failure it is (which decides
//! the exit code), the error itself with its causes (kept until it is printed), and any
//! number of hints. Every core error becomes one here, by the one `From` of its type,
//! so that commands use `?`; classification, hints and exit codes live only here and
//! nowhere in the library (see docs/architecture.md, "Errors").

use std::error::Error;
use std::fmt;
use std::process::ExitCode;

use bpa_infra::aws::{AwsError, AwsErrorKind};
use bpa_infra::dbinit::DbInitError;
use bpa_infra::engine::ApplyError;
use bpa_infra::kubeconfig::KubeconfigError;
use bpa_infra::lock::LockError;
use bpa_infra::plan::{ObserveError, PlanFileError};
use bpa_infra::profile::input::InputError;
use bpa_infra::profile::{LoadError, ProfileErrors};
use bpa_infra::provider::ProviderError;
use bpa_infra::render::RenderError;

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
    /// 130: stopped by Ctrl-C (128 + SIGINT, the shells' convention).
    Interrupted,
}

impl ExitStatus {
    /// Returns the process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Failure => 1,
            Self::Changes => 2,
            Self::Usage => 64,
            Self::InvalidProfile => 65,
            Self::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}

/// What kind of failure an error is: who can fix it, and the exit code it maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command line or the environment is wrong (flags, variables): exit 64.
    Usage,
    /// The profile does not validate or cannot be read: exit 65.
    Profile,
    /// A cloud (AWS, Atlas, the database) failed, refused, or is not in a state the
    /// command can work with: exit 1.
    Cloud,
    /// Something on this machine failed: a file, the terminal: exit 1.
    Local,
    /// A bug in bpa-infra: exit 1.
    Internal,
    /// The user stopped the run (Ctrl-C): exit 130.
    Interrupted,
}

impl ErrorKind {
    /// Returns the exit status this kind of failure ends the process with.
    pub fn status(self) -> ExitStatus {
        match self {
            Self::Usage => ExitStatus::Usage,
            Self::Profile => ExitStatus::InvalidProfile,
            Self::Cloud | Self::Local | Self::Internal => ExitStatus::Failure,
            Self::Interrupted => ExitStatus::Interrupted,
        }
    }

    /// Returns the `error` field of the JSON error document (`--output json`).
    fn json_name(self) -> &'static str {
        match self {
            Self::Usage => "usage",
            Self::Profile => "invalid_profile",
            Self::Cloud | Self::Local | Self::Internal => "failure",
            Self::Interrupted => "interrupted",
        }
    }
}

/// The source of a [`CliError`]: any error, or a message (`String` and `&str` convert).
pub type BoxError = Box<dyn Error + Send + Sync>;

/// An error ready to be shown to the user.
#[derive(Debug)]
pub struct CliError {
    pub kind: ErrorKind,
    /// The error with its causes; printed as one line (`top: cause: cause`), except a
    /// profile's errors, which are rendered with the lines they point at.
    pub error: BoxError,
    /// What the user can do about it, one `hint:` line each.
    pub hints: Vec<String>,
}

impl CliError {
    /// Makes an error of `kind` without hints.
    pub fn new(kind: ErrorKind, error: impl Into<BoxError>) -> Self {
        Self {
            kind,
            error: error.into(),
            hints: Vec::new(),
        }
    }

    /// Makes a usage error: the command line or the environment is wrong.
    pub fn usage(error: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::Usage, error)
    }

    /// Makes an error about the profile.
    pub fn invalid_profile(error: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::Profile, error)
    }

    /// Makes an error about the cloud: a call failed, or the state blocks the command.
    pub fn cloud(error: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::Cloud, error)
    }

    /// Makes an error about this machine: a file, the terminal.
    pub fn local(error: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::Local, error)
    }

    /// Makes an error that only a bug in bpa-infra explains.
    pub fn internal(error: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::Internal, error)
    }

    /// Makes the error of a run stopped by Ctrl-C.
    pub fn interrupted(error: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::Interrupted, error)
    }

    /// Adds a hint, shown after the ones already there.
    pub fn hinted(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Turns an AWS error into a CLI error with a hint; `alternative` (may be empty) is
    /// one more hint line, how the command can do without AWS (`plan --offline`), given
    /// when AWS cannot be used at all (no credentials, no such profile, unreachable).
    pub fn from_aws(err: AwsError, alternative: &str) -> Self {
        let (kind, hint) = match err.kind {
            AwsErrorKind::NoCredentials => (
                ErrorKind::Cloud,
                Some("configure AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, `--aws-profile NAME`, or `aws sso login`".to_owned()),
            ),
            AwsErrorKind::NoSuchProfile => (
                ErrorKind::Usage,
                Some("check the name (`aws configure list-profiles` lists them), or create it with `aws configure --profile NAME`".to_owned()),
            ),
            AwsErrorKind::Unreachable => (
                ErrorKind::Cloud,
                Some("check --endpoint-url / AWS_ENDPOINT_URL (is the emulator or proxy running?), the network, and HTTPS_PROXY".to_owned()),
            ),
            AwsErrorKind::AccessDenied => (
                ErrorKind::Cloud,
                Some(format!(
                    "the credentials in use lack the permission for {}",
                    err.operation
                )),
            ),
            AwsErrorKind::Other => (ErrorKind::Cloud, None),
        };
        let without_aws = matches!(
            err.kind,
            AwsErrorKind::NoCredentials | AwsErrorKind::NoSuchProfile | AwsErrorKind::Unreachable
        );
        let mut error = Self::new(kind, err);
        if let Some(hint) = hint {
            error = error.hinted(hint);
        }
        if without_aws && !alternative.is_empty() {
            error = error.hinted(alternative);
        }
        error
    }

    pub fn status(&self) -> ExitStatus {
        self.kind.status()
    }

    /// The profile's errors, when that is what this error is.
    fn profile_errors(&self) -> Option<&ProfileErrors> {
        self.error.downcast_ref::<ProfileErrors>()
    }

    /// The hints as one text: the JSON document has room for one `hint`.
    fn hint_text(&self) -> Option<String> {
        (!self.hints.is_empty()).then(|| self.hints.join("\n"))
    }

    /// Writes the error to stderr (or, with `--output json`, a JSON document to stdout).
    #[allow(clippy::print_stderr, clippy::print_stdout)]
    pub fn report(&self, output: OutputFormat, color: bool) {
        if output == OutputFormat::Json {
            println!("{}", self.to_json());
            return;
        }
        if let Some(errors) = self.profile_errors() {
            let theme = if color {
                miette::GraphicalTheme::unicode()
            } else {
                miette::GraphicalTheme::unicode_nocolor()
            };
            let handler = miette::GraphicalReportHandler::new_themed(theme).with_context_lines(1);
            let mut out = String::new();
            if handler.render_report(&mut out, errors).is_err() {
                out = errors.to_plain_text();
            }
            eprint!("{out}");
            return;
        }
        eprintln!("error: {self}");
        for hint in &self.hints {
            eprintln!("hint: {hint}");
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self.profile_errors() {
            Some(errors) => serde_json::json!({
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
            None => serde_json::json!({
                "format_version": 1,
                "error": self.kind.json_name(),
                "message": self.to_string(),
                "hint": self.hint_text(),
            }),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bpa_infra::error::chain(&*self.error))
    }
}

/// An error shown by its own message only: for errors whose message is already the
/// whole story for people, while their source holds a raw SDK answer that belongs in a
/// debug log (see `provider::aws::errors`). The error is still kept whole.
#[derive(Debug)]
struct Summary<E>(E);

impl<E: fmt::Display> fmt::Display for Summary<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: fmt::Debug + fmt::Display> Error for Summary<E> {}

impl From<LoadError> for CliError {
    fn from(err: LoadError) -> Self {
        match err {
            LoadError::Invalid(errors) => Self::invalid_profile(errors),
            LoadError::Read {
                ref path,
                ref source,
            } => {
                let not_found =
                    matches!(source, InputError::Io(e) if e.kind() == std::io::ErrorKind::NotFound);
                let hint = if not_found {
                    Some(format!(
                        "profile names resolve to profiles/NAME.yaml relative to the current directory; \
                         check that {} exists or pass a path",
                        path.display()
                    ))
                } else {
                    source.hint()
                };
                let error = Self::invalid_profile(err);
                match hint {
                    Some(hint) => error.hinted(hint),
                    None => error,
                }
            }
        }
    }
}

impl From<AwsError> for CliError {
    fn from(err: AwsError) -> Self {
        Self::from_aws(err, "")
    }
}

impl From<ProviderError> for CliError {
    fn from(err: ProviderError) -> Self {
        Self::cloud(Summary(err))
    }
}

impl From<ObserveError> for CliError {
    fn from(err: ObserveError) -> Self {
        Self::cloud(err)
    }
}

impl From<ApplyError> for CliError {
    fn from(err: ApplyError) -> Self {
        match err {
            ApplyError::MissingProvider { .. } => Self::internal(err),
            _ => Self::cloud(err),
        }
    }
}

impl From<LockError> for CliError {
    fn from(err: LockError) -> Self {
        let hint = match &err {
            LockError::Held {
                staleness: Some(_), ..
            } => "if no other run is working on this profile, pass --take-over-stale-lock",
            LockError::Held { .. } => {
                "wait for that run to finish, or pass --lock-wait SECONDS to wait for it; \
                 a run that was killed leaves its lock behind: once its process is gone (or it has been silent for 10 minutes), \
                 --take-over-stale-lock takes it over"
            }
            LockError::Store { .. } => {
                "the lock keeps two runs from changing the same profile at once; fix the cause and run again"
            }
        };
        Self::cloud(err).hinted(hint)
    }
}

impl From<PlanFileError> for CliError {
    fn from(err: PlanFileError) -> Self {
        // A file that is not a plan, not a regular file, too large or too deeply nested
        // is bad input (exit 65); failing to read or write one is this machine's.
        if !err.is_bad_input() {
            return Self::local(err);
        }
        let hint = match &err {
            PlanFileError::Read { source, .. } => source.hint(),
            _ => None,
        };
        let error = Self::invalid_profile(err);
        match hint {
            Some(hint) => error.hinted(hint),
            None => error,
        }
    }
}

impl From<KubeconfigError> for CliError {
    fn from(err: KubeconfigError) -> Self {
        Self::local(err)
    }
}

impl From<RenderError> for CliError {
    fn from(err: RenderError) -> Self {
        let hint = match &err {
            RenderError::Template { .. } | RenderError::InvalidYaml { .. } => Some(
                "fix the template, or leave out --templates to use the built-in ones".to_owned(),
            ),
            RenderError::NoTemplates { .. } | RenderError::ReadDir { .. } => Some(
                "--templates takes a directory of `NAME.yaml.j2` files (see templates/ in the repository)".to_owned(),
            ),
            RenderError::ReadTemplate { source, .. } => source.hint(),
        };
        // A template that is not a regular file, or too large, is bad input (exit 65); a
        // `--templates` directory that is missing, not a directory, or holds no template
        // is a wrong flag (64), not a failure of this machine.
        let usage = match &err {
            RenderError::NoTemplates { .. } => true,
            RenderError::ReadDir { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ),
            _ => false,
        };
        let error = match &err {
            RenderError::ReadTemplate { source, .. } if source.is_refused() => {
                Self::invalid_profile(err)
            }
            _ if usage => Self::usage(err),
            _ => Self::local(err),
        };
        match hint {
            Some(hint) => error.hinted(hint),
            None => error,
        }
    }
}

/// The hint of a failed connection depends on the target and is added by `db init`.
impl From<DbInitError> for CliError {
    fn from(err: DbInitError) -> Self {
        let hint = matches!(err, DbInitError::CaBundle { .. })
            .then_some("pass a PEM file of CA certificates, e.g. the RDS CA bundle for the region");
        let error = Self::cloud(err);
        match hint {
            Some(hint) => error.hinted(hint),
            None => error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_the_documented_exit_codes() {
        assert_eq!(CliError::usage("u").status(), ExitStatus::Usage);
        assert_eq!(CliError::interrupted("^C").status().code(), 130);
        assert_eq!(
            CliError::invalid_profile("p").status(),
            ExitStatus::InvalidProfile
        );
        for error in [
            CliError::cloud("c"),
            CliError::local("l"),
            CliError::internal("i"),
        ] {
            assert_eq!(error.status(), ExitStatus::Failure);
        }
    }

    #[test]
    fn the_message_holds_the_causes_and_json_the_hints() {
        let err = PlanFileError::Read {
            path: "plan.bin".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file").into(),
        };
        let error = CliError::from(err).hinted("first").hinted("second");
        assert_eq!(error.to_string(), "cannot read plan plan.bin: no such file");
        assert_eq!(error.hints, ["first", "second"]);
        let json = error.to_json();
        assert_eq!(json["error"], "failure");
        assert_eq!(json["message"], "cannot read plan plan.bin: no such file");
        assert_eq!(json["hint"], "first\nsecond");
        assert_eq!(
            CliError::usage("bad flag").to_json()["hint"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn provider_errors_show_their_summary_not_the_sdk_answer() {
        #[derive(Debug, thiserror::Error)]
        #[error("raw SDK answer")]
        struct Raw;
        let address = bpa_infra::stack::Address::new(bpa_infra::stack::Component::Eks, "cluster");
        let err = ProviderError::Rejected {
            address,
            code: "AccessDeniedException".into(),
            message: "eks:DescribeCluster: not allowed".into(),
            source: Some(Box::new(Raw)),
        };
        let error = CliError::from(err);
        assert_eq!(error.kind, ErrorKind::Cloud);
        let text = error.to_string();
        assert!(
            text.contains("not allowed") && !text.contains("raw SDK answer"),
            "{text}"
        );
    }

    #[test]
    fn no_credentials_hint_ends_cleanly_and_offers_the_alternative() {
        let err = AwsError {
            kind: AwsErrorKind::NoCredentials,
            operation: "load AWS credentials".into(),
            resource: None,
            message: "no providers in chain provided credentials".into(),
        };
        let error = CliError::from_aws(err, "or run `bpa-infra plan --offline`: it needs no AWS");
        assert_eq!(error.hints.len(), 2, "{:?}", error.hints);
        assert!(
            error.hints[0].ends_with("`aws sso login`"),
            "{:?}",
            error.hints
        );
        assert!(
            error.hints[1].contains("plan --offline"),
            "{:?}",
            error.hints
        );
        let missing = AwsError {
            kind: AwsErrorKind::NoSuchProfile,
            operation: "load AWS credentials".into(),
            resource: None,
            message: "no profile `nope` in ~/.aws/config".into(),
        };
        assert_eq!(CliError::from_aws(missing, "").status(), ExitStatus::Usage);
    }

    #[test]
    fn aws_errors_get_the_hint_of_their_kind() {
        let err = AwsError {
            kind: AwsErrorKind::AccessDenied,
            operation: "rds:DescribeDBClusters".into(),
            resource: None,
            message: "denied".into(),
        };
        let error = CliError::from(err);
        assert_eq!(
            error.hints,
            ["the credentials in use lack the permission for rds:DescribeDBClusters"]
        );
    }
}
