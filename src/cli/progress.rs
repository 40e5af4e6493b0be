//! The three ways a run's progress is shown on stderr: progress bars on a terminal,
//! plain timestamped lines otherwise (CI logs), JSON lines with `--output json`.
//!
//! The only module that uses indicatif.

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
        return Box::new(JsonLines);
    }
    if global.quiet {
        return Box::new(Quiet);
    }
    if std::io::stderr().is_terminal() {
        Box::new(Bars::new(global.color(true)))
    } else {
        Box::new(PlainLines)
    }
}

/// `-q`: only failures.
struct Quiet;

impl Reporter for Quiet {
    fn report(&self, event: &Event) {
        if matches!(event, Event::Failed { .. }) {
            write_stderr(&plain_line(event));
        }
    }
}

/// One JSON object per line, with a UTC timestamp.
struct JsonLines;

impl Reporter for JsonLines {
    fn report(&self, event: &Event) {
        let mut value = serde_json::to_value(event).expect("events are plain data");
        if let Some(object) = value.as_object_mut() {
            object.insert("ts".into(), jiff::Timestamp::now().to_string().into());
        }
        write_stderr(&value.to_string());
    }
}

/// Plain lines for logs: `2026-11-23T17:55:01Z rds.cluster: creating (typically 20m)`.
struct PlainLines;

impl Reporter for PlainLines {
    fn report(&self, event: &Event) {
        let now = jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or(jiff::Timestamp::now());
        write_stderr(&format!("{now} {}", plain_line(event)));
    }
}

fn write_stderr(line: &str) {
    // A closed stderr must not abort a run that is changing the cloud.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
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
    bars: Mutex<HashMap<Address, ProgressBar>>,
    running: ProgressStyle,
    done: ProgressStyle,
    color: bool,
}

impl Bars {
    fn new(color: bool) -> Self {
        let running =
            ProgressStyle::with_template("{spinner} {prefix:<40} {wide_msg} {elapsed:>4}")
                .expect("a valid template")
                .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ");
        let done =
            ProgressStyle::with_template("{prefix:<42} {wide_msg}").expect("a valid template");
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
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

    fn with_bar(&self, address: &Address, f: impl FnOnce(&ProgressBar)) {
        let bars = self
            .bars
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(bar) = bars.get(address) {
            f(bar);
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
                bar.set_message(format!(
                    "{} (typically {})",
                    action.as_str(),
                    human(*typical)
                ));
                bar.enable_steady_tick(Duration::from_millis(120));
                self.bars
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(address.clone(), bar);
            }
            Event::Phase { address, phase } => {
                self.with_bar(address, |bar| bar.set_message(phase.as_str()))
            }
            Event::Retrying {
                address,
                attempt,
                code,
                delay,
                ..
            } => self.with_bar(address, |bar| {
                bar.set_message(format!("{code}: retry {attempt} in {}", human(*delay)));
            }),
            Event::Finished {
                address,
                action,
                elapsed,
            } => self.with_bar(address, |bar| {
                bar.set_style(self.done.clone());
                bar.finish_with_message(self.paint(
                    &format!("✓ {} in {}", action.as_str(), human(*elapsed)),
                    "32",
                ));
            }),
            Event::Failed {
                address,
                code,
                message,
                ..
            } => self.with_bar(address, |bar| {
                bar.set_style(self.done.clone());
                bar.finish_with_message(self.paint(&format!("✗ {code}: {message}"), "31"));
            }),
            Event::Interrupted { address, .. } => self.with_bar(address, |bar| {
                bar.set_style(self.done.clone());
                bar.abandon_with_message(self.paint("interrupted", "33"));
            }),
            Event::Skipped { .. } | Event::RunStarted { .. } | Event::RunFinished { .. } => {
                let _ = self.multi.println(plain_line(event));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_secs(250)), "4m10s");
        assert_eq!(human(Duration::from_secs(3720)), "1h02m");
    }
}
