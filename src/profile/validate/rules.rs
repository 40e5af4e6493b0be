//! The rules a profile must meet beyond its structure, and the defaults that depend
//! on other fields.
//!
//! Each rule reports a [`ProfileError`] at the YAML path of the value it is about and
//! keeps going, so one run lists every problem. Checks of single values live in
//! [`checks`](super::checks).

use std::collections::{BTreeMap, HashMap};

use ipnet::Ipv4Net;
use serde_json::Value;

use super::checks::*;
use crate::profile::diagnostics::ProfileError;
use crate::profile::model::*;
use crate::profile::raw::*;
use crate::profile::versions;

/// The sections of a profile that could be read, each `None` when its structure is
/// broken (already reported), so the rules of every other section still run.
#[derive(Debug, Default)]
pub(super) struct Sections {
    pub api_version: Option<String>,
    pub name: Option<String>,
    pub region: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub network: Option<RawNetwork>,
    pub eks: Option<RawEks>,
    pub rds: Option<RawRds>,
    pub ecr: Option<RawEcr>,
    pub atlas: Option<Option<RawAtlas>>,
    pub ingress: Option<RawIngress>,
    pub kie: Option<RawKie>,
}

impl Sections {
    /// Reads each top-level field of `document` on its own, applying `RawProfile`'s
    /// defaults to absent optional ones. Returns the sections and, for each present
    /// field serde could not read, its path and serde's message.
    pub(super) fn read(document: &Value) -> (Self, Vec<(String, String)>) {
        fn parse<T: serde::de::DeserializeOwned>(
            document: &Value,
            key: &str,
            failures: &mut Vec<(String, String)>,
        ) -> Option<Option<T>> {
            let Some(value) = document.get(key) else {
                return Some(None);
            };
            match serde_json::from_value(value.clone()) {
                Ok(parsed) => Some(Some(parsed)),
                Err(error) => {
                    failures.push((key.to_string(), error.to_string()));
                    None
                }
            }
        }
        let mut failures = Vec::new();
        let (d, f) = (document, &mut failures);
        let sections = Sections {
            api_version: parse(d, "apiVersion", f).flatten(),
            name: parse(d, "name", f).flatten(),
            region: parse(d, "region", f).flatten(),
            tags: parse(d, "tags", f).map(Option::unwrap_or_default),
            network: parse(d, "network", f).flatten(),
            eks: parse(d, "eks", f).flatten(),
            rds: parse(d, "rds", f).flatten(),
            ecr: parse(d, "ecr", f).map(Option::unwrap_or_default),
            atlas: parse(d, "atlas", f),
            ingress: parse(d, "ingress", f).map(Option::unwrap_or_default),
            kie: parse(d, "kie", f).map(Option::unwrap_or_default),
        };
        (sections, failures)
    }
}

/// Checks the readable `sections` (whose document is `document`, used to tell which
/// fields were written) and builds the [`Profile`] if every section was readable and
/// no rule failed. Returns the profile, if any, and every problem found.
pub(super) fn check(sections: &Sections, document: &Value) -> (Option<Profile>, Vec<ProfileError>) {
    let mut rules = Rules {
        errors: Vec::new(),
        document,
    };
    let profile = rules.profile(sections);
    let profile = profile.filter(|_| rules.errors.is_empty());
    (profile, rules.errors)
}

struct Rules<'a> {
    errors: Vec<ProfileError>,
    document: &'a Value,
}

/// The three zones with the subnets of each, while the network is being resolved.
struct Zones {
    names: Vec<String>,
    node: Vec<Option<Subnet>>,
    public: Vec<Option<Subnet>>,
    pod: Vec<Option<Subnet>>,
    /// Where each listed (not carved) subnet's CIDR is written, by kind and zone.
    listed: HashMap<(SubnetKind, usize), String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SubnetKind {
    Node,
    Public,
    Pod,
}

impl SubnetKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Node => "node",
            Self::Public => "public",
            Self::Pod => "pod",
        }
    }
}

