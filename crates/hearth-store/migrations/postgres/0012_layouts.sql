-- Topic layouts (issue 18): how devices that speak their own topics and payloads map
-- onto Hearth's device model. Keep in step with the other backend's 0012_layouts.sql:
-- the queries (src/sql/layouts.rs) are shared. A layout goes with its owner.

-- An application's layout: patterns with {id}, for every device of the application.
CREATE TABLE app_layouts (
    app_id         TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES applications (id) ON DELETE CASCADE,
    document       TEXT   NOT NULL,
    updated_at_ms  BIGINT NOT NULL
);

-- One device's own layout (what discovery generates); it replaces its application's.
CREATE TABLE device_layouts (
    device_id      TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    document       TEXT   NOT NULL,
    updated_at_ms  BIGINT NOT NULL
);
