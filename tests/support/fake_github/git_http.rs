//! Git smart HTTP at `/{owner}/{repo}.git/…` through `git http-backend` (CGI),
//! with GitHub's rule: basic auth `x-access-token:<installation token>`, anonymous
//! only for public repositories.
//!
//! Fetch only: it must never let a client push (http-backend refuses receive-pack
//! without `REMOTE_USER`, which is never set).

use std::process::Stdio;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::auth::{Credential, credential};
use super::errors::git_unauthorized;
use super::state::Shared;

/// Answers one git HTTP request for `owner/repo` (`rest` is `/info/refs`, …).
pub async fn serve(shared: Shared, req: Request, owner: &str, repo: &str, rest: &str) -> Response {
    let bare = {
        let st = shared.lock().expect("state lock");
        let found = st.repo(owner, repo);
        let allowed = match credential(req.headers()) {
            Credential::Token(t) if st.live_token(&t).is_some() => {
                // A token reads a private repository over git only when its App has
                // the contents permission.
                let contents = st.app_permissions.contains_key("contents");
                if found.is_some()
                    && ((st.token_covers(&t, owner, repo) && contents)
                        || found.is_some_and(|r| r.public))
                {
                    true
                } else {
                    return (StatusCode::NOT_FOUND, "Repository not found.\n").into_response();
                }
            }
            Credential::None => found.is_some_and(|r| r.public),
            _ => false,
        };
        if !allowed {
            return git_unauthorized();
        }
        found.expect("allowed implies found").bare.clone()
    };
    let (root, dir) = match (bare.parent(), bare.file_name()) {
        (Some(p), Some(d)) => (p.to_path_buf(), d.to_string_lossy().into_owned()),
        _ => return (StatusCode::INTERNAL_SERVER_ERROR, "bad repository path").into_response(),
    };
    let method = req.method().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let (content_type, encoding, protocol) = {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        (
            header("content-type"),
            header("content-encoding"),
            header("git-protocol"),
        )
    };
    let body = match axum::body::to_bytes(req.into_body(), 512 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::BAD_REQUEST, "unreadable body").into_response(),
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", &root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", format!("/{dir}{rest}"))
        .env("QUERY_STRING", &query)
        .env("REQUEST_METHOD", &method)
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env_remove("REMOTE_USER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(ct) = content_type {
        cmd.env("CONTENT_TYPE", ct);
    }
    if let Some(enc) = encoding {
        cmd.env("HTTP_CONTENT_ENCODING", enc);
    }
    if let Some(p) = protocol {
        cmd.env("HTTP_GIT_PROTOCOL", p);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("git http-backend: {e}"),
            )
                .into_response();
        }
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Write and read at once: a large pack would fill the pipes and deadlock otherwise.
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let mut out = Vec::new();
    let mut stdout = child.stdout.take().expect("piped stdout");
    let _ = stdout.read_to_end(&mut out).await;
    let _ = writer.await;
    let _ = child.wait().await;
    cgi_response(&out)
}

/// Turns CGI output (headers, blank line, body) into a response.
fn cgi_response(out: &[u8]) -> Response {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            out.windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        });
    let Some((head_end, body_start)) = split else {
        return (StatusCode::BAD_GATEWAY, "git http-backend gave no headers").into_response();
    };
    let mut resp = Response::new(Body::from(out[body_start..].to_vec()));
    for line in String::from_utf8_lossy(&out[..head_end]).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value
                .split(' ')
                .next()
                .and_then(|c| c.parse().ok())
                .unwrap_or(200);
            *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
        } else if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.trim()),
            HeaderValue::from_str(value),
        ) {
            resp.headers_mut().append(n, v);
        }
    }
    resp
}
