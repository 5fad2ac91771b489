//! `DiffService`: a PR's files and unified diff from the cache, GitHub's API, or the
//! local git mirror — and always the truth about which, and whether it is complete.
//!
//! Purpose: the decision between GitHub and git. GitHub's answer is trusted only when
//! it is complete (count equals `changed_files`, below the 3,000-file cap, every text
//! file has a patch, the unified diff covers every file); otherwise the mirror is used
//! and the reason recorded. Identical concurrent requests share one computation.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::answer::{DiffAnswer, DiffError, Source, Via};
use super::batch::{Coming, FetchBatcher};
use super::cache::{CacheMeta, DiffCache, etag};
use super::engine;
use super::error::{GitError, GitErrorKind};
use super::flight::SingleFlight;
use super::hot::HotCache;
use super::mirror::{Mirrors, pr_refspecs};
use super::model::{FileEntry, FileStatus};
use super::pool::GitPool;
use super::recent::Recent;
use super::writeback::WriteBack;
use crate::github::{DiffEntry, GitHub, GitHubError, PullRequest};
use crate::types::{PrNumber, RepoName, Sha};

/// GitHub's files endpoint lists at most this many files, silently.
const FILES_CAP: usize = 3000;
/// GitHub's diff media type answers 406 `too_large` past this many files…
const DIFF_MEDIA_FILES: u64 = 300;
/// …or this many lines.
const DIFF_MEDIA_LINES: u64 = 20_000;
/// Cache reads and writes, and gzip of whole answers, at once (off the async threads).
const DISK_THREADS: usize = 4;
/// PR heads and merge bases remembered at most (each entry is a few hundred bytes).
const REMEMBERED: usize = 50_000;

#[derive(Debug, Clone)]
pub struct DiffConfig {
    pub data_dir: PathBuf,
    pub server_url: String,
    pub cache_bytes: u64,
    /// Recent answers kept in memory, ready to send.
    pub memory_bytes: usize,
    /// Blocking git work (diffs, merge bases) at once.
    pub git_threads: usize,
    /// Fetches at once. They wait on the network, not the CPU, so they have their
    /// own budget: stalled git servers never hold the slots diffs need.
    pub fetch_threads: usize,
    /// A fetch's deadline, from asking for a slot to the last byte.
    pub fetch_timeout: Duration,
    /// How long a PR's head is trusted without asking GitHub again.
    pub head_ttl: Duration,
}

type FlightKey = (RepoName, PrNumber, Option<Sha>, Via);
type Flight = Result<Arc<DiffAnswer>, DiffError>;
type PullKey = (RepoName, PrNumber);
type BaseKey = (RepoName, Sha, Sha);

pub struct DiffService {
    github: Arc<dyn GitHub>,
    mirrors: Mirrors,
    cache: Arc<DiffCache>,
    hot: HotCache,
    /// Disk writes of answers already sent.
    writeback: WriteBack,
    pool: GitPool,
    /// One fetch per repository at a time (the mirror's lock allows no more).
    fetches: GitPool,
    /// Folds the PRs waiting for a repository's fetch into its next one.
    batcher: FetchBatcher,
    flights: SingleFlight<FlightKey, Flight>,
    /// A burst of cold requests asks GitHub for the PR and its merge base once each.
    pull_flights: SingleFlight<PullKey, Result<PullRequest, GitHubError>>,
    base_flights: SingleFlight<BaseKey, Result<Sha, GitHubError>>,
    /// Bounds blocking disk and compression work done for requests.
    disk: Arc<tokio::sync::Semaphore>,
    server_url: String,
    heads: Recent<PullKey, PullRequest>,
    merge_bases: Recent<BaseKey, Sha>,
}

