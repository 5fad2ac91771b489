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
use crate::store::{Effect, IncidentEvent, IncidentRecord, IssueLink};
use crate::types::{IssueNumber, RepoName};

/// What a command asks to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Severity(Severity),
    Resolve {
        note: Option<String>,
    },
    Reopen,
    Commander(String),
    Update(String),
    /// A note at `at` (ms; back-dated or now).
    Note {
        text: String,
        at: i64,
    },
    Mitigated {
        note: Option<String>,
    },
}

/// Who asked for a change, what caused it exactly once, and where to answer.
pub(super) struct Cause<'a> {
    pub actor: &'a str,
    pub source_key: &'a str,
    pub reply_to: (&'a RepoName, IssueNumber),
    /// When the change was asked for (ms).
    pub at: i64,
    /// Recorded before: a redelivery or retry, which redoes only the idempotent part.
    pub recorded: bool,
}

impl Cause<'_> {
    /// A timeline entry of `kind` for this cause, linked to the issue it was said on.
    pub fn entry(&self, kind: EventKind, inc: &IncidentRecord) -> IncidentEvent {
        let mut e = IncidentEvent::new(kind, self.actor, self.at, Some(self.source_key.into()));
        e.from_severity = Some(inc.severity);
        e.to_severity = Some(inc.severity);
        e.url = issue_url(inc, self.reply_to);
        e
    }
}

