-- Named leases shared by every instance on this database: one holder at a time, and
-- a holder that died loses the lease when `until` (ms since the epoch) passes.
CREATE TABLE locks (
    name   TEXT   PRIMARY KEY,
    holder TEXT   NOT NULL,
    until  BIGINT NOT NULL
);
