//! Purpose: `issues.closed` and `issues.reopened` on an incident's issues — closing
//! the bug issue as completed resolves the incident, closing the RCA runs the
//! post-mortem loop, reopening the RCA resumes its reminders and reopening the bug
//! reopens the incident.
//!
//! Decodes and hands over to `IncidentService`; issues that belong to no incident
//! cost one store lookup. User mistakes were answered on the issue by the service;
//! GitHub hiccups are retried by the worker. Must never decide what a close means.

use std::sync::Arc;

use async_trait::async_trait;

use super::{decode, fail, remember_installation, repo_of};
use crate::incident::service::{Closed, IncidentService, IssueClosed};
use crate::types::IssueNumber;
use crate::webhook::payloads::IssuesEvent;
use crate::webhook::{Event, Handler, HandlerError};

pub struct IncidentCloseHandler {
    pub incidents: Arc<IncidentService>,
}

#[async_trait]
impl Handler for IncidentCloseHandler {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        let p: IssuesEvent = decode(event)?;
        let repo = repo_of(event)?;
        remember_installation(&self.incidents, event, &repo);
        let number = IssueNumber(p.issue.number);
        let actor = p.sender.map(|s| s.login).unwrap_or_else(|| "github".into());
        if event.action.as_deref() == Some("reopened") {
            let at = p.issue.updated_at.unwrap_or_default();
            return self
                .incidents
                .issue_reopened(&repo, number, &actor, &at)
                .await
                .map_err(fail);
        }
        let closed = IssueClosed {
            repo: repo.clone(),
            number,
            reason: p.issue.state_reason,
            closed_at: p.issue.closed_at.unwrap_or_default(),
            actor,
            body: p.issue.body.unwrap_or_default(),
        };
        match self.incidents.issue_closed(&closed).await {
            Ok(outcome) => {
                if outcome != Closed::Ignored {
                    tracing::info!(repo = %repo, issue = number.0, outcome = ?outcome, "incident issue closed");
                }
                Ok(())
            }
            Err(e) if e.user_text().is_some() => {
                // Say it on the issue once; retrying would not help.
                let m = e.user_text().unwrap_or_default();
                self.incidents
                    .reply_once(&repo, number, &closed.key(), &m)
                    .await
                    .map_err(fail)?;
                Ok(())
            }
            Err(e) => Err(fail(e)),
        }
    }
}
