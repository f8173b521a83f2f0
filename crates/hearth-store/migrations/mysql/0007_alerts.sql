-- Alerts and notifications (issue 15). MariaDB translation of ../postgres/0007_alerts.sql
-- (see 0001 for the rules); keep in step: the queries (src/sql/alerts.rs) are shared.
-- Rules and alerts keep their whole record as a JSON document, with the columns that
-- listings and the engine filter on. Times in ms.

CREATE TABLE alert_rules (
    id             VARCHAR(255) NOT NULL PRIMARY KEY,
    group_id       VARCHAR(64)  NOT NULL,
    name           VARCHAR(255) NOT NULL,
    enabled        BOOLEAN      NOT NULL,
    document       LONGTEXT     NOT NULL,
    created_by     TEXT         NOT NULL,
    created_at_ms  BIGINT       NOT NULL,
    updated_at_ms  BIGINT       NOT NULL,
    INDEX alert_rules_by_group (group_id, name),
    FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- At most one active (not cleared) alert per rule and device: the database keeps the
-- deduplication even if two hubs raced. PostgreSQL says so with a partial unique index
-- (rule_id, device_id) WHERE state <> 'cleared'; here the unique index takes a third,
-- generated column, `active`: 1 while the alert is not cleared, NULL once it is, and a
-- unique index never finds two NULLs equal, so cleared alerts never collide. The column
-- is INVISIBLE: SELECT * and INSERT without a column list do not see it.
CREATE TABLE alerts (
    id             VARCHAR(255) NOT NULL PRIMARY KEY,
    rule_id        VARCHAR(255) NOT NULL,
    group_id       VARCHAR(64)  NOT NULL,
    device_id      VARCHAR(64)  NOT NULL,
    state          VARCHAR(64)  NOT NULL,
    severity       TEXT         NOT NULL,
    opened_at_ms   BIGINT       NOT NULL,
    document       LONGTEXT     NOT NULL,
    active         TINYINT AS (CASE WHEN state <> 'cleared' THEN 1 END) VIRTUAL INVISIBLE,
    UNIQUE INDEX alerts_one_active (rule_id, device_id, active),
    INDEX alerts_by_group (group_id, opened_at_ms),
    INDEX alerts_by_rule_device (rule_id, device_id, opened_at_ms),
    FOREIGN KEY (rule_id) REFERENCES alert_rules (id) ON DELETE CASCADE,
    FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The outbox: a notification is written with the alert change that causes it (one
-- transaction), then delivered by the hub, retried with back-off, and each attempt
-- kept. An automation's notify action writes notifications of no alert (alert_id NULL).
CREATE TABLE notifications (
    id                  VARCHAR(255) NOT NULL PRIMARY KEY,
    alert_id            VARCHAR(255),
    group_id            VARCHAR(64)  NOT NULL,
    channel             TEXT         NOT NULL,
    state               VARCHAR(64)  NOT NULL,
    next_attempt_at_ms  BIGINT       NOT NULL,
    created_at_ms       BIGINT       NOT NULL,
    document            LONGTEXT     NOT NULL,
    INDEX notifications_due (state, next_attempt_at_ms),
    INDEX notifications_by_alert (alert_id, created_at_ms),
    INDEX notifications_by_group (group_id, created_at_ms),
    FOREIGN KEY (alert_id) REFERENCES alerts (id) ON DELETE CASCADE,
    FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
