//! Live outputs: what exists in AWS that the rendered files need, as plain data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    /// The Atlas cluster's private-endpoint host name, as Atlas shows it.
    pub atlas_host: Option<String>,
    /// Host name of the load balancer the Ingress created.
    pub load_balancer_hostname: Option<String>,
}
