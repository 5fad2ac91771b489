//! Handlers and the registry that routes a delivery to them by `event` and `event.action`.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::types::{InstallationId, RepoName};

/// A delivery as handlers see it.
#[derive(Debug, Clone)]
pub struct Event {
    pub delivery_id: String,
    pub name: String,
    pub action: Option<String>,
    pub repo: Option<RepoName>,
    pub installation: Option<InstallationId>,
    /// The body as GitHub sent it (JSON, checked at intake). Handlers decode the
    /// fields they need straight from the text ([`crate::webhook::payloads::decode`]):
    /// building a `serde_json::Value` of every delivery first cost the worker more than
    /// the handlers that read a few fields of it.
    pub payload: Arc<str>,
    /// 1 for the first attempt.
    pub attempt: i64,
}

impl Event {
    /// The event of a delivery as the inbox stores it (the worker) or as a saved
    /// payload gives it (`responder replay`): one conversion for both.
    pub fn from_delivery(
        delivery_id: &str,
        name: &str,
        action: Option<&str>,
        repo: Option<&str>,
        installation_id: Option<i64>,
        payload: Arc<str>,
        attempt: i64,
    ) -> Self {
        Self {
            delivery_id: delivery_id.to_string(),
            name: name.to_string(),
            action: action.map(str::to_string),
            repo: repo.and_then(|r| r.parse::<RepoName>().ok()),
            installation: installation_id.map(|i| InstallationId(i as u64)),
            payload,
            attempt,
        }
    }

    /// `issues.opened`, or just `ping` for events without an action.
    pub fn key(&self) -> String {
        match &self.action {
            Some(a) => format!("{}.{}", self.name, a),
            None => self.name.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth trying again later (GitHub 5xx, rate limit, database busy).
    #[error("{0}")]
    Retry(String),
    /// Trying again cannot help (the payload lacks what the handler needs).
    #[error("{0}")]
    Fatal(String),
}

#[async_trait]
pub trait Handler: Send + Sync {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError>;
}

/// Routes events to handlers. Register `issues` for every action or `issues.opened`
/// for one; both run when both are registered.
#[derive(Default, Clone)]
pub struct Registry {
    handlers: HashMap<String, Vec<Arc<dyn Handler>>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn on(&mut self, key: &str, handler: Arc<dyn Handler>) -> &mut Self {
        self.handlers
            .entry(key.to_string())
            .or_default()
            .push(handler);
        self
    }

    /// Whether any handler listens to this event (`name`, or `name.action`).
    pub fn handles(&self, name: &str, action: Option<&str>) -> bool {
        self.handlers.contains_key(name)
            || action.is_some_and(|a| self.handlers.contains_key(&format!("{name}.{a}")))
    }

    /// Runs every matching handler in registration order; the first error stops it.
    /// Returns how many ran (0: nobody listens to this event).
    pub async fn dispatch(&self, event: &Event) -> Result<usize, HandlerError> {
        let mut ran = 0;
        let keys = [
            Some(event.name.clone()),
            event.action.as_ref().map(|_| event.key()),
        ];
        for key in keys.into_iter().flatten() {
            for handler in self.handlers.get(&key).into_iter().flatten() {
                handler.handle(event).await?;
                ran += 1;
            }
        }
        Ok(ran)
    }
}
