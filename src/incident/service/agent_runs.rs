//! Agent runs reported to `POST /v1/agent-runs`: classified by the repository's
//! runbook rules, stored, counted, and a spike of infra_error runs declared as one
//! incident per repository and agent, followed by timeline entries while it is open.
//!
//! Exactly once: a run is stored under its `run_id` before anything else, so a
//! repeat (or a concurrent twin) answers the stored verdict; a spike's declaration
//! is keyed by the agent and a generation claimed in the store first (two requests
//! tipping the same spike declare the same key: the store's unique key decides, not
//! timing); a timeline entry is written by whoever claims the agent's next slot
//! (`[detection] update_every` after the last) in one conditional update. A declaration that fails (GitHub down) is said in the answer and
//! tried again by the next infra_error run of the agent, or a repeat of this one.
//! Must never read HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use super::{IncidentError, IncidentKey, IncidentService, NewDeclaration, RepoContext};
use crate::agent_token::Agent;
use crate::incident::agent_runs::{Spike, declaration, entry_text};
use crate::incident::model::{EventKind, IncidentStatus};
use crate::recent::Recent;
use crate::runs::detection::{Detection, WindowCounts};
use crate::runs::{Classification, RuleSet, Verdict, classify};
use crate::store::{AgentRunSpike, Effect, IncidentEvent, IncidentRecord, NewAgentRun, Store};
use crate::types::RepoName;

/// The scope that reports runs (and so may have a spike declared).
pub const RUNS_SCOPE: &str = "runs:write";
/// How often stored runs past their retention are deleted, at most.
const PRUNE_EVERY_MS: i64 = 60_000;
/// How long a repository's config and runbook are used for runs before GitHub is
/// asked again: a busy evaluation reports many runs a second, and each would
/// otherwise wait for a (conditional) GitHub request.
const CONTEXT_TTL: Duration = Duration::from_secs(30);
/// The longest agent label on `/metrics` (names are the reporter's: keep series short).
const METRIC_AGENT: usize = 64;

/// One run as reported, validated by the edge.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub repo: RepoName,
    pub run_id: String,
    /// As reported; counted lowercased.
    pub agent: String,
    /// `None`: killed by a signal.
    pub exit_code: Option<i32>,
    pub output: String,
    pub duration_ms: Option<u64>,
    /// The agent token that reported it: its subject declares, and a runbook's
    /// `target_repo` must be granted by it too.
    pub reporter: Agent,
}

/// What the route answers.
#[derive(Debug, Clone)]
pub struct RunAnswer {
    pub classification: Classification,
    /// The incident following this agent's spike, when this run counts towards it.
    pub incident: Option<IncidentRecord>,
    /// Why the incident this run tipped could not be declared (it is tried again).
    pub incident_error: Option<String>,
    /// Whether the `run_id` was stored before: the stored verdict is answered.
    pub repeat: bool,
}

/// The agent-run checks; one per service.
pub struct AgentRuns {
    incidents: Arc<IncidentService>,
    /// How long runs are kept (and counted).
    retention: Duration,
    /// When this process last wrote (or saw written) each agent's timeline entry:
    /// most runs of an open incident then cost no store write.
    last_entry: Recent<String, i64>,
    last_prune: AtomicI64,
    /// Each repository's context and rules, for [`CONTEXT_TTL`].
    contexts: Recent<RepoName, Arc<RunContext>>,
}

/// What runs of one repository are judged with: its context (config, runbook) and
/// the runbook's output rules, compiled once per read rather than once per run.
struct RunContext {
    ctx: RepoContext,
    rules: Arc<RuleSet>,
}

impl AgentRuns {
    pub fn new(incidents: Arc<IncidentService>, retention: Duration) -> Self {
        Self {
            incidents,
            retention,
            last_entry: Recent::new(10_000, Some(Duration::from_secs(86_400))),
            last_prune: AtomicI64::new(0),
            contexts: Recent::new(1_000, Some(CONTEXT_TTL)),
        }
    }

    fn store(&self) -> &Store {
        self.incidents.store()
    }

