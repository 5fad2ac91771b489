//! Test support: fake GitHub over HTTP, git fixtures, signed webhook helper.

pub mod fake_github;
pub mod git_fixture;
pub mod webhook;
