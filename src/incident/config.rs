//! A repository's `.github/responder.toml`: labels, who may declare, aliases, target.
//!
//! Purpose: parse the per-repository config (read by the caller from the default
//! branch only) with unknown keys rejected, normalise every name in it once, and
//! phrase every error for the person who wrote the file, naming the key and line.
//! Must never read GitHub or the filesystem, and never fall back to defaults when
//! the file is present but wrong: the caller posts the error instead.
//!
//! ```toml
//! # .github/responder.toml — every key is optional
//! min_permission = "write"           # write | maintain | admin
//! target_repo = "acme/incidents"     # open incident issues there instead of here
//!
//! [labels]
//! incident = "incident"
//! bug = "bug"
//! rca = "rca"
//! follow_up = "follow-up"
//!
//! [severity_aliases]
//! p0 = "SEV1"
//! outage = "SEV1"
//!
//! [alerts]                           # Alertmanager and Grafana notifications
//! on_resolved = "mitigate"           # comment | mitigate | resolve
//! reopen_window = "24h"              # firing again within it reopens, later declares anew
//! group_by = "group"                 # group (groupKey) | fingerprint
//! ```

mod alerts;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::incident::model::severity::{Severity, SeverityAliases, normalize_label};
use crate::incident::runbook::Runbook;
use crate::types::RepoName;

pub use alerts::{AlertsConfig, GroupBy, OnResolved};

/// Where the config lives in a repository.
pub const CONFIG_PATH: &str = ".github/responder.toml";
/// Where a repository overrides the runbook.
pub const RUNBOOK_OVERRIDE_PATH: &str = ".github/responder/runbook.toml";
/// Where a repository overrides templates.
pub const TEMPLATES_OVERRIDE_DIR: &str = ".github/responder/templates";

/// The validated config, with every name normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoConfig {
    /// `[labels]`: the names of the labels the app applies.
    pub labels: LabelsConfig,
    /// `min_permission`: who may declare, change severity, resolve or reopen.
    /// Default `write`.
    pub min_permission: Permission,
    /// Normalised extra spellings for severities.
    pub severity_aliases: SeverityAliases,
    /// Open the bug and RCA issues in this repository instead of the declaring one.
    pub target_repo: Option<RepoName>,
    /// `[alerts]`: what alert notifications do to their incidents.
    pub alerts: AlertsConfig,
}

/// Label names the app applies; each is normalised (trimmed, lowercase, spaces and
/// `_` as `-`) so `Incident` and `incident` are one label.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelsConfig {
    /// Put on the bug and the RCA issue, and recognised on issues labelled by hand
    /// to declare one. Default `incident`.
    pub incident: String,
    /// Put on the bug issue. Default `bug`.
    pub bug: String,
    /// Put on the RCA issue. Default `rca`.
    pub rca: String,
    /// Put (with `incident`) on the issue opened for each action item of a
    /// completed RCA. Default `follow-up`.
    pub follow_up: String,
}

impl Default for LabelsConfig {
    fn default() -> Self {
        LabelsConfig {
            incident: "incident".into(),
            bug: "bug".into(),
            rca: "rca".into(),
            follow_up: "follow-up".into(),
        }
    }
}

/// The least repository permission a person needs to declare or change an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    #[default]
    Write,
    Maintain,
    Admin,
}

