//! Inbox rows: insert in batches (group commit), claim in per-repository order, finish.

use serde::Serialize;
use sqlx::Row;

use super::payload::StoredPayload;
use super::{Backend, Store, StoreError, now_ms};

/// A verified delivery, as it arrives.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub repo: Option<String>,
    pub installation_id: Option<i64>,
    pub payload: StoredPayload,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    Accepted(i64),
    Duplicate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Running,
    Failed,
    Done,
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Failed => "failed",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Running,
            Self::Failed,
            Self::Done,
            Self::Dead,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// A stored delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub repo: Option<String>,
    pub installation_id: Option<i64>,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub received_at: i64,
    pub next_attempt_at: i64,
}

const COLUMNS: &str = "id, delivery_id, event, action, repo, installation_id, status, \
                       attempts, last_error, received_at, next_attempt_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Delivery, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(Delivery {
        id: row.try_get("id")?,
        delivery_id: row.try_get("delivery_id")?,
        event: row.try_get("event")?,
        action: row.try_get("action")?,
        repo: row.try_get("repo")?,
        installation_id: row.try_get("installation_id")?,
        status: DeliveryStatus::parse(&status).unwrap_or(DeliveryStatus::Pending),
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        received_at: row.try_get("received_at")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
    })
}

impl Store {
    /// Inserts a batch: the delivery rows, then the payloads of those that are new,
    /// keyed by the new rows' ids, in one round trip and one transaction for every
    /// 1,000 deliveries (the inbox sends at most 512, so its batches are one). One
    /// commit for many deliveries is what makes thousands per second durable. A
    /// delivery id seen before — in the store or earlier in the batch — is
    /// `Duplicate`, and its stored payload is left as it was. An error may come after
    /// earlier chunks were committed; their deliveries are then known, and a retry
    /// finds them `Duplicate`.
    pub async fn insert_deliveries(
        &self,
        batch: &[NewDelivery],
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        // The inbox sends at most 512 at once: one statement each, well within SQLite's
        // 32,766 and PostgreSQL's 65,535 parameters.
        const ROWS_PER_STATEMENT: usize = 1000;
        let now = now_ms();
        let mut first_seen = std::collections::HashSet::new();
        let unique: Vec<&NewDelivery> = batch
            .iter()
            .filter(|d| first_seen.insert(d.delivery_id.as_str()))
            .collect();
        let mut inserted = std::collections::HashMap::new();
        for chunk in unique.chunks(ROWS_PER_STATEMENT) {
            inserted.extend(self.insert_chunk(chunk, now).await?);
        }
        let mut claimed = std::collections::HashSet::new();
        Ok(batch
            .iter()
            .map(|d| match inserted.get(&d.delivery_id) {
                Some(id) if claimed.insert(d.delivery_id.as_str()) => InsertOutcome::Accepted(*id),
                _ => InsertOutcome::Duplicate,
            })
            .collect())
    }

