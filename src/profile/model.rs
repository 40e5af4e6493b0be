//! The validated profile: what the rest of the tool reads.
//!
//! A [`Profile`] is only made by validation ([`parse`](super::parse)), so every value
//! in it is one AWS accepts: CIDRs are parsed, the three zones are resolved, defaults
//! that depend on other fields (subnet CIDRs, node labels, ingress sources, the DB
//! identifier, the Atlas region) are filled in.

use std::collections::BTreeMap;
use std::fmt;

use ipnet::Ipv4Net;
use serde::Serialize;

pub use super::raw::{
    ControlPlaneLog, EcrEncryption, LoadBalancerScheme, NatGateways, PasswordEncryption, RdsMode,
    TagMutability,
};

/// A validated BPA deployment profile.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    /// Profile name; prefixes every resource name.
    pub name: String,
    pub region: String,
    /// The profile's own tags (the tool adds its ownership tags on top).
    pub tags: BTreeMap<String, String>,
    pub network: Network,
    pub eks: Eks,
    pub rds: Rds,
    pub ecr: Ecr,
    pub atlas: Option<Atlas>,
    pub ingress: Ingress,
    pub kie: Kie,
}

/// The VPC and its three zones.
#[derive(Debug, Clone, Serialize)]
pub struct Network {
    pub vpc: Vpc,
    /// Exactly three zones, in profile order.
    pub zones: Vec<Zone>,
    pub nat_gateways: NatGateways,
    /// Secondary VPC CIDR for pods.
    pub pod_cidr: Ipv4Net,
}

impl Network {
    /// Tells whether the VPC (and so its node subnets) already exists and is only read.
    pub fn is_adopted(&self) -> bool {
        self.vpc.id.is_some()
    }

    /// The node subnets' CIDRs, in zone order.
    pub fn node_cidrs(&self) -> Vec<Ipv4Net> {
        self.zones.iter().map(|z| z.node_subnet.cidr).collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Vpc {
    /// Id of the adopted VPC; `None` when the tool creates it.
    pub id: Option<String>,
    pub cidr: Ipv4Net,
}

/// One availability zone and the subnets the stack uses in it.
#[derive(Debug, Clone, Serialize)]
pub struct Zone {
    /// Availability zone name, e.g. `us-west-2a`.
    pub name: String,
    pub node_subnet: Subnet,
    /// Public subnet (only when the VPC is created).
    pub public_subnet: Option<Subnet>,
    pub pod_subnet: Subnet,
}

#[derive(Debug, Clone, Serialize)]
pub struct Subnet {
    /// Id of an adopted subnet; `None` when the tool creates it.
    pub id: Option<String>,
    pub cidr: Ipv4Net,
}

/// A Kubernetes `major.minor` version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct KubernetesVersion {
    pub major: u32,
    pub minor: u32,
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Eks {
    /// Cluster name: `<profile name>`.
    pub cluster_name: String,
    pub version: KubernetesVersion,
    pub endpoint: EndpointAccess,
    pub logging: Vec<ControlPlaneLog>,
    pub node_groups: Vec<NodeGroup>,
    pub node_ingress: Vec<IngressRule>,
    pub addons: Vec<Addon>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointAccess {
    pub private: bool,
    pub public: bool,
    pub public_cidrs: Vec<Ipv4Net>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeGroup {
    pub name: String,
    pub instance_type: String,
    pub size: GroupSize,
    /// Kubernetes labels (default `name: <node group name>`).
    pub labels: BTreeMap<String, String>,
    pub data_volume: DataVolume,
    /// Absolute directories under `/opt/bpa/data/` created on the node.
    pub data_dirs: Vec<String>,
    /// Kernel parameters persisted on the node.
    pub sysctls: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct GroupSize {
    pub min: u32,
    pub desired: u32,
    pub max: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct DataVolume {
    pub size_gib: u32,
    pub volume_type: String,
}

/// One TCP port of the node security group open to some CIDRs.
#[derive(Debug, Clone, Serialize)]
pub struct IngressRule {
    pub port: u16,
    pub cidrs: Vec<Ipv4Net>,
    pub description: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Addon {
    pub name: String,
    pub version: Option<String>,
}

/// A PostgreSQL engine version such as `16.4`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineVersion {
    pub major: u32,
    /// The version as written, e.g. `16.4`.
    pub full: String,
}

impl EngineVersion {
    /// Returns the parameter group family, e.g. `postgres16`.
    pub fn parameter_group_family(&self) -> String {
        format!("postgres{}", self.major)
    }
}

impl fmt::Display for EngineVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    Gp2,
    Gp3,
    Io1,
    Io2,
}

impl StorageType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gp2 => "gp2",
            Self::Gp3 => "gp3",
            Self::Io1 => "io1",
            Self::Io2 => "io2",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Storage {
    pub storage_type: StorageType,
    pub size_gib: u32,
    pub iops: Option<u32>,
}

/// Where the master password comes from. Never holds the password itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MasterPassword {
    /// RDS manages it in Secrets Manager.
    Managed,
    /// Read from this environment variable when needed.
    FromEnv(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Rds {
    /// DB cluster or instance identifier (lower-case).
    pub identifier: String,
    pub mode: RdsMode,
    pub engine_version: EngineVersion,
    pub instance_class: String,
    pub storage: Storage,
    pub master_username: String,
    pub master_password: MasterPassword,
    pub password_encryption: PasswordEncryption,
    /// All parameters of the (cluster) parameter group, `password_encryption` included.
    pub parameters: BTreeMap<String, String>,
    pub backup_retention_days: u32,
    pub storage_encrypted: bool,
    pub kms_key_id: Option<String>,
    pub deletion_protection: bool,
    /// CIDRs allowed on 5432 besides the pod CIDR and node subnets.
    pub allowed_cidrs: Vec<Ipv4Net>,
    pub databases: Vec<Database>,
}

/// A database and its owner, created by `db init`.
#[derive(Debug, Clone, Serialize)]
pub struct Database {
    pub name: String,
    pub user: String,
    /// Environment variable holding the user's password.
    pub password_env: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ecr {
    pub repositories: Vec<String>,
    pub scan_on_push: bool,
    pub tag_mutability: TagMutability,
    pub encryption: EcrEncryption,
    pub lifecycle: Lifecycle,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Lifecycle {
    pub expire_untagged_after_days: u32,
    pub keep_last_tagged: u32,
}

/// What the Atlas side is known by.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AtlasTarget {
    /// The endpoint service name copied from the Atlas UI; no Atlas API call is made.
    ServiceName(String),
    /// The Atlas project: the tool creates the endpoint service through the Admin API.
    Project { project_id: String, region: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct Atlas {
    pub target: AtlasTarget,
    /// Sources allowed to the endpoint (default: pod CIDR and node subnet CIDRs).
    pub allowed_cidrs: Vec<Ipv4Net>,
    /// Inclusive TCP port range allowed to the endpoint.
    pub ports: (u16, u16),
}

#[derive(Debug, Clone, Serialize)]
pub struct Ingress {
    pub host: Option<String>,
    pub certificate_arn: Option<String>,
    pub scheme: LoadBalancerScheme,
    pub sticky_session_seconds: u32,
    pub health_check_path: String,
    pub service_port: u16,
}

#[derive(Debug, Clone, Serialize)]
pub struct Kie {
    pub controller_url: String,
    pub server_id: String,
}
