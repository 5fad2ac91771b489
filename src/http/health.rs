//! `GET /healthz` and `GET /metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;

pub async fn healthz(State(state): State<AppState>) -> Response {
    let store_ok = state.store.ping().await.is_ok();
    let missing = state.setup.live().missing();
    let body = serde_json::json!({
        "status": if store_ok { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "store": { "ok": store_ok },
        "github_app": {
            "configured": missing.is_empty(),
            "missing": missing,
        },
        "agent_api": { "configured": state.settings.agent_secret.is_some() },
    });
    let status = if store_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    refresh_incident_gauges(&state).await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// Sets `responder_incidents{severity,status}` from the store, zero for the
/// combinations that have none (so a resolved incident leaves the open series).
/// Read at each scrape: always current, one small GROUP BY.
async fn refresh_incident_gauges(state: &AppState) {
    let counts = match state.store.incident_counts().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "incident counts unavailable for /metrics");
            return;
        }
    };
    for s in crate::incident::model::severity::Severity::ALL {
        for status in crate::incident::model::IncidentStatus::ALL {
            let n = counts
                .iter()
                .find(|(sev, st, _)| sev == s.as_str() && st == status.as_str())
                .map_or(0, |c| c.2);
            metrics::gauge!("responder_incidents", "severity" => s.as_str(), "status" => status.as_str())
                .set(n as f64);
        }
    }
}
