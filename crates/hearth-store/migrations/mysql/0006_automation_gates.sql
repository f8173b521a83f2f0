-- What the automation engine needs beyond 0005 (issue 14): where a group is (time zone,
-- latitude, longitude), the two-person confirmation requests of runs, a count of an
-- automation's failed runs in a row and the hash of its webhook trigger's secret.
-- MariaDB translation of ../postgres/0006_automation_gates.sql (see 0001 for the
-- rules); keep in step. Times in ms.

CREATE TABLE group_places (
    group_id   VARCHAR(64) NOT NULL PRIMARY KEY,
    -- An IANA name ('Asia/Shanghai') or a fixed offset ('+08:00'); NULL: the hub's.
    time_zone  TEXT,
    latitude   DOUBLE,
    longitude  DOUBLE,
    FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The whole request (rule, prompt, answers) is the document; state and times are
-- columns for listing. It goes with its automation or group.
CREATE TABLE automation_confirmations (
    id             VARCHAR(255) NOT NULL PRIMARY KEY,
    group_id       VARCHAR(64)  NOT NULL,
    automation_id  VARCHAR(255) NOT NULL,
    state          TEXT         NOT NULL,
    created_at_ms  BIGINT       NOT NULL,
    expires_at_ms  BIGINT       NOT NULL,
    document       LONGTEXT     NOT NULL,
    INDEX automation_confirmations_by_group (group_id, created_at_ms),
    FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE CASCADE,
    FOREIGN KEY (automation_id) REFERENCES automations (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One statement: each ALTER TABLE is a DDL round of its own. (PostgreSQL: INTEGER.)
ALTER TABLE automations
    ADD COLUMN failures_in_row BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN webhook_hash TEXT;
