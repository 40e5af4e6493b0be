//! The Admin API operations this client calls, each with the resource version it sends
//! and the sunset date MongoDB's spec gives that version: the one place versions live.
//!
//! Atlas versions every operation on its own (`Accept: application/vnd.atlas.<date>+json`)
//! and answers a version past its sunset with `410 Gone`, `errorCode: VERSION_GONE`
//! (components.responses.gone). Source: MongoDB's OpenAPI spec, repository
//! `mongodb/openapi`, `openapi/v2.yaml` at commit 0002f827310d9c43cb0e37d95fafef88c74f8b2a,
//! cross-checked with `mongodb/atlas-sdk-go` `openapi/atlas-api-transformed.yaml` at
//! commit 68a9d51c470a255f82f2c50e3126e9a40c1560e2 (2026-08-18). There `listClusters`
//! lists `2023-01-01` (`x-sunset: "2026-11-30"`), `2023-02-01` (`x-sunset: "2026-03-01"`)
//! and `2024-08-05` (no sunset); every private endpoint operation lists `2023-01-01` only,
//! with no sunset.

use jiff::civil::Date;

/// One Admin API operation and the version this client sends for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The spec's `operationId`.
    pub id: &'static str,
    pub method: &'static str,
    /// The spec's path, `{groupId}` style.
    pub path: &'static str,
    /// The resource version, `YYYY-MM-DD`.
    pub version: &'static str,
    /// The spec's `x-sunset` for that version, `YYYY-MM-DD`; `None` while it is current.
    pub sunset: Option<&'static str>,
}

impl Operation {
    /// Returns the versioned media type of the operation's requests and answers.
    pub fn media_type(&self) -> String {
        format!("application/vnd.atlas.{}+json", self.version)
    }

    /// Tells whether Atlas no longer serves the version on `day`: the spec's gone answer
    /// is for "the sunset date is in the past", so the sunset day itself still works.
    pub fn is_gone_on(&self, day: Date) -> bool {
        self.sunset
            .and_then(|s| s.parse::<Date>().ok())
            .is_some_and(|sunset| day > sunset)
    }
}

pub const LIST_ENDPOINT_SERVICES: Operation = Operation {
    id: "listPrivateEndpointService",
    method: "GET",
    path: "/api/atlas/v2/groups/{groupId}/privateEndpoint/{cloudProvider}/endpointService",
    version: "2023-01-01",
    sunset: None,
};

pub const GET_ENDPOINT_SERVICE: Operation = Operation {
    id: "getPrivateEndpointService",
    method: "GET",
    path: "/api/atlas/v2/groups/{groupId}/privateEndpoint/{cloudProvider}/endpointService/{endpointServiceId}",
    version: "2023-01-01",
    sunset: None,
};

pub const CREATE_ENDPOINT_SERVICE: Operation = Operation {
    id: "createPrivateEndpointService",
    method: "POST",
    path: "/api/atlas/v2/groups/{groupId}/privateEndpoint/endpointService",
    version: "2023-01-01",
    sunset: None,
};

pub const DELETE_ENDPOINT_SERVICE: Operation = Operation {
    id: "deletePrivateEndpointService",
    method: "DELETE",
    path: "/api/atlas/v2/groups/{groupId}/privateEndpoint/{cloudProvider}/endpointService/{endpointServiceId}",
    version: "2023-01-01",
    sunset: None,
};

pub const GET_ENDPOINT: Operation = Operation {
    id: "getPrivateEndpoint",
    method: "GET",
    path: "/api/atlas/v2/groups/{groupId}/privateEndpoint/{cloudProvider}/endpointService/{endpointServiceId}/endpoint/{endpointId}",
    version: "2023-01-01",
    sunset: None,
};

pub const CREATE_ENDPOINT: Operation = Operation {
    id: "createPrivateEndpoint",
    method: "POST",
    path: "/api/atlas/v2/groups/{groupId}/privateEndpoint/{cloudProvider}/endpointService/{endpointServiceId}/endpoint",
    version: "2023-01-01",
    sunset: None,
};

pub const DELETE_ENDPOINT: Operation = Operation {
    id: "deletePrivateEndpoint",
    method: "DELETE",
    path: "/api/atlas/v2/groups/{groupId}/privateEndpoint/{cloudProvider}/endpointService/{endpointServiceId}/endpoint/{endpointId}",
    version: "2023-01-01",
    sunset: None,
};

/// `2023-01-01` (the version this client sent before) is gone after 2026-11-30.
pub const LIST_CLUSTERS: Operation = Operation {
    id: "listClusters",
    method: "GET",
    path: "/api/atlas/v2/groups/{groupId}/clusters",
    version: "2024-08-05",
    sunset: None,
};

/// Every operation the client calls.
pub const OPERATIONS: &[Operation] = &[
    LIST_ENDPOINT_SERVICES,
    GET_ENDPOINT_SERVICE,
    CREATE_ENDPOINT_SERVICE,
    DELETE_ENDPOINT_SERVICE,
    GET_ENDPOINT,
    CREATE_ENDPOINT,
    DELETE_ENDPOINT,
    LIST_CLUSTERS,
];

/// Returns the operations of `operations` whose version Atlas no longer serves on `day`.
pub fn gone_on(operations: &[Operation], day: Date) -> Vec<Operation> {
    operations
        .iter()
        .filter(|op| op.is_gone_on(day))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Date {
        text.parse().unwrap()
    }

    #[test]
    fn no_version_the_client_sends_is_past_its_sunset_today() {
        // Fails the day a version in the table passes its sunset: move to the version
        // the spec lists as current then.
        let today = jiff::tz::Offset::UTC
            .to_datetime(jiff::Timestamp::now())
            .date();
        assert_eq!(gone_on(OPERATIONS, today), Vec::<Operation>::new());
    }

    #[test]
    fn a_version_is_gone_the_day_after_its_sunset() {
        // The version this client used to send for listClusters.
        let old = Operation {
            version: "2023-01-01",
            sunset: Some("2026-11-30"),
            ..LIST_CLUSTERS
        };
        assert!(gone_on(&[old], day("2026-11-30")).is_empty());
        assert_eq!(gone_on(&[old], day("2026-12-01")), vec![old]);
        assert_eq!(old.media_type(), "application/vnd.atlas.2023-01-01+json");
        assert_eq!(
            LIST_CLUSTERS.media_type(),
            "application/vnd.atlas.2024-08-05+json"
        );
    }

    #[test]
    fn every_operation_is_listed_once_with_a_date_version() {
        let mut ids: Vec<&str> = OPERATIONS.iter().map(|op| op.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), OPERATIONS.len());
        for op in OPERATIONS {
            assert!(op.version.parse::<Date>().is_ok(), "{op:?}");
            assert!(
                op.sunset.is_none_or(|s| s.parse::<Date>().is_ok()),
                "{op:?}"
            );
        }
    }
}
