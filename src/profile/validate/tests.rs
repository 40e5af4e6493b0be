//! Tests of validation: text in, a `Profile` or every error out.
//!
//! Rule tests start from a small valid profile (`BASE`, which creates its VPC) or the
//! adopting production example, change one thing, and check the error's path and
//! wording; the wording of every message is also pinned by snapshots.

use serde_json::{Value, json};

use super::checks::{self as rules, Identifier};
use super::parse_and_validate;
use crate::profile::model::*;
use crate::profile::versions::{Md5Support, PostgresMajor};
use crate::profile::{ProfileError, schema};

const EXAMPLE: &str = include_str!("../../../profiles/example.yaml");
const PROD: &str = include_str!("../../../profiles/prod-us-west-2.yaml");
const BROKEN: &str = include_str!("testdata/broken.yaml");

const BASE: &str = "\
apiVersion: bpa-infra/v1
name: test
region: us-west-2
network:
  vpc:
    cidr: 10.0.0.0/16
  availability_zones: [us-west-2a, us-west-2b, us-west-2c]
eks:
  version: \"1.35\"
  node_groups:
    - name: node-1
rds:
  engine_version: \"16.4\"
  instance_class: db.m5d.large
";

fn valid(text: &str) -> Profile {
    match parse_and_validate(text, "test.yaml") {
        Ok(profile) => profile,
        Err(errors) => panic!("expected a valid profile:\n{}", errors.to_plain_text()),
    }
}

fn errors(text: &str) -> Vec<ProfileError> {
    match parse_and_validate(text, "test.yaml") {
        Ok(_) => panic!("expected errors, the profile is valid:\n{text}"),
        Err(errors) => errors.errors().cloned().collect(),
    }
}

/// Returns `base` (YAML) with `edit` applied, as YAML again.
fn edited(base: &str, edit: impl FnOnce(&mut Value)) -> String {
    let yaml: serde_yaml::Value = serde_yaml::from_str(base).unwrap();
    let mut document = serde_json::to_value(yaml).unwrap();
    edit(&mut document);
    serde_yaml::to_string(&document).unwrap()
}

fn set(base: &str, pointer: &str, value: Value) -> String {
    edited(base, |document| {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let mut target = document
            .pointer_mut(parent)
            .unwrap_or_else(|| panic!("no {parent}"));
        if let Value::Array(items) = target {
            target = &mut items[key.parse::<usize>().unwrap()];
            *target = value;
        } else {
            target
                .as_object_mut()
                .unwrap()
                .insert(key.to_string(), value);
        }
    })
}

fn remove(base: &str, pointer: &str) -> String {
    edited(base, |document| {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        document
            .pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(key);
    })
}

/// Asserts that validating `text` reports, among others, an error at `path` whose
/// message contains `needle`, and that it has a line.
#[track_caller]
fn assert_error(text: &str, path: &str, needle: &str) -> ProfileError {
    let all = errors(text);
    let found = all
        .iter()
        .find(|e| e.path == path && e.message.contains(needle));
    match found {
        Some(error) => {
            assert!(error.location.is_some(), "no line for {error}");
            assert!(error.hint.is_some(), "no hint for {error}");
            error.clone()
        }
        None => panic!(
            "no error at `{path}` containing {needle:?}; got:\n{}",
            all.iter().map(|e| format!("  {e}\n")).collect::<String>()
        ),
    }
}

/// Renders the errors of several cases for one snapshot: the case, then each error.
fn messages(cases: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (name, text) in cases {
        out.push_str(&format!("## {name}\n"));
        for e in errors(text) {
            out.push_str(&format!("{}: {}\n", e.path, e.message));
            if let Some(hint) = &e.hint {
                out.push_str(&format!("  hint: {hint}\n"));
            }
        }
    }
    out
}

macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

// ----- whole profiles ----------------------------------------------------------------

#[test]
fn example_profiles_validate() {
    for (origin, text) in [("example.yaml", EXAMPLE), ("prod-us-west-2.yaml", PROD)] {
        if let Err(errors) = parse_and_validate(text, origin) {
            panic!("{}", errors.to_plain_text());
        }
    }
}

#[test]
fn schema_accepts_the_examples_and_rejects_the_broken_profile() {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let as_json = |text: &str| {
        serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(text).unwrap()).unwrap()
    };
    for text in [EXAMPLE, PROD, BASE] {
        let errors: Vec<String> = validator
            .iter_errors(&as_json(text))
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
    assert!(!validator.is_valid(&as_json(BROKEN)));
}

/// Returns the property `field` of the schema definition `def` (`RawIngress`, …).
fn schema_property(schema: &Value, def: &str, field: &str) -> Value {
    schema["$defs"][def]["properties"][field].clone()
}

#[test]
fn schema_states_every_runbook_default() {
    let schema = schema();
    let default = |def: &str, field: &str| schema_property(&schema, def, field)["default"].clone();
    assert_eq!(default("RawNetwork", "pod_cidr"), json!("100.64.0.0/16"));
    assert_eq!(
        default("RawNodeGroup", "sysctls"),
        json!({"vm.max_map_count": "262144"})
    );
    assert_eq!(default("RawDataVolume", "type"), json!("gp3"));
    assert_eq!(
        default("RawEks", "node_ingress"),
        json!([
            {"port": 30101, "description": "BPA service NodePort"},
            {"port": 443, "description": "HTTPS"},
            {"port": 22, "description": "SSH"},
        ])
    );
    assert_eq!(default("RawRds", "mode"), json!("multi-az-cluster"));
    assert_eq!(default("RawRds", "master_password"), json!("managed"));
    assert_eq!(default("RawRds", "password_encryption"), json!("md5"));
    assert_eq!(default("RawRds", "backup_retention_days"), json!(7));
    assert_eq!(default("RawRds", "storage_encrypted"), json!(true));
    assert_eq!(default("RawRds", "deletion_protection"), json!(true));
    assert_eq!(
        default("RawIngress", "sticky_session_seconds"),
        json!(604800)
    );
    assert_eq!(
        default("RawIngress", "health_check_path"),
        json!("/bpm/adapter/v1/liveness")
    );
    assert_eq!(default("RawIngress", "service_port"), json!(8181));
    assert_eq!(
        default("RawKie", "controller_url"),
        json!("ws://bpm-controller:8080/kie-server-controller/websocket/controller")
    );
    assert_eq!(default("RawKie", "server_id"), json!("bpa-kie-server"));

    // The schema's default is the one the tool applies.
    let profile = valid(BASE);
    let rules: Vec<(u16, &str)> = profile
        .eks
        .node_ingress
        .iter()
        .map(|r| (r.port, r.description.as_str()))
        .collect();
    assert_eq!(
        rules,
        vec![(30101, "BPA service NodePort"), (443, "HTTPS"), (22, "SSH")]
    );

    // Derived defaults are stated in the description, never as a misleading `null`.
    for (def, field, derived) in [
        ("RawRds", "identifier", "`<name>-bpa`"),
        (
            "RawAtlas",
            "allowed_cidrs",
            "the pod CIDR and the node subnet CIDRs",
        ),
        ("RawAtlas", "region", "derived from `region`"),
        ("RawEks", "node_ingress_cidrs", "defaults to the VPC CIDR"),
        (
            "RawIngressRule",
            "cidrs",
            "default `eks.node_ingress_cidrs`",
        ),
        ("RawIngressRule", "description", "default `TCP <port>`"),
    ] {
        let property = schema_property(&schema, def, field);
        assert!(
            property.get("default").is_none(),
            "{def}.{field}: {property}"
        );
        let description = property["description"].as_str().unwrap_or_default();
        assert!(
            description.contains(derived),
            "{def}.{field}: {description}"
        );
    }
    // No property says it has a default while the schema shows `null`.
    for (def, body) in schema["$defs"].as_object().unwrap() {
        for (field, property) in body["properties"].as_object().into_iter().flatten() {
            let description = property["description"].as_str().unwrap_or_default();
            if description.contains("default") {
                assert_ne!(
                    property.get("default"),
                    Some(&Value::Null),
                    "{def}.{field} documents a default but the schema shows null"
                );
            }
        }
    }
}

