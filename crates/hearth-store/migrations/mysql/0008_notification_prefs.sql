-- People's notification preferences and Web Push subscriptions (issue 15). MariaDB
-- translation of ../postgres/0008_notification_prefs.sql (see 0001 for the rules); keep
-- in step: the queries (src/sql/notification_prefs.rs) are shared. Both go with their
-- person.

-- The whole preferences record as JSON; no row: the defaults.
CREATE TABLE notification_prefs (
    user_name  VARCHAR(64) NOT NULL PRIMARY KEY,
    document   LONGTEXT    NOT NULL,
    FOREIGN KEY (user_name) REFERENCES users (name) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per browser where the person enabled Web Push (RFC 8291). The endpoint is a
-- URL of up to 2048 bytes (notify/push.rs), too long for an InnoDB key in utf8mb4, so
-- it is unique through its SHA-256 in a generated column (INVISIBLE: SELECT * and
-- INSERT without a column list do not see it); a duplicate endpoint still fails with
-- a duplicate-key error, as PostgreSQL's UNIQUE (endpoint) does.
CREATE TABLE push_subscriptions (
    id               VARCHAR(255) NOT NULL PRIMARY KEY,
    user_name        VARCHAR(64)  NOT NULL,
    endpoint         TEXT         NOT NULL,
    p256dh           TEXT         NOT NULL,
    auth             TEXT         NOT NULL,
    created_at_ms    BIGINT       NOT NULL,
    endpoint_sha256  BINARY(32) AS (UNHEX(SHA2(endpoint, 256))) STORED INVISIBLE,
    UNIQUE INDEX push_subscriptions_endpoint (endpoint_sha256),
    INDEX push_subscriptions_by_user (user_name, created_at_ms),
    FOREIGN KEY (user_name) REFERENCES users (name) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
