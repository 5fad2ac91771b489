//! The memory budget for webhook bodies read before their signature is checked.
//!
//! Purpose: anyone can post to `/webhook`; until the HMAC over the whole body is
//! verified, what such requests hold at once is bounded here, not by how many
//! clients connect. It must never let a request read a body it holds no budget for.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of unverified bodies held at once: two of GitHub's largest payloads. GitHub
/// rarely sends big ones together, and one refused with 503 is redelivered.
pub const UNVERIFIED_BODY_BUDGET: usize = 2 * super::WEBHOOK_BODY_LIMIT + (14 << 20);

/// Shared by every webhook request; cheap to clone.
#[derive(Clone, Debug)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
}

/// A reservation: gives its bytes back when dropped.
#[derive(Debug)]
pub struct Reserved {
    _permit: OwnedSemaphorePermit,
    bytes: usize,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        Self {
            bytes: Arc::new(Semaphore::new(bytes)),
        }
    }

    /// Reserves `bytes` now, or `None` when the budget is spent (the caller answers
    /// 503 without reading the body).
    pub fn try_reserve(&self, bytes: usize) -> Option<Reserved> {
        let permit = self
            .bytes
            .clone()
            .try_acquire_many_owned(u32::try_from(bytes).ok()?)
            .ok()?;
        metrics::gauge!("responder_webhook_unverified_body_bytes").increment(bytes as f64);
        Some(Reserved {
            _permit: permit,
            bytes,
        })
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        metrics::gauge!("responder_webhook_unverified_body_bytes").decrement(self.bytes as f64);
    }
}
