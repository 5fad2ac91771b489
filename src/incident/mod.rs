//! Incidents: declarations (form, command, API) → severity, runbook, templates → issues.
//!
//! Everything here is pure: it parses strings it is given and renders strings it
//! returns. GitHub calls, storage and HTTP live with the orchestration, never here.
//! (`check` and `Renderer::from_dir` read the files they are pointed at; nothing
//! else touches the filesystem.)

pub mod check;
pub mod command;
pub mod config;
pub mod declaration;
pub mod form;
pub mod forms;
pub mod rca;
pub mod render;
pub mod runbook;
pub mod sanitize;
pub mod sections;
pub mod severity;
pub mod view;
pub mod yaml;
