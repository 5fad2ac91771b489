//! Alert notifications become incidents and follow them: a new group declares,
//! a repeat does nothing, a changed firing set is said once, a resolve mitigates
//! (or what `[alerts]` says), and firing again reopens within the window or
//! declares anew after it.
//!
//! Exactly once: the declaration is keyed by the group and its generation (the
//! store's unique key decides between two handlers, not timing); every timeline
//! entry is keyed by the delivery it came from, and every comment is posted once;
//! the group's firing set is written last, so a retry after a crash redoes only
//! what did not happen. Must never read HTTP or the payload's raw JSON.

use super::{Change, IncidentError, IncidentKey, IncidentService, NewDeclaration, RepoContext};
use crate::incident::alert::{self, AlertDelivery, MAX_ALERTS, Notification};
use crate::incident::config::OnResolved;
use crate::incident::model::{EventKind, IncidentStatus};
use crate::store::{AlertGroup, Effect, IncidentEvent, IncidentRecord};
use crate::types::RepoName;

/// One group's notification and what it was caused by.
struct GroupNote<'a> {
    repo: &'a RepoName,
    group: &'a str,
    n: &'a Notification,
    sender: &'a str,
    /// The key of what this notification records (its delivery and group).
    source: String,
}

impl IncidentService {
    /// Handles one stored alert notification (`delivery` is its inbox id).
    pub async fn handle_alert(
        &self,
        delivery: &str,
        d: &AlertDelivery,
    ) -> Result<(), IncidentError> {
        let repo: RepoName = d
            .repo
            .parse()
            .map_err(|e| IncidentError::User(format!("alert routed to {:?}: {e}", d.repo)))?;
        let ctx = self.context(&repo).await?;
        let target = ctx.target_repo();
        if !d.token_reaches(&target) {
            return Err(IncidentError::User(format!(
                "the runbook's target_repo {target} is not granted by the token that sent \
                 this alert: mint one for both repositories (incidents:write)"
            )));
        }
        let mut n = d.notification.clone();
        if n.alerts.len() > MAX_ALERTS {
            n.truncated_alerts += (n.alerts.len() - MAX_ALERTS) as u64;
            n.alerts.truncate(MAX_ALERTS);
        }
        for (i, (group, one)) in alert::groups(&n, ctx.config.alerts.group_by)
            .iter()
            .enumerate()
        {
            let note = GroupNote {
                repo: &repo,
                group,
                n: one,
                sender: &d.sender,
                source: format!("{delivery}:{i}"),
            };
            self.alert_group(&ctx, &note).await?;
        }
        Ok(())
    }

    async fn alert_group(&self, ctx: &RepoContext, g: &GroupNote<'_>) -> Result<(), IncidentError> {
        // One notification of a group at a time in this process (the worker already
        // orders a repository's deliveries); not the declaration's own key.
        let lock = IncidentKey::stored(format!("alert-group:{}:{}", g.repo.full(), g.group));
        let _guard = self.locks.lock(&lock).await;
        let row = self.store.alert_group(&g.repo.full(), g.group).await?;
        match (g.n.is_firing(), row) {
            (true, None) => self.alert_declare(ctx, g, 0).await,
            (
                true,
                Some(AlertGroup {
                    incident_id: None,
                    generation,
                    ..
                }),
            ) => self.alert_declare(ctx, g, generation).await,
            (true, Some(row)) => self.alert_fired_again(ctx, g, row).await,
            (false, Some(row)) => self.alert_resolved(ctx, g, row).await,
            // A group never seen firing (sent before Responder listened): nothing to follow.
            (false, None) => Ok(()),
        }
    }

    /// Declares generation `generation` of the group (claimed first, so a crash
    /// before the declaration is stored declares the same one again).
    async fn alert_declare(
        &self,
        ctx: &RepoContext,
        g: &GroupNote<'_>,
        generation: i64,
    ) -> Result<(), IncidentError> {
        let repo = g.repo.full();
        self.store
            .claim_alert_generation(&repo, g.group, generation)
            .await?;
        let new = NewDeclaration {
            key: IncidentKey::alert(g.repo, g.group, generation),
            declaration: alert::declaration(g.n, &ctx.runbook, &ctx.aliases),
            declared_by: g.sender.to_string(),
            source: None,
        };
        let declared = self.declare(ctx, new).await?;
        tracing::info!(incident = declared.incident.id, repo = %g.repo, group = g.group, generation, created = declared.created, "alert group declared");
        self.store
            .set_alert_group(
                &repo,
                g.group,
                generation,
                declared.incident.id,
                &alert::firing(g.n),
                None,
            )
            .await?;
        Ok(())
    }

