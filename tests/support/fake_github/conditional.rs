//! Conditional requests as GitHub documents them: a successful `GET` carries an
//! `ETag` (a hash of the body); a request whose `If-None-Match` names the current
//! one gets `304 Not Modified` with no body.
//!
//! It only rewrites answers on their way out; it never decides what they say.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// `resp` with its ETag, or a 304 when `if_none_match` already names it.
pub async fn apply(if_none_match: Option<String>, resp: Response) -> Response {
    if resp.status() != StatusCode::OK {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "unreadable body").into_response();
    };
    let etag = format!("W/\"{}\"", hex::encode(Sha256::digest(&bytes)));
    let value = HeaderValue::from_str(&etag).expect("hex is a valid header value");
    let matches = if_none_match.is_some_and(|wanted| {
        wanted
            .split(',')
            .any(|t| t.trim() == etag || t.trim() == "*")
    });
    if matches {
        let mut not_modified = StatusCode::NOT_MODIFIED.into_response();
        not_modified.headers_mut().insert(header::ETAG, value);
        return not_modified;
    }
    parts.headers.insert(header::ETAG, value);
    Response::from_parts(parts, Body::from(bytes))
}
