//! The three ways a run's progress is shown on stderr: progress bars on a terminal,
//! plain timestamped lines otherwise (CI logs), JSON lines with `--output json`.
//!
//! The only module that uses indicatif. The line reporters write to any `Write`, so
//! tests read what they wrote from memory.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use bpa_infra::engine::{Event, Reporter};
use bpa_infra::stack::Address;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{GlobalArgs, OutputFormat};

/// Picks the reporter for this run from `--output`, `-q` and whether stderr is a terminal.
pub fn reporter(global: &GlobalArgs) -> Box<dyn Reporter> {
    if global.output == OutputFormat::Json {
        return Box::new(JsonLines::new(std::io::stderr()));
    }
    if global.quiet {
        return Box::new(Quiet::new(std::io::stderr()));
    }
    if std::io::stderr().is_terminal() {
        Box::new(Bars::new(global.color(true), ProgressDrawTarget::stderr()))
    } else {
        Box::new(PlainLines::new(std::io::stderr()))
    }
}

/// Where a line reporter writes: one line per event, written whole under the lock.
struct LineSink<W> {
    out: Mutex<W>,
}

impl<W: Write> LineSink<W> {
    fn new(out: W) -> Self {
        Self {
            out: Mutex::new(out),
        }
    }

    fn write_line(&self, line: &str) {
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A closed stderr must not abort a run that is changing the cloud.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    #[cfg(test)]
    fn into_inner(self) -> W {
        self.out
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `-q`: only failures.
struct Quiet<W> {
    sink: LineSink<W>,
}

impl<W: Write> Quiet<W> {
    fn new(out: W) -> Self {
        Self {
            sink: LineSink::new(out),
        }
    }
}

impl<W: Write + Send> Reporter for Quiet<W> {
    fn report(&self, event: &Event) {
        if matches!(event, Event::Failed { .. }) {
            self.sink.write_line(&plain_line(event));
        }
    }
}

/// One JSON object per line: the event's fields (`event`, `address`, …, durations in
/// `*_seconds`) and `ts`, a UTC timestamp.
struct JsonLines<W> {
    sink: LineSink<W>,
}

impl<W: Write> JsonLines<W> {
    fn new(out: W) -> Self {
        Self {
            sink: LineSink::new(out),
        }
    }
}

impl<W: Write + Send> Reporter for JsonLines<W> {
    fn report(&self, event: &Event) {
        let mut value = serde_json::to_value(event).expect("events are plain data");
        if let Some(object) = value.as_object_mut() {
            object.insert("format_version".into(), 1.into());
            object.insert("ts".into(), jiff::Timestamp::now().to_string().into());
        }
        self.sink.write_line(&value.to_string());
    }
}

/// Plain lines for logs: `2026-11-23T17:55:01Z rds.cluster: create (typically 20m00s)`.
struct PlainLines<W> {
    sink: LineSink<W>,
}

impl<W: Write> PlainLines<W> {
    fn new(out: W) -> Self {
        Self {
            sink: LineSink::new(out),
        }
    }
}

impl<W: Write + Send> Reporter for PlainLines<W> {
    fn report(&self, event: &Event) {
        let now = jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or(jiff::Timestamp::now());
        self.sink
            .write_line(&format!("{now} {}", plain_line(event)));
    }
}

/// Describes an event in one line, without a timestamp.
fn plain_line(event: &Event) -> String {
    match event {
        Event::RunStarted {
            profile,
            operation,
            resources,
        } => format!("{operation:?} of profile {profile}: {resources} resource(s)").to_lowercase(),
        Event::Started {
            address,
            action,
            typical,
            ..
        } => {
            format!(
                "{address}: {} (typically {})",
                action.as_str(),
                human(*typical)
            )
        }
        Event::Phase { address, phase } => format!("{address}: {}", phase.as_str()),
        Event::Retrying {
            address,
            attempt,
            delay,
            code,
            message,
        } => {
            format!(
                "{address}: {code} ({message}); attempt {attempt} in {}",
                human(*delay)
            )
        }
        Event::Finished {
            address,
            action,
            elapsed,
        } => {
            format!("{address}: {} done in {}", action.as_str(), human(*elapsed))
        }
        Event::Failed {
            address,
            action,
            code,
            message,
            elapsed,
        } => {
            format!(
                "{address}: {} FAILED after {} ({code}): {message}",
                action.as_str(),
                human(*elapsed)
            )
        }
        Event::Skipped { address, reason } => format!("{address}: skipped: {reason}"),
        Event::Interrupted { address, phase } => match phase {
            Some(phase) => format!("{address}: interrupted while {}", phase.as_str()),
            None => format!("{address}: interrupted"),
        },
        Event::RunFinished {
            succeeded,
            failed,
            skipped,
            interrupted,
            elapsed,
        } => format!(
            "finished in {}: {succeeded} succeeded, {failed} failed, {skipped} skipped, {interrupted} interrupted",
            human(*elapsed)
        ),
    }
}

/// Formats a duration the way people read it: `45s`, `4m10s`, `1h02m`.
fn human(duration: Duration) -> String {
    let s = duration.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A line per resource with a spinner, its phase, elapsed time and typical duration.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<Address, Running>>,
    running: ProgressStyle,
    done: ProgressStyle,
    color: bool,
}

/// A resource's bar, with how long its kind typically takes: every message keeps it.
struct Running {
    bar: ProgressBar,
    typical: Duration,
}

/// The message of a running bar: what it does now, then the expectation. The template
/// adds the elapsed time.
fn running_message(doing: &str, typical: Duration) -> String {
    format!("{doing} · typically {}", human(typical))
}

impl Bars {
    fn new(color: bool, target: ProgressDrawTarget) -> Self {
        let running =
            ProgressStyle::with_template("{spinner} {prefix:<40} {wide_msg} {elapsed:>4}")
                .expect("a valid template")
                .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ");
        let done =
            ProgressStyle::with_template("{prefix:<42} {wide_msg}").expect("a valid template");
        Self {
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
            running,
            done,
            color,
        }
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn with_bar(&self, address: &Address, f: impl FnOnce(&Running)) {
        let bars = self
            .bars
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(running) = bars.get(address) {
            f(running);
        }
    }
}

impl Reporter for Bars {
    fn report(&self, event: &Event) {
        match event {
            Event::Started {
                address,
                action,
                typical,
                ..
            } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(self.running.clone());
                bar.set_prefix(address.to_string());
                bar.set_message(running_message(action.as_str(), *typical));
                bar.enable_steady_tick(Duration::from_millis(120));
                self.bars
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(
                        address.clone(),
                        Running {
                            bar,
                            typical: *typical,
                        },
                    );
            }
            Event::Phase { address, phase } => self.with_bar(address, |r| {
                r.bar
                    .set_message(running_message(phase.as_str(), r.typical));
            }),
            Event::Retrying {
                address,
                attempt,
                code,
                delay,
                ..
            } => self.with_bar(address, |r| {
                let doing = format!("{code}: retry {attempt} in {}", human(*delay));
                r.bar.set_message(running_message(&doing, r.typical));
            }),
            Event::Finished {
                address,
                action,
                elapsed,
            } => self.with_bar(address, |r| {
                r.bar.set_style(self.done.clone());
                r.bar.finish_with_message(self.paint(
                    &format!("✓ {} in {}", action.as_str(), human(*elapsed)),
                    "32",
                ));
            }),
            Event::Failed {
                address,
                code,
                message,
                ..
            } => self.with_bar(address, |r| {
                r.bar.set_style(self.done.clone());
                r.bar
                    .finish_with_message(self.paint(&format!("✗ {code}: {message}"), "31"));
            }),
            Event::Interrupted { address, .. } => self.with_bar(address, |r| {
                r.bar.set_style(self.done.clone());
                r.bar.abandon_with_message(self.paint("interrupted", "33"));
            }),
            Event::Skipped { .. } | Event::RunStarted { .. } | Event::RunFinished { .. } => {
                let _ = self.multi.println(plain_line(event));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bpa_infra::engine::Phase;
    use bpa_infra::plan::{Action, Operation};
    use bpa_infra::stack::{Component, ResourceKind};

    use super::*;

    fn cluster() -> Address {
        Address::new(Component::Rds, "cluster")
    }

    fn node_group() -> Address {
        Address::keyed(Component::Eks, "nodegroup", "node-2")
    }

    /// A short run: two resources, one phase and a retry each, one fails.
    fn events() -> Vec<Event> {
        vec![
            Event::RunStarted {
                profile: "prod".into(),
                operation: Operation::Apply,
                resources: 2,
            },
            Event::Started {
                address: cluster(),
                kind: ResourceKind::DbCluster,
                action: Action::Create,
                typical: Duration::from_secs(1200),
            },
            Event::Phase {
                address: cluster(),
                phase: Phase::WaitingReady,
            },
            Event::Started {
                address: node_group(),
                kind: ResourceKind::NodeGroup,
                action: Action::Update,
                typical: Duration::from_secs(240),
            },
            Event::Retrying {
                address: node_group(),
                attempt: 2,
                delay: Duration::from_millis(1500),
                code: "Throttling".into(),
                message: "Rate exceeded".into(),
            },
            Event::Finished {
                address: cluster(),
                action: Action::Create,
                elapsed: Duration::from_secs(1250),
            },
            Event::Failed {
                address: node_group(),
                action: Action::Update,
                code: "InvalidParameterException".into(),
                message: "bad size".into(),
                elapsed: Duration::from_secs(30),
            },
            Event::RunFinished {
                succeeded: 1,
                failed: 1,
                skipped: 0,
                interrupted: 0,
                elapsed: Duration::from_secs(1251),
            },
        ]
    }

    fn lines(out: Vec<u8>) -> Vec<String> {
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_secs(250)), "4m10s");
        assert_eq!(human(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn plain_lines_are_timestamped_one_per_event() {
        let reporter = PlainLines::new(Vec::new());
        let before = jiff::Timestamp::now().round(jiff::Unit::Second).unwrap();
        for event in events() {
            reporter.report(&event);
        }
        let after = jiff::Timestamp::now().round(jiff::Unit::Second).unwrap();
        let lines = lines(reporter.sink.into_inner());
        assert_eq!(lines.len(), events().len(), "{lines:#?}");
        let mut texts = Vec::new();
        for line in &lines {
            let (ts, text) = line.split_once(' ').unwrap();
            let ts: jiff::Timestamp = ts.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
            assert!(ts.to_string().ends_with('Z'), "{line}");
            assert!(before <= ts && ts <= after, "{line}");
            texts.push(text);
        }
        assert_eq!(
            texts,
            [
                "apply of profile prod: 2 resource(s)",
                "rds.cluster: create (typically 20m00s)",
                "rds.cluster: waiting until ready",
                "eks.nodegroup[node-2]: update (typically 4m00s)",
                "eks.nodegroup[node-2]: Throttling (Rate exceeded); attempt 2 in 1s",
                "rds.cluster: create done in 20m50s",
                "eks.nodegroup[node-2]: update FAILED after 30s (InvalidParameterException): bad size",
                "finished in 20m51s: 1 succeeded, 1 failed, 0 skipped, 0 interrupted",
            ]
        );
    }

    #[test]
    fn quiet_shows_only_failures() {
        let reporter = Quiet::new(Vec::new());
        for event in events() {
            reporter.report(&event);
        }
        let lines = lines(reporter.sink.into_inner());
        assert_eq!(
            lines,
            [
                "eks.nodegroup[node-2]: update FAILED after 30s (InvalidParameterException): bad size"
            ]
        );
    }

    #[test]
    fn json_lines_parse_with_stable_field_names() {
        let reporter = JsonLines::new(Vec::new());
        for event in events() {
            reporter.report(&event);
        }
        let lines = lines(reporter.sink.into_inner());
        assert_eq!(lines.len(), events().len());
        let docs: Vec<serde_json::Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        fn keys(doc: &serde_json::Value) -> Vec<&str> {
            let mut keys: Vec<&str> = doc
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            keys.sort_unstable();
            keys
        }
        let expected: [&[&str]; 8] = [
            &["event", "operation", "profile", "resources", "ts"],
            &[
                "action",
                "address",
                "event",
                "kind",
                "ts",
                "typical_seconds",
            ],
            &["address", "event", "phase", "ts"],
            &[
                "action",
                "address",
                "event",
                "kind",
                "ts",
                "typical_seconds",
            ],
            &[
                "address",
                "attempt",
                "code",
                "delay_seconds",
                "event",
                "message",
                "ts",
            ],
            &["action", "address", "elapsed_seconds", "event", "ts"],
            &[
                "action",
                "address",
                "code",
                "elapsed_seconds",
                "event",
                "message",
                "ts",
            ],
            &[
                "elapsed_seconds",
                "event",
                "failed",
                "interrupted",
                "skipped",
                "succeeded",
                "ts",
            ],
        ];
        for (doc, expected) in docs.iter().zip(expected) {
            assert_eq!(doc["format_version"], 1, "{doc}");
            let keys: Vec<&str> = keys(doc)
                .into_iter()
                .filter(|k| *k != "format_version")
                .collect();
            assert_eq!(keys, expected, "{doc}");
            let ts = doc["ts"].as_str().unwrap();
            ts.parse::<jiff::Timestamp>()
                .unwrap_or_else(|e| panic!("{ts}: {e}"));
        }
        let events: Vec<&str> = docs.iter().map(|d| d["event"].as_str().unwrap()).collect();
        assert_eq!(
            events,
            [
                "run_started",
                "started",
                "phase",
                "started",
                "retrying",
                "finished",
                "failed",
                "run_finished"
            ]
        );
        assert_eq!(docs[1]["address"], "rds.cluster");
        assert_eq!(docs[1]["action"], "create");
        assert_eq!(docs[1]["typical_seconds"], 1200.0);
        assert_eq!(docs[2]["phase"], "waiting_ready");
        assert_eq!(docs[3]["address"], "eks.nodegroup[node-2]");
        assert_eq!(docs[4]["delay_seconds"], 1.5);
    }

    #[test]
    fn a_bar_keeps_the_typical_duration_through_phases_and_retries() {
        let bars = Bars::new(false, ProgressDrawTarget::hidden());
        let all = events();
        let message = |address: &Address| {
            let mut out = String::new();
            bars.with_bar(address, |r| out = r.bar.message());
            out
        };
        bars.report(&all[1]);
        assert_eq!(message(&cluster()), "create · typically 20m00s");
        bars.report(&all[2]);
        assert_eq!(
            message(&cluster()),
            "waiting until ready · typically 20m00s"
        );
        bars.report(&all[3]);
        bars.report(&all[4]);
        assert_eq!(
            message(&node_group()),
            "Throttling: retry 2 in 1s · typically 4m00s"
        );
        bars.report(&all[5]);
        assert_eq!(message(&cluster()), "✓ create in 20m50s");
    }
}
