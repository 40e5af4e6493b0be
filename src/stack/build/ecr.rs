//! The ECR repositories, with their tag mutability, scanning, encryption and lifecycle
//! policy.

use crate::profile::{EcrEncryption, TagMutability};

use super::{Builder, keyed, map};
use crate::stack::{Component, ResourceKind, Spec, Value};

impl Builder<'_> {
    pub(super) fn ecr(&mut self) {
        let ecr = &self.profile.ecr;
        let lifecycle = map([(
            "rules",
            Value::List(vec![
                map([
                    ("rulePriority", 1u32.into()),
                    (
                        "description",
                        format!(
                            "Expire untagged images after {} days",
                            ecr.lifecycle.expire_untagged_after_days
                        )
                        .into(),
                    ),
                    (
                        "selection",
                        map([
                            ("tagStatus", "untagged".into()),
                            ("countType", "sinceImagePushed".into()),
                            ("countUnit", "days".into()),
                            (
                                "countNumber",
                                ecr.lifecycle.expire_untagged_after_days.into(),
                            ),
                        ]),
                    ),
                    ("action", map([("type", "expire".into())])),
                ]),
                map([
                    ("rulePriority", 2u32.into()),
                    (
                        "description",
                        format!(
                            "Keep the last {} tagged images",
                            ecr.lifecycle.keep_last_tagged
                        )
                        .into(),
                    ),
                    (
                        "selection",
                        map([
                            ("tagStatus", "tagged".into()),
                            ("tagPatternList", Value::strings(["*"])),
                            ("countType", "imageCountMoreThan".into()),
                            ("countNumber", ecr.lifecycle.keep_last_tagged.into()),
                        ]),
                    ),
                    ("action", map([("type", "expire".into())])),
                ]),
            ]),
        )]);
        let mutability = match ecr.tag_mutability {
            TagMutability::Mutable => "MUTABLE",
            TagMutability::Immutable => "IMMUTABLE",
        };
        let encryption = match ecr.encryption {
            EcrEncryption::Aes256 => "AES256",
            EcrEncryption::Kms => "KMS",
        };
        for repository in ecr.repositories.clone() {
            let spec = Spec::new()
                .with("image_tag_mutability", mutability)
                .with("scan_on_push", ecr.scan_on_push)
                .with("encryption_type", encryption)
                .with("lifecycle_policy", lifecycle.clone());
            self.managed(
                keyed(Component::Ecr, "repository", repository.as_str()),
                ResourceKind::EcrRepository,
                &repository,
                spec,
                &[],
            );
        }
    }
}
