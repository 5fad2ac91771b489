//! Purpose: hand a stored alert notification (`alertmanager`, from
//! `POST /v1/alerts/alertmanager`) to `IncidentService::handle_alert`.
//!
//! The HTTP edge already checked the token and routed it to a repository; this only
//! decodes what the edge stored. A broken repository config ends the delivery (no
//! issue exists to answer on, so the log says it); GitHub hiccups are retried.
//! Must never create issues itself.

use std::sync::Arc;

use async_trait::async_trait;

use super::{decode, fail};
use crate::incident::alert::AlertDelivery;
use crate::incident::service::IncidentService;
use crate::webhook::{Event, Handler, HandlerError};

pub struct AlertHandler {
    pub incidents: Arc<IncidentService>,
}

#[async_trait]
impl Handler for AlertHandler {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        let d: AlertDelivery = decode(event)?;
        match self.incidents.handle_alert(&event.delivery_id, &d).await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::warn!(delivery = %event.delivery_id, repo = %d.repo, error = %e, "alert notification not handled");
                Err(fail(e))
            }
        }
    }
}
