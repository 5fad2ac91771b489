//! App routes (App JWT only): installations, installation access tokens, the
//! installation covering a repository, and webhook deliveries with redelivery.
//!
//! It must never hand out a token for an installation that does not exist, nor
//! one covering repositories outside its installation.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::auth::require_app;
use super::errors::{not_found, validation};
use super::git_repo;
use super::paginate::encode;
use super::server::{blocking, json_body, json_response};
use super::shapes::{self, Urls};
use super::state::{Shared, Token, key};

type Answer = Result<Response, Response>;

/// The account of an installation: the owner of its first repository.
fn account(s: &Shared, id: u64) -> Option<String> {
    let st = s.lock().expect("state lock");
    st.installation_repos(id).first().map(|r| r.owner.clone())
}

/// `GET /app`: the authenticated App (GitHub's "Get the authenticated app").
pub async fn get_app(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
) -> Answer {
    let st = s.lock().expect("state lock");
    require_app(&st, &headers)?;
    let slug = super::routes_manifest::SLUG;
    Ok(json_response(
        StatusCode::OK,
        json!({
            "id": st.app_id,
            "slug": slug,
            "node_id": "MDM6QXBwNTk=",
            "client_id": "Iv1.8a61f9b3a7aba766",
            "owner": {"login": "acme", "id": 1, "type": "Organization"},
            "name": "Responder test",
            "description": "",
            "external_url": urls.server,
            "html_url": format!("{}/apps/{slug}", urls.server),
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "permissions": st.app_permissions,
            "events": ["issues", "issue_comment"],
        }),
    ))
}

pub async fn list_installations(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
) -> Answer {
    let st = s.lock().expect("state lock");
    require_app(&st, &headers)?;
    let mut ids: Vec<u64> = st.repos.values().filter_map(|r| r.installation).collect();
    ids.sort_unstable();
    ids.dedup();
    let list: Vec<Value> = ids
        .iter()
        .filter_map(|id| {
            st.installation_repos(*id)
                .first()
                .map(|r| shapes::installation(&urls, *id, &r.owner, st.app_id))
        })
        .collect();
    Ok(json_response(StatusCode::OK, Value::Array(list)))
}

pub async fn get_installation(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Answer {
    let app_id = {
        let st = s.lock().expect("state lock");
        require_app(&st, &headers)?;
        st.app_id
    };
    let owner = account(&s, id).ok_or_else(not_found)?;
    Ok(json_response(
        StatusCode::OK,
        shapes::installation(&urls, id, &owner, app_id),
    ))
}

pub async fn repo_installation(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r)): Path<(String, String)>,
) -> Answer {
    let st = s.lock().expect("state lock");
    require_app(&st, &headers)?;
    let repo = st.repo(&o, &r).ok_or_else(not_found)?;
    let id = repo.installation.ok_or_else(not_found)?;
    let owner = st
        .installation_repos(id)
        .first()
        .map(|r| r.owner.clone())
        .unwrap_or_default();
    Ok(json_response(
        StatusCode::OK,
        shapes::installation(&urls, id, &owner, st.app_id),
    ))
}

/// 201 with a fresh `ghs_…` token living `token_ttl` seconds; `repositories`
/// (names) narrows it, 422 if one is outside the installation.
pub async fn create_token(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    body: Bytes,
) -> Answer {
    let body = json_body(&body)?;
    let (token, expires_at, narrowed) = {
        let mut st = s.lock().expect("state lock");
        require_app(&st, &headers)?;
        let repos = st.installation_repos(id);
        if repos.is_empty() {
            return Err(not_found());
        }
        let only = match body["repositories"].as_array() {
            None => None,
            Some(names) => {
                let mut keys = Vec::new();
                for n in names.iter().filter_map(Value::as_str) {
                    let Some(r) = repos.iter().find(|r| r.name.eq_ignore_ascii_case(n)) else {
                        return Err(validation(
                            json!([{"resource": "Installation", "code": "invalid", "field": "repositories",
                            "message": format!("There is at least one repository that does not exist or is not accessible to the parent installation: {n}")}]),
                        ));
                    };
                    keys.push(key(&r.owner, &r.name));
                }
                Some(keys)
            }
        };
        let narrowed: Option<Vec<_>> = only.as_ref().map(|keys| {
            keys.iter()
                .filter_map(|k| st.repos.get(k).cloned())
                .collect()
        });
        let token: String = format!(
            "ghs_{}",
            (0..36)
                .map(|_| fastrand::alphanumeric())
                .collect::<String>()
        );
        let expires_at = st.now() + st.token_ttl;
        st.tokens.insert(
            token.clone(),
            Token {
                installation: id,
                expires_at,
                only,
            },
        );
        (token, expires_at, narrowed)
    };
    let repos = match narrowed {
        None => None,
        Some(list) => Some(
            blocking(move || {
                list.iter()
                    .map(|r| (r.clone(), git_repo::default_branch(&r.bare)))
                    .collect::<Vec<_>>()
            })
            .await
            .iter()
            .map(|(r, b)| shapes::repository(&urls, r, b))
            .collect(),
        ),
    };
    Ok(json_response(
        StatusCode::CREATED,
        shapes::access_token(&token, expires_at, repos),
    ))
}

/// Newest first; `cursor` continues after a delivery id, as GitHub's opaque cursor does.
pub async fn list_deliveries(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Answer {
    let st = s.lock().expect("state lock");
    require_app(&st, &headers)?;
    let per_page = q
        .get("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|p| *p > 0)
        .unwrap_or(30)
        .min(100);
    let after = q
        .get("cursor")
        .and_then(|c| c.strip_prefix("v1_"))
        .and_then(|c| c.parse::<u64>().ok());
    let mut all: Vec<_> = st
        .deliveries
        .iter()
        .filter(|d| after.is_none_or(|a| d.id < a))
        .collect();
    all.sort_by_key(|d| std::cmp::Reverse(d.id));
    let more = all.len() > per_page;
    let page: Vec<_> = all.into_iter().take(per_page).collect();
    let body = Value::Array(page.iter().map(|d| shapes::delivery(d)).collect());
    let mut resp = json_response(StatusCode::OK, body);
    if let (true, Some(last)) = (more, page.last()) {
        let next = format!(
            "{}/app/hook/deliveries?per_page={per_page}&cursor={}",
            urls.api,
            encode(&format!("v1_{}", last.id))
        );
        if let Ok(v) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
            resp.headers_mut().insert("link", v);
        }
    }
    Ok(resp)
}

/// 202 and the id recorded; 404 for an unknown delivery.
pub async fn redeliver(State(s): State<Shared>, headers: HeaderMap, Path(id): Path<u64>) -> Answer {
    let mut st = s.lock().expect("state lock");
    require_app(&st, &headers)?;
    if !st.deliveries.iter().any(|d| d.id == id) {
        return Err(not_found());
    }
    st.redeliveries.push(id);
    Ok(json_response(StatusCode::ACCEPTED, json!({})))
}