    /// Classifies, stores and counts one run; a repeat of its `run_id` answers the
    /// stored verdict.
    pub async fn report(&self, mut r: RunReport) -> Result<RunAnswer, IncidentError> {
        let repo = r.repo.full();
        let agent = r.agent.to_lowercase();
        if let Some(stored) = self.store().agent_run(&repo, &r.run_id).await? {
            return self.repeat(&r, &agent, stored).await;
        }
        let run = self.context(&r.repo).await?;
        let rules = run.rules.clone();
        // Moved, not copied: it may be a MiB, and only the classifier reads it.
        let output = std::mem::take(&mut r.output);
        let (name, exit) = (r.agent.clone(), r.exit_code);
        // Linear in the output (at most 1 MiB), but not free: off the async threads.
        let c = tokio::task::spawn_blocking(move || {
            classify(&rules, Some(&name), exit, output.as_bytes())
        })
        .await
        .map_err(|e| IncidentError::User(format!("the classifier failed: {e}")))?;
        let now = self.incidents.now().timestamp_millis();
        let new = NewAgentRun {
            repo: repo.clone(),
            run_id: r.run_id.clone(),
            agent: agent.clone(),
            verdict: c.verdict.as_str().to_string(),
            exit_code: r.exit_code.map(i64::from),
            duration_ms: r.duration_ms.and_then(|d| i64::try_from(d).ok()),
            classification: serde_json::to_string(&c).expect("a classification serialises"),
            received_at: now,
        };
        if !self.store().insert_agent_run(&new).await? {
            // A twin of this request stored it first: answer what it stored.
            let stored = self.store().agent_run(&repo, &r.run_id).await?;
            if let Some(stored) = stored {
                return self.repeat(&r, &agent, stored).await;
            }
        }
        metrics::counter!(
            "responder_agent_runs_total",
            "verdict" => c.verdict.as_str(),
            "agent" => crate::incident::alert::cut(&agent, METRIC_AGENT),
        )
        .increment(1);
        tracing::info!(repo = %r.repo, agent = %agent, run = %r.run_id, verdict = %c.verdict, "agent run classified");
        self.prune(now).await;
        let (incident, incident_error) = match c.verdict {
            Verdict::InfraError => self.follow(&run.ctx, &r, &agent, now).await,
            _ => (None, None),
        };
        Ok(RunAnswer {
            classification: c,
            incident,
            incident_error,
            repeat: false,
        })
    }

    /// The stored verdict; an infra_error run whose spike was not declared (the
    /// declaration failed) tries again.
    async fn repeat(
        &self,
        r: &RunReport,
        agent: &str,
        stored: crate::store::StoredAgentRun,
    ) -> Result<RunAnswer, IncidentError> {
        let classification: Classification =
            serde_json::from_str(&stored.classification).map_err(|e| {
                IncidentError::Store(crate::store::StoreError::NotFound(format!(
                    "the stored verdict of run {:?} does not decode: {e}",
                    r.run_id
                )))
            })?;
        let (incident, incident_error) = match stored.incident_id {
            Some(id) => (Some(self.incidents.reload(id).await?), None),
            None if classification.verdict == Verdict::InfraError => {
                let run = self.context(&r.repo).await?;
                self.follow(&run.ctx, r, agent, stored.received_at).await
            }
            None => (None, None),
        };
        Ok(RunAnswer {
            classification,
            incident,
            incident_error,
            repeat: true,
        })
    }

    async fn context(&self, repo: &RepoName) -> Result<Arc<RunContext>, IncidentError> {
        if let Some(ctx) = self.contexts.get(repo) {
            return Ok(ctx);
        }
        // One read per repository at a time: a burst's first runs wait for it
        // rather than each asking GitHub.
        let _one = self
            .incidents
            .locks
            .lock(&format!("runs-context:{}", repo.full()))
            .await;
        if let Some(ctx) = self.contexts.get(repo) {
            return Ok(ctx);
        }
        let ctx = self.incidents.context(repo).await?;
        // A parsed runbook's rules compiled once already; this cannot fail but says so.
        let rules = ctx
            .runbook
            .rule_set()
            .map_err(|e| IncidentError::User(e.to_string()))?;
        let run = Arc::new(RunContext {
            ctx,
            rules: Arc::new(rules),
        });
        self.contexts.insert(repo.clone(), run.clone());
        Ok(run)
    }