impl Permission {
    /// Whether GitHub's permission for a person meets this level. `role` is the
    /// collaborator-permission API's `role_name` (`admin`, `maintain`, `write`,
    /// `triage`, `read`) or its coarser `permission` field; anything else is refused.
    pub fn allows(self, role: &str) -> bool {
        let rank = match role.trim().to_ascii_lowercase().as_str() {
            "admin" => 3,
            "maintain" => 2,
            "write" | "push" => 1,
            _ => return false,
        };
        rank > self as u8
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Write => "write",
            Permission::Maintain => "maintain",
            Permission::Admin => "admin",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// See [`RepoConfig::labels`].
    #[serde(default)]
    labels: LabelsConfig,
    /// See [`RepoConfig::min_permission`].
    #[serde(default)]
    min_permission: Permission,
    /// Alias → severity (`SEV1`…`SEV5` or any built-in spelling).
    #[serde(default)]
    severity_aliases: BTreeMap<String, String>,
    /// `owner/repo`.
    #[serde(default)]
    target_repo: Option<RepoName>,
    /// See [`RepoConfig::alerts`].
    #[serde(default)]
    alerts: alerts::RawAlerts,
}

/// A config the app cannot use; `Display` is the comment to post.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{CONFIG_PATH}`{}{}: {message}. Fix it on the default branch and try again.", line.map(|l| format!(" line {l}")).unwrap_or_default(), key.as_ref().map(|k| format!(" (`{k}`)")).unwrap_or_default())]
pub struct ConfigError {
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl Default for RepoConfig {
    fn default() -> Self {
        RepoConfig {
            labels: LabelsConfig::default(),
            min_permission: Permission::Write,
            severity_aliases: SeverityAliases::default(),
            target_repo: None,
            alerts: AlertsConfig::default(),
        }
    }
}

impl RepoConfig {
    /// Parses the file's text; an absent file is the caller's `RepoConfig::default()`.
    pub fn parse(text: &str) -> Result<RepoConfig, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            ConfigError {
                line,
                key: line.and_then(|l| key_on_line(text, l)),
                message: e.message().trim().to_string(),
            }
        })?;
        let mut labels = raw.labels;
        for (key, value) in [
            ("labels.incident", &mut labels.incident),
            ("labels.bug", &mut labels.bug),
            ("labels.rca", &mut labels.rca),
            ("labels.follow_up", &mut labels.follow_up),
        ] {
            *value = normalize_label(value);
            if value.is_empty() || value.chars().count() > 50 || value.contains(',') {
                return Err(ConfigError {
                    line: find_line(text, key.rsplit('.').next().unwrap_or(key)),
                    key: Some(key.into()),
                    message: "a label name must be 1 to 50 characters without commas".into(),
                });
            }
        }
        let mut aliases = SeverityAliases::default();
        for (alias, target) in &raw.severity_aliases {
            let err = |message: String| ConfigError {
                line: find_line(text, alias),
                key: Some(format!("severity_aliases.{alias}")),
                message,
            };
            let s: Severity = target.parse().map_err(|e| err(format!("{e}")))?;
            aliases.insert(alias, s).map_err(|e| err(e.to_string()))?;
        }
        let alerts = raw.alerts.validate().map_err(|message| ConfigError {
            line: find_line(text, "reopen_window"),
            key: Some("alerts.reopen_window".into()),
            message,
        })?;
        Ok(RepoConfig {
            labels,
            min_permission: raw.min_permission,
            severity_aliases: aliases,
            target_repo: raw.target_repo,
            alerts,
        })
    }

    /// The runbook's aliases and this repository's, together; a collision between
    /// them is a config error.
    pub fn all_aliases(&self, runbook: &Runbook) -> Result<SeverityAliases, ConfigError> {
        let mut all = runbook.aliases();
        all.merge(&self.severity_aliases).map_err(|e| ConfigError {
            line: None,
            key: Some("severity_aliases".into()),
            message: format!("{e} (in the runbook)"),
        })?;
        Ok(all)
    }

    /// Labels of the bug issue: incident, severity, bug, and the component's key.
    pub fn bug_labels(&self, s: Severity, component: Option<&str>) -> Vec<String> {
        let mut l = vec![
            self.labels.incident.clone(),
            s.label().to_string(),
            self.labels.bug.clone(),
        ];
        l.extend(component.map(normalize_label));
        l
    }

    /// Labels of the RCA issue: incident, rca, severity.
    pub fn rca_labels(&self, s: Severity) -> Vec<String> {
        vec![
            self.labels.incident.clone(),
            self.labels.rca.clone(),
            s.label().to_string(),
        ]
    }

    /// Labels of a follow-up issue: follow-up, incident.
    pub fn follow_up_labels(&self) -> Vec<String> {
        vec![self.labels.follow_up.clone(), self.labels.incident.clone()]
    }

    /// Every label the app may apply, with a colour and description, so missing ones
    /// can be created: one colour per severity (from the runbook).
    pub fn label_specs(&self, runbook: &Runbook) -> Vec<LabelSpec> {
        let mut specs = vec![
            LabelSpec::new(
                &self.labels.incident,
                "d73a4a",
                "An incident declared through Responder",
            ),
            LabelSpec::new(&self.labels.bug, "d73a4a", "Something is not working"),
            LabelSpec::new(
                &self.labels.rca,
                "5319e7",
                "Root cause analysis of an incident",
            ),
            LabelSpec::new(
                &self.labels.follow_up,
                "0e8a16",
                "An action item from an incident's RCA, opened by Responder",
            ),
        ];
        for (s, level) in &runbook.severities {
            specs.push(LabelSpec::new(
                s.label(),
                &level.color,
                &format!("{s} {}: {}", level.name, level.meaning),
            ));
        }
        for (key, c) in &runbook.components {
            specs.push(LabelSpec::new(
                key,
                "1d76db",
                &format!("Component: {}", c.name),
            ));
        }
        specs
    }
}

/// A label to create when missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSpec {
    pub name: String,
    /// Six hex digits without `#`.
    pub color: String,
    /// At most 100 characters (GitHub's limit).
    pub description: String,
}

impl LabelSpec {
    fn new(name: &str, color: &str, description: &str) -> LabelSpec {
        LabelSpec {
            name: normalize_label(name),
            color: color.to_ascii_lowercase(),
            description: description.chars().take(100).collect(),
        }
    }
}

fn line_of(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].matches('\n').count() + 1
}

