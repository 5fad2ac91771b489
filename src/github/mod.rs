//! GitHub: the App's identity, installation tokens, and the `GitHub` trait — the only
//! way the rest of Responder talks to GitHub (tests swap in the fake GitHub server,
//! with the real client pointed at it).

pub mod app;
mod client;
pub mod credentials;
pub mod error;
pub mod manifest;
pub mod models;
pub mod proposal;
mod repo_files;
mod swap;
pub mod tokens;
pub mod transport;

use async_trait::async_trait;

pub use client::AppClient;
pub use error::GitHubError;
pub use models::*;
pub use swap::SwappableGitHub;
pub use transport::RetryPolicy;

use crate::types::{InstallationId, IssueNumber, PrNumber, RepoName, Secret, Sha};

/// What Responder needs from GitHub. Every method resolves the repository's
/// installation itself; errors are classified (`GitHubError`).
#[async_trait]
pub trait GitHub: Send + Sync {
    async fn repository(&self, repo: &RepoName) -> Result<Repository, GitHubError>;
    async fn pull(&self, repo: &RepoName, number: PrNumber) -> Result<PullRequest, GitHubError>;
    /// Every page of the files endpoint (100 per page), as GitHub gives it.
    async fn pull_files(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Vec<DiffEntry>, GitHubError>;
    /// The PR's unified diff (`application/vnd.github.diff`).
    async fn pull_diff(&self, repo: &RepoName, number: PrNumber) -> Result<Vec<u8>, GitHubError>;
    /// The merge base of two commits (`GET /repos/{o}/{r}/compare/{base}...{head}`).
    async fn merge_base(&self, repo: &RepoName, base: &Sha, head: &Sha)
    -> Result<Sha, GitHubError>;

    async fn issue(&self, repo: &RepoName, number: IssueNumber) -> Result<Issue, GitHubError>;
    async fn create_issue(&self, repo: &RepoName, issue: &NewIssue) -> Result<Issue, GitHubError>;
    async fn update_issue(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        update: &IssueUpdate,
    ) -> Result<Issue, GitHubError>;
    /// Open and closed issues carrying `label`, newest first, at most
    /// 1,000 (ten pages).
    async fn issues_with_label(
        &self,
        repo: &RepoName,
        label: &str,
    ) -> Result<Vec<Issue>, GitHubError>;
    async fn comment(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        body: &str,
    ) -> Result<Comment, GitHubError>;
    async fn comments(
        &self,
        repo: &RepoName,
        number: IssueNumber,
    ) -> Result<Vec<Comment>, GitHubError>;
    async fn add_labels(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        labels: &[String],
    ) -> Result<(), GitHubError>;
    async fn remove_label(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        label: &str,
    ) -> Result<(), GitHubError>;
    /// Creates the label unless it exists (any case).
    async fn ensure_label(
        &self,
        repo: &RepoName,
        name: &str,
        color: &str,
        description: &str,
    ) -> Result<(), GitHubError>;
    async fn permission(&self, repo: &RepoName, user: &str) -> Result<Permission, GitHubError>;

    /// A file on `git_ref` (the default branch when `None`); `None` when absent.
    async fn file(
        &self,
        repo: &RepoName,
        path: &str,
        git_ref: Option<&str>,
    ) -> Result<Option<FileContent>, GitHubError>;
    /// Files of the default branch that all live under one top-level directory
    /// (`.github/…`), in the order asked; `None` for an absent one. Kept per
    /// repository and revalidated with one conditional request per call.
    async fn config_files(
        &self,
        repo: &RepoName,
        paths: &[String],
    ) -> Result<Vec<Option<FileContent>>, GitHubError>;
    async fn branch_sha(
        &self,
        repo: &RepoName,
        branch: &str,
    ) -> Result<Option<String>, GitHubError>;
    async fn create_branch(
        &self,
        repo: &RepoName,
        branch: &str,
        sha: &str,
    ) -> Result<(), GitHubError>;
    /// Commits `content` to `path` on `branch`; `blob_sha` is the replaced file's blob.
    async fn put_file(
        &self,
        repo: &RepoName,
        branch: &str,
        path: &str,
        content: &str,
        message: &str,
        blob_sha: Option<&str>,
    ) -> Result<(), GitHubError>;
    async fn open_pull_for_branch(
        &self,
        repo: &RepoName,
        branch: &str,
    ) -> Result<Option<PullSummary>, GitHubError>;
    async fn create_pull(
        &self,
        repo: &RepoName,
        pull: &NewPull,
    ) -> Result<PullSummary, GitHubError>;

    /// The App's recent webhook deliveries, newest first, back to `since`.
    async fn hook_deliveries(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<HookDelivery>, GitHubError>;
    async fn redeliver(&self, delivery: u64) -> Result<(), GitHubError>;

    /// The login the App writes issues and comments as (`<slug>[bot]`), from
    /// `GET /app`: how Responder tells its own issues from lookalikes people made.
    async fn bot_login(&self) -> Result<String, GitHubError>;

    /// A token for git over HTTPS (`x-access-token`); `None` when Responder runs
    /// without App credentials (public repositories only).
    async fn git_token(&self, repo: &RepoName) -> Result<Option<Secret>, GitHubError>;
    /// Records which installation covers `repo` (from a delivery), sparing a lookup.
    fn remember_installation(&self, repo: &RepoName, installation: InstallationId);
    /// Forgets cached installation lookups (installation events change them).
    fn forget_installations(&self);
}
