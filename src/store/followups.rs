//! Follow-ups: an incident's action items and the issues that track them.
//!
//! Exactly once lives here: an item is claimed (inserted under its unique
//! `(incident, item key)`) before its issue is created, and the issue recorded as
//! soon as GitHub answers; a claimed item without an issue is the sign that an
//! earlier attempt may have created it. Plain facts only: which items become
//! issues is the service's decision.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;

use super::incidents::{parsed, parsed_opt};
use super::{IssueLink, Store, StoreError};
use crate::incident::model::{FollowUpOrigin, FollowUpState};
use crate::incident::text::action_items::ItemKey;
use crate::types::{IssueNumber, Login, RepoName};

/// An item to track; its issue, when the RCA named one.
#[derive(Debug, Clone)]
pub struct NewFollowUp {
    pub incident_id: i64,
    pub key: ItemKey,
    pub title: String,
    pub owner: Option<Login>,
    pub origin: FollowUpOrigin,
    pub issue: Option<(RepoName, IssueLink)>,
    pub state: FollowUpState,
    /// Milliseconds since the epoch.
    pub at: i64,
}

/// A tracked follow-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FollowUp {
    pub id: i64,
    pub incident_id: i64,
    #[serde(skip)]
    pub key: ItemKey,
    pub title: String,
    pub owner: Option<Login>,
    pub origin: FollowUpOrigin,
    /// `None` while its issue is being created.
    pub issue: Option<(RepoName, IssueLink)>,
    pub assigned: bool,
    pub state: FollowUpState,
}

const COLUMNS: &str = "id, incident_id, item_key, title, owner, origin, issue_repo, \
    issue_number, issue_url, assigned, state";

fn from_row(row: &sqlx::any::AnyRow) -> Result<FollowUp, sqlx::Error> {
    let repo: Option<RepoName> = parsed_opt(row, "issue_repo")?;
    let number: Option<i64> = row.try_get("issue_number")?;
    let url: Option<String> = row.try_get("issue_url")?;
    let issue = match (repo, number.and_then(|n| u64::try_from(n).ok())) {
        (Some(repo), Some(n)) => Some((
            repo,
            IssueLink {
                number: IssueNumber(n),
                url: url.unwrap_or_default(),
            },
        )),
        _ => None,
    };
    Ok(FollowUp {
        id: row.try_get("id")?,
        incident_id: row.try_get("incident_id")?,
        key: ItemKey::stored(row.try_get("item_key")?),
        title: row.try_get("title")?,
        owner: parsed_opt(row, "owner")?,
        origin: parsed(row, "origin")?,
        issue,
        assigned: row.try_get::<i64, _>("assigned")? != 0,
        state: parsed(row, "state")?,
    })
}

fn num(n: IssueNumber) -> i64 {
    i64::try_from(n.0).unwrap_or(i64::MAX)
}

impl Store {
    /// Stores the item unless its key is stored for the incident already; returns
    /// the stored row (the earlier one if any) and whether this call inserted it.
    pub async fn claim_follow_up(&self, new: &NewFollowUp) -> Result<(FollowUp, bool), StoreError> {
        let (repo, link) = match &new.issue {
            Some((r, l)) => (Some(r.full()), Some(l)),
            None => (None, None),
        };
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO follow_ups (incident_id, item_key, title, owner, origin, issue_repo, \
             issue_number, issue_url, state, created_at, closed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (incident_id, item_key) DO NOTHING RETURNING id",
        )
        .bind(new.incident_id)
        .bind(new.key.as_str())
        .bind(&new.title)
        .bind(new.owner.as_ref().map(Login::as_str))
        .bind(new.origin.as_str())
        .bind(repo)
        .bind(link.map(|l| num(l.number)))
        .bind(link.map(|l| l.url.clone()))
        .bind(new.state.as_str())
        .bind(new.at)
        .bind((new.state == FollowUpState::Closed).then_some(new.at))
        .fetch_optional(&self.writer)
        .await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM follow_ups WHERE incident_id = $1 AND item_key = $2"
        )))
        .bind(new.incident_id)
        .bind(new.key.as_str())
        .fetch_optional(&self.writer)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("follow-up {} vanished", new.key.as_str())))?;
        Ok((from_row(&row)?, inserted.is_some()))
    }

    /// The issue created (or found) for a claimed follow-up.
    pub async fn record_follow_up_issue(
        &self,
        id: i64,
        repo: &RepoName,
        issue: &IssueLink,
        assigned: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE follow_ups SET issue_repo = $2, issue_number = $3, issue_url = $4, \
             assigned = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(repo.full())
        .bind(num(issue.number))
        .bind(&issue.url)
        .bind(i64::from(assigned))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Issue `number` of `repo` was closed or reopened: every follow-up it tracks
    /// takes that state. Returns how many did.
    pub async fn set_follow_up_state(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        state: FollowUpState,
        at: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE follow_ups SET state = $3, closed_at = $4 \
             WHERE issue_repo = $1 AND issue_number = $2 AND state <> $3",
        )
        .bind(repo.full())
        .bind(num(number))
        .bind(state.as_str())
        .bind((state == FollowUpState::Closed).then_some(at))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    /// The follow-ups of an incident, in the order they were claimed.
    pub async fn follow_ups(&self, incident_id: i64) -> Result<Vec<FollowUp>, StoreError> {
        Ok(self
            .follow_ups_of(&[incident_id])
            .await?
            .remove(&incident_id)
            .unwrap_or_default())
    }

    /// The follow-ups of each of `incidents` (one query for a page of a list).
    pub async fn follow_ups_of(
        &self,
        incidents: &[i64],
    ) -> Result<HashMap<i64, Vec<FollowUp>>, StoreError> {
        let mut out: HashMap<i64, Vec<FollowUp>> = HashMap::new();
        if incidents.is_empty() {
            return Ok(out);
        }
        let marks: Vec<String> = (1..=incidents.len()).map(|i| format!("${i}")).collect();
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM follow_ups WHERE incident_id IN ({}) ORDER BY id",
            marks.join(", ")
        )));
        for id in incidents {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&self.pool).await? {
            let f = from_row(&row)?;
            out.entry(f.incident_id).or_default().push(f);
        }
        Ok(out)
    }
}
