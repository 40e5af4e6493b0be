//! Bounded reading of the files a user hands the tool: profiles, saved plans, templates.
//!
//! A path given on the command line can be anything: `/dev/zero` never ends, a FIFO
//! blocks, a directory has no text. Each file is therefore checked to be a regular file
//! and read with a cap, so that such input is refused at once, with the reason, instead
//! of eating memory until the machine gives up.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Largest profile read, in bytes; a real profile is a few kilobytes.
pub const MAX_PROFILE_BYTES: u64 = 1024 * 1024;
/// Largest saved plan read, in bytes; the plan of the largest profile is well under 1 MiB.
pub const MAX_PLAN_BYTES: u64 = 16 * 1024 * 1024;
/// Largest template read, in bytes.
pub const MAX_TEMPLATE_BYTES: u64 = 1024 * 1024;
/// Deepest nesting of mappings and sequences a profile may have. The profile format
/// itself nests at most 6 levels; the margin leaves room for YAML written oddly,
/// while a text nested deeper is refused before any quadratic work is done on it.
pub const MAX_PROFILE_DEPTH: usize = 64;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{what} is not a regular file (it is {kind})")]
    NotAFile { what: &'static str, kind: String },
    #[error("{what} is larger than the {limit}-byte limit")]
    TooLarge { what: &'static str, limit: u64 },
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl InputError {
    /// Tells whether the file itself is refused (as opposed to the system failing to
    /// read it), which the CLI reports as bad input.
    pub fn is_refused(&self) -> bool {
        !matches!(self, Self::Io(_))
            || matches!(self, Self::Io(e) if e.kind() == io::ErrorKind::InvalidData)
    }

    /// A hint that says how to fix the input.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NotAFile { .. } => Some("pass the path of a regular file".to_owned()),
            Self::TooLarge { limit, .. } => Some(format!(
                "the limit is {} MiB; check that this is the file you mean",
                limit / (1024 * 1024)
            )),
            Self::Io(_) => None,
        }
    }
}

