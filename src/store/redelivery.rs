//! The redelivery job's rows: when it last ran, and which deliveries it asked GitHub
//! to send again (claimed before asking, so two instances never ask twice).

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError};

/// A delivery Responder asked GitHub to redeliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redelivery {
    pub guid: String,
    pub hook_delivery_id: i64,
    pub event: String,
    pub action: Option<String>,
    /// When the failed attempt was made (ms since the epoch).
    pub delivered_at: i64,
    /// What the failed attempt got back (0: no answer).
    pub status_code: i64,
    pub requested_at: i64,
}

/// The last complete run of a periodic job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRun {
    /// The run's start (ms since the epoch).
    pub last_run_at: i64,
    pub summary: String,
}

impl Store {
    pub async fn job_run(&self, job: &str) -> Result<Option<JobRun>, StoreError> {
        let row = sqlx::query("SELECT last_run_at, summary FROM job_runs WHERE job = $1")
            .bind(job)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(JobRun {
                last_run_at: r.try_get("last_run_at")?,
                summary: r.try_get("summary")?,
            })
        })
        .transpose()
    }

    /// Records a complete run that started at `started_at` (ms).
    pub async fn record_job_run(
        &self,
        job: &str,
        started_at: i64,
        summary: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO job_runs (job, last_run_at, summary) VALUES ($1, $2, $3) \
             ON CONFLICT (job) DO UPDATE SET last_run_at = excluded.last_run_at, \
             summary = excluded.summary",
        )
        .bind(job)
        .bind(started_at)
        .bind(summary)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Claims `r.guid` for a redelivery request; false when it was asked for before.
    pub async fn claim_redelivery(&self, r: &Redelivery) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO redeliveries (guid, hook_delivery_id, event, action, delivered_at, \
             status_code, requested_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (guid) DO NOTHING",
        )
        .bind(&r.guid)
        .bind(r.hook_delivery_id)
        .bind(&r.event)
        .bind(&r.action)
        .bind(r.delivered_at)
        .bind(r.status_code)
        .bind(r.requested_at)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a claim back after GitHub refused the request, so a later run asks again.
    pub async fn release_redelivery(&self, guid: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM redeliveries WHERE guid = $1")
            .bind(guid)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Redelivery requests, newest first.
    pub async fn list_redeliveries(&self, limit: i64) -> Result<Vec<Redelivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT guid, hook_delivery_id, event, action, delivered_at, status_code, \
             requested_at FROM redeliveries ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Redelivery {
                    guid: r.try_get("guid")?,
                    hook_delivery_id: r.try_get("hook_delivery_id")?,
                    event: r.try_get("event")?,
                    action: r.try_get("action")?,
                    delivered_at: r.try_get("delivered_at")?,
                    status_code: r.try_get("status_code")?,
                    requested_at: r.try_get("requested_at")?,
                })
            })
            .collect()
    }
}
