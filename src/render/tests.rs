//! Snapshots of every rendered file, and checks that each manifest is the Kubernetes
//! object it claims to be.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::Ingress;
use serde::Deserialize;

use super::*;

fn load(name: &str) -> Profile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("profiles/{name}.yaml"));
    crate::profile::load(&path).expect("example profiles are valid")
}

fn prod() -> Profile {
    load("prod-us-west-2")
}

/// Outputs as a deployed prod stack would report them.
fn live() -> LiveOutputs {
    let registry = "123456789012.dkr.ecr.us-west-2.amazonaws.com";
    LiveOutputs {
        cluster_endpoint: Some("https://ABCDEF.gr7.us-west-2.eks.amazonaws.com".into()),
        db_writer_endpoint: Some(
            "prod-bpa.cluster-c1a2b3c4d5e6.us-west-2.rds.amazonaws.com".into(),
        ),
        db_reader_endpoint: Some(
            "prod-bpa.cluster-ro-c1a2b3c4d5e6.us-west-2.rds.amazonaws.com".into(),
        ),
        db_port: Some(5432),
        master_secret_arn: Some(
            "arn:aws:secretsmanager:us-west-2:123456789012:secret:rds!cluster-0a1b-AbCdEf".into(),
        ),
        repository_uris: [
            "bpa/ui",
            "bpa/bpm",
            "bpa/adapter",
            "bpa/kie-server",
            "bpa/process-engine",
        ]
        .into_iter()
        .map(|r| (r.to_owned(), format!("{registry}/{r}")))
        .collect(),
        pod_subnet_ids: BTreeMap::from([
            ("us-west-2a".into(), "subnet-0pod000000000000a".into()),
            ("us-west-2b".into(), "subnet-0pod000000000000b".into()),
            ("us-west-2c".into(), "subnet-0pod000000000000c".into()),
        ]),
        pod_security_group_id: Some("sg-0c1u5t3r000000000".into()),
        atlas_endpoint_dns: Some(
            "vpce-0123-abcd.vpce-svc-0123456789abcdef0.us-west-2.vpce.amazonaws.com".into(),
        ),
        atlas_host: Some("bpa-cluster-pl-0.abcde.mongodb.net".into()),
    }
}

fn render(profile: &Profile, outputs: &LiveOutputs) -> BTreeMap<String, RenderedFile> {
    render_all(profile, outputs, &Templates::embedded())
        .expect("the built-in templates render")
        .into_iter()
        .map(|f| (f.name.clone(), f))
        .collect()
}

fn documents(text: &str) -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde_yaml::Value::deserialize(d).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn one<T: serde::de::DeserializeOwned>(text: &str) -> T {
    let docs = documents(text);
    assert_eq!(docs.len(), 1, "one document expected:\n{text}");
    serde_yaml::from_value(docs[0].clone()).expect("deserialises into its Kubernetes type")
}

const FILES: &[&str] = &[
    "bpm-ingress.yaml",
    "bpm-service.yaml",
    "db-init-job.yaml",
    "db-init-secret.sh",
    "eniconfigs.yaml",
    "ingress-tls-secret.sh",
    "kie-server-config.yaml",
    "values-overlay.yaml",
];

#[test]
fn prod_offline_snapshots() {
    let files = render(&prod(), &LiveOutputs::default());
    assert_eq!(files.keys().map(String::as_str).collect::<Vec<_>>(), FILES);
    for (name, file) in &files {
        insta::assert_snapshot!(format!("prod_offline__{name}"), file.contents);
    }
}

