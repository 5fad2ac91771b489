//! Orchestration: a declaration becomes exactly one incident record, one bug issue,
//! one RCA issue and one comment on the declaring issue — whichever channel it came
//! from, however often it is retried or redelivered.
//!
//! Purpose: the only place that combines GitHub, the store and the pure incident
//! logic. How "exactly once" holds: the incident is stored under a unique key
//! before anything is created; each created issue is recorded as soon as GitHub
//! answers; a later attempt (after a 502 that may have created the issue anyway,
//! or a crash) first looks for an issue carrying the incident's hidden marker
//! before creating one; a per-key lock keeps two callers in one process from
//! running the same declaration at once. Must never know HTTP or webhook payloads,
//! and never post user text that the renderer or `replies` did not sanitise.

mod agent_runs;
mod alerts;
mod closing;
mod context;
mod followups;
mod lifecycle;
mod locks;
mod milestones;
mod postmortem;
mod reminders;
mod replies;
mod timeline;
mod timeline_writer;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use crate::clock::millis;
pub use agent_runs::{AgentRuns, RUNS_SCOPE, RunAnswer, RunReport};
pub use closing::{Closed, IssueClosed};
pub use context::RepoContext;
pub use followups::FollowUpReport;
pub use lifecycle::Change;
pub use postmortem::{RcaOutcome, rca_branch};
pub use reminders::{RcaReminders, ReminderReport};
pub use timeline::{COMMANDER_END, COMMANDER_START};
pub use timeline_writer::TimelineWriter;

use crate::clock::Clock;
use crate::github::{GitHub, GitHubError, IssueUpdate, NewIssue};
use crate::incident::model::IncidentIssue;
pub use crate::incident::model::IncidentKey;
use crate::incident::model::declaration::Declaration;
use crate::incident::render::sandbox::{Sandbox, SandboxConfig};
use crate::incident::render::view::{bug_title, rca_title};
use crate::incident::render::{IssueRef, RenderError, Renderer, TemplateKind, builtin_templates};
use crate::incident::runbook::Runbook;
use crate::recent::Recent;
use crate::store::{IncidentRecord, IssueLink, NewIncident, Store, StoreError};
use crate::types::{IssueNumber, RepoName};

/// Why a declaration or change did not (fully) happen.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    /// The declarer's or the repository's mistake; the message is safe to post.
    #[error("{0}")]
    User(String),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("rendering failed: {0}")]
    Render(#[from] RenderError),
}

impl IncidentError {
    /// What to say on the issue when retrying cannot help: the declarer's or the
    /// repository's mistake (a user error, a template that does not render).
    pub fn user_text(&self) -> Option<String> {
        match self {
            IncidentError::User(m) => Some(m.clone()),
            IncidentError::Render(r) => Some(format!(
                "Responder could not write this incident's issues: {r}.\n\nFix the template under `.github/responder/templates/` on the default branch (check it with `responder check --repo-config .`), then try again."
            )),
            IncidentError::GitHub(_) | IncidentError::Store(_) => None,
        }
    }

    /// Worth trying again with the same input: GitHub hiccups and a busy database.
    pub fn is_transient(&self) -> bool {
        match self {
            IncidentError::GitHub(e) => e.is_transient(),
            IncidentError::Store(_) => true,
            IncidentError::User(_) | IncidentError::Render(_) => false,
        }
    }
}

/// A valid declaration and where it came from, ready to become an incident.
#[derive(Debug, Clone)]
pub struct NewDeclaration {
    /// The same key never opens a second incident.
    pub key: IncidentKey,
    pub declaration: Declaration,
    /// GitHub login, or the agent token's subject.
    pub declared_by: String,
    /// The issue (or PR) it was declared on; `None` for the API.
    pub source: Option<IssueLink>,
}

/// The outcome of [`IncidentService::declare`].
#[derive(Debug, Clone)]
pub struct Declared {
    pub incident: IncidentRecord,
    /// False when the key existed before this call.
    pub created: bool,
}

/// The hidden marker of one of an incident's bodies (`bug`, `rca`, `comment`, …):
/// how a retry recognises what an earlier attempt created.
pub fn marker(incident: i64, kind: &str) -> String {
    format!("<!-- responder:incident={incident} kind={kind} -->")
}

/// Whether a body was written by Responder (it starts with one of its markers).
pub fn is_responder_body(body: &str) -> bool {
    body.trim_start().starts_with("<!-- responder:")
}

