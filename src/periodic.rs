//! The loop every background job shares: wait, run one pass, wait `interval`, and
//! so on until shutdown, which also cuts a wait short.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// Runs `pass` after `first`, then every `interval`, until `shutdown` turns true.
/// A pass is never cut short here: it gets `shutdown` to stop early itself.
pub async fn every<F, Fut>(
    first: Duration,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
    mut pass: F,
) where
    F: FnMut(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut wait = first;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        pass(shutdown.clone()).await;
        wait = interval;
    }
}
