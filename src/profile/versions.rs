//! Versions the tool accepts: EKS Kubernetes versions and PostgreSQL major versions.
//!
//! Both lists go stale as AWS and PostgreSQL release; they live here, in one place,
//! with the date they were last checked, so updating them is a one-file change.
//! Validation works offline, so it checks against these lists. For RDS, `plan` also
//! asks AWS (`DescribeDBEngineVersions`, see the pre-flight checks of the RDS provider);
//! for EKS, AWS's own answer comes when `up` creates or upgrades the cluster.

/// When the lists below were last checked against AWS's and PostgreSQL's documentation.
pub const CHECKED_ON: &str = "2026-11-23";

/// Whether AWS still supports a Kubernetes version on EKS, and at what cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EksSupport {
    /// Standard support (14 months after release).
    Standard,
    /// Extended support: 12 more months, paid, on by default.
    Extended,
}

/// One Kubernetes minor version EKS offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EksVersion {
    pub major: u32,
    pub minor: u32,
    pub support: EksSupport,
    /// Last day of the support it is in (ISO date), where AWS has published it.
    pub support_ends: Option<&'static str>,
}

/// Kubernetes versions EKS supports as of [`CHECKED_ON`], newest first.
///
/// Source: the EKS Kubernetes release calendar (standard support 14 months after
/// release, then 12 months of extended support: 1.32 was released 2025-01-23, 1.33
/// 2025-05-29). 1.31 is left out although its
/// extended support runs to 2026-11-26: a new cluster on it would be out of support
/// within days.
pub const EKS_VERSIONS: &[EksVersion] = &[
    EksVersion {
        major: 1,
        minor: 36,
        support: EksSupport::Standard,
        support_ends: None,
    },
    EksVersion {
        major: 1,
        minor: 35,
        support: EksSupport::Standard,
        support_ends: None,
    },
    EksVersion {
        major: 1,
        minor: 34,
        support: EksSupport::Standard,
        support_ends: Some("2026-12-02"),
    },
    EksVersion {
        major: 1,
        minor: 33,
        support: EksSupport::Extended,
        support_ends: Some("2027-07-29"),
    },
    EksVersion {
        major: 1,
        minor: 32,
        support: EksSupport::Extended,
        support_ends: Some("2027-03-23"),
    },
];

/// Looks up a Kubernetes version in [`EKS_VERSIONS`].
pub fn eks_version(major: u32, minor: u32) -> Option<&'static EksVersion> {
    EKS_VERSIONS
        .iter()
        .find(|v| v.major == major && v.minor == minor)
}

/// Lists the supported Kubernetes versions for a hint, e.g. `1.36, 1.35, 1.34 (standard support ends 2026-12-02), …`.
pub fn eks_versions_hint() -> String {
    let list: Vec<String> = EKS_VERSIONS
        .iter()
        .map(|v| match (v.support, v.support_ends) {
            (EksSupport::Standard, None) => format!("{}.{}", v.major, v.minor),
            (EksSupport::Standard, Some(end)) => {
                format!("{}.{} (standard support ends {end})", v.major, v.minor)
            }
            (EksSupport::Extended, None) => {
                format!("{}.{} (extended support, paid)", v.major, v.minor)
            }
            (EksSupport::Extended, Some(end)) => {
                format!(
                    "{}.{} (extended support, paid, until {end})",
                    v.major, v.minor
                )
            }
        })
        .collect();
    format!("EKS supports (as of {CHECKED_ON}): {}", list.join(", "))
}

/// Whether a PostgreSQL major version still accepts `password_encryption = md5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Md5Support {
    Supported,
    /// Accepted, but PostgreSQL warns that a future release removes it.
    Deprecated,
    /// Refused: MD5 password hashes are gone.
    Unsupported,
}

/// One PostgreSQL major version RDS offers for Multi-AZ deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostgresMajor {
    pub major: u32,
    pub md5: Md5Support,
}

/// PostgreSQL major versions RDS offers as of [`CHECKED_ON`], oldest first.
///
/// Sources: the RDS for PostgreSQL release calendar (13 is in paid extended support
/// since 2026-03-01; Multi-AZ DB clusters exist from 13 on), and the PostgreSQL release
/// notes on MD5: PostgreSQL 18 marks MD5 passwords deprecated (still accepted, with a
/// warning from 19 on when a role authenticates with one); no released major refuses
/// them yet. `password_encryption = md5` is the runbook's choice because some BPA
/// clients predate SCRAM.
pub const POSTGRES_MAJORS: &[PostgresMajor] = &[
    PostgresMajor {
        major: 13,
        md5: Md5Support::Supported,
    },
    PostgresMajor {
        major: 14,
        md5: Md5Support::Supported,
    },
    PostgresMajor {
        major: 15,
        md5: Md5Support::Supported,
    },
    PostgresMajor {
        major: 16,
        md5: Md5Support::Supported,
    },
    PostgresMajor {
        major: 17,
        md5: Md5Support::Supported,
    },
    PostgresMajor {
        major: 18,
        md5: Md5Support::Deprecated,
    },
];

/// Looks up a PostgreSQL major version in [`POSTGRES_MAJORS`].
pub fn postgres_major(major: u32) -> Option<&'static PostgresMajor> {
    POSTGRES_MAJORS.iter().find(|m| m.major == major)
}

/// Lists the known PostgreSQL majors for a hint.
pub fn postgres_majors_hint() -> String {
    let list: Vec<String> = POSTGRES_MAJORS
        .iter()
        .map(|m| m.major.to_string())
        .collect();
    format!(
        "RDS offers PostgreSQL {} (as of {CHECKED_ON})",
        list.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_and_unique() {
        assert!(
            EKS_VERSIONS
                .windows(2)
                .all(|w| (w[0].major, w[0].minor) > (w[1].major, w[1].minor))
        );
        assert!(POSTGRES_MAJORS.windows(2).all(|w| w[0].major < w[1].major));
    }

    #[test]
    fn hint_names_every_version() {
        let hint = eks_versions_hint();
        for v in EKS_VERSIONS {
            assert!(hint.contains(&format!("{}.{}", v.major, v.minor)), "{hint}");
        }
        assert!(
            hint.contains("1.34 (standard support ends 2026-12-02)"),
            "{hint}"
        );
    }
}
