//! The incident issue form, read back from the issue body GitHub renders.
//!
//! Purpose: turn the body of an issue opened from `.github/ISSUE_TEMPLATE/incident.yml`
//! (`### Label` headings, `_No response_`, `None`, `- [X]` checkboxes) into a
//! declaration, or into every problem at once, each phrased for the person who filled
//! in the form. Must never fetch anything or decide permissions.

use crate::incident::model::severity::{Severity, SeverityAliases, normalize_key};
use crate::incident::runbook::Runbook;
use crate::incident::text::sections::{self, answer};

/// The title prefix the incident form sets; stripped from issue titles.
pub const FORM_TITLE_PREFIX: &str = "[Incident]:";

/// What the form declares; text fields are the user's raw text (sanitised at render).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormDeclaration {
    pub severity: Severity,
    /// A runbook component key, or `None` for "not sure".
    pub component: Option<String>,
    pub summary: String,
    pub impact: Option<String>,
    pub started_at: Option<String>,
    pub links: Option<String>,
    /// The checked boxes of the Flags question, as labelled in the form.
    pub flags: Vec<String>,
}

/// One missing or invalid answer; `message` is safe to post on the issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormProblem {
    /// The form question: `Severity`, `Component`, `Summary`.
    pub field: &'static str,
    pub message: String,
}

/// Reads the form's answers. `aliases` are the runbook's and repository's extra
/// severity spellings; components must exist in `runbook`.
pub fn parse_incident_form(
    body: &str,
    runbook: &Runbook,
    aliases: &SeverityAliases,
) -> Result<FormDeclaration, Vec<FormProblem>> {
    let mut severity_text = None;
    let mut component_text = None;
    let mut summary = None;
    let mut impact = None;
    let mut started_at = None;
    let mut links = None;
    let mut flags = Vec::new();
    for s in sections::split(body) {
        match normalize_key(&s.heading).as_str() {
            "severity" => severity_text = answer(&s.content),
            "component" => component_text = answer(&s.content),
            "summary" => summary = answer(&s.content),
            "impact" => impact = answer(&s.content),
            "started-at" => started_at = answer(&s.content),
            "links" => links = answer(&s.content),
            "flags" => flags = checked_boxes(&s.content),
            _ => {}
        }
    }

    let mut problems = Vec::new();
    let severity = match severity_text {
        None => {
            problems.push(FormProblem {
                field: "Severity",
                message: "Severity is missing: choose one of SEV1–SEV5 in the form".into(),
            });
            None
        }
        Some(t) => match Severity::parse(&t, aliases) {
            Ok(s) => Some(s),
            Err(_) => {
                problems.push(FormProblem {
                    field: "Severity",
                    message: format!(
                        "Severity {:?} is not one of SEV1–SEV5: edit the issue and choose one in the form",
                        short(&t)
                    ),
                });
                None
            }
        },
    };
    let component = match component_text.as_deref().map(component_key) {
        None | Some(None) => None,
        Some(Some(key)) => match runbook.resolve_component(&key) {
            Ok(k) => Some(k),
            Err(e) => {
                problems.push(FormProblem {
                    field: "Component",
                    message: format!(
                        "Component {:?} is not in the runbook: choose one of {}",
                        short(&key),
                        e.known.join(", ")
                    ),
                });
                None
            }
        },
    };
    if summary.is_none() {
        problems.push(FormProblem {
            field: "Summary",
            message: "Summary is missing: say in a few sentences what is broken and for whom"
                .into(),
        });
    }
    match (severity, summary) {
        (Some(severity), Some(summary)) if problems.is_empty() => Ok(FormDeclaration {
            severity,
            component,
            summary,
            impact,
            started_at,
            links,
            flags,
        }),
        _ => Err(problems),
    }
}

