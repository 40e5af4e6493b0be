//! The values templates see: the profile and the live outputs, with placeholders for
//! what is not known yet.

use std::collections::BTreeMap;

use serde::Serialize;

use super::LiveOutputs;
use crate::profile::{AtlasTarget, LoadBalancerScheme, MasterPassword, Profile, RdsMode};

/// Namespace the scripts use when `NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "bpa";
/// Name of the Service in front of the BPM backend.
pub const SERVICE_NAME: &str = "bpm-service";
/// Name of the ALB Ingress.
pub const INGRESS_NAME: &str = "bpm-ingress";
/// Name of the KIE server managed-mode ConfigMap.
pub const KIE_CONFIG_MAP: &str = "kie-server-managed-mode";
/// Secret with the database users' passwords (filled by `db-init-secret.sh`).
pub const DB_SECRET: &str = "bpa-db-credentials";
/// Secret with the RDS master password, needed only by the db-init Job.
pub const DB_MASTER_SECRET: &str = "bpa-db-master";
/// Name of the db-init Job and of its SQL ConfigMap.
pub const DB_INIT_JOB: &str = "bpa-db-init";
pub const DB_INIT_CONFIG_MAP: &str = "bpa-db-init-sql";
/// TLS Secret of the BPA ingress controller.
pub const TLS_SECRET: &str = "bpa-ingress-tls";
/// PostgreSQL's default port, which RDS Multi-AZ DB clusters cannot change.
const DEFAULT_DB_PORT: u16 = 5432;
/// Oldest psql whose `\getenv` the db-init SQL uses.
const MIN_PSQL_MAJOR: u32 = 15;

/// Starts every placeholder; [`super::RenderedFile::unknowns`] finds them by it.
pub const PLACEHOLDER_START: &str = "<unknown: ";

const AFTER_UP: &str = "run `bpa-infra up` first";

/// Returns the placeholder for a value that is not known: what it is and how to get it.
pub fn unknown(what: &str, how: &str) -> String {
    format!("{PLACEHOLDER_START}{what} — {how}>")
}

#[derive(Debug, Serialize)]
pub(super) struct Context {
    profile: ProfileInfo,
    namespace: &'static str,
    labels: BTreeMap<&'static str, String>,
    service: Service,
    ingress: Ingress,
    network: Network,
    kie: Kie,
    tls: Tls,
    images: Images,
    database: DatabaseInfo,
    atlas: Option<AtlasInfo>,
    db_init: DbInit,
}

#[derive(Debug, Serialize)]
struct ProfileInfo {
    name: String,
    region: String,
    cluster_name: String,
}

#[derive(Debug, Serialize)]
struct Service {
    name: &'static str,
    port: u16,
}

#[derive(Debug, Serialize)]
struct Ingress {
    name: &'static str,
    host: Option<String>,
    host_or_unknown: String,
    scheme: &'static str,
    certificate_arn: Option<String>,
    /// Whether the load balancer listens on 443 (and redirects 80 there).
    https: bool,
    target_group_attributes: String,
    health_check_path: String,
}

#[derive(Debug, Serialize)]
struct Network {
    pod_cidr: String,
    pod_security_group_id: String,
    zones: Vec<ZoneInfo>,
}

#[derive(Debug, Serialize)]
struct ZoneInfo {
    name: String,
    pod_subnet_id: String,
    pod_cidr: String,
}

#[derive(Debug, Serialize)]
struct Kie {
    config_map: &'static str,
    server_id: String,
    controller_url: String,
    location: String,
    java_opts: String,
}

#[derive(Debug, Serialize)]
struct Tls {
    secret_name: &'static str,
}

#[derive(Debug, Serialize)]
struct Images {
    registry: String,
    repositories: Vec<Repository>,
}

#[derive(Debug, Serialize)]
struct Repository {
    name: String,
    uri: String,
}

#[derive(Debug, Serialize)]
struct DatabaseInfo {
    writer_endpoint: String,
    reader_endpoint: String,
    port: u16,
    master_username: String,
    /// Set when the master password comes from an environment variable.
    master_password_env: Option<String>,
    master_secret_arn: String,
    master_secret_name: &'static str,
    master_secret_key: &'static str,
    secret_name: &'static str,
    users: Vec<User>,
    databases: Vec<Db>,
}

