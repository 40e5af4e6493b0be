//! The rules a structurally valid profile must still meet, and the defaults that
//! depend on other fields.
//!
//! Each rule reports a [`ProfileError`] at the YAML path of the value it is about and
//! keeps going, so one run lists every problem. Checks of single values are plain
//! functions returning a [`Problem`], so they can be tested (and reused by the CLI,
//! like [`check_master_password`]) on their own.

use std::collections::{BTreeMap, HashMap};

use ipnet::Ipv4Net;
use serde_json::Value;

use crate::profile::diagnostics::ProfileError;
use crate::profile::model::*;
use crate::profile::raw::*;
use crate::profile::versions::{self, Md5Support, PostgresMajor};

/// Longest profile name: it prefixes every derived resource name, and the longest ones
/// (`<name>-<node group>` for EKS node groups and launch templates, at most 63
/// characters; IAM role names such as `<name>-eks-node-role`, at most 64) must fit.
pub const MAX_PROFILE_NAME: usize = 28;
/// Longest node group name, so that `<profile name>-<node group>` fits in 63 characters.
pub const MAX_NODE_GROUP_NAME: usize = 63 - MAX_PROFILE_NAME - 1;
/// Where node data directories live (the data volume is mounted at `/opt`).
pub const DATA_DIR_ROOT: &str = "/opt/bpa/data/";

/// What is wrong with one value and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub hint: String,
}

fn problem(message: impl Into<String>, hint: impl Into<String>) -> Problem {
    Problem { message: message.into(), hint: hint.into() }
}

type Check = Result<(), Problem>;

/// Checks `raw` (whose parsed document is `document`, used to tell which fields were
/// written) and builds the [`Profile`], or returns every problem found.
pub(super) fn check(raw: &RawProfile, document: &Value) -> Result<Profile, Vec<ProfileError>> {
    let mut rules = Rules { errors: Vec::new(), document };
    let profile = rules.profile(raw);
    match profile {
        Some(profile) if rules.errors.is_empty() => Ok(profile),
        _ => {
            if rules.errors.is_empty() {
                // A part failed without saying why; never let that pass as valid.
                rules.errors.push(ProfileError::new("", "the profile could not be read"));
            }
            Err(rules.errors)
        }
    }
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
}

