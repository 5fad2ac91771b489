//! Alert notifications (Alertmanager, Grafana Alerting) as declarations: which
//! group they belong to, their severity and component, the text the bug lists them
//! with, and what changed between two notifications of one group.
//!
//! Purpose: the pure half of the alert channel — no I/O, so each rule is tested
//! alone; `service::alerts` does the orchestration. Alert text comes from whoever
//! can reach Alertmanager: every value is cut to a bound, put on one line, and
//! sanitised (the view sanitises the summary again as declarer text), and at most
//! [`LISTED_ALERTS`] alerts are listed.

pub mod payload;

use sha2::{Digest, Sha256};

pub use payload::{Alert, Labels, Notification};

use crate::incident::config::GroupBy;
use crate::incident::model::declaration::{Declaration, DeclaredVia, MAX_TITLE};
use crate::incident::model::severity::{Severity, SeverityAliases};
use crate::incident::runbook::Runbook;
use crate::incident::text::sanitize::sanitize_inline;

/// The inbox event name of an alert notification.
pub const EVENT: &str = "alertmanager";
/// The most alerts of one notification Responder reads (Alertmanager's own
/// `max_alerts` is unlimited by default); the rest are counted, not read.
pub const MAX_ALERTS: usize = 1000;
/// The most alerts the bug and a change comment list.
pub const LISTED_ALERTS: usize = 20;
/// The most labels listed per alert.
const LISTED_LABELS: usize = 20;
/// Severity when the `severity` label is missing or unknown: it is still an outage.
pub const DEFAULT_SEVERITY: Severity = Severity::Sev2;

/// The stored delivery: the notification, where it goes and who sent it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AlertDelivery {
    /// The repository the notification was routed to (CONTRACT.md, Alerts).
    pub repo: String,
    /// The agent token's subject.
    pub sender: String,
    /// The repositories the token granted (`owner/name`, `owner/*`): a runbook's
    /// `target_repo` must be one of them, as for `POST /v1/incidents`. Absent in
    /// notifications stored before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<String>>,
    pub notification: Notification,
}

impl AlertDelivery {
    /// Whether the token that sent it reaches `repo` (true when not recorded).
    pub fn token_reaches(&self, repo: &crate::types::RepoName) -> bool {
        let Some(grants) = &self.grants else {
            return true;
        };
        grants
            .iter()
            .any(|g| crate::agent_token::Grant::parse(g).is_ok_and(|g| g.allows(repo)))
    }
}

