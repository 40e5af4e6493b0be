//! A plan for people (text, grouped by component, optionally coloured) and for programs
//! (JSON). Both mask secrets: values print through [`Value`]'s masked forms only.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use owo_colors::{OwoColorize, Style};

use super::{Action, Change, Operation, Plan};
use crate::stack::{Component, Value};

/// How the text form is drawn. The caller decides about colour (a TTY, `--no-color`,
/// `NO_COLOR`): the core never looks at the terminal.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    pub color: bool,
}

/// Lists longer than this are written one item per line.
const INLINE_WIDTH: usize = 72;

/// Renders the plan's JSON form, `format_version` first, pretty-printed.
pub fn render_json(plan: &Plan) -> String {
    let mut text =
        serde_json::to_string_pretty(&json_document(plan)).expect("a plan is plain data");
    text.push('\n');
    text
}

/// Returns the plan document of `--output json` (docs/json.md, "plan"): the saved
/// plan's fields and `counts`, the numbers of the summary line.
pub fn json_document(plan: &Plan) -> serde_json::Value {
    let mut doc = serde_json::to_value(plan).expect("a plan is plain data");
    doc["counts"] = serde_json::to_value(plan.counts()).expect("counts are plain data");
    doc
}

/// Names where the plan applies: ` in us-west-2, account 123456789012`.
pub(super) fn target(plan: &Plan) -> String {
    match (&plan.region, &plan.account) {
        (Some(region), Some(account)) => format!(" in {region}, account {account}"),
        (Some(region), None) => format!(" in {region} (offline: no account read)"),
        (None, Some(account)) => format!(", account {account}"),
        (None, None) => String::new(),
    }
}

/// Renders the plan for people: changes grouped by component, attribute values and
/// diffs, conflicts, and the summary line `N to create, N to update, N to replace, N to delete`.
pub fn render_text(plan: &Plan, options: &TextOptions) -> String {
    let paint = Painter {
        color: options.color,
    };
    let mut out = String::new();
    let verb = match plan.operation {
        Operation::Apply => "apply",
        Operation::Destroy => "destroy",
    };
    let _ = writeln!(
        out,
        "{}",
        paint.bold(&format!(
            "Plan to {verb} profile {}{}",
            plan.profile,
            target(plan)
        ))
    );

    let shown: Vec<&Change> = plan.changes.iter().filter(|c| is_shown(plan, c)).collect();
    if shown.is_empty() {
        out.push('\n');
        out.push_str(match plan.operation {
            Operation::Apply => "No changes: the cloud matches the profile.\n",
            Operation::Destroy => "Nothing to delete: the profile owns no resource.\n",
        });
    }
    let components: BTreeSet<Component> = shown.iter().map(|c| c.address.component()).collect();
    for component in components {
        let _ = write!(out, "\n{}\n", paint.bold(component.as_str()));
        for change in shown.iter().filter(|c| c.address.component() == component) {
            write_change(&mut out, change, &paint);
        }
    }

    if !plan.conflicts.is_empty() {
        let _ = write!(
            out,
            "\n{}\n",
            paint.conflict("Conflicts: nothing is applied until they are resolved")
        );
        for conflict in &plan.conflicts {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                paint.conflict("!"),
                paint.bold(&conflict.address.to_string()),
                conflict.reason
            );
        }
    }
    out.push('\n');
    // The summary stays the last line, which scripts read.
    if let Some(eta) = plan.eta_sentence() {
        let _ = writeln!(out, "{eta}");
    }
    let _ = writeln!(out, "{}", plan.summary());
    out
}

/// Returns one change as the text form draws it, without colour: its line, then its
/// attributes or diffs (the Markdown form folds it into its details).
pub(super) fn change_text(change: &Change) -> String {
    let mut out = String::new();
    write_change(&mut out, change, &Painter { color: false });
    out
}

/// No-ops are shown in a destroy plan when they say why something stays.
pub(super) fn is_shown(plan: &Plan, change: &Change) -> bool {
    change.action != Action::NoOp
        || (plan.operation == Operation::Destroy && change.reason.is_some())
}

