-- Agent runs reported to POST /v1/agent-runs (issue 12): the verdict each was given,
-- so a repeat of its run_id answers the same, and the rows the spike window counts.
-- The output itself is never stored: only the matched lines, sanitised and cut, in
-- the classification. Rows older than RESPONDER_AGENT_RUN_RETENTION are deleted.
CREATE TABLE agent_runs (
    repo TEXT NOT NULL,
    run_id TEXT NOT NULL,
    -- The agent's name, lowercased: runs are counted per repository and agent.
    agent TEXT NOT NULL,
    verdict TEXT NOT NULL,
    exit_code BIGINT,
    duration_ms BIGINT,
    -- The answer's classification as JSON (verdict, reason, matches, truncated).
    classification TEXT NOT NULL,
    -- The incident the answer named, if any.
    incident_id BIGINT REFERENCES incidents(id),
    received_at BIGINT NOT NULL,
    PRIMARY KEY (repo, run_id)
);
CREATE INDEX agent_runs_window ON agent_runs (repo, agent, received_at);
CREATE INDEX agent_runs_received ON agent_runs (received_at);

-- Per repository and agent, the incident a spike of infra_error runs declared and a
-- generation, so a spike after that incident resolved declares a new one under a
-- new key (the store's unique key decides between two requests, not timing).
CREATE TABLE agent_run_spikes (
    repo TEXT NOT NULL,
    agent TEXT NOT NULL,
    generation BIGINT NOT NULL DEFAULT 0,
    -- NULL between claiming a generation and its declaration being stored.
    incident_id BIGINT REFERENCES incidents(id),
    -- When the incident's last agent_runs timeline entry (or its declaration) was
    -- written: the next comes [detection] update_every later at the earliest.
    last_entry_at BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (repo, agent)
);
