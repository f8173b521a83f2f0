-- Claiming devices (issue 23, docs/onboarding.md "Claiming a device").
--
-- An unclaimed device is a holding state, not a device without an application: every
-- device keeps its application (`app_id` stays NOT NULL, so the ACL, listings, history
-- and the mirror need no case for "no application"), and an unclaimed one sits in the
-- hub's holding application `_unclaimed` of the holding group `_unclaimed` (made by the
-- registry when the first unclaimed device is added; nobody is a member of that group
-- and its application's secret is thrown away, so only administrators see such devices
-- and no application login reads them). `claim_code_hash` is set exactly while the
-- device waits to be claimed: the hash of its one-time claim code (hashed like device
-- secrets, never stored in clear); claiming moves the device into an application of the
-- claimer's group, clears the hash (single use) and records the claimer as `owner`.
-- Keep in step with ../postgres/0018_claims.sql.
ALTER TABLE devices ADD COLUMN owner TEXT REFERENCES users (name) ON DELETE SET NULL;
ALTER TABLE devices ADD COLUMN claim_code_hash TEXT;
ALTER TABLE devices ADD COLUMN claimed_at_ms INTEGER;
CREATE INDEX devices_by_owner ON devices (owner);