#[test]
fn every_mistake_is_reported_with_its_line_in_one_run() {
    let errors = parse_and_validate(BROKEN, "broken.yaml").unwrap_err();
    let lines: Vec<(String, usize)> = errors
        .errors()
        .map(|e| {
            (
                e.path.clone(),
                e.location.expect("every error has a line").line,
            )
        })
        .collect();
    for (path, line) in [
        ("network.availabilty_zones", 8),  // misspelt field
        ("network.pod_cidr", 9),           // overlaps the VPC
        ("eks.node_groups[1].name", 15),   // duplicate node group
        ("eks.node_groups[1].size", 16),   // min > desired
        ("rds.master_password", 20),       // a password written in the profile
        ("rds.storage.size_gib", 23),      // io2 with 50 GiB
        ("rds.backup_retention_days", 25), // out of range
        ("ecr.repositories[1]", 27),       // bad repository name
        ("ingress.sticky_session_secs", 29),
    ] {
        assert!(
            lines.contains(&(path.to_string(), line)),
            "missing {path} at line {line}: {lines:?}"
        );
    }
    // Two availability zones: reported at the misspelt key the value was found under.
    assert!(
        errors
            .errors()
            .any(|e| e.message.contains("exactly three availability zones"))
    );
    // The password itself never appears in an error.
    assert!(!errors.to_plain_text().contains("s3cret"));
    snapshot!("broken_profile", errors.to_plain_text());
}

#[test]
fn create_mode_derives_subnets_and_defaults() {
    let profile = valid(BASE);
    let cidrs = |pick: fn(&Zone) -> Option<&Subnet>| -> Vec<String> {
        profile
            .network
            .zones
            .iter()
            .map(|z| pick(z).unwrap().cidr.to_string())
            .collect()
    };
    assert_eq!(
        cidrs(|z| Some(&z.node_subnet)),
        ["10.0.0.0/18", "10.0.64.0/18", "10.0.128.0/18"]
    );
    assert_eq!(
        cidrs(|z| z.public_subnet.as_ref()),
        ["10.0.192.0/20", "10.0.208.0/20", "10.0.224.0/20"]
    );
    assert_eq!(
        cidrs(|z| Some(&z.pod_subnet)),
        ["100.64.0.0/18", "100.64.64.0/18", "100.64.128.0/18"]
    );
    assert!(
        profile
            .network
            .zones
            .iter()
            .all(|z| z.node_subnet.id.is_none())
    );
    assert!(!profile.network.is_adopted());

    let group = &profile.eks.node_groups[0];
    assert_eq!(group.labels.get("name").map(String::as_str), Some("node-1"));
    assert_eq!(
        group.sysctls.get("vm.max_map_count").map(String::as_str),
        Some("262144")
    );
    let rules: Vec<(u16, Vec<String>)> = profile
        .eks
        .node_ingress
        .iter()
        .map(|r| (r.port, r.cidrs.iter().map(ToString::to_string).collect()))
        .collect();
    let vpc = vec!["10.0.0.0/16".to_string()];
    assert_eq!(rules, [(30101, vpc.clone()), (443, vpc.clone()), (22, vpc)]);
    assert_eq!(profile.eks.cluster_name, "test");
    assert_eq!(
        profile.eks.version,
        KubernetesVersion {
            major: 1,
            minor: 35
        }
    );

    assert_eq!(profile.rds.identifier, "test-bpa");
    assert_eq!(
        profile.rds.engine_version.parameter_group_family(),
        "postgres16"
    );
    assert_eq!(
        profile
            .rds
            .parameters
            .get("password_encryption")
            .map(String::as_str),
        Some("md5")
    );
    assert_eq!(profile.rds.master_password, MasterPassword::Managed);
    assert_eq!(profile.ingress.sticky_session_seconds, 604_800);
    assert!(profile.atlas.is_none());
}

#[test]
fn listed_subnets_are_kept_and_missing_ones_carved() {
    let text = set(
        BASE,
        "/network/pod_subnets",
        json!([
            {"az": "us-west-2a", "cidr": "100.64.0.0/19"},
            {"az": "us-west-2b", "cidr": "100.64.32.0/19"},
            {"az": "us-west-2c", "cidr": "100.64.64.0/19"},
        ]),
    );
    let profile = valid(&text);
    assert_eq!(
        profile.network.zones[2].pod_subnet.cidr.to_string(),
        "100.64.64.0/19"
    );
    assert_eq!(
        profile.network.zones[2].node_subnet.cidr.to_string(),
        "10.0.128.0/18"
    );
}

#[test]
fn adopt_mode_reads_subnet_ids_and_ingress_cidrs() {
    let profile = valid(PROD);
    assert!(profile.network.is_adopted());
    assert_eq!(
        profile.network.zones[1].node_subnet.id.as_deref(),
        Some("subnet-0bb2222222222222b")
    );
    assert!(
        profile
            .network
            .zones
            .iter()
            .all(|z| z.public_subnet.is_none())
    );
    assert_eq!(profile.eks.node_ingress[0].cidrs.len(), 2);
    assert_eq!(profile.rds.databases[1].name, "process-engine");
    assert_eq!(
        profile.eks.node_groups[3]
            .labels
            .get("name")
            .map(String::as_str),
        Some("node-4")
    );
}

#[test]
fn atlas_project_derives_region_and_allowed_cidrs() {
    let text = set(
        BASE,
        "/atlas",
        json!({"project_id": "0123456789abcdef01234567"}),
    );
    let atlas = valid(&text).atlas.unwrap();
    match atlas.target {
        AtlasTarget::Project { region, .. } => assert_eq!(region, "US_WEST_2"),
        other => panic!("{other:?}"),
    }
    let cidrs: Vec<String> = atlas
        .allowed_cidrs
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        cidrs,
        [
            "100.64.0.0/16",
            "10.0.0.0/18",
            "10.0.64.0/18",
            "10.0.128.0/18"
        ]
    );
    assert_eq!(atlas.ports, (0, 65535));
}

// ----- syntax and structure ----------------------------------------------------------

#[test]
fn yaml_syntax_error_is_one_error_at_its_position() {
    let text = "apiVersion: bpa-infra/v1\nname: [unclosed\nregion: us-west-2\n";
    let all = errors(text);
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(all[0].location.is_some());
}

#[test]
fn duplicate_keys_are_a_syntax_error() {
    let all = errors("apiVersion: bpa-infra/v1\nname: a\nname: b\n");
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(all[0].message.contains("duplicate entry"), "{all:?}");
}

#[test]
fn a_duplicate_key_points_at_the_repeat_not_at_its_mapping() {
    let all = errors("apiVersion: bpa-infra/v1\nname: a\nrds:\n  mode: x\n  other: y\n  mode: z\n");
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        all[0].location.map(|l| (l.line, l.column)),
        Some((6, 3)),
        "{all:?}"
    );
    let all = errors("apiVersion: bpa-infra/v1\nname: a\nname: b\n");
    assert_eq!(all[0].location.map(|l| l.line), Some(3), "{all:?}");
}

#[test]
fn an_unclosed_quote_names_the_line_where_it_opened() {
    let all = errors("apiVersion: bpa-infra/v1\nname: \"a\nregion: us-west-2\n");
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(
        all[0]
            .message
            .contains("quoted scalar that starts at line 2, column 7"),
        "{all:?}"
    );
}

#[test]
fn empty_and_non_mapping_documents_are_explained() {
    let all = errors("");
    assert_eq!(all[0].message, "the profile is empty");
    let all = errors("- a\n- b\n");
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].message, "expected a mapping, found a list");
}

#[test]
fn integers_beyond_their_type_are_placed_exactly() {
    let text = set(
        BASE,
        "/eks/node_groups/0/data_volume",
        json!({"size_gib": 99_999_999_999_u64}),
    );
    let error = assert_error(
        &text,
        "eks.node_groups[0].data_volume.size_gib",
        "expected u32",
    );
    let value =
        crate::profile::SourceMap::new(&text).value("eks.node_groups[0].data_volume.size_gib");
    assert_eq!(error.location.unwrap().line, value.unwrap().line);
}

#[test]
fn unknown_field_suggests_the_closest_allowed_one() {
    let text = BASE.replace("  instance_class:", "  instance_clas:");
    let error = assert_error(&text, "rds.instance_clas", "unknown field");
    assert_eq!(
        error.hint.as_deref(),
        Some("did you mean `instance_class`?")
    );
    assert_eq!(error.location.unwrap().line, 14);
    // The misspelt field is not also reported as missing.
    assert_eq!(errors(&text).len(), 1);
}

