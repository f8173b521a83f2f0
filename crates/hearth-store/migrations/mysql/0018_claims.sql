-- Claiming devices (issue 23, docs/onboarding.md "Claiming a device"): an unclaimed
-- device sits in the holding application `_unclaimed`; `claim_code_hash` is set exactly
-- while it waits to be claimed; claiming records the claimer as `owner` (cleared when
-- that person is removed). MariaDB translation of ../postgres/0018_claims.sql (see 0001
-- for the rules); keep in step. One statement: each ALTER TABLE is a DDL round.
ALTER TABLE devices
    ADD COLUMN owner VARCHAR(64),
    ADD COLUMN claim_code_hash TEXT,
    ADD COLUMN claimed_at_ms BIGINT,
    ADD INDEX devices_by_owner (owner),
    ADD FOREIGN KEY (owner) REFERENCES users (name) ON DELETE SET NULL;
