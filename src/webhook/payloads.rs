//! The parts of GitHub's webhook payloads Responder reads, typed once for every
//! handler (GitHub's documented shapes; `tests/fixtures/github/webhooks/` holds real
//! examples).
//!
//! Purpose: one decoding of each event, so handlers never keep partial structs of
//! their own and a field GitHub always sends is required here (a payload without
//! it fails loudly, naming the JSON path). Must never interpret what an event
//! means: that is the handlers' and the services' job.

use serde::Deserialize;

use super::{Event, HandlerError};
use crate::store::IssueLink;
use crate::types::IssueNumber;

/// A GitHub account as webhooks show it.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub login: String,
    /// `User`, `Bot` or `Organization`.
    #[serde(rename = "type", default)]
    pub kind: String,
}

impl User {
    /// An App's bot (`name[bot]`): its comments and forms are not people's.
    pub fn is_bot(&self) -> bool {
        self.kind.eq_ignore_ascii_case("bot") || self.login.ends_with("[bot]")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub name: String,
}

/// An issue (or pull request seen as an issue, on `issue_comment`).
#[derive(Debug, Clone, Deserialize)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub html_url: String,
    pub user: User,
    #[serde(default)]
    pub labels: Vec<Label>,
    /// `completed`, `not_planned`, `reopened` or none.
    #[serde(default)]
    pub state_reason: Option<String>,
    #[serde(default)]
    pub closed_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl Issue {
    pub fn link(&self) -> IssueLink {
        IssueLink {
            number: IssueNumber(self.number),
            url: self.html_url.clone(),
        }
    }
}

/// `issues.*`: opened, edited, labeled, closed, reopened, …
#[derive(Debug, Clone, Deserialize)]
pub struct IssuesEvent {
    pub issue: Issue,
    /// The label added or removed (`labeled`, `unlabeled`).
    #[serde(default)]
    pub label: Option<Label>,
    /// Who did it.
    #[serde(default)]
    pub sender: Option<User>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    pub user: User,
    #[serde(default)]
    pub html_url: Option<String>,
}

/// `issue_comment.created` (and edited/deleted).
#[derive(Debug, Clone, Deserialize)]
pub struct IssueCommentEvent {
    pub issue: Issue,
    pub comment: Comment,
}

/// A pull request as `pull_request` events carry it.
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub html_url: String,
    pub user: User,
    #[serde(default)]
    pub merged: bool,
    #[serde(default)]
    pub merged_by: Option<User>,
    #[serde(default)]
    pub merged_at: Option<String>,
}

/// `pull_request.*`: opened, closed (merged or not), …
#[derive(Debug, Clone, Deserialize)]
pub struct PullRequestEvent {
    pub pull_request: PullRequest,
    #[serde(default)]
    pub sender: Option<User>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub login: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Installation {
    pub id: i64,
    pub account: Account,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Repository {
    pub full_name: String,
}

/// `installation.*` and `installation_repositories.*`.
#[derive(Debug, Clone, Deserialize)]
pub struct InstallationEvent {
    pub installation: Installation,
    /// `installation.created`: the repositories it covers (absent for "all").
    #[serde(default)]
    pub repositories: Option<Vec<Repository>>,
    #[serde(default)]
    pub repositories_added: Vec<Repository>,
    #[serde(default)]
    pub repositories_removed: Vec<Repository>,
}

/// Decodes `event`'s payload as `T`; the error names the event and the JSON path
/// that did not fit (`issue.user: missing field login`).
pub fn decode<T: serde::de::DeserializeOwned>(event: &Event) -> Result<T, HandlerError> {
    let mut de = serde_json::Deserializer::from_str(&event.payload);
    serde_path_to_error::deserialize(&mut de)
        .map_err(|e| HandlerError::Fatal(format!("{} payload: {e}", event.key())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> serde_json::Value {
        let path = format!(
            "{}/tests/fixtures/github/webhooks/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn event(name: &str, payload: serde_json::Value) -> Event {
        let action = payload["action"].as_str().map(str::to_string);
        let text = payload.to_string();
        Event::from_delivery("d-1", name, action.as_deref(), None, None, text.into(), 1)
    }

    #[test]
    fn githubs_examples_decode() {
        let e: IssuesEvent = decode(&event("issues", fixture("issues.opened"))).unwrap();
        assert!(!e.issue.title.is_empty() && !e.issue.user.login.is_empty());
        let e: IssuesEvent = decode(&event("issues", fixture("issues.labeled"))).unwrap();
        assert!(e.label.is_some());
        let e: IssuesEvent = decode(&event("issues", fixture("issues.closed"))).unwrap();
        assert_eq!(e.issue.state_reason.as_deref(), Some("completed"));
        let e: IssueCommentEvent =
            decode(&event("issue_comment", fixture("issue_comment.created"))).unwrap();
        assert!(!e.comment.user.is_bot());
        let e: InstallationEvent =
            decode(&event("installation", fixture("installation.created"))).unwrap();
        assert!(e.installation.id > 0);
        let e: PullRequestEvent =
            decode(&event("pull_request", fixture("pull_request.opened"))).unwrap();
        assert!(e.pull_request.number > 0 && !e.pull_request.merged);
    }

    #[test]
    fn a_missing_field_is_named_by_its_path() {
        let mut p = fixture("issue_comment.created");
        p["comment"]["user"]
            .as_object_mut()
            .unwrap()
            .remove("login");
        let err = decode::<IssueCommentEvent>(&event("issue_comment", p)).unwrap_err();
        let HandlerError::Fatal(msg) = err else {
            panic!("{err:?}")
        };
        assert!(msg.contains("comment.user"), "{msg}");
    }
}
