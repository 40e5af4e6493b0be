//! What a kubeconfig needs to reach the cluster (endpoint, CA, region), read from EKS
//! for `outputs` and `render`.

use aws_sdk_eks::Client;

use super::describe_cluster;
use crate::provider::ProviderError;
use crate::stack::{Address, Component};

/// What a kubeconfig needs to reach a cluster, read from EKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAccess {
    pub name: String,
    pub arn: String,
    /// The API server's URL.
    pub endpoint: String,
    /// The cluster CA certificate, base64-encoded PEM, as EKS returns it.
    pub certificate_authority_data: String,
    pub region: String,
}

/// Reads what a kubeconfig needs about the cluster `name`; `None` when there is no such
/// cluster or it has no endpoint yet (still being created).
pub async fn cluster_access(
    config: &aws_config::SdkConfig,
    name: &str,
) -> Result<Option<ClusterAccess>, ProviderError> {
    let address = Address::new(Component::Eks, "cluster");
    let client = Client::new(config);
    let Some(cluster) = describe_cluster(&client, &address, name).await? else {
        return Ok(None);
    };
    let (Some(endpoint), Some(ca)) = (
        cluster.endpoint(),
        cluster.certificate_authority().and_then(|c| c.data()),
    ) else {
        return Ok(None);
    };
    let arn = cluster.arn().unwrap_or_default().to_owned();
    // The region is part of the ARN: arn:aws:eks:<region>:<account>:cluster/<name>.
    let region = arn
        .split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .or_else(|| config.region().map(ToString::to_string))
        .unwrap_or_default();
    Ok(Some(ClusterAccess {
        name: name.to_owned(),
        arn,
        endpoint: endpoint.to_owned(),
        certificate_authority_data: ca.to_owned(),
        region,
    }))
}
