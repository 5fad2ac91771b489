//! The fake's HTTP front: one middleware that logs every request, strips the
//! `/api/v3` prefix, injects faults and sends git paths to `git http-backend`;
//! then the REST routes, served both under `/api/v3` and at the root.
//!
//! It must never hold the state lock across an `.await`.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::auth::{Credential, credential, is_authed};
use super::errors::not_found;
use super::faults::{self, Fault};
use super::git_stall::{self, GitStall};
use super::shapes::Urls;
use super::state::{LoggedRequest, Shared};
use super::{git_http, routes_app, routes_issues, routes_manifest, routes_pulls, routes_repos};

/// The whole fake as one router.
pub fn router(shared: Shared) -> Router {
    let api = api_routes().with_state(shared.clone());
    Router::new()
        .fallback_service(api)
        .layer(middleware::from_fn_with_state(shared.clone(), front_door))
        .with_state(shared)
}

fn api_routes() -> Router<Shared> {
    let r = Router::new()
        .route("/settings/apps/new", post(routes_manifest::new_app))
        .route(
            "/organizations/{org}/settings/apps/new",
            post(routes_manifest::new_org_app),
        )
        .route(
            "/app-manifests/{code}/conversions",
            post(routes_manifest::conversions),
        )
        .route("/app", get(routes_app::get_app))
        .route("/app/installations", get(routes_app::list_installations))
        .route("/app/installations/{id}", get(routes_app::get_installation))
        .route(
            "/app/installations/{id}/access_tokens",
            post(routes_app::create_token),
        )
        .route("/app/hook/deliveries", get(routes_app::list_deliveries))
        .route(
            "/app/hook/deliveries/{id}/attempts",
            post(routes_app::redeliver),
        )
        .route(
            "/repos/{o}/{r}/installation",
            get(routes_app::repo_installation),
        )
        .route("/repos/{o}/{r}", get(routes_repos::get_repo))
        .route(
            "/repos/{o}/{r}/contents",
            get(routes_repos::get_root_contents),
        )
        .route(
            "/repos/{o}/{r}/contents/{*path}",
            get(routes_repos::get_contents).put(routes_repos::put_contents),
        )
        .route("/repos/{o}/{r}/git/ref/{*name}", get(routes_repos::get_ref))
        .route("/repos/{o}/{r}/git/refs", post(routes_repos::create_ref))
        .route(
            "/repos/{o}/{r}/git/refs/{*name}",
            axum::routing::patch(routes_repos::update_ref),
        )
        .route(
            "/repos/{o}/{r}/collaborators/{user}/permission",
            get(routes_repos::permission),
        )
        .route(
            "/repos/{o}/{r}/pulls",
            get(routes_pulls::list).post(routes_pulls::create),
        )
        .route("/repos/{o}/{r}/pulls/{n}", get(routes_pulls::get_pull))
        .route(
            "/repos/{o}/{r}/compare/{basehead}",
            get(routes_pulls::compare),
        )
        .route("/repos/{o}/{r}/pulls/{n}/files", get(routes_pulls::files))
        .route(
            "/repos/{o}/{r}/issues",
            get(routes_issues::list).post(routes_issues::create),
        )
        .route(
            "/repos/{o}/{r}/issues/{n}",
            get(routes_issues::get_issue).patch(routes_issues::update),
        )
        .route(
            "/repos/{o}/{r}/issues/{n}/comments",
            get(routes_issues::list_comments).post(routes_issues::create_comment),
        )
        .route(
            "/repos/{o}/{r}/issues/{n}/labels",
            post(routes_issues::add_labels).put(routes_issues::set_labels),
        )
        .route(
            "/repos/{o}/{r}/issues/{n}/labels/{name}",
            axum::routing::delete(routes_issues::remove_label),
        )
        .route(
            "/repos/{o}/{r}/labels",
            get(routes_issues::list_labels).post(routes_issues::create_label),
        )
        .route(
            "/repos/{o}/{r}/labels/{name}",
            get(routes_issues::get_label),
        );
    Router::new()
        .nest("/api/v3", r.clone())
        .merge(r)
        .fallback(|| async { not_found() })
}

