//! Incident rows and their history: insert-or-get by declaration key, record each
//! created issue as soon as it exists, and the events (severity, resolve, reopen)
//! with who and when.
//!
//! Typed records in, typed records out: severities, statuses, channels and event
//! kinds are stored through their one conversion (`as_str` / `FromStr`), and a
//! stored word that does not read back is a decode error, never a default.

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError, now_ms};
pub use crate::incident::model::IncidentIssue;
use crate::incident::model::severity::Severity;
use crate::incident::model::{DeclaredVia, EventKind, IncidentKey, IncidentStatus};
use crate::types::{IssueNumber, RepoName};

/// What a declaration stores; every name already normalised by the caller.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub key: IncidentKey,
    pub repo: RepoName,
    pub target_repo: RepoName,
    pub severity: Severity,
    pub component: Option<String>,
    pub title: String,
    pub summary: String,
    pub impact: Option<String>,
    pub started_at: Option<String>,
    pub links: Option<String>,
    pub declared_by: String,
    pub declared_via: DeclaredVia,
    pub dedup_key: Option<String>,
    pub source_issue: Option<IssueLink>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// `YYYY-MM-DD`.
    pub rca_due_at: String,
    /// When it started, when the declaration says so in a form Responder reads.
    pub started_ms: Option<i64>,
    /// How often the severity wants a status update, if at all.
    pub update_every_secs: Option<i64>,
}

/// An issue by number and web address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssueLink {
    pub number: IssueNumber,
    pub url: String,
}

/// A stored incident.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentRecord {
    pub id: i64,
    #[serde(skip)]
    pub key: IncidentKey,
    pub repo: RepoName,
    pub target_repo: RepoName,
    pub severity: Severity,
    pub component: Option<String>,
    pub title: String,
    pub summary: String,
    pub impact: Option<String>,
    pub started_at: Option<String>,
    pub links: Option<String>,
    pub declared_by: String,
    pub declared_via: DeclaredVia,
    pub dedup_key: Option<String>,
    pub source_issue: Option<IssueLink>,
    pub status: IncidentStatus,
    pub created_at: i64,
    /// `YYYY-MM-DD`: the one due date, set at declaration and on a severity change.
    pub rca_due_at: String,
    pub resolved_at: Option<i64>,
    pub bug_issue: Option<IssueLink>,
    pub rca_issue: Option<IssueLink>,
    pub bug_linked: bool,
    pub comment_posted: bool,
    pub commander: Option<String>,
    pub started_ms: Option<i64>,
    pub acknowledged_at: Option<i64>,
    pub mitigated_at: Option<i64>,
    pub last_update_at: Option<i64>,
    pub update_asked_at: Option<i64>,
    pub update_every_secs: Option<i64>,
    /// Bumped per timeline entry; `timeline_synced` is the version the RCA shows.
    pub timeline_version: i64,
    pub timeline_synced: i64,
    pub timeline_synced_at: Option<i64>,
    /// The RCA's timeline markers were missing (and that was said).
    pub timeline_broken: bool,
}

/// One thing that happened to an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentEvent {
    pub kind: EventKind,
    pub actor: String,
    pub at: i64,
    pub from_severity: Option<Severity>,
    pub to_severity: Option<Severity>,
    pub note: Option<String>,
    /// What caused it exactly once (e.g. `comment:<repo>:<id>`), if anything.
    #[serde(skip)]
    pub source_key: Option<String>,
    /// The timeline's line for it (declarer text, unsanitised: renderers sanitise).
    pub text: Option<String>,
    /// A link: the comment, pull request or alert it came from.
    pub url: Option<String>,
}

impl IncidentEvent {
    /// An entry of `kind` by `actor` at `at` (ms), caused once by `source_key`.
    pub fn new(kind: EventKind, actor: &str, at: i64, source_key: Option<String>) -> Self {
        Self {
            kind,
            actor: actor.to_string(),
            at,
            from_severity: None,
            to_severity: None,
            note: None,
            source_key,
            text: None,
            url: None,
        }
    }
}

