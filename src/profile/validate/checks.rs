//! Checks of single values against AWS's, PostgreSQL's and Kubernetes' rules.
//!
//! Each returns a [`Problem`] (what is wrong, how to fix it) and knows nothing of
//! where the value sits in the profile; [`rules`](super::rules) places them.

use ipnet::Ipv4Net;

use crate::profile::model::*;
use crate::profile::raw::RawDataVolume;
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
    Problem {
        message: message.into(),
        hint: hint.into(),
    }
}

/// The result of a check.
pub type Check = Result<(), Problem>;

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
        Some(format!(
            "`{name}` has characters other than lowercase letters, digits and hyphens"
        ))
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
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
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
        Some(letter) if letter.len() == 1 && letter.chars().all(|c| c.is_ascii_lowercase()) => {
            Ok(())
        }
        _ => Err(problem(
            format!("`{az}` is not an availability zone of {region}"),
            format!(
                "use zones of the profile's region, e.g. `{region}a`, `{region}b`, `{region}c`"
            ),
        )),
    }
}

/// Checks an EC2 id such as `vpc-0a1b2c3d4e5f60718` (8 or 17 hex digits after the prefix).
pub fn check_resource_id(id: &str, prefix: &str) -> Check {
    let valid = id
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hex| {
            (hex.len() == 8 || hex.len() == 17)
                && hex
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        });
    if valid {
        Ok(())
    } else {
        Err(problem(
            format!("`{id}` is not a {prefix} id"),
            format!(
                "copy the id from the console or the CLI: `{prefix}-` and 8 or 17 hexadecimal digits"
            ),
        ))
    }
}

/// Most tags on one resource, counting the tool's own: 50 for IAM (CreateRole `Tags`,
/// `max` 50, botocore `iam` model), EKS (`TagMap`, `max` 50, botocore `eks` model),
/// EC2, RDS and ECR (50 per resource, their user guides' tagging pages).
pub const MAX_TAGS_PER_RESOURCE: usize = 50;
/// Tags the tool adds to a resource itself: `Name`, `bpa-infra:profile`,
/// `bpa-infra:address` and `bpa-infra:region`.
pub const TOOL_TAGS: usize = 4;
/// Longest tag key every service takes: EC2's 127 (botocore `ec2` model, `Tag.Key`:
/// "accept a maximum of 127 Unicode characters"); IAM, EKS, RDS and ECR take 128.
pub const MAX_TAG_KEY: usize = 127;
/// Longest tag value: 256 in all five services.
pub const MAX_TAG_VALUE: usize = 256;

/// Tells whether `c` is in the narrowest tag character set of the services the tool
/// tags, IAM's `[\p{L}\p{Z}\p{N}_.:/=+\-@]` (botocore `iam` model, `tagKeyType` and
/// `tagValueType`), which RDS states too (`Tag.Key`/`Tag.Value`: "Java regex
/// `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`"). EC2, EKS and ECR state no pattern.
///
/// The standard library has no Unicode general categories: letters and numbers are
/// `is_alphabetic` and `is_numeric` (which also admit a few combining marks `\p{L}`
/// leaves out), separators (`\p{Z}`) are listed.
pub fn is_tag_char(c: char) -> bool {
    let separator = matches!(
        c,
        ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    );
    c.is_alphabetic() || c.is_numeric() || separator || "_.:/=+-@".contains(c)
}

