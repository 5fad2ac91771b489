//! GitHub's App manifest flow: the manifest a browser posts to GitHub (built from
//! `app.yml` and this service's public URL), and the exchange of the code GitHub
//! redirects back with for the new App's credentials.
//!
//! It must never retry the exchange (the code works once) nor put the answer's key
//! or secrets into an error or a log line.

use std::sync::Arc;

use http::Method;
use serde::Deserialize;
use serde_json::Value;

use super::error::GitHubError;
use super::transport::{Auth, Req, RetryPolicy, Transport};
use crate::clock::SystemClock;
use crate::types::Secret;
use crate::yaml::{self, Yaml};

/// The manifest as shipped (README justifies each permission and event).
pub const APP_YML: &str = crate::assets::APP_MANIFEST;

/// The manifest for an App served at `public_url` (no trailing slash): webhooks to
/// `/webhook`, GitHub's redirect to `/setup/callback`, installs back to `/`.
pub fn manifest(public_url: &str) -> Value {
    let parsed = yaml::parse(APP_YML).expect("app.yml is valid YAML (tests/it/deploy.rs)");
    let mut m = to_json(&parsed);
    m["url"] = Value::String(public_url.to_string());
    m["hook_attributes"]["url"] = Value::String(format!("{public_url}/webhook"));
    m["redirect_url"] = Value::String(format!("{public_url}/setup/callback"));
    m["setup_url"] = Value::String(format!("{public_url}/"));
    m
}

/// The YAML reader keeps scalars as text; the manifest's booleans must be JSON ones.
fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Str(s) if s == "true" => Value::Bool(true),
        Yaml::Str(s) if s == "false" => Value::Bool(false),
        Yaml::Str(s) => Value::String(s.clone()),
        Yaml::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
        ),
        Yaml::Null => Value::Null,
    }
}

/// The new App, as `POST /app-manifests/{code}/conversions` describes it.
/// `Debug` hides the key and secrets.
#[derive(Debug, Clone)]
pub struct NewApp {
    pub id: u64,
    pub slug: String,
    pub html_url: String,
    pub pem: Secret,
    pub webhook_secret: Secret,
}

#[derive(Deserialize)]
struct Conversion {
    id: u64,
    slug: String,
    html_url: String,
    pem: String,
    webhook_secret: Option<String>,
}

/// Whether `code` can be a manifest code (it goes into a URL path).
pub fn valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 200
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Exchanges `code` for the App's credentials. Anonymous, and sent once: GitHub
/// accepts a code a single time within an hour.
pub async fn convert(api_url: &str, code: &str) -> Result<NewApp, GitHubError> {
    let what = "POST /app-manifests/{code}/conversions".to_string();
    if !valid_code(code) {
        return Err(GitHubError::Unexpected {
            what,
            message: "the code GitHub redirected with is not a manifest code".into(),
        });
    }
    let policy = RetryPolicy {
        max_retries: 0,
        max_rate_limit_wait: std::time::Duration::ZERO,
        ..RetryPolicy::default()
    };
    let transport = Transport::new(api_url, None, Arc::new(SystemClock), policy)?;
    let mut req = Req::new(
        Method::POST,
        format!("/app-manifests/{code}/conversions"),
        None,
    );
    req.spaced = false;
    // The code is as good as the App's key until it is used: never in a message.
    req.shown_as = Some(what.clone());
    let resp = transport.send(Auth::Anonymous, &req).await?;
    // Decoded by hand: serde's messages could quote a field's value (the key).
    let c: Conversion =
        serde_json::from_slice(&resp.body).map_err(|e| GitHubError::Unexpected {
            what: what.clone(),
            message: format!(
                "the answer is not a converted App ({:?} at line {})",
                e.classify(),
                e.line()
            ),
        })?;
    let webhook_secret =
        c.webhook_secret
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                GitHubError::Unexpected {
            what: what.clone(),
            message:
                "the new App has no webhook secret; register it again with the manifest's webhook"
                    .into(),
        }
            })?;
    if !c.pem.contains("-----BEGIN") {
        return Err(GitHubError::Unexpected {
            what,
            message: "the answer carries no PEM private key".into(),
        });
    }
    Ok(NewApp {
        id: c.id,
        slug: c.slug,
        html_url: c.html_url,
        pem: Secret::new(c.pem),
        webhook_secret: Secret::new(webhook_secret),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_exchange_never_names_the_code() {
        let code = "0a1b2c3d4e5f6a7b8c9d";
        // Nothing listens on port 1: the request fails in transport.
        let e = convert("http://127.0.0.1:1", code).await.unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(!text.contains(code), "{text}");
        assert!(text.contains("/app-manifests/{code}/conversions"), "{text}");
    }

    #[test]
    fn manifest_points_every_url_at_the_public_url_and_keeps_permissions() {
        let m = manifest("https://r.example.org");
        assert_eq!(m["hook_attributes"]["url"], "https://r.example.org/webhook");
        assert_eq!(m["hook_attributes"]["active"], true);
        assert_eq!(m["redirect_url"], "https://r.example.org/setup/callback");
        assert_eq!(m["url"], "https://r.example.org");
        assert_eq!(m["public"], false);
        assert_eq!(m["default_permissions"]["issues"], "write");
        assert!(
            m["default_events"]
                .as_array()
                .is_some_and(|e| !e.is_empty())
        );
        assert!(!m.to_string().contains("example.com"));
    }

    #[test]
    fn codes_that_could_leave_the_path_are_refused() {
        assert!(valid_code("a1b2c3_d-4"));
        for bad in ["", "../app", "a/b", "a?b", "a b", "%2e"] {
            assert!(!valid_code(bad), "{bad}");
        }
    }
}
