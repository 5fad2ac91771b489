//! The in-memory layer in front of the disk cache: recent answers by (repo, PR,
//! merge-base, head), ready to send, under a byte budget with LRU eviction. Keyed
//! by PR too: an answer names its PR and says why it came from where it did, and
//! two PRs with the same commits must each be told their own.
//!
//! Purpose: a warm request costs a map lookup, not a disk read and a JSON parse.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::answer::DiffAnswer;
use crate::types::{PrNumber, RepoName, Sha};

type Key = (RepoName, PrNumber, Sha, Sha);

pub struct HotCache {
    budget: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, (Arc<DiffAnswer>, u64)>,
    bytes: usize,
    clock: u64,
}

impl HotCache {
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            inner: Mutex::default(),
        }
    }

    pub fn get(
        &self,
        repo: &RepoName,
        number: PrNumber,
        mb: &Sha,
        head: &Sha,
    ) -> Option<Arc<DiffAnswer>> {
        let mut inner = self.inner.lock().unwrap();
        inner.clock += 1;
        let now = inner.clock;
        let key = (repo.clone(), number, mb.clone(), head.clone());
        let (answer, used) = inner.entries.get_mut(&key)?;
        *used = now;
        Some(answer.clone())
    }

    pub fn put(&self, repo: &RepoName, mb: &Sha, head: &Sha, answer: Arc<DiffAnswer>) {
        let number = PrNumber(answer.number);
        let weight = answer.weight();
        if weight > self.budget {
            return;
        }
        let mut inner = self.inner.lock().unwrap();
        inner.clock += 1;
        let now = inner.clock;
        if let Some((old, _)) = inner.entries.insert(
            (repo.clone(), number, mb.clone(), head.clone()),
            (answer, now),
        ) {
            inner.bytes -= old.weight();
        }
        inner.bytes += weight;
        while inner.bytes > self.budget {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((gone, _)) = inner.entries.remove(&oldest) {
                inner.bytes -= gone.weight();
            }
        }
    }
}
