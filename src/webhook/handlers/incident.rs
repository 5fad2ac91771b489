//! Purpose: turn incident deliveries into declarations and changes — issues opened,
//! completed or labelled from the incident form (`issues.opened`, `issues.edited`,
//! `issues.labeled`), and
//! `/incident …` comments (`issue_comment.created`).
//!
//! Who may do what is decided here (bots ignored; commenters', form authors' and
//! labellers' permission checked);
//! what happens is `IncidentService`'s. User mistakes are answered once on the
//! issue and end the delivery; GitHub hiccups are retried by the worker. Must never
//! create issues itself.

use std::sync::Arc;

use async_trait::async_trait;

use super::{decode, fail, remember_installation, repo_of};
use crate::incident::model::declaration::Declaration;
use crate::incident::model::severity::{SeverityAliases, normalize_label};
use crate::incident::service::{
    Change, IncidentError, IncidentKey, IncidentService, NewDeclaration, is_responder_body,
};
use crate::incident::text::command::{Command, help_text, parse_command};
use crate::incident::text::form::parse_incident_form;
use crate::types::{IssueNumber, RepoName};
use crate::webhook::payloads::{IssueCommentEvent, IssuesEvent};
use crate::webhook::{Event, Handler, HandlerError};

/// Answers a user error once on the issue; anything else is handed back as it is.
async fn answer(
    incidents: &IncidentService,
    repo: &RepoName,
    issue: IssueNumber,
    about: &str,
    e: IncidentError,
) -> Result<(), HandlerError> {
    let text = match (&e, e.user_text()) {
        (_, Some(text)) => text,
        (IncidentError::GitHub(g), None) if !g.is_transient() => {
            format!("Responder could not finish the incident: {g}")
        }
        _ => return Err(fail(e)),
    };
    incidents
        .reply_once(repo, issue, about, &text)
        .await
        .map_err(fail)?;
    tracing::info!(repo = %repo, issue = issue.0, error = %e, "answered a declaration problem");
    match e.user_text() {
        // Deterministic: retrying the delivery would fail the same way.
        Some(_) => Ok(()),
        None => Err(fail(e)),
    }
}

/// `issues.opened` and `issues.labeled`: the incident form, or the incident label.
pub struct IncidentIssueHandler {
    pub incidents: Arc<IncidentService>,
}

#[async_trait]
impl Handler for IncidentIssueHandler {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        let p: IssuesEvent = decode(event)?;
        let repo = repo_of(event)?;
        let body = p.issue.body.as_deref().unwrap_or("");
        if is_responder_body(body) {
            return Ok(()); // our own bug or RCA issue
        }
        let labels: Vec<&str> = match (event.action.as_deref(), &p.label) {
            (Some("labeled"), Some(l)) => vec![l.name.as_str()],
            _ => p.issue.labels.iter().map(|l| l.name.as_str()).collect(),
        };
        if labels.is_empty() {
            return Ok(());
        }
        remember_installation(&self.incidents, event, &repo);
        let number = IssueNumber(p.issue.number);
        let key = IncidentKey::issue(&repo, number);
        let store = self.incidents.store();
        if let Some(inc) = store
            .incident_by_key(&key)
            .await
            .map_err(|e| fail(e.into()))?
            && inc.comment_posted
            && inc.bug_linked
        {
            return Ok(()); // done before: a redelivery, or opened + labeled
        }
        let ctx = match self.incidents.context(&repo).await {
            Ok(c) => c,
            Err(e) => return answer(&self.incidents, &repo, number, &key, e).await,
        };
        let incident_label = &ctx.config.labels.incident;
        if !labels.iter().any(|l| normalize_label(l) == *incident_label) {
            return Ok(());
        }
        let decl = parse_incident_form(body, &ctx.runbook, &ctx.aliases)
            .map_err(|problems| {
                let mut text = String::from(
                    "This issue is labelled as an incident, but its form is incomplete, so no incident was declared:\n\n",
                );
                for p in problems {
                    text.push_str(&format!("- **{}**: {}\n", p.field, p.message));
                }
                text.push_str(
                    "\nEdit the issue to complete the form and it is declared (or comment `/incident declare SEV2 <title>`).",
                );
                IncidentError::User(text)
            })
            .and_then(|form| {
                Declaration::from_form(form, &p.issue.title)
                    .map_err(|e| IncidentError::User(format!("No incident was declared: {e}.")))
            });
        // The declarer: who opened the form, or who labelled or completed it later.
        let declarer = match (event.action.as_deref(), &p.sender) {
            (Some("labeled" | "edited"), Some(sender)) => sender,
            _ => &p.issue.user,
        };
        let refusal = self
            .incidents
            .refusal(&ctx, &declarer.login, "declaring an incident needs")
            .await
            .map_err(fail)?;
        if let Some(refusal) = refusal {
            let mut text = format!(
                "{refusal} Someone with that permission can declare it: remove and add the \
                 incident label again, or comment `/incident declare SEV2 <title>`."
            );
            if declarer.is_bot() {
                text.push_str(
                    " Alerting tools declare through Responder's `POST /v1/incidents` with an \
                     agent token instead.",
                );
            }
            return answer(
                &self.incidents,
                &repo,
                number,
                &key,
                IncidentError::User(text),
            )
            .await;
        }
        let declaration = match decl {
            Ok(d) => d,
            Err(e) => return answer(&self.incidents, &repo, number, &key, e).await,
        };
        let new = NewDeclaration {
            key: key.clone(),
            declaration,
            declared_by: declarer.login.clone(),
            source: Some(p.issue.link()),
        };
        match self.incidents.declare(&ctx, new).await {
            Ok(d) => {
                tracing::info!(incident = d.incident.id, repo = %repo, issue = number.0, "incident declared by form");
                Ok(())
            }
            Err(e) => answer(&self.incidents, &repo, number, &key, e).await,
        }
    }
}

