//! Named leases in the database, so work on one thing (an incident's declaration)
//! runs in one instance at a time even when several share the store.

use std::time::Duration;

use super::{Store, StoreError, now_ms};

impl Store {
    /// Takes the lease `name` for `holder` for `ttl_ms` unless another holder has a
    /// live one; true when taken (or renewed).
    pub async fn try_lock(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let taken: Option<String> = sqlx::query_scalar(
            "INSERT INTO locks (name, holder, until) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
             WHERE locks.until < $4 OR locks.holder = $2 \
             RETURNING name",
        )
        .bind(name)
        .bind(holder)
        .bind(now + ttl_ms)
        .bind(now)
        .fetch_optional(&self.writer)
        .await?;
        Ok(taken.is_some())
    }

    /// Waits up to `wait` for the lease `name` ([`Store::try_lock`] every 100 ms);
    /// [`StoreError::Busy`] when another holder keeps it longer.
    pub async fn lock(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
        wait: Duration,
    ) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.try_lock(name, holder, ttl_ms).await? {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Busy(format!(
                    "{name} is held by another instance; try again"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Gives the lease back (only if `holder` still has it).
    pub async fn unlock(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM locks WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
