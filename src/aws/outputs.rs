//! Reads the live outputs `render` and `db init` need from the deployed stack.
//!
//! A resource that does not exist yet leaves its values unset (the renderer shows a
//! placeholder); any other failure is an error. So is a resource found by the profile's
//! deterministic name that is not the profile's own (docs/architecture.md, "State"): its endpoint must not
//! be rendered, nor its master secret read, as if it were.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, State};

use super::{Aws, AwsError, AwsErrorKind};
use crate::profile::{AtlasTarget, Profile, RdsMode};
use crate::provider::aws::rds::tag_map;
use crate::render::LiveOutputs;
use crate::stack::PROFILE_TAG;

/// Reads every output the profile's stack has so far: EKS, RDS, ECR, the pod subnets and
/// the Atlas endpoint, one service after another.
pub async fn read(aws: &Aws, profile: &Profile) -> Result<LiveOutputs, AwsError> {
    let mut outputs = LiveOutputs::default();
    eks(aws, profile, &mut outputs).await?;
    rds(aws, profile, &mut outputs).await?;
    ecr(aws, profile, &mut outputs).await?;
    pod_subnets(aws, profile, &mut outputs).await?;
    atlas_endpoint(aws, profile, &mut outputs).await?;
    Ok(outputs)
}

/// Reads only what `db init` needs: the DB endpoints and the master secret.
pub async fn read_database(aws: &Aws, profile: &Profile) -> Result<LiveOutputs, AwsError> {
    let mut outputs = LiveOutputs::default();
    rds(aws, profile, &mut outputs).await?;
    Ok(outputs)
}

async fn eks(aws: &Aws, profile: &Profile, out: &mut LiveOutputs) -> Result<(), AwsError> {
    let name = &profile.eks.cluster_name;
    let client = aws_sdk_eks::Client::new(aws.sdk_config());
    let cluster = match client.describe_cluster().name(name).send().await {
        Ok(output) => output.cluster,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(());
        }
        Err(err) => return Err(AwsError::from_sdk("eks:DescribeCluster", name, &err)),
    };
    if let Some(cluster) = cluster {
        let tag = cluster.tags.as_ref().and_then(|t| t.get(PROFILE_TAG));
        check_owner(
            "eks:DescribeCluster",
            "EKS cluster",
            name,
            "give the profile another `name` (the cluster is named after it)",
            profile,
            tag.map(String::as_str),
        )?;
        out.cluster_endpoint = cluster.endpoint;
        out.pod_security_group_id = cluster
            .resources_vpc_config
            .and_then(|c| c.cluster_security_group_id);
    }
    Ok(())
}

async fn rds(aws: &Aws, profile: &Profile, out: &mut LiveOutputs) -> Result<(), AwsError> {
    let id = &profile.rds.identifier;
    let client = aws_sdk_rds::Client::new(aws.sdk_config());
    match profile.rds.mode {
        RdsMode::MultiAzCluster => {
            let output = match client
                .describe_db_clusters()
                .db_cluster_identifier(id)
                .send()
                .await
            {
                Ok(output) => output,
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_db_cluster_not_found_fault()) =>
                {
                    return Ok(());
                }
                Err(err) => return Err(AwsError::from_sdk("rds:DescribeDBClusters", id, &err)),
            };
            if let Some(cluster) = output.db_clusters.unwrap_or_default().into_iter().next() {
                check_owner(
                    "rds:DescribeDBClusters",
                    "DB cluster",
                    id,
                    "set another `rds.identifier`",
                    profile,
                    tag_map(cluster.tag_list())
                        .get(PROFILE_TAG)
                        .map(String::as_str),
                )?;
                out.db_writer_endpoint = cluster.endpoint;
                out.db_reader_endpoint = cluster.reader_endpoint;
                out.db_port = cluster.port.and_then(|p| u16::try_from(p).ok());
                out.master_secret_arn = cluster.master_user_secret.and_then(|s| s.secret_arn);
            }
        }
        RdsMode::MultiAzInstance => {
            let output = match client
                .describe_db_instances()
                .db_instance_identifier(id)
                .send()
                .await
            {
                Ok(output) => output,
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_db_instance_not_found_fault()) =>
                {
                    return Ok(());
                }
                Err(err) => return Err(AwsError::from_sdk("rds:DescribeDBInstances", id, &err)),
            };
            if let Some(instance) = output.db_instances.unwrap_or_default().into_iter().next() {
                check_owner(
                    "rds:DescribeDBInstances",
                    "DB instance",
                    id,
                    "set another `rds.identifier`",
                    profile,
                    tag_map(instance.tag_list())
                        .get(PROFILE_TAG)
                        .map(String::as_str),
                )?;
                if let Some(endpoint) = instance.endpoint {
                    out.db_writer_endpoint = endpoint.address;
                    out.db_port = endpoint.port.and_then(|p| u16::try_from(p).ok());
                }
                out.master_secret_arn = instance.master_user_secret.and_then(|s| s.secret_arn);
            }
        }
    }
    Ok(())
}

