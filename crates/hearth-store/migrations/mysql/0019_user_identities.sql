-- Sign-in with an identity provider (issue 23, docs/onboarding.md "Signing in with an
-- identity provider"): which person of the registry a provider's subject is. Removing
-- the person removes their links. MariaDB translation of
-- ../postgres/0019_user_identities.sql (see 0001 for the rules); keep in step: the
-- queries (src/sql/identities.rs) are shared. OpenID Connect bounds `sub` to 255 ASCII
-- characters; (provider, subject) is 2040 bytes, within InnoDB's 3072.
CREATE TABLE user_identities (
    provider      VARCHAR(255) NOT NULL,
    subject       VARCHAR(255) NOT NULL,
    user_name     VARCHAR(64)  NOT NULL,
    email         TEXT,
    created_at_ms BIGINT       NOT NULL,
    last_used_ms  BIGINT       NOT NULL,
    PRIMARY KEY (provider, subject),
    INDEX user_identities_by_user (user_name),
    FOREIGN KEY (user_name) REFERENCES users (name) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
