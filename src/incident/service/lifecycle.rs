//! Changes to a declared incident: severity, resolve, reopen — each recorded with
//! who and when, applied to its issues, and answered once.
//!
//! Exactly once: the event is stored under the key of what caused it (the command
//! comment), so a redelivery records nothing new; what follows (relabelling,
//! retitling, replies) is idempotent and simply runs again. Must never create an
//! incident's issues: that is `declare`'s job.

use super::{IncidentError, IncidentService, RepoContext, declaration_of, marker, millis};
use crate::github::{IssueUpdate, Label};
use crate::incident::model::severity::Severity;
use crate::incident::model::{EventKind, IncidentStatus};
use crate::incident::render::TemplateKind;
use crate::incident::render::view::{bug_title, rca_due_date, rca_title};
use crate::store::{IncidentEvent, IncidentRecord, IssueLink};
use crate::types::{IssueNumber, RepoName};

/// What a command asks to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Severity(Severity),
    Resolve { note: Option<String> },
    Reopen,
}

impl IncidentService {
    /// Applies `change` to `incident` on behalf of `actor`, caused by `source_key`
    /// (e.g. the command comment's key), and answers on `reply_to` (where the
    /// command was written). `ctx` is the incident's own repository's context.
    pub async fn change(
        &self,
        ctx: &RepoContext,
        incident: &IncidentRecord,
        change: Change,
        actor: &str,
        source_key: &str,
        reply_to: (&RepoName, IssueNumber),
    ) -> Result<IncidentRecord, IncidentError> {
        let _guard = self.locks.lock(&incident.key).await;
        let mut inc = self.reload(incident.id).await?;
        let (repo, number) = reply_to;
        let at = self.now().timestamp_millis();
        let current = inc.severity;
        let event = |kind: EventKind| IncidentEvent {
            kind,
            actor: actor.into(),
            at,
            from_severity: Some(current),
            to_severity: Some(current),
            note: None,
            source_key: Some(source_key.into()),
        };
        // Recorded before: this is a redelivery or retry; redo only the idempotent part
        // (`inc`, read under the lock, already holds what that recording changed).
        let recorded = self
            .store
            .incident_events(inc.id)
            .await?
            .iter()
            .any(|e| e.source_key.as_deref() == Some(source_key));
        match change {
            Change::Severity(s) => {
                if recorded && inc.severity != s {
                    // Superseded by a later change: leave the issues as they are.
                    return Ok(inc);
                }
                if !recorded && inc.severity == s {
                    let text = format!("Incident {} is already {s}.", inc.id);
                    self.reply_once(repo, number, source_key, &text).await?;
                    return Ok(inc);
                }
                if !recorded {
                    let mut e = event(EventKind::Severity);
                    e.to_severity = Some(s);
                    // The one due date: from the declaration, with the new severity's days.
                    let due = rca_due_date(millis(inc.created_at).date_naive(), &ctx.runbook, s);
                    self.store
                        .record_incident_event(inc.id, &e, Some(&due))
                        .await?;
                    inc = self.reload(inc.id).await?;
                }
                self.relabel(ctx, &inc, s).await?;
                let body = self.event_comment(ctx, &inc, "severity", None).await?;
                self.post_once(repo, number, source_key, &body).await?;
            }
            Change::Resolve { note } => {
                if !recorded && inc.status == IncidentStatus::Resolved {
                    let text = format!("Incident {} is already resolved.", inc.id);
                    self.reply_once(repo, number, source_key, &text).await?;
                    return Ok(inc);
                }
                if !recorded {
                    let mut e = event(EventKind::Resolved);
                    e.note = note.clone();
                    if self.store.record_incident_event(inc.id, &e, None).await? {
                        let secs = (at - inc.created_at).max(0) as f64 / 1000.0;
                        metrics::histogram!("responder_incident_time_to_resolve_seconds", "severity" => inc.severity.as_str())
                            .record(secs);
                    }
                    inc = self.reload(inc.id).await?;
                }
                let resolved_at = inc.resolved_at.unwrap_or(at);
                let took = format_duration(resolved_at - inc.created_at);
                let body = self
                    .event_comment(ctx, &inc, "resolved", note.as_deref())
                    .await?;
                let body = format!(
                    "{body}\n\nTime to resolve: **{took}** (declared {}, resolved {}).",
                    millis(inc.created_at).format("%Y-%m-%d %H:%M UTC"),
                    millis(resolved_at).format("%Y-%m-%d %H:%M UTC"),
                );
                if let Some(rca) = &inc.rca_issue {
                    self.post_once(&inc.target_repo, rca.number, source_key, &body)
                        .await?;
                }
                let on_rca = inc.rca_issue.as_ref().map(|l| l.number) == Some(number)
                    && &inc.target_repo == repo;
                if !on_rca {
                    self.post_once(repo, number, source_key, &body).await?;
                }
            }
            Change::Reopen => {
                if !recorded && inc.status != IncidentStatus::Resolved {
                    let text = format!("Incident {} is not resolved.", inc.id);
                    self.reply_once(repo, number, source_key, &text).await?;
                    return Ok(inc);
                }
                if !recorded {
                    self.store
                        .record_incident_event(inc.id, &event(EventKind::Reopened), None)
                        .await?;
                    inc = self.reload(inc.id).await?;
                }
                let body = self.event_comment(ctx, &inc, "reopened", None).await?;
                self.post_once(repo, number, source_key, &body).await?;
            }
        }
        // Nothing is written after the last reload: `inc` is what the store holds.
        Ok(inc)
    }

