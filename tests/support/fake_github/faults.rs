//! Fault injection: per method and path pattern, answer the next N matching
//! requests the ways GitHub fails, then serve normally.
//!
//! It only decides and builds failure answers; it must never touch repository data.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::errors::DOCS;

/// A way GitHub fails.
#[derive(Clone, Debug)]
pub enum Fault {
    /// That status with GitHub's JSON error (`Not Found`, `Server Error`, …).
    Status(u16),
    /// 403 `Resource not accessible by integration`, naming the permission needed
    /// (e.g. `issues=write`) in `X-Accepted-GitHub-Permissions`.
    Forbidden { permission: String },
    /// 406 `too_large`: the diff media type past its file limit.
    TooLarge,
    /// 422 or 5xx `not_available`: the diff took too long to generate.
    NotAvailable(u16),
    /// 403 secondary rate limit with `retry-after` seconds.
    SecondaryRateLimit { retry_after: u64 },
    /// 403 primary rate limit: `x-ratelimit-remaining: 0`, reset at unix time `reset`.
    PrimaryRateLimit { reset: i64 },
    /// Waits, then answers normally.
    Slow(Duration),
    /// Does the work (e.g. creates the issue), then answers this status anyway:
    /// GitHub's 502 after the write went through.
    AfterProcessing(u16),
}

/// A fault armed for `remaining` more matching requests.
#[derive(Clone, Debug)]
pub struct FaultRule {
    pub method: String,
    pub pattern: String,
    pub fault: Fault,
    pub remaining: u32,
    /// Matching requests to let through before the fault applies.
    pub skip: u32,
}

impl FaultRule {
    /// `*` matches exactly one path segment; other segments compare
    /// case-insensitively (GitHub's owner and repo names are).
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if !self.method.eq_ignore_ascii_case(method) && self.method != "*" {
            return false;
        }
        let want: Vec<&str> = self.pattern.trim_matches('/').split('/').collect();
        let got: Vec<&str> = path.trim_matches('/').split('/').collect();
        want.len() == got.len()
            && want
                .iter()
                .zip(&got)
                .all(|(w, g)| *w == "*" || w.eq_ignore_ascii_case(g))
    }
}

/// The answer for a fault, or `None` for `Slow` (the caller sleeps and carries on).
pub fn answer(fault: &Fault) -> Option<Response> {
    let resp = match fault {
        Fault::Status(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = match code {
                401 => "Bad credentials",
                403 => "Forbidden",
                404 => "Not Found",
                409 => "Conflict",
                422 => "Validation Failed",
                500..=599 => "Server Error",
                _ => status.canonical_reason().unwrap_or("Error"),
            };
            (status, axum::Json(json!({"message": message, "documentation_url": DOCS}))).into_response()
        }
        Fault::Forbidden { permission } => {
            let mut r = (
                StatusCode::FORBIDDEN,
                axum::Json(json!({"message": "Resource not accessible by integration", "documentation_url": DOCS, "status": "403"})),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(permission) {
                r.headers_mut().insert("x-accepted-github-permissions", v);
            }
            r
        }
        Fault::TooLarge => (
            StatusCode::NOT_ACCEPTABLE,
            axum::Json(json!({
                "message": "Sorry, the diff exceeded the maximum number of files (300). Consider using 'List pull requests files' API or locally cloning the repository instead.",
                "errors": [{"resource": "PullRequest", "field": "diff", "code": "too_large"}],
                "documentation_url": DOCS,
                "status": "406"
            })),
        )
            .into_response(),
        Fault::NotAvailable(code) => (
            StatusCode::from_u16(*code).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
            axum::Json(json!({
                "message": "Sorry, this diff is taking too long to generate.",
                "errors": [{"resource": "PullRequest", "field": "diff", "code": "not_available"}],
                "documentation_url": DOCS,
                "status": code.to_string()
            })),
        )
            .into_response(),
        Fault::SecondaryRateLimit { retry_after } => {
            let mut r = (
                StatusCode::FORBIDDEN,
                axum::Json(json!({
                    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                    "status": "403"
                })),
            )
                .into_response();
            r.headers_mut().insert("retry-after", HeaderValue::from(*retry_after));
            r
        }
        Fault::PrimaryRateLimit { reset } => {
            let mut r = (
                StatusCode::FORBIDDEN,
                axum::Json(json!({
                    "message": "API rate limit exceeded for installation ID 1.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                    "status": "403"
                })),
            )
                .into_response();
            let h = r.headers_mut();
            h.insert("x-ratelimit-limit", HeaderValue::from(5000));
            h.insert("x-ratelimit-remaining", HeaderValue::from(0));
            h.insert("x-ratelimit-used", HeaderValue::from(5000));
            h.insert("x-ratelimit-reset", HeaderValue::from(*reset));
            h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
            r
        }
        Fault::Slow(_) | Fault::AfterProcessing(_) => return None,
    };
    Some(resp)
}