impl Rules<'_> {
    fn report(&mut self, path: impl Into<String>, problem: Problem) {
        self.errors.push(ProfileError::new(path, problem.message).with_hint(problem.hint));
    }

    fn error(&mut self, path: impl Into<String>, message: impl Into<String>, hint: impl Into<String>) {
        self.errors.push(ProfileError::new(path, message).with_hint(hint));
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
        let parsed: Vec<Option<Ipv4Net>> =
            texts.iter().enumerate().map(|(i, t)| self.cidr(&format!("{path}[{i}]"), t)).collect();
        parsed.into_iter().collect()
    }

    fn profile(&mut self, raw: &RawProfile) -> Option<Profile> {
        if raw.api_version != API_VERSION {
            self.error(
                "apiVersion",
                format!("unsupported apiVersion `{}`: expected `{API_VERSION}`", raw.api_version),
                format!("set `apiVersion: {API_VERSION}`"),
            );
        }
        let name_ok = self.require("name", check_profile_name(&raw.name));
        let region_ok = self.require("region", check_region(&raw.region));
        for (key, value) in &raw.tags {
            let path = format!("tags.{key}");
            self.require(&path, check_tag(key, value));
        }

        let network = self.network(&raw.network, region_ok.then_some(raw.region.as_str()));
        let eks = self.eks(&raw.eks, &raw.name, network.as_ref());
        let rds = self.rds(&raw.rds, &raw.name, name_ok);
        let ecr = self.ecr(&raw.ecr);
        let atlas = match &raw.atlas {
            Some(atlas) => Some(self.atlas(atlas, &raw.region, region_ok, network.as_ref())?),
            None => None,
        };
        let ingress = self.ingress(&raw.ingress, &raw.region, region_ok);
        let kie = self.kie(&raw.kie);

        Some(Profile {
            name: raw.name.clone(),
            region: raw.region.clone(),
            tags: raw.tags.clone(),
            network: network?,
            eks: eks?,
            rds: rds?,
            ecr: ecr?,
            atlas,
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
                    format!("a secondary VPC CIDR must be between /16 and /28, not /{}", pod.prefix_len()),
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
        let node = self.subnets("network.node_subnets", &raw.node_subnets, &zones.names, adopt, vpc_cidr);
        let public = self.subnets("network.public_subnets", &raw.public_subnets, &zones.names, false, vpc_cidr);
        // Pod subnets may be adopted along with an adopted VPC, never invented ids otherwise.
        let pod = self.subnets("network.pod_subnets", &raw.pod_subnets, &zones.names, adopt, pod_cidr);
        if let Some(node) = node {
            zones.node = node;
        }
        if let Some(public) = public {
            zones.public = public;
        }
        if let Some(pod) = pod {
            zones.pod = pod;
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
                public_subnet: if adopt { None } else { Some(zones.public[i].clone()?) },
                pod_subnet: zones.pod[i].clone()?,
            });
        }
        Some(Network {
            vpc: Vpc { id: raw.vpc.id.clone(), cidr: vpc_cidr },
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
    ) -> Option<Vec<Option<Subnet>>> {
        let mut by_zone: Vec<Option<Subnet>> = vec![None; zones.len()];
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
                Some(id) => ok &= self.require(&format!("{item}.id"), check_resource_id(id, "subnet")),
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
                    format!("a subnet must be between /16 and /28, not /{}", cidr.prefix_len()),
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
                by_zone[zone] = Some(Subnet { id: subnet.id.clone(), cidr });
            }
        }
        if subnets.len() != zones.len() && zones.len() == 3 {
            self.error(
                path,
                format!("{} subnet(s) listed: give one per availability zone ({})", subnets.len(), zones.len()),
                if ids_allowed && path == "network.node_subnets" {
                    "list the node subnet of each of the three zones".to_string()
                } else {
                    format!("list one for each zone, or remove `{}` to let the tool carve them", leaf(path))
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
            zones.node[i].get_or_insert(Subnet { id: None, cidr: quarters[i] });
            zones.public[i].get_or_insert(Subnet { id: None, cidr: publics[i] });
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
    /// subnets take part, so a listed subnet that collides with a carved one is caught.
    fn check_subnet_overlaps(&mut self, zones: &Zones) {
        let mut vpc_side: Vec<(String, Ipv4Net)> = Vec::new();
        for (kind, list) in [("node_subnets", &zones.node), ("public_subnets", &zones.public)] {
            for (i, subnet) in list.iter().enumerate() {
                if let Some(subnet) = subnet {
                    vpc_side.push((format!("network.{kind} ({})", zones.names[i]), subnet.cidr));
                }
            }
        }
        let pod_side: Vec<(String, Ipv4Net)> = zones
            .pod
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (format!("network.pod_subnets ({})", zones.names[i]), s.cidr)))
            .collect();
        for side in [vpc_side, pod_side] {
            for (j, (name_b, b)) in side.iter().enumerate() {
                for (name_a, a) in &side[..j] {
                    if overlaps(*a, *b) {
                        let path = name_b.split(' ').next().unwrap_or_default().to_string();
                        self.error(
                            path,
                            format!("subnet {b} of {name_b} overlaps {a} of {name_a}"),
                            "subnets must not overlap; when some are carved by the tool, list them all explicitly instead",
                        );
                    }
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
            self.error("eks.node_groups", "at least one node group is needed", "add a node group, e.g. `- name: node-1`");
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
        ok &= self.require(&format!("{path}.instance_type"), check_instance_type(&raw.instance_type));
        let size = raw.size;
        if size.max == 0 {
            self.error(format!("{path}.size.max"), "`max` must be at least 1", "EKS node groups need `max` ≥ 1");
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
        ok &= self.require(&format!("{path}.data_volume"), check_data_volume(&raw.data_volume));
        for (i, dir) in raw.data_dirs.iter().enumerate() {
            let dir_path = format!("{path}.data_dirs[{i}]");
            ok &= self.require(&dir_path, check_data_dir(dir));
            if raw.data_dirs[..i].contains(dir) {
                self.error(&dir_path, format!("`{dir}` is listed twice"), "remove the duplicate");
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
            size: GroupSize { min: size.min, desired: size.desired, max: size.max },
            labels,
            data_volume: DataVolume { size_gib: raw.data_volume.size_gib, volume_type: raw.data_volume.r#type.clone() },
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
                [(30101, "BPA service NodePort"), (443, "HTTPS"), (22, "SSH")]
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
                self.error(format!("{path}.port"), "port 0 is not a TCP port", "use a port from 1 to 65535");
                ok = false;
            }
            let description = rule.description.clone().unwrap_or_else(|| format!("TCP {}", rule.port));
            ok &= self.require(&format!("{path}.description"), check_rule_description(&description));
            let cidrs = match &rule.cidrs {
                Some(cidrs) => self.cidrs(&format!("{path}.cidrs"), cidrs),
                None => default_cidrs.clone(),
            };
            match cidrs {
                Some(cidrs) => out.push(IngressRule { port: rule.port, cidrs, description }),
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
                self.error(format!("{path}.name"), format!("addon `{}` is listed twice", addon.name), "remove the duplicate");
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
        ok.then(|| raw.iter().map(|a| Addon { name: a.name.clone(), version: a.version.clone() }).collect())
    }

    // ----- rds -----------------------------------------------------------------------

    fn rds(&mut self, raw: &RawRds, name: &str, name_ok: bool) -> Option<Rds> {
        let mut ok = true;
        let identifier = match &raw.identifier {
            Some(identifier) => {
                ok &= self.require("rds.identifier", check_db_identifier(identifier));
                identifier.to_ascii_lowercase()
            }
            // A valid profile name always makes a valid identifier.
            None => {
                ok &= name_ok;
                format!("{name}-bpa")
            }
        };
        let engine_version = match parse_engine_version(&raw.engine_version) {
            Ok(version) => Some(version),
            Err(problem) => {
                self.report("rds.engine_version", problem);
                None
            }
        };
        ok &= self.require("rds.instance_class", check_instance_class(&raw.instance_class));
        let storage = self.storage(raw.mode, &raw.storage);
        ok &= self.require("rds.master_username", check_master_username(&raw.master_username));
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
            ok &= self.require("rds.password_encryption", check_md5(raw.password_encryption, major));
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
        let storage = Storage { storage_type, size_gib: raw.size_gib, iops: raw.iops };
        let problems = check_storage(&storage);
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
            ok &= self.require(&format!("{path}.name"), check_pg_identifier(&db.name, Identifier::Database));
            ok &= self.require(&format!("{path}.user"), check_pg_identifier(&db.user, Identifier::Role));
            ok &= self.require(&format!("{path}.password_env"), check_env_var_name(&db.password_env));
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
                        format!("use `password_env: {env}` for every database of `{}`", db.user),
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
                .map(|d| Database { name: d.name.clone(), user: d.user.clone(), password_env: d.password_env.clone() })
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
                self.error(&path, format!("repository `{repository}` is listed twice"), "remove the duplicate");
                ok = false;
            }
        }
        for (field, value) in [
            ("expire_untagged_after_days", raw.lifecycle.expire_untagged_after_days),
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

    fn atlas(&mut self, raw: &RawAtlas, region: &str, region_ok: bool, network: Option<&Network>) -> Option<Atlas> {
        let mut ok = true;
        let target = match (&raw.endpoint_service_name, &raw.project_id) {
            (Some(service), None) => {
                if region_ok {
                    ok &= self.require("atlas.endpoint_service_name", check_endpoint_service_name(service, region));
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
                    None => atlas_region_of(region),
                };
                Some(AtlasTarget::Project { project_id: project.clone(), region: atlas_region })
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
        Some(Atlas { target: target?, allowed_cidrs: allowed_cidrs?, ports: ports? })
    }

    fn ingress(&mut self, raw: &RawIngress, region: &str, region_ok: bool) -> Option<Ingress> {
        let mut ok = true;
        if let Some(host) = &raw.host {
            ok &= self.require("ingress.host", check_host(host));
        }
        if let Some(arn) = &raw.certificate_arn
            && region_ok
        {
            ok &= self.require("ingress.certificate_arn", check_certificate_arn(arn, region));
        }
        if !(1..=604_800).contains(&raw.sticky_session_seconds) {
            self.error(
                "ingress.sticky_session_seconds",
                format!("sticky-session duration must be 1 to 604800 seconds, not {}", raw.sticky_session_seconds),
                "the ALB's lb_cookie duration is at most 7 days (604800 s), the default",
            );
            ok = false;
        }
        ok &= self.require("ingress.health_check_path", check_http_path(&raw.health_check_path));
        if raw.service_port == 0 {
            self.error("ingress.service_port", "port 0 is not a TCP port", "use the BPA service port, 8181 by default");
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
        let mut ok = self.require("kie.controller_url", check_controller_url(&raw.controller_url));
        ok &= self.require("kie.server_id", check_server_id(&raw.server_id));
        ok.then(|| Kie { controller_url: raw.controller_url.clone(), server_id: raw.server_id.clone() })
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
    net.subnets(net.prefix_len() + bits).map(Iterator::collect).unwrap_or_default()
}

// ----- single-value checks -----------------------------------------------------------

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Parses an IPv4 CIDR that is a network address (`10.0.0.0/16`, not `10.0.0.1/16`).
pub fn parse_cidr(text: &str) -> Result<Ipv4Net, Problem> {
    let net: Ipv4Net = text.parse().map_err(|_| {
        problem(
            format!("`{text}` is not an IPv4 CIDR block"),
            "write an address and a prefix length, e.g. `10.0.0.0/16`",
        )
    })?;
    if net.trunc() != net {
        return Err(problem(
            format!("`{text}` is not a network address: its host bits are set"),
            format!("use `{}`", net.trunc()),
        ));
    }
    Ok(net)
}

/// Checks a profile name: it prefixes resource names and is a tag value.
pub fn check_profile_name(name: &str) -> Check {
    let hint = format!(
        "use lowercase letters, digits and single hyphens, starting with a letter, at most {MAX_PROFILE_NAME} characters, e.g. `prod-us-west-2`"
    );
    let bad = if name.is_empty() {
        Some("the profile name is empty".to_string())
    } else if name.len() > MAX_PROFILE_NAME {
        Some(format!(
            "`{name}` is {} characters; at most {MAX_PROFILE_NAME} fit in every resource name derived from it",
            name.len()
        ))
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some(format!("`{name}` does not start with a lowercase letter"))
    } else if !name.chars().all(|c| is_lower_alnum(c) || c == '-') {
        Some(format!("`{name}` has characters other than lowercase letters, digits and hyphens"))
    } else if name.ends_with('-') || name.contains("--") {
        // RDS identifiers derived from it (`<name>-bpa`) refuse both.
        Some(format!("`{name}` ends with a hyphen or has two in a row"))
    } else {
        None
    };
    bad.map_or(Ok(()), |message| Err(problem(message, hint)))
}

/// Checks an AWS region code such as `us-west-2` or `us-gov-west-1`.
pub fn check_region(region: &str) -> Check {
    let parts: Vec<&str> = region.split('-').collect();
    let valid = parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].chars().all(|c| c.is_ascii_lowercase())
        && parts[1..parts.len() - 1].iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok();
    if valid {
        Ok(())
    } else {
        Err(problem(
            format!("`{region}` is not an AWS region code"),
            "use a region code such as `us-west-2` or `eu-central-1`",
        ))
    }
}

/// Checks that `az` is an availability zone of `region` (`us-west-2a` of `us-west-2`).
pub fn check_availability_zone(az: &str, region: &str) -> Check {
    match az.strip_prefix(region) {
        Some(letter) if letter.len() == 1 && letter.chars().all(|c| c.is_ascii_lowercase()) => Ok(()),
        _ => Err(problem(
            format!("`{az}` is not an availability zone of {region}"),
            format!("use zones of the profile's region, e.g. `{region}a`, `{region}b`, `{region}c`"),
        )),
    }
}

/// Checks an EC2 id such as `vpc-0a1b2c3d4e5f60718` (8 or 17 hex digits after the prefix).
pub fn check_resource_id(id: &str, prefix: &str) -> Check {
    let valid = id
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hex| (hex.len() == 8 || hex.len() == 17) && hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    if valid {
        Ok(())
    } else {
        Err(problem(
            format!("`{id}` is not a {prefix} id"),
            format!("copy the id from the console or the CLI: `{prefix}-` and 8 or 17 hexadecimal digits"),
        ))
    }
}

/// Checks a tag: AWS's limits, and the `bpa-infra:` prefix the tool keeps for itself.
pub fn check_tag(key: &str, value: &str) -> Check {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(problem("a tag key must be 1 to 128 characters", "shorten the tag key"));
    }
    if value.chars().count() > 256 {
        return Err(problem("a tag value must be at most 256 characters", "shorten the tag value"));
    }
    if key.starts_with("aws:") {
        return Err(problem(format!("tag key `{key}` uses the `aws:` prefix, which AWS reserves"), "choose another key"));
    }
    if key.starts_with("bpa-infra:") {
        return Err(problem(
            format!("tag key `{key}` uses the `bpa-infra:` prefix, which marks the tool's own resources"),
            "choose another key: the tool sets `bpa-infra:profile` and `bpa-infra:address` itself",
        ));
    }
    Ok(())
}

/// Parses a Kubernetes version (`1.35`) and checks EKS supports it.
pub fn parse_kubernetes_version(text: &str) -> Result<KubernetesVersion, Problem> {
    let parsed = text.split_once('.').and_then(|(major, minor)| {
        let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        (digits(major) && digits(minor)).then(|| (major.parse().ok(), minor.parse().ok()))
    });
    let Some((Some(major), Some(minor))) = parsed else {
        return Err(problem(
            format!("`{text}` is not a Kubernetes version"),
            format!("write `MAJOR.MINOR` in quotes, e.g. `\"1.35\"`. {}", versions::eks_versions_hint()),
        ));
    };
    if versions::eks_version(major, minor).is_none() {
        return Err(problem(format!("EKS does not offer Kubernetes {text}"), versions::eks_versions_hint()));
    }
    Ok(KubernetesVersion { major, minor })
}

/// Checks a node group name: part of resource names and the default `name` label.
pub fn check_node_group_name(name: &str) -> Check {
    let valid = !name.is_empty()
        && name.len() <= MAX_NODE_GROUP_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| is_lower_alnum(c) || c == '-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(problem(
            format!("`{name}` is not a usable node group name"),
            format!(
                "use lowercase letters, digits and hyphens, starting with a letter, at most {MAX_NODE_GROUP_NAME} characters, e.g. `node-1`"
            ),
        ))
    }
}

/// Checks an EC2 instance type's shape (`m5.2xlarge`); EKS checks it exists.
pub fn check_instance_type(text: &str) -> Check {
    let valid = text.split_once('.').is_some_and(|(family, size)| {
        family.starts_with(|c: char| c.is_ascii_lowercase())
            && family.chars().all(|c| is_lower_alnum(c) || c == '-')
            && !size.is_empty()
            && size.chars().all(is_lower_alnum)
    });
    if valid {
        Ok(())
    } else {
        Err(problem(format!("`{text}` is not an EC2 instance type"), "write `family.size`, e.g. `m5.2xlarge`"))
    }
}

fn is_label_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Checks a Kubernetes label: `[prefix/]name` key and a value of at most 63 characters.
pub fn check_label(key: &str, value: &str) -> Check {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty() && p.len() <= 253 && p.split('.').all(|part| is_label_name(part) && !part.contains('_'))
    });
    if !prefix_ok || !is_label_name(name) {
        return Err(problem(
            format!("`{key}` is not a Kubernetes label key"),
            "use `[prefix/]name`: up to 63 letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit",
        ));
    }
    if !value.is_empty() && !is_label_name(value) {
        return Err(problem(
            format!("`{value}` is not a Kubernetes label value"),
            "use up to 63 letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit",
        ));
    }
    Ok(())
}

/// Checks the node data volume: a general-purpose EBS type and a size EBS accepts.
pub fn check_data_volume(volume: &RawDataVolume) -> Check {
    if !matches!(volume.r#type.as_str(), "gp3" | "gp2") {
        return Err(problem(
            format!("data volume type `{}` is not supported", volume.r#type),
            "use `gp3` (the default) or `gp2`; provisioned-IOPS types would need an IOPS setting the profile does not carry",
        ));
    }
    if !(1..=16_384).contains(&volume.size_gib) {
        return Err(problem(
            format!("data volume size must be 1 to 16384 GiB, not {}", volume.size_gib),
            "gp2 and gp3 volumes hold at most 16 TiB; the runbook uses 2048",
        ));
    }
    Ok(())
}

/// Checks a node data directory: absolute, under `/opt/bpa/data/`, and safe to put in
/// the node's user-data shell script.
pub fn check_data_dir(dir: &str) -> Check {
    let hint = format!("use an absolute path under `{DATA_DIR_ROOT}`, e.g. `{DATA_DIR_ROOT}kafka`");
    let Some(rest) = dir.strip_prefix(DATA_DIR_ROOT) else {
        return Err(problem(format!("`{dir}` is not under `{DATA_DIR_ROOT}`"), hint));
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err(problem(format!("`{dir}` does not name a directory below `{DATA_DIR_ROOT}`"), hint));
    }
    // The directories are created by a shell script; a plain character set keeps it safe.
    if !rest.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.')) {
        return Err(problem(
            format!("`{dir}` has characters other than letters, digits, `/`, `-`, `_`, `.`"),
            hint,
        ));
    }
    Ok(())
}

/// Checks a sysctl name and value, which end up in `/etc/sysctl.d/` via user data.
pub fn check_sysctl(key: &str, value: &str) -> Check {
    let key_ok = key.contains('.')
        && key.split('.').all(|part| !part.is_empty() && part.chars().all(|c| is_lower_alnum(c) || c == '_'));
    if !key_ok {
        return Err(problem(format!("`{key}` is not a sysctl name"), "use the dotted name, e.g. `vm.max_map_count`"));
    }
    let value_ok = !value.trim().is_empty()
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_' | ':' | ','));
    if !value_ok {
        return Err(problem(
            format!("`{value}` is not a usable sysctl value for `{key}`"),
            "use a plain value of letters, digits, spaces and `.-_:,`, e.g. `\"262144\"`",
        ));
    }
    Ok(())
}

/// Checks a security group rule description against EC2's character set.
pub fn check_rule_description(text: &str) -> Check {
    let valid = text.len() <= 255
        && text.chars().all(|c| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c));
    if valid {
        Ok(())
    } else {
        Err(problem(
            "a rule description must be at most 255 characters of letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*",
            "shorten the description or remove other characters",
        ))
    }
}

/// Checks an EKS addon name such as `aws-ebs-csi-driver`.
pub fn check_addon_name(name: &str) -> Check {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| is_lower_alnum(c) || c == '-' || c == '_')
        && name.len() <= 100;
    if valid {
        Ok(())
    } else {
        Err(problem(format!("`{name}` is not an EKS addon name"), "use the addon's name, e.g. `vpc-cni`, `coredns`"))
    }
}

/// Checks an addon version such as `v1.19.0-eksbuild.1`.
pub fn check_addon_version(version: &str) -> Check {
    let valid = version.starts_with('v')
        && version.len() > 1
        && version.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'));
    if valid {
        Ok(())
    } else {
        Err(problem(
            format!("`{version}` is not an EKS addon version"),
            "copy a version from `aws eks describe-addon-versions`, e.g. `v1.19.0-eksbuild.1`, or omit it for the default",
        ))
    }
}

/// Checks an RDS DB cluster or instance identifier.
pub fn check_db_identifier(id: &str) -> Check {
    let hint = "use 1 to 60 letters, digits or hyphens, starting with a letter, without `--` or a trailing hyphen";
    let bad = if id.is_empty() || id.len() > 60 {
        Some(format!("`{id}` is {} characters; a DB identifier has 1 to 60", id.len()))
    } else if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        Some(format!("`{id}` does not start with a letter"))
    } else if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Some(format!("`{id}` has characters other than letters, digits and hyphens"))
    } else if id.contains("--") || id.ends_with('-') {
        Some(format!("`{id}` has two hyphens in a row or ends with one"))
    } else {
        None
    };
    bad.map_or(Ok(()), |message| Err(problem(message, hint)))
}

/// Role names RDS for PostgreSQL creates for itself; a master user cannot take them.
const RDS_RESERVED_ROLES: &[&str] = &["rdsadmin", "rdsrepladmin", "rdstopmgr", "rds_superuser", "rds_replication", "rds_password"];

/// Checks the RDS master user name. `postgres` is allowed: it is what the RDS console
/// proposes.
pub fn check_master_username(name: &str) -> Check {
    let valid = !name.is_empty()
        && name.len() <= 16
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(problem(
            format!("`{name}` is not a valid master user name"),
            "use 1 to 16 letters, digits or underscores, starting with a letter, e.g. `bpaadmin`",
        ));
    }
    let lower = name.to_ascii_lowercase();
    if RDS_RESERVED_ROLES.contains(&lower.as_str()) || lower.starts_with("pg_") {
        return Err(problem(
            format!("`{name}` is reserved by RDS or PostgreSQL"),
            "choose another name, e.g. `bpaadmin`",
        ));
    }
    Ok(())
}

