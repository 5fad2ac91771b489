-- Payloads keyed by their delivery's row id and stored compressed (issue 15).
-- Keyed by delivery_id, every payload went into a random page of that key's index
-- (a GitHub delivery id is a GUID), one more page into the WAL per delivery; the row
-- id only grows, so new payloads are appended. The row and its payload are now
-- written in one transaction, so neither exists without the other.
-- encoding: 0 = UTF-8 as received (the rows copied here), 1 = an LZ4 block;
-- size = bytes as received, to bound a read before decompressing it.
CREATE TABLE delivery_bodies (
    id       INTEGER PRIMARY KEY,
    encoding INTEGER NOT NULL,
    size     INTEGER NOT NULL,
    body     BLOB    NOT NULL
);
INSERT INTO delivery_bodies (id, encoding, size, body)
    SELECT d.id, 0, length(CAST(p.payload AS BLOB)), CAST(p.payload AS BLOB)
    FROM deliveries d JOIN delivery_payloads p ON p.delivery_id = d.delivery_id;
DROP TABLE delivery_payloads;
ALTER TABLE delivery_bodies RENAME TO delivery_payloads;
