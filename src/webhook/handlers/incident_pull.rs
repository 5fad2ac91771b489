//! Purpose: `pull_request.opened` and `pull_request.closed` (merged) whose title or
//! body references an incident's issue (`#8`, `fixes #8`, `acme/evals#8`, its URL)
//! become an entry of that incident's timeline: "PR #42 merged: Roll back …".
//!
//! Only pull requests by people who may write the incident's timeline count (the
//! opener, or for a merge whoever merged it, needs the repository's
//! `min_permission`): a drive-by PR cannot write into an incident. Nothing is
//! answered on GitHub either way. Must never create or change issues.

use std::sync::Arc;

use async_trait::async_trait;

use super::{fail, remember_installation, repo_of};
use crate::incident::model::EventKind;
use crate::incident::service::IncidentService;
use crate::incident::text::refs::issue_refs;
use crate::store::{Effect, IncidentEvent};
use crate::webhook::payloads::{PullRequestEvent, decode};
use crate::webhook::{Event, Handler, HandlerError};

pub struct IncidentPullHandler {
    pub incidents: Arc<IncidentService>,
}

#[async_trait]
impl Handler for IncidentPullHandler {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        let p: PullRequestEvent = decode(event)?;
        let pr = &p.pull_request;
        let (verb, actor) = match event.action.as_deref() {
            Some("opened") => ("opened", pr.user.login.clone()),
            Some("closed") if pr.merged => (
                "merged",
                pr.merged_by
                    .as_ref()
                    .or(p.sender.as_ref())
                    .map_or_else(|| pr.user.login.clone(), |u| u.login.clone()),
            ),
            _ => return Ok(()),
        };
        let repo = repo_of(event)?;
        let text = format!("{}\n{}", pr.title, pr.body.as_deref().unwrap_or(""));
        let refs = issue_refs(&text, &repo);
        if refs.is_empty() {
            return Ok(());
        }
        remember_installation(&self.incidents, event, &repo);
        let inc = &self.incidents;
        let mut seen = Vec::new();
        for (r, n) in refs {
            let Some(incident) = inc
                .store()
                .incident_for_issue(&r, n)
                .await
                .map_err(|e| fail(e.into()))?
            else {
                continue;
            };
            if seen.contains(&incident.id) {
                continue;
            }
            seen.push(incident.id);
            let ctx = match inc.context(&incident.repo).await {
                Ok(c) => c,
                Err(e) if e.user_text().is_some() => {
                    tracing::info!(incident = incident.id, error = %e, "pull request not linked: the repository's config is broken");
                    continue;
                }
                Err(e) => return Err(fail(e)),
            };
            if let Some(why) = inc
                .refusal(&ctx, &actor, "writing an incident's timeline needs")
                .await
                .map_err(fail)?
            {
                tracing::info!(incident = incident.id, pr = pr.number, reason = %why, "pull request not linked");
                continue;
            }
            let at = pr
                .merged_at
                .as_deref()
                .filter(|_| verb == "merged")
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map_or_else(|| inc.now().timestamp_millis(), |t| t.timestamp_millis());
            // One entry per incident, pull request and what happened to it.
            let key = format!("pr:{}:{}#{}:{verb}", incident.id, repo.full(), pr.number);
            let mut e = IncidentEvent::new(EventKind::PullRequest, &actor, at, Some(key));
            e.text = Some(format!(
                "PR {}#{} {verb}: {}",
                repo.full(),
                pr.number,
                pr.title
            ));
            e.url = Some(pr.html_url.clone());
            let new = inc
                .store()
                .record_incident_event(incident.id, &e, Effect::None)
                .await
                .map_err(|e| fail(e.into()))?;
            tracing::info!(
                incident = incident.id,
                pr = pr.number,
                verb,
                new,
                "pull request linked to the incident's timeline"
            );
        }
        Ok(())
    }
}