impl DiffService {
    pub fn new(github: Arc<dyn GitHub>, config: DiffConfig) -> Result<Arc<Self>, DiffError> {
        let cache = DiffCache::new(config.data_dir.join("diff-cache"), config.cache_bytes)
            .map_err(|e| DiffError::Internal(e.to_string()))?;
        let cache = Arc::new(cache);
        let disk = Arc::new(tokio::sync::Semaphore::new(DISK_THREADS));
        Ok(Arc::new(Self {
            github,
            mirrors: Mirrors::new(config.data_dir.join("git"))
                .with_fetch_timeout(config.fetch_timeout),
            writeback: WriteBack::new(cache.clone(), disk.clone()),
            cache,
            hot: HotCache::new(config.memory_bytes),
            pool: GitPool::new(config.git_threads),
            fetches: GitPool::with_per_repo(config.fetch_threads, 1),
            batcher: FetchBatcher::new(),
            flights: SingleFlight::new(),
            pull_flights: SingleFlight::new(),
            base_flights: SingleFlight::new(),
            disk,
            server_url: config.server_url.trim_end_matches('/').to_string(),
            heads: Recent::new(REMEMBERED, Some(config.head_ttl)),
            // A merge base of two fixed commits never changes.
            merge_bases: Recent::new(REMEMBERED, None),
        }))
    }

    /// The mirrors this service fetches into (the git mirror for sandboxes serves
    /// the same ones).
    pub fn mirrors(&self) -> &Mirrors {
        &self.mirrors
    }

    /// The PR's diff: cached when its (merge-base, head) was computed before.
    pub async fn get(
        self: &Arc<Self>,
        repo: &RepoName,
        number: PrNumber,
        via: Via,
    ) -> Result<Arc<DiffAnswer>, DiffError> {
        // A request bound for the mirror says so before it looks the PR up: a fetch
        // of the repository starting meanwhile waits for its refspecs, so a burst
        // of cold PRs shares one negotiation instead of queueing behind the first.
        let mut coming = (via == Via::Git).then(|| self.batcher.expect(repo));
        let meta = match self.pull(repo, number).await {
            Ok(pr) => Ok(pr),
            Err(GitHubError::NotInstalled { repo }) => {
                return Err(DiffError::NotInstalled { repo });
            }
            Err(e) if via == Via::Api => return Err(DiffError::GitHub(e)),
            Err(e) => Err(e),
        };
        if let Ok(pr) = &meta
            && coming.is_none()
            && via == Via::Auto
            && beyond_api(pr).is_some()
        {
            coming = Some(self.batcher.expect(repo));
        }
        if let Ok(pr) = &meta
            && let Some(mb) = self.known_merge_base(repo, pr, via).await
            && let Some(answer) = self.cached(repo, number, pr, &mb, via).await
        {
            return Ok(answer);
        }
        let key = (
            repo.clone(),
            number,
            meta.as_ref().ok().map(|p| p.head.sha.clone()),
            via,
        );
        let this = self.clone();
        let repo = repo.clone();
        self.flights
            .run(key, async move {
                this.compute(&repo, number, meta, via, coming).await
            })
            .await
            .map_err(|e| DiffError::Internal(e.to_string()))?
    }