    /// Inserts deliveries with distinct ids, all or none; returns the new rows'
    /// `(delivery_id, id)`. Every round trip to SQLite's connection thread costs a
    /// thread wake-up on busy cores (0.05–1.2 ms measured under load, more than the
    /// writing), so the rows and payloads go in one: a statement list with its own
    /// `BEGIN`/`COMMIT` on SQLite, one statement with a data-modifying `WITH` on
    /// PostgreSQL. The payload statement joins on the delivery id, so it needs no ids
    /// back first; every delivery's payload is sent, and a repeated delivery's is
    /// dropped (SQLite: its stored row conflicts; PostgreSQL: only new rows join).
    async fn insert_chunk(
        &self,
        chunk: &[&NewDelivery],
        now: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let row_params = params(self.backend, chunk.len(), 7, 1);
        let payload_params = params(self.backend, chunk.len(), 4, 7 * chunk.len() + 1);
        let insert_rows = format!(
            "INSERT INTO deliveries (delivery_id, event, action, repo, installation_id, \
             next_attempt_at, received_at) VALUES {row_params} \
             ON CONFLICT (delivery_id) DO NOTHING RETURNING id, delivery_id"
        );
        let sql = match self.backend {
            // `WHERE true` tells SQLite's parser the `ON` is the join's, not the upsert's.
            Backend::Sqlite => format!(
                "BEGIN; {insert_rows}; \
                 INSERT INTO delivery_payloads (id, encoding, size, body) \
                 SELECT d.id, v.column2, v.column3, v.column4 FROM (VALUES {payload_params}) AS v \
                 JOIN deliveries AS d ON d.delivery_id = v.column1 WHERE true \
                 ON CONFLICT (id) DO NOTHING; COMMIT"
            ),
            Backend::Postgres => format!(
                "WITH new AS ({insert_rows}), stored AS (\
                 INSERT INTO delivery_payloads (id, encoding, size, body) \
                 SELECT new.id, v.encoding, v.size, v.body FROM new \
                 JOIN (VALUES {payload_params}) AS v (delivery_id, encoding, size, body) \
                 ON v.delivery_id = new.delivery_id) \
                 SELECT id, delivery_id FROM new"
            ),
        };
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for d in chunk {
            q = q
                .bind(&d.delivery_id)
                .bind(&d.event)
                .bind(&d.action)
                .bind(&d.repo)
                .bind(d.installation_id)
                .bind(now)
                .bind(now);
        }
        for d in chunk {
            let (encoding, size, body) = d.payload.columns();
            q = q.bind(&d.delivery_id).bind(encoding).bind(size).bind(body);
        }
        let mut conn = self.writer.acquire().await?;
        let rows = match q.fetch_all(&mut *conn).await {
            Ok(rows) => rows,
            Err(e) => {
                // SQLite stopped at the failing statement, inside the transaction the
                // list opened: end it, or the connection's next user would run in it.
                if self.backend == Backend::Sqlite
                    && sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err()
                {
                    conn.close_on_drop();
                }
                return Err(e.into());
            }
        };
        rows.iter()
            .map(|row| Ok((row.try_get::<String, _>(1)?, row.try_get::<i64, _>(0)?)))
            .collect()
    }

    /// Claims up to `limit` deliveries that are due, oldest first, one per repository:
    /// [`Store::claim_batches`] with batches of one.
    pub async fn claim_deliveries(
        &self,
        worker: &str,
        limit: i64,
        lease_ms: i64,
        max_attempts: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.claim_batches(worker, limit, 1, lease_ms, max_attempts)
            .await
    }

