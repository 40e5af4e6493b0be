//! The layering rule of the source tree, checked by a test: every file's references to
//! other modules (`use` lines and inline `crate::…`, `super::…`, `bpa_infra::…` paths)
//! point down or sideways, never up, and no files reach into each other in a loop. The
//! rule is written out in docs/architecture.md ("Layers"). A second test checks that
//! nothing in the repository points at design notes outside it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers from the bottom up: a module may use modules of its own layer or below.
/// The first path segment of a module names its layer.
const LAYERS: &[&[&str]] = &[
    // Shared by everyone: the one error chain.
    &["error"],
    // The profile: parse and validate.
    &["profile"],
    // Desired resources; the clients and stores the providers are built on.
    &["stack", "atlas", "lock", "dbinit"],
    // The only code that talks to a cloud.
    &["provider"],
    // What is computed from desired and live state: plans, outputs, rendered files;
    // and `aws`, the SDK configuration and the master secret `db init` reads.
    &["plan", "outputs", "render", "kubeconfig", "aws"],
    // Applying a plan.
    &["engine"],
    // The command line (the binary): the only layer that prints.
    &["cli"],
];

/// References that break the rule today, each while the issue that removes it is open.
/// An entry that no longer matches a reference fails the test: delete it with the fix.
const EXCEPTIONS: &[(&str, &str, &str)] = &[];

/// What points at design notes outside the repository, which a clone does not have.
const OUTSIDE_POINTERS: &[&str] = &["../shared", "DESIGN.md", "AWS-FACTS.md", "STYLE.md"];

/// Files that still point outside while they are being split (issue 16); each is to
/// point at `docs/` instead. An entry whose file no longer does fails the test.
const OUTSIDE_EXCEPTIONS: &[&str] = &[];

/// Returns the repository's files (relative, `/`-separated) that mention one of
/// `OUTSIDE_POINTERS`, leaving out build output, Git's own files and this file.
fn outside_pointers(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if path.is_dir() {
                if !matches!(name.as_deref(), Some("target" | ".git")) {
                    walk(root, &path, out);
                }
                continue;
            }
            let relative = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            if relative == "src/layering.rs" {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if OUTSIDE_POINTERS.iter().any(|p| text.contains(p)) {
                out.push(relative);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

/// One source file: its module path (`provider::aws::ecr`; the binary's modules start
/// with `cli`, as `crate::cli::…` names them) and its text without comments and literals.
struct SourceFile {
    module: Vec<String>,
    code: String,
}

/// Returns the `.rs` files under `dir`, recursively, relative to `root`.
fn rust_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.strip_prefix(root).expect("under root").to_path_buf());
        }
    }
}

/// Returns the module path of a file relative to `src/`: `lib.rs` and `main.rs` are
/// the roots, `a/mod.rs` is `a`, `a/b.rs` is `a::b`.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if !(parts.is_empty() && (stem == "lib" || stem == "main")) && stem != "mod" {
        parts.push(stem.to_owned());
    }
    parts
}

/// Removes comments, string and character literals, so that only code is left.
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r'
            && matches!(next, Some('#') | Some('"'))
            && !chars
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // A raw string: r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}'), or else a lifetime.
            let close = if next == Some('\\') {
                (i + 2..chars.len().min(i + 12)).find(|&j| chars[j] == '\'')
            } else {
                (chars.get(i + 2) == Some(&'\'')).then_some(i + 2)
            };
            match close {
                Some(j) => {
                    out.push_str("' '");
                    i = j + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Splits code into identifiers and the punctuation a path or a use tree is made of.
fn tokens(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push("::".to_owned());
            i += 2;
        } else {
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
            i += 1;
        }
    }
    out
}

