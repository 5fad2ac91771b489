//! What the incident templates see: the view of one incident, and issue titles.
//!
//! Purpose: one serialisable [`IncidentView`] built from a declaration and the
//! runbook, with the sanitising of declarer text in one place, plus the titles
//! and due date that go with it. Must never render or post anything.

use serde::{Deserialize, Serialize};

use crate::incident::model::severity::Severity;
use crate::incident::runbook::{DiagCommand, Runbook};
use crate::incident::text::sanitize::{sanitize_inline, sanitize_user_text};

/// Everything the templates may use. Text fields hold the raw input: the renderer
/// sanitises declarer text itself, so a caller cannot forget to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentView {
    pub id: u64,
    /// `owner/repo` the incident belongs to.
    pub repo: String,
    pub title: String,
    pub severity: SeverityView,
    /// `YYYY-MM-DD`, from [`rca_due_date`].
    pub rca_due: String,
    pub component: Option<ComponentView>,
    pub summary: String,
    pub impact: Option<String>,
    pub started_at: Option<String>,
    pub links: Option<String>,
    /// The GitHub login (or agent token subject) that declared it.
    pub declared_by: String,
    /// `issue form`, `comment command` or `API`.
    pub declared_via: String,
    /// When it was declared, e.g. `2026-11-28 14:05 UTC`.
    pub declared_at: String,
    pub source_issue: Option<IssueRef>,
    pub bug_issue: Option<IssueRef>,
    pub rca_issue: Option<IssueRef>,
    /// The app's hidden marker, e.g. `<!-- responder:incident=12 kind=bug -->`.
    /// Always the first line of the body; never sanitised.
    pub marker: String,
    /// For comments: `declared` (default), `severity`, `resolved`, `reopened`.
    pub event: String,
    /// Declarer text attached to the event (a resolve note, a severity reason).
    pub note: Option<String>,
    /// How it was detected and how long after it started, for the RCA's Detection.
    #[serde(default)]
    pub detection: String,
    /// The incident commander's login, once there is one.
    #[serde(default)]
    pub commander: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueRef {
    pub number: u64,
    pub url: String,
}

/// The runbook's entry for one severity, flattened for templates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeverityView {
    /// `SEV2`
    pub id: String,
    /// `sev2`
    pub label: String,
    pub name: String,
    pub meaning: String,
    pub response_time: String,
    pub page: Vec<String>,
    pub checklist: Vec<String>,
    pub rca_due_days: u32,
}

/// The runbook's entry for one component, flattened for templates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentView {
    pub key: String,
    pub name: String,
    pub description: String,
    pub questions: Vec<String>,
    pub commands: Vec<DiagCommand>,
}

impl SeverityView {
    pub fn new(runbook: &Runbook, s: Severity) -> SeverityView {
        let l = runbook.severity(s);
        SeverityView {
            id: s.as_str().to_string(),
            label: s.label().to_string(),
            name: l.name.clone(),
            meaning: l.meaning.clone(),
            response_time: l.response_time.clone(),
            page: l.page.clone(),
            checklist: l.checklist.clone(),
            rca_due_days: l.rca_due_days,
        }
    }
}

impl ComponentView {
    /// `None` when the runbook has no such component.
    pub fn new(runbook: &Runbook, key: &str) -> Option<ComponentView> {
        let c = runbook.component(key)?;
        Some(ComponentView {
            key: crate::incident::model::severity::normalize_key(key),
            name: c.name.clone(),
            description: c.description.clone(),
            questions: c.questions.clone(),
            commands: c.commands.clone(),
        })
    }
}

/// The RCA due date: declaration date plus the severity's `rca_due_days`.
pub fn rca_due_date(declared: chrono::NaiveDate, runbook: &Runbook, s: Severity) -> String {
    let days = u64::from(runbook.severity(s).rca_due_days);
    // `Runbook::validate` bounds the days; saturate anyway rather than panic on a
    // runbook built some other way.
    declared
        .checked_add_days(chrono::Days::new(days))
        .unwrap_or(chrono::NaiveDate::MAX)
        .format("%Y-%m-%d")
        .to_string()
}

/// `[SEV2] <title>`: the bug issue's title (one line, at most 256 characters).
pub fn bug_title(s: Severity, title: &str) -> String {
    issue_title(&format!("[{s}] "), title)
}

/// `[SEV2] RCA: <title>`: the RCA issue's title.
pub fn rca_title(s: Severity, title: &str) -> String {
    issue_title(&format!("[{s}] RCA: "), title)
}

