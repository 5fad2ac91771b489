//! A repository's incident context: its `.github/responder.toml`, runbook and
//! template overrides, read from the default branch and combined with the defaults.
//!
//! Only the default branch is read (a pull request must not be able to change who
//! may declare or what the app writes). A present-but-broken file is a user error
//! naming the file, never a silent fall-back to the defaults.

use std::collections::HashMap;

use super::{IncidentError, IncidentService};
use crate::incident::config::{CONFIG_PATH, RepoConfig};
use crate::incident::config::{RUNBOOK_OVERRIDE_PATH, TEMPLATES_OVERRIDE_DIR};
use crate::incident::model::severity::SeverityAliases;
use crate::incident::render::sandbox::TEMPLATE_LIMIT;
use crate::incident::render::{TEMPLATE_NAMES, Templates};
use crate::incident::runbook::Runbook;
use crate::types::RepoName;

/// Everything a declaration in one repository is judged and rendered with.
pub struct RepoContext {
    pub repo: RepoName,
    pub config: RepoConfig,
    pub runbook: Runbook,
    /// The runbook's aliases and the repository's, together.
    pub aliases: SeverityAliases,
    pub templates: Templates,
}

impl RepoContext {
    /// Where the bug and RCA issues go: the configured target or the repository itself.
    pub fn target_repo(&self) -> RepoName {
        self.config
            .target_repo
            .clone()
            .unwrap_or_else(|| self.repo.clone())
    }
}

impl IncidentService {
    /// Reads the repository's config and overrides (five files, at once).
    pub async fn context(&self, repo: &RepoName) -> Result<RepoContext, IncidentError> {
        let mut paths = vec![CONFIG_PATH.to_string(), RUNBOOK_OVERRIDE_PATH.to_string()];
        paths.extend(
            TEMPLATE_NAMES
                .iter()
                .map(|n| format!("{TEMPLATES_OVERRIDE_DIR}/{n}")),
        );
        // Kept per repository, revalidated with one conditional request.
        let [config, runbook, t0, t1, t2]: [_; 5] = self
            .github
            .config_files(repo, &paths)
            .await?
            .try_into()
            .map_err(|_| {
                IncidentError::GitHub(crate::github::GitHubError::Unexpected {
                    what: format!("reading the config files of {repo}"),
                    message: "the answer had a different number of files than asked".into(),
                })
            })?;
        let config = match config {
            None => RepoConfig::default(),
            Some(f) => {
                RepoConfig::parse(&f.text).map_err(|e| IncidentError::User(e.to_string()))?
            }
        };
        let runbook = match runbook {
            None => self.default_runbook.clone(),
            Some(f) => Runbook::parse(&f.text).map_err(|e| {
                IncidentError::User(format!(
                    "`{RUNBOOK_OVERRIDE_PATH}`: {e}\n\nFix it on the default branch (check it with `responder check --repo-config .`) and try again."
                ))
            })?,
        };
        if let Some(target) = &config.target_repo
            && !target.owner().eq_ignore_ascii_case(repo.owner())
        {
            // The App may be installed on other accounts too: a repository's config
            // must not make it write there (a confused deputy).
            return Err(IncidentError::User(format!(
                "`{CONFIG_PATH}`: target_repo = \"{target}\" is not a repository of {}; incident issues can only go to a repository of the same owner. Fix it on the default branch and try again.",
                repo.owner()
            )));
        }
        let aliases = config
            .all_aliases(&runbook)
            .map_err(|e| IncidentError::User(e.to_string()))?;
        let mut overrides = HashMap::new();
        for (name, file) in TEMPLATE_NAMES.iter().zip([t0, t1, t2]) {
            if let Some(f) = file {
                if f.text.len() > TEMPLATE_LIMIT {
                    return Err(IncidentError::User(format!(
                        "`{TEMPLATES_OVERRIDE_DIR}/{name}` is {} bytes; templates may be at most {TEMPLATE_LIMIT}. Fix it on the default branch and try again.",
                        f.text.len()
                    )));
                }
                overrides.insert(name.to_string(), f.text);
            }
        }
        // Overrides are compiled where they are rendered: in the sandbox, since
        // compiling hostile text can exhaust the stack as surely as rendering it.
        let templates = if overrides.is_empty() {
            Templates::Trusted(self.default_renderer.clone())
        } else {
            Templates::Sandboxed {
                sandbox: self.sandbox.clone(),
                defaults: self.default_templates.clone(),
                overrides,
            }
        };
        Ok(RepoContext {
            repo: repo.clone(),
            config,
            runbook,
            aliases,
            templates,
        })
    }
}
