-- Per-application retention of raw messages (issue 19): how many days the messages of
-- an application's devices are kept before the retention task deletes them. NULL means
-- the hub's default from `[history]` (7 days unless configured); the registry accepts
-- 1..=3650 days, and the CHECK keeps a zero or negative value (which would delete every
-- message at once) out even if a caller skipped it.
-- Keep in step with ../postgres/0015_message_retention.sql: the queries (src/sql/) are shared.
ALTER TABLE applications ADD COLUMN message_retention_days INTEGER
    CHECK (message_retention_days IS NULL OR message_retention_days > 0);
