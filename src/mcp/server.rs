//! The MCP server (rmcp's `ServerHandler`): tools/list filtered by the caller's
//! scopes, tools/call dispatched to `calls`. Transport-agnostic: the same value
//! serves Streamable HTTP (the caller is the token the HTTP edge verified) and
//! stdio (the caller is fixed when the process starts).
//!
//! Purpose: the protocol's side only — who is calling, which tool, which arguments.
//! It never decides what a tool answers.

use std::borrow::Cow;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde::de::DeserializeOwned;

use super::access::Access;
use super::calls::{self, ToolError};
use super::tools;
use crate::agent_token::{self, Agent};
use crate::http::AppState;
use crate::types::Secret;

/// The current revision and the one before it (the last with `initialize`).
const VERSIONS: &[ProtocolVersion] =
    &[ProtocolVersion::V_2025_11_25, ProtocolVersion::V_2026_07_28];

const INSTRUCTIONS: &str = "Responder serves complete GitHub pull request diffs and incidents. \
For a PR: list its files with pull_request_files (fields=\"names\" is cheap), then read the diff \
with pull_request_diff page by page, passing next_cursor until it is null.";

/// Who the calls of one server value come from.
#[derive(Clone)]
enum Caller {
    /// The agent the HTTP edge verified, found in each request's extensions.
    Request,
    /// Fixed for the process: the local operator.
    Local,
    /// A token given to the process, verified again on every call (it expires).
    Token {
        token: Secret,
        secret: Secret,
        max_ttl: i64,
    },
}

#[derive(Clone)]
pub struct McpServer {
    state: AppState,
    caller: Caller,
}

impl McpServer {
    /// For Streamable HTTP: each request carries the `Agent` the edge verified.
    pub fn for_http(state: AppState) -> Self {
        Self {
            state,
            caller: Caller::Request,
        }
    }

    /// For stdio: the local operator, or the holder of `token` (checked on every
    /// call with `RESPONDER_AGENT_SECRET`).
    pub fn for_stdio(state: AppState, token: Option<Secret>) -> Result<Self, String> {
        let caller = match token {
            None => Caller::Local,
            Some(token) => {
                let secret = state.settings.agent_secret.clone().ok_or(
                    "RESPONDER_AGENT_TOKEN is set but RESPONDER_AGENT_SECRET is not: the token cannot be verified",
                )?;
                Caller::Token {
                    token,
                    secret,
                    max_ttl: state.settings.agent_token_max_ttl,
                }
            }
        };
        let server = Self { state, caller };
        server.access_now(None).map_err(|e| e.message.to_string())?;
        Ok(server)
    }

    fn access_now(&self, ctx: Option<&RequestContext<RoleServer>>) -> Result<Access, ErrorData> {
        match &self.caller {
            Caller::Local => Ok(Access::Local),
            Caller::Token {
                token,
                secret,
                max_ttl,
            } => {
                let now = chrono::Utc::now().timestamp();
                agent_token::verify(secret, token.expose(), now, *max_ttl)
                    .map(Access::Token)
                    .map_err(|e| {
                        ErrorData::invalid_request(format!("RESPONDER_AGENT_TOKEN: {e}"), None)
                    })
            }
            Caller::Request => ctx
                .and_then(|c| c.extensions.get::<http::request::Parts>())
                .and_then(|p| p.extensions.get::<Agent>())
                .cloned()
                .map(Access::Token)
                // The edge refuses unauthenticated requests; this is a wiring fault.
                .ok_or_else(|| ErrorData::internal_error("no verified agent on the request", None)),
        }
    }

    async fn call(
        &self,
        access: &Access,
        name: &str,
        args: Option<JsonObject>,
    ) -> Result<CallToolResult, ToolError> {
        let s = &self.state;
        match name {
            tools::PULL_REQUEST_FILES => calls::files(s, access, parse(args)?).await,
            tools::PULL_REQUEST_DIFF => calls::diff(s, access, parse(args)?).await,
            tools::DECLARE_INCIDENT => calls::declare(s, access, parse(args)?).await,
            tools::GET_INCIDENT => calls::get_incident(s, access, parse(args)?).await,
            other => Err(ToolError::Argument(format!("no tool named {other:?}"))),
        }
    }
}

/// The tool's arguments, or an error naming the argument that is wrong.
fn parse<T: DeserializeOwned>(args: Option<JsonObject>) -> Result<T, ToolError> {
    let value = serde_json::Value::Object(args.unwrap_or_default());
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!("{path}: ")
        };
        ToolError::Argument(format!("arguments: {at}{}", e.into_inner()))
    })
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("responder", env!("CARGO_PKG_VERSION")).with_title("Responder"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(VERSIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let access = self.access_now(Some(&context))?;
        Ok(ListToolsResult::with_all_items(tools::visible(&access)))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let access = self.access_now(Some(&context))?;
        let name = request.name.as_ref();
        let Some(scopes) = tools::scopes_of(name) else {
            return Err(ErrorData::invalid_params(
                format!("no tool named {name:?}; tools/list names the tools this token may use"),
                None,
            ));
        };
        if !access.has_any(scopes) {
            let e = super::access::AccessError::Scope {
                tool: name.to_string(),
                needs: scopes.join(" or "),
            };
            return Ok(CallToolResult::error(vec![ContentBlock::text(e.to_string())]).into());
        }
        let started = std::time::Instant::now();
        let result = self.call(&access, name, request.arguments).await;
        let ms = started.elapsed().as_millis() as u64;
        Ok(match result {
            Ok(r) => {
                tracing::info!(tool = name, agent = access.who(), ms, "mcp tool call");
                r.into()
            }
            Err(e) => {
                tracing::info!(tool = name, agent = access.who(), ms, error = %e, "mcp tool call refused or failed");
                CallToolResult::error(vec![ContentBlock::text(e.to_string())]).into()
            }
        })
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools::definition(name)
    }
}
