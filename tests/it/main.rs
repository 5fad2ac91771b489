//! The one integration-test binary (one link, shared fake GitHub and fixtures).

#[path = "../support/mod.rs"]
#[allow(dead_code)]
mod support;

mod diff_git;
#[allow(dead_code)]
mod git_fixture;