    /// The PR as GitHub has it now (trusted for `head_ttl`); concurrent callers
    /// share one `GET pulls/N`.
    async fn pull(
        self: &Arc<Self>,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<PullRequest, GitHubError> {
        let key = (repo.clone(), number);
        if let Some(pr) = self.heads.get(&key) {
            return Ok(pr);
        }
        let (this, k) = (self.clone(), key.clone());
        let asked = async move {
            // A caller that missed the memory just before the last flight landed
            // starts a new flight: it finds the answer here instead of asking again.
            if let Some(pr) = this.heads.get(&k) {
                return Ok(pr);
            }
            let pr = this.github.pull(&k.0, k.1).await?;
            this.heads.insert(k, pr.clone());
            Ok(pr)
        };
        self.pull_flights
            .run(key, asked)
            .await
            .unwrap_or_else(|e| Err(abandoned(repo, e)))
    }

    /// The merge base without fetching, or `None` when neither the mirror nor
    /// GitHub can say. When the answer can only come from git, GitHub's `compare`
    /// is not asked: a cached git answer of these commits means the mirror has them.
    async fn known_merge_base(
        self: &Arc<Self>,
        repo: &RepoName,
        pr: &PullRequest,
        via: Via,
    ) -> Option<Sha> {
        if via == Via::Git || (via == Via::Auto && beyond_api(pr).is_some()) {
            let key = (repo.clone(), pr.base.sha.clone(), pr.head.sha.clone());
            if let Some(mb) = self.merge_bases.get(&key) {
                return Some(mb);
            }
            let (path, b, h) = (
                self.mirrors.path_for(repo),
                pr.base.sha.clone(),
                pr.head.sha.clone(),
            );
            let mb = self
                .pool
                .run(repo, move || engine::merge_base(&path, &b, &h))
                .await
                .ok()
                .flatten()?;
            self.remember_merge_base(repo, &pr.base.sha, &pr.head.sha, &mb);
            return Some(mb);
        }
        self.merge_base(repo, pr).await.ok()
    }

    /// The merge base: remembered, read from the mirror, or asked of GitHub (one
    /// `compare` for all concurrent callers).
    async fn merge_base(
        self: &Arc<Self>,
        repo: &RepoName,
        pr: &PullRequest,
    ) -> Result<Sha, GitHubError> {
        let key = (repo.clone(), pr.base.sha.clone(), pr.head.sha.clone());
        if let Some(mb) = self.merge_bases.get(&key) {
            return Ok(mb);
        }
        let (this, k) = (self.clone(), key.clone());
        let asked = async move {
            if let Some(mb) = this.merge_bases.get(&k) {
                return Ok(mb);
            }
            let (repo, base, head) = (&k.0, &k.1, &k.2);
            let path = this.mirrors.path_for(repo);
            let (b, h) = (base.clone(), head.clone());
            let local = this
                .pool
                .run(repo, move || engine::merge_base(&path, &b, &h))
                .await
                .ok()
                .flatten();
            let mb = match local {
                Some(mb) => mb,
                None => this.github.merge_base(repo, base, head).await?,
            };
            this.remember_merge_base(repo, base, head, &mb);
            Ok(mb)
        };
        self.base_flights
            .run(key, asked)
            .await
            .unwrap_or_else(|e| Err(abandoned(repo, e)))
    }

    fn remember_merge_base(&self, repo: &RepoName, base: &Sha, head: &Sha, mb: &Sha) {
        self.merge_bases
            .insert((repo.clone(), base.clone(), head.clone()), mb.clone());
    }

    async fn cached(
        &self,
        repo: &RepoName,
        number: PrNumber,
        pr: &PullRequest,
        mb: &Sha,
        via: Via,
    ) -> Option<Arc<DiffAnswer>> {
        // A cached git answer does not satisfy a request for GitHub's own answer.
        let wanted = |source: Source| {
            !(via == Via::Api && source == Source::Git || via == Via::Git && source == Source::Api)
        };
        let head = &pr.head.sha;
        if let Some(answer) = self
            .hot
            .get(repo, number, mb, head)
            .filter(|a| wanted(a.source))
        {
            metrics::counter!("responder_diff_requests_total", "outcome" => "memory_hit")
                .increment(1);
            return Some(answer);
        }
        // An answer sent moments ago may still be on its way to disk.
        let (meta, files, unified) = match self.writeback.get(repo, mb, head) {
            Some(sent) => (
                CacheMeta {
                    source: sent.source.as_str().to_string(),
                    fallback_reason: sent.fallback_reason.clone(),
                    base_sha: sent.base_sha.clone(),
                    number: Some(sent.number),
                },
                sent.files.clone(),
                sent.unified.clone(),
            ),
            None => {
                let (cache, r, m, h) = (self.cache.clone(), repo.clone(), mb.clone(), head.clone());
                let hit = self
                    .blocking(move || cache.get(&r, &m, &h))
                    .await?
                    .ok()
                    .flatten()?;
                (hit.meta, hit.files, hit.unified.into())
            }
        };
        let source = if meta.source == "git" {
            Source::Git
        } else {
            Source::Api
        };
        if !wanted(source) {
            return None;
        }
        metrics::counter!("responder_diff_requests_total", "outcome" => "cache_hit").increment(1);
        let reason = reason_for(&meta, repo, number);
        let answer = Arc::new(DiffAnswer::new(
            repo.to_string(),
            number.0,
            meta.base_sha,
            head.to_string(),
            mb.to_string(),
            source,
            reason,
            None,
            files,
            unified,
            etag(repo, mb, head),
        ));
        self.hot.put(repo, mb, head, answer.clone());
        Some(answer)
    }

    async fn compute(
        self: &Arc<Self>,
        repo: &RepoName,
        number: PrNumber,
        meta: Result<PullRequest, GitHubError>,
        via: Via,
        coming: Option<Coming>,
    ) -> Flight {
        let predicted = match (&meta, via) {
            (Ok(pr), Via::Auto) => beyond_api(pr),
            _ => None,
        };
        let reason = match (&meta, via) {
            (_, Via::Git) => "git requested (via=git)".to_string(),
            // Neither the files endpoint nor the diff media type could be used.
            _ if predicted.is_some() => predicted.unwrap_or_default(),
            (Ok(pr), _) => match self.via_api(repo, number, pr).await {
                Ok(answer) => return Ok(answer),
                Err(Incomplete::Error(e)) if via == Via::Api => return Err(DiffError::GitHub(e)),
                Err(Incomplete::Partial(answer)) if via == Via::Api => return Ok(answer),
                Err(Incomplete::Error(e)) => api_reason(&e),
                Err(Incomplete::Partial(answer)) => {
                    answer.incomplete_reason.clone().unwrap_or_default()
                }
            },
            (Err(e), _) => format!("pull request metadata: {}", api_reason(e)),
        };
        tracing::info!(%repo, pr = number.0, reason = %reason, "falling back to the git mirror");
        metrics::counter!("responder_diff_fallbacks_total").increment(1);
        self.via_git(repo, number, meta.ok(), reason, coming).await
    }

    async fn via_api(
        self: &Arc<Self>,
        repo: &RepoName,
        number: PrNumber,
        pr: &PullRequest,
    ) -> Result<Arc<DiffAnswer>, Incomplete> {
        let entries = self
            .github
            .pull_files(repo, number)
            .await
            .map_err(Incomplete::Error)?;
        let mut problem = check_files(&entries, pr.changed_files);
        let unified = match self.github.pull_diff(repo, number).await {
            Ok(u) => u,
            Err(e) if problem.is_some() => {
                tracing::debug!(error = %e, "diff media type failed too");
                Vec::new()
            }
            Err(e) => return Err(Incomplete::Error(e)),
        };
        let chunks = split_files(&unified);
        if problem.is_none() && chunks.len() != entries.len() {
            problem = Some(format!(
                "the diff endpoint covered {} of {} files",
                chunks.len(),
                entries.len()
            ));
        }
        let files = entries
            .iter()
            .enumerate()
            .map(|(i, e)| to_file_entry(e, chunks.get(i).map(|c| &unified[c.clone()])))
            .collect::<Result<Vec<_>, String>>();
        let files = match files {
            Ok(f) => f,
            Err(p) => {
                problem.get_or_insert(p);
                Vec::new()
            }
        };
        let merge_base = self.merge_base(repo, pr).await.map_err(Incomplete::Error)?;
        let answer = Arc::new(DiffAnswer::new(
            repo.to_string(),
            number.0,
            pr.base.sha.to_string(),
            pr.head.sha.to_string(),
            merge_base.to_string(),
            Source::Api,
            None,
            problem,
            files,
            unified.into(),
            etag(repo, &merge_base, &pr.head.sha),
        ));
        if !answer.complete {
            return Err(Incomplete::Partial(answer));
        }
        self.store(repo, &merge_base, &pr.head.sha, &answer);
        metrics::counter!("responder_diff_requests_total", "outcome" => "api").increment(1);
        Ok(answer)
    }

    async fn via_git(
        self: &Arc<Self>,
        repo: &RepoName,
        number: PrNumber,
        pr: Option<PullRequest>,
        reason: String,
        coming: Option<Coming>,
    ) -> Flight {
        let token = match self.github.git_token(repo).await {
            Ok(t) => t,
            Err(GitHubError::NotInstalled { repo }) => {
                return Err(DiffError::NotInstalled { repo });
            }
            Err(e) => return Err(DiffError::GitHub(e)),
        };
        let api_said = match &pr {
            Some(_) => None,
            None => Some(format!("GitHub's pulls endpoint has no #{number}")),
        };
        let base_branch = match &pr {
            Some(pr) => pr.base.ref_name.clone(),
            None => match self.github.repository(repo).await {
                Ok(r) => r.default_branch,
                Err(GitHubError::NotFound { .. }) => {
                    return Err(DiffError::PrNotFound {
                        repo: repo.to_string(),
                        number: number.0,
                        api: "GitHub answered 404 for the pull request and the repository".into(),
                        git: "the repository could not be fetched".into(),
                    });
                }
                Err(e) => return Err(DiffError::GitHub(e)),
            },
        };
        let refspecs = pr_refspecs(number, &base_branch).ok_or_else(|| {
            DiffError::Internal(format!(
                "the base branch {base_branch:?} is not a valid git ref name"
            ))
        })?;
        let url = format!("{}/{}/{}.git", self.server_url, repo.owner(), repo.name());
        let head_ref = format!("refs/pull/{number}/head");
        let base_ref = format!("refs/heads/{base_branch}");
        let started = Instant::now();
        let local = match self.fetch(repo, url, token, refspecs, coming).await {
            Ok(()) => {
                let (mirrors, repo2) = (self.mirrors.clone(), repo.clone());
                self.pool
                    .run(repo, move || {
                        let head = mirrors.resolve(&repo2, &head_ref)?;
                        let base = mirrors.resolve(&repo2, &base_ref)?;
                        engine::diff(&mirrors.path_for(&repo2), &base, &head)
                    })
                    .await
            }
            Err(e) => Err(e),
        };
        let local = match local {
            Ok(l) => l,
            Err(e) if e.kind() == GitErrorKind::NotFound && api_said.is_some() => {
                return Err(DiffError::PrNotFound {
                    repo: repo.to_string(),
                    number: number.0,
                    api: api_said.unwrap_or_default(),
                    git: format!("and refs/pull/{number}/head does not exist ({e})"),
                });
            }
            Err(e) => return Err(DiffError::GitFetch(e)),
        };
        tracing::info!(%repo, pr = number.0, files = local.files.len(), ms = started.elapsed().as_millis() as u64, "diffed in the local mirror");
        let answer = Arc::new(DiffAnswer::new(
            repo.to_string(),
            number.0,
            local.base.to_string(),
            local.head.to_string(),
            local.merge_base.to_string(),
            Source::Git,
            Some(reason),
            None,
            local.files,
            local.unified.into(),
            etag(repo, &local.merge_base, &local.head),
        ));
        self.remember_merge_base(repo, &local.base, &local.head, &local.merge_base);
        self.store(repo, &local.merge_base, &local.head, &answer);
        metrics::counter!("responder_diff_requests_total", "outcome" => "git").increment(1);
        Ok(answer)
    }

    /// Runs blocking disk or compression work off the async threads, a few at once;
    /// `None` if it panicked.
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let _permit = self.disk.acquire().await.ok()?;
        tokio::task::spawn_blocking(work).await.ok()
    }