    /// Claims the due heads of up to `lanes` repositories, oldest first, and behind
    /// each head up to `per_lane - 1` of the same repository's next deliveries, in one
    /// statement: the worker runs each repository's claimed deliveries in order (they
    /// come back sorted by id), so one round trip serves a run of deliveries. Only the
    /// oldest open delivery of each repository can head a batch, so one repository's
    /// events are handled in arrival order while others run in parallel. A `running`
    /// row whose lease expired (its worker died) is eligible again.
    ///
    /// The attempt is counted here, at claim, so a handler that takes its process down
    /// still uses up an attempt: a delivery claimed again once `max_attempts` were
    /// spent is returned `dead` instead of `running`, and never crash-loops.
    ///
    /// Only fresh deliveries ride in a batch: the head and every delivery behind it
    /// must be `pending` with no attempt counted, and the batch stops before the first
    /// one that is not. A delivery that was claimed before and not finished (its
    /// process died, or it failed) is therefore claimed alone, and each crash counts
    /// against the suspect that was running, not against the deliveries queued behind
    /// it: an innocent delivery caught in a crashed batch is charged that one attempt,
    /// then runs alone.
    ///
    /// The repositories with open work are walked with a recursive index skip-scan
    /// (`deliveries_open`), so a backlog of thousands for one repository costs a few
    /// index seeks per claim, not a scan of the backlog.
    pub async fn claim_batches(
        &self,
        worker: &str,
        lanes: i64,
        per_lane: i64,
        lease_ms: i64,
        max_attempts: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let now = now_ms();
        // SQLite must be told to use the partial index; PostgreSQL picks it itself, and
        // locks the chosen heads with SKIP LOCKED so instances never claim one twice.
        // A batch's other rows need no lock: they are reached only through its head,
        // and another instance that skipped the head never reaches them.
        // Rows already chosen by id are looked up by id: left to itself, SQLite's planner
        // prefers `deliveries_ready` for their status terms and walks every pending row,
        // so a claim cost grew with the backlog (8 ms at 20,000).
        let (hint, by_id, lock) = match self.backend {
            Backend::Sqlite => ("INDEXED BY deliveries_open", "NOT INDEXED", ""),
            Backend::Postgres => ("", "", "FOR UPDATE SKIP LOCKED"),
        };
        let open = "status IN ('pending', 'failed', 'running')";
        // Only a process that stopped mid-handler leaves a row open with its attempts
        // spent: the worker records every failure it sees, with `dead` at the limit.
        let spent = "attempts >= $4";
        let fresh = |t: &str| {
            format!("{t}.status = 'pending' AND {t}.attempts = 0 AND {t}.next_attempt_at <= $3")
        };
        let (fresh_d, fresh_c) = (fresh("d"), fresh("c"));
        // The two limits are written into the text, not bound: SQLite 3.4x reads a
        // bound LIMIT while planning, and binding it again expires the statement, so
        // every claim re-prepared this whole statement (a third of the writer thread's
        // time with the worker on). The worker's limits never change, so the text is
        // prepared once and stays in the statement cache.
        let behind_head = per_lane.max(1) - 1;
        let sql = format!(
            "WITH RECURSIVE lanes(repo) AS ( \
                 SELECT (SELECT repo FROM deliveries {hint} \
                         WHERE {open} AND repo IS NOT NULL ORDER BY repo LIMIT 1) \
                 UNION ALL \
                 SELECT (SELECT repo FROM deliveries {hint} \
                         WHERE {open} AND repo > lanes.repo ORDER BY repo LIMIT 1) \
                 FROM lanes WHERE lanes.repo IS NOT NULL), \
             heads(id) AS ( \
                 SELECT (SELECT id FROM deliveries {hint} \
                         WHERE repo = lanes.repo AND {open} ORDER BY id LIMIT 1) \
                 FROM lanes WHERE lanes.repo IS NOT NULL \
                 UNION ALL \
                 SELECT id FROM deliveries {hint} WHERE repo IS NULL AND {open}), \
             picked AS ( \
                 SELECT d.id FROM deliveries d {by_id} \
                 WHERE d.id IN (SELECT id FROM heads) \
                   AND ((d.status IN ('pending', 'failed') AND d.next_attempt_at <= $3) \
                        OR (d.status = 'running' AND d.lease_until < $3)) \
                 ORDER BY d.id LIMIT {lanes} {lock}), \
             leaders AS ( \
                 SELECT d.id, d.repo FROM deliveries d {by_id} \
                 WHERE d.id IN (SELECT id FROM picked) AND d.repo IS NOT NULL AND {fresh_d}), \
             behind AS ( \
                 SELECT l.id AS head, c.id AS id, \
                        CASE WHEN {fresh_c} THEN 1 ELSE 0 END AS ok \
                 FROM leaders l JOIN deliveries c ON c.id IN ( \
                     SELECT n.id FROM deliveries n {hint} \
                     WHERE n.repo = l.repo AND n.{open} AND n.id > l.id \
                     ORDER BY n.id LIMIT {behind_head})), \
             followers AS ( \
                 SELECT b.id FROM behind b \
                 WHERE b.id < COALESCE( \
                     (SELECT MIN(s.id) FROM behind s WHERE s.head = b.head AND s.ok = 0), \
                     9223372036854775807)) \
             UPDATE deliveries SET \
                 status = CASE WHEN {spent} THEN 'dead' ELSE 'running' END, \
                 attempts = CASE WHEN {spent} THEN attempts ELSE attempts + 1 END, \
                 last_error = CASE WHEN {spent} THEN $5 ELSE last_error END, \
                 finished_at = CASE WHEN {spent} THEN $3 ELSE finished_at END, \
                 lease_until = CASE WHEN {spent} THEN NULL ELSE $1 END, \
                 claimed_by = CASE WHEN {spent} THEN NULL ELSE $2 END \
             WHERE id IN (SELECT id FROM picked) OR id IN (SELECT id FROM followers) \
             RETURNING {COLUMNS}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now + lease_ms)
            .bind(worker)
            .bind(now)
            .bind(max_attempts)
            .bind(format!(
                "the process stopped (crash, kill or out of memory) while handling this \
                 delivery at each of its {max_attempts} attempts; fix the cause, then \
                 `responder deliveries retry` queues it again"
            ))
            .fetch_all(&self.writer)
            .await?;
        let mut out = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|d| d.id);
        Ok(out)
    }

