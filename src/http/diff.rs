//! `GET /v1/repos/{owner}/{repo}/pulls/{number}/files|diff`: agent auth, name
//! validation, then `DiffService`. ETag/If-None-Match, path filters, byte budget.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::AppState;
use super::agent::AgentAuth;
use super::error::ApiError;
use crate::diff::view::{self, PathFilter};
use crate::diff::{DiffAnswer, DiffError, Via};
use crate::types::{PrNumber, RepoName};

struct Query {
    paths: Vec<String>,
    via: Via,
    max_bytes: Option<usize>,
}

fn bad(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
}

fn parse_query(raw: Option<String>) -> Result<Query, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| bad(format!("the query string cannot be read: {e}")))?;
    let mut q = Query {
        paths: Vec::new(),
        via: Via::Auto,
        max_bytes: None,
    };
    for (k, v) in pairs {
        match k.as_str() {
            "path" => q.paths.push(v),
            "via" => {
                q.via =
                    Via::parse(&v).ok_or_else(|| bad(format!("via={v:?}: use auto, api or git")))?
            }
            "max_bytes" => {
                q.max_bytes = Some(
                    v.parse()
                        .map_err(|_| bad(format!("max_bytes={v:?} is not a number of bytes")))?,
                )
            }
            other => {
                return Err(bad(format!(
                    "unknown query parameter {other:?}; known: path, via, max_bytes"
                )));
            }
        }
    }
    Ok(q)
}

/// Validates names before anything builds a path or URL from them.
fn target(
    auth: &AgentAuth,
    owner: &str,
    repo: &str,
    number: &str,
) -> Result<(RepoName, PrNumber), ApiError> {
    let repo = RepoName::new(owner, repo)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_name", e.to_string()))?;
    auth.require(&repo, "diff:read")?;
    let n: u64 = number.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_number",
            format!("{number:?} is not a pull request number"),
        )
    })?;
    Ok((repo, PrNumber(n)))
}

fn error(e: DiffError) -> ApiError {
    let status = match &e {
        DiffError::PrNotFound { .. } | DiffError::NotInstalled { .. } => StatusCode::NOT_FOUND,
        DiffError::GitFetch(_) | DiffError::GitHub(_) => StatusCode::BAD_GATEWAY,
        DiffError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.code(), e.to_string())
}

/// The representation's ETag: the diff's key plus what the query selected.
fn etag_for(answer: &DiffAnswer, route: &str, q: &Query) -> String {
    if q.paths.is_empty() && q.max_bytes.is_none() {
        return answer.etag.clone();
    }
    let mut h = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&(route, &q.paths, q.max_bytes), &mut h);
    format!(
        "{}-{:x}\"",
        answer.etag.trim_end_matches('"'),
        std::hash::Hasher::finish(&h)
    )
}

fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

fn common_headers(resp: &mut Response, answer: &DiffAnswer, etag: &str) {
    let h = resp.headers_mut();
    h.insert(
        "x-responder-source",
        HeaderValue::from_static(answer.source.as_str()),
    );
    h.insert(
        "x-responder-complete",
        HeaderValue::from_static(if answer.complete { "true" } else { "false" }),
    );
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
}

async fn answer(
    state: &AppState,
    repo: &RepoName,
    number: PrNumber,
    via: Via,
) -> Result<std::sync::Arc<DiffAnswer>, ApiError> {
    let span = tracing::info_span!("diff", %repo, pr = number.0);
    state
        .diffs
        .get(repo, number, via)
        .instrument(span)
        .await
        .map_err(error)
}

pub async fn files(
    State(state): State<AppState>,
    auth: AgentAuth,
    Path((owner, repo, number)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (repo, number) = target(&auth, &owner, &repo, &number)?;
    let q = parse_query(raw)?;
    let filter = PathFilter::new(&q.paths).map_err(bad)?;
    let a = answer(&state, &repo, number, q.via).await?;
    let etag = etag_for(&a, "files", &q);
    let mut resp = if not_modified(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else if filter.is_all() {
        Json(&*a).into_response()
    } else {
        let mut body = serde_json::to_value(&*a).map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })?;
        body["files"] = serde_json::to_value(
            a.files
                .iter()
                .filter(|f| filter.matches(f))
                .collect::<Vec<_>>(),
        )
        .unwrap_or_default();
        Json(body).into_response()
    };
    common_headers(&mut resp, &a, &etag);
    Ok(resp)
}

pub async fn diff(
    State(state): State<AppState>,
    auth: AgentAuth,
    Path((owner, repo, number)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (repo, number) = target(&auth, &owner, &repo, &number)?;
    let q = parse_query(raw)?;
    let filter = PathFilter::new(&q.paths).map_err(bad)?;
    let a = answer(&state, &repo, number, q.via).await?;
    let etag = etag_for(&a, "diff", &q);
    let mut resp = if not_modified(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let cut = view::cut(&a.unified, &a.files, &filter, q.max_bytes);
        let mut r = (
            [(header::CONTENT_TYPE, "text/x-diff; charset=utf-8")],
            cut.body,
        )
            .into_response();
        if cut.truncated {
            r.headers_mut()
                .insert("x-responder-truncated", HeaderValue::from_static("true"));
        }
        r
    };
    common_headers(&mut resp, &a, &etag);
    Ok(resp)
}
