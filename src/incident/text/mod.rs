//! Reading GitHub's text: issue forms, Markdown sections, `/incident` commands and
//! RCA bodies, and sanitising declarer text before it is written back. Pure: strings
//! in, values out; no I/O.

pub mod action_items;
pub mod command;
pub mod form;
pub mod rca;
pub mod refs;
pub mod sanitize;
pub mod sections;
pub mod when;
