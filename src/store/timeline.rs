//! The store's side of an incident's timeline: which RCA bodies are behind their
//! timeline (for the coalescing writer), what was written, and which incidents owe
//! a status update (for the cadence job).
//!
//! Plain queries over the columns `record_incident_event` keeps; never decides
//! when to write or ask — the incident service does.

use super::incidents::{COLUMNS, from_row};
use super::{IncidentRecord, Store, StoreError, now_ms};
use crate::incident::model::IncidentStatus;

impl Store {
    /// Incidents with an RCA issue whose timeline has entries the RCA body does not
    /// show yet, last written before `written_before` (ms) or never; oldest first.
    pub async fn timelines_behind(
        &self,
        written_before: i64,
        limit: i64,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM incidents \
             WHERE rca_issue_number IS NOT NULL AND timeline_version > timeline_synced \
               AND (timeline_synced_at IS NULL OR timeline_synced_at < $1) \
             ORDER BY id LIMIT $2"
        )))
        .bind(written_before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// The RCA body shows the timeline up to `version` (written, or found current),
    /// as of `at`; `broken` records whether its markers were missing.
    pub async fn mark_timeline_synced(
        &self,
        id: i64,
        version: i64,
        at: i64,
        broken: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET timeline_synced = $1, timeline_synced_at = $2, \
             timeline_broken = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(version)
        .bind(at)
        .bind(i64::from(broken))
        .bind(now_ms())
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Open (not mitigated, not resolved) incidents whose severity wants updates and
    /// that have had none — and no request for one — for a whole interval at `now`.
    pub async fn updates_overdue(&self, now: i64) -> Result<Vec<IncidentRecord>, StoreError> {
        // The later of the last update (or declaration) and the last request, plus
        // the interval: at most one request per interval.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM incidents \
             WHERE status = $1 AND update_every_secs IS NOT NULL AND bug_issue_number IS NOT NULL \
               AND (CASE WHEN COALESCE(update_asked_at, 0) > COALESCE(last_update_at, created_at) \
                         THEN update_asked_at ELSE COALESCE(last_update_at, created_at) END) \
                   + update_every_secs * 1000 <= $2 \
             ORDER BY id"
        )))
        .bind(IncidentStatus::Open.as_str())
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// A request for a status update was posted at `at`.
    pub async fn record_update_request(&self, id: i64, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE incidents SET update_asked_at = $1, updated_at = $2 WHERE id = $3")
            .bind(at)
            .bind(now_ms())
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
