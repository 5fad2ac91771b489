//! Webhooks: signature check, the envelope every delivery must have, the durable inbox,
//! the handler registry, the worker pool that runs it, and the job that asks GitHub
//! to redeliver what never reached the inbox.
//!
//! Nothing here knows axum; the HTTP edge calls `signature::verify`, `envelope::parse`
//! and `Inbox::submit`, and nothing else.

pub mod completions;
pub mod envelope;
pub mod handlers;
pub mod inbox;
pub mod payloads;
pub mod redelivery;
pub mod registry;
pub mod signature;
pub mod worker;

pub use inbox::Inbox;
pub use redelivery::{RedeliveryConfig, RedeliveryJob};
pub use registry::{Event, Handler, HandlerError, Registry};
pub use worker::{Worker, WorkerConfig};
