-- Firmware updates over the air (issue 17). Keep in step with the other backend's
-- 0010_firmware.sql: the queries (src/sql/firmware.rs) are shared. Records are JSON
-- documents with the columns that lookups filter on. Times in ms.

-- Uploaded images; the file itself is <data_dir>/firmware/<sha256>.
CREATE TABLE firmware (
    id              TEXT    NOT NULL PRIMARY KEY,
    sha256          TEXT    NOT NULL,
    uploaded_at_ms  INTEGER NOT NULL,
    document        TEXT    NOT NULL
);

-- A rollout keeps its image: deleting an image a rollout uses is refused.
CREATE TABLE rollouts (
    id              TEXT    NOT NULL PRIMARY KEY,
    firmware_id     TEXT    NOT NULL REFERENCES firmware (id) ON DELETE RESTRICT,
    group_id        TEXT    NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    created_at_ms   INTEGER NOT NULL,
    document        TEXT    NOT NULL
);
CREATE INDEX rollouts_by_firmware ON rollouts (firmware_id);

-- One row per device of a rollout. The download token is stored as its SHA-256 only.
CREATE TABLE rollout_targets (
    rollout_id      TEXT    NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
    device_id       TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    command_id      TEXT,
    token_sha256    TEXT,
    token_expires_at_ms INTEGER,
    document        TEXT    NOT NULL,
    PRIMARY KEY (rollout_id, device_id)
);
CREATE UNIQUE INDEX rollout_targets_by_token ON rollout_targets (token_sha256);
CREATE INDEX rollout_targets_by_command ON rollout_targets (command_id);
CREATE INDEX rollout_targets_by_device ON rollout_targets (device_id, state);
