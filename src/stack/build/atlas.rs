//! The MongoDB Atlas private endpoint: the security group and the interface VPC
//! endpoint, and for an Atlas project the endpoint service and its link to the VPC
//! endpoint.

use crate::profile::AtlasTarget;

use super::{Builder, addr, tcp_rule};
use crate::stack::{Address, Component, ResourceKind, Spec, Value};

impl Builder<'_> {
    pub(super) fn atlas(&mut self) {
        let Some(atlas) = self.profile.atlas.clone() else {
            return;
        };
        let security_group = addr(Component::Atlas, "security_group");
        let cidrs: Vec<String> = atlas
            .allowed_cidrs
            .iter()
            .map(ToString::to_string)
            .collect();
        let spec = Spec::new()
            .with("vpc_id", self.vpc_id())
            .with(
                "description",
                format!(
                    "MongoDB Atlas private endpoint of profile {}",
                    self.profile.name
                ),
            )
            .with(
                "ingress",
                Value::List(vec![tcp_rule(
                    atlas.ports.0,
                    atlas.ports.1,
                    &cidrs,
                    "MongoDB Atlas from pods and nodes",
                )]),
            );
        self.managed(
            security_group.clone(),
            ResourceKind::SecurityGroup,
            &self.name("atlas"),
            spec,
            &[&addr(Component::Network, "vpc")],
        );

        let endpoint_service = addr(Component::Atlas, "endpoint_service");
        let service_name = match &atlas.target {
            AtlasTarget::ServiceName(name) => Value::from(name.as_str()),
            AtlasTarget::Project { project_id, region } => {
                let spec = Spec::new()
                    .with("project_id", project_id.as_str())
                    .with("provider_name", "AWS")
                    .with("region", region.as_str());
                let name = self.name("atlas");
                self.managed(
                    endpoint_service.clone(),
                    ResourceKind::AtlasEndpointService,
                    &name,
                    spec,
                    &[],
                );
                Value::output(&endpoint_service, "service_name")
            }
        };

        let vpc_endpoint = addr(Component::Atlas, "vpc_endpoint");
        let spec = Spec::new()
            .with("vpc_id", self.vpc_id())
            .with("service_name", service_name)
            .with("vpc_endpoint_type", "Interface")
            .with("subnet_ids", self.node_subnet_ids())
            .with(
                "security_group_ids",
                Value::List(vec![Value::output(&security_group, "id")]),
            )
            .with("private_dns_enabled", false);
        let node_subnets = self.node_subnets();
        let after: Vec<&Address> = node_subnets.iter().collect();
        self.managed(
            vpc_endpoint.clone(),
            ResourceKind::VpcEndpoint,
            &self.name("atlas"),
            spec,
            &after,
        );

        if let AtlasTarget::Project { project_id, .. } = &atlas.target {
            let spec = Spec::new()
                .with("project_id", project_id.as_str())
                .with(
                    "endpoint_service_id",
                    Value::output(&endpoint_service, "id"),
                )
                .with("vpc_endpoint_id", Value::output(&vpc_endpoint, "id"));
            let name = self.name("atlas");
            self.managed(
                addr(Component::Atlas, "endpoint"),
                ResourceKind::AtlasEndpoint,
                &name,
                spec,
                &[],
            );
        }
    }
}
