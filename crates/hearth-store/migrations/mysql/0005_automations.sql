-- Automations and scenes (issue 14), and what the engine keeps durable: runs and
-- timers. MariaDB translation of ../postgres/0005_automations.sql (see 0001 for the
-- rules); keep in step: the queries (src/sql/automations.rs) are shared. Deleting a
-- group deletes its automations and scenes, and an automation's runs and timers go
-- with it. Times in ms.

CREATE TABLE automations (
    id             VARCHAR(255) NOT NULL PRIMARY KEY,
    group_id       VARCHAR(64)  NOT NULL,
    name           VARCHAR(255) NOT NULL,
    enabled        BOOLEAN      NOT NULL,
    document       LONGTEXT     NOT NULL,
    created_by     TEXT         NOT NULL,
    created_at_ms  BIGINT       NOT NULL,
    updated_at_ms  BIGINT       NOT NULL,
    INDEX automations_by_group (group_id, name),
    FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE scenes (
    id             VARCHAR(255) NOT NULL PRIMARY KEY,
    group_id       VARCHAR(64)  NOT NULL,
    name           VARCHAR(255) NOT NULL,
    document       LONGTEXT     NOT NULL,
    created_by     TEXT         NOT NULL,
    created_at_ms  BIGINT       NOT NULL,
    updated_at_ms  BIGINT       NOT NULL,
    INDEX scenes_by_group (group_id, name),
    FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE automation_runs (
    id             VARCHAR(255) NOT NULL PRIMARY KEY,
    automation_id  VARCHAR(255) NOT NULL,
    started_at_ms  BIGINT       NOT NULL,
    finished_at_ms BIGINT,
    status         TEXT         NOT NULL,
    trigger_info   LONGTEXT     NOT NULL,
    trace          LONGTEXT     NOT NULL,
    INDEX automation_runs_by_automation (automation_id, started_at_ms),
    FOREIGN KEY (automation_id) REFERENCES automations (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE automation_timers (
    id             VARCHAR(255) NOT NULL PRIMARY KEY,
    automation_id  VARCHAR(255) NOT NULL,
    run_id         VARCHAR(255),
    kind           TEXT         NOT NULL,
    due_at_ms      BIGINT       NOT NULL,
    state          LONGTEXT     NOT NULL,
    INDEX automation_timers_by_due (due_at_ms),
    FOREIGN KEY (automation_id) REFERENCES automations (id) ON DELETE CASCADE,
    FOREIGN KEY (run_id) REFERENCES automation_runs (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
