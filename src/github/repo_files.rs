//! A repository's config files (`.github/…` on the default branch), kept per
//! repository and revalidated with one conditional request.
//!
//! Purpose: every incident delivery reads the same five files; a storm of comments
//! must not read them again each time. What is kept is checked on every call by
//! listing the directory that holds them with `If-None-Match`: GitHub answers 304
//! when the listing (and so every tree and blob id under it) is unchanged, and a
//! 304 does not count against the rate limit. Any change makes the next call read
//! the files again, so an answer is never staler than the last commit. When the
//! directory does not exist, the root listing is the one checked, since it changes
//! when the directory appears. It only remembers; the requests are the client's.

use std::collections::HashMap;
use std::sync::Mutex;

use super::models::FileContent;
use crate::types::RepoName;

/// Repositories remembered at most; past it the memory starts over (each entry is
/// a few files of a few KiB).
const REMEMBERED: usize = 10_000;

/// What was read last time, and the listing whose ETag vouches for it.
#[derive(Debug, Clone)]
pub struct Kept {
    /// The directory listed to revalidate (`""`: the repository's root).
    pub listing: String,
    pub etag: String,
    pub files: Vec<Option<FileContent>>,
}

#[derive(Default)]
pub struct RepoFiles {
    kept: Mutex<HashMap<(RepoName, Vec<String>), Kept>>,
}

impl RepoFiles {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn kept(&self, repo: &RepoName, paths: &[String]) -> Option<Kept> {
        let key = (repo.clone(), paths.to_vec());
        self.lock().get(&key).cloned()
    }

    pub fn keep(&self, repo: &RepoName, paths: &[String], kept: Kept) {
        let mut map = self.lock();
        if map.len() >= REMEMBERED {
            map.clear();
        }
        map.insert((repo.clone(), paths.to_vec()), kept);
    }

    pub fn forget(&self, repo: &RepoName, paths: &[String]) {
        self.lock().remove(&(repo.clone(), paths.to_vec()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(RepoName, Vec<String>), Kept>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The top-level directory every path lives under, if they share one.
pub fn common_top(paths: &[String]) -> Option<&str> {
    fn top(p: &str) -> Option<&str> {
        p.split_once('/').map(|(t, _)| t).filter(|t| !t.is_empty())
    }
    let first = top(paths.first()?)?;
    paths.iter().all(|p| top(p) == Some(first)).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_share_a_top_directory_or_none() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            common_top(&p(&[
                ".github/responder.toml",
                ".github/responder/runbook.toml"
            ])),
            Some(".github")
        );
        assert_eq!(common_top(&p(&[".github/a", "docs/b"])), None);
        assert_eq!(common_top(&p(&["README.md"])), None);
        assert_eq!(common_top(&[]), None);
    }
}
