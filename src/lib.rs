//! Responder: a GitHub App that turns incidents into bug and RCA issues, and gives
//! agents complete PR diffs.
//!
//! This file only wires modules together; each module's top comment says its job.

pub mod diff;
pub mod incident;
pub mod types;