/// Checks a profile tag: lengths and characters every tagged service accepts, and
/// the prefixes AWS (`aws:`; `rds:` for RDS, in keys and values) and the tool
/// (`bpa-infra:`, in keys) keep.
pub fn check_tag(key: &str, value: &str) -> Check {
    let allowed = "letters, digits, spaces and `_ . : / = + - @`";
    if key.is_empty() || key.chars().count() > MAX_TAG_KEY {
        return Err(problem(
            format!("a tag key must be 1 to {MAX_TAG_KEY} characters"),
            "shorten the tag key (EC2 takes at most 127 characters)",
        ));
    }
    if value.chars().count() > MAX_TAG_VALUE {
        return Err(problem(
            format!("a tag value must be at most {MAX_TAG_VALUE} characters"),
            "shorten the tag value",
        ));
    }
    if let Some(c) = key.chars().find(|c| !is_tag_char(*c)) {
        return Err(problem(
            format!("tag key `{key}` has `{c}`, which IAM and RDS refuse in tags"),
            format!("use only {allowed}"),
        ));
    }
    if let Some(c) = value.chars().find(|c| !is_tag_char(*c)) {
        return Err(problem(
            format!("tag value `{value}` has `{c}`, which IAM and RDS refuse in tags"),
            format!("use only {allowed}"),
        ));
    }
    // RDS: keys and values "can't be prefixed with aws: or rds:" (`Tag.Key`/`Tag.Value`);
    // EKS: no `aws:` "or any upper or lowercase combination" for keys or values (`TagMap`).
    let reserved = |text: &str| {
        let lower = text.get(..4).map(str::to_ascii_lowercase);
        matches!(lower.as_deref(), Some("aws:" | "rds:"))
    };
    if reserved(key) {
        return Err(problem(
            format!(
                "tag key `{key}` uses the `{}` prefix, which AWS reserves",
                &key[..4]
            ),
            "choose another key",
        ));
    }
    if reserved(value) {
        return Err(problem(
            format!(
                "tag value `{value}` starts with `{}`, which AWS reserves for its own values",
                &value[..4]
            ),
            "change the start of the value",
        ));
    }
    if key.starts_with("bpa-infra:") {
        return Err(problem(
            format!(
                "tag key `{key}` uses the `bpa-infra:` prefix, which marks the tool's own resources"
            ),
            "choose another key: the tool sets `bpa-infra:profile`, `bpa-infra:address` and `bpa-infra:region` itself",
        ));
    }
    Ok(())
}

/// Checks the number of profile tags: with the tool's own ([`TOOL_TAGS`]) a resource
/// must stay within [`MAX_TAGS_PER_RESOURCE`].
pub fn check_tag_count(count: usize) -> Check {
    let max = MAX_TAGS_PER_RESOURCE - TOOL_TAGS;
    if count > max {
        return Err(problem(
            format!(
                "{count} tags are too many: AWS allows {MAX_TAGS_PER_RESOURCE} per resource and the tool adds {TOOL_TAGS} of its own, which leaves {max}"
            ),
            format!("keep at most {max} tags"),
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
            format!(
                "write `MAJOR.MINOR` in quotes, e.g. `\"1.35\"`. {}",
                versions::eks_versions_hint()
            ),
        ));
    };
    if versions::eks_version(major, minor).is_none() {
        return Err(problem(
            format!("EKS does not offer Kubernetes {text}"),
            versions::eks_versions_hint(),
        ));
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
        Err(problem(
            format!("`{text}` is not an EC2 instance type"),
            "write `family.size`, e.g. `m5.2xlarge`",
        ))
    }
}

fn is_label_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Longest node group label key and value EKS takes: the `labelKey` and `labelValue`
/// shapes of the botocore `eks` model are 1–63 characters. Kubernetes would allow a
/// DNS prefix of up to 253 more in the key, but CreateNodegroup counts the whole key
/// (prefix included) against 63, and refuses an empty value.
pub const MAX_LABEL: usize = 63;

/// Checks a node group label: a Kubernetes `[prefix/]name` key and value, within the
/// lengths EKS accepts ([`MAX_LABEL`]).
pub fn check_label(key: &str, value: &str) -> Check {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.split('.')
                .all(|part| is_label_name(part) && !part.contains('_'))
    });
    if !prefix_ok || !is_label_name(name) {
        return Err(problem(
            format!("`{key}` is not a Kubernetes label key"),
            "use `[prefix/]name`: letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit (the prefix a DNS name)",
        ));
    }
    if key.len() > MAX_LABEL {
        return Err(problem(
            format!(
                "label key `{key}` is {} characters; EKS takes at most {MAX_LABEL}, prefix included",
                key.len()
            ),
            "shorten the key or its prefix",
        ));
    }
    if value.is_empty() {
        return Err(problem(
            format!("label `{key}` has an empty value, which EKS refuses"),
            "give the label a value of 1 to 63 characters",
        ));
    }
    if !is_label_name(value) {
        return Err(problem(
            format!("`{value}` is not a Kubernetes label value"),
            "use 1 to 63 letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit",
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
            format!(
                "data volume size must be 1 to 16384 GiB, not {}",
                volume.size_gib
            ),
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
        return Err(problem(
            format!("`{dir}` is not under `{DATA_DIR_ROOT}`"),
            hint,
        ));
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty()
        || rest
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(problem(
            format!("`{dir}` does not name a directory below `{DATA_DIR_ROOT}`"),
            hint,
        ));
    }
    // The directories are created by a shell script; a plain character set keeps it safe.
    if !rest
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'))
    {
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
        && key
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| is_lower_alnum(c) || c == '_'));
    if !key_ok {
        return Err(problem(
            format!("`{key}` is not a sysctl name"),
            "use the dotted name, e.g. `vm.max_map_count`",
        ));
    }
    let value_ok = !value.trim().is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_' | ':' | ','));
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
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c));
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
        && name
            .chars()
            .all(|c| is_lower_alnum(c) || c == '-' || c == '_')
        && name.len() <= 100;
    if valid {
        Ok(())
    } else {
        Err(problem(
            format!("`{name}` is not an EKS addon name"),
            "use the addon's name, e.g. `vpc-cni`, `coredns`",
        ))
    }
}

