//! One request to GitHub, done right: authentication, spacing of writes, bounded
//! retries with backoff, rate-limit waits, and classification of failures.
//!
//! octocrab is the HTTP client (built without its retry layer, which repeats POSTs);
//! every request carries an explicit Authorization header so pagination against
//! GitHub Enterprise or a test server keeps its credentials. Never logs a token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use octocrab::{OctoBody, Octocrab};
use serde::Deserialize;

use super::app::AppAuth;
use super::error::{GitHubError, classify};
use super::tokens::{CachedToken, TokenCache};
use crate::clock::Clock;
use crate::types::{InstallationId, Secret};

/// How hard to try. Defaults follow GitHub's guidance for integrators.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries of 5xx answers and transport failures (idempotent requests only).
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Longest rate-limit wait done in place; longer ones are returned as `RateLimited`.
    pub max_rate_limit_wait: Duration,
    /// Minimum gap between content-creating requests of one installation.
    pub write_spacing: Duration,
    /// Per-request deadline.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_rate_limit_wait: Duration::from_secs(15 * 60),
            write_spacing: Duration::from_secs(1),
            timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Auth {
    Anonymous,
    App,
    Installation(InstallationId),
}

/// A request: `path` is path and query relative to the API base (`/repos/o/r`).
#[derive(Debug, Clone)]
pub struct Req {
    pub method: Method,
    pub path: String,
    pub body: Option<serde_json::Value>,
    pub accept: &'static str,
    /// Safe to send twice (GET, PUT, DELETE; a POST only when its caller says so).
    pub idempotent: bool,
    /// Creates or changes content: spaced per installation against the secondary limit.
    pub spaced: bool,
    /// What messages and logs name instead of the path, when the path carries a
    /// secret (a one-time manifest code).
    pub shown_as: Option<String>,
    /// An ETag from an earlier answer: GitHub answers 304 when nothing changed, and
    /// a 304 does not count against the rate limit.
    pub if_none_match: Option<String>,
}

impl Req {
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path, None)
    }

    pub fn new(method: Method, path: impl Into<String>, body: Option<serde_json::Value>) -> Self {
        let idempotent = method != Method::POST;
        let spaced = method != Method::GET;
        Self {
            spaced,
            method,
            path: path.into(),
            body,
            accept: "application/vnd.github+json",
            idempotent,
            shown_as: None,
            if_none_match: None,
        }
    }

    /// `METHOD /path` (query dropped) for messages and logs.
    pub fn what(&self) -> String {
        if let Some(shown) = &self.shown_as {
            return shown.clone();
        }
        format!(
            "{} {}",
            self.method,
            self.path.split('?').next().unwrap_or("")
        )
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    /// Decodes the body, naming the request when GitHub's content is not what we expect.
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, GitHubError> {
        let de = &mut serde_json::Deserializer::from_slice(&self.body);
        serde_path_to_error::deserialize(de).map_err(|e| GitHubError::Unexpected {
            what: what.to_string(),
            message: format!("at `{}`: {}", e.path(), e.inner()),
        })
    }
}

pub struct Transport {
    octo: Octocrab,
    app: Option<AppAuth>,
    tokens: TokenCache,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
    last_write: Mutex<HashMap<u64, tokio::time::Instant>>,
}

#[derive(Deserialize)]
struct AccessToken {
    token: String,
    expires_at: chrono::DateTime<chrono::Utc>,
}

impl Transport {
    pub fn new(
        api_url: &str,
        app: Option<AppAuth>,
        clock: Arc<dyn Clock>,
        policy: RetryPolicy,
    ) -> Result<Self, GitHubError> {
        let octo = Octocrab::builder()
            .base_uri(api_url)
            .and_then(|b| {
                b.set_connect_timeout(Some(Duration::from_secs(10)))
                    .set_read_timeout(Some(policy.timeout))
                    .build()
            })
            .map_err(|e| GitHubError::Transport {
                what: format!("GITHUB_API_URL {api_url}"),
                message: e.to_string(),
            })?;
        Ok(Self {
            octo,
            app,
            tokens: TokenCache::default(),
            clock,
            policy,
            last_write: Mutex::new(HashMap::new()),
        })
    }

