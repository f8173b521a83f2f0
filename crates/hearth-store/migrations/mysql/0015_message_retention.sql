-- Per-application retention of raw messages (issue 19), in days; NULL means the hub's
-- default. The CHECK keeps a zero or negative value (which would delete every message
-- at once) out even if a caller skipped the registry's check. MariaDB translation of
-- ../postgres/0015_message_retention.sql; keep in step.
ALTER TABLE applications ADD COLUMN message_retention_days BIGINT
    CHECK (message_retention_days IS NULL OR message_retention_days > 0);