    /// Fetches into the mirror within the deadline. Past it the caller gets
    /// `Timeout`; a read blocked on a silent server ends at the same deadline
    /// (`socket.rs`), so the thread gives its slots back then. Requests of one
    /// repository that arrive while its fetch runs share the next one.
    async fn fetch(
        &self,
        repo: &RepoName,
        url: String,
        token: Option<crate::types::Secret>,
        refspecs: Vec<String>,
        coming: Option<Coming>,
    ) -> Result<(), GitError> {
        let (mirrors, pool, repo2) = (self.mirrors.clone(), self.fetches.clone(), repo.clone());
        let run = move |specs: Vec<String>| {
            let (mirrors, pool, repo) = (mirrors.clone(), pool.clone(), repo2.clone());
            let (url, token) = (url.clone(), token.clone());
            async move {
                let work = pool.run(&repo, {
                    let (mirrors, repo) = (mirrors.clone(), repo.clone());
                    move || {
                        mirrors
                            .fetch_present(&repo, &url, token.as_ref(), &specs)
                            .map(|(_, missing)| missing)
                    }
                });
                within_deadline(&mirrors, &repo, work).await
            }
        };
        within_deadline(
            &self.mirrors,
            repo,
            self.batcher.fetch(repo, refspecs, coming, run),
        )
        .await
    }
    /// Keeps the answer in memory now and writes it to disk after it went out.
    fn store(&self, repo: &RepoName, mb: &Sha, head: &Sha, answer: &Arc<DiffAnswer>) {
        self.hot.put(repo, mb, head, answer.clone());
        self.writeback.put(repo, mb, head, answer.clone());
    }

