//! Severity levels and the one normalisation of keys (components, labels, aliases).
//!
//! Purpose: every spelling a human types (`sev1`, `SEV-1`, `Sev 1`, `P1`, `critical`,
//! the form's full dropdown text) becomes one `Severity` here, once, on the way in, so
//! two spellings can never reach two records. Must never guess: an input that matches
//! no spelling is an error, not the nearest level.
//!
//! Built-in spellings (case-insensitive; spaces, `-` and `_` are ignored):
//! - `sev1`…`sev5`, `s1`…`s5`, `p1`…`p5`
//! - words: `critical` → SEV1; `high`, `major` → SEV2; `medium`, `moderate` → SEV3;
//!   `low`, `minor` → SEV4; `cosmetic`, `trivial` → SEV5
//! - the text before ` — `, `–`, `:` or ` - ` (the form's `SEV2 — Major: …` options)
//!
//! A runbook's `aliases` and a repository's `[severity_aliases]` add more spellings
//! through [`SeverityAliases`]; they may not redefine a spelling to another level.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One of the five severity levels; `Sev1` is the most severe and sorts first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Sev1,
    Sev2,
    Sev3,
    Sev4,
    Sev5,
}

/// Why a severity or alias was refused; the message is safe to post on an issue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeverityError {
    #[error(
        "{0:?} is not a severity: use one of SEV1–SEV5 (also written sev1, SEV-1, P1, or critical/major/moderate/minor/cosmetic)"
    )]
    Unknown(String),
    #[error("severity alias {alias:?} would mean {new} but already means {existing}")]
    AliasCollision {
        alias: String,
        existing: Severity,
        new: Severity,
    },
    #[error("severity alias {0:?} is empty once spaces, '-' and '_' are removed")]
    EmptyAlias(String),
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Sev1,
        Severity::Sev2,
        Severity::Sev3,
        Severity::Sev4,
        Severity::Sev5,
    ];

    /// Parses any accepted spelling; `extra` holds runbook and repository aliases.
    pub fn parse(input: &str, extra: &SeverityAliases) -> Result<Severity, SeverityError> {
        let whole = compact(input);
        if let Some(s) = builtin(&whole).or_else(|| extra.get_compact(&whole)) {
            return Ok(s);
        }
        // The form's dropdown options read "SEV2 — Major: …": the level is the head.
        let head = head_of(input);
        if head != input {
            let head = compact(head);
            if let Some(s) = builtin(&head).or_else(|| extra.get_compact(&head)) {
                return Ok(s);
            }
        }
        Err(SeverityError::Unknown(
            input.trim().chars().take(60).collect(),
        ))
    }

    /// `SEV1`…`SEV5`: the stored and displayed form.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Sev1 => "SEV1",
            Severity::Sev2 => "SEV2",
            Severity::Sev3 => "SEV3",
            Severity::Sev4 => "SEV4",
            Severity::Sev5 => "SEV5",
        }
    }

    /// The GitHub label: `sev1`…`sev5`.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Sev1 => "sev1",
            Severity::Sev2 => "sev2",
            Severity::Sev3 => "sev3",
            Severity::Sev4 => "sev4",
            Severity::Sev5 => "sev5",
        }
    }

    /// 1 for SEV1 … 5 for SEV5.
    pub fn level(self) -> u8 {
        self as u8 + 1
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = SeverityError;
    /// Built-in spellings only; use [`Severity::parse`] where aliases apply.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::parse(s, &SeverityAliases::default())
    }
}

