//! Follow-ups: when an RCA is closed as completed, each open action item without
//! an issue becomes one issue (labelled follow-up and incident, assigned to its
//! owner, linking the RCA and the incident), and the RCA's line is rewritten to
//! link it; items that name an issue are tracked, never created.
//!
//! Exactly once, across redeliveries, retries, crashes and re-closes after edits:
//! an item is claimed in the store under its key before its issue is created and
//! the issue recorded as soon as GitHub answers; an item claimed earlier without an
//! issue (a crash, or a 502 after GitHub created it) is first looked for by its
//! hidden marker among the App's own follow-up issues. Must never open an issue for
//! an item that names one, nor write text into one that the sanitiser did not pass.

use std::collections::HashMap;

use super::closing::IssueClosed;
use super::{IncidentError, IncidentService, RepoContext, marker, to_link};
use crate::github::{Issue, IssueUpdate, NewIssue};
use crate::incident::model::{FollowUpOrigin, FollowUpState};
use crate::incident::text::action_items::{
    ActionItem, IssueRef, ItemKey, action_items, link_items,
};
use crate::incident::text::sanitize::sanitize_inline;
use crate::store::{FollowUp, IncidentRecord, IssueLink, NewFollowUp};
use crate::types::{IssueNumber, RepoName};

/// At most this many issues are opened per close: a pasted list of a thousand
/// lines must not flood the repository. The rest wait for the next close.
pub const MAX_PER_CLOSE: usize = 30;

/// What the follow-ups of one close did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowUpReport {
    /// Issues opened now (or found, opened by an attempt that died).
    pub opened: Vec<IssueNumber>,
    /// Of those, the ones GitHub would not assign to the named owner.
    pub unassigned: Vec<IssueNumber>,
    /// Items naming an issue, tracked for the first time.
    pub linked: usize,
    /// Items left for a later close by [`MAX_PER_CLOSE`].
    pub deferred: usize,
}

/// The hidden marker of the follow-up issue of item `key`.
fn follow_up_marker(incident: i64, key: &ItemKey) -> String {
    marker(incident, &format!("follow-up item={}", key.as_str()))
}

impl IncidentService {
    /// Opens, links and records the follow-ups of a completed RCA (`c`'s body).
    pub(super) async fn follow_ups(
        &self,
        inc: &IncidentRecord,
        c: &IssueClosed,
    ) -> Result<FollowUpReport, IncidentError> {
        let items = action_items(&c.body);
        if items.is_empty() {
            return Ok(FollowUpReport::default());
        }
        // Two instances handling a redelivery at once must not both create.
        let lease = format!("follow-ups:{}", inc.id);
        self.lease(&lease).await?;
        let result = self.follow_ups_leased(inc, c, &items).await;
        if let Err(e) = self.store.unlock(&lease, &self.instance).await {
            tracing::warn!(error = %e, "could not give the follow-up lease back; it expires by itself");
        }
        result
    }

