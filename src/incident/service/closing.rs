//! Issues of an incident closed or reopened on GitHub: closing the bug issue as
//! completed resolves the incident (as `/incident resolve` does); closing the RCA
//! issue records it closed (reminders stop) and, when completed, runs the
//! post-mortem loop; reopening the RCA resumes reminders, reopening the bug
//! reopens a resolved incident. A follow-up's issue closed (for any reason) or
//! reopened is recorded so the incident list counts open follow-ups.
//!
//! Exactly once: a close is keyed by the issue and its `closed_at`, stable across
//! redeliveries and different for each close. Must never reopen or close issues.

use super::{Change, IncidentError, IncidentService};
use crate::incident::model::{FollowUpState, IncidentIssue, IncidentStatus};
use crate::store::IncidentRecord;
use crate::types::{IssueNumber, RepoName};

/// An `issues.closed` delivery, as the handler read it.
#[derive(Debug, Clone)]
pub struct IssueClosed {
    pub repo: RepoName,
    pub number: IssueNumber,
    /// GitHub's `state_reason`: `completed`, `not_planned`, …
    pub reason: Option<String>,
    /// The issue's `closed_at`, as GitHub wrote it.
    pub closed_at: String,
    pub actor: String,
    pub body: String,
}

/// What a close meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// Not an incident's bug or RCA issue, or closed as not planned.
    Ignored,
    Resolved,
    /// The RCA's loop ran; see [`super::postmortem::RcaOutcome`].
    Rca(super::postmortem::RcaOutcome),
}

impl IssueClosed {
    /// Stable across redeliveries of one close; new for the next close.
    pub fn key(&self) -> String {
        format!(
            "closed:{}#{}@{}",
            self.repo.full(),
            self.number.0,
            self.closed_at
        )
    }

    fn completed(&self) -> bool {
        self.reason.as_deref() == Some("completed")
    }
}

/// Which of an incident's issues `number` in `repo` is.
fn role(inc: &IncidentRecord, repo: &RepoName, number: IssueNumber) -> Option<IncidentIssue> {
    if &inc.target_repo != repo {
        return None;
    }
    if inc.bug_issue.as_ref().map(|l| l.number) == Some(number) {
        Some(IncidentIssue::Bug)
    } else if inc.rca_issue.as_ref().map(|l| l.number) == Some(number) {
        Some(IncidentIssue::Rca)
    } else {
        None
    }
}

impl IncidentService {
    /// Handles a closed issue that may belong to an incident.
    pub async fn issue_closed(&self, c: &IssueClosed) -> Result<Closed, IncidentError> {
        // Before the incident lookup: a follow-up may be another incident's bug issue.
        self.follow_up_state(&c.repo, c.number, FollowUpState::Closed)
            .await?;
        let Some(inc) = self.store.incident_for_issue(&c.repo, c.number).await? else {
            return Ok(Closed::Ignored);
        };
        match role(&inc, &c.repo, c.number) {
            Some(IncidentIssue::Bug) if c.completed() => self.bug_closed(&inc, c).await,
            Some(IncidentIssue::Rca) => {
                let at = self.now().timestamp_millis();
                let first = self
                    .store
                    .mark_rca_closed(inc.id, at, c.reason.as_deref())
                    .await?;
                if !c.completed() {
                    return Ok(Closed::Ignored);
                }
                let outcome = self.rca_completed(&inc, c, first).await?;
                Ok(Closed::Rca(outcome))
            }
            _ => Ok(Closed::Ignored),
        }
    }

    /// An incident's issue is open again: a reopened RCA resumes its reminders; a
    /// reopened bug reopens its resolved incident (as `/incident reopen` does).
    /// `reopened_at` (the issue's `updated_at`) keys the reopen across redeliveries.
    pub async fn issue_reopened(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        actor: &str,
        reopened_at: &str,
    ) -> Result<(), IncidentError> {
        self.follow_up_state(repo, number, FollowUpState::Open)
            .await?;
        let Some(inc) = self.store.incident_for_issue(repo, number).await? else {
            return Ok(());
        };
        match role(&inc, repo, number) {
            Some(IncidentIssue::Rca) => self.store.mark_rca_reopened(inc.id).await?,
            Some(IncidentIssue::Bug) if inc.status == IncidentStatus::Resolved => {
                let key = format!("reopened:{}#{}@{reopened_at}", repo.full(), number.0);
                let ctx = self.context(&inc.repo).await?;
                if let Some(refusal) = self
                    .refusal(&ctx, actor, "reopening an incident needs")
                    .await?
                {
                    let text = format!(
                        "{refusal} Incident {} stays resolved although this issue was reopened.",
                        inc.id
                    );
                    self.reply_once(repo, number, &key, &text).await?;
                    return Ok(());
                }
                self.change(&ctx, &inc, Change::Reopen, actor, &key, (repo, number))
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Records the state of the follow-ups issue `number` tracks, if any.
    async fn follow_up_state(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        state: FollowUpState,
    ) -> Result<(), IncidentError> {
        let at = self.now().timestamp_millis();
        let changed = self
            .store
            .set_follow_up_state(repo, number, state, at)
            .await?;
        if changed > 0 {
            tracing::info!(repo = %repo, issue = number.0, state = %state, "follow-up issue state recorded");
        }
        Ok(())
    }

    async fn bug_closed(
        &self,
        inc: &IncidentRecord,
        c: &IssueClosed,
    ) -> Result<Closed, IncidentError> {
        let key = c.key();
        if inc.status == IncidentStatus::Resolved {
            let ours = self
                .store
                .incident_events(inc.id)
                .await?
                .iter()
                .any(|e| e.source_key.as_deref() == Some(key.as_str()));
            if !ours {
                // Resolved before (by command): closing the bug adds nothing.
                return Ok(Closed::Ignored);
            }
        }
        let ctx = self.context(&inc.repo).await?;
        if let Some(refusal) = self
            .refusal(&ctx, &c.actor, "resolving an incident needs")
            .await?
        {
            let text = format!(
                "{refusal} Incident {} stays open although this issue was closed; someone \
                 with that permission can comment `/incident resolve`.",
                inc.id
            );
            self.reply_once(&c.repo, c.number, &key, &text).await?;
            return Ok(Closed::Ignored);
        }
        let change = Change::Resolve { note: None };
        self.change(&ctx, inc, change, &c.actor, &key, (&c.repo, c.number))
            .await?;
        Ok(Closed::Resolved)
    }
}
