//! What the executor tells the outside world while it works, and the [`Reporter`] trait
//! that receives it.
//!
//! The executor never prints: the binary picks a reporter (progress bars on a TTY, plain
//! timestamped lines in CI, JSON lines with `--output json`) and only that module draws.
//! Events are plain data and serialize to one JSON object each.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::plan::{Action, Operation};
use crate::stack::{Address, ResourceKind};

/// What the executor is doing to a resource right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Creating,
    Updating,
    Deleting,
    /// Created or updated; waiting until the cloud says it is ready.
    WaitingReady,
    /// Deletion started; waiting until it is gone.
    WaitingDeleted,
}

impl Phase {
    /// Returns the phase in words, for progress lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Updating => "updating",
            Self::Deleting => "deleting",
            Self::WaitingReady => "waiting until ready",
            Self::WaitingDeleted => "waiting until deleted",
        }
    }
}

/// One thing that happened during a run. Durations serialize as seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run begins; `resources` is how many will be worked on.
    RunStarted {
        profile: String,
        operation: Operation,
        resources: usize,
    },
    /// Work on a resource begins. `typical` is how long its kind usually takes, for a
    /// progress bar's expectation.
    Started {
        address: Address,
        kind: ResourceKind,
        action: Action,
        #[serde(rename = "typical_seconds", serialize_with = "seconds")]
        typical: Duration,
    },
    Phase {
        address: Address,
        phase: Phase,
    },
    /// A call failed in a way worth trying again; the next attempt starts after `delay`.
    Retrying {
        address: Address,
        attempt: u32,
        #[serde(rename = "delay_seconds", serialize_with = "seconds")]
        delay: Duration,
        code: String,
        message: String,
    },
    Finished {
        address: Address,
        action: Action,
        #[serde(rename = "elapsed_seconds", serialize_with = "seconds")]
        elapsed: Duration,
    },
    Failed {
        address: Address,
        action: Action,
        code: String,
        message: String,
        #[serde(rename = "elapsed_seconds", serialize_with = "seconds")]
        elapsed: Duration,
    },
    /// Not attempted, because something it needs failed or the run was interrupted.
    Skipped {
        address: Address,
        reason: String,
    },
    /// In flight when the run was interrupted; the next run picks it up.
    Interrupted {
        address: Address,
        phase: Option<Phase>,
    },
    RunFinished {
        succeeded: usize,
        failed: usize,
        skipped: usize,
        interrupted: usize,
        #[serde(rename = "elapsed_seconds", serialize_with = "seconds")]
        elapsed: Duration,
    },
}

fn seconds<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

/// Receives the executor's events. Called from the executor's task, so an implementation
/// must return quickly (draw, write a line) and never block on input.
pub trait Reporter: Send + Sync {
    fn report(&self, event: &Event);
}

/// Ignores every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullReporter;

impl Reporter for NullReporter {
    fn report(&self, _event: &Event) {}
}

/// Keeps every event, for tests and for callers that summarise afterwards.
#[derive(Debug, Default)]
pub struct RecordingReporter {
    events: Mutex<Vec<Event>>,
}

impl RecordingReporter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the events so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Reporter for RecordingReporter {
    fn report(&self, event: &Event) {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_as_flat_json_objects_with_seconds() {
        let event = Event::Started {
            address: "rds.cluster".parse().unwrap(),
            kind: ResourceKind::DbCluster,
            action: Action::Create,
            typical: Duration::from_secs(1200),
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"event":"started","address":"rds.cluster","kind":"db_cluster","action":"create","typical_seconds":1200.0}"#
        );
        let phase = Event::Phase {
            address: "rds.cluster".parse().unwrap(),
            phase: Phase::WaitingReady,
        };
        assert_eq!(
            serde_json::to_string(&phase).unwrap(),
            r#"{"event":"phase","address":"rds.cluster","phase":"waiting_ready"}"#
        );
    }
}