/// Checks a master password read from the environment (the profile only names the
/// variable): printable ASCII without `/`, `"`, `@`, `'` or space; 8–41 characters
/// for a Multi-AZ DB cluster, 8–128 for a DB instance.
pub fn check_master_password(password: &str, mode: RdsMode) -> Check {
    let max = match mode {
        RdsMode::MultiAzCluster => 41,
        RdsMode::MultiAzInstance => 128,
    };
    let hint = format!(
        "use {}8 to {max} printable ASCII characters without `/`, `\"`, `@`, `'` or spaces",
        if mode == RdsMode::MultiAzCluster { "(for a Multi-AZ DB cluster) " } else { "" }
    );
    let length = password.chars().count();
    if !(8..=max).contains(&length) {
        return Err(problem(format!("the master password has {length} characters"), hint));
    }
    if let Some(c) = password.chars().find(|c| !c.is_ascii_graphic() || matches!(c, '/' | '"' | '@' | '\'')) {
        let shown = if c == ' ' { "a space".to_string() } else if c.is_ascii_graphic() { format!("`{c}`") } else { "a non-printable or non-ASCII character".to_string() };
        return Err(problem(format!("the master password contains {shown}"), hint));
    }
    Ok(())
}

/// Checks an environment variable name (`BPA_DB_PASSWORD`).
pub fn check_env_var_name(name: &str) -> Check {
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(problem(
            format!("`{name}` is not an environment variable name"),
            "use letters, digits and underscores, not starting with a digit, e.g. `BPA_KONG_DB_PASSWORD`",
        ))
    }
}

