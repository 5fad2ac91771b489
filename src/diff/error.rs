//! The one error type of the git fallback (mirror, engine, pool).
//!
//! Purpose: turn libgit2's errors into a few kinds the HTTP edge can map to status
//! codes, with messages that name the repository and the ref. It must never carry a
//! token: messages are built from our own words plus libgit2's text, and the caller
//! scrubs the token out of that text before building the error (see `mirror`).

/// What went wrong, for mapping to an HTTP status or a retry decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitErrorKind {
    /// The server refused our credentials (or we had none to give).
    Auth,
    /// The repository, a ref or a commit does not exist.
    NotFound,
    /// Talking to the server failed; retrying later may work.
    Network,
    /// The server stalled or was too slow: the fetch was given up at its deadline.
    Timeout,
    /// The local mirror is damaged; it is rebuilt on the next fetch.
    Corrupt,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitError {
    #[error(
        "git authentication failed for {repo}: {message}; check that the installation token can read the repository"
    )]
    Auth { repo: String, message: String },
    #[error("{what} not found in {repo}")]
    NotFound { repo: String, what: String },
    #[error("network error while fetching {repo}: {message}; retry later")]
    Network { repo: String, message: String },
    #[error(
        "fetching {repo} did not finish within {after_secs} s ({doing}); the git server stalled or is too slow, retry later"
    )]
    Timeout {
        repo: String,
        after_secs: u64,
        doing: String,
    },
    #[error(
        "the local git mirror of {repo} is damaged ({message}); it will be rebuilt on the next fetch"
    )]
    Corrupt { repo: String, message: String },
    #[error("git failed on {repo} while {doing}: {message}")]
    Other {
        repo: String,
        doing: String,
        message: String,
    },
}

impl GitError {
    pub fn kind(&self) -> GitErrorKind {
        match self {
            GitError::Auth { .. } => GitErrorKind::Auth,
            GitError::NotFound { .. } => GitErrorKind::NotFound,
            GitError::Network { .. } => GitErrorKind::Network,
            GitError::Timeout { .. } => GitErrorKind::Timeout,
            GitError::Corrupt { .. } => GitErrorKind::Corrupt,
            GitError::Other { .. } => GitErrorKind::Other,
        }
    }

    pub(crate) fn other(repo: &str, doing: &str, message: impl Into<String>) -> Self {
        GitError::Other {
            repo: repo.to_owned(),
            doing: doing.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn timeout(repo: &str, after: std::time::Duration, doing: &str) -> Self {
        GitError::Timeout {
            repo: repo.to_owned(),
            after_secs: after.as_secs_f64().ceil() as u64,
            doing: doing.to_owned(),
        }
    }

    /// The same error with every occurrence of `secret` replaced: libgit2's text is
    /// not ours, so it is treated as if it could echo a credential.
    pub(crate) fn scrubbed(self, secret: &str) -> Self {
        if secret.is_empty() {
            return self;
        }
        let s = |m: String| m.replace(secret, "***");
        match self {
            GitError::Auth { repo, message } => GitError::Auth {
                repo,
                message: s(message),
            },
            GitError::NotFound { repo, what } => GitError::NotFound {
                repo,
                what: s(what),
            },
            GitError::Network { repo, message } => GitError::Network {
                repo,
                message: s(message),
            },
            GitError::Corrupt { repo, message } => GitError::Corrupt {
                repo,
                message: s(message),
            },
            GitError::Timeout {
                repo,
                after_secs,
                doing,
            } => GitError::Timeout {
                repo,
                after_secs,
                doing: s(doing),
            },
            GitError::Other {
                repo,
                doing,
                message,
            } => GitError::Other {
                repo,
                doing: s(doing),
                message: s(message),
            },
        }
    }

    /// Classifies a libgit2 error. `doing` says what we were doing ("fetching
    /// refs/pull/7/head"); it ends up in the message.
    pub(crate) fn from_git(repo: &str, doing: &str, err: &git2::Error) -> Self {
        use git2::{ErrorClass as C, ErrorCode as E};
        let message = format!("{doing}: {}", err.message());
        let repo = repo.to_owned();
        let text = err.message().to_ascii_lowercase();
        if err.code() == E::Auth
            || text.contains("status code: 401")
            || text.contains("status code: 403")
        {
            return GitError::Auth { repo, message };
        }
        let missing_repo =
            text.contains("could not find repository") || text.contains("failed to resolve path");
        if err.code() == E::NotFound || text.contains("status code: 404") || missing_repo {
            return GitError::NotFound {
                repo,
                what: doing.to_owned(),
            };
        }
        match err.class() {
            C::Net | C::Http | C::Ssl | C::Ssh | C::Callback => GitError::Network { repo, message },
            C::Odb | C::Zlib | C::Object | C::Indexer | C::Repository | C::Reference => {
                GitError::Corrupt { repo, message }
            }
            _ => GitError::Other {
                repo,
                doing: doing.to_owned(),
                message: err.message().to_owned(),
            },
        }
    }
}
