//! `/v1/git/{owner}/{repo}.git/…`: read-only git smart HTTP for sandboxes.
//!
//! Purpose: the edge of the git mirror. HTTP basic auth (any user name, the agent
//! token as password, scope `git:read`), name validation before anything builds a
//! path, the request body decoded, then `GitServe`. Errors are `text/plain`, not
//! the JSON of the other routes: git prints a text body line by line as `remote: …`
//! and ignores anything else. Pushes are refused here, before any work.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use tracing::Instrument;

use super::AppState;
use crate::agent_token::{self, TokenError};
use crate::gitserve::{PackStream, ServeError};
use crate::types::RepoName;

/// The scope a token needs to clone and fetch.
pub const SCOPE: &str = "git:read";
/// What a client's request to upload-pack may hold, decoded (wants and haves).
const REQUEST_LIMIT: usize = 16 << 20;
const REALM: &str = "Basic realm=\"Responder git mirror\", charset=\"UTF-8\"";
const READ_ONLY: &str = "Responder's git mirror is read-only: push to GitHub itself";

/// `GET …/info/refs?service=git-upload-pack`.
pub async fn info_refs(
    State(state): State<AppState>,
    Path((owner, repo)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    match query.as_deref() {
        Some("service=git-upload-pack") => {}
        Some("service=git-receive-pack") => return refused(),
        _ => {
            return text(
                StatusCode::FORBIDDEN,
                "only git's smart HTTP protocol is served: ask for \
                 info/refs?service=git-upload-pack (a git client does)",
            );
        }
    }
    let (repo, agent) = match admit(&state, &owner, &repo, &headers) {
        Ok(admitted) => admitted,
        Err(denied) => return denied.into_response(),
    };
    let span = tracing::info_span!("git", %repo, agent = %agent, rpc = "info-refs");
    let answer = state
        .git
        .advertise(&repo, protocol(&headers))
        .instrument(span)
        .await;
    respond(answer, "application/x-git-upload-pack-advertisement")
}

/// `POST …/git-upload-pack`.
pub async fn upload_pack(
    State(state): State<AppState>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (repo, agent) = match admit(&state, &owner, &repo, &headers) {
        Ok(admitted) => admitted,
        Err(denied) => return denied.into_response(),
    };
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip"));
    let request = match read_request(body, gzip).await {
        Ok(r) => r,
        Err(e) => return error(e),
    };
    let span = tracing::info_span!("git", %repo, agent = %agent, rpc = "upload-pack");
    let answer = state
        .git
        .upload_pack(&repo, protocol(&headers), request)
        .instrument(span)
        .await;
    respond(answer, "application/x-git-upload-pack-result")
}

/// `POST …/git-receive-pack`: never served.
pub async fn receive_pack() -> Response {
    refused()
}

fn refused() -> Response {
    text(StatusCode::FORBIDDEN, READ_ONLY)
}

/// Why a request is not served, before any work: 401 carries the challenge.
struct Denied {
    status: StatusCode,
    message: String,
}

impl Denied {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let mut response = text(self.status, &self.message);
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(REALM));
        }
        response
    }
}

/// The repository and the agent's name, or why not: 401 without a valid token
/// (git then asks its credential helper), 403 when the token does not grant the
/// repository — the same whether it exists.
fn admit(
    state: &AppState,
    owner: &str,
    repo: &str,
    headers: &HeaderMap,
) -> Result<(RepoName, String), Denied> {
    let Some(secret) = state.settings.agent_secret.as_ref() else {
        return Err(Denied::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the agent API is off: set RESPONDER_AGENT_SECRET and restart",
        ));
    };
    let Some(token) = basic_password(headers) else {
        return Err(Denied::unauthorized(
            "Responder's git mirror wants an agent token with scope git:read as the \
             password (any user name); mint one with `responder token --scope git:read`",
        ));
    };
    let now = chrono::Utc::now().timestamp();
    let agent = agent_token::verify(secret, &token, now, state.settings.agent_token_max_ttl)
        .map_err(|e| Denied::unauthorized(e.to_string()))?;
    let name = repo.strip_suffix(".git").ok_or_else(|| {
        Denied::new(
            StatusCode::NOT_FOUND,
            "git repositories are at /v1/git/OWNER/REPO.git",
        )
    })?;
    let repo = RepoName::new(owner, name)
        .map_err(|e| Denied::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    agent.authorize(&repo, SCOPE).map_err(|e| match e {
        TokenError::NotAllowed { .. } => Denied::new(StatusCode::FORBIDDEN, e.to_string()),
        other => Denied::unauthorized(other.to_string()),
    })?;
    state
        .require_app()
        .map_err(|e| Denied::new(e.status, e.message))?;
    Ok((repo, agent.sub))
}

/// The password of `Authorization: Basic …` (the user name is ignored).
fn basic_password(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let (_user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some(password.trim().to_string()).filter(|p| !p.is_empty())
}

/// The client's `Git-Protocol` when it is one git would send (`version=2`, …);
/// anything else is dropped rather than handed to git's environment.
fn protocol(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("git-protocol")?.to_str().ok()?;
    let plain = value.len() <= 256
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"=:._-,".contains(&b));
    plain.then_some(value)
}

/// The request body, gunzipped when git compressed it, at most `REQUEST_LIMIT`.
async fn read_request(body: Body, gzip: bool) -> Result<Bytes, ServeError> {
    let too_big = || {
        ServeError::BadRequest(format!(
            "the upload-pack request is over {} MiB",
            REQUEST_LIMIT >> 20
        ))
    };
    let raw = axum::body::to_bytes(body, REQUEST_LIMIT)
        .await
        .map_err(|_| too_big())?;
    if !gzip {
        return Ok(raw);
    }
    let decoded = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .take(REQUEST_LIMIT as u64 + 1)
            .read_to_end(&mut out)
            .map(|_| out)
    })
    .await
    .map_err(|e| ServeError::BadRequest(format!("decoding the request failed: {e}")))?
    .map_err(|e| ServeError::BadRequest(format!("the gzip request body is damaged: {e}")))?;
    if decoded.len() > REQUEST_LIMIT {
        return Err(too_big());
    }
    Ok(decoded.into())
}

fn respond(answer: Result<PackStream, ServeError>, content_type: &'static str) -> Response {
    match answer {
        Ok(pack) => {
            let mut response = Response::new(Body::from_stream(pack.into_stream()));
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        Err(e) => error(e),
    }
}

fn error(e: ServeError) -> Response {
    let status = match &e {
        ServeError::NotFound { .. } => StatusCode::NOT_FOUND,
        ServeError::Unavailable { .. } => StatusCode::BAD_GATEWAY,
        ServeError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        ServeError::DiskFull { .. } => StatusCode::INSUFFICIENT_STORAGE,
        ServeError::BadRequest(_) => StatusCode::BAD_REQUEST,
        ServeError::Git(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut response = text(status, &e.to_string());
    if let ServeError::Busy { .. } = e {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

/// A plain-text answer git shows its user (one `remote: ` line per line).
fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}
