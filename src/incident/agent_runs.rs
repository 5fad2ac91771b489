//! A spike of infra_error agent runs as a declaration, and the timeline line that
//! follows it while the incident is open.
//!
//! Purpose: the pure half of the agent-run channel — the window's facts in, text
//! out — so each rule is tested alone; `service::agent_runs` does the orchestration.
//! Agent names and output lines come from whoever holds a `runs:write` token: every
//! value is cut, put on one line and shown inside code spans (excerpts were
//! sanitised by the classifier: no control characters, secrets redacted).

use chrono::{DateTime, SecondsFormat, Utc};

use crate::incident::alert::{code, cut};
use crate::incident::model::declaration::{Declaration, DeclaredVia, MAX_TITLE};
use crate::incident::runbook::Runbook;
use crate::incident::text::sanitize::sanitize_inline;
use crate::runs::Classification;
use crate::runs::detection::{Detection, WindowCounts};

/// Sample excerpts a declaration shows.
pub const SAMPLES: usize = 3;
/// The longest excerpt shown.
const EXCERPT: usize = 160;
/// Rules listed by name, most frequent first.
const LISTED_RULES: usize = 10;

/// What the window shows about one repository's agent.
#[derive(Debug, Clone)]
pub struct Spike<'a> {
    pub agent: &'a str,
    pub detection: &'a Detection,
    pub counts: WindowCounts,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The window's newest infra_error classifications, newest first (bounded).
    pub recent: &'a [Classification],
}

impl Spike<'_> {
    fn percent(&self) -> u64 {
        (self.counts.infra_errors * 100)
            .checked_div(self.counts.runs)
            .unwrap_or(0)
    }

    /// Each rule's name and how many of the recent runs it matched, most first.
    pub fn rule_counts(&self) -> Vec<(String, u64)> {
        let mut counts = std::collections::BTreeMap::<&str, u64>::new();
        for c in self.recent {
            let mut seen: Vec<&str> = c.matches.iter().map(|m| m.rule.as_str()).collect();
            seen.sort_unstable();
            seen.dedup();
            for r in seen {
                *counts.entry(r).or_default() += 1;
            }
        }
        let mut v: Vec<(String, u64)> = counts
            .into_iter()
            .map(|(r, n)| (r.to_string(), n))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    fn rules_line(&self) -> String {
        let counts = self.rule_counts();
        let mut parts: Vec<String> = counts
            .iter()
            .take(LISTED_RULES)
            .map(|(r, n)| format!("`{}` ×{n}", code(r, 60)))
            .collect();
        if counts.len() > LISTED_RULES {
            parts.push(format!("{} more", counts.len() - LISTED_RULES));
        }
        parts.join(", ")
    }
}

