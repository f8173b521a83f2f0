-- Device client certificates (issue 16): the SHA-256 fingerprint (lowercase hex of the
-- DER) of the one certificate a device may log in with over MQTTS/WSS, or NULL for
-- none. MariaDB translation of ../postgres/0009_device_certs.sql; keep in step.
ALTER TABLE devices ADD COLUMN cert_sha256 TEXT;
