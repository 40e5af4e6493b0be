//! The RDS-managed master user secret in Secrets Manager.

use std::fmt;

use super::{Aws, AwsError, AwsErrorKind};

/// User name and password from a database secret; `Debug` hides the password.
#[derive(Clone)]
pub struct DatabaseCredentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for DatabaseCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseCredentials")
            .field("username", &self.username)
            .field("password", &"****")
            .finish()
    }
}

/// Reads the JSON secret RDS keeps the master credentials in (`{"username", "password"}`).
pub async fn database_credentials(
    aws: &Aws,
    secret_arn: &str,
) -> Result<DatabaseCredentials, AwsError> {
    const OPERATION: &str = "secretsmanager:GetSecretValue";
    let client = aws_sdk_secretsmanager::Client::new(aws.sdk_config());
    let output = client
        .get_secret_value()
        .secret_id(secret_arn)
        .send()
        .await
        .map_err(|err| AwsError::from_sdk(OPERATION, secret_arn, &err))?;
    let malformed = |what: &str| AwsError {
        kind: AwsErrorKind::Other,
        operation: OPERATION.to_owned(),
        resource: Some(secret_arn.to_owned()),
        message: format!("the secret {what}"),
    };
    let text = output
        .secret_string()
        .ok_or_else(|| malformed("has no string value"))?;
    parse(text).ok_or_else(|| malformed("is not JSON with `username` and `password`"))
}

fn parse(text: &str) -> Option<DatabaseCredentials> {
    #[derive(serde::Deserialize)]
    struct Secret {
        username: String,
        password: String,
    }
    // serde_json's error could quote the secret's text; it is dropped here on purpose.
    let secret: Secret = serde_json::from_str(text).ok()?;
    Some(DatabaseCredentials {
        username: secret.username,
        password: secret.password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rds_secret_format() {
        let creds = parse(r#"{"username":"bpaadmin","password":"s3cr3t!"}"#).unwrap();
        assert_eq!(creds.username, "bpaadmin");
        assert_eq!(creds.password, "s3cr3t!");
        assert!(!format!("{creds:?}").contains("s3cr3t"));
        assert!(parse("not json s3cr3t").is_none());
    }
}
