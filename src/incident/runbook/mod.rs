//! The runbook: per severity what to do and by when, per component how to diagnose.
//!
//! Purpose: parse `runbook.toml` (the default under `templates/`, or a repository's
//! `.github/responder/runbook.toml`), validate it, merge the "Runbook updates" an RCA
//! proposes, and write it back as TOML that parses to the same value. Must never
//! read files or talk to GitHub: callers hand it strings.

pub mod edit;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::incident::model::severity::{
    Severity, SeverityAliases, is_normalized_key, normalize_key,
};
use crate::runs::detection::Detection;
use crate::runs::rules::{OutputRule, RuleSet};

/// The default runbook shipped with Responder.
pub const DEFAULT_RUNBOOK: &str = crate::assets::RUNBOOK;

/// A parsed and validated runbook.
/// The longest an RCA may be given: a year. Beyond it a date is a typo (or an attempt
/// to overflow the calendar), not a plan.
pub const MAX_RCA_DUE_DAYS: u32 = 366;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Runbook {
    /// `$NAME` placeholders used in commands, and what to substitute.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub placeholders: BTreeMap<String, String>,
    pub severities: BTreeMap<Severity, SeverityLevel>,
    pub components: BTreeMap<String, Component>,
    /// When infra_error agent runs become an incident (issue 12); the defaults when
    /// the runbook has no `[detection]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<Detection>,
    /// Lines in an agent run's output that show it never really happened.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub output_rules: Vec<OutputRule>,
}

/// What one severity means and what it demands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityLevel {
    /// One word: `Critical`, `Major`, …
    pub name: String,
    /// One line: what makes an incident this severe.
    pub meaning: String,
    /// How fast someone must be working on it, e.g. `15 minutes`.
    pub response_time: String,
    /// Whom to page.
    pub page: Vec<String>,
    /// Days from declaration until the RCA is due.
    pub rca_due_days: u32,
    /// Label colour, six hex digits without `#`.
    pub color: String,
    /// Triage steps for the first responder.
    pub checklist: Vec<String>,
    /// Spellings beyond the built-in ones (`p0`, `outage`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// How often a status update is due while the incident is open and not
    /// mitigated (`30m`, `1h`); without it, nobody is asked for updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_every: Option<String>,
}

/// The shortest and longest `update_every`: asking more often than every five
/// minutes is noise; less often than weekly is no rhythm.
pub const UPDATE_EVERY_RANGE: (i64, i64) = (5 * 60, 7 * 24 * 3600);

impl SeverityLevel {
    /// `update_every` in seconds (`None` when unset or, for a runbook that skipped
    /// validation, unreadable).
    pub fn update_every_secs(&self) -> Option<i64> {
        let s = self.update_every.as_deref()?;
        crate::agent_token::parse_ttl(s).ok()
    }
}

/// A part of the system and how to diagnose it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub name: String,
    pub description: String,
    /// Decision-tree questions: "symptom? → what it means / where to look".
    #[serde(default)]
    pub questions: Vec<String>,
    pub commands: Vec<DiagCommand>,
}

/// A copy-pasteable diagnostic command and what its output tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiagCommand {
    pub command: String,
    pub tells: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRunbook {
    #[serde(default)]
    placeholders: BTreeMap<String, String>,
    severities: BTreeMap<String, SeverityLevel>,
    components: BTreeMap<String, Component>,
    #[serde(default)]
    detection: Option<Detection>,
    #[serde(default)]
    output_rules: Vec<OutputRule>,
}

/// Why a runbook was refused; every message names the place to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunbookError {
    #[error("runbook is not valid TOML for the runbook schema: {0}")]
    Parse(String),
    #[error("runbook is invalid:\n- {}", .0.join("\n- "))]
    Invalid(Vec<String>),
}

/// A component name that the runbook does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown component {input:?}: use one of {}", .known.join(", "))]
pub struct UnknownComponent {
    pub input: String,
    pub known: Vec<String>,
}

impl Runbook {
    /// The default runbook; it is validated by a test, so this cannot fail at runtime.
    pub fn builtin() -> Runbook {
        Runbook::parse(DEFAULT_RUNBOOK).expect("templates/runbook.toml is valid")
    }

    /// `[detection]`, or its defaults.
    pub fn detection(&self) -> Detection {
        self.detection.clone().unwrap_or_default()
    }

