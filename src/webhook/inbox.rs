//! The inbox writer: verified deliveries are committed in groups before they are acked.
//!
//! Purpose: one transaction per batch instead of per delivery, so the ack waits only
//! for a commit that many requests share. It must never ack a delivery that is not
//! committed.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot};

use crate::store::{InsertOutcome, NewDelivery, Store};

/// The most deliveries one commit carries.
const MAX_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<InsertOutcome, String>>;

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("the inbox is shutting down")]
    Closed,
    #[error("the delivery could not be stored: {0}")]
    Store(String),
}

/// Handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct Inbox {
    tx: mpsc::Sender<(NewDelivery, Reply)>,
}

impl Inbox {
    /// Starts the writer; `work_ready` is signalled after each commit that added work.
    pub fn start(store: Store, work_ready: Arc<Notify>) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(write_batches(store, rx, work_ready));
        Self { tx }
    }

    /// Returns once the delivery is durably stored (or known as a duplicate).
    pub async fn submit(&self, delivery: NewDelivery) -> Result<InsertOutcome, InboxError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((delivery, reply))
            .await
            .map_err(|_| InboxError::Closed)?;
        answer
            .await
            .map_err(|_| InboxError::Closed)?
            .map_err(InboxError::Store)
    }
}

async fn write_batches(
    store: Store,
    mut rx: mpsc::Receiver<(NewDelivery, Reply)>,
    work_ready: Arc<Notify>,
) {
    let mut items = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut items, MAX_BATCH).await > 0 {
        let (batch, replies): (Vec<NewDelivery>, Vec<Reply>) = items.drain(..).unzip();
        match store.insert_deliveries(&batch).await {
            Ok(outcomes) => {
                let added = outcomes
                    .iter()
                    .any(|o| matches!(o, InsertOutcome::Accepted(_)));
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
                if added {
                    work_ready.notify_one();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batch = batch.len(), "could not store deliveries");
                for reply in replies {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    }
}
