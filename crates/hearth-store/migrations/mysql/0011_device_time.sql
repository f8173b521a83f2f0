-- Device time stamps (issue 17): `ts_clamped` says a message was stored at its receive
-- time because its `ts` lay outside the skew window; `last_report_ms` is the time of
-- `last_report_data`. MariaDB translation of ../postgres/0011_device_time.sql; keep in
-- step: the queries are shared.
ALTER TABLE messages ADD COLUMN ts_clamped BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE devices ADD COLUMN last_report_ms BIGINT;