/// A delivery id for the inbox from what makes the notification what it is (the
/// repository, group, status and each alert's fingerprint, status and times), so
/// Alertmanager's retries, and the same notification from two clustered
/// replicas, are one delivery.
pub fn delivery_id(repo: &str, n: &Notification) -> String {
    let mut h = Sha256::new();
    for part in [repo, n.group().as_str(), n.status.as_str()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let mut alerts: Vec<String> = n
        .alerts
        .iter()
        .map(|a| format!("{}\0{}\0{}\0{}", a.key(), a.status, a.starts_at, a.ends_at))
        .collect();
    alerts.sort();
    for a in alerts {
        h.update(a.as_bytes());
        h.update([1]);
    }
    format!("alert-{}", hex::encode(&h.finalize()[..16]))
}

/// The groups a notification speaks for, each with its own notification: the whole
/// notification under its group key, or one per alert by fingerprint.
pub fn groups(n: &Notification, by: GroupBy) -> Vec<(String, Notification)> {
    match by {
        GroupBy::Group => vec![(cut(&n.group(), 500), n.clone())],
        GroupBy::Fingerprint => n
            .alerts
            .iter()
            .map(|a| {
                let mut one = n.clone();
                one.alerts = vec![a.clone()];
                one.status = a.status.clone();
                one.common_labels = a.labels.clone();
                one.common_annotations = a.annotations.clone();
                (format!("fingerprint:{}", a.key()), one)
            })
            .collect(),
    }
}

/// The fingerprints of the alerts firing now, sorted, without repeats.
pub fn firing(n: &Notification) -> Vec<String> {
    let mut f: Vec<String> = n
        .alerts
        .iter()
        .filter(|a| a.is_firing())
        .map(Alert::key)
        .collect();
    f.sort();
    f.dedup();
    f
}

/// The alert spellings on top of the usual ones, then the usual ones; a problem to
/// note in the bug when the label is missing or unknown.
pub fn severity(n: &Notification, aliases: &SeverityAliases) -> (Severity, Option<String>) {
    let Some(label) = n.label("severity") else {
        return (
            DEFAULT_SEVERITY,
            Some(format!(
                "the alerts carry no `severity` label; declared as {DEFAULT_SEVERITY}"
            )),
        );
    };
    let alert_word = match label.to_ascii_lowercase().as_str() {
        "critical" => Some(Severity::Sev1),
        "error" | "high" => Some(Severity::Sev2),
        "warning" | "medium" => Some(Severity::Sev3),
        "low" => Some(Severity::Sev4),
        "info" => Some(Severity::Sev5),
        _ => None,
    };
    match alert_word
        .map(Ok)
        .unwrap_or_else(|| Severity::parse(label, aliases))
    {
        Ok(s) => (s, None),
        Err(_) => (
            DEFAULT_SEVERITY,
            Some(format!(
                "the `severity` label `{}` is not a known severity; declared as {DEFAULT_SEVERITY}",
                code(label, 60)
            )),
        ),
    }
}

/// The runbook's component named by the `component` label; a problem to note when
/// the runbook has no such component.
pub fn component(n: &Notification, runbook: &Runbook) -> (Option<String>, Option<String>) {
    match n.label("component") {
        None => (None, None),
        Some(c) => match runbook.resolve_component(c) {
            Ok(key) => (Some(key), None),
            Err(e) => (
                None,
                Some(format!(
                    "the `component` label `{}` is not a component of the runbook ({}); declared without one",
                    code(c, 60),
                    sanitize_inline(&cut(&e.to_string(), 300)),
                )),
            ),
        },
    }
}

/// The declaration of a group's first firing notification.
pub fn declaration(n: &Notification, runbook: &Runbook, aliases: &SeverityAliases) -> Declaration {
    let (severity, severity_problem) = severity(n, aliases);
    let (component, component_problem) = component(n, runbook);
    let problems: Vec<String> = [severity_problem, component_problem]
        .into_iter()
        .flatten()
        .collect();
    let started_at = n
        .alerts
        .iter()
        .filter_map(|a| chrono::DateTime::parse_from_rfc3339(&a.starts_at).ok())
        .filter(|t| t.timestamp() > 0)
        .min()
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        });
    Declaration {
        title: title(n),
        severity,
        component,
        summary: summary(n, &problems),
        impact: None,
        started_at,
        links: links(n),
        via: DeclaredVia::Alert,
        dedup_key: None,
    }
}

/// `alertname: summary`, or Grafana's title, on one line and within the title limit.
fn title(n: &Notification) -> String {
    let name = n
        .label("alertname")
        .or(n.title.as_deref())
        .unwrap_or("Alert");
    let text = match n
        .common_annotations
        .get("summary")
        .filter(|s| !s.trim().is_empty())
    {
        Some(s) => format!("{name}: {s}"),
        None => name.to_string(),
    };
    cut(&sanitize_inline(&text), MAX_TITLE.min(120))
}

/// The bug's account of the group: where it came from, any problem with its labels,
/// and each alert (capped at [`LISTED_ALERTS`]).
fn summary(n: &Notification, problems: &[String]) -> String {
    let firing = n.alerts.iter().filter(|a| a.is_firing()).count();
    let mut s = format!(
        "Declared from an alert group: `{}` (receiver `{}`), {firing} firing, {} resolved.\n",
        code(&n.group(), 200),
        code(&n.receiver, 80),
        n.alerts.len() - firing,
    );
    if let Some(m) = n.message.as_deref().filter(|m| !m.trim().is_empty()) {
        s.push_str(&format!("\n> {}\n", cut(&sanitize_inline(m), 500)));
    }
    for p in problems {
        s.push_str(&format!("\n**Note:** {p}.\n"));
    }
    s.push_str("\n**Alerts**\n\n");
    s.push_str(&list(
        &n.alerts.iter().collect::<Vec<_>>(),
        n.truncated_alerts,
    ));
    s
}

