//! Event handlers, one file each, registered in `register`.

mod alert;
mod incident;
mod incident_close;
mod incident_pull;
mod installation;

use std::sync::Arc;

pub use alert::AlertHandler;
pub use incident::{IncidentCommandHandler, IncidentIssueHandler};
pub use incident_close::IncidentCloseHandler;
pub use incident_pull::IncidentPullHandler;
pub use installation::InstallationHandler;

use async_trait::async_trait;
use tokio::sync::watch;

use super::{Event, Handler, HandlerError, Registry};
use crate::github::GitHub;
use crate::incident::service::{IncidentError, IncidentService};
use crate::store::Store;
use crate::types::RepoName;

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
    // Completing a form that was refused as incomplete declares it.
    registry.on("issues.edited", issues.clone());
    registry.on("issues.labeled", issues);
    let closes = gate(Arc::new(IncidentCloseHandler {
        incidents: incidents.clone(),
    }));
    registry.on("issues.closed", closes.clone());
    registry.on("issues.reopened", closes);
    let pulls = gate(Arc::new(IncidentPullHandler {
        incidents: incidents.clone(),
    }));
    registry.on("pull_request.opened", pulls.clone());
    registry.on("pull_request.closed", pulls);
    registry.on(
        crate::incident::alert::EVENT,
        gate(Arc::new(AlertHandler {
            incidents: incidents.clone(),
        })),
    );
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

use super::payloads::decode;

fn repo_of(event: &Event) -> Result<RepoName, HandlerError> {
    event
        .repo
        .clone()
        .ok_or_else(|| HandlerError::Fatal(format!("{} has no repository", event.key())))
}

/// Transient failures go back to the worker; the rest end the delivery.
fn fail(e: IncidentError) -> HandlerError {
    if e.is_transient() {
        HandlerError::Retry(e.to_string())
    } else {
        HandlerError::Fatal(e.to_string())
    }
}

/// The delivery names the repository's installation: the client need not look it up.
fn remember_installation(incidents: &IncidentService, event: &Event, repo: &RepoName) {
    if let Some(i) = event.installation {
        incidents.github().remember_installation(repo, i);
    }
}
