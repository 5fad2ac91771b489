//! `SwappableGitHub`: the `GitHub` every part of the service holds, delegating to a
//! client that one-click setup can replace while the service runs.
//!
//! Purpose: the webhook handlers, the diff service and the redelivery job keep one
//! `Arc<dyn GitHub>` from startup; after setup they must sign with the new App key
//! without a restart. A call already under way finishes on the client it started
//! with. It must never hold its lock across an `.await`.
//!
//! Why a wrapper and not `AppClient` swapping its own credentials: what changes at
//! setup is the whole client (App id, key, and with them every cached installation
//! token and installation lookup, which belong to the old App and must not leak into
//! the new one); replacing one `Arc` drops all of that at once, and a call already
//! under way keeps a consistent client. Swapping inside `AppClient` would put its
//! transport, token cache and installation map behind locks taken on every request.
//! The price is this file's delegation: a new `GitHub` method must be added here
//! too (the compiler says so, since the trait has no default methods).

use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use super::GitHub;
use super::error::GitHubError;
use super::models::*;
use crate::types::{InstallationId, IssueNumber, PrNumber, RepoName, Secret, Sha};

pub struct SwappableGitHub {
    inner: RwLock<Arc<dyn GitHub>>,
}

impl SwappableGitHub {
    pub fn new(initial: Arc<dyn GitHub>) -> Self {
        Self {
            inner: RwLock::new(initial),
        }
    }

    /// The client calls go to from now on.
    pub fn current(&self) -> Arc<dyn GitHub> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sends every later call to `next`.
    pub fn replace(&self, next: Arc<dyn GitHub>) {
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = next;
    }
}

#[async_trait]
impl GitHub for SwappableGitHub {
    async fn repository(&self, repo: &RepoName) -> Result<Repository, GitHubError> {
        self.current().repository(repo).await
    }

    async fn pull(&self, repo: &RepoName, number: PrNumber) -> Result<PullRequest, GitHubError> {
        self.current().pull(repo, number).await
    }

    async fn pull_files(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Vec<DiffEntry>, GitHubError> {
        self.current().pull_files(repo, number).await
    }

    async fn pull_diff(&self, repo: &RepoName, number: PrNumber) -> Result<Vec<u8>, GitHubError> {
        self.current().pull_diff(repo, number).await
    }

    async fn merge_base(
        &self,
        repo: &RepoName,
        base: &Sha,
        head: &Sha,
    ) -> Result<Sha, GitHubError> {
        self.current().merge_base(repo, base, head).await
    }

    async fn issue(&self, repo: &RepoName, number: IssueNumber) -> Result<Issue, GitHubError> {
        self.current().issue(repo, number).await
    }

    async fn create_issue(&self, repo: &RepoName, issue: &NewIssue) -> Result<Issue, GitHubError> {
        self.current().create_issue(repo, issue).await
    }

    async fn update_issue(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        update: &IssueUpdate,
    ) -> Result<Issue, GitHubError> {
        self.current().update_issue(repo, number, update).await
    }

    async fn bot_login(&self) -> Result<String, GitHubError> {
        self.current().bot_login().await
    }

    async fn issues_with_label(
        &self,
        repo: &RepoName,
        label: &str,
    ) -> Result<Vec<Issue>, GitHubError> {
        self.current().issues_with_label(repo, label).await
    }

    async fn comment(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        body: &str,
    ) -> Result<Comment, GitHubError> {
        self.current().comment(repo, number, body).await
    }

    async fn comments(
        &self,
        repo: &RepoName,
        number: IssueNumber,
    ) -> Result<Vec<Comment>, GitHubError> {
        self.current().comments(repo, number).await
    }

    async fn add_labels(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        labels: &[String],
    ) -> Result<(), GitHubError> {
        self.current().add_labels(repo, number, labels).await
    }

    async fn remove_label(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        label: &str,
    ) -> Result<(), GitHubError> {
        self.current().remove_label(repo, number, label).await
    }

    async fn ensure_label(
        &self,
        repo: &RepoName,
        name: &str,
        color: &str,
        description: &str,
    ) -> Result<(), GitHubError> {
        self.current()
            .ensure_label(repo, name, color, description)
            .await
    }

    async fn permission(&self, repo: &RepoName, user: &str) -> Result<Permission, GitHubError> {
        self.current().permission(repo, user).await
    }

    async fn file(
        &self,
        repo: &RepoName,
        path: &str,
        git_ref: Option<&str>,
    ) -> Result<Option<FileContent>, GitHubError> {
        self.current().file(repo, path, git_ref).await
    }

    async fn config_files(
        &self,
        repo: &RepoName,
        paths: &[String],
    ) -> Result<Vec<Option<FileContent>>, GitHubError> {
        self.current().config_files(repo, paths).await
    }

    async fn branch_sha(
        &self,
        repo: &RepoName,
        branch: &str,
    ) -> Result<Option<String>, GitHubError> {
        self.current().branch_sha(repo, branch).await
    }

    async fn create_branch(
        &self,
        repo: &RepoName,
        branch: &str,
        sha: &str,
    ) -> Result<(), GitHubError> {
        self.current().create_branch(repo, branch, sha).await
    }

    async fn put_file(
        &self,
        repo: &RepoName,
        branch: &str,
        path: &str,
        content: &str,
        message: &str,
        blob_sha: Option<&str>,
    ) -> Result<(), GitHubError> {
        self.current()
            .put_file(repo, branch, path, content, message, blob_sha)
            .await
    }

    async fn open_pull_for_branch(
        &self,
        repo: &RepoName,
        branch: &str,
    ) -> Result<Option<PullSummary>, GitHubError> {
        self.current().open_pull_for_branch(repo, branch).await
    }

    async fn create_pull(
        &self,
        repo: &RepoName,
        pull: &NewPull,
    ) -> Result<PullSummary, GitHubError> {
        self.current().create_pull(repo, pull).await
    }

    async fn hook_deliveries(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<HookDelivery>, GitHubError> {
        self.current().hook_deliveries(since).await
    }

    async fn redeliver(&self, delivery: u64) -> Result<(), GitHubError> {
        self.current().redeliver(delivery).await
    }

    async fn git_token(&self, repo: &RepoName) -> Result<Option<Secret>, GitHubError> {
        self.current().git_token(repo).await
    }

    fn remember_installation(&self, repo: &RepoName, installation: InstallationId) {
        self.current().remember_installation(repo, installation)
    }

    fn forget_installations(&self) {
        self.current().forget_installations()
    }
}
