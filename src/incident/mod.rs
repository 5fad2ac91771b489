//! Incidents: declarations (form, command, API) → severity, runbook, templates → issues.
//!
//! Everything here is pure: it parses strings it is given and renders strings it
//! returns. GitHub calls, storage and HTTP live with the orchestration, never here.

pub mod runbook;
pub mod severity;
pub mod form;
pub mod render;
pub mod sanitize;
pub mod sections;
pub mod command;
pub mod rca;
pub mod config;
pub mod check;
pub mod forms;
pub mod yaml;