/// `(prefix, path)`: `/api/v3/x` → (`/api/v3`, `/x`); anything else is at the root.
fn split_prefix(path: &str) -> (&'static str, String) {
    match path.strip_prefix("/api/v3") {
        Some("") => ("/api/v3", "/".into()),
        Some(rest) if rest.starts_with('/') => ("/api/v3", rest.into()),
        _ => ("", path.into()),
    }
}

/// `(owner, repo without .git, rest)` for git smart-HTTP paths at the root.
fn git_path(path: &str) -> Option<(String, String, String)> {
    let mut parts = path.trim_start_matches('/').splitn(3, '/');
    let owner = parts.next()?;
    let repo = parts.next()?.strip_suffix(".git")?;
    let rest = parts.next().unwrap_or("");
    if owner.is_empty() || repo.is_empty() {
        return None;
    }
    Some((owner.into(), repo.into(), format!("/{rest}")))
}

async fn front_door(State(shared): State<Shared>, mut req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let full_path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let accept = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (prefix, path) = split_prefix(&full_path);
    let cred = credential(req.headers());
    let with_credential = !matches!(cred, Credential::None);
    let (server, authed, fault) = {
        let mut st = shared.lock().expect("state lock");
        let authed = is_authed(&st, &cred);
        let fault = st
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && f.matches(&method, &path))
            .and_then(|f| {
                if f.skip > 0 {
                    f.skip -= 1;
                    return None;
                }
                f.remaining -= 1;
                Some(f.fault.clone())
            });
        (st.server_url.clone(), authed, fault)
    };
    // Links must point back at the host the client used.
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(|h| format!("http://{h}"))
        .unwrap_or(server);
    let urls = Urls {
        api: format!("{host}{prefix}"),
        server: host,
    };
    let resp = match fault.as_ref().map(|f| (f, faults::answer(f))) {
        Some((_, Some(answer))) => answer,
        other => {
            if let Some((Fault::Slow(d), None)) = other {
                tokio::time::sleep(*d).await;
            }
            let resp = match (prefix, git_path(&path)) {
                ("", Some((owner, repo, rest))) => {
                    let stall = shared
                        .lock()
                        .expect("state lock")
                        .git_stalls
                        .get(&super::state::key(&owner, &repo))
                        .copied();
                    match stall {
                        Some(GitStall::Silent) => git_stall::silent().await,
                        Some(GitStall::Trickle)
                            if rest.ends_with("git-upload-pack") && method == "POST" =>
                        {
                            git_stall::trickle()
                        }
                        _ => git_http::serve(shared.clone(), req, &owner, &repo, &rest).await,
                    }
                }
                _ => {
                    req.extensions_mut().insert(urls);
                    let if_none_match = (method == "GET")
                        .then(|| req.headers().get("if-none-match"))
                        .flatten()
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let resp = next.run(req).await;
                    match method.as_str() {
                        "GET" => super::conditional::apply(if_none_match, resp).await,
                        _ => resp,
                    }
                }
            };
            match other {
                Some((Fault::AfterProcessing(code), None)) => {
                    faults::answer(&Fault::Status(*code)).unwrap_or(resp)
                }
                _ => resp,
            }
        }
    };
    shared
        .lock()
        .expect("state lock")
        .requests
        .push(LoggedRequest {
            method,
            path,
            query,
            accept,
            authed,
            with_credential,
            status: resp.status().as_u16(),
        });
    resp
}

/// Parses a JSON body, answering 400 `Problems parsing JSON` like GitHub.
pub fn json_body(bytes: &[u8]) -> Result<serde_json::Value, Response> {
    if bytes.is_empty() {
        return Ok(serde_json::json!({}));
    }
    serde_json::from_slice(bytes)
        .map_err(|_| super::errors::gh_error(StatusCode::BAD_REQUEST, "Problems parsing JSON"))
}

/// Runs blocking git work off the async threads.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("git task panicked")
}

/// `status` with a JSON body.
pub fn json_response(status: StatusCode, v: serde_json::Value) -> Response {
    (status, axum::Json(v)).into_response()
}
