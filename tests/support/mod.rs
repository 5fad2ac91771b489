//! Test support: fake GitHub over HTTP, git fixtures, signed webhook helper.

pub mod service;
