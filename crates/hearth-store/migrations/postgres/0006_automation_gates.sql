-- What the automation engine needs beyond 0005 (issue 14): where a group is (its time
-- zone for schedules and time conditions, its latitude and longitude for sunrise and
-- sunset), the two-person confirmation requests of runs, a count of an automation's
-- failed runs in a row (flagged in the web app from three on), and the hash of its
-- webhook trigger's secret (the secret itself is shown once, when it is made). Keep in step
-- with the other backend's 0006_automation_gates.sql. Times in ms.

CREATE TABLE group_places (
    group_id   TEXT NOT NULL PRIMARY KEY REFERENCES groups (id) ON DELETE CASCADE,
    -- An IANA name ("Asia/Shanghai") or a fixed offset ("+08:00"); NULL: the hub's.
    time_zone  TEXT,
    latitude   DOUBLE PRECISION,
    longitude  DOUBLE PRECISION
);

-- The whole request (rule, prompt, answers) is the document; state and times are
-- columns for listing. A request outlives its run's record (it is what people saw),
-- but goes with its automation or group.
CREATE TABLE automation_confirmations (
    id             TEXT    NOT NULL PRIMARY KEY,
    group_id       TEXT    NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    automation_id  TEXT    NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
    state          TEXT    NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    expires_at_ms  BIGINT NOT NULL,
    document       TEXT    NOT NULL
);
CREATE INDEX automation_confirmations_by_group
    ON automation_confirmations (group_id, created_at_ms);

ALTER TABLE automations ADD COLUMN failures_in_row INTEGER NOT NULL DEFAULT 0;
ALTER TABLE automations ADD COLUMN webhook_hash TEXT;
