-- PostgreSQL twin of migrations/sqlite/0020_lifecycle.sql: same table, BIGINT for every integer.
-- The RCA's life after declaration, one row per incident (created on first need):
-- when its issue was closed (stops reminders; time to RCA), the last UTC day a
-- due reminder was posted (at most one a day, across restarts), and the runbook
-- pull request its "Runbook updates" opened (one per RCA).
CREATE TABLE rca_lifecycle (
    incident_id    BIGINT PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
    -- milliseconds since the epoch; NULL while the RCA issue is open
    rca_closed_at  BIGINT,
    -- completed | not_planned | … (GitHub's state_reason)
    rca_close_reason TEXT,
    -- YYYY-MM-DD (UTC) of the last due reminder
    reminded_day   TEXT,
    reminded_at    BIGINT,
    reminder_count BIGINT NOT NULL DEFAULT 0,
    runbook_pr_number BIGINT,
    runbook_pr_url    TEXT
);