fn write_change(out: &mut String, change: &Change, paint: &Painter) {
    let (symbol, what) = match change.action {
        Action::Create => ("+", "created".to_owned()),
        Action::Update if change.needs_reboot => (
            "~",
            "updated in place, takes effect after a reboot".to_owned(),
        ),
        Action::Update => ("~", "updated in place".to_owned()),
        Action::Replace => ("-/+", "replaced".to_owned()),
        Action::Delete => ("-", "deleted".to_owned()),
        Action::NoOp => ("·", String::new()),
    };
    let mut line = format!(
        "  {} {} ({})",
        paint.action(change.action, symbol),
        paint.bold(&change.address.to_string()),
        change.kind
    );
    if let Some(id) = &change.id {
        let _ = write!(line, " {id}");
    }
    if change.action != Action::NoOp {
        let _ = write!(line, " will be {what}");
    }
    if let Some(reason) = &change.reason {
        let _ = write!(line, ": {reason}");
    }
    out.push_str(&line);
    out.push('\n');

    match change.action {
        Action::Create => {
            let width = change
                .diffs
                .iter()
                .map(|d| d.attribute.len())
                .max()
                .unwrap_or(0);
            for diff in &change.diffs {
                let value = diff.after.as_ref().unwrap_or(&Value::Null);
                let _ = writeln!(
                    out,
                    "      {:width$} = {}",
                    diff.attribute,
                    render_value(value, 6)
                );
            }
        }
        Action::Update | Action::Replace => {
            for diff in &change.diffs {
                write_diff(
                    out,
                    &diff.attribute,
                    diff.before.as_ref(),
                    diff.after.as_ref(),
                );
            }
        }
        Action::Delete | Action::NoOp => {}
    }
}

/// Writes `attribute: before → after`; inside maps only the keys that differ.
fn write_diff(out: &mut String, path: &str, before: Option<&Value>, after: Option<&Value>) {
    if let (Some(Value::Map(before)), Some(Value::Map(after))) = (before, after) {
        let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        for key in keys {
            let (b, a) = (before.get(key), after.get(key));
            if b != a {
                write_diff(out, &format!("{path}{}", map_key_path(key)), b, a);
            }
        }
        return;
    }
    let show =
        |value: Option<&Value>| value.map_or_else(|| "(absent)".to_owned(), |v| render_value(v, 6));
    let _ = writeln!(out, "      {path}: {} → {}", show(before), show(after));
}

fn map_key_path(key: &str) -> String {
    if is_bare(key) {
        format!(".{key}")
    } else {
        format!("[{}]", quote(key))
    }
}

fn is_bare(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn quote(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

/// Renders a value over as many lines as it needs; continuation lines are indented by
/// `indent` spaces.
fn render_value(value: &Value, indent: usize) -> String {
    let pad = " ".repeat(indent);
    match value {
        Value::Str(s) if s.contains('\n') => {
            let mut text = String::from("<<EOT\n");
            for line in s.lines() {
                let _ = writeln!(text, "{pad}  {line}");
            }
            let _ = write!(text, "{pad}EOT");
            text
        }
        Value::List(items) if items.is_empty() => "[]".to_owned(),
        Value::List(items) => {
            let inline = value.to_string();
            if inline.len() <= INLINE_WIDTH && items.iter().all(is_scalar) {
                return inline;
            }
            let mut text = String::from("[\n");
            for item in items {
                let _ = writeln!(text, "{pad}  {},", render_value(item, indent + 2));
            }
            let _ = write!(text, "{pad}]");
            text
        }
        Value::Map(map) if map.is_empty() => "{}".to_owned(),
        Value::Map(map) => {
            let keys: Vec<String> = map
                .keys()
                .map(|k| if is_bare(k) { k.clone() } else { quote(k) })
                .collect();
            let width = keys.iter().map(String::len).max().unwrap_or(0);
            let mut text = String::from("{\n");
            for (key, value) in keys.iter().zip(map.values()) {
                let _ = writeln!(
                    text,
                    "{pad}  {key:width$} = {}",
                    render_value(value, indent + 2)
                );
            }
            let _ = write!(text, "{pad}}}");
            text
        }
        // Scalars, references, secrets and sensitive values: the masked one-line form.
        other => other.to_string(),
    }
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::List(_) | Value::Map(_))
        && !matches!(value, Value::Str(s) if s.contains('\n'))
}

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, text: &str, style: Style) -> String {
        if self.color {
            text.style(style).to_string()
        } else {
            text.to_owned()
        }
    }

    fn bold(&self, text: &str) -> String {
        self.paint(text, Style::new().bold())
    }

    fn conflict(&self, text: &str) -> String {
        self.paint(text, Style::new().red().bold())
    }

    fn action(&self, action: Action, text: &str) -> String {
        let style = match action {
            Action::Create => Style::new().green(),
            Action::Update => Style::new().yellow(),
            Action::Replace => Style::new().magenta(),
            Action::Delete => Style::new().red(),
            Action::NoOp => Style::new().dimmed(),
        };
        self.paint(text, style)
    }
}