#[test]
fn unknown_field_without_close_match_lists_the_allowed_ones() {
    let text = set(BASE, "/network/vpc/colour", json!("blue"));
    let error = assert_error(&text, "network.vpc.colour", "unknown field");
    assert!(error.hint.unwrap().contains("`cidr`, `id`"));
}

#[test]
fn unquoted_version_gets_a_quoting_hint_with_the_text_as_written() {
    let text = BASE.replace("version: \"1.35\"", "version: 1.30");
    let error = assert_error(&text, "eks.version", "expected a string");
    assert!(error.hint.unwrap().contains("`\"1.30\"`"));
}

#[test]
fn missing_required_field_is_reported_at_its_parent() {
    let text = remove(BASE, "/rds/engine_version");
    assert_error(&text, "rds", "missing field `engine_version`");
}

#[test]
fn structure_messages() {
    snapshot!(
        "structure_messages",
        messages(&[
            (
                "misspelt field",
                BASE.replace("  node_groups:", "  nodegroups:")
            ),
            (
                "wrong type",
                set(BASE, "/network/availability_zones", json!("us-west-2a"))
            ),
            ("enum", set(BASE, "/rds/mode", json!("multi-az-clustr"))),
            (
                "negative",
                set(BASE, "/rds/backup_retention_days", json!(-1))
            ),
            (
                "port too large",
                set(BASE, "/ingress", json!({"service_port": 70000}))
            ),
            (
                "empty value",
                BASE.replace("  vpc:\n    cidr: 10.0.0.0/16\n", "  vpc:\n")
            ),
            ("not a mapping", set(BASE, "/atlas", json!("yes"))),
            (
                "from_env not a string",
                set(BASE, "/rds/master_password", json!({"from_env": 7}))
            ),
        ])
    );
}

// ----- top level ---------------------------------------------------------------------

#[test]
fn api_version_must_be_v1() {
    assert_error(
        &set(BASE, "/apiVersion", json!("bpa-infra/v2")),
        "apiVersion",
        "unsupported apiVersion",
    );
}

#[test]
fn profile_name_must_fit_resource_names() {
    assert_error(
        &set(BASE, "/name", json!("Prod")),
        "name",
        "does not start with a lowercase letter",
    );
    assert_error(
        &set(BASE, "/name", json!("prod_1")),
        "name",
        "other than lowercase letters",
    );
    assert_error(
        &set(BASE, "/name", json!("prod-")),
        "name",
        "ends with a hyphen",
    );
    assert_error(
        &set(BASE, "/name", json!("a".repeat(29))),
        "name",
        "29 characters",
    );
    valid(&set(BASE, "/name", json!("a".repeat(28))));
}

#[test]
fn region_must_be_a_region_code() {
    assert_error(
        &set(BASE, "/region", json!("us-west")),
        "region",
        "not an AWS region code",
    );
    assert_error(
        &set(BASE, "/region", json!("US-WEST-2")),
        "region",
        "not an AWS region code",
    );
    assert!(rules::check_region("us-gov-west-1").is_ok());
    assert!(rules::check_region("ap-southeast-3").is_ok());
}

#[test]
fn tags_must_not_use_reserved_prefixes() {
    assert_error(
        &set(BASE, "/tags", json!({"bpa-infra:profile": "x"})),
        "tags.bpa-infra:profile",
        "bpa-infra:",
    );
    assert_error(
        &set(BASE, "/tags", json!({"aws:owner": "x"})),
        "tags.aws:owner",
        "reserves",
    );
}

#[test]
fn tags_must_fit_aws_lengths() {
    // EC2's `Tag.Key` takes 127 characters, one fewer than the other services.
    let long_key = "k".repeat(128);
    assert_error(
        &set(BASE, "/tags", json!({ long_key.clone(): "x" })),
        &format!("tags.{long_key}"),
        "a tag key must be 1 to 127 characters",
    );
    valid(&set(
        BASE,
        "/tags",
        json!({ "k".repeat(127): "v".repeat(256) }),
    ));
    assert_error(
        &set(BASE, "/tags", json!({"team": "v".repeat(257)})),
        "tags.team",
        "a tag value must be at most 256 characters",
    );
}

// ----- network -----------------------------------------------------------------------

#[test]
fn cidrs_must_parse_and_be_network_addresses() {
    assert_error(
        &set(BASE, "/network/vpc/cidr", json!("10.0.0.0/33")),
        "network.vpc.cidr",
        "not an IPv4 CIDR",
    );
    let error = assert_error(
        &set(BASE, "/network/vpc/cidr", json!("10.0.0.1/16")),
        "network.vpc.cidr",
        "host bits",
    );
    assert_eq!(error.hint.as_deref(), Some("use `10.0.0.0/16`"));
    assert_error(
        &set(BASE, "/network/vpc/cidr", json!("10.0.0.0/8")),
        "network.vpc.cidr",
        "between /16 and /28",
    );
}

#[test]
fn pod_cidr_must_not_overlap_the_vpc() {
    assert_error(
        &set(BASE, "/network/pod_cidr", json!("10.0.128.0/17")),
        "network.pod_cidr",
        "overlaps the VPC CIDR",
    );
}

#[test]
fn pod_cidr_prefix_is_16_to_28() {
    assert_error(
        &set(BASE, "/network/pod_cidr", json!("100.64.0.0/15")),
        "network.pod_cidr",
        "a secondary VPC CIDR must be between /16 and /28, not /15",
    );
    assert_error(
        &set(BASE, "/network/pod_cidr", json!("100.64.0.0/29")),
        "network.pod_cidr",
        "not /29",
    );
    valid(&set(BASE, "/network/pod_cidr", json!("100.64.0.0/16")));
}

#[test]
fn subnet_prefix_is_16_to_28() {
    let subnets = |first: &str| {
        set(
            BASE,
            "/network/node_subnets",
            json!([
                {"az": "us-west-2a", "cidr": first},
                {"az": "us-west-2b", "cidr": "10.0.64.0/20"},
                {"az": "us-west-2c", "cidr": "10.0.128.0/20"},
            ]),
        )
    };
    assert_error(
        &subnets("10.0.0.0/29"),
        "network.node_subnets[0].cidr",
        "a subnet must be between /16 and /28, not /29",
    );
    assert_error(
        &set(PROD, "/network/node_subnets/0/cidr", json!("10.0.0.0/15")),
        "network.node_subnets[0].cidr",
        "not /15",
    );
    valid(&subnets("10.0.0.0/28"));
}

#[test]
fn exactly_three_distinct_zones_of_the_region() {
    let two = set(
        BASE,
        "/network/availability_zones",
        json!(["us-west-2a", "us-west-2b"]),
    );
    assert_error(
        &two,
        "network.availability_zones",
        "exactly three availability zones are needed, found 2",
    );
    let twice = set(
        BASE,
        "/network/availability_zones",
        json!(["us-west-2a", "us-west-2b", "us-west-2a"]),
    );
    assert_error(&twice, "network.availability_zones[2]", "listed twice");
    let foreign = set(BASE, "/network/availability_zones/1", json!("us-east-1b"));
    assert_error(
        &foreign,
        "network.availability_zones[1]",
        "not an availability zone of us-west-2",
    );
    assert!(rules::check_availability_zone("us-west-2-lax-1a", "us-west-2").is_err());
}

