-- PostgreSQL twin of migrations/sqlite/0005_open_lanes.sql: same tables, BIGINT for every integer.
-- Open deliveries by repository, so the worker finds each repository's oldest open
-- delivery with index seeks instead of scanning every waiting row.
CREATE INDEX deliveries_open ON deliveries (repo, id) WHERE status IN ('pending', 'failed', 'running');
