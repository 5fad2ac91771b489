//! Fetch batching: requests that wait for a repository's fetch are folded into the
//! next one, so fifty cold PRs of one repository cost about one negotiation, not
//! fifty fetches in a row.
//!
//! Purpose: only the grouping. A caller hands in its refspecs and waits; while a
//! fetch of the repository runs, later callers queue, and when it ends one fetch
//! takes every queued refspec at once. Each caller hears only about its own refs
//! (a missing `refs/pull/N/head` fails that caller, not the batch). The fetch itself
//! (locks, deadlines, credentials) belongs to the caller's `run`; nothing here
//! touches git.
//!
//! Callers still on their way (looking the PR up on GitHub) can say so first
//! (`expect`): a fetch about to start waits for them, briefly, so a burst of cold
//! PRs arriving together shares the first fetch rather than the second.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

use super::error::GitError;
use crate::types::RepoName;

/// What one fetch of a batch reports: its refspec sources that the remote did not
/// have, or the error that failed the whole fetch.
pub type BatchOutcome = Result<Vec<String>, GitError>;

type Waiter = (Vec<String>, oneshot::Sender<Result<(), GitError>>);

/// How long a fetch waits at most for callers that said they are coming. Their
/// lookup is one GitHub round trip begun about when the waiting caller's was: a
/// caller slower than this (a stalled API call) is not worth holding a fetch for.
const FOLD_WAIT: Duration = Duration::from_millis(300);

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiter>,
    running: bool,
    /// Callers that will ask for a fetch once they know their refspecs.
    coming: usize,
}

type Queues = Arc<Mutex<HashMap<RepoName, Queue>>>;

/// Per repository: the callers waiting for the next fetch.
#[derive(Clone, Default)]
pub struct FetchBatcher {
    queues: Queues,
    /// Signalled whenever a coming caller arrives or gives up.
    arrived: Arc<Notify>,
}

/// A caller's word that it will fetch `repo` soon; dropping it withdraws it.
pub struct Coming {
    queues: Queues,
    arrived: Arc<Notify>,
    repo: Option<RepoName>,
}

impl Drop for Coming {
    fn drop(&mut self) {
        if let Some(repo) = self.repo.take() {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(queue) = queues.get_mut(&repo) {
                queue.coming = queue.coming.saturating_sub(1);
                if queue.coming == 0 && queue.waiting.is_empty() && !queue.running {
                    queues.remove(&repo);
                }
            }
            drop(queues);
            self.arrived.notify_waiters();
        }
    }
}

