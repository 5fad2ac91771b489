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

mod closing;
mod context;
mod lifecycle;
mod locks;
mod postmortem;
mod reminders;
mod replies;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

pub use crate::clock::millis;
pub use closing::{Closed, IssueClosed};
pub use context::RepoContext;
pub use lifecycle::Change;
pub use postmortem::{RcaOutcome, rca_branch};
pub use reminders::{RcaReminders, ReminderReport};

use super::declaration::{Declaration, DeclaredVia};
use super::render::{IssueRef, RenderError, builtin_templates};
use super::runbook::Runbook;
use super::severity::Severity;
use super::view::{bug_title, rca_title};
use crate::clock::Clock;
use crate::github::{GitHub, GitHubError, IssueUpdate, NewIssue};
use crate::store::{IncidentIssue, IncidentRecord, IssueLink, NewIncident, Store, StoreError};
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
    /// From [`issue_key`], [`comment_key`] or [`api_key`]: the same key never opens
    /// a second incident.
    pub key: String,
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

/// The key of a declaration by issue form.
pub fn issue_key(repo: &RepoName, issue: IssueNumber) -> String {
    format!("issue:{}#{}", repo.full(), issue.0)
}

/// The key of a declaration by `/incident declare` comment.
pub fn comment_key(repo: &RepoName, comment_id: u64) -> String {
    format!("comment:{}:{comment_id}", repo.full())
}

/// The key of an API declaration with a `dedup_key`.
pub fn api_key(repo: &RepoName, dedup_key: &str) -> String {
    format!("api:{}:{dedup_key}", repo.full())
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
    default_templates: HashMap<String, String>,
    locks: locks::KeyLocks,
    /// Names this process in store leases.
    instance: String,
    /// Labels known to exist, per repository: created at most once per process.
    labels_ensured: Mutex<HashSet<(RepoName, String)>>,
}

impl IncidentService {
    /// With the built-in runbook and templates.
    pub fn new(github: Arc<dyn GitHub>, store: Store, clock: Arc<dyn Clock>) -> Self {
        Self::with_defaults(
            github,
            store,
            clock,
            Runbook::builtin(),
            builtin_templates(),
        )
    }

