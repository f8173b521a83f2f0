-- History: messages, numeric points (by series), presence changes, hourly rollups.
-- Keep in step with ../postgres/0002_history.sql: the queries (src/sql/history.rs) are
-- shared. No foreign keys to devices: ingest inserts stay cheap, and deleting a device
-- keeps its history. Times are epoch milliseconds.

-- AUTOINCREMENT: `seq` never goes back, even after retention deleted every row.
CREATE TABLE messages (
    seq            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    device_id      TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    received_at_ms INTEGER NOT NULL,
    payload        BLOB    NOT NULL,
    json_ok        BOOLEAN NOT NULL
);
CREATE INDEX messages_by_device ON messages (device_id, received_at_ms);
-- Retention deletes by time: a range, not a scan of the table under the write lock. The
-- time indexes grow at their right edge (cost measured: within noise of ingest).
CREATE INDEX messages_by_time ON messages (received_at_ms);

-- A series is one metric of one device. Points and rollups refer to it by a small
-- integer: every data message writes one point per numeric field, so the width of a
-- point row and of its index entry decides ingest throughput (text device ids and
-- metric names in every row made both 2-3 times wider).
CREATE TABLE series (
    id        INTEGER NOT NULL PRIMARY KEY,
    device_id TEXT    NOT NULL,
    metric    TEXT    NOT NULL,
    UNIQUE (device_id, metric)
);

-- SQLite stores a NaN as NULL, so NOT NULL refuses NaN (PostgreSQL: a CHECK).
CREATE TABLE points (
    series_id INTEGER NOT NULL,
    at_ms     INTEGER NOT NULL,
    value     REAL    NOT NULL
);
CREATE INDEX points_by_series ON points (series_id, at_ms);
-- Roll-up and retention read points by time.
CREATE INDEX points_by_time ON points (at_ms);

CREATE TABLE status_changes (
    id        INTEGER NOT NULL PRIMARY KEY,
    device_id TEXT    NOT NULL,
    at_ms     INTEGER NOT NULL,
    online    BOOLEAN NOT NULL,
    reason    TEXT    NOT NULL
);
CREATE INDEX status_by_device ON status_changes (device_id, at_ms);
CREATE INDEX status_by_time ON status_changes (at_ms);

-- One row per series and whole hour (bucket_start_ms a multiple of 3,600,000).
CREATE TABLE point_rollups (
    series_id       INTEGER NOT NULL,
    bucket_start_ms INTEGER NOT NULL,
    min_value       REAL    NOT NULL,
    max_value       REAL    NOT NULL,
    sum_value       REAL    NOT NULL,
    point_count     INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket_start_ms)
) WITHOUT ROWID;

CREATE INDEX point_rollups_by_time ON point_rollups (bucket_start_ms);

-- Bookkeeping (one row): points older than rolled_up_to_ms are in point_rollups (so
-- roll_up never counts an hour twice); raw rows older than raw_pruned_before_ms were
-- deleted (so aggregates know where raw points are complete).
CREATE TABLE history_state (
    id                   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    rolled_up_to_ms      INTEGER NOT NULL,
    raw_pruned_before_ms INTEGER NOT NULL
);
INSERT INTO history_state (id, rolled_up_to_ms, raw_pruned_before_ms) VALUES (1, 0, 0);
