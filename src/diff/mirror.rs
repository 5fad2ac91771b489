//! Bare mirrors of GitHub repositories under one root, fetched with libgit2.
//!
//! Purpose: get `refs/pull/N/head` and the base branch onto local disk, one mirror
//! per repository (`<root>/<owner>/<name>.git`), incrementally, one fetch per
//! repository at a time, surviving interrupted fetches. The installation token is
//! handed to libgit2 only through the credentials callback: it must never appear in
//! a remote URL, in the mirror's config, in a log line or in an error.
//!
//! Locking: a `flock` on `<root>/<owner>/<name>.fetch-lock` (std's `File::lock`).
//! Unlike an in-process mutex map it also serialises several Responder processes
//! sharing a data directory (or `responder diff` next to `serve`), the kernel drops
//! it when a process dies (so it can never go stale itself), and nothing grows per
//! repository in memory. Waiting blocks the calling thread: call `fetch` from the
//! bounded blocking pool (`GitPool`).
//!
//! Timeouts: a server that accepts a fetch and then stalls must not hold a thread
//! for ever. libgit2's connections go through our socket stream (`socket.rs`),
//! which gives up a connection attempt after `CONNECT_TIMEOUT` and a read or write
//! that sees no byte for `STALL_TIMEOUT` or past the fetch's deadline, whichever
//! comes first; a server that trickles just enough to dodge that is cut off at the
//! deadline by the progress callbacks, which cancel the fetch.

use std::cell::Cell;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant, SystemTime};

use git2::{
    AutotagOption, Cred, CredentialType, ErrorClass, ErrorCode, FetchOptions, ProxyOptions,
    RemoteCallbacks, Repository,
};

use super::error::GitError;
use super::socket;
use crate::types::{PrNumber, RepoName, Secret, Sha};

/// How long libgit2 waits for a TCP connection to the git server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long libgit2 waits for the next byte from (or room to write to) the server.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// A fetch's overall deadline unless `with_fetch_timeout` says otherwise.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(600);

/// What a fetch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchStats {
    /// Objects the server sent (0 when the mirror was already up to date).
    pub received_objects: usize,
    pub received_bytes: usize,
    /// The remote's default branch (`refs/heads/…`) if the server advertised it.
    pub default_branch: Option<String>,
    pub elapsed: Duration,
}

/// The mirrors under one root directory (`$RESPONDER_DATA_DIR/git`).
#[derive(Debug, Clone)]
pub struct Mirrors {
    root: PathBuf,
    fetch_timeout: Duration,
}

/// The refspecs that bring a pull request and its base branch into a mirror, under
/// the same names as on GitHub. `None` when the branch name is not a valid ref.
pub fn pr_refspecs(pr: PrNumber, base_branch: &str) -> Option<Vec<String>> {
    let base_ref = format!("refs/heads/{base_branch}");
    if !git2::Reference::is_valid_name(&base_ref) {
        return None;
    }
    Some(vec![
        format!("+refs/pull/{pr}/head:refs/pull/{pr}/head"),
        format!("+{base_ref}:{base_ref}"),
    ])
}

impl Mirrors {
    pub fn new(root: PathBuf) -> Self {
        // libgit2's one-time set-up (OpenSSL and its globals, 23–30 ms here) when
        // the service starts, not inside the first request that fetches.
        set_socket_timeouts();
        Self {
            root,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
        }
    }