    /// With other defaults (a repository's overrides still apply on top).
    pub fn with_defaults(
        github: Arc<dyn GitHub>,
        store: Store,
        clock: Arc<dyn Clock>,
        default_runbook: Runbook,
        default_templates: HashMap<String, String>,
    ) -> Self {
        Self {
            github,
            store,
            clock,
            default_runbook,
            default_templates,
            locks: locks::KeyLocks::default(),
            instance: uuid::Uuid::new_v4().to_string(),
            labels_ensured: Mutex::new(HashSet::new()),
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
    /// under its `min_permission`: `None` when they may. Asks GitHub every time, so
    /// a revoked collaborator is refused at once.
    pub async fn refusal(
        &self,
        ctx: &RepoContext,
        login: &str,
        what: &str,
    ) -> Result<Option<String>, IncidentError> {
        let role = match self.github.permission(&ctx.repo, login).await {
            Ok(p) => p.as_str(),
            // GitHub knows no such user (an App's `name[bot]`, a deleted account).
            Err(GitHubError::NotFound { .. }) => "none",
            Err(e) => return Err(e.into()),
        };
        let min = ctx.config.min_permission;
        Ok((!min.allows(role)).then(|| {
            format!(
                "Sorry, {what} {} permission on {}, and {login} has {role}. Nothing was changed.",
                min.as_str(),
                ctx.repo
            )
        }))
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
            severity: d.severity.as_str().to_string(),
            component: d.component.clone(),
            title: d.title.clone(),
            summary: d.summary.clone(),
            impact: d.impact.clone(),
            started_at: d.started_at.clone(),
            links: d.links.clone(),
            declared_by: new.declared_by.clone(),
            declared_via: via_str(d.via).to_string(),
            dedup_key: d.dedup_key.clone(),
            source_issue: new.source.clone(),
            created_at: now.timestamp_millis(),
            rca_due_at: super::view::rca_due_date(now.date_naive(), &ctx.runbook, d.severity),
        };
        let (mut incident, created) = self.store.insert_or_get_incident(&row).await?;
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
        let kind = match which {
            IncidentIssue::Bug => "bug",
            IncidentIssue::Rca => "rca",
        };
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
                        body: ctx.renderer.render_bug(&view)?,
                        labels: ctx
                            .config
                            .bug_labels(decl.severity, decl.component.as_deref()),
                        assignees: Vec::new(),
                    },
                    IncidentIssue::Rca => NewIssue {
                        title: rca_title(decl.severity, &decl.title),
                        body: ctx.renderer.render_rca(&view)?,
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
            let body =
                ctx.renderer
                    .render_bug(&self.view(ctx, inc, &decl, &marker(inc.id, "bug")))?;
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
            let exists = may_exist
                && self
                    .github
                    .comments(&inc.repo, src.number)
                    .await?
                    .iter()
                    .any(|c| c.body.as_deref().is_some_and(|b| b.contains(&m)));
            if !exists {
                let body = ctx
                    .renderer
                    .render_comment(&self.view(ctx, inc, &decl, &m))?;
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
    ) -> super::view::IncidentView {
        let r = |l: &Option<IssueLink>| {
            l.as_ref().map(|l| IssueRef {
                number: l.number.0,
                url: l.url.clone(),
            })
        };
        decl.view(
            u64::try_from(inc.id).unwrap_or_default(),
            &inc.repo,
            &ctx.runbook,
            &inc.declared_by,
            millis(inc.created_at),
            r(&inc.source_issue),
            r(&inc.bug_issue),
            r(&inc.rca_issue),
            marker,
        )
    }

    /// An issue in `repo` labelled as an incident whose body carries `marker`.
    async fn find_marked(
        &self,
        ctx: &RepoContext,
        repo: &RepoName,
        marker: &str,
    ) -> Result<Option<IssueLink>, IncidentError> {
        let issues = self
            .github
            .issues_with_label(repo, &ctx.config.labels.incident)
            .await?;
        Ok(issues
            .into_iter()
            .find(|i| i.body.as_deref().is_some_and(|b| b.contains(marker)))
            .map(|i| to_link(i.number, i.html_url)))
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
        let specs = ctx.config.label_specs(&ctx.runbook);
        for name in names {
            let key = (repo.clone(), name.clone());
            if self.labels_ensured.lock().unwrap().contains(&key) {
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
            self.labels_ensured.lock().unwrap().insert(key);
        }
        Ok(())
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// The declaration a stored incident was made from (as it is now, after changes).
pub(crate) fn declaration_of(inc: &IncidentRecord) -> Result<Declaration, IncidentError> {
    let severity: Severity = inc.severity.parse().map_err(|e| {
        IncidentError::User(format!(
            "incident {} has an unknown stored severity: {e}",
            inc.id
        ))
    })?;
    Ok(Declaration {
        title: inc.title.clone(),
        severity,
        component: inc.component.clone(),
        summary: inc.summary.clone(),
        impact: inc.impact.clone(),
        started_at: inc.started_at.clone(),
        links: inc.links.clone(),
        via: match inc.declared_via.as_str() {
            "form" => DeclaredVia::IssueForm,
            "command" => DeclaredVia::Command,
            _ => DeclaredVia::Api,
        },
        dedup_key: inc.dedup_key.clone(),
    })
}

fn via_str(via: DeclaredVia) -> &'static str {
    match via {
        DeclaredVia::IssueForm => "form",
        DeclaredVia::Command => "command",
        DeclaredVia::Api => "api",
    }
}

fn to_link(number: u64, url: String) -> IssueLink {
    IssueLink {
        number: IssueNumber(number),
        url,
    }
}
