//! Replies on issues (refusals, problems, help, acknowledgements), each posted at
//! most once however often the delivery that asked for it is handled.
//!
//! A reply carries a hidden marker derived from what it answers and what it says;
//! before posting, the issue's comments are searched for it. Reply text may echo
//! user input, so it is always sanitised: it can never ping anyone.

use sha2::{Digest, Sha256};

use super::{IncidentError, IncidentService};
use crate::incident::text::sanitize::sanitize_user_text;
use crate::types::{IssueNumber, RepoName};

impl IncidentService {
    /// Posts `text` on issue `number` unless a reply to `about` with this text is
    /// there already. Returns whether it posted.
    pub async fn reply_once(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        about: &str,
        text: &str,
    ) -> Result<bool, IncidentError> {
        self.post_once(repo, number, about, &sanitize_user_text(text))
            .await
    }

    /// Like [`reply_once`](Self::reply_once) for a body that is already safe (rendered
    /// by the renderer, which sanitised the user's parts and keeps the runbook's).
    pub async fn post_once(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        about: &str,
        body: &str,
    ) -> Result<bool, IncidentError> {
        let marker = reply_marker(about, body);
        if self.has_own_comment(repo, number, &marker).await? {
            return Ok(false);
        }
        let body = format!("{marker}\n{body}");
        self.github.comment(repo, number, &body).await?;
        Ok(true)
    }
}

/// `<!-- responder:reply=<16 hex> -->` from what is answered and the answer.
pub fn reply_marker(about: &str, text: &str) -> String {
    let mut h = Sha256::new();
    h.update(about.as_bytes());
    h.update([0]);
    h.update(text.as_bytes());
    let digest = hex::encode(h.finalize());
    format!("<!-- responder:reply={} -->", &digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_depends_on_subject_and_text() {
        let a = reply_marker("comment:a/b:1", "no");
        assert_eq!(a, reply_marker("comment:a/b:1", "no"));
        assert_ne!(a, reply_marker("comment:a/b:2", "no"));
        assert_ne!(a, reply_marker("comment:a/b:1", "yes"));
        assert!(a.starts_with("<!-- responder:reply=") && a.ends_with(" -->"));
    }
}
