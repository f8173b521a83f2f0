-- Remote control: every command and what became of it. Keep in step with the other
-- backend's 0004_commands.sql: the queries (src/sql/commands.rs) are shared. No foreign
-- key to devices: a removed device keeps its command log. JSON as text; times in ms.

CREATE TABLE commands (
    id               TEXT    NOT NULL PRIMARY KEY,
    device_id        TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    params           TEXT    NOT NULL,
    issued_by        TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'sent', 'acked', 'failed', 'timeout')),
    result           TEXT,
    reported_state   TEXT,
    created_at_ms    INTEGER NOT NULL,
    sent_at_ms       INTEGER,
    finished_at_ms   INTEGER,
    expires_at_ms    INTEGER NOT NULL,
    ack_timeout_ms   INTEGER NOT NULL
);
CREATE INDEX commands_by_device ON commands (device_id, created_at_ms);
CREATE INDEX commands_open ON commands (status) WHERE status IN ('pending', 'sent');
