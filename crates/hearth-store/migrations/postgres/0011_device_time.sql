-- Device time stamps (issue 17): a data, event or heartbeat payload may carry `ts`, the
-- time the device took the reading (an agent sends readings it queued while the hub
-- was away). Messages and points are stored at that time when it lies within the
-- hub's skew window ([ingest] max_past_secs / max_future_secs); otherwise at the
-- receive time, and `ts_clamped` says so. `last_report_ms` is the time of
-- `last_report_data`, so that a late, older reading never replaces a newer live value.
-- Keep in step with the other backend's 0011_device_time.sql: the queries are shared.
ALTER TABLE messages ADD COLUMN ts_clamped BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE devices ADD COLUMN last_report_ms BIGINT;
