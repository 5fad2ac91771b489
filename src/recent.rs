//! `Recent`: a small in-memory map of recent lookups with a size cap and an optional
//! time to live.
//!
//! Purpose: every in-process memory of GitHub lookups (PR heads and merge bases,
//! installations, labels known to exist) must stay bounded however many
//! repositories and PRs pass through; forgetting only costs a lookup again. It
//! never blocks on anything but its own lock.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Recent<K, V> {
    cap: usize,
    ttl: Option<Duration>,
    map: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Hash + Eq + Clone, V: Clone> Recent<K, V> {
    /// At most `cap` entries, each trusted for `ttl` (for ever when `None`).
    pub fn new(cap: usize, ttl: Option<Duration>) -> Self {
        Self {
            cap: cap.max(1),
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let (at, v) = map.get(key)?;
        self.fresh(*at).then(|| v.clone())
    }

    /// Inserts, first dropping expired entries and then the oldest when full.
    pub fn insert(&self, key: K, value: V) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.cap && !map.contains_key(&key) {
            map.retain(|_, (at, _)| self.fresh(*at));
            // Still full: drop the oldest tenth at once, so a steady stream of new
            // keys pays for one scan per tenth of the cap, not one per insert.
            if map.len() >= self.cap {
                let mut ages: Vec<(Instant, K)> =
                    map.iter().map(|(k, (at, _))| (*at, k.clone())).collect();
                ages.sort_by_key(|(at, _)| *at);
                for (_, k) in ages.into_iter().take((self.cap / 10).max(1)) {
                    map.remove(&k);
                }
            }
        }
        map.insert(key, (Instant::now(), value));
    }

    /// Forgets everything (what was remembered may have changed).
    pub fn clear(&self) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn fresh(&self, at: Instant) -> bool {
        self.ttl.is_none_or(|ttl| at.elapsed() < ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_holds_more_than_its_cap_and_keeps_the_newest() {
        let r = Recent::new(100, None);
        for i in 0..10_000u32 {
            r.insert(i, i);
        }
        assert!(r.len() <= 100, "{}", r.len());
        assert_eq!(r.get(&9_999), Some(9_999));
        assert_eq!(r.get(&0), None);
    }

    #[test]
    fn entries_expire_after_their_ttl() {
        let r = Recent::new(10, Some(Duration::from_millis(30)));
        r.insert("k", 1);
        assert_eq!(r.get(&"k"), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(r.get(&"k"), None);
    }
}
