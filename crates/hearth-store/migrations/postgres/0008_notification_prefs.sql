-- People's notification preferences and Web Push subscriptions (issue 15). Keep in
-- step with the other backend's 0008_notification_prefs.sql: the queries
-- (src/sql/notification_prefs.rs) are shared. Both go with their person.

-- The whole preferences record (channels, severities, quiet hours, language) as JSON;
-- no row: the defaults.
CREATE TABLE notification_prefs (
    user_name  TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES users (name) ON DELETE CASCADE,
    document   TEXT NOT NULL
);

-- One row per browser where the person enabled Web Push: the push service's URL, the
-- browser's public key and the authentication secret it shares with the hub (what the
-- hub needs to encrypt for that browser, RFC 8291).
CREATE TABLE push_subscriptions (
    id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    user_name      TEXT COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    endpoint       TEXT    NOT NULL UNIQUE,
    p256dh         TEXT    NOT NULL,
    auth           TEXT    NOT NULL,
    created_at_ms  BIGINT NOT NULL
);
CREATE INDEX push_subscriptions_by_user ON push_subscriptions (user_name, created_at_ms);
