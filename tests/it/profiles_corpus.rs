//! The corpus of broken profiles in `tests/data/broken-profiles/`: `validate` refuses
//! each one with exit code 65 and a message that names the offending field and its line,
//! and never panics.
//!
//! Each file says what it must produce in its header:
//!
//! ```yaml
//! # what is wrong, in words.
//! # expect: rds.storage.size_gib line 19
//! # expect-message: words the message must contain   (optional)
//! ```
//!
//! `expect: PATH line N` asks for an error whose header reads `line N, column C: PATH: …`.
//! A YAML syntax error has no field (`expect: - line N`): the error must name line N,
//! where the problem is or where the construct it broke started. The files cover every
//! section (top level, network, eks, rds, ecr, atlas, ingress, kie) and every stage:
//! YAML syntax (`syntax-*`), types and shapes (`type-*`), unknown fields (`unknown-*`) and
//! the rules of AWS, PostgreSQL and Kubernetes (`rule-*`).

use std::path::{Path, PathBuf};

use crate::support::{bpa_infra, root};

/// What one corpus file expects.
#[derive(Debug)]
struct Expectation {
    /// The YAML path the error must name; `None` for a syntax error.
    path: Option<String>,
    line: usize,
    message: Option<String>,
}

fn corpus() -> Vec<PathBuf> {
    let dir = root().join("tests/data/broken-profiles");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("read {}: {err}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn expectation(file: &Path) -> Expectation {
    let text = std::fs::read_to_string(file).expect("read a corpus file");
    let header = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("# {key}: ")))
            .map(str::trim)
    };
    let expect =
        header("expect").unwrap_or_else(|| panic!("{} has no `# expect:` header", file.display()));
    let (path, line) = expect
        .rsplit_once(" line ")
        .unwrap_or_else(|| panic!("{}: `# expect: PATH line N`", file.display()));
    Expectation {
        path: (path != "-").then(|| path.to_owned()),
        line: line
            .parse()
            .unwrap_or_else(|_| panic!("{}: bad line `{line}`", file.display())),
        message: header("expect-message").map(str::to_owned),
    }
}

/// The error headers of `validate`'s text output: the `× line L, column C: …` lines.
fn error_headers(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("× "))
        .filter(|line| line.starts_with("line "))
        .collect()
}

/// Checks one file; returns what is wrong with the output, if anything.
fn check(file: &Path) -> Result<(), String> {
    let expected = expectation(file);
    let output = bpa_infra()
        .args(["validate", "--no-color", "-p"])
        .arg(file)
        .output()
        .expect("run bpa-infra validate");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let shown = || format!("--- stdout\n{stdout}--- stderr\n{stderr}");
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        return Err(format!("it panicked\n{}", shown()));
    }
    if output.status.code() != Some(65) {
        return Err(format!(
            "exit code {:?}, not 65\n{}",
            output.status.code(),
            shown()
        ));
    }
    let headers = error_headers(&stderr);
    let named = headers.iter().any(|header| {
        let right_place = match &expected.path {
            Some(path) => {
                header.starts_with(&format!("line {}, column ", expected.line))
                    && header.contains(&format!(": {path}: "))
            }
            None => header.contains(&format!("line {}", expected.line)),
        };
        right_place
            && expected
                .message
                .as_ref()
                .is_none_or(|words| header.contains(words.as_str()))
    });
    if !named {
        return Err(format!(
            "no error names {} at line {}{}\n{}",
            expected.path.as_deref().unwrap_or("(syntax)"),
            expected.line,
            expected
                .message
                .as_ref()
                .map_or(String::new(), |m| format!(" saying `{m}`")),
            shown()
        ));
    }
    Ok(())
}

