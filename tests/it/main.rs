//! The one integration-test binary (one link, shared fake GitHub and fixtures).

#[path = "../support/mod.rs"]
#[allow(dead_code)]
mod support;

mod diff_git;
mod diff_mirror;
mod fake_github;
#[allow(dead_code)]
mod git_fixture;
#[allow(dead_code)]
mod git_http;
mod github_client;
mod incident_check;
mod incidents;
mod webhook_inbox;
mod webhook_process;
