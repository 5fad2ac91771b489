//! Recovers missed webhook deliveries.
//!
//! Purpose: GitHub never retries a failed delivery and keeps it for redelivery only
//! three days. Every interval this job lists the App's deliveries back to its last
//! run, picks those whose every attempt failed and that the inbox lacks, and asks
//! GitHub to send each once more; the redelivery then arrives through `POST /webhook`
//! like any other delivery.
//!
//! It must never handle a delivery itself, never ask twice for one delivery (a guid
//! is claimed in the store before the request, so a redelivery that fails again is
//! left for an operator), and knows nothing of HTTP serving.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::{Clock, millis};
use crate::github::{GitHub, GitHubError, HookDelivery};
use crate::store::{Redelivery, Store, StoreError};

/// The job's name in the store's `job_runs`.
pub const JOB: &str = "redelivery";

#[derive(Debug, Clone)]
pub struct RedeliveryConfig {
    /// Time between runs.
    pub interval: Duration,
    /// Wait before the first run, so the listener is serving when redeliveries arrive.
    pub initial_delay: Duration,
    /// How far back the very first run looks: as far as GitHub keeps deliveries.
    pub first_lookback: chrono::Duration,
    /// Each run also re-reads this much before the last run's start: an attempt in
    /// flight then may have been listed late or without its outcome.
    pub overlap: chrono::Duration,
}