/// A list of alerts with their labels, summary and description, start and links.
pub fn list(alerts: &[&Alert], truncated: u64) -> String {
    let mut s = String::new();
    for a in alerts.iter().take(LISTED_ALERTS) {
        let name = a
            .labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("alert");
        s.push_str(&format!(
            "- **{}** ({}, since {})",
            cut(&sanitize_inline(name), 100),
            code(&a.status, 20),
            code(&a.starts_at, 40)
        ));
        if let Some(v) = a.value_string.as_deref().filter(|v| !v.is_empty()) {
            s.push_str(&format!(" — value `{}`", code(v, 200)));
        }
        s.push('\n');
        for key in ["summary", "description"] {
            if let Some(v) = a.annotations.get(key).filter(|v| !v.trim().is_empty()) {
                s.push_str(&format!("  - {key}: {}\n", cut(&sanitize_inline(v), 500)));
            }
        }
        let labels: Vec<String> = a
            .labels
            .iter()
            .take(LISTED_LABELS)
            .map(|(k, v)| format!("`{}={}`", code(k, 60), code(v, 120)))
            .collect();
        if !labels.is_empty() {
            s.push_str(&format!("  - labels: {}\n", labels.join(" ")));
        }
        let mut urls = vec![("source", a.generator_url.as_str())];
        urls.extend(a.dashboard_url.as_deref().map(|u| ("dashboard", u)));
        urls.extend(a.panel_url.as_deref().map(|u| ("panel", u)));
        urls.extend(a.silence_url.as_deref().map(|u| ("silence", u)));
        let urls: Vec<String> = urls
            .into_iter()
            .filter_map(|(what, u)| link(u).map(|l| format!("[{what}]({l})")))
            .collect();
        if !urls.is_empty() {
            s.push_str(&format!("  - {}\n", urls.join(" · ")));
        }
    }
    let hidden = (alerts.len().saturating_sub(LISTED_ALERTS)) as u64 + truncated;
    if hidden > 0 {
        s.push_str(&format!("- …and {hidden} more\n"));
    }
    s
}

/// The Alertmanager's (or Grafana's) address, for the links field.
fn links(n: &Notification) -> Option<String> {
    link(&n.external_url).map(|u| format!("Alertmanager: {u}"))
}

/// What joined and what left the firing set, for the timeline and the comment.
pub fn change_text(before: &[String], now: &[String], n: &Notification) -> String {
    let joined: Vec<&Alert> = n
        .alerts
        .iter()
        .filter(|a| a.is_firing() && !before.contains(&a.key()))
        .collect();
    let left: Vec<&String> = before.iter().filter(|f| !now.contains(f)).collect();
    let mut s = format!(
        "Firing alerts changed: {} joined, {} left.\n",
        joined.len(),
        left.len()
    );
    if !joined.is_empty() {
        s.push_str("\n**Joined**\n\n");
        s.push_str(&list(&joined, 0));
    }
    if !left.is_empty() {
        s.push_str("\n**Left** (fingerprints)\n\n");
        for f in left.iter().take(LISTED_ALERTS) {
            s.push_str(&format!("- `{}`\n", code(f, 64)));
        }
        if left.len() > LISTED_ALERTS {
            s.push_str(&format!("- …and {} more\n", left.len() - LISTED_ALERTS));
        }
    }
    s
}

/// An http(s) address safe inside a markdown link, or nothing.
fn link(url: &str) -> Option<String> {
    let u = url.trim();
    let ok = (u.starts_with("https://") || u.starts_with("http://"))
        && u.len() <= 1000
        && !u.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '(' | ')' | '<' | '>' | '[' | ']' | '`')
        });
    ok.then(|| u.to_string())
}

/// Text for inside backticks: one line, no backticks, at most `max` characters.
pub fn code(text: &str, max: usize) -> String {
    let one: String = text
        .chars()
        .map(|c| {
            if c == '`' {
                '\''
            } else if c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    cut(&one, max)
}

/// At most `max` characters, `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests;