    /// Waits for answers already sent to reach the disk cache (a command that
    /// exits after one answer calls this first).
    pub async fn flush(&self) {
        self.writeback.flush().await;
    }
}

/// Why GitHub's answer cannot be complete, known from the PR's metadata alone: the
/// diff media type (which the answer needs) refuses PRs past 300 files or 20,000
/// lines. Such a PR goes to the mirror without asking the files endpoint, the diff
/// media type or `compare`.
fn beyond_api(pr: &PullRequest) -> Option<String> {
    let files = pr.changed_files.unwrap_or(0);
    let lines = pr.additions.unwrap_or(0) + pr.deletions.unwrap_or(0);
    if files > DIFF_MEDIA_FILES {
        return Some(format!(
            "the pull request changes {files} files; GitHub's diff media type stops at {DIFF_MEDIA_FILES}"
        ));
    }
    if lines > DIFF_MEDIA_LINES {
        return Some(format!(
            "the pull request changes {lines} lines; GitHub's diff media type stops at {DIFF_MEDIA_LINES}"
        ));
    }
    None
}

/// `work` within the fetch deadline: a moment past libgit2's own, so a fetch that
/// can still be cancelled (bytes are arriving) says so itself; this covers a silent
/// one.
async fn within_deadline<T>(
    mirrors: &Mirrors,
    repo: &RepoName,
    work: impl std::future::Future<Output = Result<T, GitError>>,
) -> Result<T, GitError> {
    let limit = mirrors.fetch_timeout();
    match tokio::time::timeout(limit + Duration::from_millis(500), work).await {
        Ok(done) => done,
        Err(_) => {
            metrics::counter!("responder_git_fetch_timeouts_total").increment(1);
            Err(GitError::timeout(
                &repo.full(),
                limit,
                "waiting for a git server that stopped answering",
            ))
        }
    }
}

