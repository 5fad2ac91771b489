//! The one integration-test binary (one link, shared fake GitHub and fixtures).

#[path = "../support/mod.rs"]
// The fake GitHub answers axum `Response`s as errors, as axum handlers do.
#[allow(dead_code, clippy::result_large_err, clippy::too_many_arguments)]
mod support;

mod agent_runs;
mod alerts;
mod deploy;
mod diff_api;
mod diff_cold;
mod diff_git;
mod diff_mirror;
mod diff_shared;
mod diff_timeouts;
mod fake_github;
mod followups;
mod git_mirror;
mod git_mirror_fresh;
mod github_client;
mod http_edge;
mod incident_check;
mod incident_config_reads;
mod incident_hostile;
mod incidents;
mod lifecycle;
mod mcp;
mod mcp_big;
mod mcp_client;
mod postgres;
mod redelivery;
mod setup;
mod timeline;
mod webhook_inbox;
mod webhook_process;