#[test]
fn every_broken_profile_exits_65_naming_its_field_and_line_without_panicking() {
    let files = corpus();
    assert!(
        files.len() >= 30,
        "the corpus should hold at least 30 profiles, found {}",
        files.len()
    );
    let failures: Vec<String> = files
        .iter()
        .filter_map(|file| {
            check(file).err().map(|why| {
                format!(
                    "{}: {why}",
                    file.file_name().unwrap_or_default().to_string_lossy()
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} broken profiles were not reported as expected:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_corpus_covers_every_stage_and_section() {
    let files = corpus();
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for stage in ["syntax-", "type-", "unknown-", "rule-"] {
        let count = names.iter().filter(|n| n.starts_with(stage)).count();
        assert!(count >= 5, "only {count} `{stage}*` profiles: {names:?}");
    }
    let paths: Vec<String> = files.iter().filter_map(|f| expectation(f).path).collect();
    for section in [
        "apiVersion",
        "name",
        "tags",
        "network",
        "eks",
        "rds",
        "ecr",
        "atlas",
        "ingress",
        "kie",
    ] {
        assert!(
            paths
                .iter()
                .any(|p| p == section || p.starts_with(&format!("{section}."))),
            "no broken profile is about `{section}`: {paths:?}"
        );
    }
}

#[test]
fn the_json_output_gives_the_same_field_and_line() {
    // The text check reads miette's rendering; the JSON document is what CI tools read.
    for file in corpus() {
        let expected = expectation(&file);
        let Some(path) = expected.path else { continue };
        let output = bpa_infra()
            .args(["--output", "json", "validate", "-p"])
            .arg(&file)
            .output()
            .expect("run bpa-infra validate");
        assert_eq!(output.status.code(), Some(65), "{}", file.display());
        let doc: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|err| panic!("{}: not JSON ({err})", file.display()));
        let errors = doc["errors"].as_array().expect("errors");
        assert!(
            errors
                .iter()
                .any(|e| e["path"] == path.as_str()
                    && e["line"].as_u64() == Some(expected.line as u64)),
            "{}: no JSON error at {path} line {}: {errors:#?}",
            file.display(),
            expected.line
        );
    }
}

// ----- the tags the shipped profiles generate (issue 17 §4) -------------------------

/// A tag pattern as botocore states it, matched as a whole (AWS anchors it).
fn matches_pattern(pattern: &str, text: &str) -> bool {
    let schema = serde_json::json!({"type": "string", "pattern": format!("^(?:{pattern})$")});
    jsonschema::validator_for(&schema)
        .expect("the pattern compiles")
        .is_valid(&serde_json::json!(text))
}

/// Which service tags a kind of resource, and that service's tag rules from its
/// botocore model: the key and value pattern (where the model states one) and the
/// longest key.
fn tag_rules(kind: bpa_infra::stack::ResourceKind) -> (&'static str, Option<&'static str>, usize) {
    use bpa_infra::stack::ResourceKind as K;
    // IAM: `tagKeyType`/`tagValueType` patterns (botocore `iam`); RDS: `Tag.Key` and
    // `Tag.Value` documentation, "Java regex" (botocore `rds`). EC2 (`Tag.Key` at most
    // 127), EKS (`TagMap`) and ECR (`TagKey`/`TagValue`) state no character pattern.
    const IAM_RDS: &str = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*";
    match kind {
        K::IamRole | K::IamPolicy => ("iam", Some(IAM_RDS), 128),
        K::DbClusterParameterGroup
        | K::DbParameterGroup
        | K::DbSubnetGroup
        | K::DbCluster
        | K::DbInstance => ("rds", Some(IAM_RDS), 128),
        K::EksCluster | K::NodeGroup | K::EksAddon => ("eks", None, 128),
        K::EcrRepository => ("ecr", None, 128),
        _ => ("ec2", None, 127),
    }
}

/// Every tag the stack of every shipped profile puts on a resource is one its service
/// accepts: at most 50 per resource, keys and values within the service's lengths and
/// pattern. A failure names the resource, the service and the tag. (The address tag
/// holds `[` `]` on subnets, launch templates, node groups, add-ons and repositories:
/// EC2, EKS and ECR, which take them; no IAM or RDS address has a key.)
#[test]
fn every_generated_tag_is_one_its_service_accepts() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("profiles"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 2, "{paths:?}");
    let mut checked = 0;
    let mut refused = Vec::new();
    for path in paths {
        let profile = bpa_infra::profile::load(&path).unwrap();
        let stack = bpa_infra::stack::build(&profile).unwrap();
        for resource in stack.resources() {
            let Some(bpa_infra::stack::Value::Map(tags)) = resource.spec.get("tags") else {
                continue;
            };
            let (service, pattern, max_key) = tag_rules(resource.kind);
            if tags.len() > 50 {
                refused.push(format!("{}: {} tags", resource.address, tags.len()));
            }
            for (key, value) in tags {
                let value = value.as_str().unwrap_or_default();
                checked += 1;
                let ok = !key.is_empty()
                    && key.chars().count() <= max_key
                    && value.chars().count() <= 256
                    && pattern.is_none_or(|p| matches_pattern(p, key) && matches_pattern(p, value));
                if !ok {
                    refused.push(format!("{} ({service}): {key} = {value}", resource.address));
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} tags checked");
    assert!(
        refused.is_empty(),
        "tags their service refuses:\n{}",
        refused.join("\n")
    );
}

#[test]
fn the_tag_pattern_check_can_fail() {
    let (_, iam, _) = tag_rules(bpa_infra::stack::ResourceKind::IamRole);
    let iam = iam.unwrap();
    assert!(matches_pattern(iam, "iam.node_role"));
    assert!(matches_pattern(iam, "Équipe 42"));
    assert!(!matches_pattern(iam, "ecr.repository[bpa/ui]"));
    assert_eq!(tag_rules(bpa_infra::stack::ResourceKind::Subnet).2, 127);
}
