//! The run lock's store on AWS: one item in a DynamoDB table of the profile's own.
//!
//! The table `<profile>-bpa-infra-lock` is made on first use, tagged like every other
//! resource (`bpa-infra:profile`, `bpa-infra:address = lock.table`, the profile's tags),
//! billed per request (a few writes per run cost nothing at rest), and deleted by a
//! `down` that removed everything else. A table with that name that does not carry the
//! profile's tag is never used or deleted.
//!
//! Every write is a conditional `PutItem`/`DeleteItem`, atomic in DynamoDB: taking the
//! lock is "put if there is no item" (`attribute_not_exists`), and heartbeats, releases
//! and take-overs are "if the item still has my token". Reads are strongly consistent.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableStatus, Tag,
};
use jiff::Timestamp;

use super::errors::{ErrorClass, classify};
use crate::lock::{Holder, LockRecord, LockStore, PutOutcome, StoreError};
use crate::stack::{ADDRESS_TAG, PROFILE_TAG};

/// The address the lock table is tagged with; it is not part of the stack.
pub const LOCK_TABLE_ADDRESS: &str = "lock.table";
/// The table's hash key and the one item's key value.
const KEY: &str = "lock_name";
const RUN: &str = "run";
/// How long a new table may take to become ACTIVE (seconds on AWS).
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

/// Returns the name of the lock table of `profile`.
pub fn lock_table_name(profile: &str) -> String {
    format!("{profile}-bpa-infra-lock")
}

/// The lock store of one profile.
#[derive(Debug, Clone)]
pub struct DynamoLockStore {
    client: Client,
    table: String,
    profile: String,
    tags: BTreeMap<String, String>,
}

impl DynamoLockStore {
    /// The store of `profile`, whose own `tags` go on the table next to the ownership tags.
    pub fn new(
        config: &aws_config::SdkConfig,
        profile: &str,
        tags: &BTreeMap<String, String>,
    ) -> Self {
        let mut all = tags.clone();
        all.insert("Name".to_owned(), lock_table_name(profile));
        all.insert(PROFILE_TAG.to_owned(), profile.to_owned());
        all.insert(ADDRESS_TAG.to_owned(), LOCK_TABLE_ADDRESS.to_owned());
        Self {
            client: Client::new(config),
            table: lock_table_name(profile),
            profile: profile.to_owned(),
            tags: all,
        }
    }

    /// The table's status and ARN, or `None` when it does not exist.
    async fn describe_table(&self) -> Result<Option<(TableStatus, String)>, StoreError> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(answer) => Ok(answer.table().map(|table| {
                (
                    table.table_status().cloned().unwrap_or(TableStatus::Active),
                    table.table_arn().unwrap_or_default().to_owned(),
                )
            })),
            Err(err) if err.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(err) => Err(call_error("dynamodb:DescribeTable", &err)),
        }
    }

    async fn create_table(&self) -> Result<(), StoreError> {
        let key = AttributeDefinition::builder()
            .attribute_name(KEY)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|err| build_error("AttributeDefinition", &err))?;
        let schema = KeySchemaElement::builder()
            .attribute_name(KEY)
            .key_type(KeyType::Hash)
            .build()
            .map_err(|err| build_error("KeySchemaElement", &err))?;
        let tags = self
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| build_error("Tag", &err))?;
        match self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(key)
            .key_schema(schema)
            .billing_mode(BillingMode::PayPerRequest)
            .set_tags(Some(tags))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Another run made it first: fine, as long as it is ours (checked next).
            Err(err) if err.code() == Some("ResourceInUseException") => Ok(()),
            Err(err) => Err(call_error("dynamodb:CreateTable", &err)),
        }
    }

    async fn check_owned(&self, arn: &str) -> Result<(), StoreError> {
        let tags = self
            .client
            .list_tags_of_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|err| call_error("dynamodb:ListTagsOfResource", &err))?;
        let owned = tags
            .tags()
            .iter()
            .any(|t| t.key() == PROFILE_TAG && t.value() == self.profile);
        if owned {
            Ok(())
        } else {
            Err(StoreError::NotOwned {
                what: format!("DynamoDB table {}", self.table),
                profile: self.profile.clone(),
                detail: format!(
                    "it has no `{PROFILE_TAG}={}` tag, so bpa-infra neither uses nor deletes it; \
                     remove or rename it, or give the profile another name",
                    self.profile
                ),
            })
        }
    }

    async fn read(&self) -> Result<Option<LockRecord>, StoreError> {
        let answer = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(RUN.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| call_error("dynamodb:GetItem", &err))?;
        answer.item().map(from_item).transpose()
    }
}

#[async_trait]
impl LockStore for DynamoLockStore {
    fn describe(&self) -> String {
        format!("DynamoDB table {}", self.table)
    }

