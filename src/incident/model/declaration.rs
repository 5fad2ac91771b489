//! One declaration, whichever way it arrived: issue form, comment command or API.
//!
//! Purpose: the three entry points end in the same [`Declaration`], with severity
//! and component already normalised and checked against the runbook, so the
//! incident record never holds two spellings. Also builds the [`IncidentView`]
//! the templates render. Must never create issues, store records or check who
//! is asking: orchestration does that with what this returns.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::incident::model::severity::{Severity, SeverityAliases};
use crate::incident::render::view::{
    ComponentView, IncidentView, IssueRef, SeverityView, rca_due_date,
};
use crate::incident::runbook::Runbook;
use crate::incident::text::form::{FormDeclaration, title_from_issue_title};
use crate::types::RepoName;

/// The longest title accepted from any entry point.
pub const MAX_TITLE: usize = crate::incident::text::command::MAX_TITLE;
/// The longest `dedup_key` accepted from the API.
pub const MAX_DEDUP_KEY: usize = 200;

pub use crate::incident::model::DeclaredVia;

/// A valid declaration: the input to the incident record and its issues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    pub title: String,
    pub severity: Severity,
    /// A key of the runbook's components.
    pub component: Option<String>,
    pub summary: String,
    pub impact: Option<String>,
    pub started_at: Option<String>,
    pub links: Option<String>,
    pub via: DeclaredVia,
    /// From the API only: the same key never opens a second incident.
    pub dedup_key: Option<String>,
}

/// Why a declaration was refused; each message is safe to show the declarer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct DeclarationError(pub Vec<String>);

/// The `POST /v1/incidents` body (CONTRACT.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiDeclaration {
    pub repo: String,
    pub title: String,
    pub severity: String,
    #[serde(default)]
    pub component: Option<String>,
    /// Defaults to the title when absent or empty.
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub dedup_key: Option<String>,
}

impl Declaration {
    /// From a parsed incident form and the issue's title (`[Incident]: …`).
    pub fn from_form(
        form: FormDeclaration,
        issue_title: &str,
    ) -> Result<Declaration, DeclarationError> {
        let title = title_from_issue_title(issue_title);
        check_title(&title).map_err(|e| DeclarationError(vec![e]))?;
        Ok(Declaration {
            title,
            severity: form.severity,
            component: form.component,
            summary: form.summary,
            impact: form.impact,
            started_at: form.started_at,
            links: form.links,
            via: DeclaredVia::IssueForm,
            dedup_key: None,
        })
    }

    /// From `/incident declare`; `summary` is what the caller knows of the context
    /// (e.g. "Declared from a comment on #12: <issue title>").
    pub fn from_command(
        severity: Severity,
        title: &str,
        component: Option<&str>,
        summary: &str,
        runbook: &Runbook,
    ) -> Result<Declaration, DeclarationError> {
        let mut problems = Vec::new();
        if let Err(e) = check_title(title) {
            problems.push(e);
        }
        let component = match component.map(|c| runbook.resolve_component(c)) {
            None => None,
            Some(Ok(k)) => Some(k),
            Some(Err(e)) => {
                problems.push(e.to_string());
                None
            }
        };
        if !problems.is_empty() {
            return Err(DeclarationError(problems));
        }
        Ok(Declaration {
            title: title.trim().to_string(),
            severity,
            component,
            summary: summary.to_string(),
            impact: None,
            started_at: None,
            links: None,
            via: DeclaredVia::Command,
            dedup_key: None,
        })
    }

