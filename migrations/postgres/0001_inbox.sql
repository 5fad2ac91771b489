-- PostgreSQL twin of migrations/sqlite/0001_inbox.sql: same tables, BIGINT for every integer.
-- The durable webhook inbox: one row per GitHub delivery id, written before the 202.
CREATE TABLE deliveries (
    id              BIGSERIAL PRIMARY KEY,
    delivery_id     TEXT    NOT NULL UNIQUE,
    event           TEXT    NOT NULL,
    action          TEXT,
    -- lowercase owner/name; NULL for events without a repository (they never wait on others)
    repo            TEXT,
    installation_id BIGINT,
    payload         TEXT    NOT NULL,
    -- pending | running | failed (will retry) | done | dead
    status          TEXT    NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    claimed_by      TEXT,
    received_at     BIGINT NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX deliveries_ready ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_repo ON deliveries (repo, id);

CREATE TABLE installations (
    id          BIGINT PRIMARY KEY,
    account     TEXT    NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE installation_repos (
    repo            TEXT    PRIMARY KEY,
    installation_id BIGINT NOT NULL REFERENCES installations (id) ON DELETE CASCADE
);
