-- Home Assistant MQTT discovery (issue 18): an application may be a discovery login,
-- and each device announced through it is one row, keyed by (discovering application,
-- discovery id: a sanitised device id); `document` is the whole `DiscoveredDevice` as
-- JSON. MariaDB translation of ../postgres/0013_discovery.sql (see 0001 for the rules);
-- keep in step: the queries (src/sql/) are shared.
ALTER TABLE applications ADD COLUMN discovery BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE discovered_devices (
    app_id         VARCHAR(64) NOT NULL,
    id             VARCHAR(64) NOT NULL,
    group_id       VARCHAR(64) NOT NULL,
    adopted_device VARCHAR(64),
    last_seen_ms   BIGINT      NOT NULL,
    document       LONGTEXT    NOT NULL,
    PRIMARY KEY (app_id, id),
    INDEX discovered_by_group (group_id, app_id, id),
    FOREIGN KEY (app_id) REFERENCES applications (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