    /// The output rules compiled (a parsed runbook's always compile).
    pub fn rule_set(&self) -> Result<RuleSet, crate::runs::RuleError> {
        RuleSet::compile(&self.output_rules)
    }

    /// Parses and validates; reports every problem at once.
    pub fn parse(text: &str) -> Result<Runbook, RunbookError> {
        let raw: RawRunbook =
            toml::from_str(text).map_err(|e| RunbookError::Parse(e.to_string()))?;
        let mut problems = Vec::new();
        let mut severities = BTreeMap::new();
        for (key, level) in raw.severities {
            match key.parse::<Severity>() {
                Ok(s) if s.as_str() == key => {
                    severities.insert(s, level);
                }
                Ok(s) => problems.push(format!("severities.{key}: write it as {s}")),
                Err(_) => problems.push(format!(
                    "severities.{key}: not a severity; the keys are SEV1 to SEV5"
                )),
            }
        }
        let runbook = Runbook {
            placeholders: raw.placeholders,
            severities,
            components: raw.components,
            detection: raw.detection,
            output_rules: raw.output_rules,
        };
        problems.extend(runbook.validate());
        if problems.is_empty() {
            Ok(runbook)
        } else {
            Err(RunbookError::Invalid(problems))
        }
    }

    /// Every structural problem; empty when the runbook is usable.
    pub fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        for s in Severity::ALL {
            let Some(level) = self.severities.get(&s) else {
                p.push(format!("severities.{s} is missing"));
                continue;
            };
            if !(1..=MAX_RCA_DUE_DAYS).contains(&level.rca_due_days) {
                p.push(format!(
                    "severities.{s}.rca_due_days is {}: it must be from 1 to {MAX_RCA_DUE_DAYS}",
                    level.rca_due_days
                ));
            }
            if let Some(every) = &level.update_every {
                let (min, max) = UPDATE_EVERY_RANGE;
                match crate::agent_token::parse_ttl(every) {
                    Ok(secs) if (min..=max).contains(&secs) => {}
                    Ok(_) => p.push(format!(
                        "severities.{s}.update_every {every:?} must be from 5m to 7d"
                    )),
                    Err(e) => p.push(format!("severities.{s}.update_every {every:?}: {e}")),
                }
            }
            if level.color.len() != 6 || !level.color.bytes().all(|b| b.is_ascii_hexdigit()) {
                p.push(format!(
                    "severities.{s}.color {:?} must be six hex digits without '#'",
                    level.color
                ));
            }
            for (field, value) in [
                ("name", &level.name),
                ("meaning", &level.meaning),
                ("response_time", &level.response_time),
            ] {
                if value.trim().is_empty() {
                    p.push(format!("severities.{s}.{field} is empty"));
                }
            }
        }
        if let Err(e) = self.try_aliases() {
            p.push(format!("severities: {e}"));
        }
        if let Some(d) = &self.detection {
            let keys: Vec<&str> = self.components.keys().map(String::as_str).collect();
            p.extend(d.validate(&keys));
        }
        if let Err(e) = RuleSet::compile(&self.output_rules) {
            p.extend(e.0);
        }
        if self.components.is_empty() {
            p.push("components: at least one component is required".to_string());
        }
        for (key, c) in &self.components {
            if !is_normalized_key(key) {
                p.push(format!(
                    "components.{key}: keys are lowercase letters, digits and single hyphens (try {:?})",
                    normalize_key(key)
                ));
            }
            if c.commands.is_empty() {
                p.push(format!(
                    "components.{key}: at least one command is required"
                ));
            }
            for (i, cmd) in c.commands.iter().enumerate() {
                if cmd.command.trim().is_empty() || cmd.tells.trim().is_empty() {
                    p.push(format!(
                        "components.{key}.commands[{i}]: both command and tells are required"
                    ));
                }
            }
        }
        p
    }

    /// TOML that [`Runbook::parse`] reads back to an equal runbook.
    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).expect("a runbook always serialises")
    }

    pub fn severity(&self, s: Severity) -> &SeverityLevel {
        // `parse` guarantees all five levels.
        &self.severities[&s]
    }

    pub fn component(&self, key: &str) -> Option<&Component> {
        self.components.get(&normalize_key(key))
    }

    /// Normalises a user's component name and checks that the runbook has it.
    pub fn resolve_component(&self, input: &str) -> Result<String, UnknownComponent> {
        let key = normalize_key(input);
        if self.components.contains_key(&key) {
            Ok(key)
        } else {
            Err(UnknownComponent {
                input: input.trim().chars().take(60).collect(),
                known: self.components.keys().cloned().collect(),
            })
        }
    }

    /// The runbook's extra severity spellings.
    pub fn aliases(&self) -> SeverityAliases {
        self.try_aliases().unwrap_or_default()
    }

    fn try_aliases(
        &self,
    ) -> Result<SeverityAliases, crate::incident::model::severity::SeverityError> {
        let mut a = SeverityAliases::default();
        for (s, level) in &self.severities {
            for alias in &level.aliases {
                a.insert(alias, *s)?;
            }
        }
        Ok(a)
    }

    pub fn command_count(&self) -> usize {
        self.components.values().map(|c| c.commands.len()).sum()
    }

    /// Adds the commands and checklist items an RCA proposes. Exact duplicates (after
    /// trimming) are skipped, unknown components or severities are rejected; the
    /// report says which, so the PR description can list them.
    pub fn merge_updates(&mut self, updates: &RunbookUpdates) -> MergeReport {
        let mut report = MergeReport::default();
        let aliases = self.aliases();
        for u in &updates.commands {
            let command = u.command.trim();
            let tells = u.tells.trim();
            if command.is_empty() || tells.is_empty() {
                report.rejected.push(format!(
                    "command {command:?}: both command and tells are required"
                ));
                continue;
            }
            let key = normalize_key(&u.component);
            let Some(component) = self.components.get_mut(&key) else {
                report.rejected.push(format!(
                    "command {command:?}: unknown component {:?}",
                    u.component
                ));
                continue;
            };
            if component
                .commands
                .iter()
                .any(|c| c.command.trim() == command)
            {
                report.skipped.push(format!("{key}: {command}"));
                continue;
            }
            component.commands.push(DiagCommand {
                command: command.to_string(),
                tells: tells.to_string(),
            });
            report.added_commands.push((key, command.to_string()));
        }
        for u in &updates.checklist {
            let item = u.item.trim();
            let Ok(s) = Severity::parse(&u.severity, &aliases) else {
                report.rejected.push(format!(
                    "checklist item {item:?}: unknown severity {:?}",
                    u.severity
                ));
                continue;
            };
            if item.is_empty() {
                report
                    .rejected
                    .push(format!("checklist item for {s} is empty"));
                continue;
            }
            let Some(level) = self.severities.get_mut(&s) else {
                continue;
            };
            if level.checklist.iter().any(|c| c.trim() == item) {
                report.skipped.push(format!("{s}: {item}"));
                continue;
            }
            level.checklist.push(item.to_string());
            report.added_checklist.push((s, item.to_string()));
        }
        report
    }
}