pub struct IncidentService {
    github: Arc<dyn GitHub>,
    store: Store,
    clock: Arc<dyn Clock>,
    default_runbook: Runbook,
    default_templates: Arc<HashMap<String, String>>,
    /// The defaults compiled once: most repositories override nothing.
    default_renderer: Arc<Renderer>,
    /// Where a repository's own templates are rendered.
    sandbox: Arc<Sandbox>,
    locks: locks::KeyLocks,
    /// Names this process in store leases.
    instance: String,
    /// Labels known to exist, per repository: created at most once per process.
    /// Bounded; an hour at most, in case someone deleted one.
    labels_ensured: Recent<(RepoName, String), ()>,
}

impl IncidentService {
    /// With the built-in runbook and templates; repositories' own templates are
    /// rendered in a sandbox started as `sandbox` says.
    pub fn new(
        github: Arc<dyn GitHub>,
        store: Store,
        clock: Arc<dyn Clock>,
        sandbox: SandboxConfig,
    ) -> Self {
        let default_templates = builtin_templates();
        let default_renderer = Renderer::with_overrides(default_templates.clone(), HashMap::new())
            // The built-in templates are compiled in and tested: a failure is a build bug.
            .unwrap_or_else(|e| panic!("the built-in templates do not compile: {e}"));
        Self {
            github,
            store,
            clock,
            default_runbook: Runbook::builtin(),
            default_templates: Arc::new(default_templates),
            default_renderer: Arc::new(default_renderer),
            sandbox: Sandbox::new(sandbox),
            locks: locks::KeyLocks::default(),
            instance: uuid::Uuid::new_v4().to_string(),
            labels_ensured: Recent::new(10_000, Some(std::time::Duration::from_secs(3600))),
        }
    }

