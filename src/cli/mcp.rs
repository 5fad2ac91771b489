//! `responder mcp`: the MCP tools on stdio, for agent runtimes that start their
//! tools as processes. Same settings as `responder diff` (and the store, for the
//! incident tools); logs go to stderr, stdout is the protocol's.

use std::process::ExitCode;

use anyhow::Context;
use responder::Service;
use responder::mcp::McpServer;
use responder::settings::Settings;
use responder::types::Secret;
use rmcp::ServiceExt;

pub async fn run(settings: Settings, token: Option<String>) -> anyhow::Result<ExitCode> {
    let service = Service::new(settings).await?;
    let token = token.filter(|t| !t.trim().is_empty()).map(Secret::new);
    let server = McpServer::for_stdio(service.state.clone(), token).map_err(anyhow::Error::msg)?;
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .context("the MCP client on stdin did not start a session")?;
    running
        .waiting()
        .await
        .context("the MCP session on stdio ended abnormally")?;
    Ok(ExitCode::SUCCESS)
}
