//! Event handlers, one file each, registered in `register`.

mod incident;
mod incident_close;
mod installation;

use std::sync::Arc;

pub use incident::{IncidentCommandHandler, IncidentIssueHandler};
pub use incident_close::IncidentCloseHandler;
pub use installation::InstallationHandler;

use async_trait::async_trait;
use tokio::sync::watch;

use super::{Event, Handler, HandlerError, Registry};
use crate::github::GitHub;
use crate::incident::service::IncidentService;
use crate::store::Store;

/// The handlers every Responder runs.
pub fn register(registry: &mut Registry, store: &Store, github: &Arc<dyn GitHub>) {
    let installs = Arc::new(InstallationHandler {
        store: store.clone(),
        github: github.clone(),
    });
    registry.on("installation", installs.clone());
    registry.on("installation_repositories", installs);
}

/// The incident handlers: issue forms, `/incident` commands, closes and reopens.
/// They need the App (they read repository config and write issues), so each runs
/// only while `configured` is true — from the start, or from a one-click setup on —
/// and before that a delivery is done without them, as if nobody listened.
pub fn register_incidents(
    registry: &mut Registry,
    incidents: &Arc<IncidentService>,
    configured: watch::Receiver<bool>,
) {
    let gate = |inner: Arc<dyn Handler>| -> Arc<dyn Handler> {
        Arc::new(WhenConfigured {
            inner,
            configured: configured.clone(),
        })
    };
    let issues = gate(Arc::new(IncidentIssueHandler {
        incidents: incidents.clone(),
    }));
    registry.on("issues.opened", issues.clone());
    registry.on("issues.labeled", issues);
    let closes = gate(Arc::new(IncidentCloseHandler {
        incidents: incidents.clone(),
    }));
    registry.on("issues.closed", closes.clone());
    registry.on("issues.reopened", closes);
    registry.on(
        "issue_comment.created",
        gate(Arc::new(IncidentCommandHandler {
            incidents: incidents.clone(),
        })),
    );
}

struct WhenConfigured {
    inner: Arc<dyn Handler>,
    configured: watch::Receiver<bool>,
}

#[async_trait]
impl Handler for WhenConfigured {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        if !*self.configured.borrow() {
            return Ok(());
        }
        self.inner.handle(event).await
    }
}
