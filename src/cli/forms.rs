//! `responder forms install`: proposes the issue forms to a repository in a PR.

use std::process::ExitCode;

use anyhow::Context;
use responder::settings::Settings;

pub async fn install(settings: Settings, repo: String) -> anyhow::Result<ExitCode> {
    let repo: responder::types::RepoName =
        repo.parse().map_err(|e| anyhow::anyhow!("--repo: {e}"))?;
    // An App registered through the setup page counts, as it does for `serve`.
    let (settings, _) = responder::setup::with_stored_credentials(settings)?;
    if settings.app.is_none() {
        anyhow::bail!(
            "the GitHub App is not configured (missing: GITHUB_APP_ID, \
             GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_PATH); set them, or \
             register the App from the service's / page, and try again"
        );
    }
    let github = responder::service::github_client(&settings)?;
    let done = responder::incident::forms_install::install_forms(github.as_ref(), &repo)
        .await
        .with_context(|| format!("could not propose the issue forms to {repo}"))?;
    let verb = if done.opened { "opened" } else { "updated" };
    println!(
        "{verb} {} (committed: {})",
        done.pull.html_url,
        if done.committed.is_empty() {
            "nothing, the branch was up to date".to_string()
        } else {
            done.committed.join(", ")
        }
    );
    Ok(ExitCode::SUCCESS)
}
