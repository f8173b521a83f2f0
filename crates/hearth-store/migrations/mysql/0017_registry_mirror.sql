-- The registry mirrored between a cloud hub and a home hub (issue 20, docs/bridge.md
-- "Registry mirror"): `mirrored` marks what the cloud defines, `mirror_state` is the
-- last snapshot applied, `site_conflicts` lists per site the devices a home pushed up
-- that were not created. MariaDB translation of ../postgres/0017_registry_mirror.sql
-- (see 0001 for the rules); keep in step.
ALTER TABLE groups ADD COLUMN mirrored BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN mirrored BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE applications ADD COLUMN mirrored BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE devices ADD COLUMN mirrored BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE mirror_state (
    id           BIGINT      NOT NULL PRIMARY KEY CHECK (id = 1),
    site_id      VARCHAR(64) NOT NULL,
    revision     BIGINT      NOT NULL,
    last_sync_ms BIGINT      NOT NULL,
    conflicts    LONGTEXT    NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE site_conflicts (
    site_id   VARCHAR(64) NOT NULL,
    device_id VARCHAR(64) NOT NULL,
    reason    TEXT        NOT NULL,
    at_ms     BIGINT      NOT NULL,
    PRIMARY KEY (site_id, device_id),
    FOREIGN KEY (site_id) REFERENCES sites (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
