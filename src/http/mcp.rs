//! `POST /mcp` (and the GET/DELETE the transport answers): the MCP Streamable HTTP
//! transport, stateless, behind agent-token authentication.
//!
//! Purpose: refuse a missing or bad token with 401 before any MCP message is read,
//! then hand the request and the verified agent to rmcp. Stateless (no sessions),
//! so any instance answers any request.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

use super::AppState;
use super::agent::AgentAuth;
use crate::mcp::McpServer;

pub(super) fn routes(state: &AppState) -> Router<AppState> {
    let server = McpServer::for_http(state.clone());
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        // Tool answers are single responses: plain JSON, no event stream to hold open.
        .with_json_response(true)
        // The Host check guards servers on loopback against DNS rebinding, where a
        // browser's ambient credentials do the harm. Every request here carries a
        // bearer token a browser never adds by itself, and the service answers on
        // whatever name its operators route to it.
        .disable_allowed_hosts();
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new()
        .route_service("/mcp", service)
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
}

/// The token is checked from the headers alone; the body is not touched before.
async fn authenticate(auth: AgentAuth, mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(auth.0);
    next.run(req).await
}
