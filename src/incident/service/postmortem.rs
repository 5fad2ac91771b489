//! The post-mortem loop: a finished RCA feeds the runbook and opens its follow-ups.
//!
//! When an RCA issue is closed as completed its body is read back. Required
//! sections still empty → one comment naming them, nothing else. Its open action
//! items become follow-up issues (`followups.rs`); then new commands or
//! checklist items in its "Runbook updates" block → one pull request on the
//! incident's repository adding them to `.github/responder/runbook.toml` (branch
//! `responder/rca-<number>`; a later close commits to the same branch). Every
//! comment is posted once per close, so redeliveries add nothing. Must never commit
//! a runbook that `Runbook::parse` would refuse, nor write to the default branch.

use super::closing::IssueClosed;
use super::{IncidentError, IncidentService, marker, millis};
use crate::github::GitHubError;
use crate::github::proposal::{Proposal, propose};
use crate::incident::config::RUNBOOK_OVERRIDE_PATH;
use crate::incident::runbook::edit::add_to_file;
use crate::incident::runbook::{DEFAULT_RUNBOOK, MergeReport, Runbook, RunbookUpdates};
use crate::incident::text::rca::RcaSections;
use crate::incident::text::sanitize::sanitize_inline;
use crate::store::IncidentRecord;

/// What closing an RCA as completed did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcaOutcome {
    /// Required sections empty: asked for them, nothing else.
    Incomplete(Vec<&'static str>),
    /// The Runbook updates block could not be read: said why.
    BadUpdates,
    /// Complete; it proposed nothing new for the runbook.
    Complete,
    /// Complete, but GitHub refused the pull request (a missing App permission):
    /// said so on the RCA.
    Refused(String),
    /// Complete; its runbook updates are in this pull request.
    RunbookPull { number: u64, url: String },
}

/// The branch of an RCA's runbook pull request.
pub fn rca_branch(rca_number: u64) -> String {
    format!("responder/rca-{rca_number}")
}