/// `issue_comment.created`: `/incident declare|severity|resolve|reopen|help`.
pub struct IncidentCommandHandler {
    pub incidents: Arc<IncidentService>,
}

#[async_trait]
impl Handler for IncidentCommandHandler {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        let p: IssueCommentEvent = decode(event)?;
        if p.comment.user.is_bot() {
            return Ok(());
        }
        let text = p.comment.body.as_deref().unwrap_or("");
        // Without a command line there is nothing to do (aliases only matter later).
        if !matches!(
            parse_command(text, &SeverityAliases::default()),
            Ok(Some(_)) | Err(_)
        ) {
            return Ok(());
        }
        let repo = repo_of(event)?;
        remember_installation(&self.incidents, event, &repo);
        let number = IssueNumber(p.issue.number);
        let key = IncidentKey::comment(&repo, p.comment.id);
        let inc = &self.incidents;
        let ctx = match inc.context(&repo).await {
            Ok(c) => c,
            Err(e) => return answer(inc, &repo, number, &key, e).await,
        };
        let command = match parse_command(text, &ctx.aliases) {
            Ok(Some(c)) => Ok(c),
            Ok(None) => return Ok(()),
            Err(e) => Err(e.to_string()),
        };
        let login = &p.comment.user.login;
        let refusal = inc
            .refusal(&ctx, login, "`/incident` commands need")
            .await
            .map_err(fail)?;
        if let Some(refusal) = refusal {
            return answer(inc, &repo, number, &key, IncidentError::User(refusal)).await;
        }
        let command = match command {
            Ok(c) => c,
            Err(msg) => return answer(inc, &repo, number, &key, IncidentError::User(msg)).await,
        };
        let change = match command {
            Command::Help => {
                return inc
                    .reply_once(&repo, number, &key, help_text())
                    .await
                    .map(|_| ())
                    .map_err(fail);
            }
            Command::Declare {
                severity,
                title,
                component,
            } => {
                let summary = command_summary(text, p.issue.number, &p.issue.title);
                let declaration = match Declaration::from_command(
                    severity,
                    &title,
                    component.as_deref(),
                    &summary,
                    &ctx.runbook,
                ) {
                    Ok(d) => d,
                    Err(e) => {
                        let msg = format!("No incident was declared: {e}.");
                        return answer(inc, &repo, number, &key, IncidentError::User(msg)).await;
                    }
                };
                let new = NewDeclaration {
                    key: key.clone(),
                    declaration,
                    declared_by: login.clone(),
                    source: Some(p.issue.link()),
                };
                return match inc.declare(&ctx, new).await {
                    Ok(d) => {
                        tracing::info!(incident = d.incident.id, repo = %repo, issue = number.0, "incident declared by command");
                        Ok(())
                    }
                    Err(e) => answer(inc, &repo, number, &key, e).await,
                };
            }
            Command::Severity(s) => Some(Change::Severity(s)),
            Command::Resolve { note } => Some(Change::Resolve { note }),
            Command::Reopen => Some(Change::Reopen),
            Command::Commander(login) => Some(Change::Commander(login)),
            Command::Update(text) => Some(Change::Update(text)),
            Command::Note { text, at } => {
                let now = inc.now();
                let at = at.map_or(now, |w| w.resolve(now)).timestamp_millis();
                Some(Change::Note { text, at })
            }
            Command::Mitigated { note } => Some(Change::Mitigated { note }),
            Command::Timeline => None,
        };
        let store = inc.store();
        let Some(incident) = store
            .incident_for_issue(&repo, number)
            .await
            .map_err(|e| fail(e.into()))?
        else {
            let msg = "No incident belongs to this issue. Comment here on the declaring, bug or RCA issue of an incident, or declare one with `/incident declare SEV2 <title>`.";
            return answer(inc, &repo, number, &key, IncidentError::User(msg.into())).await;
        };
        let Some(change) = change else {
            return inc
                .answer_timeline(&incident, (&repo, number), &key)
                .await
                .map_err(fail);
        };
        // Render with the incident's own repository's runbook and templates.
        let own = if incident.repo == repo {
            ctx
        } else {
            match inc.context(&incident.repo).await {
                Ok(c) => c,
                Err(e) => return answer(inc, &repo, number, &key, e).await,
            }
        };
        match inc
            .change(&own, &incident, change, login, &key, (&repo, number))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => answer(inc, &repo, number, &key, e).await,
        }
    }
}

/// The summary of a command declaration: the comment's other lines, or where it
/// was declared.
fn command_summary(comment: &str, issue: u64, issue_title: &str) -> String {
    let rest: Vec<&str> = comment
        .lines()
        .filter(|l| !l.trim_start().starts_with("/incident"))
        .collect();
    let rest = rest.join("\n").trim().to_string();
    let origin = format!("Declared in a comment on #{issue}: {issue_title}");
    if rest.is_empty() {
        origin
    } else {
        format!("{rest}\n\n{origin}")
    }
}
