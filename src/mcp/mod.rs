//! Responder as an MCP server: complete PR diffs in pages an agent can hold, and
//! incidents as tools (CONTRACT.md, "MCP tools"; issue 13).
//!
//! The protocol is rmcp's (the official SDK); this module adds the tools, who may
//! see them, and how diffs are paged. `http::mcp` mounts it at `POST /mcp`
//! (Streamable HTTP, stateless); `responder mcp` serves it on stdio.

pub mod access;
mod calls;
pub mod cursor;
pub mod pages;
mod server;
pub mod tools;

pub use access::Access;
pub use server::McpServer;
