//! The incident's state as types: its key, status, channel, issues and the kinds
//! of its events — each stored and shown through one conversion (`as_str` and
//! `FromStr`), so no string is compared in several places.
//!
//! Purpose: the vocabulary the store, the service and the HTTP answers share. Must
//! never do I/O.

pub mod declaration;
pub mod severity;

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::types::{IssueNumber, RepoName};

/// A value stored under one name that did not read back as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
}

/// Declares an enum stored as lowercase words, with `as_str`, `FromStr`, `Display`
/// and `Serialize` all from the one table.
macro_rules! stored_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored (and API) word.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue { what: $what, value: s.to_string() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

stored_enum! {
    /// Whether an incident is still going on.
    IncidentStatus, "incident status" {
        Open => "open",
        /// The impact is stopped; the incident stays open until resolved.
        Mitigated => "mitigated",
        Resolved => "resolved",
    }
}

stored_enum! {
    /// How an incident was declared.
    DeclaredVia, "declaration channel" {
        IssueForm => "form",
        Command => "command",
        Api => "api",
        /// An Alertmanager (or Grafana Alerting) notification.
        Alert => "alert",
        /// A spike of infra_error agent runs (`POST /v1/agent-runs`).
        AgentRuns => "agent_runs",
    }
}

impl DeclaredVia {
    /// The words the templates show: `issue form`, `comment command`, `API`.
    pub fn describe(self) -> &'static str {
        match self {
            DeclaredVia::IssueForm => "issue form",
            DeclaredVia::Command => "comment command",
            DeclaredVia::Api => "API",
            DeclaredVia::Alert => "Alertmanager alert",
            DeclaredVia::AgentRuns => "agent-run checks",
        }
    }
}

stored_enum! {
    /// What happened to an incident: the kinds of its timeline's entries.
    EventKind, "timeline entry kind" {
        /// When it started, as declared (the form's "Started at", an alert's `startsAt`).
        Started => "started",
        Declared => "declared",
        Severity => "severity",
        Commander => "commander",
        Update => "update",
        Note => "note",
        Mitigated => "mitigated",
        Resolved => "resolved",
        Reopened => "reopened",
        PullRequest => "pull_request",
        AlertFiring => "alert_firing",
        AlertResolved => "alert_resolved",
        AgentRuns => "agent_runs",
    }
}

stored_enum! {
    /// Which of the incident's issues; also the `kind=` of its hidden marker.
    IncidentIssue, "incident issue" {
        Bug => "bug",
        Rca => "rca",
    }
}

stored_enum! {
    /// Whether a follow-up's issue is still open on GitHub (closed for any reason
    /// counts as closed).
    FollowUpState, "follow-up state" {
        Open => "open",
        Closed => "closed",
    }
}

stored_enum! {
    /// How a follow-up came to be tracked: Responder opened its issue, or the RCA
    /// named one (`issue: #N`).
    FollowUpOrigin, "follow-up origin" {
        Created => "created",
        Linked => "linked",
    }
}

/// The unique key of a declaration: the same key never opens a second incident.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IncidentKey(String);

impl IncidentKey {
    /// Declared by the issue form on `issue`.
    pub fn issue(repo: &RepoName, issue: IssueNumber) -> Self {
        Self(format!("issue:{}#{}", repo.full(), issue.0))
    }

    /// Declared by the `/incident declare` comment `comment_id`.
    pub fn comment(repo: &RepoName, comment_id: u64) -> Self {
        Self(format!("comment:{}:{comment_id}", repo.full()))
    }

    /// Declared through the API with `dedup_key`.
    pub fn api(repo: &RepoName, dedup_key: &str) -> Self {
        Self(format!("api:{}:{dedup_key}", repo.full()))
    }

    /// Declared by the alert group `group` (a `groupKey`, or an alert's
    /// fingerprint) of `repo`; `generation` counts the incidents the group declared
    /// before (a group firing again after the reopen window declares a new one).
    pub fn alert(repo: &RepoName, group: &str, generation: i64) -> Self {
        match generation {
            0 => Self(format!("alert:{}:{group}", repo.full())),
            g => Self(format!("alert:{}:{group}#{g}", repo.full())),
        }
    }

    /// Declared by a spike of `agent`'s infra_error runs in `repo` (the agent
    /// lowercased); `generation` counts the incidents its spikes declared before.
    pub fn agent_runs(repo: &RepoName, agent: &str, generation: i64) -> Self {
        Self(format!("runs:{}:{agent}#{generation}", repo.full()))
    }

    /// A key as stored.
    pub fn stored(key: String) -> Self {
        Self(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Read as the string it is (locks, leases and reply markers are keyed by it).
impl std::ops::Deref for IncidentKey {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IncidentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_word_reads_back_as_itself() {
        for s in IncidentStatus::ALL {
            assert_eq!(s.as_str().parse::<IncidentStatus>(), Ok(*s));
        }
        for v in DeclaredVia::ALL {
            assert_eq!(v.as_str().parse::<DeclaredVia>(), Ok(*v));
        }
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>(), Ok(*k));
        }
        for i in IncidentIssue::ALL {
            assert_eq!(i.as_str().parse::<IncidentIssue>(), Ok(*i));
        }
        for s in FollowUpState::ALL {
            assert_eq!(s.as_str().parse::<FollowUpState>(), Ok(*s));
        }
        for o in FollowUpOrigin::ALL {
            assert_eq!(o.as_str().parse::<FollowUpOrigin>(), Ok(*o));
        }
        let e = "closed".parse::<IncidentStatus>().unwrap_err();
        assert_eq!(e.to_string(), "unknown incident status \"closed\"");
    }
}
