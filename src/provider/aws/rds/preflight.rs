//! The pre-flight checks of a database: with read-only calls, whether RDS offers the
//! engine version (DescribeDBEngineVersions) and can order the instance class for it in
//! the chosen mode, with the storage asked for (DescribeOrderableDBInstanceOptions:
//! `SupportsClusters` for a Multi-AZ DB cluster, `MultiAZCapable` for a Multi-AZ DB
//! instance; RDS API Reference, `OrderableDBInstanceOption`).

use std::collections::BTreeSet;

use aws_sdk_rds::Client;
use aws_sdk_rds::types::OrderableDbInstanceOption;

use super::super::sdk_error;
use super::{ENGINE, int_attr, str_attr};
use crate::provider::{Finding, Proposal, ProviderError, Severity};
use crate::stack::{Address, Resource};

/// The database attributes whose change calls for the pre-flight checks again (besides
/// a create or replace): what the orderable options and the engine versions constrain.
pub(super) const PREFLIGHT_ATTRIBUTES: [&str; 6] = [
    "engine_version",
    "db_cluster_instance_class",
    "db_instance_class",
    "storage_type",
    "allocated_storage",
    "iops",
];

/// Checks that RDS can make the database `desired` describes, as a Multi-AZ DB cluster
/// when `cluster`, otherwise as a Multi-AZ DB instance. An update is checked only when
/// it changes one of [`PREFLIGHT_ATTRIBUTES`].
///
/// A check that cannot be made (no permission, the service failing) is a warning, not
/// an error: the plan is still worth showing.
pub(super) async fn check(
    client: &Client,
    desired: &Resource,
    proposal: Proposal<'_>,
    cluster: bool,
) -> Result<Vec<Finding>, ProviderError> {
    if let Proposal::Update(attributes) = proposal
        && !attributes.iter().any(|a| PREFLIGHT_ATTRIBUTES.contains(a))
    {
        return Ok(Vec::new());
    }
    let spec = &desired.spec;
    let address = &desired.address;
    let finding = |severity, message: String| Finding {
        address: address.clone(),
        severity,
        message,
    };
    let mut findings = Vec::new();
    let Some(version) = str_attr(spec, "engine_version") else {
        return Ok(findings);
    };
    let class_attribute = if cluster {
        "db_cluster_instance_class"
    } else {
        "db_instance_class"
    };
    let class = str_attr(spec, class_attribute).unwrap_or_default();
    let mode = if cluster {
        "a Multi-AZ DB cluster"
    } else {
        "a Multi-AZ DB instance"
    };

    match engine_version_exists(client, address, version).await {
        Ok(Some(status)) if status == "deprecated" => findings.push(finding(
            Severity::Warning,
            format!("PostgreSQL {version} is deprecated on RDS: new databases may soon be refused; choose a newer minor version"),
        )),
        Ok(Some(_)) => {}
        Ok(None) => {
            let others = versions_of_family(client, address, version).await.unwrap_or_default();
            let hint = if others.is_empty() {
                String::new()
            } else {
                format!("; versions offered: {}", others.join(", "))
            };
            findings.push(finding(
                Severity::Error,
                format!("RDS does not offer PostgreSQL {version} in this region{hint}"),
            ));
            // The class check would only repeat that the version is not offered.
            return Ok(findings);
        }
        Err(err) => findings.push(finding(
            Severity::Warning,
            format!("could not check that PostgreSQL {version} exists: {err}"),
        )),
    }

    let options = match orderable_options(client, address, version, class).await {
        Ok(options) => options,
        Err(err) => {
            findings.push(finding(
                Severity::Warning,
                format!(
                    "could not check that {class} is orderable for PostgreSQL {version}: {err}"
                ),
            ));
            return Ok(findings);
        }
    };
    let in_mode: Vec<&OrderableDbInstanceOption> = options
        .iter()
        .filter(|o| {
            if cluster {
                o.supports_clusters() == Some(true)
            } else {
                o.multi_az_capable() == Some(true)
            }
        })
        .collect();
    if options.is_empty() {
        findings.push(finding(
            Severity::Error,
            format!(
                "instance class {class} is not orderable for PostgreSQL {version} in this region"
            ),
        ));
        return Ok(findings);
    }
    if in_mode.is_empty() {
        findings.push(finding(
            Severity::Error,
            format!(
                "instance class {class} is orderable for PostgreSQL {version}, but not as {mode}"
            ),
        ));
        return Ok(findings);
    }
    let Some(storage_type) = str_attr(spec, "storage_type") else {
        return Ok(findings);
    };
    let with_storage: Vec<_> = in_mode
        .iter()
        .filter(|o| o.storage_type() == Some(storage_type))
        .collect();
    let Some(option) = with_storage.first() else {
        let offered: BTreeSet<&str> = in_mode.iter().filter_map(|o| o.storage_type()).collect();
        findings.push(finding(
            Severity::Error,
            format!(
                "{class} as {mode} does not offer {storage_type} storage for PostgreSQL {version}; offered: {}",
                offered.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ));
        return Ok(findings);
    };
    if let Some(size) = int_attr(spec, "allocated_storage") {
        let (min, max) = (option.min_storage_size(), option.max_storage_size());
        if min.is_some_and(|m| size < i64::from(m)) || max.is_some_and(|m| size > i64::from(m)) {
            findings.push(finding(
                Severity::Error,
                format!(
                    "{size} GiB of {storage_type} is outside what RDS allows for {class} ({}–{} GiB)",
                    min.unwrap_or_default(),
                    max.unwrap_or_default()
                ),
            ));
        }
    }
    if let Some(iops) = int_attr(spec, "iops") {
        let (min, max) = (
            option.min_iops_per_db_instance(),
            option.max_iops_per_db_instance(),
        );
        if min.is_some_and(|m| iops < i64::from(m)) || max.is_some_and(|m| iops > i64::from(m)) {
            findings.push(finding(
                Severity::Error,
                format!(
                    "{iops} IOPS is outside what RDS allows for {class} with {storage_type} ({}–{})",
                    min.unwrap_or_default(),
                    max.unwrap_or_default()
                ),
            ));
        }
    }
    Ok(findings)
}

// --- finders -----------------------------------------------------------------------------

/// Returns the status of the engine version (`available`, `deprecated`), or `None`
/// when RDS does not offer it.
async fn engine_version_exists(
    client: &Client,
    address: &Address,
    version: &str,
) -> Result<Option<String>, ProviderError> {
    let output = client
        .describe_db_engine_versions()
        .engine(ENGINE)
        .engine_version(version)
        .send()
        .await
        .map_err(|e| sdk_error(address, "rds:DescribeDBEngineVersions", e))?;
    Ok(output
        .db_engine_versions()
        .iter()
        .find(|v| v.engine_version() == Some(version))
        .map(|v| v.status().unwrap_or("available").to_owned()))
}

/// Lists the versions offered in `version`'s major line, for the hint of an error.
async fn versions_of_family(
    client: &Client,
    address: &Address,
    version: &str,
) -> Result<Vec<String>, ProviderError> {
    let major = version.split('.').next().unwrap_or(version);
    let output = client
        .describe_db_engine_versions()
        .engine(ENGINE)
        .db_parameter_group_family(format!("postgres{major}"))
        .send()
        .await
        .map_err(|e| sdk_error(address, "rds:DescribeDBEngineVersions", e))?;
    Ok(output
        .db_engine_versions()
        .iter()
        .filter_map(|v| v.engine_version().map(str::to_owned))
        .collect())
}

async fn orderable_options(
    client: &Client,
    address: &Address,
    version: &str,
    class: &str,
) -> Result<Vec<OrderableDbInstanceOption>, ProviderError> {
    let mut options = Vec::new();
    let mut marker = None;
    loop {
        let output = client
            .describe_orderable_db_instance_options()
            .engine(ENGINE)
            .engine_version(version)
            .db_instance_class(class)
            .vpc(true)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| sdk_error(address, "rds:DescribeOrderableDBInstanceOptions", e))?;
        options.extend(output.orderable_db_instance_options().iter().cloned());
        marker = output.marker().map(str::to_owned);
        if marker.is_none() {
            return Ok(options);
        }
    }
}
