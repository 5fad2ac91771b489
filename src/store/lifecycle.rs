//! The RCA's life after declaration: closed or open, the last day a due reminder
//! went out, the runbook pull request it opened; and the incident listing that
//! shows them beside each incident.
//!
//! Plain facts in and out: what counts as overdue or closed is decided by the
//! caller, never here.

use serde::Serialize;
use sqlx::Row;

use super::incidents::{COLUMNS, from_row};
use super::{IncidentRecord, Store, StoreError};
use crate::incident::model::IncidentStatus;
use crate::incident::model::severity::Severity;

/// What is known of an incident's RCA beyond its issue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RcaState {
    /// Milliseconds since the epoch; `None` while the RCA issue is open.
    pub closed_at: Option<i64>,
    /// GitHub's `state_reason` of that close (`completed`, `not_planned`).
    pub close_reason: Option<String>,
    /// `YYYY-MM-DD` (UTC) of the last due reminder.
    pub reminded_day: Option<String>,
    pub reminder_count: i64,
    pub runbook_pr_number: Option<i64>,
    pub runbook_pr_url: Option<String>,
}

/// Which incidents to list; `None` matches any.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Lowercase `owner/repo`, as stored.
    pub repo: Option<String>,
    /// Only incidents declared in these (the caller's grants); `None`: all.
    pub within: Option<Vec<Within>>,
    pub status: Option<IncidentStatus>,
    pub severity: Option<Severity>,
    pub limit: i64,
}

/// A set of repositories, as stored (lowercase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Within {
    Repo(String),
    /// Every repository of this owner (an owner name has no `%` or `_`).
    Owner(String),
}

/// `(repo = $n OR repo LIKE $m …)` for `within`, numbering from `$first`, with the
/// values to bind; `FALSE` for an empty list.
fn within_sql(within: &[Within], first: usize) -> (String, Vec<String>) {
    if within.is_empty() {
        return ("1 = 0".into(), Vec::new());
    }
    let mut terms = Vec::new();
    let mut values = Vec::new();
    for (i, w) in within.iter().enumerate() {
        let n = first + i;
        match w {
            Within::Repo(r) => {
                terms.push(format!("repo = ${n}"));
                values.push(r.clone());
            }
            Within::Owner(o) => {
                terms.push(format!("repo LIKE ${n}"));
                values.push(format!("{o}/%"));
            }
        }
    }
    (format!("({})", terms.join(" OR ")), values)
}

const RCA_COLUMNS: &str = "rca_closed_at, rca_close_reason, reminded_day, \
    COALESCE(reminder_count, 0) AS reminder_count, runbook_pr_number, runbook_pr_url";

fn rca_from_row(row: &sqlx::any::AnyRow) -> Result<RcaState, sqlx::Error> {
    Ok(RcaState {
        closed_at: row.try_get("rca_closed_at")?,
        close_reason: row.try_get("rca_close_reason")?,
        reminded_day: row.try_get("reminded_day")?,
        reminder_count: row.try_get("reminder_count")?,
        runbook_pr_number: row.try_get("runbook_pr_number")?,
        runbook_pr_url: row.try_get("runbook_pr_url")?,
    })
}

impl Store {
    async fn ensure_rca_row(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rca_lifecycle (incident_id) VALUES ($1) \
             ON CONFLICT (incident_id) DO NOTHING",
        )
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The RCA's state; all empty when nothing happened to it yet.
    pub async fn rca_state(&self, id: i64) -> Result<RcaState, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RCA_COLUMNS} FROM rca_lifecycle WHERE incident_id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .as_ref()
            .map(rca_from_row)
            .transpose()?
            .unwrap_or_default())
    }

    /// Records the RCA issue closed at `at`; returns whether it was open before (so
    /// a redelivered close is not counted twice).
    pub async fn mark_rca_closed(
        &self,
        id: i64,
        at: i64,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.ensure_rca_row(id).await?;
        let done = sqlx::query(
            "UPDATE rca_lifecycle SET rca_closed_at = $2, rca_close_reason = $3 \
             WHERE incident_id = $1 AND rca_closed_at IS NULL",
        )
        .bind(id)
        .bind(at)
        .bind(reason)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The RCA issue is open again: reminders resume.
    pub async fn mark_rca_reopened(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE rca_lifecycle SET rca_closed_at = NULL, rca_close_reason = NULL \
             WHERE incident_id = $1",
        )
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Incidents whose RCA issue exists, is not known closed, was due before `today`
    /// (`YYYY-MM-DD`) and got no reminder on `today`; oldest first.
    pub async fn overdue_rcas(&self, today: &str) -> Result<Vec<IncidentRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM incidents \
             LEFT JOIN rca_lifecycle ON rca_lifecycle.incident_id = incidents.id \
             WHERE rca_issue_number IS NOT NULL AND rca_due_at < $1 \
               AND rca_closed_at IS NULL \
               AND (reminded_day IS NULL OR reminded_day <> $1) \
             ORDER BY incidents.id"
        )))
        .bind(today)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// A due reminder went out on `day`.
    pub async fn record_rca_reminder(&self, id: i64, day: &str, at: i64) -> Result<(), StoreError> {
        self.ensure_rca_row(id).await?;
        sqlx::query(
            "UPDATE rca_lifecycle SET reminded_day = $2, reminded_at = $3, \
             reminder_count = reminder_count + 1 WHERE incident_id = $1",
        )
        .bind(id)
        .bind(day)
        .bind(at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The pull request that carries the RCA's runbook updates.
    pub async fn record_runbook_pr(
        &self,
        id: i64,
        number: u64,
        url: &str,
    ) -> Result<(), StoreError> {
        self.ensure_rca_row(id).await?;
        sqlx::query(
            "UPDATE rca_lifecycle SET runbook_pr_number = $2, runbook_pr_url = $3 \
             WHERE incident_id = $1",
        )
        .bind(id)
        .bind(i64::try_from(number).unwrap_or(i64::MAX))
        .bind(url)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Incidents matching `filter`, newest first, each with its RCA's state.
    pub async fn list_incidents(
        &self,
        filter: &IncidentFilter,
    ) -> Result<Vec<(IncidentRecord, RcaState)>, StoreError> {
        let (within, values) = match &filter.within {
            Some(w) => within_sql(w, 5),
            None => ("1 = 1".into(), Vec::new()),
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS}, {RCA_COLUMNS} FROM incidents \
             LEFT JOIN rca_lifecycle ON rca_lifecycle.incident_id = incidents.id \
             WHERE ($1 IS NULL OR repo = $1 OR target_repo = $1) \
               AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR severity = $3) \
               AND {within} \
             ORDER BY incidents.id DESC LIMIT $4"
        )))
        .bind(&filter.repo)
        .bind(filter.status.map(IncidentStatus::as_str))
        .bind(filter.severity.map(Severity::as_str))
        .bind(filter.limit);
        for v in values {
            query = query.bind(v);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((from_row(r)?, rca_from_row(r)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// How many incidents there are per (severity, status).
    pub async fn incident_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT severity, status, COUNT(*) AS n FROM incidents GROUP BY severity, status",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("severity")?,
                    r.try_get("status")?,
                    r.try_get("n")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
