//! The one way this crate and its command line turn an error and its causes into a line.

use std::error::Error;

/// Joins an error's message and its sources' into one line, `top: cause: cause`.
///
/// A cause whose text the line already holds is left out: many errors repeat their
/// source in their own message (`{path}: {source}`), and the SDK's top-level messages
/// ("service error", "dispatch failure") say little without the causes below them.
pub fn chain(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::chain;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("middle repeats {0}")]
    struct Middle(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner;

    #[test]
    fn joins_causes_and_leaves_out_repeated_ones() {
        assert_eq!(chain(&Outer(Middle(Inner))), "outer: middle repeats inner");
        assert_eq!(chain(&Inner), "inner");
    }
}