impl FetchBatcher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Says a fetch of `repo` is coming: a fetch that starts meanwhile waits (up to
    /// `FOLD_WAIT`) for this caller's refspecs. Hand the guard to `fetch`, or drop it
    /// when no fetch is needed after all.
    pub fn expect(&self, repo: &RepoName) -> Coming {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues.entry(repo.clone()).or_default().coming += 1;
        Coming {
            queues: self.queues.clone(),
            arrived: self.arrived.clone(),
            repo: Some(repo.clone()),
        }
    }

    /// Fetches `refspecs` for `repo` in the next fetch that starts: `run` gets every
    /// refspec waiting at that moment (deduplicated, in arrival order). The fetch
    /// runs in its own task, so a caller that gives up cancels nothing for others.
    pub async fn fetch<F, Fut>(
        &self,
        repo: &RepoName,
        refspecs: Vec<String>,
        coming: Option<Coming>,
        run: F,
    ) -> Result<(), GitError>
    where
        F: Fn(Vec<String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = BatchOutcome> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let lead = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            let queue = queues.entry(repo.clone()).or_default();
            queue.waiting.push((refspecs, tx));
            // The promise is kept: this caller is waiting now, not coming.
            if let Some(mut c) = coming
                && c.repo.take().as_ref() == Some(repo)
            {
                queue.coming = queue.coming.saturating_sub(1);
            }
            !std::mem::replace(&mut queue.running, true)
        };
        self.arrived.notify_waiters();
        if lead {
            let (this, repo) = (self.clone(), repo.clone());
            tokio::spawn(async move { this.drain(repo, run).await });
        }
        rx.await.unwrap_or_else(|_| {
            Err(GitError::other(
                "fetch batch",
                "fetching",
                "the fetch task ended without an answer (it panicked or the runtime is shutting down)",
            ))
        })
    }

    /// Runs fetches for `repo` until nobody is waiting.
    async fn drain<F, Fut>(&self, repo: RepoName, run: F)
    where
        F: Fn(Vec<String>) -> Fut,
        Fut: Future<Output = BatchOutcome>,
    {
        // Should this task die mid-fetch (a panic), the repository's queue goes with
        // it: its waiters hear so, and the next caller leads a fetch of its own.
        let mut reset = Reset {
            queues: self.queues.clone(),
            repo: repo.clone(),
            armed: true,
        };
        loop {
            self.wait_for_coming(&repo).await;
            let batch = {
                let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
                let queue = queues.entry(repo.clone()).or_default();
                if queue.waiting.is_empty() {
                    // Under the lock: the next caller sees no fetch running and
                    // leads one. Callers still coming keep their count.
                    queue.running = false;
                    if queue.coming == 0 {
                        queues.remove(&repo);
                    }
                    reset.armed = false;
                    return;
                }
                std::mem::take(&mut queue.waiting)
            };
            let mut specs: Vec<String> = Vec::new();
            for spec in batch.iter().flat_map(|(s, _)| s) {
                if !specs.contains(spec) {
                    specs.push(spec.clone());
                }
            }
            let outcome = run(specs).await;
            for (wanted, tx) in batch {
                let _ = tx.send(answer_for(&repo, &wanted, &outcome));
            }
        }
    }
}

impl FetchBatcher {
    /// Until no caller of `repo` is still coming, or `FOLD_WAIT` has passed.
    async fn wait_for_coming(&self, repo: &RepoName) {
        let deadline = tokio::time::Instant::now() + FOLD_WAIT;
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            // Registered before looking, so an arrival in between is not missed.
            arrived.as_mut().enable();
            let coming = {
                let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
                queues.get(repo).map_or(0, |q| q.coming)
            };
            if coming == 0 || tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return;
            }
        }
    }
}

/// Ends a repository's queue when its draining task dies (a panic).
struct Reset {
    queues: Queues,
    repo: RepoName,
    /// Cleared on a normal end, which leaves the queue as it is under the lock.
    armed: bool,
}

impl Drop for Reset {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        // Whoever waits is told the fetch ended (their senders drop here). Callers
        // still coming keep their count: the next of them leads a fetch.
        if let Some(queue) = queues.remove(&self.repo)
            && queue.coming > 0
        {
            queues.insert(
                self.repo.clone(),
                Queue {
                    coming: queue.coming,
                    ..Queue::default()
                },
            );
        }
    }
}

/// One caller's share of a batch's outcome: its own missing refs only.
fn answer_for(repo: &RepoName, wanted: &[String], outcome: &BatchOutcome) -> Result<(), GitError> {
    let missing = outcome.as_ref().map_err(Clone::clone)?;
    match wanted
        .iter()
        .map(|s| source_of(s))
        .find(|src| missing.iter().any(|m| m == src))
    {
        Some(src) => Err(GitError::NotFound {
            repo: repo.full(),
            what: format!("ref {src} on the remote"),
        }),
        None => Ok(()),
    }
}

