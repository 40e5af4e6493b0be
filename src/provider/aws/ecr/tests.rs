//! Unit tests of the ECR provider: lifecycle policies compared as JSON, and the
//! teardown rule for repositories that hold images, against `aws-smithy-mocks`.

use aws_sdk_ecr::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ecr::operation::delete_repository::DeleteRepositoryOutput;
use aws_sdk_ecr::operation::describe_repositories::DescribeRepositoriesOutput;
use aws_sdk_ecr::operation::get_lifecycle_policy::GetLifecyclePolicyOutput;
use aws_sdk_ecr::operation::list_images::ListImagesOutput;
use aws_sdk_ecr::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_ecr::types::ImageIdentifier;
use aws_smithy_mocks::{Rule, RuleMode, create_mock_http_client, mock};

use super::super::support::json_to_value;
use super::*;
use crate::provider::diff_attributes;

fn client(rules: &[&Rule]) -> Client {
    let mut interceptor =
        aws_smithy_mocks::MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    let config = aws_sdk_ecr::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .http_client(create_mock_http_client())
        .interceptor(interceptor)
        .build();
    Client::from_conf(config)
}

fn address() -> Address {
    Address::keyed(Component::Ecr, "repository", "bpa/ui")
}

fn policy() -> Value {
    json_to_value(serde_json::json!({
        "rules": [
            {"rulePriority": 1, "description": "Expire untagged images after 14 days",
             "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14},
             "action": {"type": "expire"}},
            {"rulePriority": 2, "description": "Keep the last 50 tagged images",
             "selection": {"tagStatus": "tagged", "tagPatternList": ["*"], "countType": "imageCountMoreThan", "countNumber": 50},
             "action": {"type": "expire"}}
        ]
    }))
}

fn repository() -> Repository {
    Repository::builder()
        .repository_name("bpa/ui")
        .repository_arn("arn:aws:ecr:us-west-2:123456789012:repository/bpa/ui")
        .repository_uri("123456789012.dkr.ecr.us-west-2.amazonaws.com/bpa/ui")
        .registry_id("123456789012")
        .image_tag_mutability(ImageTagMutability::Immutable)
        .image_scanning_configuration(
            ImageScanningConfiguration::builder()
                .scan_on_push(true)
                .build(),
        )
        .build()
}

/// The reads of one repository; `stored_policy` is the text ECR returns.
fn reads(stored_policy: &'static str, images: usize) -> Vec<Rule> {
    vec![
        mock!(aws_sdk_ecr::Client::describe_repositories).then_output(|| {
            DescribeRepositoriesOutput::builder()
                .repositories(repository())
                .build()
        }),
        mock!(aws_sdk_ecr::Client::list_tags_for_resource).then_output(|| {
            ListTagsForResourceOutput::builder()
                .tags(
                    Tag::builder()
                        .key(PROFILE_TAG)
                        .value("prod")
                        .build()
                        .unwrap(),
                )
                .build()
        }),
        mock!(aws_sdk_ecr::Client::get_lifecycle_policy).then_output(move || {
            GetLifecyclePolicyOutput::builder()
                .lifecycle_policy_text(stored_policy)
                .build()
        }),
        mock!(aws_sdk_ecr::Client::list_images).then_output(move || {
            let mut output = ListImagesOutput::builder();
            for i in 0..images {
                output = output.image_ids(
                    ImageIdentifier::builder()
                        .image_tag(format!("v{i}"))
                        .build(),
                );
            }
            output.build()
        }),
    ]
}

fn desired() -> Resource {
    let tags = Value::Map([(PROFILE_TAG.to_owned(), Value::from("prod"))].into());
    Resource::managed(
        address(),
        ResourceKind::EcrRepository,
        Spec::new()
            .with("name", "bpa/ui")
            .with("image_tag_mutability", "IMMUTABLE")
            .with("scan_on_push", true)
            .with("encryption_type", "AES256")
            .with("lifecycle_policy", policy())
            .with("tags", tags),
    )
}

