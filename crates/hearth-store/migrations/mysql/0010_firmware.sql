-- Firmware updates over the air (issue 17). MariaDB translation of
-- ../postgres/0010_firmware.sql (see 0001 for the rules); keep in step: the queries
-- (src/sql/firmware.rs) are shared. Records are JSON documents with the columns that
-- lookups filter on. Times in ms.

-- Uploaded images; the file itself is <data_dir>/firmware/<sha256>.
CREATE TABLE firmware (
    id              VARCHAR(255) NOT NULL PRIMARY KEY,
    sha256          TEXT         NOT NULL,
    uploaded_at_ms  BIGINT       NOT NULL,
    document        LONGTEXT     NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A rollout keeps its image: deleting an image a rollout uses is refused.
CREATE TABLE rollouts (
    id              VARCHAR(255) NOT NULL PRIMARY KEY,
    firmware_id     VARCHAR(255) NOT NULL,
    group_id        VARCHAR(64)  NOT NULL,
    created_at_ms   BIGINT       NOT NULL,
    document        LONGTEXT     NOT NULL,
    INDEX rollouts_by_firmware (firmware_id),
    FOREIGN KEY (firmware_id) REFERENCES firmware (id) ON DELETE RESTRICT,
    FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per device of a rollout. The download token is stored as its SHA-256 only;
-- NULL tokens do not collide in the unique index (as on PostgreSQL).
CREATE TABLE rollout_targets (
    rollout_id          VARCHAR(255) NOT NULL,
    device_id           VARCHAR(64)  NOT NULL,
    state               VARCHAR(64)  NOT NULL,
    command_id          VARCHAR(255),
    token_sha256        VARCHAR(128),
    token_expires_at_ms BIGINT,
    document            LONGTEXT     NOT NULL,
    PRIMARY KEY (rollout_id, device_id),
    UNIQUE INDEX rollout_targets_by_token (token_sha256),
    INDEX rollout_targets_by_command (command_id),
    INDEX rollout_targets_by_device (device_id, state),
    FOREIGN KEY (rollout_id) REFERENCES rollouts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
