//! Groups "delivery done" writes: batches (and handlers) finishing together share one
//! UPDATE, so a busy worker does not queue a write per delivery in front of the
//! inbox's commits.

use tokio::sync::{mpsc, oneshot};

use crate::store::Store;

type Done = (Vec<i64>, oneshot::Sender<Result<(), String>>);

#[derive(Clone)]
pub struct Completions {
    tx: mpsc::Sender<Done>,
}

impl Completions {
    pub fn start(store: Store) -> Self {
        let (tx, mut rx) = mpsc::channel::<Done>(1024);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(256);
            while rx.recv_many(&mut batch, 256).await > 0 {
                let ids: Vec<i64> = batch.iter().flat_map(|(ids, _)| ids).copied().collect();
                let result = store
                    .complete_deliveries(&ids)
                    .await
                    .map_err(|e| e.to_string());
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(result.clone());
                }
            }
        });
        Self { tx }
    }

    /// Returns once the deliveries are recorded as done.
    pub async fn done(&self, ids: Vec<i64>) -> Result<(), String> {
        if ids.is_empty() {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((ids, reply))
            .await
            .map_err(|_| "the completion writer stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the completion writer stopped".to_string())?
    }
}