/// Which kind of PostgreSQL name is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier {
    Database,
    Role,
}

/// Checks a database or role name. `db init` always quotes names, so hyphens
/// (`process-engine`) are fine; names PostgreSQL or RDS keep for themselves are not.
pub fn check_pg_identifier(name: &str, kind: Identifier) -> Check {
    let what = match kind {
        Identifier::Database => "database",
        Identifier::Role => "user",
    };
    // 63 bytes is NAMEDATALEN - 1: PostgreSQL silently truncates longer names.
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'));
    if !valid {
        return Err(problem(
            format!("`{name}` is not a usable {what} name"),
            "use up to 63 letters, digits, `_`, `-` or `$`, starting with a letter or `_`",
        ));
    }
    let lower = name.to_ascii_lowercase();
    let reserved = match kind {
        Identifier::Database => matches!(lower.as_str(), "postgres" | "template0" | "template1" | "rdsadmin"),
        Identifier::Role => {
            lower.starts_with("pg_") || lower == "public" || RDS_RESERVED_ROLES.contains(&lower.as_str())
        }
    };
    if reserved || name != lower {
        return Err(problem(
            if reserved {
                format!("`{name}` is a name PostgreSQL or RDS keeps for itself")
            } else {
                format!("`{name}` has uppercase letters")
            },
            format!("use another lowercase {what} name; lowercase avoids having to quote it in every client"),
        ));
    }
    Ok(())
}