    async fn reload(&self, id: i64) -> Result<IncidentRecord, IncidentError> {
        self.store
            .incident(id)
            .await?
            .ok_or_else(|| IncidentError::User(format!("incident {id} is gone")))
    }

    /// Puts `s`'s label (and only it among severities) and title prefix on the bug
    /// and RCA issues, and swaps the severity label of the declaring issue if it
    /// carries one (its title is the declarer's); repeating it changes nothing.
    async fn relabel(
        &self,
        ctx: &RepoContext,
        inc: &IncidentRecord,
        s: Severity,
    ) -> Result<(), IncidentError> {
        let decl = declaration_of(inc)?;
        self.ensure_labels(ctx, &inc.target_repo, &decl).await?;
        let issues: [(Option<&IssueLink>, String); 2] = [
            (inc.bug_issue.as_ref(), bug_title(s, &inc.title)),
            (inc.rca_issue.as_ref(), rca_title(s, &inc.title)),
        ];
        if let Some(src) = &inc.source_issue {
            self.swap_severity_label(&inc.repo, src.number, s).await?;
        }
        for (link, title) in issues {
            let Some(link) = link else { continue };
            let issue = self.github.issue(&inc.target_repo, link.number).await?;
            for name in stale_severity_labels(&issue.labels, s) {
                self.github
                    .remove_label(&inc.target_repo, link.number, name)
                    .await?;
            }
            if !issue.labels.iter().any(|l| l.name == s.label()) {
                self.github
                    .add_labels(&inc.target_repo, link.number, &[s.label().to_string()])
                    .await?;
            }
            if issue.title != title {
                let update = IssueUpdate {
                    title: Some(title),
                    ..IssueUpdate::default()
                };
                self.github
                    .update_issue(&inc.target_repo, link.number, &update)
                    .await?;
            }
        }
        Ok(())
    }

    /// On an issue that carries a severity label other than `s`'s: replaces it.
    async fn swap_severity_label(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        s: Severity,
    ) -> Result<(), IncidentError> {
        let issue = self.github.issue(repo, number).await?;
        let stale = stale_severity_labels(&issue.labels, s);
        if stale.is_empty() {
            return Ok(());
        }
        for name in stale {
            self.github.remove_label(repo, number, name).await?;
        }
        self.github
            .add_labels(repo, number, &[s.label().to_string()])
            .await?;
        Ok(())
    }

    /// The comment template rendered for an event, without a marker (the reply adds one).
    async fn event_comment(
        &self,
        ctx: &RepoContext,
        inc: &IncidentRecord,
        event: &str,
        note: Option<&str>,
    ) -> Result<String, IncidentError> {
        let decl = declaration_of(inc)?;
        let mut view = self.view(ctx, inc, &decl, &marker(inc.id, event));
        view.marker = String::new();
        view.event = event.into();
        view.note = note.map(str::to_string);
        Ok(ctx.templates.render(TemplateKind::Comment, &view).await?)
    }
}

/// `2h 05m`, `3d 4h`, `12m`: how long an incident lasted.
pub fn format_duration(ms: i64) -> String {
    let mins = ms.max(0) / 60_000;
    let (d, h, m) = (mins / 1440, (mins / 60) % 24, mins % 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m:02}m"),
        _ => format!("{d}d {h}h {m:02}m"),
    }
}

/// The severity labels among `labels` other than `s`'s.
fn stale_severity_labels(labels: &[Label], s: Severity) -> Vec<&str> {
    labels
        .iter()
        .map(|l| l.name.as_str())
        .filter(|n| *n != s.label() && Severity::ALL.iter().any(|x| x.label() == *n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::format_duration;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(format_duration(12 * 60_000), "12m");
        assert_eq!(format_duration((2 * 60 + 5) * 60_000), "2h 05m");
        assert_eq!(format_duration((3 * 1440 + 4 * 60) * 60_000), "3d 4h 00m");
        assert_eq!(format_duration(-5), "0m");
    }
}
