-- History at scale (issue 19): compacted blocks, aggregate tiers, retention marks.
-- MariaDB translation of ../postgres/0014_history_blocks.sql (see 0001 for the rules and
-- that file for what the tables mean); keep in step: the queries (src/sql/history.rs,
-- src/sql/compact.rs) are shared. Every point and every raw message is in exactly one
-- place: a plain row (`points`, `messages`) or one block.

CREATE TABLE point_blocks (
    id          BIGINT   NOT NULL AUTO_INCREMENT PRIMARY KEY,
    series_id   BIGINT   NOT NULL,
    start_ms    BIGINT   NOT NULL,
    end_ms      BIGINT   NOT NULL,
    point_count BIGINT   NOT NULL,
    data        LONGBLOB NOT NULL,
    UNIQUE (series_id, start_ms, end_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE message_blocks (
    id            BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    device_id     VARCHAR(64) NOT NULL,
    start_ms      BIGINT      NOT NULL,
    end_ms        BIGINT      NOT NULL,
    message_count BIGINT      NOT NULL,
    -- The messages' payload bytes before encoding: what compaction saved is visible.
    payload_bytes BIGINT      NOT NULL,
    data          LONGBLOB    NOT NULL,
    UNIQUE (device_id, start_ms, end_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Aggregate tiers: min/max/sum/count per series and bucket of `bucket_ms`, holding
-- exactly the points that compaction moved into blocks.
CREATE TABLE point_tiers (
    series_id       BIGINT NOT NULL,
    bucket_ms       BIGINT NOT NULL,
    bucket_start_ms BIGINT NOT NULL,
    min_value       DOUBLE NOT NULL,
    max_value       DOUBLE NOT NULL,
    sum_value       DOUBLE NOT NULL,
    point_count     BIGINT NOT NULL,
    PRIMARY KEY (series_id, bucket_ms, bucket_start_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The tiers being kept, and from when each is complete.
CREATE TABLE history_tiers (
    bucket_ms BIGINT NOT NULL PRIMARY KEY,
    since_ms  BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Retention marks: series `series_id` has everything of level `bucket_ms` (0 = raw
-- points) from `kept_from_ms` on.
CREATE TABLE series_levels (
    series_id    BIGINT NOT NULL,
    bucket_ms    BIGINT NOT NULL,
    kept_from_ms BIGINT NOT NULL,
    PRIMARY KEY (series_id, bucket_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

ALTER TABLE history_state ADD COLUMN compacted_before_ms BIGINT NOT NULL DEFAULT 0;

-- The hourly rollups become the hour tier and a day tier is built from them, exactly as
-- on PostgreSQL. `DIV` is integer division (MariaDB's `/` gives a decimal).
INSERT INTO point_tiers (series_id, bucket_ms, bucket_start_ms, min_value, max_value,
                         sum_value, point_count)
SELECT series_id, 3600000, bucket_start_ms, min_value, max_value, sum_value, point_count
FROM point_rollups
WHERE bucket_start_ms < ((SELECT raw_pruned_before_ms FROM history_state WHERE id = 1)
                         + 3599999) DIV 3600000 * 3600000;
DELETE FROM points
WHERE at_ms < ((SELECT raw_pruned_before_ms FROM history_state WHERE id = 1)
               + 3599999) DIV 3600000 * 3600000;
INSERT INTO point_tiers (series_id, bucket_ms, bucket_start_ms, min_value, max_value,
                         sum_value, point_count)
SELECT series_id, 86400000, bucket_start_ms DIV 86400000 * 86400000, MIN(min_value),
       MAX(max_value), SUM(sum_value), SUM(point_count)
FROM point_tiers WHERE bucket_ms = 3600000
GROUP BY series_id, bucket_start_ms DIV 86400000 * 86400000;
INSERT INTO history_tiers (bucket_ms, since_ms) VALUES (3600000, 0), (86400000, 0);
INSERT INTO series_levels (series_id, bucket_ms, kept_from_ms)
SELECT id, 0, ((SELECT raw_pruned_before_ms FROM history_state WHERE id = 1)
               + 3599999) DIV 3600000 * 3600000
FROM series WHERE (SELECT raw_pruned_before_ms FROM history_state WHERE id = 1) > 0;
DROP TABLE point_rollups;

-- Compaction and retention find rows by series or device, never by time alone: the time
-- indexes only cost ingest a write each.
DROP INDEX points_by_time ON points;
DROP INDEX messages_by_time ON messages;