#[derive(Debug, Serialize)]
struct User {
    name: String,
    password_env: String,
    secret_key: String,
}

#[derive(Debug, Serialize)]
struct Db {
    name: String,
    user: String,
    secret_key: String,
}

#[derive(Debug, Serialize)]
struct AtlasInfo {
    host: String,
    endpoint_dns: String,
}

#[derive(Debug, Serialize)]
struct DbInit {
    job_name: &'static str,
    config_map: &'static str,
    image: String,
}

impl Context {
    pub(super) fn new(profile: &Profile, outputs: &LiveOutputs) -> Self {
        let ingress = &profile.ingress;
        let https = ingress.certificate_arn.is_some() || ingress.host.is_some();
        // The public URL users reach the load balancer by. bpa-infra does not create the
        // load balancer (the AWS Load Balancer Controller makes it from the Ingress) nor
        // its DNS record, so only the profile can say it.
        let location = ingress.host.as_ref().map_or_else(
            || {
                unknown(
                    "public URL of the load balancer",
                    "set `ingress.host` in the profile to the host name users reach the ALB by, then render again",
                )
            },
            |host| {
                format!(
                    "{}://{host}/kie-server/services/rest/server",
                    if https { "https" } else { "http" }
                )
            },
        );
        let kie = Kie {
            config_map: KIE_CONFIG_MAP,
            server_id: profile.kie.server_id.clone(),
            controller_url: profile.kie.controller_url.clone(),
            java_opts: format!(
                "-Dorg.kie.server.id={} -Dorg.kie.server.controller={} -Dorg.kie.server.location={location}",
                profile.kie.server_id, profile.kie.controller_url
            ),
            location,
        };

        let zones = profile
            .network
            .zones
            .iter()
            .map(|zone| ZoneInfo {
                name: zone.name.clone(),
                pod_subnet_id: zone
                    .pod_subnet
                    .id
                    .clone()
                    .or_else(|| outputs.pod_subnet_ids.get(&zone.name).cloned())
                    .unwrap_or_else(|| unknown(&format!("pod subnet in {}", zone.name), AFTER_UP)),
                pod_cidr: zone.pod_subnet.cidr.to_string(),
            })
            .collect();

        let repositories: Vec<Repository> = profile
            .ecr
            .repositories
            .iter()
            .map(|name| Repository {
                name: name.clone(),
                uri: outputs
                    .repository_uris
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| unknown(&format!("URI of ECR repository {name}"), AFTER_UP)),
            })
            .collect();
        let registry = profile
            .ecr
            .repositories
            .iter()
            .find_map(|name| outputs.repository_uris.get(name))
            .and_then(|uri| uri.split_once('/'))
            .map_or_else(
                || unknown("ECR registry", AFTER_UP),
                |(registry, _)| registry.to_owned(),
            );

        let rds = &profile.rds;
        let writer_endpoint = outputs
            .db_writer_endpoint
            .clone()
            .unwrap_or_else(|| unknown("RDS writer endpoint", AFTER_UP));
        let reader_endpoint = match rds.mode {
            RdsMode::MultiAzCluster => outputs
                .db_reader_endpoint
                .clone()
                .unwrap_or_else(|| unknown("RDS reader endpoint", AFTER_UP)),
            // A Multi-AZ DB instance's standby serves no reads.
            RdsMode::MultiAzInstance => writer_endpoint.clone(),
        };
        let mut users: Vec<User> = Vec::new();
        for db in &rds.databases {
            if !users.iter().any(|u| u.name == db.user) {
                users.push(User {
                    name: db.user.clone(),
                    password_env: db.password_env.clone(),
                    secret_key: secret_key(&db.user),
                });
            }
        }
        let database = DatabaseInfo {
            writer_endpoint,
            reader_endpoint,
            port: outputs.db_port.unwrap_or(DEFAULT_DB_PORT),
            master_username: rds.master_username.clone(),
            master_password_env: match &rds.master_password {
                MasterPassword::FromEnv(var) => Some(var.clone()),
                MasterPassword::Managed => None,
            },
            master_secret_arn: outputs
                .master_secret_arn
                .clone()
                .unwrap_or_else(|| unknown("ARN of the RDS master user secret", AFTER_UP)),
            master_secret_name: DB_MASTER_SECRET,
            master_secret_key: "password",
            secret_name: DB_SECRET,
            users,
            databases: rds
                .databases
                .iter()
                .map(|db| Db {
                    name: db.name.clone(),
                    user: db.user.clone(),
                    secret_key: secret_key(&db.user),
                })
                .collect(),
        };