impl IncidentService {
    /// `first`: this is the first time the RCA was recorded closed.
    pub(super) async fn rca_completed(
        &self,
        inc: &IncidentRecord,
        c: &IssueClosed,
        first: bool,
    ) -> Result<RcaOutcome, IncidentError> {
        let key = c.key();
        let rca = RcaSections::parse(&c.body);
        let missing = rca.missing_required();
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(|m| format!("**{m}**")).collect();
            let text = format!(
                "This RCA was closed, but these required sections are still empty: {}. \
                 Fill them in, then reopen and close the issue as completed; nothing else \
                 was done.",
                list.join(", ")
            );
            self.post_once(&c.repo, c.number, &key, &text).await?;
            return Ok(RcaOutcome::Incomplete(missing));
        }
        if first {
            let secs = (self.now().timestamp_millis() - inc.created_at).max(0) as f64 / 1000.0;
            metrics::histogram!("responder_incident_time_to_rca_seconds", "severity" => inc.severity.as_str())
                .record(secs);
        }
        // Both the follow-ups and the runbook proposal are tried whatever the other
        // did, and each is exactly once on its own: a retry after either one's
        // failure repeats nothing the other already did.
        let follow_ups = self.follow_ups(inc, c).await;
        let outcome = self.runbook_proposal(inc, c, &rca).await;
        self.settle_follow_ups(inc, c, follow_ups).await?;
        outcome
    }

    /// A transient failure of the follow-ups fails the delivery (the worker
    /// retries it); any other is said once on the RCA, since retrying cannot help.
    async fn settle_follow_ups(
        &self,
        inc: &IncidentRecord,
        c: &IssueClosed,
        result: Result<super::FollowUpReport, IncidentError>,
    ) -> Result<(), IncidentError> {
        match result {
            Ok(report) => {
                if report != super::FollowUpReport::default() {
                    tracing::info!(incident = inc.id, report = ?report, "follow-ups of the RCA");
                }
                if report.deferred > 0 {
                    let text = format!(
                        "This RCA has more open action items than Responder opens issues for                          at once ({}); {} of them got no issue yet. Reopen and close this                          issue as completed to open the next ones.",
                        super::followups::MAX_PER_CLOSE,
                        report.deferred
                    );
                    self.post_once(&c.repo, c.number, &c.key(), &text).await?;
                }
                Ok(())
            }
            Err(e) if e.is_transient() => Err(e),
            Err(e) => {
                let text = format!(
                    "The RCA is complete, but its action items could not all be opened as                      follow-up issues: {}. Fix that, then reopen and close this issue as                      completed; items that have an issue already get no second one.",
                    sanitize_inline(&e.to_string())
                );
                self.post_once(&c.repo, c.number, &c.key(), &text).await?;
                Ok(())
            }
        }
    }

    /// The runbook part of a complete RCA: its Runbook updates block as a pull request.
    async fn runbook_proposal(
        &self,
        inc: &IncidentRecord,
        c: &IssueClosed,
        rca: &RcaSections,
    ) -> Result<RcaOutcome, IncidentError> {
        let key = c.key();
        if let Some(e) = &rca.runbook_updates_error {
            let text = format!(
                "The RCA is complete, but its Runbook updates block could not be read, so \
                 no runbook change was proposed: {}",
                sanitize_inline(e)
            );
            self.post_once(&c.repo, c.number, &key, &text).await?;
            return Ok(RcaOutcome::BadUpdates);
        }
        let Some(updates) = &rca.runbook_updates else {
            return Ok(RcaOutcome::Complete);
        };
        self.runbook_pull(inc, c, updates).await
    }

    async fn runbook_pull(
        &self,
        inc: &IncidentRecord,
        c: &IssueClosed,
        updates: &RunbookUpdates,
    ) -> Result<RcaOutcome, IncidentError> {
        let key = c.key();
        // The runbook the incident's repository uses: its own file, or the default.
        let repo = &inc.repo;
        let (mut runbook, base) = match self.github.file(repo, RUNBOOK_OVERRIDE_PATH, None).await? {
            Some(f) => {
                let rb = Runbook::parse(&f.text).map_err(|e| {
                    IncidentError::User(format!("`{RUNBOOK_OVERRIDE_PATH}` of {repo}: {e}"))
                })?;
                (rb, f.text)
            }
            None => (
                self.default_runbook.clone(),
                format!("{NEW_FILE_HEADER}{DEFAULT_RUNBOOK}"),
            ),
        };
        let report = runbook.merge_updates(updates);
        if !report.changed() {
            let text = format!(
                "The RCA is complete. Its Runbook updates add nothing new to the runbook of \
                 {repo}, so no pull request was opened.{}",
                report_lines(&report, false)
            );
            self.post_once(&c.repo, c.number, &key, &text).await?;
            return Ok(RcaOutcome::Complete);
        }
        let text = runbook_file(&base, &runbook, &report)?;
        let rca = inc
            .rca_issue
            .clone()
            .unwrap_or_else(|| crate::store::IssueLink {
                number: c.number,
                url: String::new(),
            });
        let proposal = Proposal {
            branch: rca_branch(rca.number.0),
            files: vec![(RUNBOOK_OVERRIDE_PATH.to_string(), text)],
            commit_message: format!(
                "runbook: updates from RCA {}#{} (incident {})",
                inc.target_repo.full(),
                rca.number.0,
                inc.id
            ),
            title: sanitize_inline(&format!(
                "Runbook updates from the RCA of incident {}: {}",
                inc.id, inc.title
            )),
            body: pull_body(inc, &rca.url, &report),
        };
        let done = match propose(self.github.as_ref(), repo, &proposal).await {
            Ok(done) => done,
            Err(e @ GitHubError::Forbidden { .. }) => {
                // Retrying cannot help until someone grants the App more: say so
                // where the RCA's author looks, once, and leave the delivery done.
                let text = format!(
                    "The RCA is complete, but its runbook pull request could not be opened: \
                     {}. Grant the App that permission (the App's settings → Permissions, \
                     then accept it on the installation), then reopen and close this issue \
                     as completed.",
                    sanitize_inline(&e.to_string())
                );
                self.post_once(&c.repo, c.number, &key, &text).await?;
                return Ok(RcaOutcome::Refused(e.to_string()));
            }
            Err(e) => return Err(e.into()),
        };
        self.store
            .record_runbook_pr(inc.id, done.pull.number, &done.pull.html_url)
            .await?;
        tracing::info!(incident = inc.id, pr = done.pull.number, opened = done.opened, committed = ?done.committed, "runbook pull request proposed");
        let text = format!(
            "Thanks for the RCA. Its runbook updates are proposed in {}#{} ({}).{}",
            repo.full(),
            done.pull.number,
            done.pull.html_url,
            report_lines(&report, true)
        );
        self.post_once(&c.repo, c.number, &key, &text).await?;
        Ok(RcaOutcome::RunbookPull {
            number: done.pull.number,
            url: done.pull.html_url,
        })
    }
}

