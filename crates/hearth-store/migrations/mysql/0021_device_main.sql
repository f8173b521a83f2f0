-- `device_main`: one row per device with its live state, under the column names that
-- setup guides of other hubs use (device_id, last_seen, ...), so that a person used to
-- them can check a device by hand:
--   SELECT device_id, name, is_online, last_seen, JSON_PRETTY(last_report_data)
--   FROM device_main WHERE device_id = 'x' ORDER BY last_seen DESC LIMIT 1;
-- Hearth itself does not read it. Same columns on all three backends (keep
-- ../sqlite/0021_device_main.sql and ../postgres/0021_device_main.sql in step).
-- last_seen and last_heartbeat are DATETIME(3) in UTC made from the epoch milliseconds,
-- NULL when never seen: computed from the epoch, not with FROM_UNIXTIME, whose result
-- is in the session's time zone.
CREATE VIEW device_main AS
SELECT
    id AS device_id,
    name,
    app_id,
    kind,
    room,
    is_online,
    CAST(TIMESTAMP '1970-01-01 00:00:00' + INTERVAL last_seen_ms * 1000 MICROSECOND
         AS DATETIME(3)) AS last_seen,
    last_seen_ms,
    CAST(TIMESTAMP '1970-01-01 00:00:00' + INTERVAL last_heartbeat_ms * 1000 MICROSECOND
         AS DATETIME(3)) AS last_heartbeat,
    last_heartbeat_ms,
    device_status,
    last_report_data,
    enabled
FROM devices;
