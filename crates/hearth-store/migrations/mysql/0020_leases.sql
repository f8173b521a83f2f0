-- Leases (issue 21, docs/scale.md "The coordinator lease"): the work that must happen
-- once across several Hearth nodes runs on the node holding the lease of that name
-- until `expires_at_ms` (the nodes' clocks, in ms). MariaDB translation of
-- ../postgres/0020_leases.sql; keep in step.
CREATE TABLE leases (
    name           VARCHAR(255) NOT NULL PRIMARY KEY,
    holder         TEXT         NOT NULL,
    expires_at_ms  BIGINT       NOT NULL,
    acquired_at_ms BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
