//! The store: every durable fact (inbox, installations, incidents, follow-ups) behind one small API.
//!
//! Purpose: keep SQL here so handlers never see a query, and so another back end
//! (PostgreSQL) can be added without touching them. It must never hold business rules.

mod agent_runs;
mod alerts;
mod followups;
mod inbox;
mod incidents;
mod installations;
mod lifecycle;
mod locks;
mod payload;
mod redelivery;
mod timeline;

use std::time::Duration;

use sqlx::AnyPool;
use sqlx::Executor;
use sqlx::any::AnyPoolOptions;

pub use agent_runs::{AgentRunSpike, NewAgentRun, RunWindow, StoredAgentRun};
pub use alerts::AlertGroup;
pub use followups::{FollowUp, NewFollowUp};
pub use inbox::{Delivery, DeliveryStatus, InsertOutcome, NewDelivery};
pub use incidents::{Effect, IncidentEvent, IncidentIssue, IncidentRecord, IssueLink, NewIncident};
pub use lifecycle::{IncidentFilter, RcaState, Within};
pub use payload::{PayloadError, StoredPayload};
pub use redelivery::{JobRun, Redelivery};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("cannot apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("{0}")]
    NotFound(String),
    /// Another holder has the lock (another instance works on the same thing):
    /// transient, worth trying again, never a missing row.
    #[error("{0}")]
    Busy(String),
}

/// Which database is behind the store. SQL is written once with `$1`-style
/// placeholders, which both accept; the few statements that must differ (the inbox
/// claim and insert) ask this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded, one instance.
    Sqlite,
    /// Shared by several instances.
    Postgres,
}

/// Handle to the database; cheap to clone.
///
/// With SQLite, writes go through one connection: SQLite has one writer at a time
/// anyway, and queueing in the pool is fair and fast where SQLite's busy handler
/// would sleep; reads use a pool of their own (WAL lets them run beside the writer).
/// With PostgreSQL both are the same pool.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    writer: AnyPool,
    backend: Backend,
}

/// SQLite settings for every connection. WAL + NORMAL: a commit is in the WAL file
/// before we answer, so a killed process loses nothing acknowledged.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                              PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";

impl Store {
    /// Opens (creating if needed) the database and applies migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let open = |source| StoreError::Open {
            url: redact_url(url),
            source,
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = AnyPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(open)?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            return Ok(Self {
                writer: pool.clone(),
                pool,
                backend: Backend::Postgres,
            });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                open(sqlx::Error::Configuration(
                    "not a sqlite: or postgres:// URL".into(),
                ))
            })?;
        let file = path.split('?').next().unwrap_or(path);
        if let Some(dir) = std::path::Path::new(file).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| open(sqlx::Error::Io(e)))?;
        }
        let url = if path.contains('?') {
            url.to_string()
        } else {
            format!("{url}?mode=rwc")
        };
        // The writer never checkpoints (its commits would wait for the checkpoint's
        // fsync); a background task does, without blocking it. Its statement journals
        // stay in memory: a multi-row INSERT inside a transaction (the inbox's batch)
        // journals the pages it changes so that it alone can be undone, and past 64 KiB
        // SQLite spilled that journal to a temporary file it created, wrote and deleted
        // for every batch (a sixth of the writer thread's time).
        // No ping before each use (sqlx's default): a connection to a local file does
        // not drop, and each ping was one more round trip to the connection's thread,
        // a wake-up on busy cores, in front of every statement.
        let writer = AnyPoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(SQLITE_PRAGMAS).await?;
                    conn.execute("PRAGMA wal_autocheckpoint = 0; PRAGMA temp_store = MEMORY")
                        .await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(open)?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(SQLITE_PRAGMAS).await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(open)?;
        let store = Self {
            pool,
            writer,
            backend: Backend::Sqlite,
        };
        tokio::spawn(checkpoint_wal(store.pool.clone()));
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A trivial query, for `/healthz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Copies the write-ahead log into the database every second (PASSIVE: never waits
/// for, nor blocks, the writer), so the log stays small without slowing commits.
async fn checkpoint_wal(pool: AnyPool) {
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
