//! The profile exactly as written in YAML: serde types that mirror the file.
//!
//! These types only describe shape and defaults. They accept values that AWS would
//! refuse; `validate` turns them into a [`Profile`](super::Profile) that cannot hold
//! such values. The JSON Schema printed by `bpa-infra schema` is derived from them, so
//! every default documented here is the one the tool applies.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only `apiVersion` this release reads.
pub const API_VERSION: &str = "bpa-infra/v1";

/// A BPA deployment: everything `bpa-infra` provisions for one environment.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "bpa-infra profile")]
pub struct RawProfile {
    /// Format version of this file; must be `bpa-infra/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Profile name: prefixes every resource name and is written to the `bpa-infra:profile` tag.
    pub name: String,
    /// AWS region, e.g. `us-west-2`.
    pub region: String,
    /// Extra tags put on every resource the tool creates.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub network: RawNetwork,
    pub eks: RawEks,
    pub rds: RawRds,
    #[serde(default)]
    pub ecr: RawEcr,
    /// MongoDB Atlas private endpoint; omit to provision none.
    #[serde(default)]
    pub atlas: Option<RawAtlas>,
    #[serde(default)]
    pub ingress: RawIngress,
    #[serde(default)]
    pub kie: RawKie,
}

/// The VPC, its subnets in three availability zones, and the pod CIDR.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub vpc: RawVpc,
    /// Exactly three availability zones of the region, e.g. `[us-west-2a, us-west-2b, us-west-2c]`.
    pub availability_zones: Vec<String>,
    /// Node (private) subnets, one per availability zone. Required when adopting a VPC
    /// (give `id` and `cidr`); optional when creating one (CIDRs are carved from the VPC CIDR).
    #[serde(default)]
    pub node_subnets: Vec<RawSubnet>,
    /// Public subnets for the NAT and load balancers, one per availability zone; only when
    /// creating a VPC. Carved from the VPC CIDR when omitted.
    #[serde(default)]
    pub public_subnets: Vec<RawSubnet>,
    /// NAT gateways when creating a VPC: one shared (`single`) or one per availability zone.
    #[serde(default)]
    pub nat_gateways: NatGateways,
    /// Secondary VPC CIDR for pods (VPC CNI custom networking).
    #[serde(default = "default_pod_cidr")]
    pub pod_cidr: String,
    /// Pod subnets, one per availability zone; carved from `pod_cidr` when omitted.
    #[serde(default)]
    pub pod_subnets: Vec<RawSubnet>,
}

/// The VPC: adopted when `id` is given (read and checked, never changed), created otherwise.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawVpc {
    /// Id of an existing VPC to adopt, e.g. `vpc-0a1b2c3d4e5f60718`. Omit to create a VPC.
    #[serde(default)]
    pub id: Option<String>,
    /// The VPC's primary IPv4 CIDR (of the adopted VPC, or of the one to create).
    pub cidr: String,
}

/// A subnet in one availability zone.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSubnet {
    /// Availability zone, one of `network.availability_zones`.
    pub az: String,
    /// Id of an existing subnet (adopt mode only).
    #[serde(default)]
    pub id: Option<String>,
    /// IPv4 CIDR of the subnet.
    pub cidr: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NatGateways {
    /// One NAT gateway shared by the three availability zones.
    #[default]
    Single,
    /// One NAT gateway per availability zone (survives the loss of a zone).
    PerAz,
}

/// The EKS cluster, its node groups and addons.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEks {
    /// Kubernetes minor version, e.g. `"1.35"`.
    pub version: String,
    /// Cluster API endpoint access.
    #[serde(default)]
    pub endpoint: RawEndpointAccess,
    /// Control-plane log types sent to CloudWatch.
    #[serde(default = "default_cluster_logging")]
    pub logging: Vec<ControlPlaneLog>,
    /// Managed node groups, one per node role (e.g. `node-1` … `node-4`).
    pub node_groups: Vec<RawNodeGroup>,
    /// Ingress rules of the node security group; by default TCP 30101, 443 and 22, each
    /// from `eks.node_ingress_cidrs`.
    #[serde(default)]
    #[schemars(transform = node_ingress_schema_default)]
    pub node_ingress: Option<Vec<RawIngressRule>>,
    /// CIDRs the default node ingress rules (30101, 443, 22) allow; defaults to the VPC CIDR.
    #[serde(default)]
    #[schemars(transform = derived_default)]
    pub node_ingress_cidrs: Option<Vec<String>>,
    /// EKS addons; vpc-cni is configured for custom networking.
    #[serde(default = "default_addons")]
    pub addons: Vec<RawAddon>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEndpointAccess {
    /// Reach the API server from inside the VPC.
    #[serde(default = "yes")]
    pub private: bool,
    /// Reach the API server from the internet.
    #[serde(default = "yes")]
    pub public: bool,
    /// CIDRs allowed to reach the public endpoint.
    #[serde(default = "default_public_access_cidrs")]
    pub public_cidrs: Vec<String>,
}

