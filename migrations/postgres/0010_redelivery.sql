-- PostgreSQL twin of migrations/sqlite/0010_redelivery.sql: same tables, BIGINT for every integer.
-- Periodic jobs' state: when each last completed a run (the next run starts from there).
CREATE TABLE job_runs (
    job          TEXT    PRIMARY KEY,
    -- ms since the epoch: the start of the last run that finished without an error
    last_run_at  BIGINT NOT NULL,
    -- a one-line account of that run, for operators
    summary      TEXT    NOT NULL DEFAULT ''
);

-- Deliveries Responder asked GitHub to send again. One row per delivery guid: the
-- row is written before the request (a claim, so two instances never both ask) and
-- removed if the request fails (so the next run asks again).
CREATE TABLE redeliveries (
    id               BIGSERIAL PRIMARY KEY,
    guid             TEXT    NOT NULL UNIQUE,
    -- GitHub's id of the failed attempt redelivery was asked for
    hook_delivery_id BIGINT NOT NULL,
    event            TEXT    NOT NULL,
    action           TEXT,
    -- the failed attempt: when (ms) and the status GitHub got (0: no answer)
    delivered_at     BIGINT NOT NULL,
    status_code      BIGINT NOT NULL,
    requested_at     BIGINT NOT NULL
);
