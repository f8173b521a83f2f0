-- History: messages, numeric points (by series), presence changes, hourly rollups.
-- MariaDB translation of ../postgres/0002_history.sql (see 0001 for the rules); keep in
-- step: the queries (src/sql/history.rs) are shared. No foreign keys to devices: ingest
-- inserts stay cheap, and deleting a device keeps its history. Times are epoch ms.

CREATE TABLE messages (
    seq            BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    device_id      VARCHAR(64) NOT NULL,
    kind           TEXT        NOT NULL,
    received_at_ms BIGINT      NOT NULL,
    payload        LONGBLOB    NOT NULL,
    json_ok        BOOLEAN     NOT NULL,
    INDEX messages_by_device (device_id, received_at_ms),
    -- Dropped again by 0014, as on the other backends.
    INDEX messages_by_time (received_at_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A series is one metric of one device; points and rollups refer to it by its number.
-- (PostgreSQL's INTEGER identity: BIGINT here, as the Rust code reads it as i64.)
CREATE TABLE series (
    id        BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    device_id VARCHAR(64)  NOT NULL,
    metric    VARCHAR(255) NOT NULL,
    UNIQUE (device_id, metric)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- NaN is refused as on the other backends (value = value is false only for NaN;
-- MariaDB itself refuses to store NaN).
CREATE TABLE points (
    series_id BIGINT NOT NULL,
    at_ms     BIGINT NOT NULL,
    value     DOUBLE NOT NULL CHECK (value = value),
    INDEX points_by_series (series_id, at_ms),
    -- Dropped again by 0014, as on the other backends.
    INDEX points_by_time (at_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE status_changes (
    id        BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    device_id VARCHAR(64) NOT NULL,
    at_ms     BIGINT      NOT NULL,
    online    BOOLEAN     NOT NULL,
    reason    TEXT        NOT NULL,
    INDEX status_by_device (device_id, at_ms),
    INDEX status_by_time (at_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per series and whole hour (bucket_start_ms a multiple of 3,600,000).
CREATE TABLE point_rollups (
    series_id       BIGINT NOT NULL,
    bucket_start_ms BIGINT NOT NULL,
    min_value       DOUBLE NOT NULL,
    max_value       DOUBLE NOT NULL,
    sum_value       DOUBLE NOT NULL,
    point_count     BIGINT NOT NULL,
    PRIMARY KEY (series_id, bucket_start_ms),
    INDEX point_rollups_by_time (bucket_start_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Bookkeeping (one row): see ../postgres/0002_history.sql.
CREATE TABLE history_state (
    id                   BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    rolled_up_to_ms      BIGINT NOT NULL,
    raw_pruned_before_ms BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO history_state (id, rolled_up_to_ms, raw_pruned_before_ms) VALUES (1, 0, 0);
