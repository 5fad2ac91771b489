//! `POST /webhook`: verify, parse, store, ack. Nothing else happens in the request.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::store::InsertOutcome;
use crate::webhook::{envelope, signature};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let delivery = header(&headers, "x-github-delivery").unwrap_or("");
    let event = header(&headers, "x-github-event").unwrap_or("");
    let reject = |status, code, message: String| {
        metrics::counter!("responder_deliveries_rejected_total", "reason" => code).increment(1);
        ApiError::new(status, code, message).into_response()
    };
    metrics::counter!("responder_deliveries_received_total").increment(1);

    let secrets = state.webhook_secrets();
    if secrets.is_empty() {
        return reject(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_configured",
            "webhooks cannot be verified: set up the GitHub App from this service's / page, or set GITHUB_WEBHOOK_SECRET (the App's webhook secret) and restart".into(),
        );
    }
    if let Err(e) = signature::verify(&secrets, &body, header(&headers, "x-hub-signature-256")) {
        tracing::warn!(delivery, event, reason = %e, "rejected a webhook with a bad signature");
        return reject(StatusCode::UNAUTHORIZED, "bad_signature", e.to_string());
    }
    if delivery.is_empty() || delivery.len() > 100 || event.is_empty() || event.len() > 100 {
        return reject(
            StatusCode::BAD_REQUEST,
            "missing_headers",
            "X-GitHub-Event and X-GitHub-Delivery are required (at most 100 characters each)"
                .into(),
        );
    }
    let new = match envelope::parse(delivery, event, &body) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(delivery, event, error = %e, "rejected a webhook with a malformed body");
            return reject(StatusCode::BAD_REQUEST, "malformed_payload", e.to_string());
        }
    };
    let repo = new.repo.clone().unwrap_or_default();
    match state.inbox.submit(new).await {
        Ok(InsertOutcome::Accepted(_)) => {
            metrics::counter!("responder_deliveries_accepted_total", "event" => event.to_string())
                .increment(1);
            tracing::debug!(delivery, event, repo, "delivery stored");
            let status = if event == "ping" {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            (
                status,
                Json(serde_json::json!({ "status": "accepted", "delivery": delivery })),
            )
                .into_response()
        }
        Ok(InsertOutcome::Duplicate) => {
            metrics::counter!("responder_deliveries_duplicate_total", "event" => event.to_string())
                .increment(1);
            tracing::info!(
                delivery,
                event,
                repo,
                "delivery seen before; not processed again"
            );
            (
                StatusCode::OK,
                Json(serde_json::json!({ "status": "duplicate", "delivery": delivery })),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(delivery, event, error = %e, "delivery not stored");
            reject(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!("{e}; GitHub can redeliver this delivery from the App's Advanced settings"),
            )
        }
    }
}