#[test]
fn every_manifest_is_its_kubernetes_type_offline_and_live() {
    for outputs in [LiveOutputs::default(), live()] {
        let files = render(&prod(), &outputs);

        let service: Service = one(&files["bpm-service.yaml"].contents);
        let spec = service.spec.unwrap();
        assert_eq!(service.metadata.name.as_deref(), Some("bpm-service"));
        assert_eq!(
            spec.selector.unwrap(),
            BTreeMap::from([
                ("app".into(), "bpm".into()),
                ("tier".into(), "backend".into())
            ])
        );
        assert_eq!(spec.ports.unwrap()[0].port, 8181);

        let ingress: Ingress = one(&files["bpm-ingress.yaml"].contents);
        let annotations = ingress.metadata.annotations.unwrap();
        let a = |k: &str| annotations[&format!("alb.ingress.kubernetes.io/{k}")].as_str();
        assert_eq!(a("scheme"), "internet-facing");
        assert_eq!(a("target-type"), "ip");
        assert_eq!(a("listen-ports"), r#"[{"HTTP": 80}, {"HTTPS": 443}]"#);
        assert_eq!(a("ssl-redirect"), "443");
        assert_eq!(
            a("certificate-arn"),
            "arn:aws:acm:us-west-2:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
        );
        assert_eq!(
            a("target-group-attributes"),
            "stickiness.enabled=true,stickiness.lb_cookie.duration_seconds=604800"
        );
        assert_eq!(a("healthcheck-port"), "traffic-port");
        assert_eq!(a("healthcheck-path"), "/bpm/adapter/v1/liveness");
        let spec = ingress.spec.unwrap();
        assert_eq!(spec.ingress_class_name.as_deref(), Some("alb"));
        let rule = &spec.rules.unwrap()[0];
        assert_eq!(rule.host.as_deref(), Some("bpa.example.com"));
        let path = &rule.http.as_ref().unwrap().paths[0];
        assert_eq!(path.path_type, "Prefix");
        let backend = path.backend.service.as_ref().unwrap();
        assert_eq!(backend.name, "bpm-service");
        assert_eq!(backend.port.as_ref().unwrap().number, Some(8181));

        let kie: ConfigMap = one(&files["kie-server-config.yaml"].contents);
        let data = kie.data.unwrap();
        assert_eq!(
            data["org.kie.server.controller"],
            "ws://bpm-controller.bpa.svc:8080/kie-server-controller/websocket/controller"
        );
        assert_eq!(data["org.kie.server.id"], "bpa-kie-server");
        assert_eq!(
            data["org.kie.server.location"],
            "https://bpa.example.com/kie-server/services/rest/server"
        );
        // One protocol per server template: the WebSocket controller only.
        assert!(!data.values().any(|v| v.contains("http://")));

        let eni_docs = documents(&files["eniconfigs.yaml"].contents);
        assert_eq!(eni_docs.len(), 3);
        for (doc, zone) in eni_docs
            .iter()
            .zip(["us-west-2a", "us-west-2b", "us-west-2c"])
        {
            assert_eq!(doc["apiVersion"], "crd.k8s.amazonaws.com/v1alpha1");
            assert_eq!(doc["kind"], "ENIConfig");
            assert_eq!(doc["metadata"]["name"], zone);
            let subnet = doc["spec"]["subnet"].as_str().unwrap();
            let groups = doc["spec"]["securityGroups"].as_sequence().unwrap();
            assert_eq!(groups.len(), 1);
            if outputs == LiveOutputs::default() {
                assert!(subnet.starts_with(PLACEHOLDER_START), "{subnet}");
            } else {
                assert_eq!(subnet, format!("subnet-0pod000000000000{}", &zone[9..]));
                assert_eq!(groups[0], "sg-0c1u5t3r000000000");
            }
        }

        let job_docs = documents(&files["db-init-job.yaml"].contents);
        assert_eq!(job_docs.len(), 2);
        let sql: ConfigMap = serde_yaml::from_value(job_docs[0].clone()).unwrap();
        let sql = &sql.data.unwrap()["init.sql"];
        assert!(sql.contains(r#"GRANT ALL PRIVILEGES ON DATABASE "process-engine" TO "camunda";"#));
        let job: Job = serde_yaml::from_value(job_docs[1].clone()).unwrap();
        let pod = job.spec.unwrap().template.spec.unwrap();
        let container = &pod.containers[0];
        let env = container.env.as_ref().unwrap();
        for var in [
            "PGPASSWORD",
            "BPA_KONG_DB_PASSWORD",
            "BPA_CAMUNDA_DB_PASSWORD",
        ] {
            let var = env.iter().find(|e| e.name == var).expect(var);
            assert!(var.value.is_none(), "{} must come from a Secret", var.name);
            let key = var
                .value_from
                .as_ref()
                .unwrap()
                .secret_key_ref
                .as_ref()
                .unwrap();
            assert!(key.name == DB_SECRET || key.name == DB_MASTER_SECRET);
        }
        assert_eq!(
            container.image.as_deref(),
            Some("public.ecr.aws/docker/library/postgres:16-alpine")
        );

        let values = documents(&files["values-overlay.yaml"].contents).remove(0);
        assert_eq!(values["ingress_controller"]["create"], true);
        assert_eq!(values["database"]["port"], 5432);
        let dbs = values["database"]["databases"].as_sequence().unwrap();
        assert_eq!(dbs[1]["name"], "process-engine");
        assert_eq!(dbs[1]["user"], "camunda");
        if outputs != LiveOutputs::default() {
            assert_eq!(
                values["image"]["registry"],
                "123456789012.dkr.ecr.us-west-2.amazonaws.com"
            );
            assert_eq!(
                values["mongodb"]["host"],
                "bpa-cluster-pl-0.abcde.mongodb.net"
            );
            assert_eq!(
                values["database"]["host"],
                "prod-bpa.cluster-c1a2b3c4d5e6.us-west-2.rds.amazonaws.com"
            );
        }
    }
}

#[test]
fn live_outputs_leave_no_placeholder() {
    for file in render(&prod(), &live()).values() {
        assert!(
            file.unknowns.is_empty(),
            "{}: {:?}",
            file.name,
            file.unknowns
        );
        assert!(!file.contents.contains(PLACEHOLDER_START), "{}", file.name);
    }
}

#[test]
fn offline_placeholders_say_what_is_missing() {
    let files = render(&prod(), &LiveOutputs::default());
    let values = &files["values-overlay.yaml"].unknowns;
    assert!(
        values.contains(&"<unknown: RDS writer endpoint — run `bpa-infra up` first>".to_owned()),
        "{values:?}"
    );
    assert!(files["bpm-service.yaml"].unknowns.is_empty());
    // The placeholder in a script is one quoted word: the backticks do not run anything.
    let script = &files["db-init-secret.sh"].contents;
    assert!(script.contains(
        "secret_arn='<unknown: ARN of the RDS master user secret — run `bpa-infra up` first>'"
    ));
}

#[test]
fn example_profile_renders_without_atlas_or_certificate() {
    let files = render(&load("example"), &LiveOutputs::default());
    let values = documents(&files["values-overlay.yaml"].contents).remove(0);
    assert!(values.get("mongodb").is_none());
    let ingress: Ingress = one(&files["bpm-ingress.yaml"].contents);
    let annotations = ingress.metadata.annotations.unwrap();
    assert!(!annotations.contains_key("alb.ingress.kubernetes.io/certificate-arn"));
    // A host without a certificate ARN: the controller discovers the certificate by host.
    assert_eq!(
        annotations["alb.ingress.kubernetes.io/listen-ports"],
        r#"[{"HTTP": 80}, {"HTTPS": 443}]"#
    );
    let script = &files["db-init-secret.sh"].contents;
    assert!(script.contains("BPA_KONG_DB_PASSWORD"));
}

#[test]
fn a_directory_overrides_and_adds_templates() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bpm-service.yaml.j2"),
        "kind: Service\nmetadata:\n  name: {{ service.name | yaml }}-custom\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("extra.txt.j2"), "{{ profile.name }}\n").unwrap();
    std::fs::write(dir.path().join("README.md"), "not a template\n").unwrap();
    let templates = Templates::with_overrides(dir.path()).unwrap();
    assert!(matches!(
        templates.origin("bpm-service.yaml.j2"),
        Some(Origin::File(_))
    ));
    let files = render_all(&prod(), &LiveOutputs::default(), &templates).unwrap();
    let by_name = |n: &str| files.iter().find(|f| f.name == n).unwrap();
    assert!(
        by_name("bpm-service.yaml")
            .contents
            .contains("bpm-service-custom")
    );
    assert_eq!(by_name("extra.txt").contents, "prod\n");
    assert_eq!(by_name("extra.txt").kind, FileKind::Other);
    assert_eq!(files.len(), FILES.len() + 1);
}

#[test]
fn template_errors_name_the_template_and_line() {
    let mut templates = Templates::embedded();
    templates.insert("broken.yaml.j2", "a: 1\nb: {{ no_such_value }}\n");
    let err = render_all(&prod(), &LiveOutputs::default(), &templates).unwrap_err();
    assert!(
        matches!(err, RenderError::Template { ref template, .. } if template == "broken.yaml.j2")
    );
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains("broken.yaml.j2"), "{chain}");
    assert!(chain.contains("broken.yaml.j2:2"), "{chain}");
}

#[test]
fn rendered_yaml_is_checked() {
    let mut templates = Templates::embedded();
    templates.insert("bad.yaml.j2", "a: [unclosed\n");
    let err = render_all(&prod(), &LiveOutputs::default(), &templates).unwrap_err();
    assert!(
        matches!(err, RenderError::InvalidYaml { ref file, .. } if file == "bad.yaml"),
        "{err:?}"
    );
}

#[test]
fn missing_template_directory_is_an_error() {
    let err = Templates::with_overrides(Path::new("/nonexistent/templates")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/templates"));
    let empty = tempfile::tempdir().unwrap();
    let err = Templates::with_overrides(empty.path()).unwrap_err();
    assert!(matches!(err, RenderError::NoTemplates { .. }));
}

#[test]
fn placeholders_are_found_once_each() {
    let text = "a: \"<unknown: x — y>\"\nb: '<unknown: x — y>'\nc: <unknown: z — w>\n";
    assert_eq!(
        placeholders(text),
        vec!["<unknown: x — y>".to_owned(), "<unknown: z — w>".to_owned()]
    );
}

#[test]
fn the_host_of_a_connection_string_is_read_from_either_form() {
    assert_eq!(
        connection_string_host("mongodb+srv://bpa-pl-0.abcde.mongodb.net").as_deref(),
        Some("bpa-pl-0.abcde.mongodb.net")
    );
    assert_eq!(
        connection_string_host(
            "mongodb://pl-0-us-west-2.abcde.mongodb.net:1024,pl-0-us-west-2.abcde.mongodb.net:1025/?ssl=true"
        )
        .as_deref(),
        Some("pl-0-us-west-2.abcde.mongodb.net")
    );
    // Credentials in a string are never kept.
    assert_eq!(
        connection_string_host("mongodb+srv://user:p%40ss@bpa-pl-0.abcde.mongodb.net/db")
            .as_deref(),
        Some("bpa-pl-0.abcde.mongodb.net")
    );
    assert_eq!(
        connection_string_host("https://bpa.abcde.mongodb.net"),
        None
    );
    assert_eq!(connection_string_host("mongodb+srv://"), None);
}

#[test]
fn the_atlas_host_is_rendered_when_known_and_its_placeholder_says_how_to_get_it() {
    // Known (read from Atlas): the overlay carries it next to the endpoint's DNS name.
    let files = render(&prod(), &live());
    let values = documents(&files["values-overlay.yaml"].contents).remove(0);
    assert_eq!(
        values["mongodb"]["host"].as_str(),
        Some("bpa-cluster-pl-0.abcde.mongodb.net")
    );

    // Unknown with an endpoint service name only: nothing but the Atlas UI has it.
    let outputs = LiveOutputs {
        atlas_host: None,
        ..live()
    };
    let files = render(&prod(), &outputs);
    let unknowns = &files["values-overlay.yaml"].unknowns;
    let atlas: Vec<&String> = unknowns.iter().filter(|u| u.contains("Atlas")).collect();
    assert_eq!(atlas.len(), 1, "{unknowns:?}");
    assert!(atlas[0].contains("Connect, Private Endpoint"), "{atlas:?}");
    assert!(atlas[0].contains("atlas.project_id"), "{atlas:?}");

    // Unknown with the Atlas API: it comes once a cluster uses the endpoint.
    let mut profile = prod();
    profile.atlas.as_mut().unwrap().target = crate::profile::AtlasTarget::Project {
        project_id: "5f0a1b2c3d4e5f6a7b8c9d0e".into(),
        region: "US_WEST_2".into(),
    };
    let files = render(&profile, &outputs);
    let unknowns = &files["values-overlay.yaml"].unknowns;
    assert!(
        unknowns
            .iter()
            .any(|u| u.contains("Atlas private-endpoint host")
                && u.contains("once a cluster uses the private endpoint")),
        "{unknowns:?}"
    );
}

#[test]
fn without_an_ingress_host_the_kie_location_placeholder_asks_for_it() {
    let mut profile = prod();
    profile.ingress.host = None;
    let files = render(&profile, &live());
    let kie = &files["kie-server-config.yaml"];
    assert_eq!(kie.unknowns.len(), 1, "{:?}", kie.unknowns);
    let placeholder = &kie.unknowns[0];
    assert!(
        placeholder.contains("public URL of the load balancer")
            && placeholder.contains("ingress.host"),
        "{placeholder}"
    );
    // Nothing render reads could fill it (bpa-infra never reads the Ingress back): the
    // hint asks for the profile value, not for a step that would not help.
    assert!(!placeholder.contains("apply"), "{placeholder}");
    let config: ConfigMap = one(&kie.contents);
    assert_eq!(
        config.data.unwrap()["org.kie.server.location"],
        *placeholder
    );

    // With the host, the location is the public URL, over HTTPS (a certificate is set).
    let files = render(&prod(), &LiveOutputs::default());
    let config: ConfigMap = one(&files["kie-server-config.yaml"].contents);
    assert_eq!(
        config.data.unwrap()["org.kie.server.location"],
        "https://bpa.example.com/kie-server/services/rest/server"
    );
}

#[test]
fn live_outputs_are_picked_from_the_named_outputs() {
    use crate::stack::Value;
    let map = |entries: &[(&str, &str)]| {
        Value::Map(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
                .collect(),
        )
    };
    let mut outputs: BTreeMap<String, Value> = [
        ("cluster_endpoint", "https://x.eks.amazonaws.com"),
        ("cluster_security_group_id", "sg-1"),
        ("db_writer_endpoint", "w.rds"),
        ("db_reader_endpoint", "r.rds"),
        (
            "db_master_secret_arn",
            "arn:aws:secretsmanager:us-west-2:1:secret:rds",
        ),
        ("atlas_vpc_endpoint_state", "available"),
        (
            "atlas_vpc_endpoint_dns_name",
            "vpce-1.vpce-svc-1.us-west-2.vpce.amazonaws.com",
        ),
        (
            "atlas_private_connection_string",
            "mongodb+srv://bpa-pl-0.abcde.mongodb.net",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Value::from(v)))
    .collect();
    outputs.insert("db_port".into(), Value::from(5433_i64));
    outputs.insert(
        "repository_uris".into(),
        map(&[("bpa/ui", "1.dkr.ecr/bpa/ui")]),
    );
    outputs.insert("pod_subnet_ids".into(), map(&[("us-west-2a", "subnet-p")]));
    let live = LiveOutputs::from_outputs(&outputs);
    assert_eq!(
        live,
        LiveOutputs {
            cluster_endpoint: Some("https://x.eks.amazonaws.com".into()),
            db_writer_endpoint: Some("w.rds".into()),
            db_reader_endpoint: Some("r.rds".into()),
            db_port: Some(5433),
            master_secret_arn: Some("arn:aws:secretsmanager:us-west-2:1:secret:rds".into()),
            repository_uris: BTreeMap::from([("bpa/ui".into(), "1.dkr.ecr/bpa/ui".into())]),
            pod_subnet_ids: BTreeMap::from([("us-west-2a".into(), "subnet-p".into())]),
            pod_security_group_id: Some("sg-1".into()),
            atlas_endpoint_dns: Some("vpce-1.vpce-svc-1.us-west-2.vpce.amazonaws.com".into()),
            atlas_host: Some("bpa-pl-0.abcde.mongodb.net".into()),
        }
    );
    // An endpoint that is going or was refused gives no DNS name to render.
    outputs.insert("atlas_vpc_endpoint_state".into(), Value::from("rejected"));
    assert_eq!(LiveOutputs::from_outputs(&outputs).atlas_endpoint_dns, None);
    assert_eq!(
        LiveOutputs::from_outputs(&BTreeMap::new()),
        LiveOutputs::default()
    );
}