/// What an event changes on the incident beyond its kind's milestone.
#[derive(Debug, Clone, Copy, Default)]
pub enum Effect<'a> {
    #[default]
    None,
    /// A severity change: the new due date and update interval (from the runbook).
    Severity {
        rca_due_at: &'a str,
        update_every_secs: Option<i64>,
    },
    /// The new commander's login.
    Commander(&'a str),
}

pub(super) const COLUMNS: &str = "id, key, repo, target_repo, severity, component, title, summary, impact, \
    started_at, links, declared_by, declared_via, dedup_key, source_issue_number, \
    source_issue_url, status, created_at, rca_due_at, resolved_at, bug_issue_number, \
    bug_issue_url, rca_issue_number, rca_issue_url, bug_linked, comment_posted, commander, \
    started_ms, acknowledged_at, mitigated_at, last_update_at, update_asked_at, \
    update_every_secs, timeline_version, timeline_synced, timeline_synced_at, timeline_broken";

fn link(number: Option<i64>, url: Option<String>) -> Option<IssueLink> {
    Some(IssueLink {
        number: IssueNumber(u64::try_from(number?).ok()?),
        url: url.unwrap_or_default(),
    })
}

/// A column stored through a type's `as_str`, read back through its `FromStr`.
pub(super) fn parsed<T>(row: &sqlx::any::AnyRow, col: &str) -> Result<T, sqlx::Error>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let s: String = row.try_get(col)?;
    s.parse().map_err(|e| sqlx::Error::ColumnDecode {
        index: col.into(),
        source: Box::new(e),
    })
}

pub(super) fn parsed_opt<T>(row: &sqlx::any::AnyRow, col: &str) -> Result<Option<T>, sqlx::Error>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let s: Option<String> = row.try_get(col)?;
    s.map(|s| {
        s.parse().map_err(|e| sqlx::Error::ColumnDecode {
            index: col.into(),
            source: Box::new(e),
        })
    })
    .transpose()
}

pub(super) fn from_row(row: &sqlx::any::AnyRow) -> Result<IncidentRecord, sqlx::Error> {
    Ok(IncidentRecord {
        id: row.try_get("id")?,
        key: IncidentKey::stored(row.try_get("key")?),
        repo: parsed(row, "repo")?,
        target_repo: parsed(row, "target_repo")?,
        severity: parsed(row, "severity")?,
        component: row.try_get("component")?,
        title: row.try_get("title")?,
        summary: row.try_get("summary")?,
        impact: row.try_get("impact")?,
        started_at: row.try_get("started_at")?,
        links: row.try_get("links")?,
        declared_by: row.try_get("declared_by")?,
        declared_via: parsed(row, "declared_via")?,
        dedup_key: row.try_get("dedup_key")?,
        source_issue: link(
            row.try_get("source_issue_number")?,
            row.try_get("source_issue_url")?,
        ),
        status: parsed(row, "status")?,
        created_at: row.try_get("created_at")?,
        rca_due_at: row.try_get("rca_due_at")?,
        resolved_at: row.try_get("resolved_at")?,
        bug_issue: link(
            row.try_get("bug_issue_number")?,
            row.try_get("bug_issue_url")?,
        ),
        rca_issue: link(
            row.try_get("rca_issue_number")?,
            row.try_get("rca_issue_url")?,
        ),
        bug_linked: row.try_get::<i64, _>("bug_linked")? != 0,
        comment_posted: row.try_get::<i64, _>("comment_posted")? != 0,
        commander: row.try_get("commander")?,
        started_ms: row.try_get("started_ms")?,
        acknowledged_at: row.try_get("acknowledged_at")?,
        mitigated_at: row.try_get("mitigated_at")?,
        last_update_at: row.try_get("last_update_at")?,
        update_asked_at: row.try_get("update_asked_at")?,
        update_every_secs: row.try_get("update_every_secs")?,
        timeline_version: row.try_get("timeline_version")?,
        timeline_synced: row.try_get("timeline_synced")?,
        timeline_synced_at: row.try_get("timeline_synced_at")?,
        timeline_broken: row.try_get::<i64, _>("timeline_broken")? != 0,
    })
}

fn num(n: IssueNumber) -> i64 {
    i64::try_from(n.0).unwrap_or(i64::MAX)
}