    async fn follow_ups_leased(
        &self,
        inc: &IncidentRecord,
        c: &IssueClosed,
        items: &[ActionItem],
    ) -> Result<FollowUpReport, IncidentError> {
        let target = &inc.target_repo;
        let mut known: HashMap<ItemKey, FollowUp> = HashMap::new();
        for f in self.store.follow_ups(inc.id).await? {
            known.insert(f.key.clone(), f);
        }
        let mut report = FollowUpReport::default();
        // Item key → the reference its RCA line should carry.
        let mut refs: HashMap<ItemKey, String> = HashMap::new();
        let mut pending: Vec<(FollowUp, &ActionItem)> = Vec::new();
        let mut may_exist = false;
        for item in items {
            if let Some(f) = known.get(&item.key) {
                match (&item.issue, &f.issue) {
                    (None, Some((repo, link))) => {
                        refs.insert(item.key.clone(), reference(target, repo, link.number));
                    }
                    // Claimed by an attempt that died before recording its issue.
                    (None, None)
                        if !item.checked && !pending.iter().any(|(p, _)| p.key == f.key) =>
                    {
                        may_exist = true;
                        pending.push((f.clone(), item));
                    }
                    _ => {}
                }
                continue;
            }
            match &item.issue {
                Some(named) => {
                    report.linked += usize::from(self.link_named(inc, item, named).await?)
                }
                None if item.checked => {} // done, and no issue to track
                None if pending.len() >= MAX_PER_CLOSE => report.deferred += 1,
                None => {
                    let (row, fresh) = self
                        .store
                        .claim_follow_up(&new_row(inc, item, self.now().timestamp_millis()))
                        .await?;
                    may_exist |= !fresh;
                    known.insert(row.key.clone(), row.clone());
                    pending.push((row, item));
                }
            }
        }
        if !pending.is_empty() {
            let ctx = self.context(&inc.repo).await?;
            self.ensure_label_names(&ctx, target, ctx.config.follow_up_labels())
                .await?;
            let found = match may_exist {
                true => {
                    self.own_issues(target, &ctx.config.labels.follow_up)
                        .await?
                }
                false => Vec::new(),
            };
            for (row, item) in pending {
                let m = follow_up_marker(inc.id, &row.key);
                let earlier = found
                    .iter()
                    .find(|i| i.body.as_deref().is_some_and(|b| b.contains(&m)));
                let issue = match earlier {
                    Some(i) => i.clone(),
                    None => self.create_follow_up(&ctx, inc, item, &m).await?,
                };
                let assigned = !issue.assignees.is_empty();
                let link = to_link(issue.number, issue.html_url);
                self.store
                    .record_follow_up_issue(row.id, target, &link, assigned)
                    .await?;
                tracing::info!(
                    incident = inc.id,
                    issue = link.number.0,
                    assigned,
                    "follow-up issue recorded"
                );
                if item.owner.is_some() && !assigned {
                    report.unassigned.push(link.number);
                }
                report.opened.push(link.number);
                refs.insert(row.key.clone(), reference(target, target, link.number));
            }
        }
        self.editing_rca(inc.id, self.link_rca_lines(c, &refs))
            .await?;
        Ok(report)
    }

    /// Tracks an item that names its issue; false when GitHub does not know it
    /// (it stays in the RCA as written, untracked).
    async fn link_named(
        &self,
        inc: &IncidentRecord,
        item: &ActionItem,
        named: &IssueRef,
    ) -> Result<bool, IncidentError> {
        let repo = named
            .repo
            .clone()
            .unwrap_or_else(|| inc.target_repo.clone());
        let issue = match self.github.issue(&repo, named.number).await {
            Ok(i) => i,
            Err(e) if e.is_transient() => return Err(e.into()),
            Err(e) => {
                tracing::warn!(incident = inc.id, repo = %repo, issue = named.number.0, error = %e, "an action item names an issue that cannot be read; not tracked");
                return Ok(false);
            }
        };
        let state = match issue.state.as_str() {
            "closed" => FollowUpState::Closed,
            _ => FollowUpState::Open,
        };
        let mut row = new_row(inc, item, self.now().timestamp_millis());
        row.origin = FollowUpOrigin::Linked;
        row.state = state;
        row.issue = Some((repo, to_link(issue.number, issue.html_url)));
        let (_, fresh) = self.store.claim_follow_up(&row).await?;
        Ok(fresh)
    }