/// Expands the use tree starting at `tokens[*i]` into full paths, after `prefix`.
fn use_tree(tokens: &[String], i: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let mut path = prefix.to_vec();
    loop {
        match tokens.get(*i).map(String::as_str) {
            Some("{") => {
                *i += 1;
                while !matches!(tokens.get(*i).map(String::as_str), Some("}") | None) {
                    use_tree(tokens, i, &path, out);
                    if tokens.get(*i).map(String::as_str) == Some(",") {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            Some("*") => {
                *i += 1;
                break;
            }
            Some("self") if !path.is_empty() => {
                *i += 1;
                break;
            }
            Some(word) if word.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                path.push(word.to_owned());
                *i += 1;
                if tokens.get(*i).map(String::as_str) == Some("::") {
                    *i += 1;
                    continue;
                }
                break;
            }
            _ => break,
        }
    }
    if tokens.get(*i).map(String::as_str) == Some("as") {
        *i += 2;
    }
    out.push(path);
}

/// Returns every path the code names: the expanded `use` trees, and the inline paths
/// that start with `crate`, `super`, `self` or `bpa_infra`.
fn paths(code: &str) -> Vec<Vec<String>> {
    let tokens = tokens(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i] == "use" {
            i += 1;
            use_tree(&tokens, &mut i, &[], &mut out);
            continue;
        }
        let starts_path = matches!(tokens[i].as_str(), "crate" | "super" | "self" | "bpa_infra")
            && tokens.get(i + 1).map(String::as_str) == Some("::")
            && (i == 0 || tokens[i - 1] != "::");
        if starts_path {
            let mut path = vec![tokens[i].clone()];
            i += 1;
            while tokens.get(i).map(String::as_str) == Some("::")
                && tokens
                    .get(i + 1)
                    .is_some_and(|t| t.chars().all(|c| c.is_alphanumeric() || c == '_'))
            {
                path.push(tokens[i + 1].clone());
                i += 2;
            }
            // A call names a function, which may share its name with a module
            // (`super::build(…)` is the function `stack::build`, not `stack/build.rs`).
            if tokens.get(i).map(String::as_str) == Some("(") {
                path.pop();
            }
            out.push(path);
            continue;
        }
        i += 1;
    }
    out
}

/// The tree as the test sees it: files by module path, and the references between them.
struct Tree {
    /// File (relative to `src/`) by module path; the binary's modules start with `cli`.
    files: BTreeMap<Vec<String>, String>,
    /// From file to file, with the path that made the reference.
    edges: BTreeSet<(String, String)>,
}

impl Tree {
    fn load(src: &Path) -> Self {
        let mut relative = Vec::new();
        rust_files(src, src, &mut relative);
        let mut files = BTreeMap::new();
        let mut sources = Vec::new();
        for rel in relative {
            let text = std::fs::read_to_string(src.join(&rel))
                .unwrap_or_else(|err| panic!("cannot read {}: {err}", rel.display()));
            let name = rel.to_string_lossy().replace('\\', "/");
            let module = module_of(&rel);
            if name != "main.rs" {
                files.insert(module.clone(), name.clone());
            }
            sources.push((
                name,
                SourceFile {
                    module,
                    code: strip(&text),
                },
            ));
        }
        let mut edges = BTreeSet::new();
        for (name, source) in &sources {
            for path in paths(&source.code) {
                let Some(target) = resolve(&files, &source.module, &path) else {
                    continue;
                };
                let Some(to) = files.get(&target) else {
                    continue;
                };
                if to != name && !target.is_empty() {
                    edges.insert((name.clone(), to.clone()));
                }
            }
        }
        Self { files, edges }
    }

    fn module_of_file(&self, file: &str) -> Vec<String> {
        if file == "main.rs" {
            return vec!["cli".to_owned()];
        }
        self.files
            .iter()
            .find(|(_, f)| f.as_str() == file)
            .map(|(m, _)| m.clone())
            .unwrap_or_default()
    }
}

/// Returns the longest module named by `path` as seen from `module`, if it names one
/// of the tree's modules.
fn resolve(
    files: &BTreeMap<Vec<String>, String>,
    module: &[String],
    path: &[String],
) -> Option<Vec<String>> {
    let first = path.first()?;
    let (mut base, rest): (Vec<String>, &[String]) = match first.as_str() {
        // In the binary, `crate::cli::…` are its own modules, keyed like the library's.
        "crate" | "bpa_infra" => (Vec::new(), &path[1..]),
        "self" => (module.to_vec(), &path[1..]),
        "super" => {
            let mut base = module.to_vec();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            (base, rest)
        }
        // A relative `use` of a child module (`use options::X` in a mod.rs).
        _ => {
            let mut child = module.to_vec();
            child.push(first.clone());
            if !files.contains_key(&child) {
                return None;
            }
            (module.to_vec(), path)
        }
    };
    let mut found = files.contains_key(&base).then(|| base.clone());
    for segment in rest {
        base.push(segment.clone());
        if files.contains_key(&base) {
            found = Some(base.clone());
        } else {
            break;
        }
    }
    // The library's root (`lib.rs`) is no module of its own.
    found.filter(|m| !m.is_empty())
}

/// Returns the layer of a module, from its first segment.
fn layer(module: &[String]) -> Option<usize> {
    let top = module.first()?;
    LAYERS
        .iter()
        .position(|layer| layer.contains(&top.as_str()))
}

/// Tells whether one module is the other or contains it (a `mod.rs` and its children
/// may refer to each other: the parent declares and re-exports, children use its
/// shared items).
fn nested(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Returns the loops among `edges`: each strongly connected set of two or more files.
fn loops(edges: &BTreeSet<(String, String)>) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(node) = stack.pop() {
            for (a, b) in edges {
                if *a == node && seen.insert(b.clone()) {
                    stack.push(b.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for node in &nodes {
        let mut group: Vec<String> = nodes
            .iter()
            .filter(|other| reaches[*node].contains(**other) && reaches[**other].contains(*node))
            .map(|n| (*n).clone())
            .collect();
        group.sort();
        if group.len() > 1 && !out.contains(&group) {
            out.push(group);
        }
    }
    out
}

/// Returns the problems of a tree: references up the layers and loops between files,
/// leaving out `exceptions`, and exceptions that match nothing.
fn problems(tree: &Tree, exceptions: &[(&str, &str, &str)]) -> Vec<String> {
    let excepted = |from: &str, to: &str| exceptions.iter().any(|(f, t, _)| *f == from && *t == to);
    let mut used = BTreeSet::new();
    let mut out = Vec::new();
    for (from, to) in &tree.edges {
        let (a, b) = (tree.module_of_file(from), tree.module_of_file(to));
        if let (Some(la), Some(lb)) = (layer(&a), layer(&b)) {
            if lb > la {
                if excepted(from, to) {
                    used.insert((from.clone(), to.clone()));
                } else {
                    out.push(format!(
                        "src/{from} uses src/{to}: `{}` is in a higher layer than `{}`",
                        b[0], a[0]
                    ));
                }
            }
        }
    }
    let sideways: BTreeSet<(String, String)> = tree
        .edges
        .iter()
        .filter(|(from, to)| !nested(&tree.module_of_file(from), &tree.module_of_file(to)))
        .filter(|(from, to)| {
            let skip = excepted(from, to);
            if skip {
                used.insert((from.clone(), to.clone()));
            }
            !skip
        })
        .cloned()
        .collect();
    for group in loops(&sideways) {
        let files: Vec<String> = group.iter().map(|f| format!("src/{f}")).collect();
        out.push(format!("a loop between files: {}", files.join(", ")));
    }
    for (from, to, why) in exceptions {
        if !used.contains(&(from.to_string(), to.to_string())) {
            out.push(format!(
                "the exception src/{from} → src/{to} ({why}) is no longer needed: remove it from EXCEPTIONS"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_tree_keeps_its_layers_and_has_no_loops() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let tree = Tree::load(&src);
        assert!(
            tree.edges.len() > 100,
            "too few references found: {}",
            tree.edges.len()
        );
        let problems = problems(&tree, EXCEPTIONS);
        assert!(
            problems.is_empty(),
            "the layering rule (docs/architecture.md, \"Layers\") is broken:\n  {}",
            problems.join("\n  ")
        );
    }

    #[test]
    fn nothing_points_at_files_outside_the_repository() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let found = outside_pointers(root);
        let mut problems: Vec<String> = found
            .iter()
            .filter(|f| !OUTSIDE_EXCEPTIONS.contains(&f.as_str()))
            .map(|f| format!("{f} points outside the repository: point at docs/ instead"))
            .collect();
        problems.extend(
            OUTSIDE_EXCEPTIONS
                .iter()
                .filter(|f| !found.iter().any(|g| g == *f))
                .map(|f| {
                    format!("{f} no longer points outside: remove it from OUTSIDE_EXCEPTIONS")
                }),
        );
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn a_pointer_outside_is_found() {
        let dir = std::env::temp_dir().join(format!(
            "bpa-infra-outside-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(dir.join("src")).expect("a directory");
        std::fs::create_dir_all(dir.join("target")).expect("a directory");
        std::fs::write(dir.join("src/a.rs"), "//! See ../shared/DESIGN.md").expect("a file");
        std::fs::write(dir.join("src/b.rs"), "//! See docs/architecture.md").expect("a file");
        std::fs::write(dir.join("target/c.rs"), "//! DESIGN.md").expect("a file");
        let found = outside_pointers(&dir);
        std::fs::remove_dir_all(&dir).expect("removed");
        assert_eq!(found, ["src/a.rs"]);
    }

    /// Writes a small source tree to a temporary directory.
    fn tree(files: &[(&str, &str)]) -> Tree {
        let dir = std::env::temp_dir().join(format!(
            "bpa-infra-layering-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("a directory");
            std::fs::write(&path, text).expect("a file");
        }
        let tree = Tree::load(&dir);
        std::fs::remove_dir_all(&dir).expect("removed");
        tree
    }

    #[test]
    fn a_reference_up_the_layers_is_found_in_use_trees_and_inline_paths() {
        let tree = tree(&[
            ("lib.rs", "pub mod plan; pub mod provider;"),
            ("plan/mod.rs", "pub struct Plan;"),
            (
                "provider/mod.rs",
                "// use crate::plan::Plan; in a comment does not count\n\
                 const S: &str = \"crate::plan in a string does not count\";\n\
                 pub mod aws;",
            ),
            (
                "provider/aws/mod.rs",
                "use crate::{stack::Address, plan::{self, Plan}};\n fn f() { super::super::plan::x(); }",
            ),
        ]);
        let problems = problems(&tree, &[]);
        assert_eq!(
            problems,
            [
                "src/provider/aws/mod.rs uses src/plan/mod.rs: `plan` is in a higher layer than `provider`"
            ]
        );
    }

    #[test]
    fn the_binary_uses_the_library_but_not_the_other_way() {
        let tree = tree(&[
            ("main.rs", "mod cli;"),
            ("lib.rs", "pub mod engine;"),
            ("engine/mod.rs", "use crate::cli::Thing;"),
            (
                "cli/mod.rs",
                "use bpa_infra::engine::Executor; use crate::cli::error::E;",
            ),
            ("cli/error.rs", "pub struct E;"),
        ]);
        assert!(
            tree.edges
                .contains(&("cli/mod.rs".into(), "engine/mod.rs".into()))
        );
        assert!(
            tree.edges
                .contains(&("cli/mod.rs".into(), "cli/error.rs".into()))
        );
        assert_eq!(
            problems(&tree, &[]),
            [
                "src/engine/mod.rs uses src/cli/mod.rs: `cli` is in a higher layer than `engine`",
                "a loop between files: src/cli/mod.rs, src/engine/mod.rs",
            ]
        );
    }

    #[test]
    fn a_loop_between_siblings_is_found_and_a_parent_with_its_child_is_not() {
        let tree = tree(&[
            ("lib.rs", "pub mod provider;"),
            (
                "provider/mod.rs",
                "mod a; mod b; use a::A; pub(crate) fn helper() {}",
            ),
            (
                "provider/a.rs",
                "use super::helper; use super::b::B; pub struct A;",
            ),
            (
                "provider/b.rs",
                "pub struct B; fn f() { crate::provider::a::A; }",
            ),
        ]);
        assert_eq!(
            problems(&tree, &[]),
            ["a loop between files: src/provider/a.rs, src/provider/b.rs"]
        );
        let exceptions = [("provider/b.rs", "provider/a.rs", "a reason")];
        assert!(problems(&tree, &exceptions).is_empty());
        let stale = [("provider/mod.rs", "provider/b.rs", "gone")];
        assert_eq!(
            problems(&tree, &stale).len(),
            2,
            "{:?}",
            problems(&tree, &stale)
        );
    }
}
