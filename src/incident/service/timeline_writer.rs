//! The job that keeps RCA bodies' timelines current, coalescing: an incident's
//! RCA is edited at most once per `coalesce` however many entries arrive, and
//! right away at resolve (the resolve path writes it itself).
//!
//! State is in the store (each incident's timeline version and the version its RCA
//! shows), so a restart resumes where it stopped and two instances never edit one
//! RCA at once (a lease per incident). Must never edit an RCA whose timeline is
//! current: the store says which are behind.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::{IncidentError, IncidentService};

/// How long entries gather before the RCA is edited again.
pub const DEFAULT_COALESCE: Duration = Duration::from_secs(5);
/// RCAs brought up to date per pass at most (the rest wait for the next pass).
const PER_PASS: i64 = 50;

pub struct TimelineWriter {
    pub incidents: Arc<IncidentService>,
    pub coalesce: Duration,
    /// How often it looks.
    pub interval: Duration,
}

impl TimelineWriter {
    pub fn new(incidents: Arc<IncidentService>) -> Self {
        Self {
            incidents,
            coalesce: DEFAULT_COALESCE,
            interval: Duration::from_secs(2),
        }
    }

    /// Writes every RCA timeline that is behind and was last written more than
    /// `coalesce` before `now`; returns how many RCA bodies it edited.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<usize, IncidentError> {
        let inc = &self.incidents;
        let before = now.timestamp_millis() - self.coalesce.as_millis() as i64;
        let behind = inc.store().timelines_behind(before, PER_PASS).await?;
        let mut edited = 0;
        for record in behind {
            let lease = format!("timeline:{}", record.id);
            if !inc.store().try_lock(&lease, &inc.instance, 60_000).await? {
                continue; // another instance is writing it
            }
            match inc.sync_timeline(&record).await {
                Ok(true) => edited += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(incident = record.id, error = %e, "RCA timeline not written; the next pass tries again")
                }
            }
            if let Err(e) = inc.store().unlock(&lease, &inc.instance).await {
                tracing::warn!(error = %e, "could not give a timeline lease back; it expires by itself");
            }
        }
        Ok(edited)
    }

    /// Runs every `interval` until `shutdown` turns true.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let job = &self;
        crate::periodic::every(self.interval, self.interval, shutdown, |_| async move {
            if let Err(e) = job.run_once(job.incidents.now()).await {
                tracing::warn!(error = %e, "RCA timeline pass failed");
            }
        })
        .await
    }
}
