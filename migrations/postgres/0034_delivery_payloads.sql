-- A delivery's payload lives apart from its state, as in migrations/sqlite/0034 (where
-- every UPDATE of a delivery rewrote its payload). PostgreSQL's TOAST already kept large
-- payloads out of updates; the table is here so both stores have one schema and one
-- insert: the payload first, keyed by the delivery id, then the delivery row.
CREATE TABLE delivery_payloads (
    delivery_id TEXT PRIMARY KEY,
    payload     TEXT NOT NULL
);
INSERT INTO delivery_payloads (delivery_id, payload) SELECT delivery_id, payload FROM deliveries;
ALTER TABLE deliveries DROP COLUMN payload;