impl Store {
    /// Inserts the incident unless its key exists; returns the stored row and whether
    /// this call created it. Two racing callers get the same row.
    pub async fn insert_or_get_incident(
        &self,
        new: &NewIncident,
    ) -> Result<(IncidentRecord, bool), StoreError> {
        // The row and its first timeline entries commit together: no incident
        // without its `declared` entry after a crash.
        let mut tx = self.writer.begin().await?;
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO incidents (key, repo, target_repo, severity, component, title, summary, \
             impact, started_at, links, declared_by, declared_via, dedup_key, \
             source_issue_number, source_issue_url, created_at, rca_due_at, updated_at, \
             started_ms, update_every_secs, last_update_at, timeline_version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, $20, $16, 1) \
             ON CONFLICT (key) DO NOTHING RETURNING id",
        )
        .bind(new.key.as_str())
        .bind(new.repo.full())
        .bind(new.target_repo.full())
        .bind(new.severity.as_str())
        .bind(&new.component)
        .bind(&new.title)
        .bind(&new.summary)
        .bind(&new.impact)
        .bind(&new.started_at)
        .bind(&new.links)
        .bind(&new.declared_by)
        .bind(new.declared_via.as_str())
        .bind(&new.dedup_key)
        .bind(new.source_issue.as_ref().map(|l| num(l.number)))
        .bind(new.source_issue.as_ref().map(|l| l.url.clone()))
        .bind(new.created_at)
        .bind(&new.rca_due_at)
        .bind(now_ms())
        .bind(new.started_ms)
        .bind(new.update_every_secs)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = inserted {
            let mut entries = vec![(
                EventKind::Declared,
                new.created_at,
                format!(
                    "declared as {} via {}",
                    new.severity,
                    new.declared_via.describe()
                ),
            )];
            if let Some(started) = new.started_ms {
                entries.insert(0, (EventKind::Started, started, "started".to_string()));
            }
            for (kind, at, text) in entries {
                sqlx::query(
                    "INSERT INTO incident_events (incident_id, kind, actor, at, to_severity, text, url) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id)
                .bind(kind.as_str())
                .bind(&new.declared_by)
                .bind(at)
                .bind(new.severity.as_str())
                .bind(text)
                .bind(new.source_issue.as_ref().map(|l| l.url.clone()))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        let row = self
            .incident_by_key(&new.key)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("incident {} vanished", new.key)))?;
        Ok((row, inserted.is_some()))
    }

