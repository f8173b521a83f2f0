-- The registry: groups, users, memberships, applications, grants, devices, audit log.
-- Keep in step with ../postgres/0001_registry.sql: the queries (src/sql/) are shared.
-- Times are epoch milliseconds; JSON is stored as TEXT.

CREATE TABLE groups (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE users (
    name          TEXT    NOT NULL PRIMARY KEY,
    display_name  TEXT    NOT NULL,
    email         TEXT,
    language      TEXT    NOT NULL,
    is_admin      BOOLEAN NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE memberships (
    group_id  TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    role      TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    PRIMARY KEY (group_id, user_name)
);
CREATE INDEX memberships_by_user ON memberships (user_name);

CREATE TABLE applications (
    id            TEXT    NOT NULL PRIMARY KEY,
    group_id      TEXT    NOT NULL REFERENCES groups (id) ON DELETE RESTRICT,
    name          TEXT    NOT NULL,
    description   TEXT    NOT NULL,
    mqtt_key      TEXT    NOT NULL UNIQUE,
    secret_hash   TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX applications_by_group ON applications (group_id);

CREATE TABLE grants (
    app_id     TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_name  TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    permission TEXT NOT NULL CHECK (permission IN ('view', 'control', 'manage')),
    PRIMARY KEY (app_id, user_name)
);
CREATE INDEX grants_by_user ON grants (user_name);

CREATE TABLE devices (
    id                     TEXT    NOT NULL PRIMARY KEY,
    app_id                 TEXT    NOT NULL REFERENCES applications (id) ON DELETE RESTRICT,
    name                   TEXT    NOT NULL,
    kind                   TEXT    NOT NULL,
    room                   TEXT,
    firmware               TEXT,
    metadata               TEXT    NOT NULL,
    enabled                BOOLEAN NOT NULL,
    heartbeat_timeout_secs INTEGER,
    secret_hash            TEXT    NOT NULL,
    created_at_ms          INTEGER NOT NULL,
    is_online              BOOLEAN NOT NULL DEFAULT FALSE,
    last_seen_ms           INTEGER,
    last_heartbeat_ms      INTEGER,
    device_status          TEXT,
    last_report_data       TEXT
);
CREATE INDEX devices_by_app ON devices (app_id, id);
CREATE INDEX devices_by_last_seen ON devices (last_seen_ms);

CREATE TABLE audit_log (
    seq    INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at_ms  INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    target TEXT    NOT NULL,
    detail TEXT    NOT NULL
);
CREATE INDEX audit_by_target ON audit_log (target, seq);
CREATE INDEX audit_by_actor ON audit_log (actor, seq);