#[test]
fn subnets_must_lie_inside_their_cidr_and_not_overlap() {
    let outside = set(
        BASE,
        "/network/node_subnets",
        json!([
            {"az": "us-west-2a", "cidr": "10.0.0.0/20"},
            {"az": "us-west-2b", "cidr": "10.1.0.0/20"},
            {"az": "us-west-2c", "cidr": "10.0.32.0/20"},
        ]),
    );
    assert_error(
        &outside,
        "network.node_subnets[1].cidr",
        "not inside the VPC CIDR",
    );
    let overlapping = set(
        BASE,
        "/network/node_subnets",
        json!([
            {"az": "us-west-2a", "cidr": "10.0.0.0/20"},
            {"az": "us-west-2b", "cidr": "10.0.8.0/21"},
            {"az": "us-west-2c", "cidr": "10.0.32.0/20"},
        ]),
    );
    assert_error(
        &overlapping,
        "network.node_subnets[1].cidr",
        "overlaps 10.0.0.0/20 (node subnet of us-west-2a)",
    );
    // A listed public subnet inside the carved node subnet of zone a.
    let against_carved = set(
        BASE,
        "/network/public_subnets",
        json!([
            {"az": "us-west-2a", "cidr": "10.0.1.0/24"},
            {"az": "us-west-2b", "cidr": "10.0.208.0/24"},
            {"az": "us-west-2c", "cidr": "10.0.224.0/24"},
        ]),
    );
    assert_error(
        &against_carved,
        "network.public_subnets[0].cidr",
        "overlaps 10.0.0.0/18 (node subnet of us-west-2a, carved)",
    );
    let pod_outside = set(
        BASE,
        "/network/pod_subnets",
        json!([
            {"az": "us-west-2a", "cidr": "100.64.0.0/18"},
            {"az": "us-west-2b", "cidr": "100.65.0.0/18"},
            {"az": "us-west-2c", "cidr": "100.64.128.0/18"},
        ]),
    );
    assert_error(
        &pod_outside,
        "network.pod_subnets[1].cidr",
        "not inside the pod CIDR",
    );
}

#[test]
fn subnets_need_one_per_zone() {
    let text = set(
        BASE,
        "/network/node_subnets",
        json!([{"az": "us-west-2a", "cidr": "10.0.0.0/20"}]),
    );
    assert_error(&text, "network.node_subnets", "1 subnet(s) listed");
    let text = set(
        BASE,
        "/network/node_subnets",
        json!([
            {"az": "us-west-2a", "cidr": "10.0.0.0/20"},
            {"az": "us-west-2a", "cidr": "10.0.16.0/20"},
            {"az": "us-west-2d", "cidr": "10.0.32.0/20"},
        ]),
    );
    assert_error(
        &text,
        "network.node_subnets[1].az",
        "a second subnet in `us-west-2a`",
    );
    assert_error(
        &text,
        "network.node_subnets[2].az",
        "not one of `network.availability_zones`",
    );
}

#[test]
fn create_mode_refuses_subnet_ids_and_too_small_vpcs() {
    let text = set(
        BASE,
        "/network/node_subnets",
        json!([
            {"az": "us-west-2a", "id": "subnet-0123456789abcdef0", "cidr": "10.0.0.0/20"},
            {"az": "us-west-2b", "cidr": "10.0.16.0/20"},
            {"az": "us-west-2c", "cidr": "10.0.32.0/20"},
        ]),
    );
    assert_error(
        &text,
        "network.node_subnets[0].id",
        "the tool creates this subnet",
    );
    assert_error(
        &set(BASE, "/network/vpc/cidr", json!("10.0.0.0/25")),
        "network.vpc.cidr",
        "too small to carve",
    );
    assert_error(
        &set(BASE, "/network/pod_cidr", json!("100.64.0.0/27")),
        "network.pod_cidr",
        "too small to carve",
    );
}

#[test]
fn adopt_mode_needs_node_subnet_ids_and_forbids_created_parts() {
    let no_subnets = remove(PROD, "/network/node_subnets");
    assert_error(
        &no_subnets,
        "network.node_subnets",
        "needs its node subnets listed",
    );
    let no_id = edited(PROD, |d| {
        d.pointer_mut("/network/node_subnets/0")
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove("id");
    });
    assert_error(
        &no_id,
        "network.node_subnets",
        "either every subnet has an `id`",
    );
    let all_without_ids = edited(PROD, |d| {
        for subnet in d
            .pointer_mut("/network/node_subnets")
            .unwrap()
            .as_array_mut()
            .unwrap()
        {
            subnet.as_object_mut().unwrap().remove("id");
        }
    });
    assert_error(
        &all_without_ids,
        "network.node_subnets[0].id",
        "needs its `id`",
    );
    let public = set(
        PROD,
        "/network/public_subnets",
        json!([{"az": "us-west-2a", "cidr": "10.0.200.0/24"}]),
    );
    assert_error(
        &public,
        "network.public_subnets",
        "only made when the tool creates the VPC",
    );
    let nat = set(PROD, "/network/nat_gateways", json!("per-az"));
    assert_error(
        &nat,
        "network.nat_gateways",
        "only made when the tool creates the VPC",
    );
    let bad_id = set(PROD, "/network/node_subnets/0/id", json!("subnet-xyz"));
    assert_error(&bad_id, "network.node_subnets[0].id", "not a subnet id");
    let bad_vpc = set(PROD, "/network/vpc/id", json!("vpc-123"));
    assert_error(&bad_vpc, "network.vpc.id", "not a vpc id");
}

#[test]
fn network_messages() {
    snapshot!(
        "network_messages",
        messages(&[
            (
                "pod cidr prefix",
                set(BASE, "/network/pod_cidr", json!("100.64.0.0/15"))
            ),
            (
                "subnet prefix",
                set(PROD, "/network/node_subnets/0/cidr", json!("10.0.0.0/29"))
            ),
            (
                "bad cidr",
                set(BASE, "/network/vpc/cidr", json!("10.0.0.1/16"))
            ),
            (
                "overlapping pod cidr",
                set(BASE, "/network/pod_cidr", json!("10.0.0.0/16"))
            ),
            (
                "two zones",
                set(
                    BASE,
                    "/network/availability_zones",
                    json!(["us-west-2a", "eu-west-1b"])
                )
            ),
            (
                "adopted without subnets",
                remove(PROD, "/network/node_subnets")
            ),
            (
                "subnet outside",
                set(PROD, "/network/node_subnets/2/cidr", json!("10.1.64.0/19"))
            ),
            (
                "subnets overlap",
                set(PROD, "/network/node_subnets/2/cidr", json!("10.0.32.0/20"))
            ),
        ])
    );
}

// ----- eks ---------------------------------------------------------------------------

#[test]
fn eks_version_must_be_supported() {
    let error = assert_error(
        &set(BASE, "/eks/version", json!("1.29")),
        "eks.version",
        "does not offer Kubernetes 1.29",
    );
    let hint = error.hint.unwrap();
    assert!(
        hint.contains("1.36") && hint.contains("1.34 (standard support ends 2026-12-02)"),
        "{hint}"
    );
    assert_error(
        &set(BASE, "/eks/version", json!("1.x")),
        "eks.version",
        "not a Kubernetes version",
    );
    assert!(rules::parse_kubernetes_version("1.36").is_ok());
}

#[test]
fn node_group_names_are_unique_and_usable() {
    let text = set(
        BASE,
        "/eks/node_groups",
        json!([{"name": "node-1"}, {"name": "node-1"}]),
    );
    assert_error(&text, "eks.node_groups[1].name", "defined twice");
    assert_error(
        &set(BASE, "/eks/node_groups/0/name", json!("Node 1")),
        "eks.node_groups[0].name",
        "not a usable node group name",
    );
    assert_error(
        &set(BASE, "/eks/node_groups", json!([])),
        "eks.node_groups",
        "at least one node group",
    );
}

#[test]
fn node_group_sizes_are_ordered() {
    let text = set(
        BASE,
        "/eks/node_groups/0/size",
        json!({"min": 2, "desired": 1, "max": 3}),
    );
    assert_error(&text, "eks.node_groups[0].size", "min ≤ desired ≤ max");
    let text = set(
        BASE,
        "/eks/node_groups/0/size",
        json!({"min": 1, "desired": 4, "max": 3}),
    );
    assert_error(&text, "eks.node_groups[0].size", "desired 4, max 3");
    let text = set(
        BASE,
        "/eks/node_groups/0/size",
        json!({"min": 0, "desired": 0, "max": 0}),
    );
    assert_error(&text, "eks.node_groups[0].size.max", "at least 1");
}

