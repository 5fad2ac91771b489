//! One async lock per declaration key, so the API and a webhook (or two
//! redeliveries) never run the same declaration at once in this process.
//!
//! Entries live only while someone holds or awaits them. Across processes the
//! store's unique key and the issue markers keep declarations exactly-once; this
//! lock only avoids two creations racing inside one process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Default)]
pub struct KeyLocks(Mutex<HashMap<String, Arc<AsyncMutex<()>>>>);

/// Held while one declaration runs; releasing it forgets an unused entry.
pub struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    key: String,
    entry: Arc<AsyncMutex<()>>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyLocks {
    pub async fn lock(&self, key: &str) -> KeyGuard<'_> {
        let entry = self
            .0
            .lock()
            .unwrap()
            .entry(key.to_string())
            .or_default()
            .clone();
        let guard = entry.clone().lock_owned().await;
        KeyGuard {
            locks: self,
            key: key.to_string(),
            entry,
            guard: Some(guard),
        }
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.0.lock().unwrap();
        // The map's copy and ours: nobody else waits for this key.
        if Arc::strong_count(&self.entry) == 2 {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_key_runs_one_at_a_time_and_is_forgotten_after() {
        let locks = Arc::new(KeyLocks::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..3 {
            let (locks, order) = (locks.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _g = locks.lock("k").await;
                order.lock().unwrap().push(format!("in {i}"));
                tokio::time::sleep(Duration::from_millis(10)).await;
                order.lock().unwrap().push(format!("out {i}"));
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        for pair in order.chunks(2) {
            assert_eq!(pair[0].replace("in", "out"), pair[1], "{order:?}");
        }
        assert!(locks.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn different_keys_do_not_wait_for_each_other() {
        let locks = KeyLocks::default();
        let _a = locks.lock("a").await;
        let b = tokio::time::timeout(Duration::from_millis(100), locks.lock("b")).await;
        assert!(b.is_ok());
    }
}
