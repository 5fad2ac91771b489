//! RCA due reminders: a periodic job that comments on each open RCA issue past its
//! due date, at most once per UTC day, mentioning its assignees, until it is closed;
//! and the update cadence: an open, unmitigated incident whose severity wants status
//! updates (`update_every`) and got none for that long gets one request on its bug
//! issue, to its commander (or whoever declared it), at most one per interval.
//!
//! State lives in the store (`rca_lifecycle.reminded_day`), so a restart neither
//! repeats nor skips a day; the comment also carries a per-day reply marker, so a
//! crash between posting and recording cannot post twice. The issue's state is read
//! before commenting: a close whose webhook was missed still stops reminders. Must
//! never mention anyone but the RCA's assignees.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::{IncidentError, IncidentService};
use crate::store::IncidentRecord;
use crate::types::valid_owner as is_login;

/// How often the job looks: often enough for a 30-minute update cadence; a
/// reminder still goes out at most once a day.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// The store lease one reminder pass holds, across instances; long enough for a
/// pass over many RCAs, short enough that a crashed holder does not skip a day.
const PASS_LEASE: &str = "rca-reminders";
const PASS_LEASE_MS: i64 = 10 * 60 * 1000;

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReminderReport {
    /// Incident ids reminded.
    pub reminded: Vec<i64>,
    /// Incident ids whose RCA issue turned out closed (recorded; no reminder).
    pub found_closed: Vec<i64>,
    /// Incident ids that failed (logged; tried again next run).
    pub failed: Vec<i64>,
    /// Incident ids asked for a status update.
    pub asked_for_update: Vec<i64>,
}

/// The periodic job; `run_once` is one pass at a given time.
pub struct RcaReminders {
    pub incidents: Arc<IncidentService>,
    pub interval: Duration,
    /// Wait before the first run, so startup is not slowed by GitHub calls.
    pub initial_delay: Duration,
}

impl RcaReminders {
    pub fn new(incidents: Arc<IncidentService>) -> Self {
        Self {
            incidents,
            interval: DEFAULT_INTERVAL,
            initial_delay: Duration::from_secs(30),
        }
    }

    /// Reminds every overdue open RCA not yet reminded on `now`'s UTC day. When
    /// another instance sharing the store is in its own pass, this one leaves the
    /// pass to it: two passes at once could both post before either records.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<ReminderReport, IncidentError> {
        let inc = &self.incidents;
        if !inc
            .store
            .try_lock(PASS_LEASE, &inc.instance, PASS_LEASE_MS)
            .await?
        {
            tracing::debug!("another instance is sending RCA reminders; skipping this pass");
            return Ok(ReminderReport::default());
        }
        let report = self.pass(now).await;
        if let Err(e) = inc.store.unlock(PASS_LEASE, &inc.instance).await {
            tracing::warn!(error = %e, "could not give the reminder lease back; it expires by itself");
        }
        report
    }

    async fn pass(&self, now: DateTime<Utc>) -> Result<ReminderReport, IncidentError> {
        let day = now.format("%Y-%m-%d").to_string();
        let due = self.incidents.store().overdue_rcas(&day).await?;
        let mut report = ReminderReport::default();
        for inc in due {
            match self.incidents.remind(&inc, &day, now).await {
                Ok(true) => report.reminded.push(inc.id),
                Ok(false) => report.found_closed.push(inc.id),
                Err(e) => {
                    tracing::warn!(incident = inc.id, error = %e, "RCA reminder failed; the next run tries again");
                    report.failed.push(inc.id);
                }
            }
        }
        let quiet = self
            .incidents
            .store()
            .updates_overdue(now.timestamp_millis())
            .await?;
        for inc in quiet {
            match self.incidents.ask_for_update(&inc, now).await {
                Ok(()) => report.asked_for_update.push(inc.id),
                Err(e) => {
                    tracing::warn!(incident = inc.id, error = %e, "update request failed; the next run tries again");
                    report.failed.push(inc.id);
                }
            }
        }
        Ok(report)
    }

    /// Runs every `interval` (with the service's clock) until `shutdown` turns true.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let job = &self;
        crate::periodic::every(
            self.initial_delay,
            self.interval,
            shutdown,
            |_| async move {
                match job.run_once(job.incidents.now()).await {
                    Ok(r) => tracing::info!(
                        reminded = r.reminded.len(),
                        closed = r.found_closed.len(),
                        failed = r.failed.len(),
                        "RCA reminder run finished"
                    ),
                    Err(e) => tracing::warn!(error = %e, "RCA reminder run failed"),
                }
            },
        )
        .await
    }
}

