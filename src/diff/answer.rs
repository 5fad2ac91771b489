//! The answer agents get (CONTRACT.md's `/files` body), and the errors that name why
//! no answer could be given.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use serde::Serialize;

use super::error::{GitError, GitErrorKind};
use super::model::FileEntry;
use crate::github::GitHubError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Api,
    Git,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Git => "git",
        }
    }
}

/// Which way to compute a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// GitHub first, git when GitHub fails or its answer is incomplete.
    Auto,
    /// GitHub only; an incomplete answer says so (`complete: false`).
    Api,
    /// The local mirror only.
    Git,
}

impl Via {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "api" => Some(Self::Api),
            "git" => Some(Self::Git),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffAnswer {
    pub repository: String,
    pub number: u64,
    pub base_sha: String,
    pub head_sha: String,
    pub merge_base_sha: String,
    pub source: Source,
    pub fallback_reason: Option<String>,
    pub complete: bool,
    /// Why `complete` is false (only with `via=api`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete_reason: Option<String>,
    pub files: Vec<FileEntry>,
    #[serde(skip)]
    pub unified: Bytes,
    #[serde(skip)]
    pub etag: String,
    /// This answer as JSON, made once and shared by every request that wants it.
    #[serde(skip)]
    json: Arc<OnceLock<Bytes>>,
    /// The JSON and the unified diff gzipped, made once on the first request that
    /// accepts gzip: a warm answer then costs a tenth of the bytes to send.
    #[serde(skip)]
    json_gzip: Arc<OnceLock<Bytes>>,
    #[serde(skip)]
    unified_gzip: Arc<OnceLock<Bytes>>,
}

impl DiffAnswer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        repository: String,
        number: u64,
        base_sha: String,
        head_sha: String,
        merge_base_sha: String,
        source: Source,
        fallback_reason: Option<String>,
        incomplete_reason: Option<String>,
        files: Vec<FileEntry>,
        unified: Bytes,
        etag: String,
    ) -> Self {
        Self {
            repository,
            number,
            base_sha,
            head_sha,
            merge_base_sha,
            source,
            fallback_reason,
            complete: incomplete_reason.is_none(),
            incomplete_reason,
            files,
            unified,
            etag,
            json: Arc::default(),
            json_gzip: Arc::default(),
            unified_gzip: Arc::default(),
        }
    }

    /// The `/files` body.
    pub fn json(&self) -> Bytes {
        self.json
            .get_or_init(|| {
                Bytes::from(serde_json::to_vec(self).expect("a diff answer serialises"))
            })
            .clone()
    }

    /// The `/files` body, gzipped.
    pub fn json_gzip(&self) -> Bytes {
        self.json_gzip.get_or_init(|| gzip(&self.json())).clone()
    }

    /// The whole unified diff, gzipped.
    pub fn unified_gzip(&self) -> Bytes {
        self.unified_gzip
            .get_or_init(|| gzip(&self.unified))
            .clone()
    }

    /// What the answer holds in memory, for the in-memory cache's budget.
    pub fn weight(&self) -> usize {
        self.unified.len()
            + self
                .files
                .iter()
                .map(|f| f.filename.len() + f.patch.as_ref().map_or(0, String::len) + 64)
                .sum::<usize>()
    }
}

/// Fast compression: it runs once per cached answer, and diffs shrink well at
/// any level.
fn gzip(data: &[u8]) -> Bytes {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 6),
        flate2::Compression::fast(),
    );
    enc.write_all(data).expect("writing to memory cannot fail");
    Bytes::from(enc.finish().expect("writing to memory cannot fail"))
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DiffError {
    #[error("pull request #{number} was not found in {repo}: {api}; {git}")]
    PrNotFound {
        repo: String,
        number: u64,
        api: String,
        git: String,
    },
    #[error(
        "the Responder App is not installed on {repo}; install it on the repository (the App's page → Install) and try again"
    )]
    NotInstalled { repo: String },
    #[error("{0}")]
    GitFetch(GitError),
    #[error("GitHub could not answer: {0}")]
    GitHub(GitHubError),
    #[error("{0}")]
    Internal(String),
}

impl DiffError {
    /// A stable code for the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::PrNotFound { .. } => "pr_not_found",
            Self::NotInstalled { .. } => "not_installed",
            Self::GitFetch(e) if e.kind() == GitErrorKind::NotFound => "git_ref_not_found",
            Self::GitFetch(e) if e.kind() == GitErrorKind::Timeout => "git_fetch_timeout",
            Self::GitFetch(_) => "git_fetch_failed",
            Self::GitHub(_) => "github_unavailable",
            Self::Internal(_) => "internal",
        }
    }
}
