//! The bounded blocking pools for git work.
//!
//! Purpose: libgit2 calls block; they run on tokio's blocking threads, at most
//! `limit` at once, so a burst of diffs cannot starve the runtime or the machine,
//! and at most `per_repo` of those for any one repository, so one slow or stalled
//! repository can never take every slot: diffs of the others keep going. Nothing
//! here orders or queues across repositories.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::GitError;
use crate::types::RepoName;

type PerRepo = Arc<Mutex<HashMap<RepoName, Arc<Semaphore>>>>;

#[derive(Clone)]
pub struct GitPool {
    sem: Arc<Semaphore>,
    per_repo: usize,
    /// One semaphore per repository with work queued or running; an entry leaves
    /// with its last user, so the map holds only repositories in use.
    repos: PerRepo,
}

impl GitPool {
    /// At most `limit` jobs at once, at most half of them (at least one) for one
    /// repository.
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Self::with_per_repo(limit, limit.div_ceil(2))
    }

    pub fn with_per_repo(limit: usize, per_repo: usize) -> Self {
        let limit = limit.max(1);
        Self {
            sem: Arc::new(Semaphore::new(limit)),
            per_repo: per_repo.clamp(1, limit),
            repos: PerRepo::default(),
        }
    }

    /// Runs `work` for `repo` on a blocking thread once a slot of the repository
    /// and of the pool are free. A panic in `work` becomes `GitError::Other` (the
    /// pool itself stays usable).
    pub async fn run<F, T>(&self, repo: &RepoName, work: F) -> Result<T, GitError>
    where
        F: FnOnce() -> Result<T, GitError> + Send + 'static,
        T: Send + 'static,
    {
        let mut slot = RepoSlot {
            repos: self.repos.clone(),
            repo: repo.clone(),
            sem: self.repo_semaphore(repo),
            permit: None,
        };
        // The repository's slot first: work queued behind its own repository
        // must not sit on a pool slot another repository could use.
        slot.permit = Some(
            slot.sem
                .clone()
                .acquire_owned()
                .await
                .expect("a repository's semaphore is never closed"),
        );
        let permit = self
            .sem
            .clone()
            .acquire_owned()
            .await
            .expect("the pool's semaphore is never closed");
        tokio::task::spawn_blocking(move || {
            // Held by the thread: a job outliving its caller (a timed-out request)
            // still counts against both bounds until it really ends.
            let _held = (permit, slot);
            work()
        })
        .await
        .unwrap_or_else(|e| {
            Err(GitError::other(
                &repo.full(),
                "running git work",
                format!("the git worker failed: {e}"),
            ))
        })
    }

    fn repo_semaphore(&self, repo: &RepoName) -> Arc<Semaphore> {
        let mut repos = self.repos.lock().unwrap_or_else(|e| e.into_inner());
        repos
            .entry(repo.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_repo)))
            .clone()
    }

    /// Slots free right now (for metrics and tests).
    pub fn available(&self) -> usize {
        self.sem.available_permits()
    }

    /// Repositories with work queued or running (for tests: the map stays bounded).
    pub fn repositories_in_use(&self) -> usize {
        self.repos.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// A repository's slot; the last one out removes the repository's entry.
struct RepoSlot {
    repos: PerRepo,
    repo: RepoName,
    sem: Arc<Semaphore>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for RepoSlot {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut repos = self.repos.lock().unwrap_or_else(|e| e.into_inner());
        // Under the lock nobody can take a new clone: two references (the map's
        // and ours) mean nobody else is waiting or running.
        if Arc::strong_count(&self.sem) == 2 {
            repos.remove(&self.repo);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn repo() -> RepoName {
        "acme/widgets".parse().unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_runs_more_than_the_limit_at_once() {
        let pool = GitPool::with_per_repo(2, 2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..8 {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            handles.push(tokio::spawn(async move {
                pool.run(&repo(), move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(30));
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                })
                .await
            }));
        }
        for h in handles {
            h.await.unwrap().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(pool.available(), 2);
    }

    #[tokio::test]
    async fn a_panic_in_git_work_becomes_an_error() {
        let pool = GitPool::new(1);
        let r: Result<(), GitError> = pool.run(&repo(), || panic!("deliberate")).await;
        assert!(r.is_err());
        assert_eq!(pool.run(&repo(), || Ok(5)).await, Ok(5));
        assert_eq!(pool.repositories_in_use(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_stuck_repository_leaves_slots_for_the_others() {
        let pool = GitPool::new(4);
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let stuck = Arc::new(Mutex::new(stuck));
        let mut jammed = Vec::new();
        for _ in 0..6 {
            let (pool, stuck) = (pool.clone(), stuck.clone());
            jammed.push(tokio::spawn(async move {
                pool.run(&repo(), move || {
                    let _ = stuck.lock().unwrap().recv();
                    Ok(())
                })
                .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let other: RepoName = "acme/other".parse().unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(2), pool.run(&other, || Ok(7)))
            .await
            .expect("another repository's work is not queued behind a stuck one");
        assert_eq!(answer, Ok(7));
        for _ in 0..6 {
            release.send(()).unwrap();
        }
        for j in jammed {
            j.await.unwrap().unwrap();
        }
        assert_eq!(pool.repositories_in_use(), 0);
        assert_eq!(pool.available(), 4);
    }
}
