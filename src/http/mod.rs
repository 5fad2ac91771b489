//! The axum edge: verifies, parses and hands off. No business logic lives here.

mod agent;
mod agent_runs;
mod alerts;
mod diff;
mod edge;
mod error;
mod git;
mod health;
mod incident_list;
mod incidents;
mod mcp;
mod serve;
mod setup;
mod unverified;
mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use agent::AgentAuth;
pub use error::ApiError;
pub(crate) use incidents::{declare_for, incident_for};
pub use serve::{ServeConfig, serve};
pub use unverified::{BodyBudget, UNVERIFIED_BODY_BUDGET};

use crate::diff::DiffService;
use crate::github::GitHub;
use crate::gitserve::GitServe;
use crate::incident::service::{AgentRuns, IncidentService};
use crate::settings::Settings;
use crate::setup::Setup;
use crate::store::Store;
use crate::types::Secret;
use crate::webhook::Inbox;

/// GitHub's maximum webhook payload.
pub const WEBHOOK_BODY_LIMIT: usize = 25 * 1024 * 1024;

/// What every handler can reach; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub github: Arc<dyn GitHub>,
    pub diffs: Arc<DiffService>,
    /// The git mirror for sandboxes (`/v1/git`).
    pub git: Arc<GitServe>,
    pub store: Store,
    pub inbox: Inbox,
    pub incidents: Arc<IncidentService>,
    /// `POST /v1/agent-runs`.
    pub runs: Arc<AgentRuns>,
    pub metrics: PrometheusHandle,
    /// The App identity in use (replaced by one-click setup) and the setup flow.
    pub setup: Arc<Setup>,
    /// What webhook bodies not yet verified may hold at once.
    pub unverified: BodyBudget,
}

impl AppState {
    pub fn webhook_secrets(&self) -> Vec<Secret> {
        self.setup.live().webhook_secrets.clone()
    }

    /// 503 naming what is missing while no GitHub App is configured (at start or by
    /// the one-click setup since): the GitHub-backed routes act as the App.
    pub fn require_app(&self) -> Result<(), error::ApiError> {
        if self.setup.live().app.is_some() {
            return Ok(());
        }
        Err(error::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "not_configured",
            "the GitHub App is not configured (missing: GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY \
             or GITHUB_APP_PRIVATE_KEY_PATH): set them and restart, or register the App from \
             this service's / page",
        ))
    }
}

/// The service's routes and layers.
pub fn router(state: AppState) -> Router {
    let header = axum::http::HeaderName::from_static("x-request-id");
    // git's routes answer errors in text, which git shows its user: they stay
    // outside the JSON error layer (git ignores a JSON body).
    let git = Router::new()
        .route("/v1/git/{owner}/{repo}/info/refs", get(git::info_refs))
        .route(
            "/v1/git/{owner}/{repo}/git-upload-pack",
            post(git::upload_pack),
        )
        .route(
            "/v1/git/{owner}/{repo}/git-receive-pack",
            post(git::receive_pack),
        )
        .with_state(state.clone())
        .layer(axum::middleware::from_fn(edge::limit_headers));
    Router::new()
        .route("/webhook", post(webhook::receive))
        .route("/v1/repos/{owner}/{repo}/pulls/{number}/files", get(diff::files))
        .route("/v1/repos/{owner}/{repo}/pulls/{number}/diff", get(diff::diff))
        .route("/", get(setup::home))
        .route("/setup/callback", get(setup::callback))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route(
            "/v1/incidents",
            post(incidents::declare).get(incident_list::list),
        )
        .route(
            "/v1/alerts/alertmanager",
            post(alerts::receive).layer(axum::extract::DefaultBodyLimit::max(
                alerts::ALERT_BODY_LIMIT,
            )),
        )
        .route(
            "/v1/agent-runs",
            post(agent_runs::report).layer(axum::extract::DefaultBodyLimit::max(
                agent_runs::RUN_BODY_LIMIT,
            )),
        )
        .route("/v1/incidents/{id}", get(incidents::show))
        .route("/v1/incidents/{id}/timeline", get(incidents::timeline))
        .merge(mcp::routes(&state))
        // Explicit, so it survives the merge with git's routes below (a merge keeps
        // the one fallback that is not axum's default) inside the JSON error layer.
        .fallback(|| async { axum::http::StatusCode::NOT_FOUND })
        .with_state(state)
        .layer(axum::middleware::from_fn(edge::limit_headers))
        .layer(axum::middleware::from_fn(edge::json_errors))
        .merge(git)
        .layer(PropagateRequestIdLayer::new(header.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let delivery = req
                .headers()
                .get("x-github-delivery")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = id, delivery)
        }))
        .layer(SetRequestIdLayer::new(header, MakeRequestUuid))
}