#[tokio::test]
async fn lifecycle_policy_is_compared_as_parsed_json() {
    // ECR keeps the text as sent; another tool may have written it with other spacing
    // and key order.
    const STORED: &str = r#"{"rules":[{"action":{"type":"expire"},"selection":{"countNumber":14,"countUnit":"days","countType":"sinceImagePushed","tagStatus":"untagged"},"description":"Expire untagged images after 14 days","rulePriority":1},
      {"rulePriority":2,"description":"Keep the last 50 tagged images","selection":{"tagStatus":"tagged","tagPatternList":["*"],"countType":"imageCountMoreThan","countNumber":50},"action":{"type":"expire"}}]}"#;
    let rules = reads(STORED, 0);
    let rule_refs: Vec<&Rule> = rules.iter().collect();
    let ecr = EcrProvider::new(client(&rule_refs), TeardownOptions::default());
    let live = ecr.read(&desired()).await.unwrap().expect("exists");
    assert_eq!(live.ownership, ObservedOwnership::Owned);
    assert_eq!(
        live.outputs.get("repository_uri"),
        Some(&Value::from(
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/bpa/ui"
        ))
    );
    assert_eq!(live.outputs.get("holds_images"), Some(&Value::Bool(false)));
    let changes = ecr.diff(&desired(), &live);
    assert!(changes.is_empty(), "{changes:?}");

    let mut keep_ten = desired();
    let mut changed = policy();
    if let Value::Map(root) = &mut changed
        && let Some(Value::List(rules)) = root.get_mut("rules")
        && let Some(Value::Map(rule)) = rules.get_mut(1)
        && let Some(Value::Map(selection)) = rule.get_mut("selection")
    {
        selection.insert("countNumber".into(), Value::Int(10));
    }
    keep_ten.spec.insert("lifecycle_policy", changed);
    let changes = diff_attributes(&keep_ten, &live, crate::provider::default_change_class);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].attribute, "lifecycle_policy");
    assert_eq!(changes[0].class, ChangeClass::InPlace);
}

#[test]
fn policy_json_round_trips() {
    let json = to_json(&policy()).unwrap();
    assert_eq!(json_to_value(json.clone()), policy());
    assert_eq!(json["rules"][1]["selection"]["countNumber"], 50);
    assert!(to_json(&Value::Secret(crate::stack::SecretRef::env("X"))).is_err());
}

#[tokio::test]
async fn a_repository_with_images_is_kept_unless_forced() {
    let rules = reads("{}", 2);
    let delete = mock!(aws_sdk_ecr::Client::delete_repository)
        .match_requests(|r| r.force() == Some(true))
        .then_output(|| DeleteRepositoryOutput::builder().build());
    let mut rule_refs: Vec<&Rule> = rules.iter().collect();
    rule_refs.push(&delete);

    let careful = EcrProvider::new(client(&rule_refs), TeardownOptions::default());
    let live = careful.read(&desired()).await.unwrap().unwrap();
    assert_eq!(live.outputs.get("holds_images"), Some(&Value::Bool(true)));
    let refusal =
        deletion_refusal(&live, &TeardownOptions::default()).expect("refused at plan time");
    assert!(refusal.to_string().contains("--force-delete-images"));
    let err = careful.delete(&live, None).await.unwrap_err();
    assert_eq!(err.code(), "RepositoryNotEmpty");
    assert!(err.to_string().contains("bpa/ui"));
    assert_eq!(delete.num_calls(), 0);

    let forced = TeardownOptions {
        force_delete_images: true,
        ..TeardownOptions::default()
    };
    assert!(careful.deletion_refusal(&live).is_some());
    let forceful = EcrProvider::new(client(&rule_refs), forced);
    assert!(forceful.deletion_refusal(&live).is_none());
    forceful.delete(&live, None).await.unwrap();
    assert_eq!(delete.num_calls(), 1);
}