impl Default for RawEndpointAccess {
    fn default() -> Self {
        Self {
            private: true,
            public: true,
            public_cidrs: default_public_access_cidrs(),
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ControlPlaneLog {
    Api,
    Audit,
    Authenticator,
    ControllerManager,
    Scheduler,
}

/// A managed node group: its instances, Kubernetes labels and node-local data.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNodeGroup {
    /// Node group name, e.g. `node-1`.
    pub name: String,
    /// EC2 instance type, e.g. `m5.2xlarge`.
    #[serde(default = "default_instance_type")]
    pub instance_type: String,
    #[serde(default)]
    pub size: RawGroupSize,
    /// Kubernetes node labels; defaults to `name: <node group name>`.
    #[serde(default)]
    #[schemars(transform = derived_default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// Data EBS volume mounted at `/opt`.
    #[serde(default)]
    pub data_volume: RawDataVolume,
    /// Directories created under `/opt/bpa/data/` on this node, e.g. `/opt/bpa/data/kafka`.
    #[serde(default)]
    pub data_dirs: Vec<String>,
    /// Kernel parameters persisted in `/etc/sysctl.d/`; always on top of
    /// `vm.max_map_count: "262144"` (which Elasticsearch needs), unless listed with another value.
    #[serde(default = "default_sysctls")]
    pub sysctls: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGroupSize {
    #[serde(default = "one")]
    pub min: u32,
    #[serde(default = "one")]
    pub desired: u32,
    #[serde(default = "one")]
    pub max: u32,
}

impl Default for RawGroupSize {
    fn default() -> Self {
        Self {
            min: 1,
            desired: 1,
            max: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDataVolume {
    /// Size of the data volume in GiB.
    #[serde(default = "default_data_volume_gib")]
    pub size_gib: u32,
    /// EBS volume type.
    #[serde(default = "default_data_volume_type")]
    pub r#type: String,
}

impl Default for RawDataVolume {
    fn default() -> Self {
        Self {
            size_gib: default_data_volume_gib(),
            r#type: default_data_volume_type(),
        }
    }
}

/// One ingress rule of the node security group.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawIngressRule {
    /// TCP port.
    pub port: u16,
    /// Source CIDRs; default `eks.node_ingress_cidrs`.
    #[serde(default)]
    #[schemars(transform = derived_default)]
    pub cidrs: Option<Vec<String>>,
    /// Rule description; default `TCP <port>`.
    #[serde(default)]
    #[schemars(transform = derived_default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAddon {
    /// Addon name: `vpc-cni`, `coredns`, `kube-proxy`, `aws-ebs-csi-driver`, …
    pub name: String,
    /// Addon version; the default version for the cluster's Kubernetes version when omitted.
    #[serde(default)]
    #[schemars(transform = derived_default)]
    pub version: Option<String>,
}

/// Multi-AZ PostgreSQL on RDS.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRds {
    /// DB cluster (or instance) identifier; defaults to `<name>-bpa`.
    #[serde(default)]
    #[schemars(transform = derived_default)]
    pub identifier: Option<String>,
    #[serde(default)]
    pub mode: RdsMode,
    /// PostgreSQL engine version, e.g. `"16.4"`.
    pub engine_version: String,
    /// DB instance class, e.g. `db.m5d.2xlarge`.
    pub instance_class: String,
    #[serde(default)]
    pub storage: RawStorage,
    /// Master user name: 1–16 letters, digits or underscores, starting with a letter.
    #[serde(default = "default_master_username")]
    pub master_username: String,
    /// `managed` (Secrets Manager, default) or `{from_env: VARIABLE}`.
    #[serde(default)]
    pub master_password: RawMasterPassword,
    /// Value of `password_encryption` in the parameter group.
    #[serde(default)]
    pub password_encryption: PasswordEncryption,
    /// Further parameters of the (cluster) parameter group.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// Days of automated backups (1–35).
    #[serde(default = "default_backup_retention")]
    pub backup_retention_days: u32,
    /// Encrypt storage at rest.
    #[serde(default = "yes")]
    pub storage_encrypted: bool,
    /// KMS key for storage encryption; the AWS-managed key when omitted.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// Refuse deletion until it is turned off.
    #[serde(default = "yes")]
    pub deletion_protection: bool,
    /// CIDRs allowed on 5432 besides the pod CIDR and the node subnets.
    #[serde(default)]
    pub allowed_cidrs: Vec<String>,
    /// Databases and their owners, created by `db init`.
    #[serde(default)]
    pub databases: Vec<RawDatabase>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RdsMode {
    /// Multi-AZ DB cluster: one writer and two readable standbys in three AZs.
    #[default]
    MultiAzCluster,
    /// Multi-AZ DB instance: one primary and one standby.
    MultiAzInstance,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    /// `io1`, `io2` or `gp3` (Multi-AZ DB clusters); `gp2` also for instances.
    #[serde(default = "default_storage_type")]
    pub r#type: String,
    /// Allocated storage in GiB.
    #[serde(default = "default_storage_gib")]
    pub size_gib: u32,
    /// Provisioned IOPS: io1/io2 always; gp3 from 400 GiB (12000–64000), and then
    /// always for a Multi-AZ DB cluster, which RDS creates only with IOPS.
    #[serde(default)]
    pub iops: Option<u32>,
}

impl Default for RawStorage {
    fn default() -> Self {
        Self {
            r#type: default_storage_type(),
            size_gib: default_storage_gib(),
            iops: Some(3000),
        }
    }
}

/// Where the master password comes from.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum RawMasterPassword {
    /// `managed`: RDS keeps it in Secrets Manager.
    Managed(ManagedKeyword),
    /// Read from the named environment variable when it is needed.
    FromEnv { from_env: String },
}

impl Default for RawMasterPassword {
    fn default() -> Self {
        Self::Managed(ManagedKeyword::Managed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ManagedKeyword {
    Managed,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PasswordEncryption {
    #[default]
    #[serde(rename = "md5")]
    Md5,
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
}

/// A database and the user that owns it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    /// Database name, e.g. `process-engine`.
    pub name: String,
    /// Owner role, e.g. `camunda`.
    pub user: String,
    /// Environment variable holding the user's password.
    pub password_env: String,
}

/// ECR repositories for the BPA images.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEcr {
    /// Repository names, e.g. `bpa/ui`.
    #[serde(default)]
    pub repositories: Vec<String>,
    #[serde(default = "yes")]
    pub scan_on_push: bool,
    #[serde(default)]
    pub tag_mutability: TagMutability,
    #[serde(default)]
    pub encryption: EcrEncryption,
    #[serde(default)]
    pub lifecycle: RawLifecycle,
}

impl Default for RawEcr {
    fn default() -> Self {
        Self {
            repositories: Vec::new(),
            scan_on_push: true,
            tag_mutability: TagMutability::default(),
            encryption: EcrEncryption::default(),
            lifecycle: RawLifecycle::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TagMutability {
    #[default]
    Mutable,
    Immutable,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EcrEncryption {
    #[default]
    Aes256,
    Kms,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLifecycle {
    /// Expire untagged images after this many days.
    #[serde(default = "default_expire_untagged_days")]
    pub expire_untagged_after_days: u32,
    /// Keep this many most recent tagged images.
    #[serde(default = "default_keep_last_tagged")]
    pub keep_last_tagged: u32,
}

impl Default for RawLifecycle {
    fn default() -> Self {
        Self {
            expire_untagged_after_days: default_expire_untagged_days(),
            keep_last_tagged: default_keep_last_tagged(),
        }
    }
}

/// Private endpoint to MongoDB Atlas. Give the endpoint service name (copied from the
/// Atlas UI), or the Atlas project id to let the tool drive the Atlas Admin API.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAtlas {
    /// Atlas endpoint service, e.g. `com.amazonaws.vpce.us-west-2.vpce-svc-0123456789abcdef0`.
    #[serde(default)]
    pub endpoint_service_name: Option<String>,
    /// Atlas project (group) id: 24 hexadecimal characters.
    #[serde(default)]
    pub project_id: Option<String>,
    /// Atlas region name, e.g. `US_WEST_2`; derived from `region` when omitted.
    #[serde(default)]
    #[schemars(transform = derived_default)]
    pub region: Option<String>,
    /// CIDRs allowed to the endpoint; default the pod CIDR and the node subnet CIDRs.
    #[serde(default)]
    #[schemars(transform = derived_default)]
    pub allowed_cidrs: Option<Vec<String>>,
    /// TCP port range allowed to the endpoint, e.g. `1024-65535`; default all ports.
    #[serde(default = "default_atlas_ports")]
    pub ports: String,
}

/// The ALB ingress in front of the BPA services.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawIngress {
    /// Host name of the BPA UI, e.g. `bpa.example.com`.
    #[serde(default)]
    pub host: Option<String>,
    /// ACM certificate ARN for HTTPS.
    #[serde(default)]
    pub certificate_arn: Option<String>,
    #[serde(default)]
    pub scheme: LoadBalancerScheme,
    /// Sticky-session cookie duration in seconds (1–604800).
    #[serde(default = "default_sticky_seconds")]
    pub sticky_session_seconds: u32,
    #[serde(default = "default_health_check_path")]
    pub health_check_path: String,
    #[serde(default = "default_service_port")]
    pub service_port: u16,
}

impl Default for RawIngress {
    fn default() -> Self {
        Self {
            host: None,
            certificate_arn: None,
            scheme: LoadBalancerScheme::default(),
            sticky_session_seconds: default_sticky_seconds(),
            health_check_path: default_health_check_path(),
            service_port: default_service_port(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LoadBalancerScheme {
    #[default]
    InternetFacing,
    Internal,
}

/// KIE server managed mode.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawKie {
    /// Controller URL, `ws://<host>:<port>/<context>/websocket/controller`.
    #[serde(default = "default_kie_controller_url")]
    pub controller_url: String,
    /// KIE server id.
    #[serde(default = "default_kie_server_id")]
    pub server_id: String,
}

impl Default for RawKie {
    fn default() -> Self {
        Self {
            controller_url: default_kie_controller_url(),
            server_id: default_kie_server_id(),
        }
    }
}

fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
/// The node ingress rules when the profile lists none: port and rule description, each
/// rule from `eks.node_ingress_cidrs`.
pub const DEFAULT_NODE_INGRESS: [(u16, &str); 3] =
    [(30101, "BPA service NodePort"), (443, "HTTPS"), (22, "SSH")];

/// States in the schema the node ingress rules that apply when `eks.node_ingress` is
/// omitted (serde's default is `None`, which the schema would show as `null`).
fn node_ingress_schema_default(schema: &mut schemars::Schema) {
    let rules: Vec<serde_json::Value> = DEFAULT_NODE_INGRESS
        .iter()
        .map(|(port, description)| serde_json::json!({"port": port, "description": description}))
        .collect();
    schema.insert("default".into(), rules.into());
}

/// Drops the `"default": null` of an optional field whose default is derived from other
/// fields: `null` would read as "no value", and the description states the real default.
fn derived_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

fn default_pod_cidr() -> String {
    "100.64.0.0/16".into()
}
fn default_cluster_logging() -> Vec<ControlPlaneLog> {
    vec![
        ControlPlaneLog::Api,
        ControlPlaneLog::Audit,
        ControlPlaneLog::Authenticator,
    ]
}
fn default_public_access_cidrs() -> Vec<String> {
    vec!["0.0.0.0/0".into()]
}
fn default_addons() -> Vec<RawAddon> {
    ["vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"]
        .into_iter()
        .map(|name| RawAddon {
            name: name.into(),
            version: None,
        })
        .collect()
}
fn default_instance_type() -> String {
    "m5.2xlarge".into()
}
fn default_data_volume_gib() -> u32 {
    100
}
fn default_data_volume_type() -> String {
    "gp3".into()
}
fn default_sysctls() -> BTreeMap<String, String> {
    BTreeMap::from([("vm.max_map_count".to_string(), "262144".to_string())])
}
fn default_master_username() -> String {
    "bpaadmin".into()
}
fn default_backup_retention() -> u32 {
    7
}
fn default_storage_type() -> String {
    "io2".into()
}
fn default_storage_gib() -> u32 {
    400
}
fn default_expire_untagged_days() -> u32 {
    14
}
fn default_keep_last_tagged() -> u32 {
    30
}
fn default_atlas_ports() -> String {
    "0-65535".into()
}
fn default_sticky_seconds() -> u32 {
    604_800
}
fn default_health_check_path() -> String {
    "/bpm/adapter/v1/liveness".into()
}
fn default_service_port() -> u16 {
    8181
}
fn default_kie_controller_url() -> String {
    "ws://bpm-controller:8080/kie-server-controller/websocket/controller".into()
}
fn default_kie_server_id() -> String {
    "bpa-kie-server".into()
}
