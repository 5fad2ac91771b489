-- PostgreSQL twin of migrations/sqlite/0002_incidents.sql: same tables, BIGINT for every integer.
-- Incidents: one row per declaration, whichever way it arrived (issue form,
-- `/incident` comment, API). `key` makes a declaration exactly-once:
--   issue:<repo>#<n>, comment:<repo>:<comment id>, api:<repo>:<dedup_key>
-- Each issue Responder opens is recorded here as soon as GitHub answers.
CREATE TABLE incidents (
    id                  BIGSERIAL PRIMARY KEY,
    key                 TEXT    NOT NULL UNIQUE,
    -- lowercase owner/name the incident was declared in
    repo                TEXT    NOT NULL,
    -- lowercase owner/name the bug and RCA issues are opened in (config `target_repo`)
    target_repo         TEXT    NOT NULL,
    -- normalised: SEV1 … SEV5
    severity            TEXT    NOT NULL,
    -- a runbook component key, normalised
    component           TEXT,
    title               TEXT    NOT NULL,
    summary             TEXT    NOT NULL,
    impact              TEXT,
    started_at          TEXT,
    links               TEXT,
    declared_by         TEXT    NOT NULL,
    -- form | command | api
    declared_via        TEXT    NOT NULL,
    dedup_key           TEXT,
    source_issue_number BIGINT,
    source_issue_url    TEXT,
    -- open | resolved
    status              TEXT    NOT NULL DEFAULT 'open',
    created_at          BIGINT NOT NULL,
    -- YYYY-MM-DD
    rca_due_at          TEXT    NOT NULL,
    resolved_at         BIGINT,
    bug_issue_number    BIGINT,
    bug_issue_url       TEXT,
    rca_issue_number    BIGINT,
    rca_issue_url       TEXT,
    -- the bug body names the RCA issue
    bug_linked          BIGINT NOT NULL DEFAULT 0,
    -- the one comment on the declaring issue exists
    comment_posted      BIGINT NOT NULL DEFAULT 0,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX incidents_repo ON incidents (repo, status);
CREATE INDEX incidents_source ON incidents (repo, source_issue_number);
CREATE INDEX incidents_bug ON incidents (target_repo, bug_issue_number);
CREATE INDEX incidents_rca ON incidents (target_repo, rca_issue_number);

-- What happened to an incident, who did it and when: declared, severity, resolved,
-- reopened. `source_key` (e.g. the command comment) makes recording exactly-once.
CREATE TABLE incident_events (
    id            BIGSERIAL PRIMARY KEY,
    incident_id   BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL,
    actor         TEXT    NOT NULL,
    at            BIGINT NOT NULL,
    from_severity TEXT,
    to_severity   TEXT,
    note          TEXT,
    source_key    TEXT    UNIQUE
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, id);
