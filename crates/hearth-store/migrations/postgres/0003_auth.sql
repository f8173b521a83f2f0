-- The HTTP API's login sessions and personal API tokens (SHA-256 of each, never the
-- value). Keep in step with ../sqlite/0003_auth.sql: the queries (src/sql/auth.rs) are
-- shared. Times are epoch milliseconds.

CREATE TABLE sessions (
    id_hash       TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    user_name     TEXT COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    last_seen_ms  BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_name);
CREATE INDEX sessions_by_expiry ON sessions (expires_at_ms);

CREATE TABLE api_tokens (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    token_hash    TEXT COLLATE "C" NOT NULL UNIQUE,
    user_name     TEXT COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    name          TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT,
    last_used_ms  BIGINT
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_name, created_at_ms);