/// The web address of `(repo, number)` when it is one of the incident's issues.
fn issue_url(inc: &IncidentRecord, (repo, number): (&RepoName, IssueNumber)) -> Option<String> {
    let on = |l: &Option<IssueLink>, r: &RepoName| {
        l.as_ref()
            .filter(|l| l.number == number && r == repo)
            .map(|l| l.url.clone())
    };
    on(&inc.source_issue, &inc.repo)
        .or_else(|| on(&inc.bug_issue, &inc.target_repo))
        .or_else(|| on(&inc.rca_issue, &inc.target_repo))
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
        let inc = self.reload(incident.id).await?;
        let recorded = self
            .store
            .incident_events(inc.id)
            .await?
            .iter()
            .any(|e| e.source_key.as_deref() == Some(source_key));
        let cause = Cause {
            actor,
            source_key,
            reply_to,
            at: self.now().timestamp_millis(),
            recorded,
        };
        // `inc`, read under the lock, already holds what an earlier recording changed.
        let inc = match change {
            Change::Severity(s) => self.change_severity(ctx, inc, s, &cause).await?,
            Change::Resolve { note } => self.resolve(ctx, inc, note, &cause).await?,
            Change::Reopen => self.reopen(ctx, inc, &cause).await?,
            Change::Commander(login) => self.assign_commander(ctx, inc, &login, &cause).await?,
            Change::Update(text) => self.post_update(inc, &text, &cause).await?,
            Change::Note { text, at } => self.add_note(inc, &text, at, &cause).await?,
            Change::Mitigated { note } => self.mitigate(ctx, inc, note, &cause).await?,
        };
        // Nothing is written after the last reload: `inc` is what the store holds.
        Ok(inc)
    }

    async fn change_severity(
        &self,
        ctx: &RepoContext,
        mut inc: IncidentRecord,
        s: Severity,
        c: &Cause<'_>,
    ) -> Result<IncidentRecord, IncidentError> {
        let (repo, number) = c.reply_to;
        if c.recorded && inc.severity != s {
            // Superseded by a later change: leave the issues as they are.
            return Ok(inc);
        }
        if !c.recorded && inc.severity == s {
            let text = format!("Incident {} is already {s}.", inc.id);
            self.reply_once(repo, number, c.source_key, &text).await?;
            return Ok(inc);
        }
        if !c.recorded {
            let mut e = c.entry(EventKind::Severity, &inc);
            e.to_severity = Some(s);
            e.text = Some(format!("severity {} → {s}", inc.severity));
            // The one due date: from the declaration, with the new severity's days;
            // and the new severity's update rhythm.
            let due = rca_due_date(millis(inc.created_at).date_naive(), &ctx.runbook, s);
            let effect = Effect::Severity {
                rca_due_at: &due,
                update_every_secs: ctx.runbook.severity(s).update_every_secs(),
            };
            self.store.record_incident_event(inc.id, &e, effect).await?;
            inc = self.reload(inc.id).await?;
        }
        self.relabel(ctx, &inc, s).await?;
        let body = self.event_comment(ctx, &inc, "severity", None).await?;
        self.post_once(repo, number, c.source_key, &body).await?;
        Ok(inc)
    }

    async fn resolve(
        &self,
        ctx: &RepoContext,
        mut inc: IncidentRecord,
        note: Option<String>,
        c: &Cause<'_>,
    ) -> Result<IncidentRecord, IncidentError> {
        let (repo, number) = c.reply_to;
        if !c.recorded && inc.status == IncidentStatus::Resolved {
            let text = format!("Incident {} is already resolved.", inc.id);
            self.reply_once(repo, number, c.source_key, &text).await?;
            return Ok(inc);
        }
        if !c.recorded {
            inc = self
                .record_milestone(inc, EventKind::Resolved, note.as_deref(), c)
                .await?;
        }
        let resolved_at = inc.resolved_at.unwrap_or(c.at);
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
            self.post_once(&inc.target_repo, rca.number, c.source_key, &body)
                .await?;
        }
        let on_rca =
            inc.rca_issue.as_ref().map(|l| l.number) == Some(number) && &inc.target_repo == repo;
        if !on_rca {
            self.post_once(repo, number, c.source_key, &body).await?;
        }
        // The RCA's timeline is brought up to date at resolve, not a few seconds later.
        self.sync_timeline(&inc).await?;
        Ok(inc)
    }

    async fn reopen(
        &self,
        ctx: &RepoContext,
        mut inc: IncidentRecord,
        c: &Cause<'_>,
    ) -> Result<IncidentRecord, IncidentError> {
        let (repo, number) = c.reply_to;
        // A mitigated incident reopens too: its impact is back (an alert fires again).
        if !c.recorded && inc.status == IncidentStatus::Open {
            let text = format!("Incident {} is not resolved.", inc.id);
            self.reply_once(repo, number, c.source_key, &text).await?;
            return Ok(inc);
        }
        if !c.recorded {
            let mut e = c.entry(EventKind::Reopened, &inc);
            e.text = Some("reopened".into());
            self.store
                .record_incident_event(inc.id, &e, Effect::None)
                .await?;
            inc = self.reload(inc.id).await?;
        }
        let body = self.event_comment(ctx, &inc, "reopened", None).await?;
        self.post_once(repo, number, c.source_key, &body).await?;
        Ok(inc)
    }

    pub(super) async fn reload(&self, id: i64) -> Result<IncidentRecord, IncidentError> {
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
    pub(super) async fn event_comment(
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

impl IncidentService {
    /// Records a milestone entry (`mitigated`, `resolved`) with its note, and its
    /// metric the first time; returns the incident as it now is.
    pub(super) async fn record_milestone(
        &self,
        inc: IncidentRecord,
        kind: EventKind,
        note: Option<&str>,
        c: &Cause<'_>,
    ) -> Result<IncidentRecord, IncidentError> {
        let mut e = c.entry(kind, &inc);
        e.note = note.map(str::to_string);
        e.text = Some(note.unwrap_or(kind.as_str()).to_string());
        if self
            .store
            .record_incident_event(inc.id, &e, Effect::None)
            .await?
        {
            let metric = if kind == EventKind::Mitigated {
                "mitigate"
            } else {
                "resolve"
            };
            super::milestones::record_metric(metric, &inc, c.at);
        }
        self.reload(inc.id).await
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
