//! Test support: fake GitHub over HTTP, git fixtures, signed webhook helper, a real
//! service on loopback, a headless Chromium driven over WebDriver.

pub mod alertmanager;
pub mod fake_github;
pub mod git_fixture;
pub mod old_store;
pub mod postgres;
pub mod service;
pub mod webdriver;
pub mod webhook;
pub mod world;