/// A cached answer's `fallback_reason` for a request of PR `number`: the stored one
/// when it was computed for this PR, else where the answer really came from.
fn reason_for(meta: &CacheMeta, repo: &RepoName, number: PrNumber) -> Option<String> {
    match (&meta.fallback_reason, meta.number) {
        (None, _) => None,
        (Some(reason), Some(n)) if n == number.0 => Some(reason.clone()),
        (Some(reason), Some(n)) => Some(format!(
            "served from the diff cache: {repo}#{n} has the same commits, and its diff came from the git mirror ({reason})"
        )),
        (Some(reason), None) => Some(format!(
            "served from the diff cache: these commits were diffed from the git mirror for another request ({reason})"
        )),
    }
}

/// A shared GitHub lookup that ended without an answer (its task panicked).
fn abandoned(repo: &RepoName, e: super::flight::Abandoned) -> GitHubError {
    GitHubError::Transport {
        what: format!("a lookup for {repo}"),
        message: e.to_string(),
    }
}

enum Incomplete {
    Error(GitHubError),
    Partial(Arc<DiffAnswer>),
}

/// Why GitHub's answer was not used, in the words `fallback_reason` carries.
fn api_reason(e: &GitHubError) -> String {
    match e {
        GitHubError::NotFound { .. } => "files endpoint returned 404".into(),
        GitHubError::TooLarge { .. } => "GitHub answered 406 too_large".into(),
        GitHubError::NotAvailable { status, .. } => {
            format!("GitHub answered {status} not_available (diff taking too long)")
        }
        GitHubError::Transport { message, .. } => format!("GitHub did not answer: {message}"),
        GitHubError::Other { status, .. } => format!("GitHub answered {status}"),
        other => other.to_string(),
    }
}