/// Checks an RDS instance class's shape (`db.m5d.2xlarge`).
pub fn check_instance_class(text: &str) -> Check {
    let parts: Vec<&str> = text.split('.').collect();
    let valid = parts.len() == 3
        && parts[0] == "db"
        && parts[1].starts_with(|c: char| c.is_ascii_lowercase())
        && parts[1..].iter().all(|p| !p.is_empty() && p.chars().all(|c| is_lower_alnum(c) || c == '-'));
    if valid {
        Ok(())
    } else {
        Err(problem(
            format!("`{text}` is not an RDS instance class"),
            "write `db.<family>.<size>`, e.g. `db.m5d.2xlarge`",
        ))
    }
}

/// Parses a PostgreSQL engine version (`16.4`) with a major version RDS offers.
pub fn parse_engine_version(text: &str) -> Result<EngineVersion, Problem> {
    let parsed = text.split_once('.').and_then(|(major, minor)| {
        let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        (digits(major) && digits(minor)).then(|| major.parse::<u32>().ok()).flatten()
    });
    let Some(major) = parsed else {
        return Err(problem(
            format!("`{text}` is not a PostgreSQL engine version"),
            format!("write `MAJOR.MINOR` in quotes, e.g. `\"16.4\"`. {}", versions::postgres_majors_hint()),
        ));
    };
    if versions::postgres_major(major).is_none() {
        return Err(problem(
            format!("PostgreSQL {major} is not offered for Multi-AZ deployments"),
            versions::postgres_majors_hint(),
        ));
    }
    Ok(EngineVersion { major, full: text.to_string() })
}

