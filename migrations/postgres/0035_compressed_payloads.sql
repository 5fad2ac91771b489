-- Payloads keyed by their delivery's row id and stored compressed (issue 15); the
-- SQLite twin says why. encoding: 0 = UTF-8 as received (the rows copied here),
-- 1 = an LZ4 block; size = bytes as received.
CREATE TABLE delivery_bodies (
    id       BIGINT   PRIMARY KEY,
    encoding BIGINT   NOT NULL,
    size     BIGINT   NOT NULL,
    body     BYTEA    NOT NULL
);
INSERT INTO delivery_bodies (id, encoding, size, body)
    SELECT d.id, 0, octet_length(p.payload), convert_to(p.payload, 'UTF8')
    FROM deliveries d JOIN delivery_payloads p ON p.delivery_id = d.delivery_id;
DROP TABLE delivery_payloads;
ALTER TABLE delivery_bodies RENAME TO delivery_payloads;
