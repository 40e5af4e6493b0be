//! Fuzz target: profile parsing and validation never panic, whatever the text, and
//! neither does rendering the errors the way `bpa-infra validate` shows them.
//!
//! The module is `src/profile` itself, compiled into this binary (see `fuzz/Cargo.toml`
//! for why not through the `bpa-infra` crate): `profile::parse` here is
//! `bpa_infra::profile::parse`, the same source.

#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../src/profile/mod.rs"]
mod profile;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Profiles are read as UTF-8 (`read_to_string`); other bytes never reach the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Err(errors) = profile::parse(text, "fuzz") else {
        return;
    };
    // Every error must be placeable in the text it came from: miette slices the source
    // at each span when it draws the snippet.
    let _ = errors.to_plain_text();
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_context_lines(1);
    let mut rendered = String::new();
    let _ = handler.render_report(&mut rendered, &errors);
    for error in errors.errors() {
        if let Some(location) = error.location {
            assert!(
                location.offset + location.len <= text.len(),
                "span {}+{} beyond the text ({} bytes): {error}",
                location.offset,
                location.len,
                text.len()
            );
            assert!(
                text.is_char_boundary(location.offset),
                "span starts inside a character: {error}"
            );
        }
    }
});