impl IncidentService {
    /// Comments the reminder on `inc`'s RCA issue for `day`, unless the issue is
    /// closed (then records that). Returns whether it reminded.
    async fn remind(
        &self,
        inc: &IncidentRecord,
        day: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, IncidentError> {
        let Some(rca) = &inc.rca_issue else {
            return Ok(false);
        };
        let issue = self.github.issue(&inc.target_repo, rca.number).await?;
        if issue.state == "closed" {
            self.store
                .mark_rca_closed(
                    inc.id,
                    now.timestamp_millis(),
                    issue.state_reason.as_deref(),
                )
                .await?;
            return Ok(false);
        }
        let who: Vec<String> = issue
            .assignees
            .iter()
            .filter(|u| is_login(&u.login))
            .map(|u| format!("@{}", u.login))
            .collect();
        let ask = match who.is_empty() {
            true => {
                "Nobody is assigned: assign its owner so the reminder reaches them.".to_string()
            }
            false => format!("{}: please finish it.", who.join(" ")),
        };
        let text = format!(
            "⏰ This RCA was due on **{}** ({} incident {}) and is still open. {ask}\n\n\
             Fill in at least **Root cause** and **Action items**, then close this issue as \
             completed. Responder reminds once a day until it is closed.",
            inc.rca_due_at, inc.severity, inc.id
        );
        let about = format!("rca-reminder:{}:{day}", inc.id);
        self.post_once(&inc.target_repo, rca.number, &about, &text)
            .await?;
        self.store
            .record_rca_reminder(inc.id, day, now.timestamp_millis())
            .await?;
        metrics::counter!("responder_rca_reminders_total").increment(1);
        tracing::info!(
            incident = inc.id,
            rca = rca.number.0,
            day,
            "RCA reminder posted"
        );
        Ok(true)
    }

    /// Asks `inc`'s commander (or its declarer) for a status update on the bug
    /// issue. The reply marker is keyed by the moment the request became due, so a
    /// crash between posting and recording cannot post twice.
    async fn ask_for_update(
        &self,
        inc: &IncidentRecord,
        now: DateTime<Utc>,
    ) -> Result<(), IncidentError> {
        let (Some(bug), Some(every)) = (&inc.bug_issue, inc.update_every_secs) else {
            return Ok(());
        };
        let last = inc.last_update_at.unwrap_or(inc.created_at);
        let anchor = last.max(inc.update_asked_at.unwrap_or(0));
        let who = inc
            .commander
            .as_deref()
            .unwrap_or(&inc.declared_by)
            .to_string();
        let whom = if is_login(&who) {
            format!("@{who}")
        } else {
            "Commander".to_string()
        };
        let since = super::lifecycle::format_duration(now.timestamp_millis() - last);
        let text = format!(
            "⏱️ {whom}: incident {} ({}) has had no status update for **{since}**; its              severity asks for one every {}. Post one with `/incident update <what is              happening, what is next>`, or `/incident mitigated` once the impact has stopped.",
            inc.id,
            inc.severity,
            super::lifecycle::format_duration(every * 1000),
        );
        let about = format!("update-request:{}:{anchor}", inc.id);
        self.post_once(&inc.target_repo, bug.number, &about, &text)
            .await?;
        self.store
            .record_update_request(inc.id, now.timestamp_millis())
            .await?;
        metrics::counter!("responder_update_requests_total", "severity" => inc.severity.as_str())
            .increment(1);
        tracing::info!(
            incident = inc.id,
            bug = bug.number.0,
            "status update requested"
        );
        Ok(())
    }
}
