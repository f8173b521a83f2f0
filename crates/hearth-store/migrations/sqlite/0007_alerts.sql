-- Alerts and notifications (issue 15). Keep in step with the other backend's
-- 0007_alerts.sql: the queries (src/sql/alerts.rs) are shared. Rules and alerts keep
-- their whole record as a JSON document, with the columns that listings and the
-- engine filter on. Times in ms.

CREATE TABLE alert_rules (
    id             TEXT    NOT NULL PRIMARY KEY,
    group_id       TEXT    NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    enabled        BOOLEAN NOT NULL,
    document       TEXT    NOT NULL,
    created_by     TEXT    NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL
);
CREATE INDEX alert_rules_by_group ON alert_rules (group_id, name);

-- At most one active (not cleared) alert per rule and device: the database keeps the
-- deduplication even if two hubs raced.
CREATE TABLE alerts (
    id             TEXT    NOT NULL PRIMARY KEY,
    rule_id        TEXT    NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    group_id       TEXT    NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    device_id      TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    severity       TEXT    NOT NULL,
    opened_at_ms   INTEGER NOT NULL,
    document       TEXT    NOT NULL
);
CREATE UNIQUE INDEX alerts_one_active ON alerts (rule_id, device_id) WHERE state <> 'cleared';
CREATE INDEX alerts_by_group ON alerts (group_id, opened_at_ms);
CREATE INDEX alerts_by_rule_device ON alerts (rule_id, device_id, opened_at_ms);

-- The outbox: a notification is written with the alert change that causes it (one
-- transaction), then delivered by the hub, retried with back-off, and each attempt
-- kept. Accepted means stored: a restart delivers what was pending. An automation's
-- notify action writes notifications of no alert (alert_id NULL).
CREATE TABLE notifications (
    id                  TEXT    NOT NULL PRIMARY KEY,
    alert_id            TEXT    REFERENCES alerts (id) ON DELETE CASCADE,
    group_id            TEXT    NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    channel             TEXT    NOT NULL,
    state               TEXT    NOT NULL,
    next_attempt_at_ms  INTEGER NOT NULL,
    created_at_ms       INTEGER NOT NULL,
    document            TEXT    NOT NULL
);
CREATE INDEX notifications_due ON notifications (state, next_attempt_at_ms);
CREATE INDEX notifications_by_alert ON notifications (alert_id, created_at_ms);
CREATE INDEX notifications_by_group ON notifications (group_id, created_at_ms);
