-- The HTTP API's login sessions and personal API tokens (SHA-256 of each, never the
-- value). MariaDB translation of ../postgres/0003_auth.sql (see 0001 for the rules);
-- keep in step: the queries (src/sql/auth.rs) are shared. Times are epoch milliseconds.

CREATE TABLE sessions (
    id_hash       VARCHAR(128) NOT NULL PRIMARY KEY,
    user_name     VARCHAR(64)  NOT NULL,
    created_at_ms BIGINT       NOT NULL,
    expires_at_ms BIGINT       NOT NULL,
    last_seen_ms  BIGINT       NOT NULL,
    INDEX sessions_by_user (user_name),
    INDEX sessions_by_expiry (expires_at_ms),
    FOREIGN KEY (user_name) REFERENCES users (name) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE api_tokens (
    id            VARCHAR(255) NOT NULL PRIMARY KEY,
    token_hash    VARCHAR(128) NOT NULL UNIQUE,
    user_name     VARCHAR(64)  NOT NULL,
    name          TEXT         NOT NULL,
    created_at_ms BIGINT       NOT NULL,
    expires_at_ms BIGINT,
    last_used_ms  BIGINT,
    INDEX api_tokens_by_user (user_name, created_at_ms),
    FOREIGN KEY (user_name) REFERENCES users (name) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
