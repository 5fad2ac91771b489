//! Writing answers to the disk cache after they went out, not before.
//!
//! Purpose: a cold answer's disk write (its file list as JSON, its unified diff, an
//! eviction pass) is off the request's path. Until a write lands, the answer stays
//! findable here by its commits, so a request for another PR with the same commits
//! in that window is still served from it, as it would be from disk. It never
//! decides what to store; it only stores it later.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, Semaphore};

use super::answer::DiffAnswer;
use super::cache::{CacheMeta, DiffCache};
use crate::types::{RepoName, Sha};

type Key = (RepoName, Sha, Sha);

pub struct WriteBack {
    cache: Arc<DiffCache>,
    /// Shared with the service's other blocking disk work.
    disk: Arc<Semaphore>,
    pending: Arc<Mutex<HashMap<Key, Arc<DiffAnswer>>>>,
    /// Signalled whenever a write lands, for `flush`.
    landed: Arc<Notify>,
}

impl WriteBack {
    pub fn new(cache: Arc<DiffCache>, disk: Arc<Semaphore>) -> Self {
        Self {
            cache,
            disk,
            pending: Arc::default(),
            landed: Arc::default(),
        }
    }

    /// Queues `answer` for the disk cache and returns at once.
    pub fn put(&self, repo: &RepoName, mb: &Sha, head: &Sha, answer: Arc<DiffAnswer>) {
        let key = (repo.clone(), mb.clone(), head.clone());
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if pending.insert(key.clone(), answer.clone()).is_some() {
                // Already on its way (same commits, same content).
                return;
            }
        }
        let (cache, disk, pending, landed) = (
            self.cache.clone(),
            self.disk.clone(),
            self.pending.clone(),
            self.landed.clone(),
        );
        tokio::spawn(async move {
            let meta = CacheMeta {
                source: answer.source.as_str().to_string(),
                fallback_reason: answer.fallback_reason.clone(),
                base_sha: answer.base_sha.clone(),
                number: Some(answer.number),
            };
            let (repo, mb, head) = key.clone();
            let stored = match disk.acquire_owned().await {
                Ok(_permit) => tokio::task::spawn_blocking(move || {
                    cache.put(&repo, &mb, &head, &meta, &answer.files, &answer.unified)
                })
                .await
                .ok(),
                Err(_) => None,
            };
            if let Some(Err(e)) = stored {
                // The answer went out right; only a later request pays again.
                tracing::warn!(error = %e, "could not cache a diff");
            }
            pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            landed.notify_waiters();
        });
    }

    /// An answer of these commits whose disk write has not landed yet.
    pub fn get(&self, repo: &RepoName, mb: &Sha, head: &Sha) -> Option<Arc<DiffAnswer>> {
        let key = (repo.clone(), mb.clone(), head.clone());
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned()
    }

    /// Waits until every queued write has landed (a one-shot command exits after).
    pub async fn flush(&self) {
        loop {
            let landed = self.landed.notified();
            if self
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
            {
                return;
            }
            landed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::answer::Source;

    fn sha(c: char) -> Sha {
        Sha::new(&c.to_string().repeat(40)).unwrap()
    }

    #[tokio::test]
    async fn an_answer_is_findable_until_its_write_lands_then_it_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(DiffCache::new(dir.path().join("c"), 1 << 20).unwrap());
        let wb = WriteBack::new(cache.clone(), Arc::new(Semaphore::new(1)));
        let repo: RepoName = "acme/widgets".parse().unwrap();
        let (mb, head) = (sha('a'), sha('b'));
        let answer = Arc::new(DiffAnswer::new(
            repo.to_string(),
            7,
            sha('c').to_string(),
            head.to_string(),
            mb.to_string(),
            Source::Git,
            Some("files endpoint returned 404".into()),
            None,
            Vec::new(),
            bytes::Bytes::from_static(b"diff --git a/x b/x\n"),
            "\"e\"".into(),
        ));
        wb.put(&repo, &mb, &head, answer);
        // Nothing has run the write yet (this runtime has one thread).
        assert!(cache.get(&repo, &mb, &head).unwrap().is_none());
        let pending = wb.get(&repo, &mb, &head).expect("findable before it lands");
        assert_eq!(pending.number, 7);

        wb.flush().await;
        assert!(wb.get(&repo, &mb, &head).is_none());
        let stored = cache.get(&repo, &mb, &head).unwrap().expect("on disk");
        assert_eq!(stored.unified, b"diff --git a/x b/x\n");
        assert_eq!(stored.meta.number, Some(7));
        assert_eq!(stored.meta.source, "git");
    }
}
