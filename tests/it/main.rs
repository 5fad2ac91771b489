//! The one integration-test binary (one link, shared fake GitHub and fixtures).

#[path = "../support/mod.rs"]
#[allow(dead_code)]
mod support;

mod fake_github;
mod github_client;
mod webhook_inbox;
mod webhook_process;
