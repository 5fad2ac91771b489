//! Test support: fake GitHub over HTTP, git fixtures, signed webhook helper, a real
//! service on loopback.

pub mod fake_github;
pub mod git_fixture;
pub mod postgres;
pub mod service;
pub mod webhook;
