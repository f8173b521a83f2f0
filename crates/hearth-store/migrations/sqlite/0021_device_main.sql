-- `device_main`: one row per device with its live state, under the column names that
-- setup guides of other hubs use (device_id, last_seen, ...), so that a person used to
-- them can check a device by hand:
--   SELECT device_id, name, is_online, last_seen, json(last_report_data)
--   FROM device_main WHERE device_id = 'x' ORDER BY last_seen DESC LIMIT 1;
-- Hearth itself does not read it. Same columns on all three backends (keep
-- ../postgres/0021_device_main.sql and ../mysql/0021_device_main.sql in step).
-- SQLite has no time type: last_seen and last_heartbeat are its date-time text,
-- 'YYYY-MM-DD HH:MM:SS.SSS' in UTC (what its date functions read and write, and it
-- sorts in time order), made from the epoch milliseconds; NULL when never seen.
CREATE VIEW device_main AS
SELECT
    id AS device_id,
    name,
    app_id,
    kind,
    room,
    is_online,
    strftime('%Y-%m-%d %H:%M:%f', last_seen_ms / 1000.0, 'unixepoch') AS last_seen,
    last_seen_ms,
    strftime('%Y-%m-%d %H:%M:%f', last_heartbeat_ms / 1000.0, 'unixepoch') AS last_heartbeat,
    last_heartbeat_ms,
    device_status,
    last_report_data,
    enabled
FROM devices;