    /// A firing notification of a followed group: a repeat, a changed set, or the
    /// group firing again after it resolved.
    async fn alert_fired_again(
        &self,
        ctx: &RepoContext,
        g: &GroupNote<'_>,
        row: AlertGroup,
    ) -> Result<(), IncidentError> {
        let Some(id) = row.incident_id else {
            return Ok(());
        };
        let now = self.now().timestamp_millis();
        let firing = alert::firing(g.n);
        let window_ms = ctx.config.alerts.reopen_window_secs * 1000;
        if let Some(resolved) = row.resolved_at
            && now - resolved > window_ms
        {
            return self.alert_declare(ctx, g, row.generation + 1).await;
        }
        let inc = self.reload(id).await?;
        if row.resolved_at.is_some() {
            let list = alert::list(
                &g.n.alerts
                    .iter()
                    .filter(|a| a.is_firing())
                    .collect::<Vec<_>>(),
                0,
            );
            let line = format!("{} alerts firing again", firing.len());
            self.alert_entry(&inc, EventKind::AlertFiring, g, &line, now)
                .await?;
            let bug = inc.bug_issue.clone();
            if inc.status == IncidentStatus::Open {
                if let Some(bug) = bug {
                    let text = format!("The alerts fire again:\n\n{list}");
                    self.reply_once(&inc.target_repo, bug.number, &g.source, &text)
                        .await?;
                }
            } else if let Some(bug) = bug {
                let source = format!("{}:reopen", g.source);
                self.change(
                    ctx,
                    &inc,
                    Change::Reopen,
                    g.sender,
                    &source,
                    (&inc.target_repo, bug.number),
                )
                .await?;
            }
        } else if firing != row.firing {
            let text = alert::change_text(&row.firing, &firing, g.n);
            let line = text.lines().next().unwrap_or_default().to_string();
            self.alert_entry(&inc, EventKind::AlertFiring, g, &line, now)
                .await?;
            if let Some(bug) = &inc.bug_issue {
                self.reply_once(&inc.target_repo, bug.number, &g.source, &text)
                    .await?;
            }
        } else {
            return Ok(()); // Alertmanager's repeat_interval: nothing new
        }
        self.store
            .set_alert_group(&g.repo.full(), g.group, row.generation, id, &firing, None)
            .await?;
        Ok(())
    }

    /// The group resolved: a timeline entry, then `[alerts] on_resolved`.
    async fn alert_resolved(
        &self,
        ctx: &RepoContext,
        g: &GroupNote<'_>,
        row: AlertGroup,
    ) -> Result<(), IncidentError> {
        let Some(id) = row.incident_id else {
            return Ok(());
        };
        if row.resolved_at.is_some() {
            return Ok(()); // a repeat of the resolve
        }
        let now = self.now().timestamp_millis();
        let inc = self.reload(id).await?;
        let line = format!("{} alerts resolved", g.n.alerts.len());
        self.alert_entry(&inc, EventKind::AlertResolved, g, &line, now)
            .await?;
        if let Some(bug) = inc.bug_issue.clone() {
            let reply_to = (&inc.target_repo, bug.number);
            let note = Some("the alerts resolved".to_string());
            let source = format!("{}:on_resolved", g.source);
            match ctx.config.alerts.on_resolved {
                OnResolved::Comment => {
                    let text = format!(
                        "The alerts resolved:\n\n{}",
                        alert::list(&g.n.alerts.iter().collect::<Vec<_>>(), 0)
                    );
                    self.reply_once(reply_to.0, reply_to.1, &g.source, &text)
                        .await?;
                }
                OnResolved::Mitigate if inc.status == IncidentStatus::Open => {
                    self.change(
                        ctx,
                        &inc,
                        Change::Mitigated { note },
                        g.sender,
                        &source,
                        reply_to,
                    )
                    .await?;
                }
                OnResolved::Resolve if inc.status != IncidentStatus::Resolved => {
                    self.change(
                        ctx,
                        &inc,
                        Change::Resolve { note },
                        g.sender,
                        &source,
                        reply_to,
                    )
                    .await?;
                }
                // Already as far as the config asks: a person got there first.
                OnResolved::Mitigate | OnResolved::Resolve => {}
            }
        }
        self.store
            .set_alert_group(&g.repo.full(), g.group, row.generation, id, &[], Some(now))
            .await?;
        Ok(())
    }

    /// A timeline entry of the group's notification, once per delivery.
    async fn alert_entry(
        &self,
        inc: &IncidentRecord,
        kind: EventKind,
        g: &GroupNote<'_>,
        line: &str,
        at: i64,
    ) -> Result<(), IncidentError> {
        let mut e = IncidentEvent::new(kind, g.sender, at, Some(format!("alert:{}", g.source)));
        e.text = Some(line.to_string());
        e.url = Some(g.n.external_url.clone()).filter(|u| u.starts_with("http"));
        self.store
            .record_incident_event(inc.id, &e, Effect::None)
            .await?;
        Ok(())
    }
}
