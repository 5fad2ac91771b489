//! `responder forms install`: puts Responder's issue forms (incident, RCA, bug
//! report, chooser) into a repository through one pull request, so people can open
//! the same structured issues by hand.
//!
//! Branch `responder/forms`; running it again commits only the forms that differ
//! and reuses the open pull request. Must never write to the default branch.

use crate::github::proposal::{Proposal, Proposed, propose};
use crate::github::{GitHub, GitHubError};
use crate::types::RepoName;

/// The branch the forms are proposed on.
pub const FORMS_BRANCH: &str = "responder/forms";

use crate::assets::{FORMS, FORMS_DIR};

/// Opens (or brings up to date) the pull request adding the forms to `repo`.
pub async fn install_forms(gh: &dyn GitHub, repo: &RepoName) -> Result<Proposed, GitHubError> {
    let proposal = Proposal {
        branch: FORMS_BRANCH.to_string(),
        files: FORMS
            .iter()
            .map(|(name, c)| (format!("{FORMS_DIR}/{name}"), c.to_string()))
            .collect(),
        commit_message: "Add Responder's issue forms (incident, RCA, bug report)".into(),
        title: "Add Responder's issue forms".into(),
        body: "This adds the issue forms Responder reads, so people can open the same \
               structured issues it does:\n\n\
               - `incident.yml` declares an incident (the `incident` label makes Responder \
               open the bug and RCA issues)\n\
               - `rca.yml` is a root cause analysis; closing it as completed feeds its \
               Runbook updates back into the runbook\n\
               - `bug_report.yml` is a plain bug report\n\
               - `config.yml` is the template chooser\n\n\
               The component dropdown lists the default runbook's components: edit it if \
               this repository overrides `.github/responder/runbook.toml`, and check the \
               result with `responder check --repo-config .`. Opened by `responder forms \
               install`; running it again updates this branch."
            .into(),
    };
    propose(gh, repo, &proposal).await
}