/// The source side of a refspec (`+refs/pull/1/head:refs/pull/1/head` → `refs/pull/1/head`).
pub fn source_of(spec: &str) -> &str {
    spec.trim_start_matches('+')
        .split(':')
        .next()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn repo() -> RepoName {
        "acme/widgets".parse().unwrap()
    }

    fn pr(n: u32) -> Vec<String> {
        vec![format!("+refs/pull/{n}/head:refs/pull/{n}/head")]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_waiting_on_a_fetch_share_the_next_one() {
        let batcher = FetchBatcher::new();
        let fetches = Arc::new(Mutex::new(Vec::<Vec<String>>::new()));
        let run = {
            let fetches = fetches.clone();
            move |specs: Vec<String>| {
                let fetches = fetches.clone();
                async move {
                    fetches.lock().unwrap().push(specs);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(Vec::new())
                }
            }
        };
        let run = Arc::new(run);
        let mut calls = Vec::new();
        for n in 1..=20 {
            let (b, run) = (batcher.clone(), run.clone());
            calls.push(tokio::spawn(async move {
                b.fetch(&repo(), pr(n), None, move |s| run(s)).await
            }));
            if n == 1 {
                // The first starts a fetch alone; the other 19 arrive while it runs.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        for c in calls {
            c.await.unwrap().unwrap();
        }
        let fetches = fetches.lock().unwrap();
        assert_eq!(fetches.len(), 2, "{fetches:?}");
        assert_eq!(fetches[0], pr(1));
        assert_eq!(fetches[1].len(), 19);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fetch_waits_for_a_caller_still_coming_but_not_for_ever() {
        let batcher = FetchBatcher::new();
        let fetches = Arc::new(Mutex::new(Vec::<Vec<String>>::new()));
        let run = {
            let fetches = fetches.clone();
            move |specs: Vec<String>| {
                let fetches = fetches.clone();
                async move {
                    fetches.lock().unwrap().push(specs);
                    Ok(Vec::new())
                }
            }
        };
        let run = Arc::new(run);
        // PR 2 says it is coming and arrives 100 ms after PR 1 asks: one fetch.
        let coming = batcher.expect(&repo());
        let (b, r) = (batcher.clone(), run.clone());
        let first = tokio::spawn(async move { b.fetch(&repo(), pr(1), None, move |s| r(s)).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = run.clone();
        batcher
            .fetch(&repo(), pr(2), Some(coming), move |s| r(s))
            .await
            .unwrap();
        first.await.unwrap().unwrap();
        assert_eq!(fetches.lock().unwrap().len(), 1, "{fetches:?}");
        // PR 3 says it is coming and never arrives: PR 4's fetch goes anyway.
        let _never = batcher.expect(&repo());
        let r = run.clone();
        let started = std::time::Instant::now();
        batcher
            .fetch(&repo(), pr(4), None, move |s| r(s))
            .await
            .unwrap();
        assert!(started.elapsed() >= FOLD_WAIT, "{:?}", started.elapsed());
        assert_eq!(fetches.lock().unwrap().last(), Some(&pr(4)));
    }

    #[tokio::test]
    async fn a_fetch_that_panics_fails_its_waiters_and_the_next_caller_fetches_again() {
        let batcher = FetchBatcher::new();
        let broken = batcher
            .fetch(&repo(), pr(1), None, |_specs: Vec<String>| async {
                panic!("deliberate")
            })
            .await;
        assert!(broken.is_err());
        let r = repo();
        let next = batcher.fetch(&r, pr(2), None, |_specs: Vec<String>| async {
            Ok(Vec::new())
        });
        let next = tokio::time::timeout(Duration::from_secs(5), next).await;
        assert_eq!(next.expect("the next caller is not stuck"), Ok(()));
    }

    #[tokio::test]
    async fn a_missing_ref_fails_only_the_caller_that_asked_for_it() {
        let batcher = FetchBatcher::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let run = {
            let (runs, gate) = (runs.clone(), gate.clone());
            move |_specs: Vec<String>| {
                let (runs, gate) = (runs.clone(), gate.clone());
                async move {
                    if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                        gate.notified().await;
                    }
                    Ok(vec!["refs/pull/2/head".to_string()])
                }
            }
        };
        let run = Arc::new(run);
        let call = |n| {
            let (b, run) = (batcher.clone(), run.clone());
            tokio::spawn(async move { b.fetch(&repo(), pr(n), None, move |s| run(s)).await })
        };
        let first = call(1);
        tokio::task::yield_now().await;
        let (two, three) = (call(2), call(3));
        tokio::time::sleep(Duration::from_millis(20)).await;
        gate.notify_one();
        assert!(first.await.unwrap().is_ok());
        let err = two.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("refs/pull/2/head"), "{err}");
        assert!(three.await.unwrap().is_ok());
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