/// Checks that `encryption` can be used with a PostgreSQL major version.
pub fn check_md5(encryption: PasswordEncryption, major: &PostgresMajor) -> Check {
    if encryption == PasswordEncryption::Md5 && major.md5 == Md5Support::Unsupported {
        let last = versions::POSTGRES_MAJORS
            .iter()
            .filter(|m| m.md5 != Md5Support::Unsupported)
            .map(|m| m.major)
            .max()
            .unwrap_or(0);
        return Err(problem(
            format!("PostgreSQL {} no longer supports md5 passwords", major.major),
            format!(
                "use `password_encryption: scram-sha-256` (clients must support SCRAM), or PostgreSQL {last} or older"
            ),
        ));
    }
    Ok(())
}

/// Checks a parameter group parameter name (`log_min_duration_statement`, `rds.force_ssl`).
pub fn check_parameter_name(name: &str) -> Check {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| is_lower_alnum(c) || c == '_' || c == '.');
    if valid {
        Ok(())
    } else {
        Err(problem(
            format!("`{name}` is not a PostgreSQL parameter name"),
            "use the parameter's lowercase name, e.g. `log_min_duration_statement`",
        ))
    }
}

/// Checks a KMS key reference: a key id, a key or alias ARN, or an alias name.
pub fn check_kms_key(key: &str) -> Check {
    let valid = key.starts_with("arn:aws") || key.starts_with("alias/") || {
        key.len() == 36 && key.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
    };
    if valid {
        Ok(())
    } else {
        Err(problem(
            format!("`{key}` is not a KMS key id, ARN or alias"),
            "give a key ARN (`arn:aws:kms:…`), a key id (a UUID) or `alias/<name>`",
        ))
    }
}

