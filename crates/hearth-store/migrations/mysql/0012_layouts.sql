-- Topic layouts (issue 18): how devices that speak their own topics and payloads map
-- onto Hearth's device model. MariaDB translation of ../postgres/0012_layouts.sql (see
-- 0001 for the rules); keep in step: the queries (src/sql/layouts.rs) are shared. A
-- layout goes with its owner.

-- An application's layout: patterns with {id}, for every device of the application.
CREATE TABLE app_layouts (
    app_id         VARCHAR(64) NOT NULL PRIMARY KEY,
    document       LONGTEXT    NOT NULL,
    updated_at_ms  BIGINT      NOT NULL,
    FOREIGN KEY (app_id) REFERENCES applications (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One device's own layout (what discovery generates); it replaces its application's.
CREATE TABLE device_layouts (
    device_id      VARCHAR(64) NOT NULL PRIMARY KEY,
    document       LONGTEXT    NOT NULL,
    updated_at_ms  BIGINT      NOT NULL,
    FOREIGN KEY (device_id) REFERENCES devices (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
