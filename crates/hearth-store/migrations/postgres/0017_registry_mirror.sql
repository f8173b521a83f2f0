-- The registry mirrored between a cloud hub and a home hub (issue 20, docs/bridge.md
-- "Registry mirror"). At home: `mirrored` marks what the cloud defines (applied from
-- the cloud's snapshot, replaced by the next one, removed when the cloud drops it), and
-- `mirror_state` is the last snapshot applied (its revision, when, the conflicts it
-- listed and those found applying it). In the cloud: `site_conflicts` lists, per site,
-- the devices a home pushed up that were not created (the id is taken), newest per
-- device. Keep in step with ../sqlite/0017_registry_mirror.sql.
ALTER TABLE groups ADD COLUMN mirrored BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN mirrored BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE applications ADD COLUMN mirrored BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE devices ADD COLUMN mirrored BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE mirror_state (
    id           INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    site_id      TEXT    NOT NULL,
    revision     BIGINT  NOT NULL,
    last_sync_ms BIGINT  NOT NULL,
    conflicts    TEXT    NOT NULL
);

CREATE TABLE site_conflicts (
    site_id   TEXT COLLATE "C" NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    device_id TEXT COLLATE "C" NOT NULL,
    reason    TEXT    NOT NULL,
    at_ms     BIGINT  NOT NULL,
    PRIMARY KEY (site_id, device_id)
);
