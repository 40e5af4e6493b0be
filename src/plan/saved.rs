//! Saved plans (`plan --out FILE`, `up --plan FILE`): the JSON form on disk, and the
//! check that the live state has not moved since it was saved.
//!
//! A saved plan is never applied from its own values (sensitive ones are masked in it):
//! `up --plan` plans again and applies the new plan only if it is the saved one.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Action, Change, FORMAT_VERSION, Plan};
use crate::stack::Address;

/// Why a plan file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("cannot write plan {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read plan {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a bpa-infra plan", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} has plan format version {found}; this bpa-infra reads version {FORMAT_VERSION}", path.display())]
    Version { path: PathBuf, found: u64 },
}

/// One way the situation differs from a saved plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Moved {
    /// The address that moved, or `profile` / `operation`.
    pub subject: String,
    /// What the saved plan would do.
    pub saved: String,
    /// What a plan made now does.
    pub now: String,
}

impl Plan {
    /// Writes the plan's JSON form to `path`.
    pub fn save(&self, path: &Path) -> Result<(), PlanFileError> {
        std::fs::write(path, super::render_json(self)).map_err(|source| PlanFileError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a plan written by [`save`](Self::save), refusing other format versions.
    pub fn load(path: &Path) -> Result<Plan, PlanFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| PlanFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| PlanFileError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        let found = value
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if found != u64::from(FORMAT_VERSION) {
            return Err(PlanFileError::Version {
                path: path.to_path_buf(),
                found,
            });
        }
        serde_json::from_value(value).map_err(|source| PlanFileError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Compares this saved plan with `now`, a plan made from the current profile and
    /// live state, and returns every difference; empty means `now` may be applied as
    /// the plan that was reviewed. Values are compared in their masked JSON form, the
    /// form the reviewer saw.
    pub fn moved_since(&self, now: &Plan) -> Vec<Moved> {
        let mut moved = Vec::new();
        if self.profile != now.profile {
            moved.push(Moved {
                subject: "profile".into(),
                saved: self.profile.clone(),
                now: now.profile.clone(),
            });
        }
        for (subject, saved, current) in [
            ("region", &self.region, &now.region),
            ("account", &self.account, &now.account),
        ] {
            if saved != current {
                let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
                moved.push(Moved {
                    subject: subject.into(),
                    saved: shown(saved),
                    now: shown(current),
                });
            }
        }
        if self.operation != now.operation {
            moved.push(Moved {
                subject: "operation".into(),
                saved: format!("{:?}", self.operation).to_lowercase(),
                now: format!("{:?}", now.operation).to_lowercase(),
            });
        }
        let mut addresses: Vec<&Address> = self
            .changes
            .iter()
            .chain(&now.changes)
            .map(|c| &c.address)
            .collect();
        addresses.sort();
        addresses.dedup();
        for address in addresses {
            let (saved, current) = (self.change(address), now.change(address));
            if as_json(saved) != as_json(current) {
                let (mut was, mut is) = (describe(saved), describe(current));
                if let (Some(saved), Some(current)) = (saved, current) {
                    let differing = differing_attributes(saved, current);
                    if was == is && !differing.is_empty() {
                        was = format!("{was} with the values reviewed");
                        is = format!("{is} with other values of {}", differing.join(", "));
                    } else if was == is {
                        is = format!("{is} for another reason or id");
                    }
                }
                moved.push(Moved {
                    subject: address.to_string(),
                    saved: was,
                    now: is,
                });
            }
        }
        let conflicts = |plan: &Plan| serde_json::to_value(&plan.conflicts).expect("plain data");
        if conflicts(self) != conflicts(now) {
            moved.push(Moved {
                subject: "conflicts".into(),
                saved: format!("{} conflicts", self.conflicts.len()),
                now: format!("{} conflicts", now.conflicts.len()),
            });
        }
        moved
    }
}

fn as_json(change: Option<&Change>) -> serde_json::Value {
    serde_json::to_value(change).expect("a change is plain data")
}

/// Names the attributes whose values differ between two changes of one address with
/// the same action, as the reviewer saw them (masked).
fn differing_attributes(saved: &Change, now: &Change) -> Vec<String> {
    let values = |change: &Change| -> std::collections::BTreeMap<String, serde_json::Value> {
        change
            .diffs
            .iter()
            .map(|d| {
                let value = serde_json::to_value(d).expect("a diff is plain data");
                (d.attribute.clone(), value)
            })
            .collect()
    };
    let (saved, now) = (values(saved), values(now));
    let mut names: Vec<String> = saved
        .keys()
        .chain(now.keys())
        .filter(|name| saved.get(*name) != now.get(*name))
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Says what a change does in a few words, for the "what moved" report.
fn describe(change: Option<&Change>) -> String {
    let Some(change) = change else {
        return "nothing".into();
    };
    let attributes: Vec<&str> = change.diffs.iter().map(|d| d.attribute.as_str()).collect();
    match change.action {
        Action::Update | Action::Replace if !attributes.is_empty() => {
            format!("{} ({})", change.action.as_str(), attributes.join(", "))
        }
        action => action.as_str().to_owned(),
    }
}