#[test]
fn data_dirs_are_absolute_under_the_data_root() {
    for (dir, needle) in [
        ("opt/bpa/data/kafka", "not under"),
        ("/opt/bpa/kafka", "not under"),
        ("/opt/bpa/data/", "does not name a directory"),
        ("/opt/bpa/data/../etc", "does not name a directory"),
        ("/opt/bpa/data/ka fka", "characters other than"),
        ("/opt/bpa/data/$(reboot)", "characters other than"),
    ] {
        let text = set(BASE, "/eks/node_groups/0/data_dirs", json!([dir]));
        assert_error(&text, "eks.node_groups[0].data_dirs[0]", needle);
    }
    let text = set(
        BASE,
        "/eks/node_groups/0/data_dirs",
        json!(["/opt/bpa/data/a", "/opt/bpa/data/a"]),
    );
    assert_error(&text, "eks.node_groups[0].data_dirs[1]", "listed twice");
    assert!(rules::check_data_dir("/opt/bpa/data/elk/logs").is_ok());
}

#[test]
fn labels_sysctls_and_instance_types_are_checked() {
    let text = set(BASE, "/eks/node_groups/0/labels", json!({"name": "-bad-"}));
    assert_error(
        &text,
        "eks.node_groups[0].labels.name",
        "not a Kubernetes label value",
    );
    let text = set(
        BASE,
        "/eks/node_groups/0/labels",
        json!({"example.com/role": "kafka", "bad key!": "x"}),
    );
    assert_error(
        &text,
        "eks.node_groups[0].labels.bad key!",
        "not a Kubernetes label key",
    );
    let text = set(
        BASE,
        "/eks/node_groups/0/sysctls",
        json!({"vm.swappiness": "1; reboot"}),
    );
    assert_error(
        &text,
        "eks.node_groups[0].sysctls.vm.swappiness",
        "not a usable sysctl value",
    );
    let text = set(BASE, "/eks/node_groups/0/instance_type", json!("m5"));
    assert_error(
        &text,
        "eks.node_groups[0].instance_type",
        "not an EC2 instance type",
    );
    let text = set(
        BASE,
        "/eks/node_groups/0/data_volume",
        json!({"size_gib": 20000}),
    );
    assert_error(&text, "eks.node_groups[0].data_volume", "1 to 16384 GiB");
}

#[test]
fn endpoint_must_be_private_or_public() {
    let text = set(
        BASE,
        "/eks/endpoint",
        json!({"private": false, "public": false}),
    );
    assert_error(
        &text,
        "eks.endpoint",
        "must be reachable privately, publicly, or both",
    );
    valid(&set(BASE, "/eks/endpoint", json!({"public": false})));
    valid(&set(BASE, "/eks/endpoint", json!({"private": false})));
}

#[test]
fn data_volume_is_gp3_or_gp2() {
    let volume = |t: &str| {
        set(
            BASE,
            "/eks/node_groups/0/data_volume",
            json!({"type": t, "size_gib": 100}),
        )
    };
    assert_error(
        &volume("io2"),
        "eks.node_groups[0].data_volume",
        "data volume type `io2` is not supported",
    );
    assert_error(&volume("st1"), "eks.node_groups[0].data_volume", "`st1`");
    valid(&volume("gp2"));
    valid(&volume("gp3"));
}

#[test]
fn node_ingress_descriptions_fit_ec2_rules() {
    let described = |d: &str| {
        set(
            BASE,
            "/eks/node_ingress",
            json!([{"port": 22, "description": d}]),
        )
    };
    assert_error(
        &described(&"a".repeat(256)),
        "eks.node_ingress[0].description",
        "at most 255 characters",
    );
    assert_error(
        &described("SSH <admins>"),
        "eks.node_ingress[0].description",
        "at most 255 characters of letters, digits, spaces and",
    );
    assert_error(
        &described("SSH für Admins"),
        "eks.node_ingress[0].description",
        "at most 255 characters",
    );
    valid(&described(&"a".repeat(255)));
    valid(&described("SSH (admins): 10.0.0.0/8 #1, [ops]+{on-call}!"));
}

#[test]
fn listed_sysctls_keep_the_max_map_count_default() {
    let text = set(
        BASE,
        "/eks/node_groups/0/sysctls",
        json!({"vm.swappiness": "1"}),
    );
    let sysctls = &valid(&text).eks.node_groups[0].sysctls;
    assert_eq!(sysctls.len(), 2);
    assert_eq!(sysctls["vm.max_map_count"], "262144");
}

#[test]
fn node_ingress_rules_default_their_sources() {
    let text = edited(BASE, |d| {
        d["eks"]["node_ingress_cidrs"] = json!(["192.168.0.0/16"]);
        d["eks"]["node_ingress"] =
            json!([{"port": 8443}, {"port": 22, "cidrs": ["10.9.0.0/16"], "description": "SSH"}]);
    });
    let rules = valid(&text).eks.node_ingress;
    assert_eq!(rules[0].cidrs[0].to_string(), "192.168.0.0/16");
    assert_eq!(rules[0].description, "TCP 8443");
    assert_eq!(rules[1].cidrs[0].to_string(), "10.9.0.0/16");
    let text = set(BASE, "/eks/node_ingress", json!([{"port": 0}]));
    assert_error(&text, "eks.node_ingress[0].port", "port 0");
    let text = set(BASE, "/eks/node_ingress_cidrs", json!(["10.0.0.0/99"]));
    assert_error(&text, "eks.node_ingress_cidrs[0]", "not an IPv4 CIDR");
}

#[test]
fn addons_need_the_vpc_cni() {
    let text = set(BASE, "/eks/addons", json!([{"name": "coredns"}]));
    assert_error(&text, "eks.addons", "`vpc-cni` addon is required");
    let text = set(
        BASE,
        "/eks/addons",
        json!([{"name": "vpc-cni"}, {"name": "vpc-cni", "version": "1.2"}]),
    );
    assert_error(&text, "eks.addons[1].name", "listed twice");
    assert_error(&text, "eks.addons[1].version", "not an EKS addon version");
}

#[test]
fn eks_messages() {
    snapshot!(
        "eks_messages",
        messages(&[
            ("old version", set(BASE, "/eks/version", json!("1.28"))),
            (
                "no endpoint",
                set(
                    BASE,
                    "/eks/endpoint",
                    json!({"private": false, "public": false})
                )
            ),
            (
                "data volume type",
                set(
                    BASE,
                    "/eks/node_groups/0/data_volume",
                    json!({"type": "io2", "size_gib": 100})
                )
            ),
            (
                "ingress description",
                set(
                    BASE,
                    "/eks/node_ingress",
                    json!([{"port": 22, "description": "SSH <admins>"}])
                )
            ),
            (
                "duplicate group",
                set(
                    BASE,
                    "/eks/node_groups",
                    json!([{"name": "node-1"}, {"name": "node-1"}])
                )
            ),
            (
                "sizes",
                set(
                    BASE,
                    "/eks/node_groups/0/size",
                    json!({"min": 3, "desired": 2, "max": 1})
                )
            ),
            (
                "data dir",
                set(
                    BASE,
                    "/eks/node_groups/0/data_dirs",
                    json!(["/var/lib/kafka"])
                )
            ),
            (
                "no vpc-cni",
                set(BASE, "/eks/addons", json!([{"name": "coredns"}]))
            ),
        ])
    );
}

// ----- rds ---------------------------------------------------------------------------

#[test]
fn db_identifier_follows_rds_rules_and_is_lowercased() {
    for (id, needle) in [
        ("1bpa", "does not start with a letter"),
        ("bpa--db", "two hyphens in a row"),
        ("bpa-", "ends with one"),
        ("bpa_db", "other than letters, digits and hyphens"),
    ] {
        assert_error(
            &set(BASE, "/rds/identifier", json!(id)),
            "rds.identifier",
            needle,
        );
    }
    assert_error(
        &set(BASE, "/rds/identifier", json!("a".repeat(61))),
        "rds.identifier",
        "61 characters",
    );
    assert_eq!(
        valid(&set(BASE, "/rds/identifier", json!("Prod-BPA")))
            .rds
            .identifier,
        "prod-bpa"
    );
}

#[test]
fn master_username_follows_rds_rules() {
    assert_error(
        &set(BASE, "/rds/master_username", json!("1admin")),
        "rds.master_username",
        "not a valid master user name",
    );
    assert_error(
        &set(BASE, "/rds/master_username", json!("a".repeat(17))),
        "rds.master_username",
        "not a valid",
    );
    assert_error(
        &set(BASE, "/rds/master_username", json!("rdsadmin")),
        "rds.master_username",
        "reserved",
    );
    valid(&set(BASE, "/rds/master_username", json!("postgres")));
}