/// Maps the profile's storage type, refusing what the deployment mode does not offer.
pub fn parse_storage_type(text: &str, mode: RdsMode) -> Result<StorageType, Problem> {
    let storage_type = match text {
        "io1" => StorageType::Io1,
        "io2" => StorageType::Io2,
        "gp3" => StorageType::Gp3,
        "gp2" if mode == RdsMode::MultiAzInstance => StorageType::Gp2,
        _ => {
            let (allowed, why) = match mode {
                RdsMode::MultiAzCluster => ("`io1`, `io2` or `gp3`", "a Multi-AZ DB cluster offers only these"),
                RdsMode::MultiAzInstance => ("`io1`, `io2`, `gp3` or `gp2`", "RDS for PostgreSQL offers these"),
            };
            return Err(problem(format!("storage type `{text}` is not available: {why}"), format!("use {allowed}")));
        }
    };
    Ok(storage_type)
}

/// Checks size and IOPS against the storage type; returns each problem with its field.
///
/// io1/io2 limits are those of Multi-AZ DB clusters (AWS-FACTS.md): 100–65,536 GiB,
/// 1,000–256,000 IOPS, 0.5–1,000 IOPS per GiB for io2. io1 keeps the older 50 per GiB
/// ceiling that the CreateDBCluster API reference still states.
pub fn check_storage(storage: &Storage) -> Vec<(&'static str, Problem)> {
    let mut problems = Vec::new();
    let size = storage.size_gib;
    let kind = storage.storage_type.as_str();
    match storage.storage_type {
        StorageType::Io1 | StorageType::Io2 => {
            if !(100..=65_536).contains(&size) {
                problems.push((
                    "size_gib",
                    problem(
                        format!("{kind} storage must be 100 to 65536 GiB, not {size}"),
                        "allocate at least 100 GiB (the runbook uses 400)",
                    ),
                ));
            }
            let max_ratio: f64 = if storage.storage_type == StorageType::Io2 { 1000.0 } else { 50.0 };
            match storage.iops {
                None => problems.push((
                    "iops",
                    problem(format!("{kind} storage needs provisioned IOPS"), "add `iops:`, e.g. `iops: 3000`"),
                )),
                Some(iops) if !(1_000..=256_000).contains(&iops) => problems.push((
                    "iops",
                    problem(
                        format!("{kind} IOPS must be 1000 to 256000, not {iops}"),
                        "set `iops` between 1000 and 256000",
                    ),
                )),
                Some(iops) => {
                    let ratio = f64::from(iops) / f64::from(size.max(1));
                    if !(0.5..=max_ratio).contains(&ratio) && (100..=65_536).contains(&size) {
                        let low = (f64::from(size) * 0.5).ceil().max(1000.0) as u64;
                        let high = ((f64::from(size) * max_ratio).floor() as u64).min(256_000);
                        problems.push((
                            "iops",
                            problem(
                                format!(
                                    "{iops} IOPS for {size} GiB is {ratio:.2} IOPS per GiB; {kind} allows 0.5 to {max_ratio}"
                                ),
                                format!("for {size} GiB, set `iops` between {low} and {high}, or change `size_gib`"),
                            ),
                        ));
                    }
                }
            }
        }
        StorageType::Gp3 | StorageType::Gp2 => {
            if !(20..=65_536).contains(&size) {
                problems.push((
                    "size_gib",
                    problem(format!("{kind} storage must be 20 to 65536 GiB, not {size}"), "allocate at least 20 GiB"),
                ));
            }
            match (storage.storage_type, storage.iops) {
                (StorageType::Gp2, Some(_)) => problems.push((
                    "iops",
                    problem("gp2 storage has no provisioned IOPS", "remove `iops`, or use `gp3`"),
                )),
                (_, Some(iops)) if !(3_000..=64_000).contains(&iops) => problems.push((
                    "iops",
                    problem(format!("gp3 IOPS must be 3000 to 64000, not {iops}"), "set `iops` between 3000 and 64000, or remove it"),
                )),
                _ => {}
            }
        }
    }
    problems
}

/// Checks an ECR repository name against AWS's pattern:
/// `[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*`, 2–256 characters.
pub fn check_repository_name(name: &str) -> Check {
    let component_ok = |part: &str| {
        let mut previous_separator = true;
        for c in part.chars() {
            if is_lower_alnum(c) {
                previous_separator = false;
            } else if matches!(c, '.' | '_' | '-') && !previous_separator {
                previous_separator = true;
            } else {
                return false;
            }
        }
        !previous_separator
    };
    let valid = (2..=256).contains(&name.len()) && name.split('/').all(component_ok);
    if valid {
        Ok(())
    } else {
        Err(problem(
            format!("`{name}` is not a valid ECR repository name"),
            "use 2 to 256 lowercase letters and digits, separated by single `.`, `_`, `-` or `/`, e.g. `bpa/ui`",
        ))
    }
}

