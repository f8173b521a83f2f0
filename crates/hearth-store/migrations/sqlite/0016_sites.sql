-- Sites (issue 20): a home hub linked to this (cloud) hub logs in as a site, with its
-- own secret (stored as a salted HMAC like a device's), and relays the messages of the
-- devices that belong to it (`devices.site_id`). A device belongs to at most one site,
-- and a site only to one group. `last_seen_ms` is when its link last connected.
-- Keep in step with ../postgres/0016_sites.sql: the queries (src/sql/) are shared.
CREATE TABLE sites (
    id            TEXT    NOT NULL PRIMARY KEY,
    group_id      TEXT    NOT NULL REFERENCES groups (id) ON DELETE RESTRICT,
    name          TEXT    NOT NULL,
    secret_hash   TEXT    NOT NULL,
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER
);
CREATE INDEX sites_by_group ON sites (group_id, id);
ALTER TABLE devices ADD COLUMN site_id TEXT REFERENCES sites (id);
CREATE INDEX devices_by_site ON devices (site_id, id);