fn key_on_line(text: &str, line: usize) -> Option<String> {
    let l = text.lines().nth(line - 1)?.trim();
    if l.starts_with('[') {
        return Some(l.trim_matches(['[', ']', ' ']).to_string());
    }
    let (key, _) = l.split_once('=')?;
    Some(key.trim().trim_matches('"').to_string())
}

fn find_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let k = l
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\'']);
            k == key
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_config_is_read_and_normalised() {
        let c = RepoConfig::parse(
            "min_permission = \"maintain\"\ntarget_repo = \"Acme/Incidents\"\n[labels]\nincident = \" Incident \"\nrca = \"Post_Mortem\"\nfollow_up = \"Action Item\"\n[severity_aliases]\n\"P 0\" = \"SEV1\"\nblip = \"sev-5\"\n",
        )
        .unwrap();
        assert_eq!(c.min_permission, Permission::Maintain);
        assert_eq!(c.target_repo.unwrap().full(), "acme/incidents");
        assert_eq!(c.labels.incident, "incident");
        assert_eq!(c.labels.rca, "post-mortem");
        assert_eq!(c.labels.bug, "bug");
        assert_eq!(c.labels.follow_up, "action-item");
        assert_eq!(
            Severity::parse("p0", &c.severity_aliases),
            Ok(Severity::Sev1)
        );
        assert_eq!(
            Severity::parse("BLIP", &c.severity_aliases),
            Ok(Severity::Sev5)
        );
    }

    #[test]
    fn empty_config_is_the_default() {
        assert_eq!(RepoConfig::parse("").unwrap(), RepoConfig::default());
    }

    #[test]
    fn unknown_keys_are_rejected_with_key_and_line() {
        let e = RepoConfig::parse("min_permission = \"write\"\n\n[labels]\nincidnet = \"x\"\n")
            .unwrap_err();
        assert_eq!(e.line, Some(4));
        assert_eq!(e.key.as_deref(), Some("incidnet"));
        let msg = e.to_string();
        assert!(msg.contains("line 4") && msg.contains("incidnet"), "{msg}");
        let e = RepoConfig::parse("min_permisson = \"write\"\n").unwrap_err();
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = RepoConfig::parse("min_permission = \"read\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("min_permission"));
        let e = RepoConfig::parse("\n\ntarget_repo = \"not a repo\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("target_repo")));
        let e = RepoConfig::parse("[severity_aliases]\ncritical = \"SEV3\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("severity_aliases.critical"));
        assert_eq!(e.line, Some(2));
        let e = RepoConfig::parse("[severity_aliases]\nx = \"SEV7\"\n").unwrap_err();
        assert!(e.to_string().contains("SEV7"));
        let e = RepoConfig::parse("[labels]\nbug = \"  \"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("labels.bug"));
    }

    #[test]
    fn permissions_compare_by_rank() {
        assert!(Permission::Write.allows("admin"));
        assert!(Permission::Write.allows("write"));
        assert!(!Permission::Write.allows("triage"));
        assert!(!Permission::Maintain.allows("write"));
        assert!(Permission::Admin.allows("Admin"));
        assert!(!Permission::Admin.allows("maintain"));
        assert!(!Permission::Write.allows("none"));
    }

    #[test]
    fn labels_for_issues_and_specs_with_one_colour_per_severity() {
        let c = RepoConfig::default();
        assert_eq!(
            c.bug_labels(Severity::Sev2, Some("sandbox")),
            ["incident", "sev2", "bug", "sandbox"]
        );
        assert_eq!(c.rca_labels(Severity::Sev2), ["incident", "rca", "sev2"]);
        assert_eq!(c.follow_up_labels(), ["follow-up", "incident"]);
        let rb = Runbook::builtin();
        let specs = c.label_specs(&rb);
        let sev: Vec<_> = specs
            .iter()
            .filter(|s| s.name.starts_with("sev"))
            .map(|s| s.color.clone())
            .collect();
        assert_eq!(sev.len(), 5);
        let mut unique = sev.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 5);
        assert!(specs.iter().all(|s| s.description.chars().count() <= 100));
        let fu = specs
            .iter()
            .find(|s| s.name == "follow-up")
            .expect("a spec");
        assert_ne!(fu.color, "ededed", "a colour of its own");
    }

    #[test]
    fn runbook_and_repo_aliases_combine_or_collide() {
        let rb = Runbook::builtin();
        let c = RepoConfig::parse("[severity_aliases]\np0 = \"SEV1\"\n").unwrap();
        let all = c.all_aliases(&rb).unwrap();
        assert_eq!(Severity::parse("outage", &all), Ok(Severity::Sev1));
        assert_eq!(Severity::parse("p0", &all), Ok(Severity::Sev1));
        let c = RepoConfig::parse("[severity_aliases]\noutage = \"SEV3\"\n").unwrap();
        assert!(c.all_aliases(&rb).is_err());
    }
}