/// Checks an addon version such as `v1.19.0-eksbuild.1`.
pub fn check_addon_version(version: &str) -> Check {
    let valid = version.starts_with('v')
        && version.len() > 1
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'));
    if valid {
        Ok(())
    } else {
        Err(problem(
            format!("`{version}` is not an EKS addon version"),
            "copy a version from `aws eks describe-addon-versions`, e.g. `v1.19.0-eksbuild.1`, or omit it for the default",
        ))
    }
}

/// Longest DB cluster identifier of a Multi-AZ DB cluster: "1 to 52 (for Multi-AZ DB
/// clusters) letters, numbers, or hyphens" (botocore `rds` model, CreateDBCluster,
/// `DBClusterIdentifier`).
pub const MAX_CLUSTER_IDENTIFIER: usize = 52;
/// Longest DB instance identifier: "1 to 63 letters, numbers, or hyphens" (botocore
/// `rds` model, CreateDBInstance, `DBInstanceIdentifier`).
pub const MAX_INSTANCE_IDENTIFIER: usize = 63;

/// Checks an RDS DB cluster or instance identifier against the CreateDBCluster /
/// CreateDBInstance constraints: first character a letter, then letters, digits or
/// hyphens, no `--`, no trailing hyphen, and the length the deployment mode allows.
pub fn check_db_identifier(id: &str, mode: RdsMode) -> Check {
    let (max, what) = match mode {
        RdsMode::MultiAzCluster => (MAX_CLUSTER_IDENTIFIER, "a Multi-AZ DB cluster identifier"),
        RdsMode::MultiAzInstance => (MAX_INSTANCE_IDENTIFIER, "a DB instance identifier"),
    };
    let hint = format!(
        "use 1 to {max} letters, digits or hyphens, starting with a letter, without `--` or a trailing hyphen"
    );
    let bad = if id.is_empty() || id.len() > max {
        Some(format!(
            "`{id}` is {} characters; {what} has 1 to {max}",
            id.len()
        ))
    } else if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        Some(format!("`{id}` does not start with a letter"))
    } else if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Some(format!(
            "`{id}` has characters other than letters, digits and hyphens"
        ))
    } else if id.contains("--") || id.ends_with('-') {
        Some(format!("`{id}` has two hyphens in a row or ends with one"))
    } else {
        None
    };
    bad.map_or(Ok(()), |message| Err(problem(message, hint)))
}