    pub async fn incident(&self, id: i64) -> Result<Option<IncidentRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM incidents WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    pub async fn incident_by_key(
        &self,
        key: &IncidentKey,
    ) -> Result<Option<IncidentRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM incidents WHERE key = $1"
        )))
        .bind(key.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// The newest incident that issue `number` of `repo` belongs to: as its declaring
    /// issue, its bug issue or its RCA issue.
    pub async fn incident_for_issue(
        &self,
        repo: &RepoName,
        number: IssueNumber,
    ) -> Result<Option<IncidentRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM incidents \
             WHERE (repo = $1 AND source_issue_number = $2) \
                OR (target_repo = $1 AND (bug_issue_number = $2 OR rca_issue_number = $2)) \
             ORDER BY id DESC LIMIT 1"
        )))
        .bind(repo.full())
        .bind(num(number))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Records a created (or found) bug or RCA issue.
    pub async fn record_incident_issue(
        &self,
        id: i64,
        which: IncidentIssue,
        issue: &IssueLink,
    ) -> Result<(), StoreError> {
        let sql = match which {
            IncidentIssue::Bug => {
                "UPDATE incidents SET bug_issue_number = $1, bug_issue_url = $2, updated_at = $3 WHERE id = $4"
            }
            IncidentIssue::Rca => {
                "UPDATE incidents SET rca_issue_number = $1, rca_issue_url = $2, updated_at = $3 WHERE id = $4"
            }
        };
        sqlx::query(sql)
            .bind(num(issue.number))
            .bind(&issue.url)
            .bind(now_ms())
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The bug body now names the RCA issue.
    pub async fn mark_bug_linked(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE incidents SET bug_linked = 1, updated_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The comment on the declaring issue exists.
    pub async fn mark_comment_posted(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE incidents SET comment_posted = 1, updated_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Records an event and applies it to the incident in one transaction (see
    /// [`Effect`] and each kind's milestone: an update sets the last update, a
    /// commander or an update acknowledges, mitigated/resolved/reopened set the
    /// status) and bumps the timeline's version. An event whose `source_key` was
    /// recorded before changes nothing; returns whether it was new.
    pub async fn record_incident_event(
        &self,
        id: i64,
        event: &IncidentEvent,
        effect: Effect<'_>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO incident_events (incident_id, kind, actor, at, from_severity, \
             to_severity, note, source_key, text, url) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (source_key) DO NOTHING RETURNING id",
        )
        .bind(id)
        .bind(event.kind.as_str())
        .bind(&event.actor)
        .bind(event.at)
        .bind(event.from_severity.map(Severity::as_str))
        .bind(event.to_severity.map(Severity::as_str))
        .bind(&event.note)
        .bind(&event.source_key)
        .bind(&event.text)
        .bind(&event.url)
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_none() {
            return Ok(false);
        }
        let set = match (event.kind, effect) {
            (EventKind::Severity, Effect::Severity { rca_due_at, update_every_secs }) => {
                sqlx::query(
                    "UPDATE incidents SET severity = $1, rca_due_at = $2, update_every_secs = $3, \
                     timeline_version = timeline_version + 1, updated_at = $4 WHERE id = $5",
                )
                .bind(event.to_severity.map(Severity::as_str).unwrap_or_default())
                .bind(rca_due_at.to_string())
                .bind(update_every_secs)
            }
            (EventKind::Commander, Effect::Commander(login)) => sqlx::query(
                "UPDATE incidents SET commander = $1, acknowledged_at = COALESCE(acknowledged_at, $2), \
                 timeline_version = timeline_version + 1, updated_at = $3 WHERE id = $4",
            )
            .bind(login.to_string())
            .bind(event.at),
            (EventKind::Update, _) => sqlx::query(
                "UPDATE incidents SET last_update_at = $1, acknowledged_at = COALESCE(acknowledged_at, $1), \
                 timeline_version = timeline_version + 1, updated_at = $2 WHERE id = $3",
            )
            .bind(event.at),
            (EventKind::Mitigated, _) => sqlx::query(
                "UPDATE incidents SET status = $1, mitigated_at = COALESCE(mitigated_at, $2), \
                 timeline_version = timeline_version + 1, updated_at = $3 WHERE id = $4",
            )
            .bind(IncidentStatus::Mitigated.as_str())
            .bind(event.at),
            (EventKind::Resolved, _) => sqlx::query(
                "UPDATE incidents SET status = $1, resolved_at = $2, \
                 timeline_version = timeline_version + 1, updated_at = $3 WHERE id = $4",
            )
            .bind(IncidentStatus::Resolved.as_str())
            .bind(event.at),
            (EventKind::Reopened, _) => sqlx::query(
                "UPDATE incidents SET status = $1, resolved_at = NULL, mitigated_at = NULL, \
                 timeline_version = timeline_version + 1, updated_at = $2 WHERE id = $3",
            )
            .bind(IncidentStatus::Open.as_str()),
            _ => sqlx::query(
                "UPDATE incidents SET timeline_version = timeline_version + 1, updated_at = $1 \
                 WHERE id = $2",
            ),
        };
        set.bind(now_ms()).bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The incident's history, oldest first.
    pub async fn incident_events(&self, id: i64) -> Result<Vec<IncidentEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, actor, at, from_severity, to_severity, note, source_key, text, url \
             FROM incident_events WHERE incident_id = $1 ORDER BY at, id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(IncidentEvent {
                    kind: parsed(r, "kind")?,
                    actor: r.try_get("actor")?,
                    at: r.try_get("at")?,
                    from_severity: parsed_opt(r, "from_severity")?,
                    to_severity: parsed_opt(r, "to_severity")?,
                    note: r.try_get("note")?,
                    source_key: r.try_get("source_key")?,
                    text: r.try_get("text")?,
                    url: r.try_get("url")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
