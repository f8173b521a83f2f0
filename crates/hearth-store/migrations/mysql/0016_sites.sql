-- Sites (issue 20): a home hub linked to this (cloud) hub logs in as a site and relays
-- the messages of the devices that belong to it (`devices.site_id`). MariaDB
-- translation of ../postgres/0016_sites.sql (see 0001 for the rules); keep in step: the
-- queries (src/sql/) are shared.
CREATE TABLE sites (
    id            VARCHAR(64) NOT NULL PRIMARY KEY,
    group_id      VARCHAR(64) NOT NULL,
    name          TEXT        NOT NULL,
    secret_hash   TEXT        NOT NULL,
    enabled       BOOLEAN     NOT NULL DEFAULT TRUE,
    created_at_ms BIGINT      NOT NULL,
    last_seen_ms  BIGINT,
    INDEX sites_by_group (group_id, id),
    FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE RESTRICT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One statement: column, its index and its foreign key (no ON DELETE, as on
-- PostgreSQL: deleting a site that still has devices is refused).
ALTER TABLE devices
    ADD COLUMN site_id VARCHAR(64),
    ADD INDEX devices_by_site (site_id, id),
    ADD FOREIGN KEY (site_id) REFERENCES sites (id);
