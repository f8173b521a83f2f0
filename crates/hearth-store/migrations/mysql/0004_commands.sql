-- Remote control: every command and what became of it. MariaDB translation of
-- ../postgres/0004_commands.sql (see 0001 for the rules); keep in step: the queries
-- (src/sql/commands.rs) are shared. No foreign key to devices: a removed device keeps
-- its command log. JSON as text; times in ms.
--
-- PostgreSQL's partial index commands_open (status) WHERE status IN ('pending', 'sent')
-- is a plain index on status here (MariaDB has no partial indexes): the same lookups,
-- a slightly larger index.
CREATE TABLE commands (
    id               VARCHAR(255) NOT NULL PRIMARY KEY,
    device_id        VARCHAR(64)  NOT NULL,
    name             TEXT         NOT NULL,
    params           LONGTEXT     NOT NULL,
    issued_by        TEXT         NOT NULL,
    status           VARCHAR(16)  NOT NULL CHECK (status IN ('pending', 'sent', 'acked', 'failed', 'timeout')),
    result           LONGTEXT,
    reported_state   LONGTEXT,
    created_at_ms    BIGINT NOT NULL,
    sent_at_ms       BIGINT,
    finished_at_ms   BIGINT,
    expires_at_ms    BIGINT NOT NULL,
    ack_timeout_ms   BIGINT NOT NULL,
    INDEX commands_by_device (device_id, created_at_ms),
    INDEX commands_open (status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
