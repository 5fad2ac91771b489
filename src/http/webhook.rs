//! `POST /webhook`: verify, parse, store, ack. Nothing else happens in the request.
//!
//! A body is read only once the signature header is well formed and the
//! unverified-body budget holds its size ([`super::unverified`]).

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header::CONTENT_LENGTH};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::{AppState, WEBHOOK_BODY_LIMIT};
use crate::store::InsertOutcome;
use crate::webhook::{envelope, signature};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub async fn receive(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
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
    let bad_signature = |e: signature::SignatureError| {
        tracing::warn!(delivery, event, reason = %e, "rejected a webhook with a bad signature");
        reject(StatusCode::UNAUTHORIZED, "bad_signature", e.to_string())
    };
    let digest = match signature::parse_header(header(&headers, "x-hub-signature-256")) {
        Ok(d) => d,
        Err(e) => return bad_signature(e),
    };
    let (body, reserved) = match read_unverified(&state, &headers, body).await {
        Ok(read) => read,
        Err(refused) => {
            metrics::counter!("responder_deliveries_rejected_total", "reason" => refused.code)
                .increment(1);
            return refused.into_response();
        }
    };
    if let Err(e) = signature::verify_digest(&secrets, &body, &digest) {
        return bad_signature(e);
    }
    // Verified: the body no longer counts against what strangers may hold.
    drop(reserved);
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

/// Reads the body within the unverified-body budget: the declared size (GitHub always
/// sends `Content-Length`; without one, the largest payload) is reserved before the
/// first byte is read, and given back when the returned guard drops.
async fn read_unverified(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(axum::body::Bytes, super::unverified::Reserved), ApiError> {
    let declared = header(headers, CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the body is over GitHub's webhook payload limit of {WEBHOOK_BODY_LIMIT} bytes"
            ),
        )
    };
    if declared.is_some_and(|n| n > WEBHOOK_BODY_LIMIT as u64) {
        return Err(too_large());
    }
    let size = declared.map_or(WEBHOOK_BODY_LIMIT, |n| n as usize);
    let Some(reserved) = state.unverified.try_reserve(size) else {
        let mut busy = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many webhook bodies are being received at once; GitHub can redeliver this \
             delivery (Responder's redelivery job asks it to)",
        );
        busy.retry_after = Some(5);
        return Err(busy);
    };
    let bytes = axum::body::to_bytes(body, size).await.map_err(|e| {
        let limited = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if limited {
            too_large()
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                format!("the body could not be read: {e}"),
            )
        }
    })?;
    Ok((bytes, reserved))
}
