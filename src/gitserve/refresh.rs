//! Freshness: a mirror is brought up to date from GitHub before it is served, at
//! most once per TTL and one fetch per repository at a time.
//!
//! Purpose: a thousand sandboxes cloning one repository cost GitHub one fetch. The
//! first request after the TTL starts the fetch; every request arriving meanwhile
//! waits for that same fetch (single flight) instead of starting its own. A GitHub
//! failure with a usable mirror serves the mirror (logged, retried after the TTL);
//! without one the caller gets the cause. It reuses the diff service's mirror and
//! its libgit2 fetch, so the installation token goes only through libgit2's
//! credentials callback: never to disk, a URL, a log line or an error.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::disk;
use super::error::ServeError;
use crate::diff::recent::Recent;
use crate::diff::{FetchStats, GitPool, Mirrors, SingleFlight};
use crate::github::{GitHub, GitHubError};
use crate::types::RepoName;

/// Everything a sandbox may clone or fetch: branches, tags and PR heads, under the
/// names GitHub gives them.
pub const MIRROR_REFSPECS: [&str; 3] = [
    "+refs/heads/*:refs/heads/*",
    "+refs/tags/*:refs/tags/*",
    "+refs/pull/*/head:refs/pull/*/head",
];
/// Repositories whose last refresh is remembered (each entry is a few dozen bytes).
const REMEMBERED: usize = 100_000;
/// Fetches for sandboxes at once, across repositories (they wait on the network).
const FETCH_THREADS: usize = 8;

type Flight = Result<(), ServeError>;

pub struct Refresher {
    github: Arc<dyn GitHub>,
    mirrors: Mirrors,
    server_url: String,
    max_bytes: u64,
    /// Repositories asked of GitHub within the TTL (answered or not).
    checked: Recent<RepoName, ()>,
    flights: SingleFlight<RepoName, Flight>,
    fetches: GitPool,
}

impl Refresher {
    pub fn new(
        github: Arc<dyn GitHub>,
        mirrors: Mirrors,
        server_url: &str,
        ttl: Duration,
        max_bytes: u64,
    ) -> Self {
        Self {
            github,
            mirrors,
            server_url: server_url.trim_end_matches('/').to_string(),
            max_bytes,
            checked: Recent::new(REMEMBERED, Some(ttl)),
            flights: SingleFlight::new(),
            fetches: GitPool::with_per_repo(FETCH_THREADS, 1),
        }
    }

    pub fn mirrors(&self) -> &Mirrors {
        &self.mirrors
    }

    /// Returns once the repository's mirror may be served: fetched within the TTL,
    /// or stale because GitHub failed and it is still usable.
    pub async fn ensure_fresh(self: &Arc<Self>, repo: &RepoName) -> Result<(), ServeError> {
        if self.checked.get(repo).is_some() {
            return Ok(());
        }
        let (this, r) = (self.clone(), repo.clone());
        self.flights
            .run(repo.clone(), async move { this.refresh(&r).await })
            .await
            .unwrap_or_else(|e| {
                Err(ServeError::Unavailable {
                    repo: repo.to_string(),
                    cause: e.to_string(),
                })
            })
    }

    async fn refresh(&self, repo: &RepoName) -> Flight {
        // A request that missed the memory just before the last flight landed
        // starts a new one: it finds that flight's answer here.
        if self.checked.get(repo).is_some() {
            return Ok(());
        }
        let path = self.mirrors.path_for(repo);
        let fetched = self.fetch(repo).await;
        let failure = match fetched {
            Ok(stats) => {
                if let Some(branch) = stats.default_branch {
                    point_head(repo, &path, &branch);
                }
                self.checked.insert(repo.clone(), ());
                return Ok(());
            }
            // An answer, not a failure: the App lost access (or never had it), so
            // what the mirror holds is no longer for sandboxes.
            Err(Failure::NotFound) => {
                return Err(ServeError::NotFound {
                    repo: repo.to_string(),
                });
            }
            Err(Failure::Refused(e)) => return Err(e),
            Err(Failure::Other(cause)) => cause,
        };
        metrics::counter!("responder_git_mirror_refresh_failures_total").increment(1);
        let (p, r) = (path.clone(), repo.full());
        let usable = tokio::task::spawn_blocking(move || usable(&r, &p))
            .await
            .unwrap_or(false);
        if usable {
            tracing::warn!(%repo, cause = %failure, "GitHub could not be fetched from; serving the mirror as it is");
            // Retried after the TTL, not on every request: an outage costs GitHub
            // one attempt per repository per TTL.
            self.checked.insert(repo.clone(), ());
            return Ok(());
        }
        tracing::warn!(%repo, cause = %failure, "GitHub could not be fetched from and there is no mirror to serve");
        Err(ServeError::Unavailable {
            repo: repo.to_string(),
            cause: failure,
        })
    }

