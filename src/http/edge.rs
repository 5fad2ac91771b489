//! The outermost layers: every error the edge answers is the JSON error body, and
//! requests with too many or too large headers are refused before any route runs.
//!
//! Purpose: axum's extractor rejections (a duplicated query parameter, a body over its
//! limit), unknown routes and tower-http's limits answer plain text or nothing;
//! CONTRACT.md promises `{"error": code, "message": text}`. HTML pages (the setup
//! flow) stay HTML.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Headers a request may carry (hyper's default, which answered an empty 431).
pub const MAX_HEADERS: usize = 100;
/// Bytes of header names and values a request may carry.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// How much of a plain-text error body is kept as the JSON message.
const MESSAGE_BYTES: usize = 4096;

/// Refuses requests whose headers are over the limits with a JSON 431.
pub async fn limit_headers(req: Request, next: Next) -> Response {
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request has {} headers of {bytes} bytes; at most {MAX_HEADERS} headers \
                 of {MAX_HEADER_BYTES} bytes in all are accepted",
                headers.len()
            ),
        )
        .into_response();
    }
    next.run(req).await
}

/// Rewrites an error answer that is not already JSON (or an HTML page) as the JSON
/// error body, keeping its status and headers and its text as the message.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if kind.starts_with("application/json") || kind.starts_with("text/html") {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Rejection texts are short; a long one is cut rather than buffered whole.
    let text = match axum::body::to_bytes(body, MESSAGE_BYTES).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let body = serde_json::json!({ "error": code(status), "message": message }).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

/// A stable code for an error status, e.g. `payload_too_large`.
fn code(status: StatusCode) -> String {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large".into(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large".into(),
        other => other
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
            .replace([' ', '-'], "_")
            .replace('\'', ""),
    }
}
