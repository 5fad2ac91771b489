//! The store: every durable fact (inbox, installations, incidents) behind one small API.
//!
//! Purpose: keep SQL here so handlers never see a query, and so another back end
//! (PostgreSQL) can be added without touching them. It must never hold business rules.

mod inbox;
mod incidents;
mod installations;
mod lifecycle;
mod redelivery;

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use inbox::{Delivery, DeliveryStatus, InsertOutcome, NewDelivery};
pub use incidents::{IncidentEvent, IncidentIssue, IncidentRecord, IssueLink, NewIncident};
pub use lifecycle::{IncidentFilter, RcaState};
pub use redelivery::{JobRun, Redelivery};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("cannot apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    NotFound(String),
}

/// Handle to the database; cheap to clone.
///
/// Writes go through one connection: SQLite has one writer at a time anyway, and
/// queueing in the pool is fair and fast where SQLite's busy handler would sleep.
/// Reads use a pool of their own (WAL lets them run beside the writer).
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    writer: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database and applies migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let open = |source| StoreError::Open {
            url: redact_url(url),
            source,
        };
        if url.starts_with("postgres") {
            return Err(open(sqlx::Error::Configuration(
                "PostgreSQL is not supported by this build yet; unset DATABASE_URL to use SQLite"
                    .into(),
            )));
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(open)?
            .create_if_missing(true)
            // WAL + NORMAL: a commit is in the WAL file before we answer, so a killed
            // process loses nothing acknowledged; only power loss could.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .map(|p| p.split('?').next().unwrap_or(p))
            && let Some(dir) = std::path::Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| open(sqlx::Error::Io(e)))?;
        }
        // The writer never checkpoints (its commits would wait for the checkpoint's
        // fsync); a background task does, without blocking it.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await
            .map_err(open)?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(open)?;
        let store = Self { pool, writer };
        tokio::spawn(checkpoint_wal(store.pool.clone()));
        Ok(store)
    }

    /// A trivial query, for `/healthz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Copies the write-ahead log into the database every second (PASSIVE: never waits
/// for, nor blocks, the writer), so the log stays small without slowing commits.
async fn checkpoint_wal(pool: SqlitePool) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::debug!(error = %e, "WAL checkpoint skipped");
        }
    }
}

/// Drops the password from a database URL before it reaches an error message.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

/// Milliseconds since the Unix epoch; the store's only time unit.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