fn at(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The declaration of a spike: severity and component from the runbook's
/// `[detection]` (a component the runbook lacks is left out and said).
pub fn declaration(s: &Spike<'_>, runbook: &Runbook) -> Declaration {
    let component =
        Some(s.detection.component.clone()).filter(|c| runbook.components.contains_key(c.as_str()));
    let title = format!(
        "{}: {}% of agent runs hit infra errors",
        sanitize_inline(&cut(s.agent, 60)),
        s.percent()
    );
    Declaration {
        title: cut(&title, MAX_TITLE.min(120)),
        severity: s.detection.severity,
        component,
        summary: summary(s, runbook),
        impact: Some(format!(
            "{} of {} runs of agent `{}` in the last {} never really ran (infra_error): \
             their tasks should be retried, not scored.",
            s.counts.infra_errors,
            s.counts.runs,
            code(s.agent, 60),
            s.detection.window
        )),
        started_at: Some(at(s.first_seen)),
        links: None,
        via: DeclaredVia::AgentRuns,
        dedup_key: None,
    }
}

fn summary(s: &Spike<'_>, runbook: &Runbook) -> String {
    let d = s.detection;
    let mut out = format!(
        "Declared by Responder's agent-run checks: {} of {} runs ({}%) of agent `{}` in the \
         last {} were `infra_error` (threshold: {}% of at least {} runs).\n\n\
         - First seen: {}\n- Last seen: {}\n- Rules matched: {}\n",
        s.counts.infra_errors,
        s.counts.runs,
        s.percent(),
        code(s.agent, 60),
        d.window,
        d.infra_error_percent,
        d.min_runs,
        at(s.first_seen),
        at(s.last_seen),
        s.rules_line(),
    );
    if !runbook.components.contains_key(d.component.as_str()) {
        out.push_str(&format!(
            "\n**Note:** the runbook has no component `{}` (its `[detection] component`), so \
             none is set.\n",
            code(&d.component, 60)
        ));
    }
    // Distinct lines: ten copies of one 429 say less than three different errors.
    let mut seen = std::collections::HashSet::new();
    let samples: Vec<String> = s
        .recent
        .iter()
        .filter_map(|c| c.matches.first())
        .filter(|m| seen.insert(m.excerpt.as_str()))
        .take(SAMPLES)
        .map(|m| {
            format!(
                "- `{}` line {}: `{}`",
                code(&m.rule, 60),
                m.line,
                code(&m.excerpt, EXCERPT)
            )
        })
        .collect();
    if !samples.is_empty() {
        out.push_str("\n**Samples** (newest first)\n\n");
        out.push_str(&samples.join("\n"));
        out.push('\n');
    }
    out
}

/// The timeline line for the window while the incident is open.
pub fn entry_text(s: &Spike<'_>) -> String {
    let latest = s
        .recent
        .iter()
        .find_map(|c| c.matches.first())
        .map(|m| format!("; latest: `{}`", code(&m.excerpt, 100)))
        .unwrap_or_default();
    format!(
        "{} of {} runs of `{}` in the last {} were infra_error ({}%); rules: {}{latest}",
        s.counts.infra_errors,
        s.counts.runs,
        code(s.agent, 60),
        s.detection.window,
        s.percent(),
        s.rules_line(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::{Match, Verdict};

    fn run(rule: &str, excerpt: &str) -> Classification {
        Classification {
            verdict: Verdict::InfraError,
            reason: String::new(),
            matches: vec![Match {
                rule: rule.into(),
                line: 3,
                excerpt: excerpt.into(),
            }],
            truncated: false,
        }
    }

    fn spike<'a>(d: &'a Detection, recent: &'a [Classification], agent: &'a str) -> Spike<'a> {
        let t = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Spike {
            agent,
            detection: d,
            counts: WindowCounts {
                runs: 30,
                infra_errors: 9,
            },
            first_seen: t,
            last_seen: t + chrono::Duration::minutes(4),
            recent,
        }
    }

    #[test]
    fn a_declaration_has_the_counts_rules_and_three_samples() {
        let d = Detection::default();
        let recent: Vec<_> = (0..5)
            .map(|i| {
                run(
                    if i < 4 { "rate-limit" } else { "http-5xx" },
                    &format!("429 #{i}"),
                )
            })
            .collect();
        let decl = declaration(&spike(&d, &recent, "claude-code"), &Runbook::builtin());
        assert_eq!(decl.via, DeclaredVia::AgentRuns);
        assert_eq!(decl.severity, d.severity);
        assert_eq!(decl.component.as_deref(), Some("llm-api"));
        assert_eq!(decl.started_at.as_deref(), Some("2026-12-01T10:00:00Z"));
        assert!(
            decl.title.starts_with("claude-code: 30% of agent runs"),
            "{}",
            decl.title
        );
        let s = &decl.summary;
        assert!(s.contains("9 of 30 runs (30%)"), "{s}");
        assert!(s.contains("`rate-limit` ×4, `http-5xx` ×1"), "{s}");
        assert!(s.contains("Last seen: 2026-12-01T10:04:00Z"), "{s}");
        assert_eq!(s.matches("- `").count(), 3, "three samples: {s}");
        assert!(s.contains("`429 #0`") && !s.contains("`429 #3`"), "{s}");
    }

    #[test]
    fn hostile_agent_names_and_excerpts_stay_in_their_code_spans() {
        let d = Detection {
            component: "nope".into(),
            ..Detection::default()
        };
        let recent = [run("r`x", "``` @everyone <!-- x")];
        let agent = "evil`@team\n# heading";
        let decl = declaration(&spike(&d, &recent, agent), &Runbook::builtin());
        assert_eq!(decl.component, None);
        assert!(decl.summary.contains("has no component `nope`"));
        assert!(!decl.title.contains('\n'));
        for line in decl.summary.lines().filter(|l| l.contains("evil")) {
            assert!(line.contains("`evil'@team # heading`"), "{line}");
        }
        assert!(
            decl.summary.contains("`''' @everyone <!-- x`"),
            "{}",
            decl.summary
        );
        let e = entry_text(&spike(&d, &recent, agent));
        assert!(
            !e.contains('\n') && e.contains("latest: `''' @everyone"),
            "{e}"
        );
    }
}
