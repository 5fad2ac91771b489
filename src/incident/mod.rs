//! Incidents: declarations (form, command, API) → severity, runbook, templates → issues.
//!
//! One folder per concern, each pure except `service`:
//! - `model`: the domain — severities, declarations, the incident's typed state;
//! - `text`: reading what people write on GitHub (forms, sections, commands) and
//!   making their text safe to write back;
//! - `render`: the templates' view and rendering (a repository's own templates in
//!   a sandbox);
//! - `runbook`: severities' and components' content, and editing it in place;
//! - `config`: a repository's `.github/responder.toml`;
//! - `service`: the orchestration, the one module that calls GitHub and the store
//!   (never HTTP).
//!
//! `responder check`'s validators live in `crate::check`, outside the runtime domain.

pub mod agent_runs;
pub mod alert;
pub mod config;
pub mod forms_install;
pub mod model;
pub mod render;
pub mod runbook;
pub mod service;
pub mod text;
