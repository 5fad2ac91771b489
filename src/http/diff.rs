//! `GET /v1/repos/{owner}/{repo}/pulls/{number}/files|diff`: agent auth, name
//! validation, then `DiffService`. ETag/If-None-Match, path filters, byte budget,
//! and whole answers gzipped (once, cached) for callers that accept it.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::AppState;
use super::agent::AgentAuth;
use super::error::ApiError;
use crate::diff::view::{self, PathFilter};
use crate::diff::{DiffAnswer, DiffError, GitErrorKind, Via};
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
        DiffError::GitFetch(g) if g.kind() == GitErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
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

/// Whether the caller takes a gzip body (`Accept-Encoding`, honouring `q=0`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip"))
                && !refused
        })
}

/// A gzip body is another representation, so it gets its own (strong) ETag.
fn gzip_etag(etag: &str) -> String {
    format!("{}-gzip\"", etag.trim_end_matches('"'))
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
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
}

/// One diff request, ready to render: the answer, what the query selected, its ETag,
/// and whether the caller already has it.
struct Prepared {
    answer: std::sync::Arc<DiffAnswer>,
    query: Query,
    filter: PathFilter,
    etag: String,
    not_modified: bool,
    /// The whole answer goes out, and the caller takes gzip: send the gzipped copy.
    gzip: bool,
}

async fn prepare(
    state: &AppState,
    auth: &AgentAuth,
    (owner, repo, number): &(String, String, String),
    raw: Option<String>,
    headers: &HeaderMap,
    route: &str,
) -> Result<Prepared, ApiError> {
    let (repo, number) = target(auth, owner, repo, number)?;
    state.require_app()?;
    let query = parse_query(raw)?;
    let filter = PathFilter::new(&query.paths).map_err(bad)?;
    let span = tracing::info_span!("diff", %repo, pr = number.0, agent = %auth.0.sub);
    let answer = state
        .diffs
        .get(&repo, number, query.via)
        .instrument(span)
        .await
        .map_err(error)?;
    let whole = filter.is_all() && query.max_bytes.is_none();
    let gzip = whole && accepts_gzip(headers);
    // The first request for a whole answer encodes it (JSON, gzip) once for all;
    // a big diff takes long enough to stall an async thread, so it runs aside.
    if filter.is_all() {
        let (a, files) = (answer.clone(), route == "files");
        state
            .diffs
            .blocking(move || match (files, gzip) {
                (true, true) => drop(a.json_gzip()),
                (true, false) => drop(a.json()),
                (false, true) => drop(a.unified_gzip()),
                (false, false) => {}
            })
            .await;
    }
    let etag = match gzip {
        true => gzip_etag(&answer.etag),
        false => etag_for(&answer, route, &query),
    };
    let not_modified = not_modified(headers, &etag);
    Ok(Prepared {
        answer,
        query,
        filter,
        etag,
        not_modified,
        gzip,
    })
}

impl Prepared {
    fn respond(
        self,
        body: impl FnOnce(&Self) -> Result<Response, ApiError>,
    ) -> Result<Response, ApiError> {
        let mut resp = if self.not_modified {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            body(&self)?
        };
        if self.gzip && !self.not_modified {
            resp.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        common_headers(&mut resp, &self.answer, &self.etag);
        Ok(resp)
    }
}

pub async fn files(
    State(state): State<AppState>,
    auth: AgentAuth,
    Path(target): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = prepare(&state, &auth, &target, raw, &headers, "files").await?;
    p.respond(|p| {
        let a = &p.answer;
        if p.filter.is_all() {
            let body = if p.gzip { a.json_gzip() } else { a.json() };
            return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
        }
        let mut body = serde_json::to_value(&**a).map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })?;
        let kept: Vec<_> = a.files.iter().filter(|f| p.filter.matches(f)).collect();
        body["files"] = serde_json::to_value(kept).unwrap_or_default();
        Ok(Json(body).into_response())
    })
}

pub async fn diff(
    State(state): State<AppState>,
    auth: AgentAuth,
    Path(target): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = prepare(&state, &auth, &target, raw, &headers, "diff").await?;
    p.respond(|p| {
        const DIFF: &str = "text/x-diff; charset=utf-8";
        if p.gzip {
            return Ok(([(header::CONTENT_TYPE, DIFF)], p.answer.unified_gzip()).into_response());
        }
        let cut = view::cut(
            &p.answer.unified,
            &p.answer.files,
            &p.filter,
            p.query.max_bytes,
        );
        let mut r = ([(header::CONTENT_TYPE, DIFF)], cut.body).into_response();
        if cut.truncated {
            r.headers_mut()
                .insert("x-responder-truncated", HeaderValue::from_static("true"));
        }
        Ok(r)
    })
}