impl RedeliveryConfig {
    pub fn every(interval: Duration) -> Self {
        Self {
            interval,
            initial_delay: Duration::from_secs(10),
            first_lookback: chrono::Duration::days(3),
            overlap: chrono::Duration::minutes(2),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RedeliveryError {
    #[error(
        "cannot list the App's webhook deliveries (GET /app/hook/deliveries): {0}; the next run tries again"
    )]
    List(#[source] GitHubError),
    #[error("the store failed during the redelivery run: {0}")]
    Store(#[from] StoreError),
}

/// What one run saw and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// Attempts listed since the run's starting point.
    pub listed: usize,
    /// Deliveries (guids) whose every listed attempt failed.
    pub failed: usize,
    /// Guids redelivery was asked for.
    pub requested: Vec<String>,
    /// Guids GitHub refused to redeliver; the next run asks again.
    pub refused: Vec<String>,
}

impl RunReport {
    fn summary(&self) -> String {
        format!(
            "listed {} attempts; {} deliveries failed; redelivery requested for {}; refused {}",
            self.listed,
            self.failed,
            self.requested.len(),
            self.refused.len()
        )
    }
}

pub struct RedeliveryJob {
    pub store: Store,
    pub github: Arc<dyn GitHub>,
    pub clock: Arc<dyn Clock>,
    pub config: RedeliveryConfig,
}

impl RedeliveryJob {
    /// One pass: list, pick, ask. The run's start is recorded only when every request
    /// went through, so a refused one is listed (and asked for) again next time.
    pub async fn run_once(&self) -> Result<RunReport, RedeliveryError> {
        self.pass(None).await
    }

    /// A pass that stops between requests once `stop` turns true (never between a
    /// claim and its request, which would lose the delivery); a stopped pass is not
    /// recorded, so the next one lists the same window again.
    async fn pass(
        &self,
        stop: Option<&watch::Receiver<bool>>,
    ) -> Result<RunReport, RedeliveryError> {
        let started = self.clock.now();
        let since = match self.store.job_run(JOB).await? {
            Some(last) => millis(last.last_run_at) - self.config.overlap,
            None => started - self.config.first_lookback,
        };
        let attempts = self
            .github
            .hook_deliveries(since)
            .await
            .map_err(RedeliveryError::List)?;
        let failed = all_attempts_failed(&attempts);
        let mut report = RunReport {
            listed: attempts.len(),
            failed: failed.len(),
            ..RunReport::default()
        };
        let mut stopped = false;
        for attempt in failed {
            if stop.is_some_and(|s| *s.borrow()) {
                stopped = true;
                break;
            }
            if self.store.delivery(&attempt.guid).await?.is_some() {
                continue;
            }
            let row = Redelivery {
                guid: attempt.guid.clone(),
                hook_delivery_id: attempt.id as i64,
                event: attempt.event.clone(),
                action: attempt.action.clone(),
                delivered_at: attempt.delivered_at.timestamp_millis(),
                status_code: i64::from(attempt.status_code),
                requested_at: self.clock.now().timestamp_millis(),
            };
            if !self.store.claim_redelivery(&row).await? {
                continue;
            }
            match self.github.redeliver(attempt.id).await {
                Ok(()) => {
                    tracing::info!(delivery = %attempt.guid, event = %attempt.event, status = attempt.status_code, "asked GitHub to redeliver a failed delivery");
                    metrics::counter!("responder_redeliveries_requested_total", "event" => attempt.event.clone())
                        .increment(1);
                    report.requested.push(attempt.guid.clone());
                }
                Err(e) => {
                    tracing::warn!(delivery = %attempt.guid, error = %e, "GitHub refused to redeliver; the next run asks again");
                    self.store.release_redelivery(&attempt.guid).await?;
                    report.refused.push(attempt.guid.clone());
                }
            }
        }
        if report.refused.is_empty() && !stopped {
            self.store
                .record_job_run(JOB, started.timestamp_millis(), &report.summary())
                .await?;
        }
        Ok(report)
    }

    /// Runs every `interval` until `shutdown` turns true; a failed run is logged and
    /// the next one starts from the last good run.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let (first, interval) = (self.config.initial_delay, self.config.interval);
        let job = &self;
        crate::periodic::every(first, interval, shutdown, |stop| async move {
            let outcome = match job.pass(Some(&stop)).await {
                Ok(report) => {
                    tracing::info!(summary = %report.summary(), "redelivery run finished");
                    "ok"
                }
                Err(e) => {
                    tracing::warn!(error = %e, "redelivery run failed");
                    "error"
                }
            };
            metrics::counter!("responder_redelivery_runs_total", "outcome" => outcome).increment(1);
        })
        .await
    }
}

/// For each guid none of whose attempts got a 2xx, its newest attempt (the one to
/// redeliver). GitHub lists newest first; the result keeps that order.
pub fn all_attempts_failed(attempts: &[HookDelivery]) -> Vec<&HookDelivery> {
    let mut succeeded: HashMap<&str, bool> = HashMap::new();
    for a in attempts {
        *succeeded.entry(a.guid.as_str()).or_default() |= (200..300).contains(&a.status_code);
    }
    let mut newest: Vec<&HookDelivery> = Vec::new();
    for a in attempts {
        if succeeded[a.guid.as_str()] {
            continue;
        }
        match newest.iter_mut().find(|n| n.guid == a.guid) {
            Some(n) if a.delivered_at > n.delivered_at => *n = a,
            Some(_) => {}
            None => newest.push(a),
        }
    }
    newest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(id: u64, guid: &str, secs: i64, status: u16) -> HookDelivery {
        HookDelivery {
            id,
            guid: guid.into(),
            delivered_at: chrono::DateTime::from_timestamp(secs, 0).unwrap(),
            redelivery: false,
            status_code: status,
            event: "issues".into(),
            action: Some("opened".into()),
        }
    }

    #[test]
    fn a_guid_counts_as_failed_only_when_no_attempt_succeeded() {
        let listed = [
            attempt(5, "a", 50, 500),
            attempt(4, "b", 40, 200),
            attempt(3, "b", 30, 502),
            attempt(2, "c", 20, 0),
            attempt(1, "a", 10, 504),
        ];
        let failed: Vec<(u64, &str)> = all_attempts_failed(&listed)
            .iter()
            .map(|a| (a.id, a.guid.as_str()))
            .collect();
        assert_eq!(failed, [(5, "a"), (2, "c")]);
    }

    #[test]
    fn the_newest_failed_attempt_is_the_one_redelivered_whatever_the_order() {
        let listed = [attempt(1, "a", 10, 500), attempt(7, "a", 70, 500)];
        assert_eq!(all_attempts_failed(&listed)[0].id, 7);
    }
}