/// The incident title from an issue title: the form's `[Incident]: ` prefix removed.
pub fn title_from_issue_title(title: &str) -> String {
    let t = title.trim();
    let n = FORM_TITLE_PREFIX.len();
    let rest = match t.get(..n) {
        Some(p) if p.eq_ignore_ascii_case(FORM_TITLE_PREFIX) => &t[n..],
        _ => t,
    };
    rest.trim().to_string()
}

/// The key of a component answer: the dropdown's `sandbox — Agent pods…` gives
/// `sandbox`; `Not sure` gives none.
pub(crate) fn component_key(answer: &str) -> Option<String> {
    let head = answer
        .split(['—', '–', ':', '('])
        .next()
        .unwrap_or(answer)
        .trim();
    let key = normalize_key(head);
    if key.is_empty() || key == "not-sure" || key == "unknown" {
        None
    } else {
        Some(key)
    }
}

fn checked_boxes(content: &str) -> Vec<String> {
    content
        .lines()
        .filter_map(|l| {
            let t = l.trim_start().strip_prefix("- ")?;
            t.strip_prefix("[X]")
                .or_else(|| t.strip_prefix("[x]"))
                .map(|rest| rest.trim().to_string())
        })
        .filter(|s| !s.is_empty())
        .collect()
}

fn short(s: &str) -> String {
    s.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Exactly as GitHub renders an issue opened from incident.yml.
    const RENDERED: &str = "### Severity\n\nSEV2 — Major: a major feature is down or degraded for many users\n\n### Component\n\nsandbox — Agent pods and sandboxes\n\n### Summary\n\nAgent pods crash-loop with OOMKilled since the 14:00 deploy.\n\n### Impact\n\n_No response_\n\n### Started at\n\n2026-11-28 14:05 UTC\n\n### Links\n\n_No response_\n\n### Flags\n\n- [X] Published results may be wrong\n- [ ] Customer data may be exposed";

    fn parse(body: &str) -> Result<FormDeclaration, Vec<FormProblem>> {
        parse_incident_form(body, &Runbook::builtin(), &SeverityAliases::default())
    }

    #[test]
    fn github_rendering_of_the_form_is_read() {
        let d = parse(RENDERED).unwrap();
        assert_eq!(d.severity, Severity::Sev2);
        assert_eq!(d.component.as_deref(), Some("sandbox"));
        assert!(d.summary.starts_with("Agent pods crash-loop"));
        assert_eq!(d.impact, None);
        assert_eq!(d.links, None);
        assert_eq!(d.started_at.as_deref(), Some("2026-11-28 14:05 UTC"));
        assert_eq!(d.flags, vec!["Published results may be wrong".to_string()]);
    }

    #[test]
    fn missing_severity_is_one_problem_naming_it() {
        let body = RENDERED.replace(
            "SEV2 — Major: a major feature is down or degraded for many users",
            "_No response_",
        );
        let problems = parse(&body).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].field, "Severity");
        assert!(problems[0].message.contains("Severity is missing"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let body =
            "### Severity\n\nSEV9\n\n### Component\n\nkafka\n\n### Summary\n\n_No response_\n";
        let problems = parse(body).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        assert_eq!(fields, ["Severity", "Component", "Summary"]);
        assert!(problems[1].message.contains("job-queue"));
    }

    #[test]
    fn none_and_not_sure_components_are_no_component() {
        for c in ["None", "Not sure", "_No response_"] {
            let body = RENDERED.replace("sandbox — Agent pods and sandboxes", c);
            assert_eq!(parse(&body).unwrap().component, None, "{c}");
        }
    }

    #[test]
    fn titles_lose_the_form_prefix() {
        assert_eq!(
            title_from_issue_title("[Incident]: Agents OOM"),
            "Agents OOM"
        );
        assert_eq!(
            title_from_issue_title("[incident]:Agents OOM "),
            "Agents OOM"
        );
        assert_eq!(title_from_issue_title("Agents OOM"), "Agents OOM");
    }
}