    pub fn github(&self) -> &Arc<dyn GitHub> {
        &self.github
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stores the declaration (or finds it by key) and completes whatever of its
    /// issues and comment does not exist yet.
    pub async fn declare(
        &self,
        ctx: &RepoContext,
        new: NewDeclaration,
    ) -> Result<Declared, IncidentError> {
        let _guard = self.locks.lock(&new.key).await;
        // Other instances on the same database: one declaration of a key at a time.
        let lease = format!("declare:{}", new.key);
        self.lease(&lease).await?;
        let result = self.declare_leased(ctx, new).await;
        if let Err(e) = self.store.unlock(&lease, &self.instance).await {
            tracing::warn!(error = %e, "could not give the declaration lease back; it expires by itself");
        }
        result
    }

    /// Why `login` may not do `what` (`"declaring an incident needs"`, …) in `ctx`'s repository
    /// under its `min_permission`: `None` when they may. Checked where the issues are
    /// written too (a `target_repo`), so the App never writes where the person could
    /// not. Asks GitHub every time, so a revoked collaborator is refused at once.
    pub async fn refusal(
        &self,
        ctx: &RepoContext,
        login: &str,
        what: &str,
    ) -> Result<Option<String>, IncidentError> {
        let min = ctx.config.min_permission;
        let mut repos = vec![ctx.repo.clone()];
        if ctx.target_repo() != ctx.repo {
            repos.push(ctx.target_repo());
        }
        for repo in repos {
            let role = match self.github.permission(&repo, login).await {
                Ok(p) => p.as_str(),
                // GitHub knows no such user (an App's `name[bot]`, a deleted account).
                Err(GitHubError::NotFound { .. }) => "none",
                Err(e) => return Err(e.into()),
            };
            if !min.allows(role) {
                return Ok(Some(format!(
                    "Sorry, {what} {} permission on {repo}, and {login} has {role}. Nothing was changed.",
                    min.as_str(),
                )));
            }
        }
        Ok(None)
    }

    /// Waits (up to 30 s) for the store lease `name`; another instance holding it
    /// longer is a transient error, retried later.
    async fn lease(&self, name: &str) -> Result<(), IncidentError> {
        let wait = std::time::Duration::from_secs(30);
        Ok(self.store.lock(name, &self.instance, 120_000, wait).await?)
    }

    async fn declare_leased(
        &self,
        ctx: &RepoContext,
        new: NewDeclaration,
    ) -> Result<Declared, IncidentError> {
        let now = self.clock.now();
        let d = &new.declaration;
        let row = NewIncident {
            key: new.key.clone(),
            repo: ctx.repo.clone(),
            target_repo: ctx.target_repo(),
            severity: d.severity,
            component: d.component.clone(),
            title: d.title.clone(),
            summary: d.summary.clone(),
            impact: d.impact.clone(),
            started_at: d.started_at.clone(),
            links: d.links.clone(),
            declared_by: new.declared_by.clone(),
            declared_via: d.via,
            dedup_key: d.dedup_key.clone(),
            source_issue: new.source.clone(),
            created_at: now.timestamp_millis(),
            rca_due_at: crate::incident::render::view::rca_due_date(
                now.date_naive(),
                &ctx.runbook,
                d.severity,
            ),
            started_ms: d
                .started_at
                .as_deref()
                .and_then(|t| crate::incident::text::when::parse_started(t, now))
                .map(|t| t.timestamp_millis()),
            update_every_secs: ctx.runbook.severity(d.severity).update_every_secs(),
        };
        let (mut incident, created) = self.store.insert_or_get_incident(&row).await?;
        if created {
            metrics::counter!("responder_incidents_declared_total", "via" => d.via.as_str())
                .increment(1);
        }
        tracing::info!(incident = incident.id, key = %new.key, created, "declaration stored");
        // A row found (not created) may have issues from an attempt that died
        // before recording them: look for their markers before creating.
        self.complete(ctx, &mut incident, !created).await?;
        Ok(Declared { incident, created })
    }

    /// The incident's bug or RCA issue: found by its marker when an earlier attempt
    /// may have created it, else created; recorded either way.
    async fn ensure_issue(
        &self,
        ctx: &RepoContext,
        inc: &IncidentRecord,
        decl: &Declaration,
        which: IncidentIssue,
        may_exist: bool,
    ) -> Result<IssueLink, IncidentError> {
        let target = &inc.target_repo;
        let kind = which.as_str();
        let m = marker(inc.id, kind);
        let found = match may_exist {
            true => self.find_marked(ctx, target, &m).await?,
            false => None,
        };
        let link = match found {
            Some(l) => l,
            None => {
                let view = self.view(ctx, inc, decl, &m);
                let issue = match which {
                    IncidentIssue::Bug => NewIssue {
                        title: bug_title(decl.severity, &decl.title),
                        body: ctx.templates.render(TemplateKind::Bug, &view).await?,
                        labels: ctx
                            .config
                            .bug_labels(decl.severity, decl.component.as_deref()),
                        assignees: Vec::new(),
                    },
                    IncidentIssue::Rca => NewIssue {
                        title: rca_title(decl.severity, &decl.title),
                        body: ctx.templates.render(TemplateKind::Rca, &view).await?,
                        labels: ctx.config.rca_labels(decl.severity),
                        assignees: Vec::new(),
                    },
                };
                let created = self.github.create_issue(target, &issue).await?;
                to_link(created.number, created.html_url)
            }
        };
        self.store
            .record_incident_issue(inc.id, which, &link)
            .await?;
        tracing::info!(
            incident = inc.id,
            kind,
            issue = link.number.0,
            "incident issue recorded"
        );
        Ok(link)
    }

    /// Creates what is missing, in order: labels, bug, RCA, bug→RCA link, comment.
    async fn complete(
        &self,
        ctx: &RepoContext,
        inc: &mut IncidentRecord,
        may_exist: bool,
    ) -> Result<(), IncidentError> {
        let decl = declaration_of(inc)?;
        let target = inc.target_repo.clone();
        if inc.bug_issue.is_none() || inc.rca_issue.is_none() {
            self.ensure_labels(ctx, &target, &decl).await?;
        }
        if inc.bug_issue.is_none() {
            let link = self
                .ensure_issue(ctx, inc, &decl, IncidentIssue::Bug, may_exist)
                .await?;
            inc.bug_issue = Some(link);
        }
        if inc.rca_issue.is_none() {
            let link = self
                .ensure_issue(ctx, inc, &decl, IncidentIssue::Rca, may_exist)
                .await?;
            inc.rca_issue = Some(link);
        }
        if !inc.bug_linked
            && let Some(bug) = inc.bug_issue.clone()
        {
            // Re-rendering is deterministic, so repeating this edit changes nothing.
            let view = self.view(ctx, inc, &decl, &marker(inc.id, "bug"));
            let body = ctx.templates.render(TemplateKind::Bug, &view).await?;
            let update = IssueUpdate {
                body: Some(body),
                ..IssueUpdate::default()
            };
            self.github
                .update_issue(&target, bug.number, &update)
                .await?;
            self.store.mark_bug_linked(inc.id).await?;
            inc.bug_linked = true;
        }
        if !inc.comment_posted
            && let Some(src) = inc.source_issue.clone()
        {
            let m = marker(inc.id, "comment");
            let exists = may_exist && self.has_own_comment(&inc.repo, src.number, &m).await?;
            if !exists {
                let view = self.view(ctx, inc, &decl, &m);
                let body = ctx.templates.render(TemplateKind::Comment, &view).await?;
                self.github.comment(&inc.repo, src.number, &body).await?;
            }
            self.store.mark_comment_posted(inc.id).await?;
            inc.comment_posted = true;
        }
        Ok(())
    }

    /// The view of a stored incident, for the body carrying `marker`.
    fn view(
        &self,
        ctx: &RepoContext,
        inc: &IncidentRecord,
        decl: &Declaration,
        marker: &str,
    ) -> crate::incident::render::view::IncidentView {
        let r = |l: &Option<IssueLink>| {
            l.as_ref().map(|l| IssueRef {
                number: l.number.0,
                url: l.url.clone(),
            })
        };
        let mut view = decl.view(
            u64::try_from(inc.id).unwrap_or_default(),
            &inc.repo,
            &ctx.runbook,
            &inc.declared_by,
            millis(inc.created_at),
            r(&inc.source_issue),
            r(&inc.bug_issue),
            r(&inc.rca_issue),
            marker,
        );
        // The stored date is the one the reminders use: show no other.
        view.rca_due = inc.rca_due_at.clone();
        view.commander = inc.commander.clone();
        view
    }

    /// An issue in `repo` that Responder's App opened, labelled as an incident, whose
    /// body carries `marker`.
    async fn find_marked(
        &self,
        ctx: &RepoContext,
        repo: &RepoName,
        marker: &str,
    ) -> Result<Option<IssueLink>, IncidentError> {
        let issues = self.own_issues(repo, &ctx.config.labels.incident).await?;
        Ok(issues
            .into_iter()
            .find(|i| i.body.as_deref().is_some_and(|b| b.contains(marker)))
            .map(|i| to_link(i.number, i.html_url)))
    }

    /// The issues in `repo` labelled `label` that Responder's App opened (newest
    /// first, up to ten pages): where a retry looks for the marker of an issue an earlier
    /// attempt may have created. Anyone can copy a marker into an issue of their
    /// own: only the App's authorship makes it ours.
    async fn own_issues(
        &self,
        repo: &RepoName,
        label: &str,
    ) -> Result<Vec<crate::github::Issue>, IncidentError> {
        let issues = self.github.issues_with_label(repo, label).await?;
        let bot = self.github.bot_login().await?;
        Ok(issues.into_iter().filter(|i| i.opened_by(&bot)).collect())
    }

    /// Whether the App itself commented on `number` with `marker` (a comment of
    /// someone else's carrying it is theirs, and must not stop ours).
    pub(crate) async fn has_own_comment(
        &self,
        repo: &RepoName,
        number: IssueNumber,
        marker: &str,
    ) -> Result<bool, IncidentError> {
        let comments = self.github.comments(repo, number).await?;
        if !comments
            .iter()
            .any(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)))
        {
            return Ok(false); // the common case: no need to ask who we are
        }
        let bot = self.github.bot_login().await?;
        Ok(comments.iter().any(|c| {
            c.user.login.eq_ignore_ascii_case(&bot)
                && c.body.as_deref().is_some_and(|b| b.contains(marker))
        }))
    }

    /// Creates the labels the incident's issues carry, each with its colour, once
    /// per process and repository.
    async fn ensure_labels(
        &self,
        ctx: &RepoContext,
        repo: &RepoName,
        decl: &Declaration,
    ) -> Result<(), IncidentError> {
        let mut names = ctx
            .config
            .bug_labels(decl.severity, decl.component.as_deref());
        names.extend(ctx.config.rca_labels(decl.severity));
        self.ensure_label_names(ctx, repo, names).await
    }

    /// Creates the labels `names` in `repo`, each with its colour from the
    /// repository's label specs, once per process and repository.
    async fn ensure_label_names(
        &self,
        ctx: &RepoContext,
        repo: &RepoName,
        names: Vec<String>,
    ) -> Result<(), IncidentError> {
        let specs = ctx.config.label_specs(&ctx.runbook);
        for name in names {
            let key = (repo.clone(), name.clone());
            if self.labels_ensured.get(&key).is_some() {
                continue;
            }
            let (color, description) = specs
                .iter()
                .find(|s| s.name == name)
                .map(|s| (s.color.as_str(), s.description.as_str()))
                .unwrap_or(("ededed", ""));
            self.github
                .ensure_label(repo, &name, color, description)
                .await?;
            self.labels_ensured.insert(key, ());
        }
        Ok(())
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// The declaration a stored incident was made from (as it is now, after changes).
pub(crate) fn declaration_of(inc: &IncidentRecord) -> Result<Declaration, IncidentError> {
    Ok(Declaration {
        title: inc.title.clone(),
        severity: inc.severity,
        component: inc.component.clone(),
        summary: inc.summary.clone(),
        impact: inc.impact.clone(),
        started_at: inc.started_at.clone(),
        links: inc.links.clone(),
        via: inc.declared_via,
        dedup_key: inc.dedup_key.clone(),
    })
}

fn to_link(number: u64, url: String) -> IssueLink {
    IssueLink {
        number: IssueNumber(number),
        url,
    }
}