/// New commands and checklist items proposed by an RCA's "Runbook updates" block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookUpdates {
    #[serde(default)]
    pub commands: Vec<CommandUpdate>,
    #[serde(default)]
    pub checklist: Vec<ChecklistUpdate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandUpdate {
    pub component: String,
    pub command: String,
    pub tells: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecklistUpdate {
    /// Any severity spelling; resolved when merged.
    pub severity: String,
    pub item: String,
}

impl RunbookUpdates {
    /// Parses the TOML inside the fenced block; the error is safe to post.
    pub fn from_toml(text: &str) -> Result<RunbookUpdates, String> {
        toml::from_str(text).map_err(|e| format!("the Runbook updates block is not valid: {e}"))
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty() && self.checklist.is_empty()
    }
}

/// What `merge_updates` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// (component key, command)
    pub added_commands: Vec<(String, String)>,
    pub added_checklist: Vec<(Severity, String)>,
    /// Exact duplicates of what the runbook already has.
    pub skipped: Vec<String>,
    /// Entries that could not be applied, with the reason.
    pub rejected: Vec<String>,
}

impl MergeReport {
    pub fn changed(&self) -> bool {
        !self.added_commands.is_empty() || !self.added_checklist.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_runbook_validates_with_nine_components_and_seventy_commands() {
        let rb = Runbook::parse(DEFAULT_RUNBOOK).unwrap_or_else(|e| panic!("{e}"));
        let keys: Vec<&str> = rb.components.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "ci",
                "cluster",
                "database",
                "github",
                "job-queue",
                "llm-api",
                "network",
                "sandbox",
                "storage"
            ]
        );
        assert!(rb.command_count() >= 70, "{} commands", rb.command_count());
        assert_eq!(rb.severities.len(), 5);
        assert!(rb.severity(Severity::Sev1).rca_due_days > 0);
    }

    #[test]
    fn every_placeholder_used_in_a_command_is_documented() {
        let rb = Runbook::builtin();
        for c in rb.components.values().flat_map(|c| &c.commands) {
            let mut rest = c.command.as_str();
            while let Some(i) = rest.find('$') {
                rest = &rest[i + 1..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                if name.len() > 1 {
                    assert!(
                        rb.placeholders.contains_key(&name),
                        "${name} in {}",
                        c.command
                    );
                }
            }
        }
    }

    #[test]
    fn invalid_runbooks_report_every_problem() {
        let mut rb = Runbook::builtin();
        rb.severities.remove(&Severity::Sev3);
        rb.severities.get_mut(&Severity::Sev1).unwrap().rca_due_days = 0;
        // Once passed validation, then panicked adding the days to a date.
        rb.severities.get_mut(&Severity::Sev4).unwrap().rca_due_days = u32::MAX;
        // An update cadence of seconds would spam the bug issue; a word is no duration.
        rb.severities.get_mut(&Severity::Sev1).unwrap().update_every = Some("10s".into());
        rb.severities.get_mut(&Severity::Sev2).unwrap().update_every = Some("soon".into());
        rb.severities.get_mut(&Severity::Sev2).unwrap().aliases = vec!["critical".into()];
        let c = rb.components.remove("ci").unwrap();
        rb.components.insert(
            "Bad Key".into(),
            Component {
                commands: vec![],
                ..c
            },
        );
        let problems = Runbook::parse(&rb.to_toml_string()).unwrap_err();
        let RunbookError::Invalid(p) = problems else {
            panic!("{problems}")
        };
        let all = p.join("\n");
        for needle in [
            "SEV3 is missing",
            "SEV1.rca_due_days is 0",
            "SEV4.rca_due_days is 4294967295: it must be from 1 to 366",
            "SEV1.update_every \"10s\" must be from 5m to 7d",
            "SEV2.update_every \"soon\"",
            "critical",
            "Bad Key",
            "at least one command",
        ] {
            assert!(all.contains(needle), "{needle} not in {all}");
        }
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let text = DEFAULT_RUNBOOK.replacen("[components.ci]", "[components.ci]\nowner = \"x\"", 1);
        assert!(matches!(Runbook::parse(&text), Err(RunbookError::Parse(_))));
    }

    #[test]
    fn merge_updates_then_toml_round_trip() {
        let mut rb = Runbook::builtin();
        let existing = rb.components["sandbox"].commands[0].command.clone();
        let updates = RunbookUpdates::from_toml(&format!(
            r#"
[[commands]]
component = "Sandbox"
command = "kubectl get events -n agents --sort-by=.lastTimestamp | tail -50"
tells = "The most recent events in the agents namespace"
[[commands]]
component = "sandbox"
command = "{existing}"
tells = "duplicate"
[[commands]]
component = "nope"
command = "true"
tells = "x"
[[checklist]]
severity = "sev-2"
item = "Post in #incidents with the bug issue link"
[[checklist]]
severity = "SEV9"
item = "x"
"#
        ))
        .unwrap();
        let report = rb.merge_updates(&updates);
        assert_eq!(report.added_commands.len(), 1);
        assert_eq!(report.added_commands[0].0, "sandbox");
        assert_eq!(
            report.added_checklist,
            vec![(
                Severity::Sev2,
                "Post in #incidents with the bug issue link".to_string()
            )]
        );
        assert_eq!(report.skipped.len(), 1);
        assert_eq!(report.rejected.len(), 2);
        assert!(report.changed());

        let again = rb.merge_updates(&updates);
        assert!(!again.changed(), "a second merge adds nothing");

        let text = rb.to_toml_string();
        let back = Runbook::parse(&text).unwrap();
        assert_eq!(back, rb);
        assert!(text.contains("tail -50"));
    }

    #[test]
    fn components_resolve_from_any_spelling() {
        let rb = Runbook::builtin();
        assert_eq!(rb.resolve_component(" Job_Queue ").unwrap(), "job-queue");
        let err = rb.resolve_component("kafka").unwrap_err();
        assert!(err.to_string().contains("sandbox"));
    }
}
