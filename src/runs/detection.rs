//! `[detection]`: when infra_error runs of one agent become an incident.
//!
//! Purpose: the runbook's thresholds and the pure decision over a window's counts.
//! Must never read the store: callers hand it the counts.

use serde::{Deserialize, Serialize};

use crate::incident::model::severity::Severity;

/// The runbook's `[detection]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detection {
    /// The sliding window, e.g. `10m`.
    pub window: String,
    /// The fewest runs in the window before a rate means anything.
    pub min_runs: u32,
    /// The share of infra_error runs, in percent, that declares.
    pub infra_error_percent: u32,
    /// The severity of the incident declared.
    pub severity: Severity,
    /// The component of the incident declared.
    #[serde(default = "default_component")]
    pub component: String,
    /// The least time between two timeline entries while the incident is open.
    #[serde(default = "default_update_every")]
    pub update_every: String,
}

fn default_component() -> String {
    "llm-api".into()
}
fn default_update_every() -> String {
    "5m".into()
}

impl Default for Detection {
    fn default() -> Self {
        Detection {
            window: "10m".into(),
            min_runs: 20,
            infra_error_percent: 20,
            severity: Severity::Sev2,
            component: default_component(),
            update_every: default_update_every(),
        }
    }
}

/// The window's runs of one repository and agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCounts {
    pub runs: u64,
    pub infra_errors: u64,
}

impl Detection {
    /// `window` in seconds (a validated runbook always has one; 10 minutes otherwise).
    pub fn window_secs(&self) -> i64 {
        crate::agent_token::parse_ttl(&self.window).unwrap_or(600)
    }

    /// `update_every` in seconds.
    pub fn update_every_secs(&self) -> i64 {
        crate::agent_token::parse_ttl(&self.update_every).unwrap_or(300)
    }

    /// Whether `counts` reach both the minimum count and the rate.
    pub fn is_spike(&self, c: WindowCounts) -> bool {
        c.runs >= u64::from(self.min_runs.max(1))
            && c.infra_errors > 0
            && c.infra_errors * 100 >= c.runs * u64::from(self.infra_error_percent)
    }

    /// Every problem, each naming the field.
    pub fn validate(&self, components: &[&str]) -> Vec<String> {
        let mut p = Vec::new();
        match crate::agent_token::parse_ttl(&self.window) {
            Ok(s) if (60..=86_400).contains(&s) => {}
            Ok(_) => p.push(format!(
                "detection.window {:?} must be from 1m to 1d",
                self.window
            )),
            Err(e) => p.push(format!("detection.window: {e}")),
        }
        match crate::agent_token::parse_ttl(&self.update_every) {
            Ok(s) if (60..=86_400).contains(&s) => {}
            Ok(_) => p.push(format!(
                "detection.update_every {:?} must be from 1m to 1d",
                self.update_every
            )),
            Err(e) => p.push(format!("detection.update_every: {e}")),
        }
        if self.min_runs == 0 {
            p.push("detection.min_runs must be at least 1".into());
        }
        if !(1..=100).contains(&self.infra_error_percent) {
            p.push("detection.infra_error_percent must be from 1 to 100".into());
        }
        if !components.contains(&self.component.as_str()) {
            p.push(format!(
                "detection.component {:?} is not a component of this runbook",
                self.component
            ));
        }
        p
    }
}