/// Checks an Atlas endpoint service name for `region`
/// (`com.amazonaws.vpce.us-west-2.vpce-svc-0123456789abcdef0`).
pub fn check_endpoint_service_name(name: &str, region: &str) -> Check {
    let hint = format!(
        "copy it from the Atlas UI; it looks like `com.amazonaws.vpce.{region}.vpce-svc-0123456789abcdef0`"
    );
    let Some(rest) = name.strip_prefix("com.amazonaws.vpce.") else {
        return Err(problem(format!("`{name}` is not a VPC endpoint service name"), hint));
    };
    let Some((service_region, service)) = rest.split_once('.') else {
        return Err(problem(format!("`{name}` is not a VPC endpoint service name"), hint));
    };
    let id_ok = service
        .strip_prefix("vpce-svc-")
        .is_some_and(|hex| (8..=17).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_hexdigit()));
    if !id_ok {
        return Err(problem(format!("`{name}` is not a VPC endpoint service name"), hint));
    }
    if service_region != region {
        return Err(problem(
            format!("the endpoint service is in {service_region}, the profile in {region}"),
            "an interface endpoint reaches only services of its own region; create the Atlas private endpoint service in the profile's region",
        ));
    }
    Ok(())
}

/// Checks an Atlas project id (24 hexadecimal characters).
pub fn check_project_id(id: &str) -> Check {
    if id.len() == 24 && id.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(problem(
            format!("`{id}` is not an Atlas project id"),
            "copy the 24-hexadecimal-character project id from the Atlas project settings",
        ))
    }
}

/// Returns the Atlas name of an AWS region: `us-west-2` → `US_WEST_2`.
pub fn atlas_region_of(region: &str) -> String {
    region.to_ascii_uppercase().replace('-', "_")
}

/// Checks an Atlas region name such as `US_WEST_2`.
pub fn check_atlas_region(region: &str) -> Check {
    let parts: Vec<&str> = region.split('_').collect();
    let valid = parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    if valid {
        Ok(())
    } else {
        Err(problem(
            format!("`{region}` is not an Atlas region name"),
            "use Atlas's name, e.g. `US_WEST_2`, or omit it to derive it from `region`",
        ))
    }
}

/// Parses a port range `A-B` (or a single port) with A ≤ B.
pub fn parse_port_range(text: &str) -> Result<(u16, u16), Problem> {
    let hint = "write `FROM-TO`, e.g. `1024-65535`, with FROM ≤ TO ≤ 65535";
    let (from, to) = text.split_once('-').unwrap_or((text, text));
    match (from.trim().parse::<u16>(), to.trim().parse::<u16>()) {
        (Ok(from), Ok(to)) if from <= to => Ok((from, to)),
        (Ok(from), Ok(to)) => Err(problem(format!("the port range `{text}` runs backwards ({from} > {to})"), hint)),
        _ => Err(problem(format!("`{text}` is not a port range"), hint)),
    }
}

/// Checks a DNS host name (`bpa.example.com`).
pub fn check_host(host: &str) -> Check {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let host_ok = host.strip_prefix("*.").unwrap_or(host);
    if host.len() <= 253 && host_ok.contains('.') && host_ok.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(problem(format!("`{host}` is not a DNS host name"), "write the host name only, e.g. `bpa.example.com`"))
    }
}

/// Checks an ACM certificate ARN, which must be in the load balancer's region.
pub fn check_certificate_arn(arn: &str, region: &str) -> Check {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let shape_ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "acm"
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5].strip_prefix("certificate/").is_some_and(|id| !id.is_empty());
    if !shape_ok {
        return Err(problem(
            format!("`{arn}` is not an ACM certificate ARN"),
            format!("copy it from ACM: `arn:aws:acm:{region}:<account id>:certificate/<id>`"),
        ));
    }
    if parts[3] != region {
        return Err(problem(
            format!("the certificate is in {}, the load balancer in {region}", parts[3]),
            format!("an ALB uses certificates of its own region; request or import the certificate in {region}"),
        ));
    }
    Ok(())
}

/// Checks an HTTP path such as `/bpm/adapter/v1/liveness`.
pub fn check_http_path(path: &str) -> Check {
    if path.starts_with('/') && path.len() <= 1024 && path.chars().all(|c| c.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(problem(
            format!("`{path}` is not an HTTP path"),
            "start it with `/` and use no spaces, e.g. `/bpm/adapter/v1/liveness`",
        ))
    }
}

/// Checks the KIE controller URL: `ws://` or `wss://`, a host, ending in `/websocket/controller`.
pub fn check_controller_url(url: &str) -> Check {
    let hint = "write `ws://<host>:<port>/<context>/websocket/controller`, e.g. `ws://bpm-controller:8080/kie-server-controller/websocket/controller`";
    let Some(rest) = url.strip_prefix("ws://").or_else(|| url.strip_prefix("wss://")) else {
        return Err(problem(format!("`{url}` is not a WebSocket URL (ws:// or wss://)"), hint));
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || !rest.ends_with("/websocket/controller") || rest.contains(char::is_whitespace) {
        return Err(problem(format!("`{url}` is not a KIE controller URL"), hint));
    }
    Ok(())
}

/// Checks the KIE server id.
pub fn check_server_id(id: &str) -> Check {
    if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        Ok(())
    } else {
        Err(problem(format!("`{id}` is not a usable KIE server id"), "use letters, digits, `-`, `_`, `.`"))
    }
}
