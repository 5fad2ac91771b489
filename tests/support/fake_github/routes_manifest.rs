//! GitHub's App manifest flow: the web form `POST /settings/apps/new` (and an
//! organisation's), auto-confirmed as if the user had clicked "Create GitHub App",
//! and `POST /app-manifests/{code}/conversions`, which hands over the App once.
//!
//! It must never accept a manifest GitHub would refuse for lack of the fields
//! Responder relies on, nor convert a code twice.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::errors::{gh_error, not_found};
use super::paginate::encode;
use super::server::json_response;
use super::shapes::{Urls, iso};
use super::state::{ManifestCode, Shared};

type Answer = Result<Response, Response>;

/// The slug every App registered through the fake gets.
pub const SLUG: &str = "responder-test";

pub async fn new_app(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Answer {
    register(s, None, q, body)
}

pub async fn new_org_app(
    State(s): State<Shared>,
    Path(org): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Answer {
    register(s, Some(org), q, body)
}

fn register(s: Shared, org: Option<String>, q: HashMap<String, String>, body: Bytes) -> Answer {
    let bad = |m: &str| gh_error(StatusCode::UNPROCESSABLE_ENTITY, m);
    let form: HashMap<String, String> =
        serde_urlencoded::from_bytes(&body).map_err(|_| bad("the form is not urlencoded"))?;
    let text = form
        .get("manifest")
        .ok_or_else(|| bad("no manifest field"))?;
    let manifest: Value =
        serde_json::from_str(text).map_err(|_| bad("the manifest is not JSON"))?;
    let redirect = manifest["redirect_url"]
        .as_str()
        .filter(|u| u.starts_with("http"))
        .ok_or_else(|| bad("the manifest has no redirect_url"))?
        .to_string();
    if manifest["hook_attributes"]["url"].as_str().is_none() {
        return Err(bad("the manifest has no hook_attributes.url"));
    }
    if !manifest["default_permissions"].is_object() {
        return Err(bad("the manifest has no default_permissions"));
    }
    let code: String = (0..20).map(|_| fastrand::alphanumeric()).collect();
    {
        let mut st = s.lock().expect("state lock");
        st.manifest_codes.insert(
            code.clone(),
            ManifestCode {
                manifest: manifest.clone(),
                org: org.clone(),
                used: false,
            },
        );
        st.registered_manifests.push((org, manifest));
    }
    let mut location = format!("{redirect}?code={code}");
    if let Some(state) = q.get("state") {
        location.push_str("&state=");
        location.push_str(&encode(state));
    }
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

pub async fn conversions(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    Path(code): Path<String>,
) -> Answer {
    let (manifest, org, app_id, now, secret) = {
        let mut st = s.lock().expect("state lock");
        let (app_id, now) = (st.app_id, st.now());
        let entry = st.manifest_codes.get_mut(&code).ok_or_else(not_found)?;
        if entry.used {
            return Err(not_found());
        }
        entry.used = true;
        let (manifest, org) = (entry.manifest.clone(), entry.org.clone());
        let secret: String = (0..40).map(|_| fastrand::alphanumeric()).collect();
        st.issued_webhook_secrets.push(secret.clone());
        (manifest, org, app_id, now, secret)
    };
    let owner = org.unwrap_or_else(|| "octocat".into());
    Ok(json_response(
        StatusCode::CREATED,
        json!({
            "id": app_id,
            "slug": SLUG,
            "node_id": "MDM6QXBwNTk=",
            "owner": {"login": owner, "id": 1, "type": "User"},
            "name": manifest["name"],
            "description": manifest["description"],
            "external_url": manifest["url"],
            "html_url": format!("{}/apps/{SLUG}", urls.server),
            "created_at": iso(now),
            "updated_at": iso(now),
            "permissions": manifest["default_permissions"],
            "events": manifest["default_events"],
            "client_id": "Iv1.8a61f9b3a7aba766",
            "client_secret": "1726be1638095a19edd134c77bde3aa2ece1e5d8",
            "webhook_secret": secret,
            "pem": super::APP_KEY,
        }),
    ))
}
