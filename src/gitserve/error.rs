//! The one error type of the git mirror for sandboxes.
//!
//! Purpose: a few kinds the HTTP edge maps to statuses, each with a message a
//! person at a sandbox's terminal can act on (git prints it as `remote: …`). It
//! must never carry a token: messages are our words plus `GitError`/`GitHubError`
//! text, which are scrubbed of credentials where they are built.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServeError {
    /// GitHub has no such repository, or the App is not installed on it.
    #[error("{repo}: GitHub has no such repository, or the Responder App is not installed on it")]
    NotFound { repo: String },
    /// The repository was never mirrored and GitHub could not be fetched from.
    #[error("{repo}: no mirror yet, and fetching it from GitHub failed: {cause}")]
    Unavailable { repo: String, cause: String },
    /// Every upload-pack slot stayed busy for the whole queue timeout.
    #[error(
        "all {limit} git upload-pack slots stayed busy for {}s; try again shortly \
         (RESPONDER_GIT_UPLOAD_PACKS raises the limit)",
        waited.as_secs()
    )]
    Busy { limit: usize, waited: Duration },
    /// The mirrors hold their cap: no new repository is mirrored.
    #[error(
        "{repo}: the git mirrors already use {used} bytes of RESPONDER_GIT_MIRROR_MAX_BYTES \
         ({cap}); no new repository is mirrored until the operator raises it or frees disk"
    )]
    DiskFull { repo: String, used: u64, cap: u64 },
    /// The request body is not one git sends.
    #[error("{0}")]
    BadRequest(String),
    /// `git upload-pack` could not run or failed before answering.
    #[error("git upload-pack failed: {0}")]
    Git(String),
}
