-- PostgreSQL twin of migrations/sqlite/0031_followups.sql: same table, BIGINT for every integer.
-- Follow-ups (issue 11): one row per action item of an incident's RCA, keyed by a
-- digest of its normalised text so an edit of whitespace or case is the same item.
-- The row is written before the issue is created and the issue recorded as soon as
-- GitHub answers, so redeliveries, retries and re-closes never open a second one.
CREATE TABLE follow_ups (
    id           BIGSERIAL PRIMARY KEY,
    incident_id  BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    -- 32 hex digits of sha256 of the normalised item text
    item_key     TEXT    NOT NULL,
    -- the item's text as written (at most 1000 characters)
    title        TEXT    NOT NULL,
    -- lowercase GitHub login named by `owner:`
    owner        TEXT,
    -- created (Responder opened the issue) | linked (the RCA named it)
    origin       TEXT    NOT NULL,
    -- lowercase owner/name, number and address of its issue; NULL until created
    issue_repo   TEXT,
    issue_number BIGINT,
    issue_url    TEXT,
    -- 1 when the issue is assigned to the owner
    assigned     BIGINT NOT NULL DEFAULT 0,
    -- open | closed
    state        TEXT    NOT NULL DEFAULT 'open',
    -- milliseconds since the epoch
    created_at   BIGINT NOT NULL,
    closed_at    BIGINT,
    UNIQUE (incident_id, item_key)
);
-- issues.closed / reopened find their follow-up by issue.
CREATE INDEX follow_ups_issue ON follow_ups (issue_repo, issue_number);