    async fn fetch(&self, repo: &RepoName) -> Result<FetchStats, Failure> {
        let token = match self.github.git_token(repo).await {
            Ok(t) => t,
            Err(GitHubError::NotInstalled { .. } | GitHubError::NotFound { .. }) => {
                return Err(Failure::NotFound);
            }
            Err(e) => return Err(Failure::Other(format!("asking GitHub for a token: {e}"))),
        };
        let path = self.mirrors.path_for(repo);
        let (root, cap, r) = (
            self.mirrors.root().to_path_buf(),
            self.max_bytes,
            repo.full(),
        );
        let full = tokio::task::spawn_blocking(move || {
            // Only a new mirror is refused: existing ones keep up with GitHub.
            (!path.exists())
                .then(|| disk::usage(&root))
                .filter(|used| *used >= cap)
        })
        .await
        .unwrap_or(None);
        if let Some(used) = full {
            return Err(Failure::Refused(ServeError::DiskFull {
                repo: r,
                used,
                cap,
            }));
        }
        let url = format!("{}/{}/{}.git", self.server_url, repo.owner(), repo.name());
        let refspecs: Vec<String> = MIRROR_REFSPECS.iter().map(|s| s.to_string()).collect();
        let (mirrors, repo2) = (self.mirrors.clone(), repo.clone());
        let work = self.fetches.run(repo, move || {
            mirrors.fetch(&repo2, &url, token.as_ref(), &refspecs)
        });
        // A moment past libgit2's own deadline, as the diff service does: this
        // covers a server that went silent.
        let limit = self.mirrors.fetch_timeout() + Duration::from_millis(500);
        match tokio::time::timeout(limit, work).await {
            Ok(Ok(stats)) => Ok(stats),
            Ok(Err(e)) => Err(Failure::Other(e.to_string())),
            Err(_) => Err(Failure::Other(format!(
                "GitHub's git server stopped answering (RESPONDER_GIT_FETCH_TIMEOUT is {}s)",
                self.mirrors.fetch_timeout().as_secs()
            ))),
        }
    }
}

enum Failure {
    NotFound,
    /// Not GitHub's failure: serving a stale mirror would not help.
    Refused(ServeError),
    Other(String),
}

/// Whether the mirror can be served: it opens and holds at least one ref.
fn usable(repo: &str, path: &Path) -> bool {
    let Ok(git) = git2::Repository::open_bare(path) else {
        return false;
    };
    match git.references() {
        Ok(mut refs) => refs.next().is_some(),
        Err(e) => {
            tracing::warn!(repo, error = %e.message(), "the mirror's refs cannot be read");
            false
        }
    }
}

/// Points the mirror's HEAD at GitHub's default branch, so a clone checks it out.
/// Best effort: a clone of a mirror whose HEAD is off still gets every ref.
fn point_head(repo: &RepoName, path: &Path, branch: &str) {
    let result = git2::Repository::open_bare(path).and_then(|git| {
        let current = git
            .find_reference("HEAD")
            .ok()
            .and_then(|h| h.symbolic_target().ok().flatten().map(str::to_owned));
        match current.as_deref() == Some(branch) {
            true => Ok(()),
            false => git.set_head(branch),
        }
    });
    if let Err(e) = result {
        tracing::warn!(%repo, branch, error = %e.message(), "could not point the mirror's HEAD at the default branch");
    }
}
