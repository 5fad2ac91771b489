//! Purpose: remember which installation covers which repository, from `installation`
//! and `installation_repositories` events, so API callers need not ask GitHub.

use async_trait::async_trait;

use std::sync::Arc;

use crate::github::GitHub;
use crate::store::Store;
use crate::webhook::payloads::{InstallationEvent, Repository, decode};
use crate::webhook::{Event, Handler, HandlerError};

pub struct InstallationHandler {
    pub store: Store,
    pub github: Arc<dyn GitHub>,
}

fn names(repos: &[Repository]) -> Vec<String> {
    repos
        .iter()
        .map(|r| r.full_name.to_ascii_lowercase())
        .collect()
}

#[async_trait]
impl Handler for InstallationHandler {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        let p: InstallationEvent = decode(event)?;
        let id = p.installation.id;
        let retry = |e: crate::store::StoreError| HandlerError::Retry(e.to_string());
        match (event.name.as_str(), event.action.as_deref()) {
            ("installation", Some("deleted")) => {
                self.store.delete_installation(id).await.map_err(retry)?
            }
            ("installation", _) => {
                let repos = p.repositories.as_deref().map(names);
                self.store
                    .upsert_installation(id, &p.installation.account.login, repos.as_deref())
                    .await
                    .map_err(retry)?
            }
            _ => {
                self.store
                    .upsert_installation(id, &p.installation.account.login, None)
                    .await
                    .map_err(retry)?;
                self.store
                    .change_installation_repos(
                        id,
                        &names(&p.repositories_added),
                        &names(&p.repositories_removed),
                    )
                    .await
                    .map_err(retry)?
            }
        }
        // Repositories may have moved between installations: look them up afresh.
        self.github.forget_installations();
        tracing::info!(installation = id, "installation recorded");
        Ok(())
    }
}