    /// From the agent API; every problem at once.
    pub fn from_api(
        req: &ApiDeclaration,
        runbook: &Runbook,
        aliases: &SeverityAliases,
    ) -> Result<(RepoName, Declaration), DeclarationError> {
        let mut problems = Vec::new();
        let repo = req
            .repo
            .parse::<RepoName>()
            .map_err(|e| problems.push(format!("repo: {e}")))
            .ok();
        if let Err(e) = check_title(&req.title) {
            problems.push(format!("title: {e}"));
        }
        let severity = Severity::parse(&req.severity, aliases)
            .map_err(|e| problems.push(format!("severity: {e}")))
            .ok();
        let component = match req.component.as_deref().filter(|c| !c.trim().is_empty()) {
            None => None,
            Some(c) => runbook
                .resolve_component(c)
                .map_err(|e| problems.push(format!("component: {e}")))
                .ok(),
        };
        let dedup_key = req
            .dedup_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty());
        if let Some(k) = dedup_key
            && (k.chars().count() > MAX_DEDUP_KEY || k.chars().any(char::is_control))
        {
            problems.push(format!(
                "dedup_key: at most {MAX_DEDUP_KEY} characters, without control characters"
            ));
        }
        match (repo, severity) {
            (Some(repo), Some(severity)) if problems.is_empty() => {
                let summary = if req.summary.trim().is_empty() {
                    req.title.trim().to_string()
                } else {
                    req.summary.clone()
                };
                Ok((
                    repo,
                    Declaration {
                        title: req.title.trim().to_string(),
                        severity,
                        component,
                        summary,
                        impact: None,
                        started_at: None,
                        links: None,
                        via: DeclaredVia::Api,
                        dedup_key: dedup_key.map(str::to_string),
                    },
                ))
            }
            _ => Err(DeclarationError(problems)),
        }
    }

    /// The view the templates render. `marker` is the hidden marker of the body
    /// being rendered; `bug`/`rca`/`source` are filled in as the issues exist.
    #[allow(clippy::too_many_arguments)]
    pub fn view(
        &self,
        id: u64,
        repo: &RepoName,
        runbook: &Runbook,
        declared_by: &str,
        declared_at: DateTime<Utc>,
        source: Option<IssueRef>,
        bug: Option<IssueRef>,
        rca: Option<IssueRef>,
        marker: &str,
    ) -> IncidentView {
        IncidentView {
            id,
            repo: repo.full(),
            title: self.title.clone(),
            severity: SeverityView::new(runbook, self.severity),
            rca_due: rca_due_date(declared_at.date_naive(), runbook, self.severity),
            component: self
                .component
                .as_deref()
                .and_then(|k| ComponentView::new(runbook, k)),
            summary: self.summary.clone(),
            impact: self.impact.clone(),
            started_at: self.started_at.clone(),
            links: self.links.clone(),
            declared_by: declared_by.to_string(),
            declared_via: self.via.describe().to_string(),
            declared_at: declared_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            source_issue: source,
            bug_issue: bug,
            rca_issue: rca,
            marker: marker.to_string(),
            event: "declared".to_string(),
            note: None,
            detection: self.detection(declared_by, declared_at),
            commander: None,
        }
    }

    /// How it was detected and how long after it started: the RCA's Detection line.
    fn detection(&self, declared_by: &str, declared_at: DateTime<Utc>) -> String {
        let mut s = format!(
            "Declared through the {} by {declared_by}",
            self.via.describe()
        );
        let started = self
            .started_at
            .as_deref()
            .and_then(|t| crate::incident::text::when::parse_started(t, declared_at));
        if let Some(t) = started {
            let mins = (declared_at - t).num_minutes().max(0);
            s.push_str(&format!(
                ", {} after it started ({})",
                match (mins / 60, mins % 60) {
                    (0, m) => format!("{m}m"),
                    (h, m) => format!("{h}h {m:02}m"),
                },
                t.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        s.push('.');
        s
    }
}

fn check_title(title: &str) -> Result<(), String> {
    let t = title.trim();
    if t.is_empty() {
        return Err("the title is empty: say in a few words what is broken".into());
    }
    let n = t.chars().count();
    if n > MAX_TITLE {
        return Err(format!(
            "the title is {n} characters long; keep it under {MAX_TITLE}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::text::command::{Command, parse_command};
    use crate::incident::text::form::parse_incident_form;

    fn rb() -> Runbook {
        Runbook::builtin()
    }

    #[test]
    fn the_three_entry_points_reach_the_same_declaration() {
        let rb = rb();
        let aliases = rb.aliases();
        let body = "### Severity\n\nSEV2 — Major: …\n\n### Component\n\nllm-api — LLM API upstream\n\n### Summary\n\nAgents get 429\n";
        let form = parse_incident_form(body, &rb, &aliases).unwrap();
        let a = Declaration::from_form(form, "[Incident]: LLM rate limited").unwrap();

        let Some(Command::Declare {
            severity,
            title,
            component,
        }) = parse_command(
            "/incident declare sev-2 LLM rate limited component=LLM_API",
            &aliases,
        )
        .unwrap()
        else {
            panic!("not a declare")
        };
        let b = Declaration::from_command(
            severity,
            &title,
            component.as_deref(),
            "Agents get 429",
            &rb,
        )
        .unwrap();

        let req: ApiDeclaration = serde_json::from_str(
            r#"{"repo":"Acme/Evals","title":"LLM rate limited","severity":"P2","component":"llm api","summary":"Agents get 429"}"#,
        )
        .unwrap();
        let (repo, c) = Declaration::from_api(&req, &rb, &aliases).unwrap();
        assert_eq!(repo.full(), "acme/evals");

        let strip = |d: &Declaration| Declaration {
            via: DeclaredVia::Api,
            ..d.clone()
        };
        assert_eq!(strip(&a), strip(&b));
        assert_eq!(strip(&b), c);
        assert_eq!(c.component.as_deref(), Some("llm-api"));
    }

    #[test]
    fn api_problems_are_all_reported() {
        let req: ApiDeclaration = serde_json::from_str(
            r#"{"repo":"nope","title":"","severity":"sev9","component":"kafka","dedup_key":"a\u0000b"}"#,
        )
        .unwrap();
        let e = Declaration::from_api(&req, &rb(), &SeverityAliases::default()).unwrap_err();
        let fields: Vec<_> =
            e.0.iter()
                .map(|p| p.split(':').next().unwrap().to_string())
                .collect();
        assert_eq!(
            fields,
            ["repo", "title", "severity", "component", "dedup_key"]
        );
        assert!(
            serde_json::from_str::<ApiDeclaration>(
                r#"{"repo":"a/b","title":"t","severity":"SEV1","sevirity":"x"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn unknown_component_in_a_command_is_refused() {
        let e =
            Declaration::from_command(Severity::Sev3, "x", Some("kafka"), "", &rb()).unwrap_err();
        assert!(e.to_string().contains("unknown component"));
    }

    #[test]
    fn the_view_carries_runbook_details_and_due_date() {
        let rb = rb();
        let d =
            Declaration::from_command(Severity::Sev1, "Results wrong", Some("database"), "s", &rb)
                .unwrap();
        let at = DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let repo: RepoName = "acme/evals".parse().unwrap();
        let v = d.view(
            3,
            &repo,
            &rb,
            "octocat",
            at,
            None,
            None,
            None,
            "<!-- responder:incident=3 kind=bug -->",
        );
        assert_eq!(v.rca_due, "2026-03-03");
        assert_eq!(v.declared_at, "2026-03-01 10:00 UTC");
        assert_eq!(v.component.unwrap().name, "PostgreSQL (Cloud SQL)");
        assert_eq!(v.severity.label, "sev1");
        assert_eq!(v.declared_via, "comment command");
    }
}
