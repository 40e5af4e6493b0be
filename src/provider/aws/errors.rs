//! The one classifier of AWS SDK errors: what a failed call means (retry, already
//! there, gone, in use, not allowed), for the providers' [`ProviderError`] and for the
//! plain reads of `crate::aws`.
//!
//! The codes come from the services' API references ("Common Errors" of the EC2, IAM,
//! EKS, RDS, ECR, Secrets Manager and DynamoDB API references) and the SDKs' own retry
//! classification (the AWS SDKs and Tools reference guide, "Retry behavior": throttling
//! and transient error codes, HTTP 429 and 5xx).

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::provider::ProviderError;
use crate::stack::Address;

/// Error codes AWS services use for throttling, across protocols.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Error codes that mean "try again later" without being throttling.
const TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ServerException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Error codes that mean the credentials are missing a permission, or are not valid
/// (expired, unknown): what the user fixes by changing credentials, not the profile.
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
];

/// What a failed SDK call means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// The request never got an answer: timeout or dropped connection.
    Connection,
    /// The service asks to slow down.
    Throttled,
    /// A 5xx answer or a transient code: the same call may work later.
    Unavailable,
    AlreadyExists,
    NotFound,
    /// The resource is still used by another (`DependencyViolation`, `*InUse*`).
    InUse,
    /// The credentials lack a permission or are not valid.
    AccessDenied,
    /// Anything else the service refused: permanent.
    Rejected,
}

/// Returns the class of a failed SDK call from its kind, error code and HTTP status.
pub(crate) fn classify<E>(err: &SdkError<E, HttpResponse>) -> ErrorClass
where
    E: ProvideErrorMetadata,
{
    let code = err.code().unwrap_or_default();
    let status = err.raw_response().map(|r| r.status().as_u16());
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => ErrorClass::Connection,
        _ if THROTTLING_CODES.contains(&code) || status == Some(429) => ErrorClass::Throttled,
        _ if TRANSIENT_CODES.contains(&code) || status.is_some_and(|s| s >= 500) => {
            ErrorClass::Unavailable
        }
        // An answer that could not be read as the service's: worth another try.
        SdkError::ResponseError(_) => ErrorClass::Unavailable,
        _ if code.contains("AlreadyExists")
            || code.ends_with(".Duplicate")
            || code == "EntityAlreadyExists" =>
        {
            ErrorClass::AlreadyExists
        }
        _ if code.contains("NotFound") || code == "NoSuchEntity" => ErrorClass::NotFound,
        _ if code == "DependencyViolation"
            || code.contains("InUse")
            || code == "DeleteConflict" =>
        {
            ErrorClass::InUse
        }
        _ if ACCESS_DENIED_CODES.contains(&code) => ErrorClass::AccessDenied,
        _ => ErrorClass::Rejected,
    }
}

/// Maps an SDK error of any AWS service onto a [`ProviderError`] about `address`,
/// keeping the service's error code and message and the SDK error as the source.
pub(crate) fn sdk_error<E>(
    address: &Address,
    operation: &str,
    err: SdkError<E, HttpResponse>,
) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let class = classify(&err);
    let code = err.code().unwrap_or_default().to_owned();
    let status = err.raw_response().map(|r| r.status().as_u16());
    // The service's own message when it gave one. Otherwise a short line: the SDK's full
    // context of an unparseable answer holds the whole raw response, which belongs in a
    // debug log (the error's source), not in the summary of a run.
    let detail = match (err.message(), status) {
        (Some(message), _) => message.to_owned(),
        (None, Some(status)) => format!("HTTP {status} answer without an AWS error code"),
        (None, None) => DisplayErrorContext(&err).to_string(),
    };
    let message = format!("{operation}: {detail}");
    let address = address.clone();
    match class {
        ErrorClass::Connection => ProviderError::Connection {
            address,
            code: if code.is_empty() {
                "ConnectionError".to_owned()
            } else {
                code
            },
            message,
            source: Some(Box::new(err)),
        },
        ErrorClass::Throttled => ProviderError::Throttled {
            address,
            code: or_status(code, status),
            message,
        },
        ErrorClass::Unavailable => ProviderError::Unavailable {
            address,
            code: or_status(code, status),
            message,
        },
        ErrorClass::AlreadyExists => ProviderError::AlreadyExists {
            address,
            code,
            message,
        },
        ErrorClass::NotFound => ProviderError::NotFound {
            address,
            code,
            message,
        },
        ErrorClass::InUse => ProviderError::InUse {
            address,
            code,
            message,
        },
        // Permanent for the executor; the code (`AccessDenied`…) tells the user why.
        ErrorClass::AccessDenied | ErrorClass::Rejected => ProviderError::Rejected {
            address,
            code: or_status(code, status),
            message,
            source: Some(Box::new(err)),
        },
    }
}

fn or_status(code: String, status: Option<u16>) -> String {
    match (code.is_empty(), status) {
        (false, _) => code,
        (true, Some(status)) => format!("HTTP{status}"),
        (true, None) => "Unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;
    use crate::stack::Component;

    /// An error answer of DescribeVpcs with `code` (none when empty) and HTTP `status`.
    fn answer(code: &str, status: u16) -> SdkError<DescribeVpcsError, HttpResponse> {
        let mut meta = ErrorMetadata::builder().message("the service's message");
        if !code.is_empty() {
            meta = meta.code(code);
        }
        let raw = HttpResponse::new(status.try_into().expect("a valid status"), SdkBody::empty());
        SdkError::service_error(DescribeVpcsError::generic(meta.build()), raw)
    }

    #[test]
    fn classifies_by_code_then_by_status() {
        let cases = [
            ("ThrottlingException", 400, ErrorClass::Throttled),
            ("", 429, ErrorClass::Throttled),
            ("InternalError", 500, ErrorClass::Unavailable),
            ("", 503, ErrorClass::Unavailable),
            ("InvalidVpcID.NotFound", 400, ErrorClass::NotFound),
            ("NoSuchEntity", 404, ErrorClass::NotFound),
            (
                "DBClusterAlreadyExistsFault",
                400,
                ErrorClass::AlreadyExists,
            ),
            ("InvalidGroup.Duplicate", 400, ErrorClass::AlreadyExists),
            ("DependencyViolation", 400, ErrorClass::InUse),
            ("DeleteConflict", 409, ErrorClass::InUse),
            ("UnauthorizedOperation", 403, ErrorClass::AccessDenied),
            ("ExpiredTokenException", 400, ErrorClass::AccessDenied),
            ("InvalidParameterValue", 400, ErrorClass::Rejected),
        ];
        for (code, status, class) in cases {
            assert_eq!(classify(&answer(code, status)), class, "{code} {status}");
        }
        let timeout: SdkError<DescribeVpcsError, HttpResponse> =
            SdkError::timeout_error("took too long");
        assert_eq!(classify(&timeout), ErrorClass::Connection);
    }

    #[test]
    fn provider_errors_keep_code_message_and_retry_decision() {
        let address = Address::new(Component::Network, "vpc");
        let throttled = sdk_error(&address, "ec2:DescribeVpcs", answer("", 429));
        assert!(throttled.retryable());
        assert_eq!(throttled.code(), "HTTP429");
        let denied = sdk_error(
            &address,
            "ec2:DescribeVpcs",
            answer("UnauthorizedOperation", 403),
        );
        assert!(!denied.retryable());
        assert_eq!(denied.code(), "UnauthorizedOperation");
        assert!(
            denied
                .to_string()
                .contains("ec2:DescribeVpcs: the service's message"),
            "{denied}"
        );
    }
}
