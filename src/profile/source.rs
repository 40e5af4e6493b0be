//! Where each value of a profile sits in its YAML text.
//!
//! serde reports positions only for the first syntax or type error; semantic errors
//! are found later on typed values. This index maps a YAML path such as
//! `network.node_subnets[1].cidr` to the byte span of its value (and of its key), so
//! every error can point at its line and column.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, Span};

/// A location in the profile text: byte offset and length, 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub offset: usize,
    pub len: usize,
    pub line: usize,
    pub column: usize,
}

/// Maps YAML paths to the spans of their keys and values.
#[derive(Debug, Default)]
pub struct SourceMap {
    values: HashMap<String, Location>,
    keys: HashMap<String, Location>,
}

enum Frame {
    Map {
        path: String,
        pending_key: Option<String>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

impl SourceMap {
    /// Indexes `text`; a text that does not parse gives the part indexed before the error.
    pub fn new(text: &str) -> Self {
        let converter = OffsetConverter::new(text);
        let mut map = SourceMap::default();
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            let location = converter.location(span);
            match event {
                Event::Scalar(value, ..) => {
                    if let Some(Frame::Map { path, pending_key }) = stack.last_mut()
                        && pending_key.is_none()
                    {
                        let key_path = join(path, &value);
                        map.keys.insert(key_path.clone(), location);
                        *pending_key = Some(key_path);
                        continue;
                    }
                    if let Some(path) = next_value_path(&mut stack) {
                        map.values.insert(path, location);
                    }
                }
                Event::MappingStart(..) => {
                    let path = next_value_path(&mut stack).unwrap_or_default();
                    map.values.insert(path.clone(), location);
                    stack.push(Frame::Map {
                        path,
                        pending_key: None,
                    });
                }
                Event::SequenceStart(..) => {
                    let path = next_value_path(&mut stack).unwrap_or_default();
                    map.values.insert(path.clone(), location);
                    stack.push(Frame::Seq { path, next: 0 });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                Event::Alias(_) => {
                    next_value_path(&mut stack);
                }
                _ => {}
            }
        }
        map
    }

    /// The span of the value at `path`, else of the nearest enclosing value that exists.
    pub fn value(&self, path: &str) -> Option<Location> {
        let mut path = path;
        loop {
            if let Some(location) = self.values.get(path) {
                return Some(*location);
            }
            path = parent(path)?;
        }
    }

    /// The span of the key at `path` (for unknown or misplaced fields).
    pub fn key(&self, path: &str) -> Option<Location> {
        self.keys.get(path).copied().or_else(|| self.value(path))
    }
}

/// Consumes the slot the next value fills in the innermost collection and returns its path.
fn next_value_path(stack: &mut [Frame]) -> Option<String> {
    match stack.last_mut() {
        None => Some(String::new()),
        Some(Frame::Map { pending_key, .. }) => pending_key.take(),
        Some(Frame::Seq { path, next }) => {
            let p = format!("{path}[{next}]");
            *next += 1;
            Some(p)
        }
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Returns the enclosing path: `a.b[2].c` → `a.b[2]` → `a.b` → `a` → `` → None.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    if path.ends_with(']') {
        return path.rfind('[').map(|i| &path[..i]);
    }
    Some(path.rfind('.').map_or("", |i| &path[..i]))
}

/// Converts the parser's character indexes into byte offsets.
struct OffsetConverter {
    /// Byte offset of each character, plus the text length at the end.
    byte_of_char: Vec<usize>,
}

impl OffsetConverter {
    fn new(text: &str) -> Self {
        let mut byte_of_char: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        byte_of_char.push(text.len());
        Self { byte_of_char }
    }

    fn byte(&self, char_index: usize) -> usize {
        let last = self.byte_of_char.len() - 1;
        self.byte_of_char[char_index.min(last)]
    }

    fn location(&self, span: Span) -> Location {
        let start = self.byte(span.start.index());
        let end = self.byte(span.end.index()).max(start);
        Location {
            offset: start,
            len: end - start,
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name: prod\nnetwork:\n  vpc:\n    cidr: 10.0.0.0/16\n  node_subnets:\n    - az: a\n      cidr: 10.0.1.0/24\n    - az: b\n      cidr: 10.0.2.0/24\n";

    #[test]
    fn finds_nested_values_and_keys() {
        let map = SourceMap::new(TEXT);
        let cidr = map.value("network.vpc.cidr").unwrap();
        assert_eq!((cidr.line, cidr.column), (4, 11));
        assert_eq!(&TEXT[cidr.offset..cidr.offset + cidr.len], "10.0.0.0/16");
        let second = map.value("network.node_subnets[1].cidr").unwrap();
        assert_eq!(second.line, 9);
        let key = map.key("network.vpc").unwrap();
        assert_eq!((key.line, key.column), (3, 3));
    }

    #[test]
    fn falls_back_to_the_nearest_existing_parent() {
        let map = SourceMap::new(TEXT);
        let missing = map.value("network.node_subnets[1].id").unwrap();
        assert_eq!(missing.line, 8);
        assert_eq!(map.value("network.vpc.id").unwrap().line, 4);
    }
}
