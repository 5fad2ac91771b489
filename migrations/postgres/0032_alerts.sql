-- Alert groups (Alertmanager's groupKey, or one alert's fingerprint) and the incident
-- each is following: which alerts fire now, so a repeat is recognised and a change
-- is said once; when the group resolved, for the reopen window; and a generation,
-- so a group firing after the window declares a new incident under a new key.
CREATE TABLE alert_groups (
    repo TEXT NOT NULL,
    group_key TEXT NOT NULL,
    generation BIGINT NOT NULL DEFAULT 0,
    -- NULL between claiming a generation and its declaration being stored.
    incident_id BIGINT REFERENCES incidents(id),
    -- The firing fingerprints, sorted, one per line.
    firing TEXT NOT NULL DEFAULT '',
    resolved_at BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (repo, group_key)
);
