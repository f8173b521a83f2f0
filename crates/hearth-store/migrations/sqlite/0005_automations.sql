-- Automations and scenes (issue 14), and what the engine will keep durable: runs and
-- timers. Keep in step with the other backend's 0005_automations.sql: the queries
-- (src/sql/automations.rs) are shared. The document is the whole spec as JSON text;
-- group, name and enabled are also columns, for listing and for the engine's index.
-- Deleting a group deletes its automations and scenes (the group's admins chose to
-- remove the group; what acted on it goes with it), and an automation's runs and
-- timers go with it. Times in ms.

CREATE TABLE automations (
    id             TEXT    NOT NULL PRIMARY KEY,
    group_id       TEXT    NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    enabled        BOOLEAN NOT NULL,
    document       TEXT    NOT NULL,
    created_by     TEXT    NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL
);
CREATE INDEX automations_by_group ON automations (group_id, name);

CREATE TABLE scenes (
    id             TEXT    NOT NULL PRIMARY KEY,
    group_id       TEXT    NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    document       TEXT    NOT NULL,
    created_by     TEXT    NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL
);
CREATE INDEX scenes_by_group ON scenes (group_id, name);

CREATE TABLE automation_runs (
    id             TEXT    NOT NULL PRIMARY KEY,
    automation_id  TEXT    NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
    started_at_ms  INTEGER NOT NULL,
    finished_at_ms INTEGER,
    status         TEXT    NOT NULL,
    trigger_info   TEXT    NOT NULL,
    trace          TEXT    NOT NULL
);
CREATE INDEX automation_runs_by_automation ON automation_runs (automation_id, started_at_ms);

CREATE TABLE automation_timers (
    id             TEXT    NOT NULL PRIMARY KEY,
    automation_id  TEXT    NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
    run_id         TEXT    REFERENCES automation_runs (id) ON DELETE CASCADE,
    kind           TEXT    NOT NULL,
    due_at_ms      INTEGER NOT NULL,
    state          TEXT    NOT NULL
);
CREATE INDEX automation_timers_by_due ON automation_timers (due_at_ms);