    async fn ensure(&self) -> Result<(), StoreError> {
        if self.describe_table().await?.is_none() {
            self.create_table().await?;
        }
        let started = tokio::time::Instant::now();
        loop {
            match self.describe_table().await? {
                Some((TableStatus::Active, arn)) => return self.check_owned(&arn).await,
                Some((TableStatus::Creating | TableStatus::Updating, _))
                    if started.elapsed() < ACTIVE_TIMEOUT =>
                {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Some((status, _)) => {
                    return Err(StoreError::Call {
                        operation: "dynamodb:DescribeTable".to_owned(),
                        message: format!(
                            "table {} is {} instead of ACTIVE",
                            self.table,
                            status.as_str()
                        ),
                        retryable: true,
                    });
                }
                // Deleted under our feet (a `down` finishing): make it again.
                None => self.create_table().await?,
            }
        }
    }

    async fn exists(&self) -> Result<bool, StoreError> {
        let Some((_, arn)) = self.describe_table().await? else {
            return Ok(false);
        };
        match self.check_owned(&arn).await {
            Ok(()) => Ok(true),
            Err(StoreError::NotOwned { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    async fn put_if_absent(&self, record: &LockRecord) -> Result<PutOutcome, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", KEY)
            .send()
            .await;
        match put {
            Ok(_) => Ok(PutOutcome::Written),
            Err(err) if is_condition_failure(&err) => Ok(match self.read().await? {
                Some(held) => PutOutcome::Held(held),
                None => PutOutcome::Vanished,
            }),
            Err(err) => Err(call_error("dynamodb:PutItem", &err)),
        }
    }

    async fn replace_if(&self, token: &str, record: &LockRecord) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)))
            .condition_expression("#t = :t")
            .expression_attribute_names("#t", "token")
            .expression_attribute_values(":t", AttributeValue::S(token.to_owned()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(call_error("dynamodb:PutItem", &err)),
        }
    }

    async fn delete_if(&self, token: &str) -> Result<bool, StoreError> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(RUN.to_owned()))
            .condition_expression("#t = :t")
            .expression_attribute_names("#t", "token")
            .expression_attribute_values(":t", AttributeValue::S(token.to_owned()))
            .send()
            .await;
        match delete {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failure(&err) => Ok(false),
            Err(err) => Err(call_error("dynamodb:DeleteItem", &err)),
        }
    }

    async fn remove(&self) -> Result<(), StoreError> {
        let Some((_, arn)) = self.describe_table().await? else {
            return Ok(());
        };
        self.check_owned(&arn).await?;
        match self
            .client
            .delete_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("ResourceNotFoundException") => Ok(()),
            Err(err) => Err(call_error("dynamodb:DeleteTable", &err)),
        }
    }
}

fn to_item(record: &LockRecord) -> HashMap<String, AttributeValue> {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    HashMap::from([
        (KEY.to_owned(), s(RUN)),
        ("token".to_owned(), s(&record.token)),
        ("host".to_owned(), s(&record.holder.host)),
        (
            "pid".to_owned(),
            AttributeValue::N(record.holder.pid.to_string()),
        ),
        ("command".to_owned(), s(&record.holder.command)),
        ("acquired_at".to_owned(), s(&record.acquired_at.to_string())),
        (
            "heartbeat_at".to_owned(),
            s(&record.heartbeat_at.to_string()),
        ),
        (
            "tool".to_owned(),
            s(concat!("bpa-infra ", env!("CARGO_PKG_VERSION"))),
        ),
    ])
}

fn from_item(item: &HashMap<String, AttributeValue>) -> Result<LockRecord, StoreError> {
    let text = |name: &str| -> Result<String, StoreError> {
        match item.get(name) {
            Some(AttributeValue::S(value)) => Ok(value.clone()),
            Some(AttributeValue::N(value)) => Ok(value.clone()),
            _ => Err(unreadable(name)),
        }
    };
    let time = |name: &str| -> Result<Timestamp, StoreError> {
        text(name)?.parse().map_err(|_| unreadable(name))
    };
    Ok(LockRecord {
        token: text("token")?,
        holder: Holder {
            host: text("host")?,
            pid: text("pid")?.parse().map_err(|_| unreadable("pid"))?,
            command: text("command")?,
        },
        acquired_at: time("acquired_at")?,
        heartbeat_at: time("heartbeat_at")?,
    })
}

fn unreadable(attribute: &str) -> StoreError {
    StoreError::Call {
        operation: "dynamodb:GetItem".to_owned(),
        message: format!("the lock item's `{attribute}` is missing or unreadable"),
        retryable: false,
    }
}

fn is_condition_failure<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

/// Maps an SDK error onto a store error; throttling, 5xx answers and connection
/// failures are retryable, by the same classifier as every other AWS call of the tool.
fn call_error<E>(operation: &str, err: &SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().unwrap_or_default();
    let retryable = matches!(
        classify(err),
        ErrorClass::Connection | ErrorClass::Throttled | ErrorClass::Unavailable
    );
    let message = match (err.message(), status) {
        (Some(message), _) => format!("{code}: {message}"),
        (None, Some(status)) => format!("HTTP {status} answer without an AWS error code"),
        (None, None) => DisplayErrorContext(err).to_string(),
    };
    StoreError::Call {
        operation: operation.to_owned(),
        message,
        retryable,
    }
}

fn build_error(what: &str, err: &dyn std::error::Error) -> StoreError {
    StoreError::Call {
        operation: "dynamodb:CreateTable".to_owned(),
        message: format!("{what}: {err}"),
        retryable: false,
    }
}
