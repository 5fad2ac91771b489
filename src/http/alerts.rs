//! `POST /v1/alerts/alertmanager`: Alertmanager's webhook receiver and Grafana
//! Alerting's webhook contact point.
//!
//! Purpose: authenticate, parse, route to a repository (the `repo` label, else
//! `?repo=owner/name`, else the token's only repository), authorise, and store the
//! notification in the inbox — answered 200 only once it is durable, so a 5xx makes
//! Alertmanager retry and a crash after the 200 loses nothing. The worker handles
//! it like a webhook delivery. Must never call GitHub or decide about incidents.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::agent::AgentAuth;
use super::error::ApiError;
use super::incidents::{WRITE_SCOPE, unprocessable};
use crate::agent_token::Grant;
use crate::incident::alert::{self, AlertDelivery, Notification};
use crate::store::{InsertOutcome, NewDelivery, StoredPayload};
use crate::types::RepoName;

/// The largest notification accepted (a few thousand alerts).
pub const ALERT_BODY_LIMIT: usize = 8 * 1024 * 1024;

#[derive(Deserialize)]
pub struct AlertQuery {
    repo: Option<String>,
}

pub async fn receive(
    State(state): State<AppState>,
    auth: AgentAuth,
    Query(q): Query<AlertQuery>,
    body: Result<Json<Notification>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(n) = body.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!(
                "{}. The body is Alertmanager's webhook payload (version 4) or Grafana's webhook contact point's",
                e.body_text()
            ),
        )
    })?;
    let repo = route(&n, q.repo.as_deref(), &auth)?;
    auth.require(&repo, WRITE_SCOPE)?;
    // The handler acts as the App: without one, Alertmanager should retry later.
    state.require_app()?;
    let status = if n.is_firing() { "firing" } else { "resolved" };
    metrics::counter!("responder_alerts_received_total", "status" => status).increment(1);
    let delivery_id = alert::delivery_id(&repo.full(), &n);
    let stored = AlertDelivery {
        repo: repo.full(),
        sender: auth.0.sub.clone(),
        grants: Some(auth.0.grants.iter().map(ToString::to_string).collect()),
        notification: n,
    };
    let new = NewDelivery {
        delivery_id: delivery_id.clone(),
        event: alert::EVENT.to_string(),
        action: None,
        repo: Some(repo.full()),
        installation_id: None,
        payload: StoredPayload::new(&serde_json::to_string(&stored).map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })?),
    };
    match state.inbox.submit(new).await {
        Ok(outcome) => {
            let duplicate = outcome == InsertOutcome::Duplicate;
            tracing::info!(delivery = %delivery_id, repo = %repo, status, duplicate, "alert notification stored");
            Ok(Json(
                serde_json::json!({ "status": "accepted", "delivery": delivery_id }),
            ))
        }
        Err(e) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("{e}; Alertmanager retries"),
        )),
    }
}

/// The repository a notification goes to (CONTRACT.md, Alerts).
fn route(n: &Notification, query: Option<&str>, auth: &AgentAuth) -> Result<RepoName, ApiError> {
    let named = n.label("repo").or(query.filter(|q| !q.trim().is_empty()));
    if let Some(r) = named {
        return r.trim().parse().map_err(|e| {
            unprocessable(
                "invalid_repo",
                format!("repo {:?}: {e}", alert::cut(r, 100)),
            )
        });
    }
    match auth.0.grants.as_slice() {
        [Grant::Repo(r)] => Ok(r.clone()),
        _ => Err(unprocessable(
            "no_repo",
            "say which repository the alert is for: a `repo` label (owner/name), or \
             `?repo=owner/name` on the receiver's URL, or a token for one repository",
        )),
    }
}
