//! Agent runs: deciding whether a run really happened (issue 12).
//!
//! Purpose: hold the output rules (`[[output_rules]]` in the runbook) and the pure
//! classifier that applies them. Shared by `responder run` in sandboxes and the
//! `POST /v1/agent-runs` route, so both give the same verdict on the same bytes.
//! Must never do I/O: callers hand it bytes and rules.

pub mod classify;
pub mod detection;
pub mod rules;

pub use classify::{Classification, Match, Verdict, classify};
pub use rules::{OutputRule, RuleError, RuleSet, RuleVerdict};

#[cfg(test)]
mod tests;
