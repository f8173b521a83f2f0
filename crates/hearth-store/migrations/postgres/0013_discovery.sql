-- Home Assistant MQTT discovery (issue 18). An application may be a discovery login
-- (`discovery`): devices running Tasmota, Zigbee2MQTT, ESPHome or Shelly firmware log in
-- with its key and secret and announce themselves under `<prefix>/.../config`.
-- Each announced device is one row, keyed by (discovering application, discovery id);
-- `document` is the whole `DiscoveredDevice` as JSON (components, device info,
-- availability, times), the columns beside it are what listings filter on.
-- Keep in step with ../sqlite/0013_discovery.sql: the queries (src/sql/) are shared.
ALTER TABLE applications ADD COLUMN discovery BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE discovered_devices (
    app_id         TEXT COLLATE "C" NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    id             TEXT COLLATE "C" NOT NULL,
    group_id       TEXT COLLATE "C" NOT NULL,
    adopted_device TEXT,
    last_seen_ms   BIGINT  NOT NULL,
    document       TEXT    NOT NULL,
    PRIMARY KEY (app_id, id)
);
CREATE INDEX discovered_by_group ON discovered_devices (group_id, app_id, id);
