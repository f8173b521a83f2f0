-- History: messages, numeric points (by series), presence changes, hourly rollups.
-- Keep in step with ../sqlite/0002_history.sql: the queries (src/sql/history.rs) are
-- shared. No foreign keys to devices: ingest inserts stay cheap, and deleting a device
-- keeps its history. Times are epoch milliseconds.

CREATE TABLE messages (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id      TEXT COLLATE "C" NOT NULL,
    kind           TEXT    NOT NULL,
    received_at_ms BIGINT  NOT NULL,
    payload        BYTEA   NOT NULL,
    json_ok        BOOLEAN NOT NULL
);
CREATE INDEX messages_by_device ON messages (device_id, received_at_ms);
-- Retention deletes by time: a range, not a scan of the table under the write lock. The
-- time indexes grow at their right edge (cost measured: within noise of ingest).
CREATE INDEX messages_by_time ON messages (received_at_ms);

-- A series is one metric of one device. Points and rollups refer to it by a small
-- integer: every data message writes one point per numeric field, so the width of a
-- point row and of its index entry decides ingest throughput.
CREATE TABLE series (
    id        INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id TEXT COLLATE "C" NOT NULL,
    metric    TEXT COLLATE "C" NOT NULL,
    UNIQUE (device_id, metric)
);

-- NaN is refused as on SQLite (which stores a NaN as NULL); PostgreSQL's NaN equals NaN.
CREATE TABLE points (
    series_id INTEGER          NOT NULL,
    at_ms     BIGINT           NOT NULL,
    value     DOUBLE PRECISION NOT NULL CHECK (value <> 'NaN')
);
CREATE INDEX points_by_series ON points (series_id, at_ms);
-- Roll-up and retention read points by time.
CREATE INDEX points_by_time ON points (at_ms);

CREATE TABLE status_changes (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id TEXT COLLATE "C" NOT NULL,
    at_ms     BIGINT  NOT NULL,
    online    BOOLEAN NOT NULL,
    reason    TEXT    NOT NULL
);
CREATE INDEX status_by_device ON status_changes (device_id, at_ms);
CREATE INDEX status_by_time ON status_changes (at_ms);

-- One row per series and whole hour (bucket_start_ms a multiple of 3,600,000).
CREATE TABLE point_rollups (
    series_id       INTEGER          NOT NULL,
    bucket_start_ms BIGINT           NOT NULL,
    min_value       DOUBLE PRECISION NOT NULL,
    max_value       DOUBLE PRECISION NOT NULL,
    sum_value       DOUBLE PRECISION NOT NULL,
    point_count     BIGINT           NOT NULL,
    PRIMARY KEY (series_id, bucket_start_ms)
);
CREATE INDEX point_rollups_by_time ON point_rollups (bucket_start_ms);

-- Bookkeeping (one row): points older than rolled_up_to_ms are in point_rollups (so
-- roll_up never counts an hour twice); raw rows older than raw_pruned_before_ms were
-- deleted (so aggregates know where raw points are complete).
CREATE TABLE history_state (
    id                   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    rolled_up_to_ms      BIGINT  NOT NULL,
    raw_pruned_before_ms BIGINT  NOT NULL
);
INSERT INTO history_state (id, rolled_up_to_ms, raw_pruned_before_ms) VALUES (1, 0, 0);