fn issue_title(prefix: &str, title: &str) -> String {
    let t = sanitize_inline(title);
    let room = 256 - prefix.chars().count();
    if t.chars().count() <= room {
        format!("{prefix}{t}")
    } else {
        let cut: String = t.chars().take(room - 1).collect();
        format!("{prefix}{cut}…")
    }
}

impl IncidentView {
    /// A complete view with made-up data, for `responder check` and tests.
    pub fn sample(runbook: &Runbook) -> IncidentView {
        let s = Severity::Sev2;
        let component = runbook.components.keys().next().cloned();
        IncidentView {
            id: 42,
            repo: "acme/evals".into(),
            title: "Agent pods crash-loop after deploy".into(),
            severity: SeverityView::new(runbook, s),
            rca_due: rca_due_date(
                chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or_default(),
                runbook,
                s,
            ),
            component: component.and_then(|k| ComponentView::new(runbook, &k)),
            summary: "Agent pods are OOMKilled since the 14:00 deploy.".into(),
            impact: Some("All evaluations queued since 14:00 are waiting.".into()),
            started_at: Some("2026-01-05 14:05 UTC".into()),
            links: Some("- https://example.com/dashboard".into()),
            declared_by: "octocat".into(),
            declared_via: "issue form".into(),
            declared_at: "2026-01-05 14:20 UTC".into(),
            source_issue: Some(IssueRef {
                number: 7,
                url: "https://github.com/acme/evals/issues/7".into(),
            }),
            bug_issue: Some(IssueRef {
                number: 8,
                url: "https://github.com/acme/evals/issues/8".into(),
            }),
            rca_issue: Some(IssueRef {
                number: 9,
                url: "https://github.com/acme/evals/issues/9".into(),
            }),
            marker: "<!-- responder:incident=42 kind=bug -->".into(),
            event: "declared".into(),
            note: None,
            detection: "Declared through the issue form by octocat, 15m after it started (2026-01-05 14:05 UTC).".into(),
            commander: None,
        }
    }

    /// Declarer text sanitised; runbook text (trusted, from the default branch, and
    /// holding commands that must stay copy-pasteable) is left as written.
    pub(crate) fn sanitized(&self) -> IncidentView {
        let opt = |o: &Option<String>| o.as_deref().map(sanitize_user_text);
        IncidentView {
            title: bounded(sanitize_inline(&self.title), 256),
            summary: sanitize_user_text(&self.summary),
            impact: opt(&self.impact),
            started_at: self
                .started_at
                .as_deref()
                .map(|t| bounded(sanitize_inline(t), 200)),
            links: opt(&self.links),
            declared_by: bounded(sanitize_inline(&self.declared_by), 100),
            declared_via: bounded(sanitize_inline(&self.declared_via), 100),
            declared_at: bounded(sanitize_inline(&self.declared_at), 100),
            detection: bounded(sanitize_inline(&self.detection), 300),
            commander: self
                .commander
                .as_deref()
                .map(|c| bounded(sanitize_inline(c), 40)),
            note: opt(&self.note),
            ..self.clone()
        }
    }
}

/// One-line fields have no business being long: cut them without ceremony.
fn bounded(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        s
    } else {
        s.chars().take(max - 1).collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_prefixed_one_line_and_bounded() {
        assert_eq!(bug_title(Severity::Sev2, "Pods\ndown"), "[SEV2] Pods down");
        assert_eq!(
            rca_title(Severity::Sev2, "Pods down"),
            "[SEV2] RCA: Pods down"
        );
        assert_eq!(
            bug_title(Severity::Sev1, &"y".repeat(500)).chars().count(),
            256
        );
    }

    #[test]
    fn rca_due_date_adds_the_severity_days() {
        let rb = Runbook::builtin();
        let d = chrono::NaiveDate::from_ymd_opt(2026, 12, 30).unwrap();
        assert_eq!(rca_due_date(d, &rb, Severity::Sev1), "2027-01-01");
    }

    #[test]
    fn an_absurd_due_date_saturates_instead_of_panicking() {
        let mut rb = Runbook::builtin();
        rb.severities.get_mut(&Severity::Sev1).unwrap().rca_due_days = u32::MAX;
        let d = chrono::NaiveDate::from_ymd_opt(2026, 12, 30).unwrap();
        assert_eq!(
            rca_due_date(d, &rb, Severity::Sev1),
            chrono::NaiveDate::MAX.format("%Y-%m-%d").to_string()
        );
    }
}