async fn ecr(aws: &Aws, profile: &Profile, out: &mut LiveOutputs) -> Result<(), AwsError> {
    let client = aws_sdk_ecr::Client::new(aws.sdk_config());
    // Listing all and filtering tolerates repositories that do not exist yet, which
    // naming them in the request would turn into one error for the whole call.
    let mut pages = client.describe_repositories().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| AwsError::from_sdk("ecr:DescribeRepositories", "", &err))?;
        for repo in page.repositories.unwrap_or_default() {
            if let (Some(name), Some(uri), Some(arn)) = (
                repo.repository_name,
                repo.repository_uri,
                repo.repository_arn,
            ) {
                if profile.ecr.repositories.contains(&name) {
                    // Only the profile's repositories are asked for their tags: a few calls.
                    let tags = client
                        .list_tags_for_resource()
                        .resource_arn(&arn)
                        .send()
                        .await
                        .map_err(|err| {
                            AwsError::from_sdk("ecr:ListTagsForResource", &name, &err)
                        })?;
                    let tag = tags
                        .tags()
                        .iter()
                        .find(|t| t.key() == PROFILE_TAG)
                        .map(|t| t.value());
                    check_owner(
                        "ecr:ListTagsForResource",
                        "ECR repository",
                        &name,
                        "name others in `ecr.repositories`",
                        profile,
                        tag,
                    )?;
                    out.repository_uris.insert(name, uri);
                }
            }
        }
    }
    Ok(())
}

/// Refuses the `what` named `name` unless its ownership tag `found` is the profile's
/// name; `rename` says how the profile can name another.
fn check_owner(
    operation: &str,
    what: &str,
    name: &str,
    rename: &str,
    profile: &Profile,
    found: Option<&str>,
) -> Result<(), AwsError> {
    if found == Some(profile.name.as_str()) {
        return Ok(());
    }
    let whose = match found {
        Some(other) => format!("its {PROFILE_TAG} tag is `{other}`"),
        None => format!("it has no {PROFILE_TAG} tag"),
    };
    Err(AwsError {
        kind: AwsErrorKind::Other,
        operation: operation.to_owned(),
        resource: Some(name.to_owned()),
        message: format!(
            "the {what} `{name}` exists but is not profile `{}`'s ({whose}), so its values \
             are not used: {rename}, or see `bpa-infra plan` for the conflict",
            profile.name
        ),
    })
}

fn filter(name: &str, values: impl IntoIterator<Item = String>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().collect()))
        .build()
}

async fn pod_subnets(aws: &Aws, profile: &Profile, out: &mut LiveOutputs) -> Result<(), AwsError> {
    let zones = &profile.network.zones;
    // Adopted pod subnets are named in the profile; the others are found by owner tag and CIDR.
    let wanted: BTreeMap<String, &str> = zones
        .iter()
        .filter(|z| z.pod_subnet.id.is_none())
        .map(|z| (z.pod_subnet.cidr.to_string(), z.name.as_str()))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let client = aws_sdk_ec2::Client::new(aws.sdk_config());
    let output = client
        .describe_subnets()
        .filters(filter(
            &format!("tag:{PROFILE_TAG}"),
            [profile.name.clone()],
        ))
        .filters(filter("cidr-block", wanted.keys().cloned()))
        .send()
        .await
        .map_err(|err| AwsError::from_sdk("ec2:DescribeSubnets", "pod subnets", &err))?;
    for subnet in output.subnets.unwrap_or_default() {
        let (Some(cidr), Some(id), Some(az)) = (
            subnet.cidr_block,
            subnet.subnet_id,
            subnet.availability_zone,
        ) else {
            continue;
        };
        if wanted.get(&cidr).is_some_and(|zone| *zone == az) {
            out.pod_subnet_ids.insert(az, id);
        }
    }
    Ok(())
}

async fn atlas_endpoint(
    aws: &Aws,
    profile: &Profile,
    out: &mut LiveOutputs,
) -> Result<(), AwsError> {
    let Some(atlas) = &profile.atlas else {
        return Ok(());
    };
    let client = aws_sdk_ec2::Client::new(aws.sdk_config());
    let mut request = client
        .describe_vpc_endpoints()
        .filters(filter(
            &format!("tag:{PROFILE_TAG}"),
            [profile.name.clone()],
        ))
        .filters(filter("vpc-endpoint-type", ["Interface".to_owned()]));
    if let AtlasTarget::ServiceName(service) = &atlas.target {
        request = request.filters(filter("service-name", [service.clone()]));
    }
    let output = request
        .send()
        .await
        .map_err(|err| AwsError::from_sdk("ec2:DescribeVpcEndpoints", "Atlas endpoint", &err))?;
    out.atlas_endpoint_dns = output
        .vpc_endpoints
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            !matches!(
                e.state,
                Some(State::Deleted | State::Deleting | State::Failed | State::Rejected)
            )
        })
        .find_map(|e| {
            e.dns_entries
                .unwrap_or_default()
                .into_iter()
                .find_map(|d| d.dns_name)
        });
    Ok(())
}
