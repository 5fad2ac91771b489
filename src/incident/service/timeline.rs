//! The running incident: its commander, status updates, notes and mitigation —
//! each a timeline entry recorded exactly once — and the RCA's `## Timeline`
//! section kept up to date from those entries.
//!
//! The RCA body is edited read-modify-write: only the text between Responder's
//! hidden markers is replaced, so what people wrote anywhere else (their own lines
//! in the Timeline section included) stays byte for byte; a body whose markers are
//! gone is left alone, with one comment saying how to restore them. Must never
//! write an entry twice: every entry carries the key of what caused it.

use super::lifecycle::Cause;
use super::{IncidentError, IncidentService, RepoContext};
use crate::github::{GitHubError, IssueUpdate};
use crate::incident::model::{EventKind, IncidentStatus};
use crate::incident::render::timeline::{
    TIMELINE_END, TIMELINE_START, render_entries, replace_between,
};
use crate::incident::text::sanitize::sanitize_user_text;
use crate::store::{Effect, IncidentRecord};

/// The bug issue's header line naming the commander, between these markers.
pub const COMMANDER_START: &str = "<!-- responder:commander -->";
pub const COMMANDER_END: &str = "<!-- /responder:commander -->";

impl IncidentService {
    /// `/incident commander @login`: records them, assigns the bug issue to them
    /// (keeping its other assignees) and names them in the bug's header.
    pub(super) async fn assign_commander(
        &self,
        _ctx: &RepoContext,
        mut inc: IncidentRecord,
        login: &str,
        c: &Cause<'_>,
    ) -> Result<IncidentRecord, IncidentError> {
        let (repo, number) = c.reply_to;
        if !c.recorded {
            let mut e = c.entry(EventKind::Commander, &inc);
            e.text = Some(format!("{login} is incident commander"));
            if self
                .store
                .record_incident_event(inc.id, &e, Effect::Commander(login))
                .await?
            {
                super::milestones::record_first_ack(&inc, c.at);
            }
            inc = self.reload(inc.id).await?;
        }
        if inc.commander.as_deref() != Some(login) {
            return Ok(inc); // superseded by a later commander
        }
        let mut said = format!("{login} is now incident commander of incident {}.", inc.id);
        if let Some(bug) = &inc.bug_issue {
            let issue = self.github.issue(&inc.target_repo, bug.number).await?;
            let mut assignees: Vec<String> =
                issue.assignees.iter().map(|u| u.login.clone()).collect();
            let body = issue.body.unwrap_or_default();
            let header = replace_between(
                &body,
                COMMANDER_START,
                COMMANDER_END,
                &format!("**{login}**"),
            );
            let mut update = IssueUpdate {
                body: header.filter(|b| *b != body),
                ..IssueUpdate::default()
            };
            if !assignees.iter().any(|a| a.eq_ignore_ascii_case(login)) {
                assignees.push(login.to_string());
                update.assignees = Some(assignees);
            }
            if update.body.is_some() || update.assignees.is_some() {
                match self
                    .github
                    .update_issue(&inc.target_repo, bug.number, &update)
                    .await
                {
                    Ok(_) => {}
                    // GitHub refuses assignees who cannot be assigned there.
                    Err(GitHubError::Invalid { .. }) if update.assignees.is_some() => {
                        update.assignees = None;
                        if update.body.is_some() {
                            self.github
                                .update_issue(&inc.target_repo, bug.number, &update)
                                .await?;
                        }
                        said.push_str(&format!(
                            " GitHub would not assign the bug issue to {login} (not a collaborator?), so it names them in its header only."
                        ));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if !said.contains("GitHub would not") {
                said.push_str(&format!(
                    " The bug issue #{} is assigned to them.",
                    bug.number.0
                ));
            }
        }
        self.reply_once(repo, number, c.source_key, &said).await?;
        Ok(inc)
    }

    /// `/incident update <text>`: a formatted status update on the bug issue, and
    /// on the declaring issue when it is another.
    pub(super) async fn post_update(
        &self,
        mut inc: IncidentRecord,
        text: &str,
        c: &Cause<'_>,
    ) -> Result<IncidentRecord, IncidentError> {
        if !c.recorded {
            let mut e = c.entry(EventKind::Update, &inc);
            e.text = Some(text.to_string());
            if self
                .store
                .record_incident_event(inc.id, &e, Effect::None)
                .await?
            {
                super::milestones::record_first_ack(&inc, c.at);
            }
            inc = self.reload(inc.id).await?;
        }
        // Made from the recorded entry, so a redelivery (later, after more changes)
        // renders the same comment and `post_once` recognises it.
        let (at, severity) = self
            .recorded(&inc, c)
            .await?
            .map(|e| (e.at, e.to_severity.unwrap_or(inc.severity)))
            .unwrap_or((c.at, inc.severity));
        let body = format!(
            "### Status update: incident {} ({severity})\n\n{}\n\n— {} at {}",
            inc.id,
            sanitize_user_text(text),
            sanitize_user_text(c.actor),
            super::millis(at).format("%Y-%m-%d %H:%M UTC"),
        );
        let mut places = Vec::new();
        if let Some(bug) = &inc.bug_issue {
            places.push((inc.target_repo.clone(), bug.number));
        }
        if let Some(src) = &inc.source_issue
            && !places.contains(&(inc.repo.clone(), src.number))
        {
            places.push((inc.repo.clone(), src.number));
        }
        for (repo, number) in places {
            self.post_once(&repo, number, c.source_key, &body).await?;
        }
        Ok(inc)
    }

    /// `/incident note <text> [at=…]`: an entry at its own time.
    pub(super) async fn add_note(
        &self,
        inc: IncidentRecord,
        text: &str,
        at: i64,
        c: &Cause<'_>,
    ) -> Result<IncidentRecord, IncidentError> {
        if !c.recorded {
            let mut e = c.entry(EventKind::Note, &inc);
            e.at = at;
            e.text = Some(text.to_string());
            self.store
                .record_incident_event(inc.id, &e, Effect::None)
                .await?;
        }
        // The time as recorded: a redelivery's `at` (now) would be another answer.
        let at = self.recorded(&inc, c).await?.map_or(at, |e| e.at);
        let (repo, number) = c.reply_to;
        let said = format!(
            "Noted on incident {}'s timeline at {}.",
            inc.id,
            super::millis(at).format("%Y-%m-%d %H:%M UTC")
        );
        self.reply_once(repo, number, c.source_key, &said).await?;
        self.reload(inc.id).await
    }

    /// The entry `c` recorded (now or on an earlier delivery).
    async fn recorded(
        &self,
        inc: &IncidentRecord,
        c: &Cause<'_>,
    ) -> Result<Option<crate::store::IncidentEvent>, IncidentError> {
        Ok(self
            .store
            .incident_events(inc.id)
            .await?
            .into_iter()
            .find(|e| e.source_key.as_deref() == Some(c.source_key)))
    }

    /// `/incident mitigated [note]`: the impact has stopped; the incident stays open.
    pub(super) async fn mitigate(
        &self,
        ctx: &RepoContext,
        mut inc: IncidentRecord,
        note: Option<String>,
        c: &Cause<'_>,
    ) -> Result<IncidentRecord, IncidentError> {
        let (repo, number) = c.reply_to;
        if !c.recorded && inc.status != IncidentStatus::Open {
            let text = format!("Incident {} is already {}.", inc.id, inc.status);
            self.reply_once(repo, number, c.source_key, &text).await?;
            return Ok(inc);
        }
        if !c.recorded {
            inc = self
                .record_milestone(inc, EventKind::Mitigated, note.as_deref(), c)
                .await?;
        }
        let body = self
            .event_comment(ctx, &inc, "mitigated", note.as_deref())
            .await?;
        self.post_once(repo, number, c.source_key, &body).await?;
        Ok(inc)
    }

    /// `/incident timeline`: the entries so far, answered where it was asked.
    pub async fn answer_timeline(
        &self,
        inc: &IncidentRecord,
        reply_to: (&crate::types::RepoName, crate::types::IssueNumber),
        about: &str,
    ) -> Result<(), IncidentError> {
        let entries = self.store.incident_events(inc.id).await?;
        let text = format!(
            "**Timeline of incident {}** ({}, {}), UTC:\n\n{}",
            inc.id,
            inc.severity,
            inc.status,
            render_entries(&entries, TIMELINE_ANSWER_BUDGET)
        );
        self.post_once(reply_to.0, reply_to.1, about, &text).await?;
        Ok(())
    }

    /// Writes the timeline into the RCA body when it shows less than the store
    /// holds; returns whether the body was edited.
    pub async fn sync_timeline(&self, inc: &IncidentRecord) -> Result<bool, IncidentError> {
        self.editing_rca(inc.id, self.sync_timeline_locked(inc))
            .await
    }

    /// Runs `edit`, a read-modify-write of incident `id`'s RCA body, while no other
    /// such edit of Responder's runs: the timeline writer and the follow-up links
    /// both rewrite the body as GitHub has it, and GitHub has no conditional PATCH,
    /// so two interleaved edits would lose one. An async lock orders them in this
    /// process, a store lease across instances (the lease alone is re-entrant for
    /// one instance). A person's edit between a read and a write can still be lost.
    pub(super) async fn editing_rca<T>(
        &self,
        id: i64,
        edit: impl std::future::Future<Output = Result<T, IncidentError>>,
    ) -> Result<T, IncidentError> {
        let name = format!("rca-body:{id}");
        let _guard = self.locks.lock(&name).await;
        self.lease(&name).await?;
        let out = edit.await;
        if let Err(e) = self.store.unlock(&name, &self.instance).await {
            tracing::warn!(error = %e, "could not give the RCA body lease back; it expires by itself");
        }
        out
    }

    async fn sync_timeline_locked(&self, inc: &IncidentRecord) -> Result<bool, IncidentError> {
        let Some(rca) = &inc.rca_issue else {
            return Ok(false);
        };
        let now = self.now().timestamp_millis();
        // Read the version first: an entry recorded while this runs leaves the
        // incident behind, for the next pass.
        let inc = self.reload(inc.id).await?;
        let entries = self.store.incident_events(inc.id).await?;
        let issue = self.github.issue(&inc.target_repo, rca.number).await?;
        let body = issue.body.unwrap_or_default();
        let lines = render_entries(&entries, TIMELINE_BODY_BUDGET);
        let Some(new_body) = replace_between(&body, TIMELINE_START, TIMELINE_END, &lines) else {
            if !inc.timeline_broken {
                self.post_once(
                    &inc.target_repo,
                    rca.number,
                    &format!("timeline-markers:{}", inc.id),
                    &markers_gone(),
                )
                .await?;
            }
            self.store
                .mark_timeline_synced(inc.id, inc.timeline_version, now, true)
                .await?;
            return Ok(false);
        };
        let edited = new_body != body;
        if edited {
            let update = IssueUpdate {
                body: Some(new_body),
                ..IssueUpdate::default()
            };
            self.github
                .update_issue(&inc.target_repo, rca.number, &update)
                .await?;
            tracing::info!(
                incident = inc.id,
                version = inc.timeline_version,
                "RCA timeline written"
            );
        }
        self.store
            .mark_timeline_synced(inc.id, inc.timeline_version, now, false)
            .await?;
        Ok(edited)
    }
}

/// Room for the timeline in an RCA body (GitHub allows 65,536 characters in all).
const TIMELINE_BODY_BUDGET: usize = 20_000;
/// Room for the timeline in the answer to `/incident timeline`.
const TIMELINE_ANSWER_BUDGET: usize = 60_000;

fn markers_gone() -> String {
    format!(
        "Responder keeps this RCA's timeline between two hidden markers in the \
         **Timeline** section, and they are no longer in the body, so it left the body \
         alone. To have it written again, edit this issue and put these two lines back \
         under `## Timeline` (your own lines may stay above or below them):\n\n\
         ```\n{TIMELINE_START}\n{TIMELINE_END}\n```\n\n\
         `/incident timeline` answers with the timeline meanwhile."
    )
}
