//! Who is calling: App JWTs (RS256, GitHub's time rules on the fake's clock),
//! installation tokens (`token`/`Bearer`, or git's basic auth password), and what
//! a caller may see of a repository.
//!
//! It must never echo a credential back in an answer or a log.

use std::collections::HashSet;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::errors::{bad_credentials, gh_error, not_found, requires_auth};
use super::state::State;

/// The public half of `tests/fixtures/keys/app.pem`.
const APP_PUBLIC_KEY: &str = include_str!("../../fixtures/keys/app.pub.pem");

/// What the `Authorization` header carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    None,
    Jwt(String),
    Token(String),
    /// Something we cannot parse: always refused with 401.
    Malformed,
}

/// Reads the `Authorization` header.
pub fn credential(headers: &HeaderMap) -> Credential {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Credential::None;
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" if rest.matches('.').count() == 2 => Credential::Jwt(rest.to_string()),
        "bearer" | "token" if !rest.is_empty() => Credential::Token(rest.to_string()),
        "basic" => base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(_, p)| p.to_string()))
            .filter(|p| !p.is_empty())
            .map_or(Credential::Malformed, Credential::Token),
        _ => Credential::Malformed,
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: serde_json::Value,
    iat: i64,
    exp: i64,
}

/// Checks an App JWT as GitHub does; the error is GitHub's message.
pub fn verify_jwt(state: &State, jwt: &str) -> Result<(), &'static str> {
    let key = DecodingKey::from_rsa_pem(APP_PUBLIC_KEY.as_bytes()).expect("fixture public key");
    let mut v = Validation::new(Algorithm::RS256);
    // Time rules are checked below against the fake's (injectable) clock.
    v.validate_exp = false;
    v.required_spec_claims = HashSet::new();
    let data = jsonwebtoken::decode::<Claims>(jwt, &key, &v)
        .map_err(|_| "A JSON web token could not be decoded")?;
    let c = data.claims;
    let iss_ok = match &c.iss {
        serde_json::Value::String(s) => s == &state.app_id.to_string(),
        serde_json::Value::Number(n) => n.as_u64() == Some(state.app_id),
        _ => false,
    };
    if !iss_ok {
        return Err("A JSON web token could not be decoded");
    }
    let now = state.now();
    if c.exp <= now {
        return Err(
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        );
    }
    if c.exp - c.iat > 600 {
        return Err("'Expiration time' claim ('exp') is too far in the future");
    }
    if c.iat > now + 60 {
        return Err("'Issued at' claim ('iat') must be an Integer representing a time in the past");
    }
    Ok(())
}

/// Whether the request carries a credential the fake accepts (for the log).
pub fn is_authed(state: &State, cred: &Credential) -> bool {
    match cred {
        Credential::Jwt(j) => verify_jwt(state, j).is_ok(),
        Credential::Token(t) => state.live_token(t).is_some(),
        _ => false,
    }
}

/// Refuses anything but a valid App JWT (the `/app/...` routes).
pub fn require_app(state: &State, headers: &HeaderMap) -> Result<(), Response> {
    match credential(headers) {
        Credential::Jwt(j) => {
            verify_jwt(state, &j).map_err(|m| gh_error(StatusCode::UNAUTHORIZED, m))
        }
        Credential::None => Err(gh_error(
            StatusCode::UNAUTHORIZED,
            "A JSON web token could not be decoded",
        )),
        _ => Err(gh_error(
            StatusCode::UNAUTHORIZED,
            "A JSON web token could not be decoded",
        )),
    }
}

/// The App permission a route needs, as GitHub documents it per endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Need {
    pub permission: &'static str,
    pub write: bool,
}

impl Need {
    pub const fn read(permission: &'static str) -> Self {
        Self {
            permission,
            write: false,
        }
    }

    pub const fn write(permission: &'static str) -> Self {
        Self {
            permission,
            write: true,
        }
    }
}

fn integration_forbidden() -> Response {
    gh_error(
        StatusCode::FORBIDDEN,
        "Resource not accessible by integration",
    )
}

/// Whether the caller may do what `need` says on `owner/name`, answering as GitHub
/// does: 401 for a dead or unknown token, 404 for a private repository the caller
/// cannot see, 403 for writing where only reading is allowed or for an
/// installation token whose App lacks the permission.
pub fn repo_access(
    state: &State,
    headers: &HeaderMap,
    owner: &str,
    name: &str,
    need: Need,
) -> Result<(), Response> {
    let public = state.repo(owner, name).is_some_and(|r| r.public);
    let write = need.write;
    match credential(headers) {
        Credential::Malformed => Err(bad_credentials()),
        Credential::Token(t) => {
            if state.live_token(&t).is_none() {
                Err(bad_credentials())
            } else if state.token_covers(&t, owner, name) {
                let granted = state
                    .app_permissions
                    .get(need.permission)
                    .map(String::as_str);
                match (granted, write) {
                    (Some("write" | "admin"), _) | (Some("read"), false) => Ok(()),
                    _ if public && !write => Ok(()),
                    _ => {
                        // GitHub names the permission that would have been enough.
                        let mut r = integration_forbidden();
                        let level = if write { "write" } else { "read" };
                        let accepted = format!("{}={level}", need.permission);
                        r.headers_mut().insert(
                            "x-accepted-github-permissions",
                            accepted.parse().expect("a header value"),
                        );
                        Err(r)
                    }
                }
            } else if public && !write {
                Ok(())
            } else if public {
                Err(integration_forbidden())
            } else {
                Err(not_found())
            }
        }
        Credential::Jwt(j) => {
            verify_jwt(state, &j).map_err(|m| gh_error(StatusCode::UNAUTHORIZED, m))?;
            if public && !write {
                Ok(())
            } else {
                Err(integration_forbidden())
            }
        }
        Credential::None if public && !write => Ok(()),
        Credential::None if public => Err(requires_auth()),
        Credential::None => Err(not_found()),
    }
}
