//! A plan for a pull-request comment (`plan --markdown FILE`): the summary line, then
//! conflicts and the warnings a reviewer must not miss (replacements, reboots), then a
//! table per component with each change's text form folded in `<details>`.
//!
//! Values print through the text form, so secrets are masked as everywhere. The comment
//! stays under what GitHub accepts (65,536 characters, "Body is too long (maximum is
//! 65536 characters)" from the REST API's create-an-issue-comment endpoint, which pull
//! requests share): when the whole plan does not fit, folds go first, then table rows,
//! and a note says what was cut.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::render::{change_text, is_shown, target};
use super::{Action, Change, Operation, Plan};
use crate::stack::Component;

/// The size of the largest GitHub comment body.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// How the Markdown form is cut.
#[derive(Debug, Clone, Copy)]
pub struct MarkdownOptions {
    /// The largest output, counted in UTF-8 bytes: never fewer than characters, so the
    /// output fits whichever way a host counts.
    pub max_bytes: usize,
}

impl Default for MarkdownOptions {
    fn default() -> Self {
        Self {
            max_bytes: GITHUB_COMMENT_LIMIT,
        }
    }
}

/// The marker a CI job finds its earlier comment by, to update it instead of adding one.
pub const MARKER: &str = "<!-- bpa-infra plan -->";

/// What the note about a cut comment may take, kept free while fitting the rest.
const NOTE_RESERVE: usize = 512;

/// Renders the plan as GitHub-flavoured Markdown of at most `options.max_bytes` bytes.
pub fn render_markdown(plan: &Plan, options: &MarkdownOptions) -> String {
    let sections = Sections::of(plan);
    let whole = sections.assemble(&Fit::all(&sections));
    if whole.len() <= options.max_bytes {
        return whole;
    }
    let fit = Fit::within(&sections, options.max_bytes.saturating_sub(NOTE_RESERVE));
    let mut text = sections.assemble(&fit);
    let _ = write!(
        text,
        "\n> [!NOTE]\n> This plan was cut to fit a GitHub comment ({} characters at most): {}. \
         The whole plan: `bpa-infra plan` (text) or `bpa-infra plan --output json`.\n",
        GITHUB_COMMENT_LIMIT,
        fit.what_was_cut(&sections)
    );
    text
}

/// A title and its items, of which a prefix is kept when space is short.
struct List {
    head: String,
    items: Vec<String>,
    /// The line that replaces the items left out; `{}` is their number.
    more: &'static str,
}

impl List {
    /// Returns the head and the first `kept` items (and the "more" line if some are
    /// left out), or nothing when `kept` is `None`.
    fn render(&self, kept: Option<usize>) -> String {
        let Some(kept) = kept else {
            return String::new();
        };
        let mut text = self.head.clone();
        for item in &self.items[..kept] {
            text.push_str(item);
        }
        if kept < self.items.len() {
            text.push_str(
                &self
                    .more
                    .replace("{}", &(self.items.len() - kept).to_string()),
            );
        }
        text.push('\n');
        text
    }

    /// Returns how many items fit in `available` bytes, or `None` if not even the head
    /// and the "more" line do.
    fn fit(&self, available: usize) -> Option<usize> {
        let full = self.render(Some(self.items.len())).len();
        if full <= available {
            return Some(self.items.len());
        }
        let more = self.more.len() + 8;
        let mut used = self.head.len() + more + 1;
        if used > available {
            return None;
        }
        let mut kept = 0;
        for item in &self.items {
            if used + item.len() > available {
                break;
            }
            used += item.len();
            kept += 1;
        }
        Some(kept)
    }
}

/// The parts of the comment, in the order they are written.
struct Sections {
    head: String,
    conflicts: Option<List>,
    warnings: Option<List>,
    /// Per component: its table and its folded details.
    components: Vec<(List, String)>,
}

/// Which parts are kept: items per list (`None`: left out), and folds kept.
struct Fit {
    conflicts: Option<usize>,
    warnings: Option<usize>,
    tables: Vec<Option<usize>>,
    details: Vec<bool>,
}