    /// A delivery's payload (read only when a handler needs it: up to 25 MiB).
    pub async fn delivery_payload(&self, id: i64) -> Result<String, StoreError> {
        let row = sqlx::query("SELECT encoding, size, body FROM delivery_payloads WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        Ok(StoredPayload::decode(
            id,
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
        )?)
    }

    /// The payloads of `ids` that were at most `max_bytes` bytes long as received, in
    /// one read (a batch's together, instead of a round trip each); longer ones are
    /// left out, to be read one at a time with [`Store::delivery_payload`], so memory
    /// stays bounded.
    pub async fn small_payloads(
        &self,
        ids: &[i64],
        max_bytes: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = numbered(2, ids.len());
        let sql = format!(
            "SELECT id, encoding, size, body FROM delivery_payloads \
             WHERE id IN ({list}) AND size <= $1"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(max_bytes);
        for id in ids {
            q = q.bind(id);
        }
        let mut out = Vec::new();
        for row in q.fetch_all(&self.pool).await? {
            let id = row.try_get(0)?;
            let text =
                StoredPayload::decode(id, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?)?;
            out.push((id, text));
        }
        Ok(out)
    }

    /// Extends the leases of the deliveries `worker` is handling, `ids` (its
    /// heartbeat): a worker that dies stops renewing, and so does one whose task for a
    /// delivery ended without recording it; such deliveries become claimable again.
    pub async fn renew_leases(
        &self,
        worker: &str,
        ids: &[i64],
        lease_ms: i64,
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let list = numbered(3, ids.len());
        let sql = format!(
            "UPDATE deliveries SET lease_until = $1 \
             WHERE status = 'running' AND claimed_by = $2 AND id IN ({list})"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now_ms() + lease_ms)
            .bind(worker);
        for id in ids {
            q = q.bind(id);
        }
        Ok(q.execute(&self.writer).await?.rows_affected())
    }

    /// Marks handled deliveries done (the worker groups them): one statement per
    /// thousand, within both databases' parameter limits.
    pub async fn complete_deliveries(&self, ids: &[i64]) -> Result<(), StoreError> {
        let now = now_ms();
        for chunk in ids.chunks(1000) {
            let list = numbered(2, chunk.len());
            let sql = format!(
                "UPDATE deliveries SET status = 'done', finished_at = $1, lease_until = NULL, \
                 claimed_by = NULL WHERE id IN ({list})"
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
            for id in chunk {
                q = q.bind(id);
            }
            q.execute(&self.writer).await?;
        }
        Ok(())
    }

    /// Records a failure: retried at `retry_at`, or `dead` when `None`.
    pub async fn fail_delivery(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let (status, next, finished) = match retry_at {
            Some(t) => ("failed", t, None),
            None => ("dead", now, Some(now)),
        };
        sqlx::query(
            "UPDATE deliveries SET status = $1, last_error = $2, next_attempt_at = $3, finished_at = $4, \
             lease_until = NULL, claimed_by = NULL WHERE id = $5",
        )
        .bind(status)
        .bind(error)
        .bind(next)
        .bind(finished)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Hands back deliveries of a batch that this worker claimed and will not run now
    /// (one before them failed and must be retried first): they do not count as
    /// attempts, so they stay fresh and may ride in a batch again.
    pub async fn release_claimed(&self, worker: &str, ids: &[i64]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let list = numbered(2, ids.len());
        let sql = format!(
            "UPDATE deliveries SET status = 'pending', \
             attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
             lease_until = NULL, claimed_by = NULL \
             WHERE status = 'running' AND claimed_by = $1 AND id IN ({list})"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(worker);
        for id in ids {
            q = q.bind(id);
        }
        Ok(q.execute(&self.writer).await?.rows_affected())
    }

    /// Hands back deliveries this worker claimed but did not finish (graceful shutdown):
    /// they do not count as attempts.
    pub async fn release_deliveries(&self, worker: &str) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE deliveries SET status = 'pending', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
             lease_until = NULL, claimed_by = NULL WHERE status = 'running' AND claimed_by = $1",
        )
        .bind(worker)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected())
    }

    /// Makes claims of a process that is gone claimable now (the worker calls it as it
    /// starts): those whose lease expired, and those whose worker id starts with
    /// `predecessor` (an earlier process of this host with this worker's pid, so
    /// necessarily dead). Other instances' live claims are left alone. Their attempts
    /// stay counted: the crash used one.
    pub async fn recover_claims(&self, predecessor: &str) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "UPDATE deliveries SET status = 'pending', lease_until = NULL, claimed_by = NULL \
             WHERE status = 'running' \
               AND (lease_until < $1 OR substr(claimed_by, 1, $2) = $3)",
        )
        .bind(now_ms())
        .bind(predecessor.chars().count() as i64)
        .bind(predecessor)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected())
    }

    pub async fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM deliveries WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(status.map(DeliveryStatus::as_str))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?)
    }

    pub async fn delivery(&self, delivery_id: &str) -> Result<Option<Delivery>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM deliveries WHERE delivery_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(delivery_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Queues a delivery again with a fresh attempt budget.
    pub async fn retry_delivery(&self, delivery_id: &str) -> Result<(), StoreError> {
        let r = sqlx::query(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, \
             finished_at = NULL WHERE delivery_id = $2 AND status != 'running'",
        )
        .bind(now_ms())
        .bind(delivery_id)
        .execute(&self.writer)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "no delivery {delivery_id:?} that is not currently running; list them with `responder deliveries`"
            )));
        }
        Ok(())
    }

    /// Deliveries waiting to be handled (pending or failed-and-retrying).
    pub async fn queue_depth(&self) -> Result<i64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'failed', 'running')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    /// When the earliest waiting delivery becomes due, if any.
    pub async fn next_due_at(&self) -> Result<Option<i64>, StoreError> {
        let t: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM deliveries WHERE status IN ('pending', 'failed')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(t)
    }
}

/// `(…),(…)`: `rows` groups of `columns` parameters, numbered from `first` on
/// PostgreSQL and anonymous (`?`) on SQLite. SQLite names a numbered parameter and
/// finds each one's name by a scan of all of them, for every bind: a 512-row insert
/// spent a tenth of the writer's thread in `sqlite3_bind_parameter_name`.
fn params(backend: Backend, rows: usize, columns: usize, first: usize) -> String {
    match backend {
        Backend::Sqlite => vec![format!("({})", vec!["?"; columns].join(",")); rows].join(","),
        Backend::Postgres => (0..rows)
            .map(|r| format!("({})", numbered(first + r * columns, columns)))
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// `$first,…`: `count` numbered parameters, for an `IN (…)` list or a row of values.
fn numbered(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(",")
}
