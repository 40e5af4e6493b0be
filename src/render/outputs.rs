//! Live outputs: what exists in AWS that the rendered files need, as plain data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stack::Value;

/// Identifiers and endpoints read from the deployed stack; every one is optional.
///
/// `render --offline` uses [`LiveOutputs::default`]: every value missing, so every file
/// shows placeholders where these values go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveOutputs {
    /// EKS API server endpoint.
    pub cluster_endpoint: Option<String>,
    /// RDS writer endpoint (cluster endpoint, or the instance address in instance mode).
    pub db_writer_endpoint: Option<String>,
    /// RDS reader endpoint (DB cluster only).
    pub db_reader_endpoint: Option<String>,
    pub db_port: Option<u16>,
    /// ARN of the Secrets Manager secret RDS keeps the master password in.
    pub master_secret_arn: Option<String>,
    /// Repository URIs by repository name, e.g. `bpa/ui`.
    #[serde(default)]
    pub repository_uris: BTreeMap<String, String>,
    /// Pod subnet ids by availability zone.
    #[serde(default)]
    pub pod_subnet_ids: BTreeMap<String, String>,
    /// Security group for pods (the EKS cluster security group).
    pub pod_security_group_id: Option<String>,
    /// DNS name of the interface VPC endpoint to MongoDB Atlas.
    pub atlas_endpoint_dns: Option<String>,
    /// The Atlas cluster's private-endpoint host name: the host of the private
    /// connection string Atlas gives for the profile's endpoint (see
    /// [`connection_string_host`]). Only the Atlas Admin API knows it.
    pub atlas_host: Option<String>,
}

/// The states of a VPC endpoint whose DNS name leads nowhere useful: the file shows a
/// placeholder rather than the name of an endpoint that is going or was refused.
const DEAD_ENDPOINT_STATES: [&str; 3] = ["deleting", "failed", "rejected"];

impl LiveOutputs {
    /// Picks what the rendered files use out of the stack's named outputs (what
    /// [`crate::outputs::collect`] makes of the live state the providers read): the same
    /// values `bpa-infra outputs` shows.
    pub fn from_outputs(outputs: &BTreeMap<String, Value>) -> Self {
        let text = |name: &str| outputs.get(name).and_then(Value::as_str).map(str::to_owned);
        let map = |name: &str| -> BTreeMap<String, String> {
            outputs
                .get(name)
                .and_then(Value::as_map)
                .map(|entries| {
                    entries
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default()
        };
        let endpoint_alive = text("atlas_vpc_endpoint_state")
            .is_none_or(|state| !DEAD_ENDPOINT_STATES.contains(&state.as_str()));
        Self {
            cluster_endpoint: text("cluster_endpoint"),
            db_writer_endpoint: text("db_writer_endpoint"),
            db_reader_endpoint: text("db_reader_endpoint"),
            db_port: outputs
                .get("db_port")
                .and_then(Value::as_int)
                .and_then(|p| u16::try_from(p).ok()),
            master_secret_arn: text("db_master_secret_arn"),
            repository_uris: map("repository_uris"),
            pod_subnet_ids: map("pod_subnet_ids"),
            pod_security_group_id: text("cluster_security_group_id"),
            atlas_endpoint_dns: text("atlas_vpc_endpoint_dns_name").filter(|_| endpoint_alive),
            atlas_host: text("atlas_private_connection_string")
                .as_deref()
                .and_then(connection_string_host),
        }
    }
}

/// Returns the host of a MongoDB connection string: the SRV host of
/// `mongodb+srv://host/...`, or the first host of `mongodb://h1:p1,h2:p2/...` (the hosts
/// of a private-endpoint string share their name and differ by port). `None` when the
/// text is not a connection string.
pub fn connection_string_host(connection_string: &str) -> Option<String> {
    let rest = connection_string
        .strip_prefix("mongodb+srv://")
        .or_else(|| connection_string.strip_prefix("mongodb://"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    // Credentials, if a string carries any, come before the last `@`: never kept.
    let hosts = authority
        .rsplit_once('@')
        .map_or(authority, |(_, hosts)| hosts);
    let first = hosts.split(',').next().unwrap_or_default();
    let host = match first.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => first,
    };
    (!host.is_empty()).then(|| host.to_owned())
}
