//! The bounded blocking pool for git work.
//!
//! Purpose: libgit2 calls block; they run on tokio's blocking threads, at most
//! `limit` at once, so a burst of diffs cannot starve the runtime or the machine.
//! Diffs of different repositories still run side by side up to that bound; nothing
//! here orders or queues by repository.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::error::GitError;

#[derive(Clone)]
pub struct GitPool {
    sem: Arc<Semaphore>,
}

impl GitPool {
    pub fn new(limit: usize) -> Self {
        Self {
            sem: Arc::new(Semaphore::new(limit.max(1))),
        }
    }

    /// Runs `work` on a blocking thread once a slot is free. A panic in `work`
    /// becomes `GitError::Other` (the pool itself stays usable).
    pub async fn run<F, T>(&self, work: F) -> Result<T, GitError>
    where
        F: FnOnce() -> Result<T, GitError> + Send + 'static,
        T: Send + 'static,
    {
        let permit = self
            .sem
            .clone()
            .acquire_owned()
            .await
            .expect("the pool's semaphore is never closed");
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .unwrap_or_else(|e| {
            Err(GitError::other(
                "-",
                "running git work",
                format!("the git worker failed: {e}"),
            ))
        })
    }

    /// Slots free right now (for metrics and tests).
    pub fn available(&self) -> usize {
        self.sem.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_runs_more_than_the_limit_at_once() {
        let pool = GitPool::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..8 {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            handles.push(tokio::spawn(async move {
                pool.run(move || {
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
        let r: Result<(), GitError> = pool.run(|| panic!("deliberate")).await;
        assert!(r.is_err());
        assert_eq!(pool.run(|| Ok(5)).await, Ok(5));
    }
}
