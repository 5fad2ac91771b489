//! Single flight: concurrent requests for the same key share one computation.
//!
//! Purpose: fifty agents asking for the same cold PR diff cause one fetch and one
//! diff, and all get the same answer (errors included: make `V` a `Result` with an
//! `Arc`'d or cloneable error). The computation runs in its own task, so a caller
//! that gives up (client disconnect) neither cancels it for the others nor leaves
//! the key stuck. It never caches: once done, the next call for the key starts anew
//! (the disk cache is the memory).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// The shared computation panicked or its runtime shut down; nothing to share.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the shared computation was abandoned (it panicked or the runtime is shutting down)")]
pub struct Abandoned;

type Inflight<K, V> = Arc<Mutex<HashMap<K, watch::Receiver<Option<V>>>>>;

pub struct SingleFlight<K, V> {
    inflight: Inflight<K, V>,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self {
            inflight: Arc::default(),
        }
    }
}

impl<K, V> SingleFlight<K, V>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `fut` unless a computation for `key` is already in flight, in which case
    /// `fut` is dropped unpolled and this call waits for that one's result.
    pub async fn run<F>(&self, key: K, fut: F) -> Result<V, Abandoned>
    where
        F: Future<Output = V> + Send + 'static,
    {
        let mut rx = {
            let mut map = self.inflight.lock().expect("single-flight map poisoned");
            match map.get(&key) {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    map.insert(key.clone(), rx.clone());
                    let guard = Forget {
                        map: self.inflight.clone(),
                        key: Some(key),
                    };
                    tokio::spawn(async move {
                        let value = fut.await;
                        // Leave the map before publishing: a caller arriving from
                        // now on starts afresh instead of reading a finished flight.
                        drop(guard);
                        let _ = tx.send(Some(value));
                    });
                    rx
                }
            }
        };
        let value = rx.wait_for(Option::is_some).await.map_err(|_| Abandoned)?;
        Ok(value.clone().expect("waited for Some"))
    }

    /// How many keys are in flight (for metrics and tests).
    pub fn in_flight(&self) -> usize {
        self.inflight
            .lock()
            .expect("single-flight map poisoned")
            .len()
    }
}

/// Removes the key when the computation ends, even by panic.
struct Forget<K: Hash + Eq, V> {
    map: Inflight<K, V>,
    key: Option<K>,
}

impl<K: Hash + Eq, V> Drop for Forget<K, V> {
    fn drop(&mut self) {
        if let (Some(key), Ok(mut map)) = (self.key.take(), self.map.lock()) {
            map.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fifty_concurrent_calls_run_the_computation_once_and_share_its_result() {
        let flight: Arc<SingleFlight<String, Result<u64, Arc<String>>>> =
            Arc::new(SingleFlight::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..50 {
            let (flight, runs) = (flight.clone(), runs.clone());
            handles.push(tokio::spawn(async move {
                flight
                    .run("acme/widgets#7".to_owned(), async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        Ok(42)
                    })
                    .await
            }));
        }
        for h in handles {
            assert_eq!(h.await.unwrap(), Ok(Ok(42)));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(flight.in_flight(), 0);
    }

    #[tokio::test]
    async fn errors_are_shared_and_the_next_call_starts_afresh() {
        let flight: SingleFlight<u8, Result<u8, Arc<String>>> = SingleFlight::new();
        let first = flight
            .run(1, async { Err(Arc::new("boom".to_owned())) })
            .await
            .unwrap();
        assert_eq!(first, Err(Arc::new("boom".to_owned())));
        let second = flight.run(1, async { Ok(2) }).await.unwrap();
        assert_eq!(second, Ok(2));
    }

    #[tokio::test]
    async fn a_panicking_computation_releases_its_key() {
        let flight: SingleFlight<u8, u8> = SingleFlight::new();
        let r = flight.run(1, async { panic!("deliberate") }).await;
        assert_eq!(r, Err(Abandoned));
        assert_eq!(flight.in_flight(), 0);
        assert_eq!(flight.run(1, async { 3 }).await, Ok(3));
    }

    #[tokio::test]
    async fn a_caller_giving_up_does_not_cancel_the_computation_for_others() {
        let flight: Arc<SingleFlight<u8, u8>> = Arc::new(SingleFlight::new());
        let quitter = {
            let flight = flight.clone();
            tokio::spawn(async move {
                flight
                    .run(1, async {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        9
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let waiter = {
            let flight = flight.clone();
            tokio::spawn(async move { flight.run(1, async { 0 }).await })
        };
        quitter.abort();
        assert_eq!(waiter.await.unwrap(), Ok(9));
    }
}