impl Rules<'_> {
    fn report(&mut self, path: impl Into<String>, problem: Problem) {
        self.errors
            .push(ProfileError::new(path, problem.message).with_hint(problem.hint));
    }

    fn error(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.errors
            .push(ProfileError::new(path, message).with_hint(hint));
    }

    /// Reports the problem of `check` (if any) at `path`; tells whether it passed.
    fn require(&mut self, path: &str, check: Check) -> bool {
        match check {
            Ok(()) => true,
            Err(problem) => {
                self.report(path, problem);
                false
            }
        }
    }

    /// Tells whether `path` was written in the profile (rather than defaulted).
    fn given(&self, path: &str) -> bool {
        let pointer: String = path.split('.').map(|part| format!("/{part}")).collect();
        self.document.pointer(&pointer).is_some()
    }

    fn cidr(&mut self, path: &str, text: &str) -> Option<Ipv4Net> {
        match parse_cidr(text) {
            Ok(net) => Some(net),
            Err(problem) => {
                self.report(path, problem);
                None
            }
        }
    }

    fn cidrs(&mut self, path: &str, texts: &[String]) -> Option<Vec<Ipv4Net>> {
        let parsed: Vec<Option<Ipv4Net>> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| self.cidr(&format!("{path}[{i}]"), t))
            .collect();
        parsed.into_iter().collect()
    }

    fn profile(&mut self, s: &Sections) -> Option<Profile> {
        if let Some(api_version) = &s.api_version
            && api_version != API_VERSION
        {
            self.error(
                "apiVersion",
                format!("unsupported apiVersion `{api_version}`: expected `{API_VERSION}`"),
                format!("set `apiVersion: {API_VERSION}`"),
            );
        }
        let name = s
            .name
            .as_deref()
            .filter(|name| self.require("name", check_profile_name(name)));
        let region = s
            .region
            .as_deref()
            .filter(|region| self.require("region", check_region(region)));
        for (key, value) in s.tags.iter().flatten() {
            self.require(&format!("tags.{key}"), check_tag(key, value));
        }
        if let Some(tags) = &s.tags {
            self.require("tags", check_tag_count(tags.len()));
        }

        // Every section is checked before any result is combined, so that one broken
        // section does not hide the problems of the next.
        let network = s.network.as_ref().and_then(|n| self.network(n, region));
        let eks = s
            .eks
            .as_ref()
            .and_then(|e| self.eks(e, name.unwrap_or_default(), network.as_ref()));
        let rds = s.rds.as_ref().and_then(|r| self.rds(r, name));
        let ecr = s.ecr.as_ref().and_then(|e| self.ecr(e));
        let atlas = s.atlas.as_ref().map(|atlas| match atlas {
            Some(atlas) => self.atlas(atlas, region, network.as_ref()).map(Some),
            None => Some(None),
        });
        let ingress = s.ingress.as_ref().and_then(|i| self.ingress(i, region));
        let kie = s.kie.as_ref().and_then(|k| self.kie(k));

        s.api_version.as_ref()?;
        Some(Profile {
            name: name?.to_string(),
            region: region?.to_string(),
            tags: s.tags.clone()?,
            network: network?,
            eks: eks?,
            rds: rds?,
            ecr: ecr?,
            atlas: atlas.flatten()?,
            ingress: ingress?,
            kie: kie?,
        })
    }

    // ----- network -------------------------------------------------------------------

    fn network(&mut self, raw: &RawNetwork, region: Option<&str>) -> Option<Network> {
        let vpc_cidr = self.cidr("network.vpc.cidr", &raw.vpc.cidr);
        if let Some(net) = vpc_cidr
            && !(16..=28).contains(&net.prefix_len())
        {
            self.error(
                "network.vpc.cidr",
                format!("a VPC CIDR must be between /16 and /28, not /{}", net.prefix_len()),
                "AWS allows VPC CIDR blocks from /16 (65,536 addresses) to /28; use e.g. `10.0.0.0/16`",
            );
        }
        let adopt = raw.vpc.id.is_some();
        if let Some(id) = &raw.vpc.id {
            self.require("network.vpc.id", check_resource_id(id, "vpc"));
        }

        let pod_cidr = self.cidr("network.pod_cidr", &raw.pod_cidr);
        if let Some(pod) = pod_cidr {
            if !(16..=28).contains(&pod.prefix_len()) {
                self.error(
                    "network.pod_cidr",
                    format!(
                        "a secondary VPC CIDR must be between /16 and /28, not /{}",
                        pod.prefix_len()
                    ),
                    "use `100.64.0.0/16`, the carrier-grade NAT range EKS recommends for pods",
                );
            }
            if let Some(vpc) = vpc_cidr
                && overlaps(vpc, pod)
            {
                self.error(
                    "network.pod_cidr",
                    format!("the pod CIDR {pod} overlaps the VPC CIDR {vpc}"),
                    "the pod CIDR is added to the VPC as a second CIDR block and must not overlap it; the default `100.64.0.0/16` never does for RFC 1918 VPCs",
                );
            }
        }

        let zones = self.availability_zones(&raw.availability_zones, region)?;
        let mut zones = Zones {
            node: vec![None; zones.len()],
            public: vec![None; zones.len()],
            pod: vec![None; zones.len()],
            listed: HashMap::new(),
            names: zones,
        };

        // Adopt mode: the node subnets exist; the tool reads them and needs to know them.
        // Create mode: the tool makes them, carving what the profile leaves out.
        if adopt {
            if raw.node_subnets.is_empty() {
                self.error(
                    "network.node_subnets",
                    "an adopted VPC needs its node subnets listed, one per availability zone",
                    "add `node_subnets:` with `az`, `id` (subnet-…) and `cidr` for each of the three zones",
                );
            }
            if !raw.public_subnets.is_empty() {
                self.error(
                    "network.public_subnets",
                    "public subnets are only made when the tool creates the VPC",
                    "remove `public_subnets` (an adopted VPC keeps its own routing), or remove `vpc.id` to create a VPC",
                );
            }
            if self.given("network.nat_gateways") {
                self.error(
                    "network.nat_gateways",
                    "NAT gateways are only made when the tool creates the VPC",
                    "remove `nat_gateways`, or remove `vpc.id` to create a VPC",
                );
            }
        }
        let node = self.subnets(
            "network.node_subnets",
            &raw.node_subnets,
            &zones.names,
            adopt,
            vpc_cidr,
        );
        let public = self.subnets(
            "network.public_subnets",
            &raw.public_subnets,
            &zones.names,
            false,
            vpc_cidr,
        );
        // Pod subnets may be adopted along with an adopted VPC, never invented ids otherwise.
        let pod = self.subnets(
            "network.pod_subnets",
            &raw.pod_subnets,
            &zones.names,
            adopt,
            pod_cidr,
        );
        for (kind, listed) in [
            (SubnetKind::Node, node),
            (SubnetKind::Public, public),
            (SubnetKind::Pod, pod),
        ] {
            let Some(listed) = listed else { continue };
            let mut slots = Vec::new();
            for (zone, entry) in listed.into_iter().enumerate() {
                slots.push(entry.map(|(subnet, path)| {
                    zones.listed.insert((kind, zone), path);
                    subnet
                }));
            }
            match kind {
                SubnetKind::Node => zones.node = slots,
                SubnetKind::Public => zones.public = slots,
                SubnetKind::Pod => zones.pod = slots,
            }
        }

        let vpc_cidr = vpc_cidr?;
        let pod_cidr = pod_cidr?;
        if !adopt {
            self.carve_vpc(&mut zones, vpc_cidr);
        }
        self.carve_pods(&mut zones, pod_cidr);
        self.check_subnet_overlaps(&zones);

        let mut out = Vec::new();
        for (i, name) in zones.names.iter().enumerate() {
            out.push(Zone {
                name: name.clone(),
                node_subnet: zones.node[i].clone()?,
                public_subnet: if adopt {
                    None
                } else {
                    Some(zones.public[i].clone()?)
                },
                pod_subnet: zones.pod[i].clone()?,
            });
        }
        Some(Network {
            vpc: Vpc {
                id: raw.vpc.id.clone(),
                cidr: vpc_cidr,
            },
            zones: out,
            nat_gateways: raw.nat_gateways,
            pod_cidr,
        })
    }

    fn availability_zones(&mut self, azs: &[String], region: Option<&str>) -> Option<Vec<String>> {
        let path = "network.availability_zones";
        let mut ok = true;
        for (i, az) in azs.iter().enumerate() {
            if let Some(region) = region {
                ok &= self.require(&format!("{path}[{i}]"), check_availability_zone(az, region));
            }
            if azs[..i].contains(az) {
                self.error(
                    format!("{path}[{i}]"),
                    format!("availability zone `{az}` is listed twice"),
                    "list three different zones, e.g. `[us-west-2a, us-west-2b, us-west-2c]`",
                );
                ok = false;
            }
        }
        if azs.len() != 3 {
            self.error(
                path,
                format!("exactly three availability zones are needed, found {}", azs.len()),
                "a Multi-AZ DB cluster and the EKS node groups span three zones; list three zones of the region",
            );
            ok = false;
        }
        (ok && region.is_some()).then(|| azs.to_vec())
    }

    /// Checks a list of subnets (empty means "carve them") and orders it by zone.
    fn subnets(
        &mut self,
        path: &str,
        subnets: &[RawSubnet],
        zones: &[String],
        ids_allowed: bool,
        within: Option<Ipv4Net>,
    ) -> Option<Vec<Option<(Subnet, String)>>> {
        let mut by_zone: Vec<Option<(Subnet, String)>> = vec![None; zones.len()];
        if subnets.is_empty() {
            return Some(by_zone);
        }
        let mut ok = true;
        let with_ids = subnets.iter().filter(|s| s.id.is_some()).count();
        if ids_allowed && with_ids != 0 && with_ids != subnets.len() {
            self.error(
                path,
                "either every subnet has an `id` (adopted) or none has",
                "give the `id` of each existing subnet",
            );
            ok = false;
        }
        for (i, subnet) in subnets.iter().enumerate() {
            let item = format!("{path}[{i}]");
            let zone = zones.iter().position(|z| *z == subnet.az);
            if zone.is_none() {
                self.error(
                    format!("{item}.az"),
                    format!("`{}` is not one of `network.availability_zones`", subnet.az),
                    format!("use one of: {}", zones.join(", ")),
                );
                ok = false;
            } else if subnets[..i].iter().any(|s| s.az == subnet.az) {
                self.error(
                    format!("{item}.az"),
                    format!("a second subnet in `{}`", subnet.az),
                    "give exactly one subnet per availability zone",
                );
                ok = false;
            }
            match &subnet.id {
                Some(id) if !ids_allowed => {
                    self.error(
                        format!("{item}.id"),
                        format!("subnet id `{id}` given, but the tool creates this subnet"),
                        "remove `id`: subnet ids are only given when adopting an existing VPC (`vpc.id`)",
                    );
                    ok = false;
                }
                Some(id) => {
                    ok &= self.require(&format!("{item}.id"), check_resource_id(id, "subnet"))
                }
                None if ids_allowed && path == "network.node_subnets" => {
                    self.error(
                        format!("{item}.id"),
                        "an adopted VPC's node subnet needs its `id`",
                        "add `id: subnet-…` (the existing subnet's id)",
                    );
                    ok = false;
                }
                None => {}
            }
            let cidr_path = format!("{item}.cidr");
            let Some(cidr) = self.cidr(&cidr_path, &subnet.cidr) else {
                ok = false;
                continue;
            };
            if !(16..=28).contains(&cidr.prefix_len()) {
                self.error(
                    &cidr_path,
                    format!(
                        "a subnet must be between /16 and /28, not /{}",
                        cidr.prefix_len()
                    ),
                    "AWS allows subnets from /16 to /28",
                );
                ok = false;
            }
            if let Some(within) = within
                && !within.contains(&cidr)
            {
                let (what, field) = if path == "network.pod_subnets" {
                    ("pod CIDR", "network.pod_cidr")
                } else {
                    ("VPC CIDR", "network.vpc.cidr")
                };
                self.error(
                    &cidr_path,
                    format!("subnet {cidr} is not inside the {what} {within}"),
                    format!("pick a block inside `{field}` ({within})"),
                );
                ok = false;
            }
            if let Some(zone) = zone {
                let subnet = Subnet {
                    id: subnet.id.clone(),
                    cidr,
                };
                by_zone[zone] = Some((subnet, cidr_path));
            }
        }
        if subnets.len() != zones.len() && zones.len() == 3 {
            self.error(
                path,
                format!(
                    "{} subnet(s) listed: give one per availability zone ({})",
                    subnets.len(),
                    zones.len()
                ),
                if ids_allowed && path == "network.node_subnets" {
                    "list the node subnet of each of the three zones".to_string()
                } else {
                    format!(
                        "list one for each zone, or remove `{}` to let the tool carve them",
                        leaf(path)
                    )
                },
            );
            ok = false;
        }
        ok.then_some(by_zone)
    }

    /// Fills in node and public subnets the profile leaves out. The VPC is cut into
    /// quarters: the first three hold the node subnets, the last is cut again into
    /// quarters for the public subnets, so a /16 gives /18 node and /20 public subnets.
    fn carve_vpc(&mut self, zones: &mut Zones, vpc: Ipv4Net) {
        let missing = zones.node.iter().chain(&zones.public).any(Option::is_none);
        if !missing {
            return;
        }
        if vpc.prefix_len() > 24 {
            self.error(
                "network.vpc.cidr",
                format!("the VPC {vpc} is too small to carve three node and three public subnets from"),
                "use a /24 or larger VPC CIDR (e.g. `10.0.0.0/16`), or list `node_subnets` and `public_subnets`",
            );
            return;
        }
        let quarters: Vec<Ipv4Net> = split(vpc, 2);
        let publics: Vec<Ipv4Net> = split(quarters[3], 2);
        for i in 0..zones.names.len() {
            zones.node[i].get_or_insert(Subnet {
                id: None,
                cidr: quarters[i],
            });
            zones.public[i].get_or_insert(Subnet {
                id: None,
                cidr: publics[i],
            });
        }
    }

    /// Fills in pod subnets the profile leaves out: the first three quarters of the pod CIDR.
    fn carve_pods(&mut self, zones: &mut Zones, pod: Ipv4Net) {
        if zones.pod.iter().all(Option::is_some) {
            return;
        }
        if pod.prefix_len() > 26 {
            self.error(
                "network.pod_cidr",
                format!("the pod CIDR {pod} is too small to carve three pod subnets from"),
                "use a /26 or larger pod CIDR (the default is `100.64.0.0/16`), or list `pod_subnets`",
            );
            return;
        }
        for (slot, cidr) in zones.pod.iter_mut().zip(split(pod, 2)) {
            slot.get_or_insert(Subnet { id: None, cidr });
        }
    }

    /// Node and public subnets share the VPC; pod subnets share the pod CIDR. Carved
    /// subnets take part, so a listed subnet that collides with a carved one is caught;
    /// the error points at the listed one.
    fn check_subnet_overlaps(&mut self, zones: &Zones) {
        let side =
            |kinds: &[(SubnetKind, &Vec<Option<Subnet>>)]| -> Vec<(SubnetKind, usize, Ipv4Net)> {
                kinds
                    .iter()
                    .flat_map(|(kind, list)| {
                        list.iter()
                            .enumerate()
                            .filter_map(move |(zone, s)| s.as_ref().map(|s| (*kind, zone, s.cidr)))
                    })
                    .collect()
            };
        let vpc_side = side(&[
            (SubnetKind::Node, &zones.node),
            (SubnetKind::Public, &zones.public),
        ]);
        let pod_side = side(&[(SubnetKind::Pod, &zones.pod)]);
        let describe = |kind: SubnetKind, zone: usize| {
            let carved = if zones.listed.contains_key(&(kind, zone)) {
                ""
            } else {
                ", carved"
            };
            format!("{} subnet of {}{carved}", kind.as_str(), zones.names[zone])
        };
        for side in [vpc_side, pod_side] {
            for (j, &(kind_b, zone_b, b)) in side.iter().enumerate() {
                for &(kind_a, zone_a, a) in &side[..j] {
                    if !overlaps(a, b) {
                        continue;
                    }
                    let path = zones
                        .listed
                        .get(&(kind_b, zone_b))
                        .or_else(|| zones.listed.get(&(kind_a, zone_a)))
                        .cloned()
                        .unwrap_or_else(|| "network".to_string());
                    self.error(
                        path,
                        format!(
                            "{b} ({}) overlaps {a} ({})",
                            describe(kind_b, zone_b),
                            describe(kind_a, zone_a)
                        ),
                        "subnets must not overlap; when some are carved by the tool, list them all explicitly instead",
                    );
                }
            }
        }
    }

    // ----- eks -----------------------------------------------------------------------

    fn eks(&mut self, raw: &RawEks, name: &str, network: Option<&Network>) -> Option<Eks> {
        let version = match parse_kubernetes_version(&raw.version) {
            Ok(version) => Some(version),
            Err(problem) => {
                self.report("eks.version", problem);
                None
            }
        };

        let public_cidrs = self.cidrs("eks.endpoint.public_cidrs", &raw.endpoint.public_cidrs);
        if !raw.endpoint.private && !raw.endpoint.public {
            self.error(
                "eks.endpoint",
                "the cluster API endpoint must be reachable privately, publicly, or both",
                "set `private: true` (nodes then reach the API inside the VPC)",
            );
        }
        let mut logging = raw.logging.clone();
        logging.sort();
        logging.dedup();

        let mut groups = Vec::new();
        let mut groups_ok = true;
        if raw.node_groups.is_empty() {
            self.error(
                "eks.node_groups",
                "at least one node group is needed",
                "add a node group, e.g. `- name: node-1`",
            );
            groups_ok = false;
        }
        for (i, group) in raw.node_groups.iter().enumerate() {
            if raw.node_groups[..i].iter().any(|g| g.name == group.name) {
                self.error(
                    format!("eks.node_groups[{i}].name"),
                    format!("node group `{}` is defined twice", group.name),
                    "give each node group its own name, e.g. `node-1` … `node-4`",
                );
                groups_ok = false;
            }
            match self.node_group(&format!("eks.node_groups[{i}]"), group) {
                Some(group) => groups.push(group),
                None => groups_ok = false,
            }
        }

        let ingress_cidrs = match &raw.node_ingress_cidrs {
            Some(cidrs) => self.cidrs("eks.node_ingress_cidrs", cidrs),
            None => network.map(|n| vec![n.vpc.cidr]),
        };
        let node_ingress = self.node_ingress(raw.node_ingress.as_deref(), ingress_cidrs);
        let addons = self.addons(&raw.addons);

        groups_ok.then_some(())?;
        Some(Eks {
            cluster_name: name.to_string(),
            version: version?,
            endpoint: EndpointAccess {
                private: raw.endpoint.private,
                public: raw.endpoint.public,
                public_cidrs: public_cidrs?,
            },
            logging,
            node_groups: groups,
            node_ingress: node_ingress?,
            addons: addons?,
        })
    }

    fn node_group(&mut self, path: &str, raw: &RawNodeGroup) -> Option<NodeGroup> {
        let mut ok = self.require(&format!("{path}.name"), check_node_group_name(&raw.name));
        ok &= self.require(
            &format!("{path}.instance_type"),
            check_instance_type(&raw.instance_type),
        );
        let size = raw.size;
        if size.max == 0 {
            self.error(
                format!("{path}.size.max"),
                "`max` must be at least 1",
                "EKS node groups need `max` ≥ 1",
            );
            ok = false;
        }
        if size.min > size.desired || size.desired > size.max {
            self.error(
                format!("{path}.size"),
                format!(
                    "sizes must satisfy min ≤ desired ≤ max, got min {}, desired {}, max {}",
                    size.min, size.desired, size.max
                ),
                "raise `max` or lower `min` so that `desired` lies between them",
            );
            ok = false;
        }
        let labels = match &raw.labels {
            Some(labels) => {
                for (key, value) in labels {
                    ok &= self.require(&format!("{path}.labels.{key}"), check_label(key, value));
                }
                labels.clone()
            }
            None => BTreeMap::from([("name".to_string(), raw.name.clone())]),
        };
        ok &= self.require(
            &format!("{path}.data_volume"),
            check_data_volume(&raw.data_volume),
        );
        for (i, dir) in raw.data_dirs.iter().enumerate() {
            let dir_path = format!("{path}.data_dirs[{i}]");
            ok &= self.require(&dir_path, check_data_dir(dir));
            if raw.data_dirs[..i].contains(dir) {
                self.error(
                    &dir_path,
                    format!("`{dir}` is listed twice"),
                    "remove the duplicate",
                );
                ok = false;
            }
        }
        // vm.max_map_count is what Elasticsearch needs on every node; a profile that lists
        // other sysctls should not lose it by accident, so listed ones are added to it.
        let mut sysctls = BTreeMap::from([("vm.max_map_count".to_string(), "262144".to_string())]);
        for (key, value) in &raw.sysctls {
            ok &= self.require(&format!("{path}.sysctls.{key}"), check_sysctl(key, value));
            sysctls.insert(key.clone(), value.clone());
        }
        ok.then(|| NodeGroup {
            name: raw.name.clone(),
            instance_type: raw.instance_type.clone(),
            size: GroupSize {
                min: size.min,
                desired: size.desired,
                max: size.max,
            },
            labels,
            data_volume: DataVolume {
                size_gib: raw.data_volume.size_gib,
                volume_type: raw.data_volume.r#type.clone(),
            },
            data_dirs: raw.data_dirs.clone(),
            sysctls,
        })
    }

    fn node_ingress(
        &mut self,
        rules: Option<&[RawIngressRule]>,
        default_cidrs: Option<Vec<Ipv4Net>>,
    ) -> Option<Vec<IngressRule>> {
        let Some(rules) = rules else {
            let cidrs = default_cidrs?;
            return Some(
                DEFAULT_NODE_INGRESS
                    .into_iter()
                    .map(|(port, description)| IngressRule {
                        port,
                        cidrs: cidrs.clone(),
                        description: description.to_string(),
                    })
                    .collect(),
            );
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (i, rule) in rules.iter().enumerate() {
            let path = format!("eks.node_ingress[{i}]");
            if rule.port == 0 {
                self.error(
                    format!("{path}.port"),
                    "port 0 is not a TCP port",
                    "use a port from 1 to 65535",
                );
                ok = false;
            }
            let description = rule
                .description
                .clone()
                .unwrap_or_else(|| format!("TCP {}", rule.port));
            ok &= self.require(
                &format!("{path}.description"),
                check_rule_description(&description),
            );
            let cidrs = match &rule.cidrs {
                Some(cidrs) => self.cidrs(&format!("{path}.cidrs"), cidrs),
                None => default_cidrs.clone(),
            };
            match cidrs {
                Some(cidrs) => out.push(IngressRule {
                    port: rule.port,
                    cidrs,
                    description,
                }),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn addons(&mut self, raw: &[RawAddon]) -> Option<Vec<Addon>> {
        let mut ok = true;
        for (i, addon) in raw.iter().enumerate() {
            let path = format!("eks.addons[{i}]");
            ok &= self.require(&format!("{path}.name"), check_addon_name(&addon.name));
            if raw[..i].iter().any(|a| a.name == addon.name) {
                self.error(
                    format!("{path}.name"),
                    format!("addon `{}` is listed twice", addon.name),
                    "remove the duplicate",
                );
                ok = false;
            }
            if let Some(version) = &addon.version {
                ok &= self.require(&format!("{path}.version"), check_addon_version(version));
            }
        }
        if !raw.iter().any(|a| a.name == "vpc-cni") {
            self.error(
                "eks.addons",
                "the `vpc-cni` addon is required",
                "pods get their 100.64.x addresses from the VPC CNI's custom networking; add `- name: vpc-cni`",
            );
            ok = false;
        }
        ok.then(|| {
            raw.iter()
                .map(|a| Addon {
                    name: a.name.clone(),
                    version: a.version.clone(),
                })
                .collect()
        })
    }

    // ----- rds -----------------------------------------------------------------------

    fn rds(&mut self, raw: &RawRds, name: Option<&str>) -> Option<Rds> {
        let mut ok = true;
        let identifier = match (&raw.identifier, name) {
            (Some(identifier), _) => {
                ok &= self.require("rds.identifier", check_db_identifier(identifier, raw.mode));
                identifier.to_ascii_lowercase()
            }
            // A valid profile name always makes a valid identifier.
            (None, Some(name)) => format!("{name}-bpa"),
            (None, None) => {
                ok = false;
                String::new()
            }
        };
        let engine_version = match parse_engine_version(&raw.engine_version) {
            Ok(version) => Some(version),
            Err(problem) => {
                self.report("rds.engine_version", problem);
                None
            }
        };
        ok &= self.require(
            "rds.instance_class",
            check_instance_class(&raw.instance_class),
        );
        let storage = self.storage(raw.mode, &raw.storage);
        ok &= self.require(
            "rds.master_username",
            check_master_username(&raw.master_username),
        );
        let master_password = match &raw.master_password {
            RawMasterPassword::Managed(_) => MasterPassword::Managed,
            RawMasterPassword::FromEnv { from_env } => {
                ok &= self.require("rds.master_password.from_env", check_env_var_name(from_env));
                MasterPassword::FromEnv(from_env.clone())
            }
        };

        let encryption = match raw.password_encryption {
            PasswordEncryption::Md5 => "md5",
            PasswordEncryption::ScramSha256 => "scram-sha-256",
        };
        if let Some(version) = &engine_version
            && let Some(major) = versions::postgres_major(version.major)
        {
            ok &= self.require(
                "rds.password_encryption",
                check_md5(raw.password_encryption, major),
            );
        }
        let mut parameters = BTreeMap::new();
        for (key, value) in &raw.parameters {
            let path = format!("rds.parameters.{key}");
            ok &= self.require(&path, check_parameter_name(key));
            if key == "password_encryption" && value != encryption {
                self.error(
                    &path,
                    format!("`password_encryption` is `{value}` here but `{encryption}` in `rds.password_encryption`"),
                    "set it once, with `rds.password_encryption`, and remove it from `parameters`",
                );
                ok = false;
            }
            parameters.insert(key.clone(), value.clone());
        }
        parameters.insert("password_encryption".to_string(), encryption.to_string());

        if !(1..=35).contains(&raw.backup_retention_days) {
            self.error(
                "rds.backup_retention_days",
                format!("backup retention must be 1 to 35 days, not {}", raw.backup_retention_days),
                "Multi-AZ DB clusters need automated backups (at least 1 day); RDS keeps at most 35",
            );
            ok = false;
        }
        if let Some(key) = &raw.kms_key_id {
            ok &= self.require("rds.kms_key_id", check_kms_key(key));
            if !raw.storage_encrypted {
                self.error(
                    "rds.kms_key_id",
                    "a KMS key is given but `storage_encrypted` is false",
                    "set `storage_encrypted: true`, or remove `kms_key_id`",
                );
                ok = false;
            }
        }
        let allowed_cidrs = self.cidrs("rds.allowed_cidrs", &raw.allowed_cidrs);
        let databases = self.databases(&raw.databases, &raw.master_username);

        ok.then_some(())?;
        Some(Rds {
            identifier,
            mode: raw.mode,
            engine_version: engine_version?,
            instance_class: raw.instance_class.clone(),
            storage: storage?,
            master_username: raw.master_username.clone(),
            master_password,
            password_encryption: raw.password_encryption,
            parameters,
            backup_retention_days: raw.backup_retention_days,
            storage_encrypted: raw.storage_encrypted,
            kms_key_id: raw.kms_key_id.clone(),
            deletion_protection: raw.deletion_protection,
            allowed_cidrs: allowed_cidrs?,
            databases: databases?,
        })
    }

    fn storage(&mut self, mode: RdsMode, raw: &RawStorage) -> Option<Storage> {
        let storage_type = match parse_storage_type(&raw.r#type, mode) {
            Ok(t) => t,
            Err(problem) => {
                self.report("rds.storage.type", problem);
                return None;
            }
        };
        let storage = Storage {
            storage_type,
            size_gib: raw.size_gib,
            iops: raw.iops,
        };
        let problems = check_storage(&storage, mode);
        let ok = problems.is_empty();
        for (field, problem) in problems {
            self.report(format!("rds.storage.{field}"), problem);
        }
        ok.then_some(storage)
    }

    fn databases(&mut self, raw: &[RawDatabase], master: &str) -> Option<Vec<Database>> {
        let mut ok = true;
        let mut user_env: HashMap<&str, &str> = HashMap::new();
        for (i, db) in raw.iter().enumerate() {
            let path = format!("rds.databases[{i}]");
            ok &= self.require(
                &format!("{path}.name"),
                check_pg_identifier(&db.name, Identifier::Database),
            );
            ok &= self.require(
                &format!("{path}.user"),
                check_pg_identifier(&db.user, Identifier::Role),
            );
            ok &= self.require(
                &format!("{path}.password_env"),
                check_env_var_name(&db.password_env),
            );
            if raw[..i].iter().any(|d| d.name == db.name) {
                self.error(
                    format!("{path}.name"),
                    format!("database `{}` is listed twice", db.name),
                    "give each database once",
                );
                ok = false;
            }
            if db.user == master {
                self.error(
                    format!("{path}.user"),
                    format!("`{}` is the master user", db.user),
                    "give the database its own owner; the master user is created by RDS and its password is not taken from here",
                );
                ok = false;
            }
            // One role may own several databases, but it has only one password.
            match user_env.get(db.user.as_str()) {
                Some(env) if *env != db.password_env => {
                    self.error(
                        format!("{path}.password_env"),
                        format!("user `{}` already takes its password from `{env}`", db.user),
                        format!(
                            "use `password_env: {env}` for every database of `{}`",
                            db.user
                        ),
                    );
                    ok = false;
                }
                _ => {
                    user_env.insert(&db.user, &db.password_env);
                }
            }
        }
        ok.then(|| {
            raw.iter()
                .map(|d| Database {
                    name: d.name.clone(),
                    user: d.user.clone(),
                    password_env: d.password_env.clone(),
                })
                .collect()
        })
    }

    // ----- ecr, atlas, ingress, kie --------------------------------------------------

    fn ecr(&mut self, raw: &RawEcr) -> Option<Ecr> {
        let mut ok = true;
        for (i, repository) in raw.repositories.iter().enumerate() {
            let path = format!("ecr.repositories[{i}]");
            ok &= self.require(&path, check_repository_name(repository));
            if raw.repositories[..i].contains(repository) {
                self.error(
                    &path,
                    format!("repository `{repository}` is listed twice"),
                    "remove the duplicate",
                );
                ok = false;
            }
        }
        for (field, value) in [
            (
                "expire_untagged_after_days",
                raw.lifecycle.expire_untagged_after_days,
            ),
            ("keep_last_tagged", raw.lifecycle.keep_last_tagged),
        ] {
            if value == 0 {
                self.error(
                    format!("ecr.lifecycle.{field}"),
                    format!("`{field}` must be at least 1"),
                    "ECR lifecycle rules count from 1",
                );
                ok = false;
            }
        }
        ok.then(|| Ecr {
            repositories: raw.repositories.clone(),
            scan_on_push: raw.scan_on_push,
            tag_mutability: raw.tag_mutability,
            encryption: raw.encryption,
            lifecycle: Lifecycle {
                expire_untagged_after_days: raw.lifecycle.expire_untagged_after_days,
                keep_last_tagged: raw.lifecycle.keep_last_tagged,
            },
        })
    }

    fn atlas(
        &mut self,
        raw: &RawAtlas,
        region: Option<&str>,
        network: Option<&Network>,
    ) -> Option<Atlas> {
        let mut ok = true;
        let target = match (&raw.endpoint_service_name, &raw.project_id) {
            (Some(service), None) => {
                if let Some(region) = region {
                    ok &= self.require(
                        "atlas.endpoint_service_name",
                        check_endpoint_service_name(service, region),
                    );
                }
                if raw.region.is_some() {
                    self.error(
                        "atlas.region",
                        "`region` is only used with `project_id`",
                        "remove `region`: the endpoint service name already names the region",
                    );
                    ok = false;
                }
                Some(AtlasTarget::ServiceName(service.clone()))
            }
            (None, Some(project)) => {
                ok &= self.require("atlas.project_id", check_project_id(project));
                let atlas_region = match &raw.region {
                    Some(atlas_region) => {
                        ok &= self.require("atlas.region", check_atlas_region(atlas_region));
                        atlas_region.clone()
                    }
                    None => atlas_region_of(region.unwrap_or_default()),
                };
                Some(AtlasTarget::Project {
                    project_id: project.clone(),
                    region: atlas_region,
                })
            }
            (Some(_), Some(_)) => {
                self.error(
                    "atlas.project_id",
                    "give `endpoint_service_name` or `project_id`, not both",
                    "keep `endpoint_service_name` to use an endpoint service made in the Atlas UI, or `project_id` to let the tool make it",
                );
                None
            }
            (None, None) => {
                self.error(
                    "atlas",
                    "`endpoint_service_name` or `project_id` is needed",
                    "copy the endpoint service name from the Atlas UI (`com.amazonaws.vpce.<region>.vpce-svc-…`), or give the Atlas project id",
                );
                None
            }
        };
        let allowed_cidrs = match &raw.allowed_cidrs {
            Some(cidrs) => self.cidrs("atlas.allowed_cidrs", cidrs),
            None => network.map(|n| {
                let mut cidrs = vec![n.pod_cidr];
                cidrs.extend(n.node_cidrs());
                cidrs
            }),
        };
        let ports = match parse_port_range(&raw.ports) {
            Ok(ports) => Some(ports),
            Err(problem) => {
                self.report("atlas.ports", problem);
                None
            }
        };
        ok.then_some(())?;
        Some(Atlas {
            target: target?,
            allowed_cidrs: allowed_cidrs?,
            ports: ports?,
        })
    }

    fn ingress(&mut self, raw: &RawIngress, region: Option<&str>) -> Option<Ingress> {
        let mut ok = true;
        if let Some(host) = &raw.host {
            ok &= self.require("ingress.host", check_host(host));
        }
        if let Some(arn) = &raw.certificate_arn
            && let Some(region) = region
        {
            ok &= self.require(
                "ingress.certificate_arn",
                check_certificate_arn(arn, region),
            );
        }
        if !(1..=604_800).contains(&raw.sticky_session_seconds) {
            self.error(
                "ingress.sticky_session_seconds",
                format!(
                    "sticky-session duration must be 1 to 604800 seconds, not {}",
                    raw.sticky_session_seconds
                ),
                "the ALB's lb_cookie duration is at most 7 days (604800 s), the default",
            );
            ok = false;
        }
        ok &= self.require(
            "ingress.health_check_path",
            check_http_path(&raw.health_check_path),
        );
        if raw.service_port == 0 {
            self.error(
                "ingress.service_port",
                "port 0 is not a TCP port",
                "use the BPA service port, 8181 by default",
            );
            ok = false;
        }
        ok.then(|| Ingress {
            host: raw.host.clone(),
            certificate_arn: raw.certificate_arn.clone(),
            scheme: raw.scheme,
            sticky_session_seconds: raw.sticky_session_seconds,
            health_check_path: raw.health_check_path.clone(),
            service_port: raw.service_port,
        })
    }

    fn kie(&mut self, raw: &RawKie) -> Option<Kie> {
        let mut ok = self.require(
            "kie.controller_url",
            check_controller_url(&raw.controller_url),
        );
        ok &= self.require("kie.server_id", check_server_id(&raw.server_id));
        ok.then(|| Kie {
            controller_url: raw.controller_url.clone(),
            server_id: raw.server_id.clone(),
        })
    }
}

fn leaf(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Splits `net` into its 2^`bits` equal parts, in address order.
fn split(net: Ipv4Net, bits: u8) -> Vec<Ipv4Net> {
    net.subnets(net.prefix_len() + bits)
        .map(Iterator::collect)
        .unwrap_or_default()
}
