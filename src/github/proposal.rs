//! Proposes file changes as one pull request per branch: create the branch from the
//! default branch if needed, commit each file that differs through the contents API,
//! open the pull request unless one is open for the branch.
//!
//! Running it again with the same files commits nothing and opens nothing; with
//! changed files it adds a commit to the same branch, so its pull request follows.
//! Must never force-push, delete a branch or touch the default branch.

use super::{GitHub, GitHubError, NewPull, PullSummary};
use crate::types::RepoName;

/// The change to propose.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// e.g. `responder/rca-12`.
    pub branch: String,
    /// (path, full new content) for each file.
    pub files: Vec<(String, String)>,
    pub commit_message: String,
    pub title: String,
    pub body: String,
}

/// What [`propose`] did.
#[derive(Debug, Clone)]
pub struct Proposed {
    pub pull: PullSummary,
    /// Whether this call opened the pull request (false: one was open already).
    pub opened: bool,
    /// Paths this call committed (empty: the branch had them already).
    pub committed: Vec<String>,
}

/// Makes `p.branch` hold `p.files` and a pull request open for it, doing only what
/// is missing.
pub async fn propose(
    gh: &dyn GitHub,
    repo: &RepoName,
    p: &Proposal,
) -> Result<Proposed, GitHubError> {
    let base = gh.repository(repo).await?.default_branch;
    if gh.branch_sha(repo, &p.branch).await?.is_none() {
        let sha = gh
            .branch_sha(repo, &base)
            .await?
            .ok_or_else(|| GitHubError::NotFound {
                what: format!("the default branch {base} of {repo}"),
            })?;
        match gh.create_branch(repo, &p.branch, &sha).await {
            Ok(()) => {}
            // Created meanwhile by a concurrent run (or a lost answer): use it.
            Err(GitHubError::Invalid { .. }) if gh.branch_sha(repo, &p.branch).await?.is_some() => {
            }
            Err(e) => return Err(e),
        }
    }
    let mut committed = Vec::new();
    for (path, content) in &p.files {
        let current = gh.file(repo, path, Some(&p.branch)).await?;
        if current.as_ref().is_some_and(|f| &f.text == content) {
            continue;
        }
        let blob = current.as_ref().map(|f| f.sha.as_str());
        gh.put_file(repo, &p.branch, path, content, &p.commit_message, blob)
            .await?;
        committed.push(path.clone());
    }
    if let Some(pull) = gh.open_pull_for_branch(repo, &p.branch).await? {
        return Ok(Proposed {
            pull,
            opened: false,
            committed,
        });
    }
    let pull = gh
        .create_pull(
            repo,
            &NewPull {
                title: p.title.clone(),
                body: p.body.clone(),
                head: p.branch.clone(),
                base,
            },
        )
        .await?;
    Ok(Proposed {
        pull,
        opened: true,
        committed,
    })
}
