-- A delivery's payload lives apart from its state. SQLite rewrites a whole row on any
-- UPDATE, so while the payload sat in `deliveries` the claim and the completion each
-- wrote its 10-30 KB again (three copies into the WAL, three into the database).
-- Keyed by the delivery id so the payload can be written first, in a statement of its
-- own: a delivery row never exists without its payload, and a payload left behind by a
-- crash between the two is taken over by GitHub's redelivery of the same id.
CREATE TABLE delivery_payloads (
    delivery_id TEXT PRIMARY KEY,
    payload     TEXT NOT NULL
);
INSERT INTO delivery_payloads (delivery_id, payload) SELECT delivery_id, payload FROM deliveries;
ALTER TABLE deliveries DROP COLUMN payload;
