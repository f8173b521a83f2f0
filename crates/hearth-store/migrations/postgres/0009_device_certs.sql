-- Device client certificates (issue 16): the SHA-256 fingerprint (lowercase hex of the
-- DER) of the one certificate a device may log in with over MQTTS/WSS, or NULL for
-- none. Issuing a new certificate replaces it, so the old one stops working. Keep in
-- step with the other backend's 0009_device_certs.sql: the queries are shared.
ALTER TABLE devices ADD COLUMN cert_sha256 TEXT;
