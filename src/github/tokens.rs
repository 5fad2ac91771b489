//! Installation tokens: minted with the App JWT, cached until five minutes before
//! they expire; concurrent callers share one refresh; a token GitHub refused is
//! dropped so the next caller mints a new one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::types::{InstallationId, Secret};

/// Refresh this long before `expires_at`.
pub const REFRESH_MARGIN: chrono::Duration = chrono::Duration::minutes(5);

#[derive(Clone)]
pub struct CachedToken {
    pub token: Secret,
    pub expires_at: DateTime<Utc>,
}

type Slot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

/// Per-installation slots; holding a slot's lock while minting is what makes ten
/// concurrent callers cause one token request.
#[derive(Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<InstallationId, Slot>>,
}

impl TokenCache {
    fn slot(&self, id: InstallationId) -> Slot {
        self.slots.lock().unwrap().entry(id).or_default().clone()
    }

    /// The cached token if still fresh at `now`, else the result of `mint`.
    pub async fn get<F, Fut, E>(
        &self,
        id: InstallationId,
        now: DateTime<Utc>,
        mint: F,
    ) -> Result<Secret, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<CachedToken, E>>,
    {
        let slot = self.slot(id);
        let mut guard = slot.lock().await;
        if let Some(t) = guard.as_ref()
            && now < t.expires_at - REFRESH_MARGIN
        {
            return Ok(t.token.clone());
        }
        let fresh = mint().await?;
        let token = fresh.token.clone();
        *guard = Some(fresh);
        Ok(token)
    }

    /// Drops `token` if it is still the cached one (a newer token is kept).
    pub async fn invalidate(&self, id: InstallationId, token: &Secret) {
        let slot = self.slot(id);
        let mut guard = slot.lock().await;
        if guard.as_ref().is_some_and(|t| &t.token == token) {
            *guard = None;
        }
    }
}