    /// Opens the item's issue, assigned to its owner; when GitHub refuses that
    /// assignee (no access to the repository) it opens it unassigned and says so
    /// in the body: the follow-up is never lost to an assignment.
    async fn create_follow_up(
        &self,
        ctx: &RepoContext,
        inc: &IncidentRecord,
        item: &ActionItem,
        marker: &str,
    ) -> Result<Issue, IncidentError> {
        let mut new = NewIssue {
            title: sanitize_inline(&format!("Follow-up: {}", shortened(&item.what, 180))),
            body: follow_up_body(inc, item, marker, Assignee::AsNamed),
            labels: ctx.config.follow_up_labels(),
            assignees: item.owner.iter().map(|o| o.to_string()).collect(),
        };
        match self.github.create_issue(&inc.target_repo, &new).await {
            Ok(issue) => Ok(issue),
            Err(e) if !new.assignees.is_empty() && e.is_invalid_field("assignees") => {
                tracing::info!(incident = inc.id, error = %e, "the owner cannot be assigned; opening the follow-up unassigned");
                new.assignees.clear();
                new.body = follow_up_body(inc, item, marker, Assignee::Refused);
                Ok(self.github.create_issue(&inc.target_repo, &new).await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes each follow-up's reference onto its line of the RCA, in the body as
    /// it is now (people may have edited it since the close); nothing else changes.
    async fn link_rca_lines(
        &self,
        c: &IssueClosed,
        refs: &HashMap<ItemKey, String>,
    ) -> Result<(), IncidentError> {
        if refs.is_empty() {
            return Ok(());
        }
        let now = self.github.issue(&c.repo, c.number).await?;
        let Some(body) = link_items(now.body.as_deref().unwrap_or(""), refs) else {
            return Ok(());
        };
        let update = IssueUpdate {
            body: Some(body),
            ..IssueUpdate::default()
        };
        self.github.update_issue(&c.repo, c.number, &update).await?;
        Ok(())
    }
}

fn new_row(inc: &IncidentRecord, item: &ActionItem, at: i64) -> NewFollowUp {
    NewFollowUp {
        incident_id: inc.id,
        key: item.key.clone(),
        title: item.what.clone(),
        owner: item.owner.clone(),
        origin: FollowUpOrigin::Created,
        issue: None,
        state: FollowUpState::Open,
        at,
    }
}

/// `#12` in the RCA's own repository, `owner/repo#12` elsewhere.
fn reference(rca_repo: &RepoName, repo: &RepoName, number: IssueNumber) -> String {
    match rca_repo == repo {
        true => format!("#{}", number.0),
        false => format!("{}#{}", repo.full(), number.0),
    }
}

fn shortened(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Whether the owner could be assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Assignee {
    AsNamed,
    Refused,
}

/// The follow-up's body: its marker first (so the issue handler knows the issue
/// as Responder's), the item, its owner, and links to the RCA and the incident.
/// The item's text and the incident's title are sanitised: they cannot ping.
fn follow_up_body(inc: &IncidentRecord, item: &ActionItem, marker: &str, a: Assignee) -> String {
    let url = |l: &Option<IssueLink>| l.as_ref().map(|l| l.url.clone()).unwrap_or_default();
    // A login is letters, digits and hyphens: without its `@` it pings no one.
    let owner = match (&item.owner, a) {
        (None, _) => "No owner was named in the RCA: assign someone.".to_string(),
        (Some(o), Assignee::AsNamed) => format!("Owner: **{o}** (assigned)."),
        (Some(o), Assignee::Refused) => format!(
            "Owner named in the RCA: **{o}**. GitHub would not assign them in {} (they may \
             have no access to it), so this issue is unassigned: give them access and \
             assign them, or assign someone else.",
            inc.target_repo.full()
        ),
    };
    format!(
        "{marker}\nA follow-up from the root cause analysis of incident {id} — {title}.\n\n\
         > {what}\n\n{owner}\n\n- RCA: {rca}\n- Incident: {bug}\n\n\
         Responder opened this issue when the RCA was closed as completed, and linked it \
         from the RCA's action items. Closing it marks the follow-up done in \
         `GET /v1/incidents`.\n",
        id = inc.id,
        title = sanitize_inline(&inc.title),
        what = sanitize_inline(&item.what),
        rca = url(&inc.rca_issue),
        bug = url(&inc.bug_issue),
    )
}