/// Role names RDS for PostgreSQL creates for itself; a master user cannot take them.
const RDS_RESERVED_ROLES: &[&str] = &[
    "rdsadmin",
    "rdsrepladmin",
    "rdstopmgr",
    "rds_superuser",
    "rds_replication",
    "rds_password",
];

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
        if mode == RdsMode::MultiAzCluster {
            "(for a Multi-AZ DB cluster) "
        } else {
            ""
        }
    );
    let length = password.chars().count();
    if !(8..=max).contains(&length) {
        return Err(problem(
            format!("the master password has {length} characters"),
            hint,
        ));
    }
    if let Some(c) = password
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '/' | '"' | '@' | '\''))
    {
        let shown = if c == ' ' {
            "a space".to_string()
        } else if c.is_ascii_graphic() {
            format!("`{c}`")
        } else {
            "a non-printable or non-ASCII character".to_string()
        };
        return Err(problem(
            format!("the master password contains {shown}"),
            hint,
        ));
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
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'));
    if !valid {
        return Err(problem(
            format!("`{name}` is not a usable {what} name"),
            "use up to 63 letters, digits, `_`, `-` or `$`, starting with a letter or `_`",
        ));
    }
    let lower = name.to_ascii_lowercase();
    let reserved = match kind {
        Identifier::Database => matches!(
            lower.as_str(),
            "postgres" | "template0" | "template1" | "rdsadmin"
        ),
        Identifier::Role => {
            lower.starts_with("pg_")
                || lower == "public"
                || RDS_RESERVED_ROLES.contains(&lower.as_str())
        }
    };
    if reserved {
        return Err(problem(
            format!("`{name}` is a name PostgreSQL or RDS keeps for itself"),
            format!("choose another {what} name"),
        ));
    }
    if name != lower {
        return Err(problem(
            format!("`{name}` has uppercase letters"),
            format!("write the {what} name in lowercase (`{lower}`), so clients need not quote it"),
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
        && parts[1..]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| is_lower_alnum(c) || c == '-'));
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
        (digits(major) && digits(minor))
            .then(|| major.parse::<u32>().ok())
            .flatten()
    });
    let Some(major) = parsed else {
        return Err(problem(
            format!("`{text}` is not a PostgreSQL engine version"),
            format!(
                "write `MAJOR.MINOR` in quotes, e.g. `\"16.4\"`. {}",
                versions::postgres_majors_hint()
            ),
        ));
    };
    if versions::postgres_major(major).is_none() {
        return Err(problem(
            format!("PostgreSQL {major} is not offered for Multi-AZ deployments"),
            versions::postgres_majors_hint(),
        ));
    }
    Ok(EngineVersion {
        major,
        full: text.to_string(),
    })
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
            format!(
                "PostgreSQL {} no longer supports md5 passwords",
                major.major
            ),
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
        && name
            .chars()
            .all(|c| is_lower_alnum(c) || c == '_' || c == '.');
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
            let (deployment, allowed) = match mode {
                RdsMode::MultiAzCluster => ("a Multi-AZ DB cluster", "`io1`, `io2` or `gp3`"),
                RdsMode::MultiAzInstance => {
                    ("a Multi-AZ DB instance", "`io1`, `io2`, `gp3` or `gp2`")
                }
            };
            return Err(problem(
                format!(
                    "storage type `{text}` is not available for {deployment}, which offers {allowed}"
                ),
                format!("use {allowed}"),
            ));
        }
    };
    Ok(storage_type)
}

/// Storage size from which RDS for PostgreSQL lets gp3 IOPS be provisioned; below it
/// the baseline (3,000 IOPS) is fixed and a given value is refused ("You can't specify
/// IOPS or storage throughput for engine postgres and a storage size less than 400").
/// RDS user guide, *Amazon RDS DB instance storage*, *gp3 storage*.
pub const GP3_IOPS_FROM_GIB: u32 = 400;
/// gp3 IOPS RDS for PostgreSQL lets be provisioned from [`GP3_IOPS_FROM_GIB`]:
/// 12,000 (the baseline at that size) to 64,000 (same section).
pub const GP3_IOPS: (u32, u32) = (12_000, 64_000);

