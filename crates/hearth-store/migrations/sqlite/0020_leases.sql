-- Leases (issue 21, docs/scale.md "The coordinator lease"): when several Hearth nodes
-- share one database, the work that must happen once across them (retention, the
-- dynamic-security sync, the coordinator's engines) runs on the node holding the lease
-- of that name until `expires_at_ms`. The holder renews it before then; anyone may take
-- it once it has expired. Times are the nodes' clocks in ms (SQLite has no server
-- clock), so the nodes' clocks must agree within the lease's safety margin. Keep in step
-- with ../postgres/0020_leases.sql.
CREATE TABLE leases (
    name           TEXT    NOT NULL PRIMARY KEY,
    holder         TEXT    NOT NULL,
    expires_at_ms  INTEGER NOT NULL,
    acquired_at_ms INTEGER NOT NULL
);
