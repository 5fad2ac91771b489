//! Installations of the App and the repositories each covers, as webhooks report them.

use super::{Store, StoreError, now_ms};

impl Store {
    /// Records an installation and (when given) replaces the repositories it covers.
    pub async fn upsert_installation(
        &self,
        id: i64,
        account: &str,
        repos: Option<&[String]>,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO installations (id, account, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET account = excluded.account, updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(account)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if let Some(repos) = repos {
            sqlx::query("DELETE FROM installation_repos WHERE installation_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for repo in repos {
                link_repo(&mut tx, repo, id).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Adds and removes repositories of an installation (`installation_repositories`).
    pub async fn change_installation_repos(
        &self,
        id: i64,
        added: &[String],
        removed: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await?;
        for repo in added {
            link_repo(&mut tx, repo, id).await?;
        }
        for repo in removed {
            sqlx::query("DELETE FROM installation_repos WHERE repo = $1")
                .bind(repo.to_ascii_lowercase())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_installation(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM installations WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The installation known to cover `repo` (lowercase owner/name).
    pub async fn installation_for_repo(&self, repo: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT installation_id FROM installation_repos WHERE repo = $1")
                .bind(repo.to_ascii_lowercase())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn installation_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM installations")
            .fetch_one(&self.pool)
            .await?)
    }
}

async fn link_repo(
    tx: &mut sqlx::AnyConnection,
    repo: &str,
    installation: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO installation_repos (repo, installation_id) VALUES ($1, $2) \
         ON CONFLICT (repo) DO UPDATE SET installation_id = excluded.installation_id",
    )
    .bind(repo.to_ascii_lowercase())
    .bind(installation)
    .execute(tx)
    .await?;
    Ok(())
}