    /// Gives every fetch at most `timeout` from start to finish.
    pub fn with_fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    pub fn fetch_timeout(&self) -> Duration {
        self.fetch_timeout
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<owner>/<name>.git`.
    pub fn path_for(&self, repo: &RepoName) -> PathBuf {
        let path = self
            .root
            .join(repo.owner())
            .join(format!("{}.git", repo.name()));
        // RepoName's validation already excludes separators and dot-only names;
        // this is the second lock on the door, not the first.
        assert!(
            path.starts_with(&self.root)
                && path.components().count() == self.root.components().count() + 2
                && !repo.owner().contains(['/', '\\'])
                && !repo.name().contains(['/', '\\']),
            "mirror path for {repo} escapes the mirror root"
        );
        path
    }

    fn lock_path(&self, repo: &RepoName) -> PathBuf {
        self.root
            .join(repo.owner())
            .join(format!("{}.fetch-lock", repo.name()))
    }

    /// Fetches `refspecs` from `remote_url` into the repository's mirror, creating
    /// it if needed. Blocking. Every refspec source without a wildcard must exist on
    /// the remote, else `NotFound` naming it.
    pub fn fetch(
        &self,
        repo: &RepoName,
        remote_url: &str,
        token: Option<&Secret>,
        refspecs: &[String],
    ) -> Result<FetchStats, GitError> {
        let (stats, missing) = self.fetch_present(repo, remote_url, token, refspecs)?;
        match missing.into_iter().next() {
            Some(src) => Err(GitError::NotFound {
                repo: repo.full(),
                what: format!("ref {src} on the remote"),
            }),
            None => Ok(stats),
        }
    }

    /// Like `fetch`, but a refspec source the remote does not have is listed rather
    /// than an error: one fetch can serve several callers, each told of its own refs.
    pub fn fetch_present(
        &self,
        repo: &RepoName,
        remote_url: &str,
        token: Option<&Secret>,
        refspecs: &[String],
    ) -> Result<(FetchStats, Vec<String>), GitError> {
        let label = repo.full();
        if url_has_userinfo(remote_url) {
            // Never echo the URL: whatever is in it may be a credential.
            return Err(GitError::other(
                &label,
                "fetching",
                "the remote URL carries credentials; pass the token separately",
            ));
        }
        let scrub = |e: GitError| match token {
            Some(t) => e.scrubbed(t.expose()),
            None => e,
        };
        let started = Instant::now();
        let deadline = started + self.fetch_timeout;
        let _lock = self
            .lock(repo)
            .map_err(|e| io_error(&label, "taking the fetch lock", &e))?;
        let locked_at = SystemTime::now();
        let path = self.path_for(repo);
        let git_repo = self.open_or_init(repo, &path)?;
        remove_stale_locks(&path, locked_at);

        let mut remote = git_repo
            .remote_anonymous(remote_url)
            .map_err(|e| scrub(GitError::from_git(&label, "preparing the remote", &e)))?;
        let asked = Cell::new(0u32);
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(|_url, _user, allowed| {
            asked.set(asked.get() + 1);
            // A second request means the first answer was refused: stop here
            // rather than let libgit2 ask forever.
            if asked.get() > 1 {
                return Err(git2::Error::new(
                    ErrorCode::Auth,
                    ErrorClass::Http,
                    "the server refused the installation token",
                ));
            }
            match token {
                Some(t) if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) => {
                    Cred::userpass_plaintext("x-access-token", t.expose())
                }
                Some(_) => Err(git2::Error::new(
                    ErrorCode::Auth,
                    ErrorClass::Http,
                    "the server asked for a credential type other than a password",
                )),
                None => Err(git2::Error::new(
                    ErrorCode::Auth,
                    ErrorClass::Http,
                    "the server asked for credentials and no installation token was given",
                )),
            }
        });
        // Returning false cancels the fetch: the deadline is checked whenever the
        // server sends anything, so a trickling server cannot keep it going.
        callbacks.sideband_progress(|_| Instant::now() < deadline);
        let mut last_report = Instant::now();
        // Once a second, and once at each phase's end (all received, all indexed).
        // Every callback while deltas are resolved has all objects received: a check
        // for that alone logged each of them (11,000 lines for one 5,000-file fetch).
        let (mut told_received, mut told_indexed) = (false, false);
        callbacks.transfer_progress(|p| {
            let all_received = p.total_objects() > 0 && p.received_objects() == p.total_objects();
            let all_indexed = all_received && p.indexed_objects() == p.total_objects();
            let phase_ended = (all_received && !told_received) || (all_indexed && !told_indexed);
            if last_report.elapsed() >= Duration::from_secs(1) || phase_ended {
                told_received |= all_received;
                told_indexed |= all_indexed;
                last_report = Instant::now();
                tracing::debug!(
                    repo = %label,
                    received = p.received_objects(),
                    total = p.total_objects(),
                    indexed = p.indexed_objects(),
                    bytes = p.received_bytes(),
                    "fetch progress"
                );
            }
            Instant::now() < deadline
        });
        let mut proxy = ProxyOptions::new();
        proxy.auto();
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(callbacks)
            .proxy_options(proxy)
            .download_tags(AutotagOption::None)
            .update_fetchhead(false);

        tracing::info!(repo = %label, refspecs = ?refspecs, "fetching into mirror");
        let doing = format!("fetching {}", refspecs.join(", "));
        let fetched =
            socket::with_deadline(deadline, || remote.fetch(refspecs, Some(&mut opts), None));
        fetched.map_err(|e| match Instant::now() >= deadline {
            true => GitError::timeout(&label, self.fetch_timeout, &doing),
            false => scrub(GitError::from_git(&label, &doing, &e)),
        })?;
        drop(opts);

        let advertised: Vec<String> = remote
            .list()
            .map(|heads| heads.iter().map(|h| h.name().to_owned()).collect())
            .unwrap_or_default();
        let mut missing = Vec::new();
        for spec in refspecs {
            let src = spec
                .trim_start_matches('+')
                .split(':')
                .next()
                .unwrap_or_default();
            if !src.contains('*') && !advertised.iter().any(|name| name == src) {
                missing.push(src.to_owned());
            }
        }
        let default_branch = remote
            .default_branch()
            .ok()
            .and_then(|b| b.as_str().ok().map(str::to_owned));
        let stats = remote.stats();
        let stats = FetchStats {
            received_objects: stats.received_objects(),
            received_bytes: stats.received_bytes(),
            default_branch,
            elapsed: started.elapsed(),
        };
        tracing::info!(
            repo = %label,
            objects = stats.received_objects,
            bytes = stats.received_bytes,
            ms = stats.elapsed.as_millis() as u64,
            "fetched into mirror"
        );
        Ok((stats, missing))
    }

    /// The commit a ref of the mirror points at.
    pub fn resolve(&self, repo: &RepoName, refname: &str) -> Result<Sha, GitError> {
        let label = repo.full();
        let git_repo = Repository::open_bare(self.path_for(repo))
            .map_err(|e| GitError::from_git(&label, "opening the mirror", &e))?;
        let commit = git_repo
            .refname_to_id(refname)
            .and_then(|id| git_repo.find_object(id, None))
            .and_then(|o| o.peel_to_commit())
            .map_err(|e| match e.code() {
                ErrorCode::NotFound | ErrorCode::InvalidSpec => GitError::NotFound {
                    repo: label.clone(),
                    what: format!("ref {refname}"),
                },
                _ => GitError::from_git(&label, &format!("resolving {refname}"), &e),
            })?;
        Ok(Sha::new(&commit.id().to_string()).expect("libgit2 ids are 40 hex digits"))
    }

    fn lock(&self, repo: &RepoName) -> std::io::Result<File> {
        let path = self.lock_path(repo);
        fs::create_dir_all(path.parent().expect("lock file has a parent"))?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok(file)
    }

    /// Opens the mirror; creates it (atomically: init beside, then rename) when
    /// absent; rebuilds it when it cannot be opened at all.
    fn open_or_init(&self, repo: &RepoName, path: &Path) -> Result<Repository, GitError> {
        let label = repo.full();
        if path.exists() {
            match Repository::open_bare(path) {
                Ok(r) => return Ok(r),
                Err(e) => {
                    tracing::warn!(repo = %label, error = %e.message(), "mirror unreadable; rebuilding it");
                    fs::remove_dir_all(path)
                        .map_err(|e| io_error(&label, "removing a damaged mirror", &e))?;
                }
            }
        }
        let tmp = path.with_file_name(format!(".{}.init-{}", repo.name(), uuid::Uuid::new_v4()));
        // Without the system's templates (sample hooks and the like): nothing ever
        // runs them in a mirror, and copying them was most of a new mirror's cost.
        let mut init = git2::RepositoryInitOptions::new();
        init.bare(true).external_template(false);
        Repository::init_opts(&tmp, &init)
            .map_err(|e| GitError::from_git(&label, "creating the mirror", &e))?;
        fs::rename(&tmp, path).map_err(|e| io_error(&label, "creating the mirror", &e))?;
        Repository::open_bare(path)
            .map_err(|e| GitError::from_git(&label, "opening the new mirror", &e))
    }
}

/// libgit2's socket timeouts are process-wide, set once. Our stream applies them;
/// libgit2's own options are set too, for its stream should ours be refused.
fn set_socket_timeouts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        socket::register(CONNECT_TIMEOUT, STALL_TIMEOUT);
        let ms = |d: Duration| d.as_millis() as i32;
        // SAFETY: these only store an int that libgit2 reads when it opens a
        // socket; nothing else touches these options.
        let set = unsafe {
            git2::opts::set_server_connect_timeout_in_milliseconds(ms(CONNECT_TIMEOUT))
                .and_then(|_| git2::opts::set_server_timeout_in_milliseconds(ms(STALL_TIMEOUT)))
        };
        if let Err(e) = set {
            tracing::warn!(error = %e.message(), "libgit2 refused its socket timeouts; only the fetch deadline applies");
        }
    });
}

fn io_error(repo: &str, doing: &str, e: &std::io::Error) -> GitError {
    GitError::other(repo, doing, e.to_string())
}

fn url_has_userinfo(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    authority.contains('@')
}

/// Removes what a killed fetch leaves behind: `*.lock` files (ref, packed-refs,
/// config locks) and temporary pack files, if they predate our own lock. We hold
/// the fetch lock, so no live fetch can own them.
fn remove_stale_locks(mirror: &Path, before: SystemTime) {
    let mut stack = vec![mirror.to_path_buf(), mirror.join("refs")];
    let pack_dir = mirror.join("objects").join("pack");
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                if dir != mirror && path.starts_with(mirror.join("refs")) {
                    stack.push(path);
                }
                continue;
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let old = meta.modified().is_ok_and(|m| m < before);
            if old && name.ends_with(".lock") {
                tracing::warn!(file = %path.display(), "removing a lock left by an interrupted fetch");
                let _ = fs::remove_file(&path);
            }
        }
    }
    if let Ok(entries) = fs::read_dir(&pack_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let known = [
                ".pack",
                ".idx",
                ".rev",
                ".keep",
                ".bitmap",
                ".promisor",
                ".mtimes",
            ]
            .iter()
            .any(|ext| name.ends_with(ext));
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|m| m < before);
            if !known && old {
                tracing::warn!(file = %entry.path().display(), "removing a temporary pack file left by an interrupted fetch");
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}