impl Fit {
    fn all(sections: &Sections) -> Self {
        Self {
            conflicts: sections.conflicts.as_ref().map(|l| l.items.len()),
            warnings: sections.warnings.as_ref().map(|l| l.items.len()),
            tables: sections
                .components
                .iter()
                .map(|(t, _)| Some(t.items.len()))
                .collect(),
            details: vec![true; sections.components.len()],
        }
    }

    /// Fills `budget` bytes in order of importance: conflicts, warnings, every table,
    /// then the folds, component by component while they fit.
    fn within(sections: &Sections, budget: usize) -> Self {
        let mut left = budget.saturating_sub(sections.head.len());
        let take = |list: &List, left: &mut usize| {
            let kept = list.fit(*left);
            *left = left.saturating_sub(list.render(kept).len());
            kept
        };
        let conflicts = sections.conflicts.as_ref().and_then(|l| take(l, &mut left));
        let warnings = sections.warnings.as_ref().and_then(|l| take(l, &mut left));
        let tables: Vec<Option<usize>> = sections
            .components
            .iter()
            .map(|(table, _)| take(table, &mut left))
            .collect();
        let mut details = Vec::with_capacity(tables.len());
        let mut fits = true;
        for ((_, fold), kept) in sections.components.iter().zip(&tables) {
            fits = fits && kept.is_some() && fold.len() <= left;
            if fits {
                left -= fold.len();
            }
            details.push(fits);
        }
        Self {
            conflicts,
            warnings,
            tables,
            details,
        }
    }

    /// Says what is missing, e.g. `the details of 3 components and 12 table rows left out`.
    fn what_was_cut(&self, sections: &Sections) -> String {
        let folds = self.details.iter().filter(|kept| !**kept).count();
        let rows: usize = sections
            .components
            .iter()
            .zip(&self.tables)
            .map(|((table, _), kept)| table.items.len() - kept.unwrap_or(0))
            .sum();
        let items = |list: &Option<List>, kept: Option<usize>| {
            list.as_ref()
                .map_or(0, |l| l.items.len() - kept.unwrap_or(0))
        };
        let mut parts = vec![format!("the details of {folds} component(s)")];
        if rows > 0 {
            parts.push(format!("{rows} table row(s)"));
        }
        let warnings = items(&sections.warnings, self.warnings);
        if warnings > 0 {
            parts.push(format!("{warnings} warning(s)"));
        }
        let conflicts = items(&sections.conflicts, self.conflicts);
        if conflicts > 0 {
            parts.push(format!("{conflicts} conflict(s)"));
        }
        format!("{} left out", parts.join(", "))
    }
}

impl Sections {
    fn of(plan: &Plan) -> Self {
        let verb = match plan.operation {
            Operation::Apply => "apply",
            Operation::Destroy => "destroy",
        };
        let shown: Vec<&Change> = plan.changes.iter().filter(|c| is_shown(plan, c)).collect();
        let mut head = format!(
            "{MARKER}\n### bpa-infra: plan to {verb} profile `{}`{}\n\n**{}**",
            cell(&plan.profile),
            cell(&target(plan)),
            plan.summary()
        );
        if let Some(eta) = plan.eta_sentence() {
            let _ = write!(head, " · {}", cell(&eta));
        }
        head.push_str("\n\n");
        if shown.is_empty() {
            head.push_str(match plan.operation {
                Operation::Apply => "No changes: the cloud matches the profile.\n\n",
                Operation::Destroy => "Nothing to delete: the profile owns no resource.\n\n",
            });
        }

        let conflicts = (!plan.conflicts.is_empty()).then(|| List {
            head: format!(
                "> [!CAUTION]\n> **{} conflict(s): nothing is applied until they are resolved**\n",
                plan.conflicts.len()
            ),
            items: plan
                .conflicts
                .iter()
                .map(|c| format!("> - `{}`: {}\n", c.address, text(&c.reason)))
                .collect(),
            more: "> - … and {} more\n",
        });

        let warned: Vec<String> = shown
            .iter()
            .filter_map(|c| {
                let what = match c.action {
                    Action::Replace => "is **replaced**: deleted, then created again",
                    Action::Update if c.needs_reboot => {
                        "is updated; the change takes effect **after a reboot**"
                    }
                    _ => return None,
                };
                let why = c
                    .reason
                    .as_deref()
                    .map_or_else(String::new, |r| format!(" ({})", text(r)));
                Some(format!("> - `{}` ({}) {what}{why}\n", c.address, c.kind))
            })
            .collect();
        let warnings = (!warned.is_empty()).then(|| List {
            head: "> [!WARNING]\n> **Replacements and reboots**\n".to_owned(),
            items: warned,
            more: "> - … and {} more\n",
        });

        let components: BTreeSet<Component> = shown.iter().map(|c| c.address.component()).collect();
        let components = components
            .into_iter()
            .map(|component| {
                let changes: Vec<&Change> = shown
                    .iter()
                    .copied()
                    .filter(|c| c.address.component() == component)
                    .collect();
                (table(component, &changes), details(component, &changes))
            })
            .collect();
        Self {
            head,
            conflicts,
            warnings,
            components,
        }
    }

