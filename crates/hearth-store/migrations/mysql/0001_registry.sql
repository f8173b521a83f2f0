-- The registry: groups, users, memberships, applications, grants, devices, audit log.
-- MariaDB 10.11 (and the subset MySQL 8 shares) translation of ../postgres/0001_registry.sql;
-- keep the three in step: column names and meanings are the same, the queries are shared.
-- Times are epoch milliseconds; JSON is stored as text.
--
-- Rules for every file in this directory (they run as one multi-statement batch each,
-- under sql_mode ANSI_QUOTES,...: "x" is an identifier, strings take single quotes):
-- * Every table is InnoDB, utf8mb4 with the binary collation utf8mb4_bin: ids are
--   case-sensitive ('Lamp' and 'lamp' are two devices) and sort byte-wise, like
--   COLLATE "C" on PostgreSQL and SQLite's default; the default utf8mb4 collation would
--   make them collide.
-- * InnoDB cannot index TEXT without a prefix, and a key is at most 3072 bytes (4 bytes
--   per utf8mb4 character), so text in a primary key, unique constraint, index or foreign
--   key is a VARCHAR sized from what the model accepts:
--     VARCHAR(64)  group, user, application, device and site ids (hearth-model id.rs:
--                  MAX_ID_LEN = 64, ASCII), and discovered ids (sanitised device ids);
--     VARCHAR(128) SHA-256 digests (64 hex characters; room to spare);
--     VARCHAR(255) ids the hub makes (random, under 30 characters), lease names,
--                  identity providers and subjects (OpenID Connect: `sub` is at most 255
--                  ASCII characters), MQTT keys, automation, scene and alert rule names
--                  (at most 100 characters), metric names (3 levels of keys of at most
--                  64 bytes);
--     VARCHAR(64)  states and other short enumerations that are indexed.
--   The widest key, user_identities (provider, subject), is 2040 bytes. Free text that
--   is only indexed (audit actor and target) stays TEXT with a 255-character prefix
--   index; unique free text (Web Push endpoints, up to 2048 bytes) is unique through a
--   hash in a generated column. JSON documents and payloads are LONGTEXT / LONGBLOB,
--   other unbounded text TEXT.
-- * Integers the Rust code reads as i64 are BIGINT (also where PostgreSQL says INTEGER);
--   BOOLEAN is TINYINT(1); DOUBLE PRECISION is DOUBLE; BYTEA is LONGBLOB; identity
--   columns are BIGINT AUTO_INCREMENT.
-- * Indexes of a new table are declared inside its CREATE TABLE (one DDL statement
--   instead of several: each one costs a table rebuild); foreign keys are table
--   constraints (MySQL 8 ignores REFERENCES written on a column). InnoDB adds an index
--   for a foreign key that no declared index starts with.
-- * MariaDB has no partial indexes: see 0004 and 0007 for what replaces them.

CREATE TABLE groups (
    id            VARCHAR(64) NOT NULL PRIMARY KEY,
    name          TEXT        NOT NULL,
    created_at_ms BIGINT      NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE users (
    name          VARCHAR(64) NOT NULL PRIMARY KEY,
    display_name  TEXT        NOT NULL,
    email         TEXT,
    language      TEXT        NOT NULL,
    is_admin      BOOLEAN     NOT NULL,
    password_hash TEXT        NOT NULL,
    created_at_ms BIGINT      NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE memberships (
    group_id  VARCHAR(64) NOT NULL,
    user_name VARCHAR(64) NOT NULL,
    role      VARCHAR(16) NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    PRIMARY KEY (group_id, user_name),
    INDEX memberships_by_user (user_name),
    FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE CASCADE,
    FOREIGN KEY (user_name) REFERENCES users (name) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE applications (
    id            VARCHAR(64)  NOT NULL PRIMARY KEY,
    group_id      VARCHAR(64)  NOT NULL,
    name          TEXT         NOT NULL,
    description   TEXT         NOT NULL,
    mqtt_key      VARCHAR(255) NOT NULL UNIQUE,
    secret_hash   TEXT         NOT NULL,
    created_at_ms BIGINT       NOT NULL,
    INDEX applications_by_group (group_id),
    FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE RESTRICT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE grants (
    app_id     VARCHAR(64) NOT NULL,
    user_name  VARCHAR(64) NOT NULL,
    permission VARCHAR(16) NOT NULL CHECK (permission IN ('view', 'control', 'manage')),
    PRIMARY KEY (app_id, user_name),
    INDEX grants_by_user (user_name),
    FOREIGN KEY (app_id) REFERENCES applications (id) ON DELETE CASCADE,
    FOREIGN KEY (user_name) REFERENCES users (name) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE devices (
    id                     VARCHAR(64) NOT NULL PRIMARY KEY,
    app_id                 VARCHAR(64) NOT NULL,
    name                   TEXT        NOT NULL,
    kind                   TEXT        NOT NULL,
    room                   TEXT,
    firmware               TEXT,
    metadata               LONGTEXT    NOT NULL,
    enabled                BOOLEAN     NOT NULL,
    heartbeat_timeout_secs BIGINT,
    secret_hash            TEXT        NOT NULL,
    created_at_ms          BIGINT      NOT NULL,
    is_online              BOOLEAN     NOT NULL DEFAULT FALSE,
    last_seen_ms           BIGINT,
    last_heartbeat_ms      BIGINT,
    device_status          TEXT,
    last_report_data       LONGTEXT,
    INDEX devices_by_app (app_id, id),
    INDEX devices_by_last_seen (last_seen_ms),
    FOREIGN KEY (app_id) REFERENCES applications (id) ON DELETE RESTRICT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- actor and target are free text (a person, a device, "system"; an id or a path):
-- indexed by their first 255 characters, which finds the same rows.
CREATE TABLE audit_log (
    seq    BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at_ms  BIGINT NOT NULL,
    actor  TEXT   NOT NULL,
    action TEXT   NOT NULL,
    target TEXT   NOT NULL,
    detail LONGTEXT NOT NULL,
    INDEX audit_by_target (target(255), seq),
    INDEX audit_by_actor (actor(255), seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
