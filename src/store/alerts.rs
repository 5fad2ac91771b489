//! Alert groups: which incident a group of alerts follows and which of its alerts
//! fire now (migration 0032).
//!
//! Purpose: the facts the alert handler decides with — a repeat of the same firing
//! set, a set that changed, a resolve, and the reopen window — kept per repository
//! and group. Must never decide anything itself.

use sqlx::Row;

use super::{Store, StoreError, now_ms};

/// One group as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertGroup {
    /// Bumped each time the group declares a new incident (after the reopen window).
    pub generation: i64,
    /// `None` between claiming a generation and storing its declaration.
    pub incident_id: Option<i64>,
    /// The firing fingerprints, sorted.
    pub firing: Vec<String>,
    /// When the group last resolved (ms); `None` while it fires.
    pub resolved_at: Option<i64>,
}

fn join(fingerprints: &[String]) -> String {
    fingerprints.join("\n")
}

impl Store {
    pub async fn alert_group(
        &self,
        repo: &str,
        group: &str,
    ) -> Result<Option<AlertGroup>, StoreError> {
        let row = sqlx::query(
            "SELECT generation, incident_id, firing, resolved_at FROM alert_groups \
             WHERE repo = $1 AND group_key = $2",
        )
        .bind(repo)
        .bind(group)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let firing: String = row.try_get("firing")?;
        Ok(Some(AlertGroup {
            generation: row.try_get("generation")?,
            incident_id: row.try_get("incident_id")?,
            firing: firing
                .split('\n')
                .filter(|f| !f.is_empty())
                .map(str::to_string)
                .collect(),
            resolved_at: row.try_get("resolved_at")?,
        }))
    }

    /// Starts `generation` of the group (no incident yet), unless a generation at
    /// least as new is there: the store, not timing, decides between two handlers.
    pub async fn claim_alert_generation(
        &self,
        repo: &str,
        group: &str,
        generation: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO alert_groups (repo, group_key, generation, incident_id, firing, resolved_at, updated_at) \
             VALUES ($1, $2, $3, NULL, '', NULL, $4) \
             ON CONFLICT (repo, group_key) DO UPDATE SET generation = excluded.generation, \
             incident_id = NULL, firing = '', resolved_at = NULL, updated_at = excluded.updated_at \
             WHERE alert_groups.generation < excluded.generation",
        )
        .bind(repo)
        .bind(group)
        .bind(generation)
        .bind(now_ms())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Records the group's incident, its firing set and whether it is resolved
    /// (`resolved_at`), for `generation` only.
    pub async fn set_alert_group(
        &self,
        repo: &str,
        group: &str,
        generation: i64,
        incident_id: i64,
        firing: &[String],
        resolved_at: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE alert_groups SET incident_id = $1, firing = $2, resolved_at = $3, updated_at = $4 \
             WHERE repo = $5 AND group_key = $6 AND generation = $7",
        )
        .bind(incident_id)
        .bind(join(firing))
        .bind(resolved_at)
        .bind(now_ms())
        .bind(repo)
        .bind(group)
        .bind(generation)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}