#[test]
fn master_password_comes_from_a_valid_env_var_name() {
    let text = set(
        BASE,
        "/rds/master_password",
        json!({"from_env": "BPA_DB_PASSWORD"}),
    );
    assert_eq!(
        valid(&text).rds.master_password,
        MasterPassword::FromEnv("BPA_DB_PASSWORD".into())
    );
    let text = set(
        BASE,
        "/rds/master_password",
        json!({"from_env": "1-PASSWORD"}),
    );
    assert_error(
        &text,
        "rds.master_password.from_env",
        "not an environment variable name",
    );
    let text = set(BASE, "/rds/master_password", json!("hunter2@x"));
    let error = assert_error(&text, "rds.master_password", "never written in the profile");
    assert!(!error.message.contains("hunter2"));
}

#[test]
fn master_password_rules_for_the_cli() {
    assert!(rules::check_master_password("Abcdef12", RdsMode::MultiAzCluster).is_ok());
    assert!(rules::check_master_password("short", RdsMode::MultiAzCluster).is_err());
    assert!(rules::check_master_password(&"a".repeat(42), RdsMode::MultiAzCluster).is_err());
    assert!(rules::check_master_password(&"a".repeat(42), RdsMode::MultiAzInstance).is_ok());
    for bad in [
        "pass@word",
        "pass/word",
        "pass\"word",
        "pass'word",
        "pass word",
        "pässword",
    ] {
        let problem = rules::check_master_password(bad, RdsMode::MultiAzCluster).unwrap_err();
        assert!(
            !problem.message.contains(bad),
            "the password must not be echoed: {}",
            problem.message
        );
    }
}

#[test]
fn storage_rules_of_multi_az_db_clusters() {
    let storage = |v: Value| set(BASE, "/rds/storage", v);
    assert_error(
        &storage(json!({"type": "gp2", "size_gib": 100})),
        "rds.storage.type",
        "`io1`, `io2` or `gp3`",
    );
    assert_error(
        &storage(json!({"type": "io2", "size_gib": 50, "iops": 1000})),
        "rds.storage.size_gib",
        "100 to 65536 GiB, not 50",
    );
    assert_error(
        &storage(json!({"type": "io1", "size_gib": 400})),
        "rds.storage.iops",
        "needs provisioned IOPS",
    );
    assert_error(
        &storage(json!({"type": "io2", "size_gib": 400, "iops": 500})),
        "rds.storage.iops",
        "1000 to 256000",
    );
    assert_error(
        &storage(json!({"type": "io2", "size_gib": 4000, "iops": 1000})),
        "rds.storage.iops",
        "0.25 IOPS per GiB",
    );
    assert_error(
        &storage(json!({"type": "io1", "size_gib": 100, "iops": 6000})),
        "rds.storage.iops",
        "allows 0.5 to 50",
    );
    valid(&storage(
        json!({"type": "io2", "size_gib": 100, "iops": 100000}),
    ));
    assert_error(
        &storage(json!({"type": "gp3", "size_gib": 10})),
        "rds.storage.size_gib",
        "20 to 65536",
    );
    let instance = edited(BASE, |d| {
        d["rds"]["mode"] = json!("multi-az-instance");
        d["rds"]["storage"] = json!({"type": "gp2", "size_gib": 100});
    });
    assert_eq!(valid(&instance).rds.storage.storage_type, StorageType::Gp2);
}

#[test]
fn general_purpose_storage_iops_rules() {
    let storage = |v: Value| set(BASE, "/rds/storage", v);
    assert_error(
        &storage(json!({"type": "gp3", "size_gib": 400, "iops": 11999})),
        "rds.storage.iops",
        "gp3 IOPS must be 12000 to 64000 from 400 GiB, not 11999",
    );
    assert_error(
        &storage(json!({"type": "gp3", "size_gib": 400, "iops": 64001})),
        "rds.storage.iops",
        "not 64001",
    );
    valid(&storage(
        json!({"type": "gp3", "size_gib": 400, "iops": 12000}),
    ));
    valid(&storage(
        json!({"type": "gp3", "size_gib": 400, "iops": 64000}),
    ));
    let gp2 = |iops: Option<u32>| {
        edited(BASE, |d| {
            d["rds"]["mode"] = json!("multi-az-instance");
            d["rds"]["storage"] = json!({"type": "gp2", "size_gib": 100});
            if let Some(iops) = iops {
                d["rds"]["storage"]["iops"] = json!(iops);
            }
        })
    };
    assert_error(
        &gp2(Some(3000)),
        "rds.storage.iops",
        "gp2 storage has no provisioned IOPS",
    );
    valid(&gp2(None));
}

#[test]
fn engine_version_and_instance_class_are_checked() {
    assert_error(
        &set(BASE, "/rds/engine_version", json!("11.22")),
        "rds.engine_version",
        "PostgreSQL 11 is not offered",
    );
    assert_error(
        &set(BASE, "/rds/engine_version", json!("16")),
        "rds.engine_version",
        "not a PostgreSQL engine version",
    );
    assert_error(
        &set(BASE, "/rds/instance_class", json!("m5d.large")),
        "rds.instance_class",
        "not an RDS instance class",
    );
    assert_eq!(
        valid(&set(BASE, "/rds/engine_version", json!("18.1")))
            .rds
            .engine_version
            .major,
        18
    );
}

#[test]
fn md5_is_refused_where_postgresql_dropped_it() {
    let gone = PostgresMajor {
        major: 99,
        md5: Md5Support::Unsupported,
    };
    let problem = rules::check_md5(PasswordEncryption::Md5, &gone).unwrap_err();
    assert!(
        problem
            .message
            .contains("PostgreSQL 99 no longer supports md5")
    );
    assert!(problem.hint.contains("scram-sha-256"));
    assert!(rules::check_md5(PasswordEncryption::ScramSha256, &gone).is_ok());
    let deprecated = PostgresMajor {
        major: 18,
        md5: Md5Support::Deprecated,
    };
    assert!(rules::check_md5(PasswordEncryption::Md5, &deprecated).is_ok());
}

#[test]
fn password_encryption_is_set_in_one_place() {
    let text = set(
        BASE,
        "/rds/parameters",
        json!({"password_encryption": "scram-sha-256"}),
    );
    assert_error(
        &text,
        "rds.parameters.password_encryption",
        "but `md5` in `rds.password_encryption`",
    );
    let text = set(
        BASE,
        "/rds/parameters",
        json!({"password_encryption": "md5", "log_min_duration_statement": "500"}),
    );
    assert_eq!(valid(&text).rds.parameters.len(), 2);
    let text = set(BASE, "/rds/parameters", json!({"Bad Name": "1"}));
    assert_error(
        &text,
        "rds.parameters.Bad Name",
        "not a PostgreSQL parameter name",
    );
}

#[test]
fn backup_retention_is_1_to_35_days() {
    assert_error(
        &set(BASE, "/rds/backup_retention_days", json!(0)),
        "rds.backup_retention_days",
        "1 to 35 days, not 0",
    );
    assert_error(
        &set(BASE, "/rds/backup_retention_days", json!(36)),
        "rds.backup_retention_days",
        "not 36",
    );
}

#[test]
fn kms_key_needs_encryption() {
    let text = edited(BASE, |d| {
        d["rds"]["kms_key_id"] = json!("alias/bpa");
        d["rds"]["storage_encrypted"] = json!(false);
    });
    assert_error(&text, "rds.kms_key_id", "`storage_encrypted` is false");
    assert_error(
        &set(BASE, "/rds/kms_key_id", json!("my key")),
        "rds.kms_key_id",
        "not a KMS key",
    );
}