/// What makes GitHub's file list untrustworthy, if anything.
fn check_files(entries: &[DiffEntry], changed_files: Option<u64>) -> Option<String> {
    if let Some(expected) = changed_files
        && entries.len() as u64 != expected
    {
        return Some(format!(
            "files endpoint truncated at {} of {expected} files",
            entries.len()
        ));
    }
    if entries.len() >= FILES_CAP {
        return Some(format!(
            "files endpoint returned {} files, GitHub's cap; the list may be truncated",
            entries.len()
        ));
    }
    entries
        .iter()
        .find(|e| e.patch.is_none() && e.changes > 0)
        .map(|e| {
            format!(
                "files endpoint omitted the patch of {} ({} changed lines)",
                e.filename, e.changes
            )
        })
}

fn to_file_entry(e: &DiffEntry, chunk: Option<&[u8]>) -> Result<FileEntry, String> {
    let status = match e.status.as_str() {
        "added" => FileStatus::Added,
        "removed" => FileStatus::Removed,
        "modified" => FileStatus::Modified,
        "renamed" => FileStatus::Renamed,
        "copied" => FileStatus::Copied,
        "changed" | "unchanged" => FileStatus::Changed,
        other => {
            return Err(format!(
                "files endpoint gave {} the unknown status {other:?}",
                e.filename
            ));
        }
    };
    let binary = e.patch.is_none()
        && chunk
            .is_some_and(|c| contains(c, b"\nBinary files ") || contains(c, b"\nGIT binary patch"));
    Ok(FileEntry {
        filename: e.filename.clone(),
        status,
        additions: e.additions,
        deletions: e.deletions,
        changes: e.changes,
        patch: e.patch.clone(),
        previous_filename: e.previous_filename.clone(),
        binary,
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Byte ranges of each file's part of a unified diff (each starts at `diff --git `).
pub fn split_files(unified: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut starts = Vec::new();
    let mut at = 0;
    while at < unified.len() {
        if unified[at..].starts_with(b"diff --git ") {
            starts.push(at);
        }
        at = match unified[at..].iter().position(|&b| b == b'\n') {
            Some(n) => at + n + 1,
            None => unified.len(),
        };
    }
    let mut ranges = Vec::with_capacity(starts.len());
    for (i, &s) in starts.iter().enumerate() {
        ranges.push(s..starts.get(i + 1).copied().unwrap_or(unified.len()));
    }
    ranges
}
