//! What the command line hands the AWS providers when it builds them: how `down` may
//! treat resources that hold data, and how secret references in a spec are resolved.
//!
//! The core never reads the environment (docs/architecture.md, "Layers"), so the CLI passes a
//! [`SecretLookup`] that does; providers resolve a secret only at the moment a call
//! needs the value, and never keep it.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::provider::{Live, ProviderError};
use crate::stack::{Address, ResourceKind, SecretRef};

/// Resolves a secret reference (`env:NAME`) to its value, or `None` when it is not set.
pub type SecretLookup = Arc<dyn Fn(&SecretRef) -> Option<String> + Send + Sync>;

/// Everything the AWS providers take besides the SDK configuration.
#[derive(Clone)]
pub struct ProviderOptions {
    pub teardown: TeardownOptions,
    /// Resolves the master password reference of a database created with a password
    /// from the environment.
    pub secrets: SecretLookup,
}

impl Default for ProviderOptions {
    /// Safe teardown and no secrets: enough for `plan`, `status` and `outputs`.
    fn default() -> Self {
        Self {
            teardown: TeardownOptions::default(),
            secrets: Arc::new(|_| None),
        }
    }
}

impl fmt::Debug for ProviderOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderOptions")
            .field("teardown", &self.teardown)
            .finish_non_exhaustive()
    }
}

/// How `down` treats resources that hold data. The default refuses everything risky:
/// a protected database, a repository with images; and keeps a final DB snapshot.
#[derive(Debug, Clone, Default)]
pub struct TeardownOptions {
    /// Turns deletion protection off before deleting a protected database
    /// (`--disable-deletion-protection`).
    pub disable_deletion_protection: bool,
    /// Deletes a database without a final snapshot (`--skip-final-snapshot`).
    pub skip_final_snapshot: bool,
    /// Deletes ECR repositories together with their images (`--force-delete-images`).
    pub force_delete_images: bool,
    /// Where the providers record the final snapshots they asked for.
    pub final_snapshots: FinalSnapshots,
}

impl TeardownOptions {
    /// Tells why deleting `live` would be refused with these options, judged from what
    /// was read: the check `down` makes for every resource before it deletes anything.
    /// `delete` checks again against a fresh read.
    pub fn refusal(&self, live: &Live) -> Option<ProviderError> {
        match live.kind {
            ResourceKind::DbCluster | ResourceKind::DbInstance => {
                super::rds::deletion_refusal(live, self)
            }
            ResourceKind::EcrRepository => super::ecr::deletion_refusal(live, self),
            _ => None,
        }
    }
}

/// A final snapshot taken while deleting a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalSnapshot {
    pub address: Address,
    /// The DB cluster or instance identifier.
    pub db_identifier: String,
    /// The snapshot identifier, `<id>-final-<UTC YYYYMMDDHHMMSS>`.
    pub snapshot_identifier: String,
}

/// The final snapshots asked for during one run, shared between the providers and the
/// command that reports them (the trait's `delete` returns nothing).
#[derive(Debug, Clone, Default)]
pub struct FinalSnapshots(Arc<Mutex<Vec<FinalSnapshot>>>);

impl FinalSnapshots {
    pub(crate) fn record(&self, snapshot: FinalSnapshot) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(snapshot);
    }

    /// Returns the snapshots asked for so far, in order.
    pub fn taken(&self) -> Vec<FinalSnapshot> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
