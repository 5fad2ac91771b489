//! Event handlers, one file each, registered in `register`.

mod installation;

use std::sync::Arc;

pub use installation::InstallationHandler;

use super::Registry;
use crate::github::GitHub;
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