        let atlas = profile.atlas.as_ref().map(|_| AtlasInfo {
            host: outputs.atlas_host.clone().unwrap_or_else(|| {
                unknown("Atlas private-endpoint host", atlas_host_hint(profile))
            }),
            endpoint_dns: outputs
                .atlas_endpoint_dns
                .clone()
                .unwrap_or_else(|| unknown("DNS name of the Atlas VPC endpoint", AFTER_UP)),
        });

        Self {
            profile: ProfileInfo {
                name: profile.name.clone(),
                region: profile.region.clone(),
                cluster_name: profile.eks.cluster_name.clone(),
            },
            namespace: DEFAULT_NAMESPACE,
            labels: BTreeMap::from([
                ("app.kubernetes.io/managed-by", "bpa-infra".to_owned()),
                ("bpa-infra/profile", profile.name.clone()),
            ]),
            service: Service {
                name: SERVICE_NAME,
                port: ingress.service_port,
            },
            ingress: Ingress {
                name: INGRESS_NAME,
                host: ingress.host.clone(),
                host_or_unknown: ingress.host.clone().unwrap_or_else(|| {
                    unknown("ingress host", "set `ingress.host` in the profile")
                }),
                scheme: match ingress.scheme {
                    LoadBalancerScheme::InternetFacing => "internet-facing",
                    LoadBalancerScheme::Internal => "internal",
                },
                certificate_arn: ingress.certificate_arn.clone(),
                https,
                target_group_attributes: format!(
                    "stickiness.enabled=true,stickiness.lb_cookie.duration_seconds={}",
                    ingress.sticky_session_seconds
                ),
                health_check_path: ingress.health_check_path.clone(),
            },
            network: Network {
                pod_cidr: profile.network.pod_cidr.to_string(),
                pod_security_group_id: outputs
                    .pod_security_group_id
                    .clone()
                    .unwrap_or_else(|| unknown("EKS cluster security group (for pods)", AFTER_UP)),
                zones,
            },
            kie,
            tls: Tls {
                secret_name: TLS_SECRET,
            },
            images: Images {
                registry,
                repositories,
            },
            database,
            atlas,
            db_init: DbInit {
                job_name: DB_INIT_JOB,
                config_map: DB_INIT_CONFIG_MAP,
                image: format!(
                    "public.ecr.aws/docker/library/postgres:{}-alpine",
                    rds.engine_version.major.max(MIN_PSQL_MAJOR)
                ),
            },
        }
    }
}

/// How to get the Atlas cluster's private-endpoint host when it is not known: only the
/// Atlas Admin API gives it, once a cluster uses the endpoint.
fn atlas_host_hint(profile: &Profile) -> &'static str {
    match profile.atlas.as_ref().map(|a| &a.target) {
        Some(AtlasTarget::Project { .. }) => {
            "Atlas gives it once a cluster uses the private endpoint: render again then, with the Atlas credentials set (or copy it from Atlas: Connect, Private Endpoint)"
        }
        _ => {
            "copy the host of the private-endpoint connection string from Atlas (Connect, Private Endpoint); bpa-infra reads it only with `atlas.project_id` and Atlas credentials"
        }
    }
}

/// Returns the key of a user's password in the credentials Secret.
fn secret_key(user: &str) -> String {
    // Secret keys allow `[-._a-zA-Z0-9]`; role names may also hold `$`.
    let user: String = user
        .chars()
        .map(|c| if c == '$' { '_' } else { c })
        .collect();
    format!("{user}-password")
}