    fn assemble(&self, fit: &Fit) -> String {
        let mut text = self.head.clone();
        if let Some(list) = &self.conflicts {
            text.push_str(&list.render(fit.conflicts));
        }
        if let Some(list) = &self.warnings {
            text.push_str(&list.render(fit.warnings));
        }
        for (((table, fold), kept), folded) in
            self.components.iter().zip(&fit.tables).zip(&fit.details)
        {
            text.push_str(&table.render(*kept));
            if *folded {
                text.push_str(fold);
            }
        }
        text
    }
}

fn table(component: Component, changes: &[&Change]) -> List {
    List {
        head: format!(
            "#### {}\n\n| Resource | Action | What changes |\n|---|---|---|\n",
            component.as_str()
        ),
        items: changes
            .iter()
            .map(|c| {
                format!(
                    "| `{}` ({}) | {} | {} |\n",
                    c.address,
                    c.kind,
                    action(c),
                    cell(&what_changes(c))
                )
            })
            .collect(),
        more: "| … | | {} more change(s) not shown |\n",
    }
}

fn action(change: &Change) -> &'static str {
    match change.action {
        Action::Create => "create",
        Action::Update if change.needs_reboot => "update, **reboot**",
        Action::Update => "update",
        Action::Replace => "**replace**",
        Action::Delete => "delete",
        Action::NoOp => "none",
    }
}

/// Names the attributes a change sets or changes, and why it happens.
fn what_changes(change: &Change) -> String {
    let attributes: Vec<&str> = change.diffs.iter().map(|d| d.attribute.as_str()).collect();
    let mut text = match change.action {
        Action::Create => format!("new, {} attribute(s)", attributes.len()),
        // A replacement's reason names the attributes that force it.
        Action::Replace if change.reason.is_some() => String::new(),
        Action::Update | Action::Replace => attributes.join(", "),
        Action::Delete | Action::NoOp => String::new(),
    };
    if let Some(reason) = &change.reason {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(reason);
    }
    if text.is_empty() {
        text.push('—');
    }
    text
}

/// The text form of a component's changes, folded.
fn details(component: Component, changes: &[&Change]) -> String {
    let body: String = changes.iter().map(|c| change_text(c)).collect();
    let fence = "`".repeat(longest_backtick_run(&body).max(2) + 1);
    format!(
        "<details><summary>Details of {} ({} change(s))</summary>\n\n{fence}text\n{body}{fence}\n\n</details>\n\n",
        component.as_str(),
        changes.len()
    )
}

fn longest_backtick_run(text: &str) -> usize {
    let (mut longest, mut run) = (0, 0);
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// Makes text safe in Markdown prose: no raw HTML.
fn text(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Makes text safe in a table cell: no raw HTML, no column break, one line.
fn cell(value: &str) -> String {
    text(value).replace('|', "\\|").replace(['\n', '\r'], " ")
}
