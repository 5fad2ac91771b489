//! Agent authentication for the `/v1` routes: Bearer token → `Agent`, or 401/503.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::agent_token::{self, Agent, TokenError};
use crate::types::RepoName;

pub struct AgentAuth(pub Agent);

impl FromRequestParts<AppState> for AgentAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(secret) = state.settings.agent_secret.as_ref() else {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_configured",
                "the agent API is off: set RESPONDER_AGENT_SECRET and restart",
            ));
        };
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let Some(token) = token else {
            return Err(unauthorized(
                "missing Authorization: Bearer <token>; mint one with `responder token`",
            ));
        };
        let now = chrono::Utc::now().timestamp();
        let agent = agent_token::verify(secret, token, now, state.settings.agent_token_max_ttl)
            .map_err(|e| unauthorized(&e.to_string()))?;
        tracing::Span::current().record("agent", agent.sub.as_str());
        Ok(Self(agent))
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

impl AgentAuth {
    /// 403 unless the token grants `scope` on `repo`; says nothing of the repo's existence.
    pub fn require(&self, repo: &RepoName, scope: &str) -> Result<(), ApiError> {
        self.0.authorize(repo, scope).map_err(|e| match e {
            TokenError::NotAllowed { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
            }
            TokenError::Invalid | TokenError::NotYetValid | TokenError::TooLong { .. } => {
                unauthorized(&e.to_string())
            }
        })
    }
}
