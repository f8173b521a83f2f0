-- Sign-in with an identity provider (issue 23, docs/onboarding.md "Signing in with an
-- identity provider"): which person of the registry a provider's subject (`sub` of its
-- ID tokens, stable per provider) is. A row is made when a person first signs in
-- through the provider (linked by a verified e-mail address, or registered) and is what
-- later sign-ins go by. Removing the person removes their links. Keep in step with
-- ../postgres/0019_user_identities.sql: the queries (src/sql/identities.rs) are shared.
CREATE TABLE user_identities (
    provider      TEXT    NOT NULL,
    subject       TEXT    NOT NULL,
    user_name     TEXT    NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    email         TEXT,
    created_at_ms INTEGER NOT NULL,
    last_used_ms  INTEGER NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX user_identities_by_user ON user_identities (user_name);