    pub fn has_app(&self) -> bool {
        self.app.is_some()
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// A token for `installation` (cached; minted when missing or near expiry).
    pub async fn installation_token(
        &self,
        installation: InstallationId,
    ) -> Result<Secret, GitHubError> {
        let now = self.clock.now();
        self.tokens
            .get(installation, now, || async {
                let mut req = Req::new(Method::POST, format!("/app/installations/{installation}/access_tokens"), None);
                req.idempotent = true; // minting twice only wastes a token
                req.spaced = false;
                // Boxed: `send` reaches this through `authorization`.
                let resp = Box::pin(self.send(Auth::App, &req)).await?;
                let t: AccessToken = resp.json(&req.what())?;
                if t.token.is_empty() || t.expires_at <= self.clock.now() {
                    return Err(GitHubError::Unexpected {
                        what: req.what(),
                        message: "the installation token is empty or already expired".into(),
                    });
                }
                tracing::debug!(installation = installation.0, expires_at = %t.expires_at, "minted an installation token");
                Ok(CachedToken { token: Secret::new(t.token), expires_at: t.expires_at })
            })
            .await
    }

    async fn authorization(&self, auth: Auth) -> Result<Option<Secret>, GitHubError> {
        match auth {
            Auth::Anonymous => Ok(None),
            Auth::App => {
                let app = self
                    .app
                    .as_ref()
                    .ok_or_else(|| GitHubError::NotConfigured {
                        missing: "GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY".into(),
                    })?;
                let jwt =
                    app.jwt(self.clock.as_ref())
                        .map_err(|message| GitHubError::Unexpected {
                            what: "the App JWT".into(),
                            message,
                        })?;
                Ok(Some(jwt))
            }
            Auth::Installation(id) => Ok(Some(self.installation_token(id).await?)),
        }
    }

    /// Sends `req`, retrying what is safe to retry, and returns a 2xx/304 answer or a
    /// classified error.
    pub async fn send(&self, auth: Auth, req: &Req) -> Result<Resp, GitHubError> {
        let what = req.what();
        let mut retries = 0u32;
        let mut rate_waits = 0u32;
        let mut refreshed = false;
        loop {
            if req.spaced {
                self.space_writes(auth).await;
            }
            let credential = self.authorization(auth).await?;
            let outcome =
                tokio::time::timeout(self.policy.timeout, self.execute(req, credential.as_ref()))
                    .await;
            let err = match outcome {
                Err(_) => GitHubError::Transport {
                    what: what.clone(),
                    message: format!("no answer within {:?}", self.policy.timeout),
                },
                Ok(Err(message)) => GitHubError::Transport {
                    what: what.clone(),
                    message,
                },
                Ok(Ok(resp))
                    if resp.status.is_success() || resp.status == StatusCode::NOT_MODIFIED =>
                {
                    return Ok(resp);
                }
                Ok(Ok(resp)) => classify(
                    &what,
                    resp.status,
                    &resp.headers,
                    &resp.body,
                    self.clock.now(),
                ),
            };
            match &err {
                GitHubError::Unauthorized { .. } if !refreshed => {
                    if let (Auth::Installation(id), Some(token)) = (auth, &credential) {
                        tracing::warn!(installation = id.0, request = %what, "GitHub refused the installation token; minting a new one");
                        self.tokens.invalidate(id, token).await;
                        refreshed = true;
                        continue;
                    }
                }
                GitHubError::RateLimited {
                    until, secondary, ..
                } => {
                    let wait = (*until - self.clock.now())
                        .to_std()
                        .unwrap_or(Duration::ZERO)
                        .max(Duration::from_secs(1));
                    // Repeated limits back off exponentially on top of GitHub's hint.
                    let wait = wait.saturating_mul(1 << rate_waits.min(4));
                    if wait <= self.policy.max_rate_limit_wait && rate_waits < 3 {
                        tracing::warn!(request = %what, wait_s = wait.as_secs_f64(), secondary, "GitHub rate limit; waiting before retrying");
                        tokio::time::sleep(wait).await;
                        rate_waits += 1;
                        continue;
                    }
                }
                GitHubError::Transport { .. } | GitHubError::Other { .. }
                    if req.idempotent
                        && retries < self.policy.max_retries
                        && is_retryable(&err) =>
                {
                    let backoff = self.backoff(retries);
                    tracing::warn!(request = %what, error = %err, retry = retries + 1, backoff_ms = backoff.as_millis() as u64, "GitHub request failed; retrying");
                    tokio::time::sleep(backoff).await;
                    retries += 1;
                    continue;
                }
                _ => {}
            }
            return Err(err);
        }
    }

    async fn execute(&self, req: &Req, credential: Option<&Secret>) -> Result<Resp, String> {
        let mut builder = http::Request::builder()
            .method(req.method.clone())
            .uri(req.path.as_str())
            .header(http::header::ACCEPT, req.accept)
            .header("x-github-api-version", "2022-11-28")
            .header(
                http::header::USER_AGENT,
                concat!("responder/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(tag) = &req.if_none_match {
            builder = builder.header(http::header::IF_NONE_MATCH, tag.as_str());
        }
        if let Some(secret) = credential {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", secret.expose()))
                .map_err(|_| "the credential is not a valid header value".to_string())?;
            value.set_sensitive(true);
            builder = builder.header(http::header::AUTHORIZATION, value);
        }
        let body: OctoBody = match &req.body {
            Some(v) => {
                builder = builder.header(http::header::CONTENT_TYPE, "application/json");
                serde_json::to_string(v).map_err(|e| e.to_string())?.into()
            }
            None => {
                builder = builder.header(http::header::CONTENT_LENGTH, "0");
                OctoBody::empty()
            }
        };
        let request = builder.body(body).map_err(|e| e.to_string())?;
        let response = self
            .octo
            .execute(request)
            .await
            .map_err(|e| transport_message(&e))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| transport_message(&e))?
            .to_bytes();
        Ok(Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    async fn space_writes(&self, auth: Auth) {
        let key = match auth {
            Auth::Installation(id) => id.0,
            _ => 0,
        };
        let spacing = self.policy.write_spacing;
        if spacing.is_zero() {
            return;
        }
        let wait_until = {
            let mut last = self.last_write.lock().unwrap();
            let now = tokio::time::Instant::now();
            let slot = last.entry(key).or_insert(now - spacing);
            let next = (*slot + spacing).max(now);
            *slot = next;
            next
        };
        tokio::time::sleep_until(wait_until).await;
    }

    fn backoff(&self, retry: u32) -> Duration {
        let exp = self.policy.backoff_base.saturating_mul(1 << retry.min(16));
        exp.min(self.policy.backoff_max)
            .mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

fn is_retryable(err: &GitHubError) -> bool {
    match err {
        GitHubError::Transport { .. } => true,
        GitHubError::Other { status, .. } => *status >= 500,
        _ => false,
    }
}

/// octocrab's error text without anything that could carry a credential.
fn transport_message(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    msg
}