    /// Deletes runs past their retention, at most once a minute per process.
    async fn prune(&self, now: i64) {
        let last = self.last_prune.load(Ordering::Relaxed);
        if now - last < PRUNE_EVERY_MS
            || self
                .last_prune
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let before = now - i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        match self.store().prune_agent_runs(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "agent runs past their retention deleted"),
            Err(e) => {
                tracing::warn!(error = %e, "could not delete old agent runs; tried again later")
            }
        }
    }

    /// The incident this infra_error run counts towards, declaring it when the run
    /// tips the window over `[detection]`'s threshold; a failure is said, not raised
    /// (the verdict stands either way).
    async fn follow(
        &self,
        ctx: &RepoContext,
        r: &RunReport,
        agent: &str,
        at: i64,
    ) -> (Option<IncidentRecord>, Option<String>) {
        match self.follow_inner(ctx, r, agent, at).await {
            Ok(inc) => (inc, None),
            Err(e) => {
                tracing::warn!(repo = %r.repo, agent, error = %e, "agent-run spike not declared");
                let why = e.user_text().unwrap_or_else(|| e.to_string());
                (
                    None,
                    Some(format!(
                        "the spike of infra_error runs this run belongs to could not be \
                         declared: {why}. The next infra_error run of this agent (or this \
                         run reported again) tries again."
                    )),
                )
            }
        }
    }

    async fn follow_inner(
        &self,
        ctx: &RepoContext,
        r: &RunReport,
        agent: &str,
        at: i64,
    ) -> Result<Option<IncidentRecord>, IncidentError> {
        let repo = r.repo.full();
        let d = ctx.runbook.detection();
        let spike = self.store().agent_run_spike(&repo, agent).await?;
        if let Some(AgentRunSpike {
            incident_id: Some(id),
            generation,
        }) = spike
        {
            let inc = self.incidents.reload(id).await?;
            // Open or mitigated: the same incident, never a second one.
            if inc.status != IncidentStatus::Resolved {
                self.entry(&inc, r, agent, &d, generation, at).await?;
                self.store()
                    .set_agent_run_incident(&repo, &r.run_id, id)
                    .await?;
                return Ok(Some(inc));
            }
        }
        let window = self.window(&r.repo, agent, &d, at).await?;
        if !d.is_spike(window.counts) {
            return Ok(None);
        }
        // The issues go to the target repository: the token must reach it too, as
        // for `POST /v1/incidents` (no confused deputy across repositories).
        let target = ctx.target_repo();
        if r.reporter.authorize(&target, RUNS_SCOPE).is_err() {
            return Err(IncidentError::User(format!(
                "the runbook's target_repo {target} is not granted `{RUNS_SCOPE}` by this \
                 token: mint one for both repositories"
            )));
        }
        let generation = match spike {
            None => 0,
            Some(s) if s.incident_id.is_none() => s.generation,
            Some(s) => s.generation + 1,
        };
        self.store()
            .claim_agent_run_generation(&repo, agent, generation, at)
            .await?;
        let new = NewDeclaration {
            key: IncidentKey::agent_runs(&r.repo, agent, generation),
            declaration: declaration(&window.spike(agent, &d), &ctx.runbook),
            declared_by: r.reporter.sub.clone(),
            source: None,
        };
        let declared = self.incidents.declare(ctx, new).await?;
        let id = declared.incident.id;
        tracing::info!(incident = id, repo = %r.repo, agent, generation, created = declared.created,
            runs = window.counts.runs, infra_errors = window.counts.infra_errors, "agent-run spike declared");
        self.store()
            .set_agent_run_spike(&repo, agent, generation, id, at)
            .await?;
        self.store()
            .set_agent_run_incident(&repo, &r.run_id, id)
            .await?;
        Ok(Some(declared.incident))
    }

    /// An `agent_runs` timeline entry while the incident is open, at most once per
    /// `update_every` (counted from the declaration, then from the last entry).
    /// A crash between claiming the slot and writing the entry loses that one
    /// summary, never doubles it: the next comes one interval later.
    async fn entry(
        &self,
        inc: &IncidentRecord,
        r: &RunReport,
        agent: &str,
        d: &Detection,
        generation: i64,
        at: i64,
    ) -> Result<(), IncidentError> {
        let every = d.update_every_secs().max(1) * 1000;
        let repo = r.repo.full();
        let seen = format!("{repo}:{agent}:{generation}");
        if self
            .last_entry
            .get(&seen)
            .is_some_and(|last| at - last < every)
        {
            return Ok(());
        }
        let won = self
            .store()
            .claim_agent_run_entry(&repo, agent, generation, at, every)
            .await?;
        // Lost: another request wrote one just now.
        self.last_entry.insert(seen, at);
        if !won {
            return Ok(());
        }
        let window = self.window(&r.repo, agent, d, at).await?;
        let key = format!("runs:{repo}:{agent}:{}:{at}", inc.id);
        let mut e = IncidentEvent::new(EventKind::AgentRuns, &r.reporter.sub, at, Some(key));
        e.text = Some(entry_text(&window.spike(agent, d)));
        self.store()
            .record_incident_event(inc.id, &e, Effect::None)
            .await?;
        Ok(())
    }

    async fn window(
        &self,
        repo: &RepoName,
        agent: &str,
        d: &Detection,
        at: i64,
    ) -> Result<Window, IncidentError> {
        let since = at - d.window_secs() * 1000;
        let w = self
            .store()
            .agent_run_window(&repo.full(), agent, since)
            .await?;
        Ok(Window {
            counts: WindowCounts {
                runs: w.runs,
                infra_errors: w.infra_errors,
            },
            first: w.first_infra.unwrap_or(at),
            last: w.last_infra.unwrap_or(at),
            // A row that does not decode is left out of the samples, not fatal.
            recent: w
                .recent_infra
                .iter()
                .filter_map(|c| serde_json::from_str(c).ok())
                .collect(),
        })
    }
}

/// The window's facts, owned.
struct Window {
    counts: WindowCounts,
    first: i64,
    last: i64,
    recent: Vec<Classification>,
}

impl Window {
    fn spike<'a>(&'a self, agent: &'a str, d: &'a Detection) -> Spike<'a> {
        Spike {
            agent,
            detection: d,
            counts: self.counts,
            first_seen: super::millis(self.first),
            last_seen: super::millis(self.last),
            recent: &self.recent,
        }
    }
}
