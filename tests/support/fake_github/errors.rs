//! GitHub's JSON error answers (`{"message", "documentation_url"}`), in one place
//! so every route fails the same way GitHub does.
//!
//! It must never put a token or key into a message.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The documentation link GitHub puts in error bodies.
pub const DOCS: &str = "https://docs.github.com/rest";

/// `status` with `{"message": message, "documentation_url": …}`.
pub fn gh_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"message": message, "documentation_url": DOCS, "status": status.as_u16().to_string()})),
    )
        .into_response()
}

/// 404 `Not Found`.
pub fn not_found() -> Response {
    gh_error(StatusCode::NOT_FOUND, "Not Found")
}

/// 401 `Bad credentials`.
pub fn bad_credentials() -> Response {
    gh_error(StatusCode::UNAUTHORIZED, "Bad credentials")
}

/// 401 `Requires authentication` (no credentials at all).
pub fn requires_auth() -> Response {
    gh_error(StatusCode::UNAUTHORIZED, "Requires authentication")
}

/// 422 `Validation Failed` with GitHub's `errors` array.
pub fn validation(errors: Value) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({"message": "Validation Failed", "errors": errors, "documentation_url": DOCS, "status": "422"})),
    )
        .into_response()
}

/// 422 for a body longer than GitHub's 65,536 characters.
pub fn body_too_long(resource: &str) -> Response {
    validation(json!([{
        "resource": resource, "code": "custom", "field": "body",
        "message": "body is too long (maximum is 65536 characters)"
    }]))
}

/// 401 for git over HTTP: GitHub asks for basic auth.
pub fn git_unauthorized() -> Response {
    let mut r = (
        StatusCode::UNAUTHORIZED,
        "Invalid username or token. Password authentication is not supported for Git operations.\n",
    )
        .into_response();
    r.headers_mut().insert(
        "www-authenticate",
        HeaderValue::from_static("Basic realm=\"GitHub\""),
    );
    r
}

/// GitHub's limit on issue and comment bodies, in characters.
pub const MAX_BODY: usize = 65_536;
