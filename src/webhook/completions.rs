//! Groups "delivery done" writes: handlers finishing together share one UPDATE, so a
//! busy worker does not queue a write per delivery in front of the inbox's commits.

use tokio::sync::{mpsc, oneshot};

use crate::store::Store;

type Done = (i64, oneshot::Sender<Result<(), String>>);

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
                let ids: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
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

    /// Returns once the delivery is recorded as done.
    pub async fn done(&self, id: i64) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((id, reply))
            .await
            .map_err(|_| "the completion writer stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the completion writer stopped".to_string())?
    }
}