#[test]
fn databases_and_users_are_valid_and_unique() {
    let db = |name: &str, user: &str, env: &str| json!({"name": name, "user": user, "password_env": env});
    let text = set(
        BASE,
        "/rds/databases",
        json!([db("kong", "kong", "A"), db("kong", "kong2", "B")]),
    );
    assert_error(&text, "rds.databases[1].name", "listed twice");
    let text = set(
        BASE,
        "/rds/databases",
        json!([db("template1", "pg_admin", "A")]),
    );
    assert_error(&text, "rds.databases[0].name", "keeps for itself");
    assert_error(&text, "rds.databases[0].user", "keeps for itself");
    let text = set(BASE, "/rds/databases", json!([db("9db", "Kong", "A B")]));
    assert_error(&text, "rds.databases[0].name", "not a usable database name");
    assert_error(&text, "rds.databases[0].user", "uppercase");
    assert_error(
        &text,
        "rds.databases[0].password_env",
        "not an environment variable name",
    );
    let text = set(BASE, "/rds/databases", json!([db("a", "bpaadmin", "A")]));
    assert_error(&text, "rds.databases[0].user", "is the master user");
    let text = set(
        BASE,
        "/rds/databases",
        json!([db("a", "app", "A"), db("b", "app", "B")]),
    );
    assert_error(
        &text,
        "rds.databases[1].password_env",
        "already takes its password from `A`",
    );
    let text = set(
        BASE,
        "/rds/databases",
        json!([
            db("process-engine", "camunda", "A"),
            db("b", "camunda", "A")
        ]),
    );
    assert_eq!(valid(&text).rds.databases.len(), 2);
    assert!(rules::check_pg_identifier("a".repeat(64).as_str(), Identifier::Database).is_err());
}

#[test]
fn rds_messages() {
    snapshot!(
        "rds_messages",
        messages(&[
            (
                "gp3 iops",
                set(
                    BASE,
                    "/rds/storage",
                    json!({"type": "gp3", "size_gib": 400, "iops": 2000})
                )
            ),
            (
                "gp2 iops",
                edited(BASE, |d| {
                    d["rds"]["mode"] = json!("multi-az-instance");
                    d["rds"]["storage"] = json!({"type": "gp2", "size_gib": 100, "iops": 3000});
                })
            ),
            (
                "identifier",
                set(BASE, "/rds/identifier", json!("bpa--db-"))
            ),
            (
                "io2 too small",
                set(
                    BASE,
                    "/rds/storage",
                    json!({"type": "io2", "size_gib": 50, "iops": 3000})
                )
            ),
            (
                "iops ratio",
                set(
                    BASE,
                    "/rds/storage",
                    json!({"type": "io2", "size_gib": 4000, "iops": 1000})
                )
            ),
            (
                "gp2 cluster",
                set(
                    BASE,
                    "/rds/storage",
                    json!({"type": "gp2", "size_gib": 100})
                )
            ),
            ("engine", set(BASE, "/rds/engine_version", json!("12.1"))),
            (
                "parameters",
                set(
                    BASE,
                    "/rds/parameters",
                    json!({"password_encryption": "scram-sha-256"})
                )
            ),
            (
                "username",
                set(BASE, "/rds/master_username", json!("rdsadmin"))
            ),
            (
                "retention",
                set(BASE, "/rds/backup_retention_days", json!(40))
            ),
            (
                "database",
                set(
                    BASE,
                    "/rds/databases",
                    json!([{"name": "postgres", "user": "bpaadmin", "password_env": "X"}])
                )
            ),
        ])
    );
}

// ----- ecr, atlas, ingress, kie -----------------------------------------------------

#[test]
fn repository_names_follow_ecr_rules() {
    for name in ["bpa/ui", "bpa/kie-server", "a.b_c-d/e", "ab"] {
        assert!(rules::check_repository_name(name).is_ok(), "{name}");
    }
    for name in [
        "a", "BPA/ui", "bpa//ui", "bpa/ui/", "-bpa", "bpa--ui", "bpa/_ui", "bpa ui",
    ] {
        assert!(rules::check_repository_name(name).is_err(), "{name}");
    }
    let text = set(
        BASE,
        "/ecr",
        json!({"repositories": ["bpa/ui", "bpa/ui", "Bad"]}),
    );
    assert_error(&text, "ecr.repositories[1]", "listed twice");
    assert_error(
        &text,
        "ecr.repositories[2]",
        "not a valid ECR repository name",
    );
}

#[test]
fn lifecycle_numbers_are_at_least_one() {
    let text = set(
        BASE,
        "/ecr",
        json!({"lifecycle": {"expire_untagged_after_days": 0, "keep_last_tagged": 0}}),
    );
    assert_error(
        &text,
        "ecr.lifecycle.expire_untagged_after_days",
        "at least 1",
    );
    assert_error(&text, "ecr.lifecycle.keep_last_tagged", "at least 1");
}

#[test]
fn atlas_needs_exactly_one_target() {
    let service = "com.amazonaws.vpce.us-west-2.vpce-svc-0123456789abcdef0";
    let both = set(
        BASE,
        "/atlas",
        json!({"endpoint_service_name": service, "project_id": "0123456789abcdef01234567"}),
    );
    assert_error(&both, "atlas.project_id", "not both");
    assert_error(&set(BASE, "/atlas", json!({})), "atlas", "is needed");
    let other_region = set(
        BASE,
        "/atlas",
        json!({"endpoint_service_name": service.replace("us-west-2", "us-east-1")}),
    );
    assert_error(
        &other_region,
        "atlas.endpoint_service_name",
        "in us-east-1, the profile in us-west-2",
    );
    let malformed = set(
        BASE,
        "/atlas",
        json!({"endpoint_service_name": "vpce-svc-0123"}),
    );
    assert_error(
        &malformed,
        "atlas.endpoint_service_name",
        "not a VPC endpoint service name",
    );
    let project = set(BASE, "/atlas", json!({"project_id": "xyz"}));
    assert_error(&project, "atlas.project_id", "not an Atlas project id");
    let region = set(
        BASE,
        "/atlas",
        json!({"project_id": "0123456789abcdef01234567", "region": "us-west-2"}),
    );
    assert_error(&region, "atlas.region", "not an Atlas region name");
    let region_with_service = set(
        BASE,
        "/atlas",
        json!({"endpoint_service_name": service, "region": "US_WEST_2"}),
    );
    assert_error(
        &region_with_service,
        "atlas.region",
        "only used with `project_id`",
    );
}

#[test]
fn atlas_ports_and_cidrs_are_checked() {
    let atlas = |extra: Value| {
        let mut value = json!({"project_id": "0123456789abcdef01234567"});
        value
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        set(BASE, "/atlas", value)
    };
    assert_error(
        &atlas(json!({"ports": "2000-1000"})),
        "atlas.ports",
        "runs backwards",
    );
    assert_error(
        &atlas(json!({"ports": "all"})),
        "atlas.ports",
        "not a port range",
    );
    assert_eq!(
        valid(&atlas(json!({"ports": "27017"})))
            .atlas
            .unwrap()
            .ports,
        (27017, 27017)
    );
    assert_error(
        &atlas(json!({"allowed_cidrs": ["10.0.0.0/8", "x"]})),
        "atlas.allowed_cidrs[1]",
        "not an IPv4 CIDR",
    );
}

#[test]
fn ingress_values_are_checked() {
    let ingress = |v: Value| set(BASE, "/ingress", v);
    assert_error(
        &ingress(json!({"sticky_session_seconds": 0})),
        "ingress.sticky_session_seconds",
        "1 to 604800",
    );
    assert_error(
        &ingress(json!({"sticky_session_seconds": 604_801})),
        "ingress.sticky_session_seconds",
        "not 604801",
    );
    assert_error(
        &ingress(json!({"health_check_path": "health"})),
        "ingress.health_check_path",
        "not an HTTP path",
    );
    assert_error(
        &ingress(json!({"host": "https://bpa.example.com"})),
        "ingress.host",
        "not a DNS host name",
    );
    let arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc";
    assert_error(
        &ingress(json!({"certificate_arn": arn})),
        "ingress.certificate_arn",
        "in us-east-1",
    );
    let arn = "arn:aws:iam::123456789012:server-certificate/abc";
    assert_error(
        &ingress(json!({"certificate_arn": arn})),
        "ingress.certificate_arn",
        "not an ACM certificate ARN",
    );
    assert_error(
        &ingress(json!({"service_port": 0})),
        "ingress.service_port",
        "port 0",
    );
}

#[test]
fn kie_controller_url_is_a_websocket_controller_url() {
    let kie = |url: &str| set(BASE, "/kie", json!({"controller_url": url}));
    assert_error(
        &kie("http://ctl:8080/websocket/controller"),
        "kie.controller_url",
        "not a WebSocket URL",
    );
    assert_error(
        &kie("ws://ctl:8080/kie-server-controller"),
        "kie.controller_url",
        "not a KIE controller URL",
    );
    valid(&kie(
        "wss://ctl.example.com/kie-server-controller/websocket/controller",
    ));
    assert_error(
        &set(BASE, "/kie", json!({"server_id": "bpa kie"})),
        "kie.server_id",
        "not a usable KIE server id",
    );
}

