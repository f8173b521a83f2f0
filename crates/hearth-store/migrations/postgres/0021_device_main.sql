-- `device_main`: one row per device with its live state, under the column names that
-- setup guides of other hubs use (device_id, last_seen, ...), so that a person used to
-- them can check a device by hand:
--   SELECT device_id, name, is_online, last_seen, jsonb_pretty(last_report_data::jsonb)
--   FROM device_main WHERE device_id = 'x' ORDER BY last_seen DESC NULLS LAST LIMIT 1;
-- Hearth itself does not read it. Same columns on all three backends (keep
-- ../sqlite/0021_device_main.sql and ../mysql/0021_device_main.sql in step).
-- last_seen and last_heartbeat are timestamptz made from the epoch milliseconds (an
-- instant: shown in the session's time zone, UTC in Hearth's sessions), NULL when never
-- seen.
CREATE VIEW device_main AS
SELECT
    id AS device_id,
    name,
    app_id,
    kind,
    room,
    is_online,
    to_timestamp(last_seen_ms / 1000.0) AS last_seen,
    last_seen_ms,
    to_timestamp(last_heartbeat_ms / 1000.0) AS last_heartbeat,
    last_heartbeat_ms,
    device_status,
    last_report_data,
    enabled
FROM devices;
