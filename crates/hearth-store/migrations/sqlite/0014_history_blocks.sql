-- History at scale (issue 19): compacted blocks, aggregate tiers, retention marks.
-- Keep in step with ../postgres/0014_history_blocks.sql: the queries (src/sql/history.rs,
-- src/sql/compact.rs) are shared.
--
-- Every point and every raw message is in exactly one place: a plain row (`points`,
-- `messages`: recent data, cheap to write) or one block (a closed range of one series or
-- of one device's messages, encoded by src/codec/). Compaction moves plain rows into
-- blocks in one transaction; reads take the union of both.

-- Rowid tables, not WITHOUT ROWID: a block of an hour is a few hundred bytes to a few
-- KB, and an index b-tree (which WITHOUT ROWID is) keeps at most ~1 KB of a row in its
-- page before spilling into overflow pages; a table b-tree keeps up to ~4 KB.
CREATE TABLE point_blocks (
    id          INTEGER NOT NULL PRIMARY KEY,
    series_id   INTEGER NOT NULL,
    start_ms    INTEGER NOT NULL,
    end_ms      INTEGER NOT NULL,
    point_count INTEGER NOT NULL,
    data        BLOB    NOT NULL,
    UNIQUE (series_id, start_ms, end_ms)
);

CREATE TABLE message_blocks (
    id            INTEGER NOT NULL PRIMARY KEY,
    device_id     TEXT    NOT NULL,
    start_ms      INTEGER NOT NULL,
    end_ms        INTEGER NOT NULL,
    message_count INTEGER NOT NULL,
    -- The messages' payload bytes before encoding: what compaction saved is visible.
    payload_bytes INTEGER NOT NULL,
    data          BLOB    NOT NULL,
    UNIQUE (device_id, start_ms, end_ms)
);

-- Aggregate tiers: min/max/sum/count per series and bucket of `bucket_ms` (a minute, an
-- hour, a day...). They hold exactly the points that compaction moved into blocks, added
-- as they move, never plain points: a chart adds the plain points itself, so nothing is
-- counted twice, and a tier outlives the raw points it summarises.
CREATE TABLE point_tiers (
    series_id       INTEGER NOT NULL,
    bucket_ms       INTEGER NOT NULL,
    bucket_start_ms INTEGER NOT NULL,
    min_value       REAL    NOT NULL,
    max_value       REAL    NOT NULL,
    sum_value       REAL    NOT NULL,
    point_count     INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket_ms, bucket_start_ms)
) WITHOUT ROWID;

-- The tiers being kept, and from when each is complete (a tier added to the
-- configuration later only holds what was compacted after it).
CREATE TABLE history_tiers (
    bucket_ms INTEGER NOT NULL PRIMARY KEY,
    since_ms  INTEGER NOT NULL
);

-- Retention marks: series `series_id` has everything of level `bucket_ms` (0 = raw
-- points) from `kept_from_ms` on; older parts were deleted, so charts read a coarser
-- level there.
CREATE TABLE series_levels (
    series_id    INTEGER NOT NULL,
    bucket_ms    INTEGER NOT NULL,
    kept_from_ms INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket_ms)
) WITHOUT ROWID;

ALTER TABLE history_state ADD COLUMN compacted_before_ms INTEGER NOT NULL DEFAULT 0;

-- The hourly rollups become the hour tier, for the hours whose raw points are gone (the
-- first whole hour at or after raw_pruned_before_ms and later hours are folded again from
-- their raw points by the first compaction; raw points before that hour are deleted, as
-- their hour's rollup already counts them), and a day tier is built from them.
INSERT INTO point_tiers (series_id, bucket_ms, bucket_start_ms, min_value, max_value,
                         sum_value, point_count)
SELECT series_id, 3600000, bucket_start_ms, min_value, max_value, sum_value, point_count
FROM point_rollups
WHERE bucket_start_ms < ((SELECT raw_pruned_before_ms FROM history_state WHERE id = 1)
                         + 3599999) / 3600000 * 3600000;
DELETE FROM points
WHERE at_ms < ((SELECT raw_pruned_before_ms FROM history_state WHERE id = 1)
               + 3599999) / 3600000 * 3600000;
INSERT INTO point_tiers (series_id, bucket_ms, bucket_start_ms, min_value, max_value,
                         sum_value, point_count)
SELECT series_id, 86400000, bucket_start_ms / 86400000 * 86400000, MIN(min_value),
       MAX(max_value), SUM(sum_value), SUM(point_count)
FROM point_tiers WHERE bucket_ms = 3600000
GROUP BY series_id, bucket_start_ms / 86400000 * 86400000;
INSERT INTO history_tiers (bucket_ms, since_ms) VALUES (3600000, 0), (86400000, 0);
INSERT INTO series_levels (series_id, bucket_ms, kept_from_ms)
SELECT id, 0, ((SELECT raw_pruned_before_ms FROM history_state WHERE id = 1)
               + 3599999) / 3600000 * 3600000
FROM series WHERE (SELECT raw_pruned_before_ms FROM history_state WHERE id = 1) > 0;
DROP TABLE point_rollups;

-- Compaction and retention find rows by series or device, never by time alone: the time
-- indexes only cost ingest a write each.
DROP INDEX points_by_time;
DROP INDEX messages_by_time;
