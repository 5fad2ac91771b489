//! Event handlers, one file each, registered in `register`.

mod incident;
mod incident_close;
mod installation;

use std::sync::Arc;

pub use incident::{IncidentCommandHandler, IncidentIssueHandler};
pub use incident_close::IncidentCloseHandler;
pub use installation::InstallationHandler;

use super::Registry;
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

/// The incident handlers: issue forms and `/incident` commands. They need the App
/// (they read repository config and write issues), so `Service` registers them only
/// when it is configured.
pub fn register_incidents(registry: &mut Registry, incidents: &Arc<IncidentService>) {
    let issues = Arc::new(IncidentIssueHandler {
        incidents: incidents.clone(),
    });
    registry.on("issues.opened", issues.clone());
    registry.on("issues.labeled", issues);
    let closes = Arc::new(IncidentCloseHandler {
        incidents: incidents.clone(),
    });
    registry.on("issues.closed", closes.clone());
    registry.on("issues.reopened", closes);
    registry.on(
        "issue_comment.created",
        Arc::new(IncidentCommandHandler {
            incidents: incidents.clone(),
        }),
    );
}
