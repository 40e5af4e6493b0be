//! The network: the VPC (created or adopted), the pod CIDR, node and pod subnets per
//! zone, and for a created VPC the public subnets, internet and NAT gateways and
//! route tables.

use crate::profile::{NatGateways, Zone};

use super::{Builder, addr, keyed, map, node_subnet};
use crate::stack::{Address, Component, ResourceKind, Spec, Value};

fn pod_subnet(zone: &Zone) -> Address {
    keyed(Component::Network, "subnet", format!("pod/{}", zone.name))
}

fn public_subnet(zone: &Zone) -> Address {
    keyed(
        Component::Network,
        "subnet",
        format!("public/{}", zone.name),
    )
}

impl Builder<'_> {
    pub(super) fn network(&mut self) {
        let network = &self.profile.network;
        let vpc = addr(Component::Network, "vpc");
        match &network.vpc.id {
            Some(id) => self.adopted(
                vpc.clone(),
                ResourceKind::Vpc,
                Spec::new()
                    .with("id", id.as_str())
                    .with("cidr_block", network.vpc.cidr.to_string()),
                &[],
            ),
            None => self.managed(
                vpc.clone(),
                ResourceKind::Vpc,
                &self.name("vpc"),
                Spec::new()
                    .with("cidr_block", network.vpc.cidr.to_string())
                    .with("enable_dns_support", true)
                    .with("enable_dns_hostnames", true),
                &[],
            ),
        }

        let pod_cidr = addr(Component::Network, "pod_cidr");
        let pod_cidr_spec = Spec::new()
            .with("vpc_id", self.vpc_id())
            .with("cidr_block", network.pod_cidr.to_string());
        // Pod subnets that exist already prove the pod CIDR is associated already.
        if network.zones.iter().any(|z| z.pod_subnet.id.is_some()) {
            self.adopted(
                pod_cidr.clone(),
                ResourceKind::VpcCidrAssociation,
                pod_cidr_spec,
                &[&vpc],
            );
        } else {
            let name = self.name("pod-cidr");
            self.managed(
                pod_cidr.clone(),
                ResourceKind::VpcCidrAssociation,
                &name,
                pod_cidr_spec,
                &[&vpc],
            );
        }

        let zones = network.zones.clone();
        for zone in &zones {
            self.subnet(
                &node_subnet(zone),
                &zone.node_subnet,
                zone,
                "node",
                &[&vpc],
                Some("kubernetes.io/role/internal-elb"),
            );
            self.subnet(
                &pod_subnet(zone),
                &zone.pod_subnet,
                zone,
                "pod",
                &[&vpc, &pod_cidr],
                None,
            );
        }
        if network.vpc.id.is_none() {
            self.internet_access(&zones);
        }
    }

    fn subnet(
        &mut self,
        address: &Address,
        subnet: &crate::profile::Subnet,
        zone: &Zone,
        role: &str,
        after: &[&Address],
        elb_role_tag: Option<&str>,
    ) {
        let spec = Spec::new()
            .with("vpc_id", self.vpc_id())
            .with("cidr_block", subnet.cidr.to_string())
            .with("availability_zone", zone.name.as_str());
        match &subnet.id {
            Some(id) => self.adopted(
                address.clone(),
                ResourceKind::Subnet,
                spec.with("id", id.as_str()),
                after,
            ),
            None => {
                let name = self.name(&format!("{role}-{}", zone.name));
                let public = role == "public";
                self.managed(
                    address.clone(),
                    ResourceKind::Subnet,
                    &name,
                    spec.with("map_public_ip_on_launch", public),
                    after,
                );
                if let Some(tag) = elb_role_tag {
                    // The load balancer controller finds its subnets by this tag.
                    self.tag_last(tag, "1");
                }
            }
        }
    }

    /// Public subnets, an internet gateway and NAT gateways, for a VPC the tool creates:
    /// nodes live in private subnets and still need to reach the internet.
    fn internet_access(&mut self, zones: &[Zone]) {
        let vpc = addr(Component::Network, "vpc");
        let igw = addr(Component::Network, "internet_gateway");
        self.managed(
            igw.clone(),
            ResourceKind::InternetGateway,
            &self.name("igw"),
            Spec::new().with("vpc_id", self.vpc_id()),
            &[],
        );

        let public_zones: Vec<&Zone> = zones.iter().filter(|z| z.public_subnet.is_some()).collect();
        for zone in &public_zones {
            let subnet = zone.public_subnet.as_ref().expect("filtered");
            self.subnet(
                &public_subnet(zone),
                subnet,
                zone,
                "public",
                &[&vpc],
                Some("kubernetes.io/role/elb"),
            );
        }
        let public_route_table = keyed(Component::Network, "route_table", "public");
        let spec = Spec::new()
            .with("vpc_id", self.vpc_id())
            .with(
                "routes",
                Value::List(vec![map([
                    ("destination_cidr_block", "0.0.0.0/0".into()),
                    ("gateway_id", Value::output(&igw, "id")),
                ])]),
            )
            .with(
                "subnet_ids",
                Value::List(
                    public_zones
                        .iter()
                        .map(|z| Value::output(&public_subnet(z), "id"))
                        .collect(),
                ),
            );
        self.managed(
            public_route_table,
            ResourceKind::RouteTable,
            &self.name("public"),
            spec,
            &[],
        );

        let nat_zones: Vec<&Zone> = match self.profile.network.nat_gateways {
            NatGateways::Single => public_zones.iter().take(1).copied().collect(),
            NatGateways::PerAz => public_zones.clone(),
        };
        for zone in &nat_zones {
            let eip = keyed(Component::Network, "nat_eip", zone.name.as_str());
            let nat = keyed(Component::Network, "nat_gateway", zone.name.as_str());
            let name = self.name(&format!("nat-{}", zone.name));
            self.managed(
                eip.clone(),
                ResourceKind::ElasticIp,
                &name,
                Spec::new().with("domain", "vpc"),
                &[],
            );
            let spec = Spec::new()
                .with("subnet_id", Value::output(&public_subnet(zone), "id"))
                .with("allocation_id", Value::output(&eip, "id"))
                .with("connectivity_type", "public");
            // A public NAT gateway only works once the VPC has an internet gateway.
            self.managed(nat, ResourceKind::NatGateway, &name, spec, &[&igw]);
        }

        // One private route table per NAT gateway; with a single NAT every zone uses it.
        for nat_zone in &nat_zones {
            let served: Vec<&Zone> = if nat_zones.len() == 1 {
                zones.iter().collect()
            } else {
                zones.iter().filter(|z| z.name == nat_zone.name).collect()
            };
            let key = if nat_zones.len() == 1 {
                "private".to_owned()
            } else {
                format!("private/{}", nat_zone.name)
            };
            let name = if nat_zones.len() == 1 {
                self.name("private")
            } else {
                self.name(&format!("private-{}", nat_zone.name))
            };
            let nat = keyed(Component::Network, "nat_gateway", nat_zone.name.as_str());
            let subnet_ids = served
                .iter()
                .flat_map(|z| {
                    [
                        self.subnet_id(&node_subnet(z), &z.node_subnet),
                        self.subnet_id(&pod_subnet(z), &z.pod_subnet),
                    ]
                })
                .collect();
            let spec = Spec::new()
                .with("vpc_id", self.vpc_id())
                .with(
                    "routes",
                    Value::List(vec![map([
                        ("destination_cidr_block", "0.0.0.0/0".into()),
                        ("nat_gateway_id", Value::output(&nat, "id")),
                    ])]),
                )
                .with("subnet_ids", Value::List(subnet_ids));
            self.managed(
                keyed(Component::Network, "route_table", key),
                ResourceKind::RouteTable,
                &name,
                spec,
                &[],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::build;
    use super::super::tests::{a, before, example, prod};
    use crate::stack::{Ownership, Value};

    #[test]
    fn adopted_network_is_adopted_and_written_out() {
        let stack = build(&prod()).unwrap();
        let vpc = stack.get(&a("network.vpc")).unwrap();
        assert_eq!(vpc.ownership, Ownership::Adopted);
        assert_eq!(
            vpc.spec.get("id"),
            Some(&Value::from("vpc-0a1b2c3d4e5f60718"))
        );
        assert_eq!(
            vpc.spec.get("tags"),
            None,
            "an adopted resource is never tagged"
        );
        let subnet = stack.get(&a("network.subnet[node/us-west-2a]")).unwrap();
        assert_eq!(subnet.ownership, Ownership::Adopted);
        let pod = stack.get(&a("network.subnet[pod/us-west-2a]")).unwrap();
        assert_eq!(pod.ownership, Ownership::Managed);
        assert_eq!(
            pod.spec.get("vpc_id"),
            Some(&Value::from("vpc-0a1b2c3d4e5f60718"))
        );
        assert!(stack.get(&a("network.internet_gateway")).is_none());
    }

    #[test]
    fn created_network_has_internet_access() {
        let stack = build(&example()).unwrap();
        assert_eq!(
            stack.get(&a("network.vpc")).unwrap().ownership,
            Ownership::Managed
        );
        assert!(before(
            &stack,
            "network.internet_gateway",
            "network.nat_gateway[us-west-2a]"
        ));
        assert!(before(
            &stack,
            "network.nat_gateway[us-west-2a]",
            "network.route_table[private]"
        ));
        assert!(before(
            &stack,
            "network.vpc",
            "network.subnet[node/us-west-2b]"
        ));
    }
}