/// Reads the UTF-8 text of the regular file at `path`, refusing anything else and any
/// file of more than `limit` bytes; `what` names the file in errors ("the profile").
///
/// The size is checked twice: from the metadata, so that a large file is refused
/// without reading it, and while reading, so that a file that grows is cut off at the
/// limit rather than read to its end.
pub fn read_text(path: &Path, what: &'static str, limit: u64) -> Result<String, InputError> {
    // Checked before opening too: opening a named pipe blocks until someone writes.
    check_regular(&std::fs::metadata(path)?, what, limit)?;
    let file = File::open(path)?;
    let metadata = file.metadata()?;
    check_regular(&metadata, what, limit)?;
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge { what, limit });
    }
    String::from_utf8(bytes).map_err(|_| {
        InputError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

fn check_regular(
    metadata: &std::fs::Metadata,
    what: &'static str,
    limit: u64,
) -> Result<(), InputError> {
    let file_type = metadata.file_type();
    if !file_type.is_file() {
        return Err(InputError::NotAFile {
            what,
            kind: describe(&file_type).to_owned(),
        });
    }
    if metadata.len() > limit {
        return Err(InputError::TooLarge { what, limit });
    }
    Ok(())
}

/// Names a kind of file the way `ls -l` users think of it.
fn describe(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_fifo() {
            return "a named pipe";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Returns a depth beyond `limit` that mappings and sequences in `text` reach, or
/// `None` if they stay within it.
///
/// This is a scan of the characters, not a YAML parse, because YAML parsers spend time
/// quadratic in the depth on deep flow nesting (`[[[[…`: saphyr-parser keeps a
/// possible simple key per level and walks them all at every token) before they
/// reach any limit of their own. It counts block levels by indentation and by the
/// `- `, `? ` and `: ` indicators that open a level on the same line, and flow levels
/// by brackets outside quoted scalars and comments. It may count a level too many
/// (a `[` in a plain scalar), never one too few for what a parser would build, and
/// it stops at the first line past the limit, in time linear in what it read.
pub fn yaml_depth_beyond(text: &str, limit: usize) -> Option<usize> {
    let mut block: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut quote: Option<char> = None;
    // Indentation of the line that opened a block scalar (`|`, `>`): deeper lines, and
    // blank ones, are its text.
    let mut block_scalar: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let content = &line[indent..];
        if let Some(opened) = block_scalar {
            if content.trim().is_empty() || indent > opened {
                continue;
            }
            block_scalar = None;
        }
        let mut rest = content;
        if flow == 0 && quote.is_none() {
            if rest.is_empty() || rest.starts_with('#') || rest.starts_with("---") {
                continue;
            }
            while block.last().is_some_and(|&top| top >= indent) {
                block.pop();
            }
            block.push(indent);
            let mut column = indent;
            while let Some(after) = ["- ", "? ", ": "]
                .iter()
                .find_map(|indicator| rest.strip_prefix(indicator))
                .or_else(|| (rest == "-").then_some(""))
            {
                let spaces = after.len() - after.trim_start_matches(' ').len();
                column += 2 + spaces;
                block.push(column);
                rest = &after[spaces..];
            }
            if block.len() > limit {
                return Some(block.len());
            }
        }
        let mut previous = ' ';
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            match quote {
                Some('"') if c == '\\' => {
                    chars.next();
                }
                Some('\'') if c == '\'' && chars.peek() == Some(&'\'') => {
                    chars.next();
                }
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '#' if previous.is_whitespace() => break,
                    '"' | '\'' if previous.is_whitespace() || "[{,:".contains(previous) => {
                        quote = Some(c);
                    }
                    '[' | '{' => {
                        flow += 1;
                        if block.len() + flow > limit {
                            return Some(block.len() + flow);
                        }
                    }
                    ']' | '}' => flow = flow.saturating_sub(1),
                    _ => {}
                },
            }
            previous = c;
        }
        if flow == 0 && quote.is_none() {
            let trimmed = rest.trim_end();
            let indicator = trimmed
                .rsplit(' ')
                .next()
                .unwrap_or_default()
                .trim_end_matches(|c: char| c == '-' || c == '+' || c.is_ascii_digit());
            if matches!(indicator, "|" | ">") {
                block_scalar = Some(indent);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_small_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, "name: x\n").unwrap();
        assert_eq!(read_text(&path, "the profile", 100).unwrap(), "name: x\n");
    }

    #[test]
    fn refuses_a_file_over_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, "x".repeat(101)).unwrap();
        let error = read_text(&path, "the profile", 100).unwrap_err();
        assert!(
            matches!(error, InputError::TooLarge { limit: 100, .. }),
            "{error}"
        );
        assert!(error.is_refused());
        assert!(error.to_string().contains("100-byte limit"), "{error}");
    }

    #[test]
    fn refuses_a_directory_and_a_device() {
        let dir = tempfile::tempdir().unwrap();
        let error = read_text(dir.path(), "the profile", 100).unwrap_err();
        assert!(error.to_string().contains("a directory"), "{error}");
        #[cfg(unix)]
        {
            let error = read_text(Path::new("/dev/zero"), "the profile", 100).unwrap_err();
            assert!(error.to_string().contains("a character device"), "{error}");
            assert!(error.is_refused());
        }
    }

    #[test]
    fn a_missing_file_is_an_io_error_not_a_refusal() {
        let error = read_text(Path::new("/nonexistent/p.yaml"), "the profile", 100).unwrap_err();
        assert!(!error.is_refused(), "{error}");
    }

    #[test]
    fn measures_nesting_only_beyond_the_limit() {
        // The document's mapping, `{b: …}` and `[1, 2]`: three levels.
        assert_eq!(yaml_depth_beyond("a: {b: [1, 2]}\n", 3), None);
        assert_eq!(yaml_depth_beyond("a: {b: [1, 2]}\n", 2), Some(3));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            yaml_depth_beyond(&deep, MAX_PROFILE_DEPTH),
            Some(MAX_PROFILE_DEPTH + 1)
        );
    }
}
