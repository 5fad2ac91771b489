//! The `[alerts]` table of `.github/responder.toml`: what Alertmanager and Grafana
//! notifications do to the incidents they declared.
//!
//! ```toml
//! [alerts]
//! on_resolved = "mitigate"   # comment | mitigate | resolve
//! reopen_window = "24h"      # firing again within this after a resolve reopens
//! group_by = "group"         # group (Alertmanager's groupKey) | fingerprint (one alert)
//! ```

use serde::Deserialize;

/// What a resolved alert group does to its incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnResolved {
    /// Only a timeline entry and a comment: people decide.
    Comment,
    /// Marks the incident mitigated; a person resolves it.
    #[default]
    Mitigate,
    /// Resolves the incident.
    Resolve,
}

/// What one incident follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// One incident per Alertmanager `groupKey`.
    #[default]
    Group,
    /// One incident per alert `fingerprint`.
    Fingerprint,
}

/// `[alerts]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsConfig {
    pub on_resolved: OnResolved,
    /// Seconds after a resolve in which firing again reopens the incident; later,
    /// the group declares a new one.
    pub reopen_window_secs: i64,
    pub group_by: GroupBy,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            on_resolved: OnResolved::Mitigate,
            reopen_window_secs: 24 * 3600,
            group_by: GroupBy::Group,
        }
    }
}

/// `[alerts]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    /// `comment`, `mitigate` (default) or `resolve`.
    #[serde(default)]
    on_resolved: OnResolved,
    /// `90s`, `30m`, `24h` (default), `7d`.
    #[serde(default)]
    reopen_window: Option<String>,
    /// `group` (default) or `fingerprint`.
    #[serde(default)]
    group_by: GroupBy,
}

impl RawAlerts {
    /// The table, or what is wrong with `reopen_window`.
    pub(super) fn validate(self) -> Result<AlertsConfig, String> {
        let reopen_window_secs = match self.reopen_window.as_deref() {
            None => AlertsConfig::default().reopen_window_secs,
            Some(w) => parse_window(w).ok_or_else(|| {
                format!("{w:?} is not a duration: write a number and a unit, like `30m`, `24h` or `7d` (at most 365d)")
            })?,
        };
        Ok(AlertsConfig {
            on_resolved: self.on_resolved,
            reopen_window_secs,
            group_by: self.group_by,
        })
    }
}

/// `90s`, `30m`, `24h`, `7d` (at most a year) in seconds.
fn parse_window(text: &str) -> Option<i64> {
    let t = text.trim();
    let unit = t.chars().last()?;
    let n: i64 = t[..t.len() - unit.len_utf8()].trim().parse().ok()?;
    let secs = match unit {
        's' => n,
        'm' => n.checked_mul(60)?,
        'h' => n.checked_mul(3600)?,
        'd' => n.checked_mul(86_400)?,
        _ => return None,
    };
    (0..=365 * 86_400).contains(&secs).then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::parse_window;

    #[test]
    fn windows_read_with_their_unit_and_are_bounded() {
        assert_eq!(parse_window("24h"), Some(86_400));
        assert_eq!(parse_window("30m"), Some(1800));
        assert_eq!(parse_window(" 7d "), Some(7 * 86_400));
        assert_eq!(parse_window("0s"), Some(0));
        for bad in ["", "h", "24", "-1h", "1y", "999d", "1.5h"] {
            assert_eq!(parse_window(bad), None, "{bad}");
        }
    }
}