/// Checks size and IOPS against the storage type and deployment mode; returns each
/// problem with its field.
///
/// - io1/io2 (RDS user guide, *Provisioned IOPS SSD storage*): 100–65,536 GiB and
///   1,000–256,000 IOPS, always given; io2 0.5–1,000 IOPS per GiB, io1 0.5–50 (the
///   ratio CreateDBCluster's `Iops` states in the botocore `rds` model).
/// - gp3 ([`GP3_IOPS_FROM_GIB`], [`GP3_IOPS`]): 20–65,536 GiB; IOPS only from 400 GiB.
/// - A Multi-AZ DB cluster always needs IOPS: CreateDBCluster's `Iops` "is required to
///   create a Multi-AZ DB cluster", and "when [StorageType is] specified for a Multi-AZ
///   DB cluster, a value for the Iops parameter is required" (botocore `rds` model).
///   With gp3's rule that makes a gp3 cluster 400 GiB or more with 12,000+ IOPS.
pub fn check_storage(storage: &Storage, mode: RdsMode) -> Vec<(&'static str, Problem)> {
    let mut problems = Vec::new();
    let size = storage.size_gib;
    let kind = storage.storage_type.as_str();
    let cluster = mode == RdsMode::MultiAzCluster;
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
            let max_ratio: f64 = if storage.storage_type == StorageType::Io2 {
                1000.0
            } else {
                50.0
            };
            match storage.iops {
                None => problems.push((
                    "iops",
                    problem(
                        format!("{kind} storage needs provisioned IOPS"),
                        "add `iops:`, e.g. `iops: 3000`",
                    ),
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
                    problem(
                        format!("{kind} storage must be 20 to 65536 GiB, not {size}"),
                        "allocate at least 20 GiB",
                    ),
                ));
            }
            let (low, high) = GP3_IOPS;
            match (storage.storage_type, storage.iops) {
                (StorageType::Gp2, Some(_)) => problems.push((
                    "iops",
                    problem(
                        "gp2 storage has no provisioned IOPS",
                        "remove `iops`, or use `gp3`",
                    ),
                )),
                (StorageType::Gp2, None) => {}
                (_, None) if cluster && size < GP3_IOPS_FROM_GIB => problems.push((
                    "size_gib",
                    problem(
                        format!(
                            "a Multi-AZ DB cluster on gp3 needs at least {GP3_IOPS_FROM_GIB} GiB, not {size}: RDS requires its IOPS, and takes gp3 IOPS only from {GP3_IOPS_FROM_GIB} GiB"
                        ),
                        format!(
                            "set `size_gib: {GP3_IOPS_FROM_GIB}` and `iops: {low}` (the gp3 baseline at that size), or use io2 with `iops`"
                        ),
                    ),
                )),
                (_, None) if cluster => problems.push((
                    "iops",
                    problem(
                        "a Multi-AZ DB cluster needs provisioned IOPS, for gp3 too",
                        format!("add `iops: {low}` (the gp3 baseline from {GP3_IOPS_FROM_GIB} GiB) or more, up to {high}"),
                    ),
                )),
                (_, None) => {}
                (_, Some(iops)) if size < GP3_IOPS_FROM_GIB => problems.push((
                    "iops",
                    problem(
                        format!(
                            "RDS takes gp3 IOPS only from {GP3_IOPS_FROM_GIB} GiB; below that the baseline of 3000 is fixed, and {iops} for {size} GiB is refused"
                        ),
                        if cluster {
                            format!("a Multi-AZ DB cluster needs IOPS: set `size_gib: {GP3_IOPS_FROM_GIB}` and `iops: {low}` or more")
                        } else {
                            format!("remove `iops`, or set `size_gib` to {GP3_IOPS_FROM_GIB} or more")
                        },
                    ),
                )),
                (_, Some(iops)) if !(low..=high).contains(&iops) => problems.push((
                    "iops",
                    problem(
                        format!("gp3 IOPS must be {low} to {high} from {GP3_IOPS_FROM_GIB} GiB, not {iops}"),
                        format!("set `iops` between {low} and {high}"),
                    ),
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
        return Err(problem(
            format!("`{name}` is not a VPC endpoint service name"),
            hint,
        ));
    };
    let Some((service_region, service)) = rest.split_once('.') else {
        return Err(problem(
            format!("`{name}` is not a VPC endpoint service name"),
            hint,
        ));
    };
    let id_ok = service.strip_prefix("vpce-svc-").is_some_and(|hex| {
        (8..=17).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_hexdigit())
    });
    if !id_ok {
        return Err(problem(
            format!("`{name}` is not a VPC endpoint service name"),
            hint,
        ));
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
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        });
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
        (Ok(from), Ok(to)) => Err(problem(
            format!("the port range `{text}` runs backwards ({from} > {to})"),
            hint,
        )),
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
        Err(problem(
            format!("`{host}` is not a DNS host name"),
            "write the host name only, e.g. `bpa.example.com`",
        ))
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
        && parts[5]
            .strip_prefix("certificate/")
            .is_some_and(|id| !id.is_empty());
    if !shape_ok {
        return Err(problem(
            format!("`{arn}` is not an ACM certificate ARN"),
            format!("copy it from ACM: `arn:aws:acm:{region}:<account id>:certificate/<id>`"),
        ));
    }
    if parts[3] != region {
        return Err(problem(
            format!(
                "the certificate is in {}, the load balancer in {region}",
                parts[3]
            ),
            format!(
                "an ALB uses certificates of its own region; request or import the certificate in {region}"
            ),
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
    let Some(rest) = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"))
    else {
        return Err(problem(
            format!("`{url}` is not a WebSocket URL (ws:// or wss://)"),
            hint,
        ));
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty()
        || !rest.ends_with("/websocket/controller")
        || rest.contains(char::is_whitespace)
    {
        return Err(problem(
            format!("`{url}` is not a KIE controller URL"),
            hint,
        ));
    }
    Ok(())
}

/// Checks the KIE server id.
pub fn check_server_id(id: &str) -> Check {
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Ok(())
    } else {
        Err(problem(
            format!("`{id}` is not a usable KIE server id"),
            "use letters, digits, `-`, `_`, `.`",
        ))
    }
}
