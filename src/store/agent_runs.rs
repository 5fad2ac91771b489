//! Agent runs and their spikes (migration 0033).
//!
//! Purpose: the facts `POST /v1/agent-runs` decides with — the verdict a `run_id`
//! was given, the counts of one repository's agent in a window, and which incident a
//! spike of that agent follows. Must never decide anything itself.

use sqlx::Row;

use super::{Store, StoreError};

/// A run as the route stores it (the agent already lowercased).
#[derive(Debug, Clone)]
pub struct NewAgentRun {
    pub repo: String,
    pub run_id: String,
    pub agent: String,
    pub verdict: String,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<i64>,
    /// The answer's classification, as JSON.
    pub classification: String,
    pub received_at: i64,
}

/// A stored run: what a repeat of its `run_id` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAgentRun {
    pub classification: String,
    pub incident_id: Option<i64>,
    pub received_at: i64,
}

/// One repository's agent in a window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunWindow {
    pub runs: u64,
    pub infra_errors: u64,
    /// When the first and last infra_error run of the window arrived (ms).
    pub first_infra: Option<i64>,
    pub last_infra: Option<i64>,
    /// The classifications of the window's newest infra_error runs, newest first.
    pub recent_infra: Vec<String>,
}

/// Which incident a spike of one agent follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentRunSpike {
    pub generation: i64,
    /// `None` between claiming a generation and storing its declaration.
    pub incident_id: Option<i64>,
}

/// The most classifications a window read returns.
pub const RECENT_INFRA: i64 = 500;

impl Store {
    /// Stores a run unless its `run_id` is stored for the repository already;
    /// returns whether it was new (the store, not timing, decides a repeat).
    pub async fn insert_agent_run(&self, r: &NewAgentRun) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO agent_runs (repo, run_id, agent, verdict, exit_code, duration_ms, \
             classification, incident_id, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8) \
             ON CONFLICT (repo, run_id) DO NOTHING",
        )
        .bind(&r.repo)
        .bind(&r.run_id)
        .bind(&r.agent)
        .bind(&r.verdict)
        .bind(r.exit_code)
        .bind(r.duration_ms)
        .bind(&r.classification)
        .bind(r.received_at)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn agent_run(
        &self,
        repo: &str,
        run_id: &str,
    ) -> Result<Option<StoredAgentRun>, StoreError> {
        // From the writer: a repeat right after the first answer must see it.
        let row = sqlx::query(
            "SELECT classification, incident_id, received_at FROM agent_runs \
             WHERE repo = $1 AND run_id = $2",
        )
        .bind(repo)
        .bind(run_id)
        .fetch_optional(&self.writer)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredAgentRun {
            classification: row.try_get("classification")?,
            incident_id: row.try_get("incident_id")?,
            received_at: row.try_get("received_at")?,
        }))
    }

    /// Records the incident the run's answer named.
    pub async fn set_agent_run_incident(
        &self,
        repo: &str,
        run_id: &str,
        incident_id: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE agent_runs SET incident_id = $1 WHERE repo = $2 AND run_id = $3")
            .bind(incident_id)
            .bind(repo)
            .bind(run_id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The runs of `agent` in `repo` that arrived at or after `since` (ms).
    pub async fn agent_run_window(
        &self,
        repo: &str,
        agent: &str,
        since: i64,
    ) -> Result<RunWindow, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS runs, \
             COUNT(CASE WHEN verdict = 'infra_error' THEN 1 END) AS infra, \
             MIN(CASE WHEN verdict = 'infra_error' THEN received_at END) AS first_infra, \
             MAX(CASE WHEN verdict = 'infra_error' THEN received_at END) AS last_infra \
             FROM agent_runs WHERE repo = $1 AND agent = $2 AND received_at >= $3",
        )
        .bind(repo)
        .bind(agent)
        .bind(since)
        .fetch_one(&self.writer)
        .await?;
        let recent_infra = sqlx::query_scalar(
            "SELECT classification FROM agent_runs WHERE repo = $1 AND agent = $2 \
             AND received_at >= $3 AND verdict = 'infra_error' \
             ORDER BY received_at DESC LIMIT $4",
        )
        .bind(repo)
        .bind(agent)
        .bind(since)
        .bind(RECENT_INFRA)
        .fetch_all(&self.writer)
        .await?;
        let count = |name: &str| -> Result<u64, StoreError> {
            Ok(u64::try_from(row.try_get::<i64, _>(name)?).unwrap_or(0))
        };
        Ok(RunWindow {
            runs: count("runs")?,
            infra_errors: count("infra")?,
            first_infra: row.try_get("first_infra")?,
            last_infra: row.try_get("last_infra")?,
            recent_infra,
        })
    }

    /// Deletes the runs that arrived before `before` (ms); returns how many.
    pub async fn prune_agent_runs(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM agent_runs WHERE received_at < $1")
            .bind(before)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn agent_run_spike(
        &self,
        repo: &str,
        agent: &str,
    ) -> Result<Option<AgentRunSpike>, StoreError> {
        let row = sqlx::query(
            "SELECT generation, incident_id FROM agent_run_spikes WHERE repo = $1 AND agent = $2",
        )
        .bind(repo)
        .bind(agent)
        .fetch_optional(&self.writer)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(AgentRunSpike {
            generation: row.try_get("generation")?,
            incident_id: row.try_get("incident_id")?,
        }))
    }

    /// Starts `generation` of the agent's spikes (no incident yet), unless a
    /// generation at least as new is there.
    pub async fn claim_agent_run_generation(
        &self,
        repo: &str,
        agent: &str,
        generation: i64,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO agent_run_spikes (repo, agent, generation, incident_id, updated_at) \
             VALUES ($1, $2, $3, NULL, $4) \
             ON CONFLICT (repo, agent) DO UPDATE SET generation = excluded.generation, \
             incident_id = NULL, updated_at = excluded.updated_at \
             WHERE agent_run_spikes.generation < excluded.generation",
        )
        .bind(repo)
        .bind(agent)
        .bind(generation)
        .bind(at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Takes the right to write the next timeline entry of the agent's incident
    /// (`generation`) at `at`, unless one was written less than `every` ms before:
    /// one conditional update, so two requests (or instances) never both win.
    pub async fn claim_agent_run_entry(
        &self,
        repo: &str,
        agent: &str,
        generation: i64,
        at: i64,
        every: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE agent_run_spikes SET last_entry_at = $1, updated_at = $1 \
             WHERE repo = $2 AND agent = $3 AND generation = $4 \
             AND (last_entry_at IS NULL OR last_entry_at <= $5)",
        )
        .bind(at)
        .bind(repo)
        .bind(agent)
        .bind(generation)
        .bind(at - every)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the incident `generation` declared (at `at`, which also counts as
    /// its last timeline entry).
    pub async fn set_agent_run_spike(
        &self,
        repo: &str,
        agent: &str,
        generation: i64,
        incident_id: i64,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE agent_run_spikes SET incident_id = $1, updated_at = $2, last_entry_at = $2 \
             WHERE repo = $3 AND agent = $4 AND generation = $5",
        )
        .bind(incident_id)
        .bind(at)
        .bind(repo)
        .bind(agent)
        .bind(generation)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}