impl Serialize for Severity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Extra spellings, stored compacted (lowercase, no spaces, `-` or `_`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeverityAliases(BTreeMap<String, Severity>);

impl SeverityAliases {
    /// Adds `alias` for `severity`; refuses an alias that already means another level
    /// (built-in or added before). Adding the same pair twice is fine.
    pub fn insert(&mut self, alias: &str, severity: Severity) -> Result<(), SeverityError> {
        let key = compact(alias);
        if key.is_empty() {
            return Err(SeverityError::EmptyAlias(alias.to_string()));
        }
        if let Some(existing) = builtin(&key).or_else(|| self.0.get(&key).copied()) {
            if existing != severity {
                return Err(SeverityError::AliasCollision {
                    alias: alias.to_string(),
                    existing,
                    new: severity,
                });
            }
            return Ok(());
        }
        self.0.insert(key, severity);
        Ok(())
    }

    /// Adds every alias of `other`, stopping at the first collision.
    pub fn merge(&mut self, other: &SeverityAliases) -> Result<(), SeverityError> {
        for (k, v) in &other.0 {
            self.insert(k, *v)?;
        }
        Ok(())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Severity)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    fn get_compact(&self, key: &str) -> Option<Severity> {
        self.0.get(key).copied()
    }
}

/// Lowercase with spaces, `-` and `_` removed: `Sev 1`, `SEV-1`, `sev_1` → `sev1`.
fn compact(s: &str) -> String {
    s.trim()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

fn builtin(compact: &str) -> Option<Severity> {
    let level = match compact {
        "critical" => 1,
        "high" | "major" => 2,
        "medium" | "moderate" => 3,
        "low" | "minor" => 4,
        "cosmetic" | "trivial" => 5,
        _ => {
            let digits = compact
                .strip_prefix("sev")
                .or_else(|| compact.strip_prefix('s'))
                .or_else(|| compact.strip_prefix('p'))?;
            match digits {
                "1" => 1,
                "2" => 2,
                "3" => 3,
                "4" => 4,
                "5" => 5,
                _ => return None,
            }
        }
    };
    Some(Severity::ALL[level - 1])
}

/// The part before a description separator, as in `SEV2 — Major: …`.
fn head_of(input: &str) -> &str {
    let mut end = input.len();
    for sep in ["—", "–", ":", "(", " - "] {
        if let Some(i) = input.find(sep) {
            end = end.min(i);
        }
    }
    &input[..end]
}

/// The one normalisation for component keys, label names and config keys: trimmed,
/// lowercase, runs of whitespace, `_` and `-` become one `-`, no leading/trailing `-`.
/// Other characters are kept, so a caller that needs `[a-z0-9-]` checks with
/// [`is_normalized_key`].
pub fn normalize_key(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut pending_hyphen = false;
    for c in input.trim().chars() {
        if c.is_whitespace() || c == '_' || c == '-' {
            pending_hyphen = true;
            continue;
        }
        if pending_hyphen && !out.is_empty() {
            out.push('-');
        }
        pending_hyphen = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// Label names follow the key normalisation, so `Incident`, ` incident ` and
/// `INCIDENT` are one label.
pub fn normalize_label(input: &str) -> String {
    normalize_key(input)
}

/// True for a non-empty `[a-z0-9-]` key without leading, trailing or double hyphens.
pub fn is_normalized_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !key.starts_with('-')
        && !key.ends_with('-')
        && !key.contains("--")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> SeverityAliases {
        SeverityAliases::default()
    }

    #[test]
    fn many_spellings_reach_one_severity() {
        for s in [
            "sev2",
            "SEV2",
            "SEV-2",
            "Sev 2",
            "SEV_2",
            "P2",
            "p-2",
            "s2",
            "major",
            "High",
            " sev2 ",
            "SEV2 — Major: one feature down or degraded for many users",
        ] {
            assert_eq!(Severity::parse(s, &none()), Ok(Severity::Sev2), "{s}");
        }
        assert_eq!(Severity::parse("critical", &none()), Ok(Severity::Sev1));
        assert_eq!(Severity::parse("moderate", &none()), Ok(Severity::Sev3));
        assert_eq!(Severity::parse("minor", &none()), Ok(Severity::Sev4));
        assert_eq!(Severity::parse("Trivial", &none()), Ok(Severity::Sev5));
    }

    #[test]
    fn unknown_spellings_are_refused_not_guessed() {
        for s in ["sev6", "sev0", "p0", "", "urgent", "sev12", "1"] {
            assert!(Severity::parse(s, &none()).is_err(), "{s} accepted");
        }
    }

    #[test]
    fn extra_aliases_are_used_and_may_not_collide() {
        let mut a = none();
        a.insert("P0", Severity::Sev1).unwrap();
        a.insert("p-0", Severity::Sev1).unwrap();
        assert_eq!(Severity::parse("p 0", &a), Ok(Severity::Sev1));
        assert!(matches!(
            a.insert("p0", Severity::Sev2),
            Err(SeverityError::AliasCollision { .. })
        ));
        assert!(matches!(
            a.insert("Critical", Severity::Sev3),
            Err(SeverityError::AliasCollision { .. })
        ));
        assert!(a.insert(" - ", Severity::Sev3).is_err());
    }

    #[test]
    fn labels_strings_and_order() {
        assert_eq!(Severity::Sev2.label(), "sev2");
        assert_eq!(Severity::Sev2.as_str(), "SEV2");
        assert!(Severity::Sev1 < Severity::Sev5);
        assert_eq!(Severity::Sev4.level(), 4);
        let json = serde_json::to_string(&Severity::Sev3).unwrap();
        assert_eq!(json, "\"SEV3\"");
        let back: Severity = serde_json::from_str("\"sev-3\"").unwrap();
        assert_eq!(back, Severity::Sev3);
    }

    #[test]
    fn keys_normalise_to_one_spelling() {
        assert_eq!(normalize_key("  Job_Queue "), "job-queue");
        assert_eq!(normalize_key("job  -  queue"), "job-queue");
        assert_eq!(normalize_key("LLM API"), "llm-api");
        assert_eq!(normalize_label("Incident"), "incident");
        assert!(is_normalized_key("job-queue"));
        assert!(!is_normalized_key("job queue"));
        assert!(!is_normalized_key("-x"));
        assert!(!is_normalized_key("a--b"));
        assert!(!is_normalized_key(""));
    }
}