#[test]
fn other_messages() {
    snapshot!(
        "other_messages",
        messages(&[
            (
                "repository",
                set(BASE, "/ecr", json!({"repositories": ["BPA/UI"]}))
            ),
            (
                "atlas both",
                set(
                    BASE,
                    "/atlas",
                    json!({"endpoint_service_name": "com.amazonaws.vpce.us-west-2.vpce-svc-0123456789abcdef0", "project_id": "0123456789abcdef01234567"})
                )
            ),
            (
                "atlas ports",
                set(
                    BASE,
                    "/atlas",
                    json!({"project_id": "0123456789abcdef01234567", "ports": "9-1"})
                )
            ),
            (
                "sticky",
                set(BASE, "/ingress", json!({"sticky_session_seconds": 0}))
            ),
            (
                "certificate",
                set(
                    BASE,
                    "/ingress",
                    json!({"certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/x"})
                )
            ),
            (
                "kie",
                set(BASE, "/kie", json!({"controller_url": "http://ctl/ws"}))
            ),
            ("api version", set(BASE, "/apiVersion", json!("v1"))),
            ("name", set(BASE, "/name", json!("Prod_Env"))),
            (
                "tag key",
                set(BASE, "/tags", json!({ "k".repeat(129): "x" }))
            ),
            (
                "tag value",
                set(BASE, "/tags", json!({"team": "v".repeat(257)}))
            ),
        ])
    );
}

// ----- issue 17 §4: rules AWS enforces -------------------------------------------

#[test]
fn a_multi_az_cluster_identifier_has_at_most_52_characters() {
    let id = |n: usize| format!("a{}", "b".repeat(n - 1));
    valid(&set(BASE, "/rds/identifier", json!(id(52))));
    let error = assert_error(
        &set(BASE, "/rds/identifier", json!(id(53))),
        "rds.identifier",
        "is 53 characters; a Multi-AZ DB cluster identifier has 1 to 52",
    );
    assert!(error.hint.unwrap().contains("1 to 52"));
    // A DB instance keeps CreateDBInstance's 63.
    let instance = |n: usize| {
        edited(BASE, |d| {
            d["rds"]["mode"] = json!("multi-az-instance");
            d["rds"]["identifier"] = json!(id(n));
        })
    };
    valid(&instance(63));
    assert_error(
        &instance(64),
        "rds.identifier",
        "a DB instance identifier has 1 to 63",
    );
}

#[test]
fn a_multi_az_cluster_always_has_provisioned_iops() {
    let storage = |v: Value| set(BASE, "/rds/storage", v);
    // gp3 below 400 GiB: RDS fixes its IOPS, and a cluster cannot be made without them.
    assert_error(
        &storage(json!({"type": "gp3", "size_gib": 100})),
        "rds.storage.size_gib",
        "a Multi-AZ DB cluster on gp3 needs at least 400 GiB, not 100",
    );
    assert_error(
        &storage(json!({"type": "gp3", "size_gib": 100, "iops": 3000})),
        "rds.storage.iops",
        "RDS takes gp3 IOPS only from 400 GiB",
    );
    assert_error(
        &storage(json!({"type": "gp3", "size_gib": 400})),
        "rds.storage.iops",
        "a Multi-AZ DB cluster needs provisioned IOPS, for gp3 too",
    );
    assert_error(
        &storage(json!({"type": "io2", "size_gib": 400})),
        "rds.storage.iops",
        "io2 storage needs provisioned IOPS",
    );
    valid(&storage(
        json!({"type": "io1", "size_gib": 100, "iops": 1000}),
    ));
}

#[test]
fn a_multi_az_instance_on_gp3_takes_iops_only_from_400_gib() {
    let instance = |v: Value| {
        edited(BASE, |d| {
            d["rds"]["mode"] = json!("multi-az-instance");
            d["rds"]["storage"] = v;
        })
    };
    let small = valid(&instance(json!({"type": "gp3", "size_gib": 100})));
    assert_eq!(small.rds.storage.iops, None);
    assert_error(
        &instance(json!({"type": "gp3", "size_gib": 100, "iops": 3000})),
        "rds.storage.iops",
        "RDS takes gp3 IOPS only from 400 GiB",
    );
    valid(&instance(json!({"type": "gp3", "size_gib": 400})));
    valid(&instance(
        json!({"type": "gp3", "size_gib": 500, "iops": 20000}),
    ));
}

#[test]
fn label_keys_and_values_fit_what_eks_takes() {
    let label =
        |key: &str, value: &str| set(BASE, "/eks/node_groups/0/labels", json!({ key: value }));
    let name = "n".repeat(63);
    valid(&label(&name, &"v".repeat(63)));
    // Kubernetes allows a 253-character prefix; EKS's `labelKey` is 63 in all.
    let prefixed = format!("{}/{}", "example.com", "n".repeat(52));
    assert_eq!(prefixed.len(), 64);
    assert_error(
        &label(&prefixed, "v"),
        &format!("eks.node_groups[0].labels.{prefixed}"),
        "EKS takes at most 63, prefix included",
    );
    valid(&label(&prefixed[1..], "v"));
    assert_error(
        &label(&format!("{name}n"), "v"),
        &format!("eks.node_groups[0].labels.{name}n"),
        "not a Kubernetes label key",
    );
    assert_error(
        &label("team", ""),
        "eks.node_groups[0].labels.team",
        "empty value, which EKS refuses",
    );
    assert_error(
        &label("team", &"v".repeat(64)),
        "eks.node_groups[0].labels.team",
        "not a Kubernetes label value",
    );
}

#[test]
fn tags_use_only_characters_iam_and_rds_accept() {
    for (key, value) in [
        ("cost[center]", "x"),
        ("team", "a,b"),
        ("team", "x#1"),
        ("t\u{9}", "x"),
    ] {
        let text = set(BASE, "/tags", json!({ key: value }));
        let found = errors(&text);
        assert!(
            found.iter().any(|e| e.path == format!("tags.{key}")
                && e.message.contains("which IAM and RDS refuse in tags")),
            "{key}={value}: {found:?}"
        );
    }
    valid(&set(
        BASE,
        "/tags",
        json!({"cost-center": "Équipe données 42", "owner": "a.b+c=d/e:f@g_h"}),
    ));
    assert_error(
        &set(BASE, "/tags", json!({"rds:owner": "x"})),
        "tags.rds:owner",
        "reserves",
    );
    assert_error(
        &set(BASE, "/tags", json!({"owner": "AWS:team"})),
        "tags.owner",
        "starts with `AWS:`, which AWS reserves",
    );
}

#[test]
fn tags_leave_room_for_the_tools_own() {
    let tags = |n: usize| {
        let map: serde_json::Map<String, Value> =
            (0..n).map(|i| (format!("t{i}"), json!("v"))).collect();
        set(BASE, "/tags", Value::Object(map))
    };
    valid(&tags(46));
    assert_error(
        &tags(47),
        "tags",
        "47 tags are too many: AWS allows 50 per resource and the tool adds 4",
    );
}

#[test]
fn deep_nesting_is_refused_before_it_is_indexed() {
    let deep = format!(
        "apiVersion: bpa-infra/v1\nname: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let all = errors(&deep);
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(
        all[0].message.contains("nests more than 64 levels deep"),
        "{}",
        all[0].message
    );
    // The deepest real profile is far from the limit.
    valid(PROD);
}

#[test]
fn tag_characters_are_iams() {
    // `[\p{L}\p{Z}\p{N}_.:/=+\-@]`: letters of any script, numbers, separators.
    for c in [
        'a', 'Z', 'é', 'ß', 'ж', '7', ' ', '\u{3000}', '_', '.', ':', '/', '=', '+', '-', '@',
    ] {
        assert!(rules::is_tag_char(c), "{c:?}");
    }
    for c in ['[', ']', ',', '#', '*', '\t', '\n', '"', '\''] {
        assert!(!rules::is_tag_char(c), "{c:?}");
    }
}
