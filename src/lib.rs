//! Responder: a GitHub App that turns incidents into bug and RCA issues, and gives
//! agents complete PR diffs.
//!
//! This file only declares modules; `service` wires them together.

pub mod agent_token;
pub mod assets;
pub mod check;
pub mod clock;
pub mod diff;
pub mod github;
pub mod gitserve;
pub mod http;
pub mod incident;
pub mod mcp;
pub mod periodic;
pub mod recent;
pub mod runs;
pub mod service;
pub mod settings;
pub mod setup;
pub mod store;
pub mod telemetry;
pub mod types;
pub mod webhook;
pub mod yaml;

pub use service::Service;