/// Heads the runbook file when an RCA creates it from the built-in default.
const NEW_FILE_HEADER: &str = "# This repository's runbook, created by Responder from its default when an RCA\n\
# first proposed additions. Edit it freely: RCA pull requests add to it and keep\n\
# your comments and layout.\n#\n";

/// The runbook file as committed: `base` with the additions written in place, or,
/// when `base` is laid out in a way that cannot be edited, the whole merged
/// runbook rewritten. Either way it must parse back to `merged`.
fn runbook_file(
    base: &str,
    merged: &Runbook,
    report: &MergeReport,
) -> Result<String, IncidentError> {
    let reads_back = |text: &str| matches!(Runbook::parse(text), Ok(back) if back.validate().is_empty() && &back == merged);
    match add_to_file(base, merged, report) {
        Ok(text) if reads_back(&text) => return Ok(text),
        Ok(_) => tracing::warn!(
            "the runbook edited in place did not read back the same; rewriting it whole"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "could not edit the runbook in place; rewriting it whole")
        }
    }
    let text = format!(
        "# Responder's runbook for this repository (checked by `responder check`).\n\
         # Rewritten whole from an RCA: the file's layout could not take the additions in\n\
         # place, so its comments are not kept.\n\n{}",
        merged.to_toml_string()
    );
    if reads_back(&text) {
        return Ok(text);
    }
    match Runbook::parse(&text) {
        Ok(_) => Err(IncidentError::User(
            "the updated runbook did not read back the same; no pull request was opened".into(),
        )),
        Err(e) => Err(IncidentError::User(format!(
            "the updated runbook would not be valid ({e}); no pull request was opened"
        ))),
    }
}

fn code(s: &str) -> String {
    format!("`{}`", sanitize_inline(s).replace('`', "'"))
}

/// The added, skipped and rejected entries as Markdown list lines.
fn report_lines(r: &MergeReport, with_added: bool) -> String {
    let mut out = String::new();
    if with_added {
        for (component, command) in &r.added_commands {
            out.push_str(&format!("\n- adds to `{component}`: {}", code(command)));
        }
        for (s, item) in &r.added_checklist {
            out.push_str(&format!("\n- adds to the {s} checklist: {}", code(item)));
        }
    }
    for s in &r.skipped {
        out.push_str(&format!("\n- already in the runbook: {}", code(s)));
    }
    for s in &r.rejected {
        out.push_str(&format!("\n- not applied: {}", sanitize_inline(s)));
    }
    out
}

fn pull_body(inc: &IncidentRecord, rca_url: &str, r: &MergeReport) -> String {
    let bug = inc
        .bug_issue
        .as_ref()
        .map(|b| format!(" (bug issue: {})", b.url))
        .unwrap_or_default();
    format!(
        "{}\nThe RCA {rca_url} of incident {} — {}{bug}, declared {} — proposes these runbook \
         updates:\n{}\n\nMerging this changes `{RUNBOOK_OVERRIDE_PATH}`, which Responder reads \
         from the default branch for every new incident; `responder check --repo-config .` \
         validates it. Closing the RCA again after editing its Runbook updates adds a commit \
         here.",
        marker(inc.id, "runbook-pr"),
        inc.id,
        sanitize_inline(&inc.title),
        millis(inc.created_at).format("%Y-%m-%d %H:%M UTC"),
        report_lines(r, true),
    )
}
