//! The notification Alertmanager's webhook receiver sends (payload version 4), and
//! Grafana Alerting's webhook contact point, which is the same shape plus its own
//! fields. Every field defaults, so one type reads both and unknown fields (a newer
//! version's) are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Label or annotation name → value.
pub type Labels = BTreeMap<String, String>;

/// One notification: a group of alerts, firing or resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Notification {
    pub version: String,
    pub receiver: String,
    /// `firing` while any alert of the group fires, else `resolved`.
    pub status: String,
    pub group_key: String,
    pub group_labels: Labels,
    pub common_labels: Labels,
    pub common_annotations: Labels,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub truncated_alerts: u64,
    pub alerts: Vec<Alert>,
    // Grafana Alerting's additions.
    pub org_id: Option<i64>,
    pub title: Option<String>,
    pub state: Option<String>,
    pub message: Option<String>,
}

/// One alert of the group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Alert {
    pub status: String,
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
    // Grafana Alerting's additions.
    #[serde(rename = "silenceURL")]
    pub silence_url: Option<String>,
    #[serde(rename = "dashboardURL")]
    pub dashboard_url: Option<String>,
    #[serde(rename = "panelURL")]
    pub panel_url: Option<String>,
    pub value_string: Option<String>,
    pub values: Option<BTreeMap<String, serde_json::Value>>,
}

impl Alert {
    pub fn is_firing(&self) -> bool {
        self.status == "firing"
    }

    /// The fingerprint, or (a sender without them) one made from the labels, so an
    /// alert is still recognised when it repeats.
    pub fn key(&self) -> String {
        if !self.fingerprint.is_empty() {
            return self.fingerprint.chars().take(64).collect();
        }
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for (k, v) in &self.labels {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([0]);
        }
        hex::encode(&h.finalize()[..8])
    }
}

impl Notification {
    /// Whether the group fires: its status, or any alert firing when it has none.
    pub fn is_firing(&self) -> bool {
        match self.status.as_str() {
            "firing" => true,
            "resolved" => false,
            _ => self.alerts.iter().any(Alert::is_firing),
        }
    }

    /// A label of the whole group: the common labels, else the group labels.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.common_labels
            .get(name)
            .or_else(|| self.group_labels.get(name))
            .map(String::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// The group's key as its sender names it; a Grafana or older sender without one
    /// is grouped by its group labels.
    pub fn group(&self) -> String {
        if !self.group_key.is_empty() {
            return self.group_key.clone();
        }
        let labels: Vec<String> = self
            .group_labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        format!("{{{}}}", labels.join(","))
    }
}
