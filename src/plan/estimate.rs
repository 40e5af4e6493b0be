//! The expected duration of a plan (`estimated_duration_seconds`, `critical_path`), and
//! its sentence for people.

use serde::{Deserialize, Serialize};

use super::{Action, Operation, Plan};
use crate::stack::{Address, ResourceKind};

/// One change on a plan's critical path, with how long it typically takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStep {
    pub address: Address,
    pub kind: ResourceKind,
    pub action: Action,
    /// The kind's typical duration (both halves of a replacement).
    pub seconds: u64,
}

impl Plan {
    /// Returns `up takes about 21 min; longest: network.subnet[a] 2 s → rds.cluster 20 min`,
    /// or `None` when the plan changes nothing.
    pub fn eta_sentence(&self) -> Option<String> {
        if self.critical_path.is_empty() && self.estimated_duration_seconds == 0 {
            return None;
        }
        let command = match self.operation {
            Operation::Apply => "up",
            Operation::Destroy => "down",
        };
        let chain: Vec<String> = self
            .critical_path
            .iter()
            .map(|s| format!("{} {}", s.address, about(s.seconds)))
            .collect();
        let mut text = format!(
            "{command} takes about {}",
            about(self.estimated_duration_seconds)
        );
        if !chain.is_empty() {
            text.push_str("; longest: ");
            text.push_str(&chain.join(" → "));
        }
        Some(text)
    }
}

/// Rounds a typical duration the way an estimate should read: `3 s`, `4 min`, `1 h 05 min`.
pub fn about(seconds: u64) -> String {
    match seconds {
        0..90 => format!("{seconds} s"),
        90..3600 => format!("{} min", (seconds + 30) / 60),
        _ => {
            let minutes = (seconds + 30) / 60;
            format!("{} h {:02} min", minutes / 60, minutes % 60)
        }
    }
}
