-- The durable webhook inbox: one row per GitHub delivery id, written before the 202.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id     TEXT    NOT NULL UNIQUE,
    event           TEXT    NOT NULL,
    action          TEXT,
    -- lowercase owner/name; NULL for events without a repository (they never wait on others)
    repo            TEXT,
    installation_id INTEGER,
    payload         TEXT    NOT NULL,
    -- pending | running | failed (will retry) | done | dead
    status          TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    claimed_by      TEXT,
    received_at     INTEGER NOT NULL,
    finished_at     INTEGER
);
CREATE INDEX deliveries_ready ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_repo ON deliveries (repo, id);

CREATE TABLE installations (
    id          INTEGER PRIMARY KEY,
    account     TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE installation_repos (
    repo            TEXT    PRIMARY KEY,
    installation_id INTEGER NOT NULL REFERENCES installations (id) ON DELETE CASCADE
);
