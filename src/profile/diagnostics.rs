//! Profile errors: what is wrong, where in the YAML, and how to fix it.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

use super::source::Location;

/// One problem in a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    /// YAML path of the offending value, e.g. `rds.storage.size_gib` (empty for the whole file).
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
    pub location: Option<Location>,
}

impl ProfileError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            hint: None,
            location: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Every problem found in one profile, with its text for rendering source snippets.
#[derive(Debug, Clone)]
pub struct ProfileErrors {
    pub origin: String,
    errors: Vec<SourcedError>,
}

/// A `ProfileError` together with the profile text, so miette can show its lines.
#[derive(Debug, Clone)]
struct SourcedError {
    error: ProfileError,
    source: Arc<NamedSource<String>>,
}

impl ProfileErrors {
    pub(super) fn new(origin: &str, text: &str, mut errors: Vec<ProfileError>) -> Self {
        errors.sort_by_key(|e| e.location.map_or((0, 0), |l| (l.line, l.column)));
        let source = Arc::new(NamedSource::new(origin, text.to_string()).with_language("YAML"));
        let errors = errors
            .into_iter()
            .map(|error| SourcedError {
                error,
                source: Arc::clone(&source),
            })
            .collect();
        Self {
            origin: origin.to_string(),
            errors,
        }
    }

    /// The errors, in the order they appear in the file.
    pub fn errors(&self) -> impl Iterator<Item = &ProfileError> {
        self.errors.iter().map(|e| &e.error)
    }
}

impl fmt::Display for ProfileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{} has {n} error{}",
            self.origin,
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for ProfileErrors {}

impl Diagnostic for ProfileErrors {
    // No `code`: miette prints it as a line of its own above the report, and the
    // report's first line already says what it is.
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.errors.iter().map(|e| e as &dyn Diagnostic)))
    }
}

impl fmt::Display for SourcedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for SourcedError {}

impl Diagnostic for SourcedError {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.error
            .hint
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.error
            .location
            .map(|_| self.source.as_ref() as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let location = self.error.location?;
        Some(Box::new(std::iter::once(
            LabeledSpan::new_primary_with_span(
                Some("here".to_string()),
                (location.offset, location.len),
            ),
        )))
    }
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.location {
            write!(f, "line {}, column {}: ", l.line, l.column)?;
        }
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl ProfileErrors {
    /// Renders the errors as plain lines (`origin:line:column: path: message`, then the hint).
    pub fn to_plain_text(&self) -> String {
        let mut out = format!("{self}\n");
        for e in self.errors() {
            let position = e
                .location
                .map_or(String::new(), |l| format!(":{}:{}", l.line, l.column));
            let path = if e.path.is_empty() {
                String::new()
            } else {
                format!(" {}:", e.path)
            };
            out.push_str(&format!("{}{position}:{path} {}\n", self.origin, e.message));
            if let Some(hint) = &e.hint {
                out.push_str(&format!("  hint: {hint}\n"));
            }
        }
        out
    }
}
