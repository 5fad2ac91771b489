//! Incidents: declarations (form, command, API) → severity, runbook, templates → issues.
//!
//! Everything here except `service` is pure: it parses strings it is given and
//! renders strings it returns. `service` is the orchestration: the one module that
//! calls GitHub and the store (never HTTP). (`check` and `Renderer::from_dir` read
//! the files they are pointed at; nothing else touches the filesystem.)

pub mod check;
pub mod command;
pub mod config;
pub mod declaration;
pub mod form;
pub mod forms;
pub mod forms_install;
pub mod model;
pub mod rca;
pub mod render;
pub mod runbook;
pub mod runbook_edit;
pub mod sandbox;
pub mod sanitize;
pub mod sections;
pub mod service;
pub mod severity;
pub mod view;
pub mod yaml;
