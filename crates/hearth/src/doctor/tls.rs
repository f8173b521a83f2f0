//! The TLS certificate and key of the MQTTS, WSS and HTTPS listeners: readable,
//! parseable, not expired (a warning 30 days before), the key the certificate's, and
//! the key for the hub's user alone.

use super::{EXPIRY_WARNING, Report, Status, mode, unix_now_secs};
use std::path::Path;

/// (not after, subject public key bits, subject) of the first certificate in `pem`.
fn parse_first(pem: &[u8]) -> Result<(i64, Vec<u8>, String), String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).map_err(|error| error.to_string())?;
    let cert = pem.parse_x509().map_err(|error| error.to_string())?;
    Ok((
        cert.validity().not_after.timestamp(),
        cert.public_key().subject_public_key.data.to_vec(),
        cert.subject().to_string(),
    ))
}

/// A further CA whose client certificates the TLS listeners accept (`client_ca_file`):
/// readable, a certificate, not expired.
pub(super) fn check_client_ca(report: &mut Report, file: &Path) {
    let parsed = std::fs::read(file)
        .map_err(|error| format!("cannot read it: {error}"))
        .and_then(|pem| parse_first(&pem));
    match parsed {
        Err(error) => report.add(
            "tls_client_ca",
            Status::Fail,
            format!("{}: {error}", file.display()),
            "point [mqtt.tls] client_ca_file at the CA's PEM certificate, or remove it",
        ),
        Ok((not_after, _, subject)) if not_after <= unix_now_secs() => report.add(
            "tls_client_ca",
            Status::Fail,
            format!("{} ({subject}) has expired", file.display()),
            "devices with its certificates cannot log in: install the CA's new certificate",
        ),
        Ok((_, _, subject)) => report.ok(
            "tls_client_ca",
            format!("{} ({subject}) is valid", file.display()),
        ),
    }
}

pub(super) fn check_files(report: &mut Report, cert_file: &Path, key_file: &Path) {
    let cert_pem = match std::fs::read(cert_file) {
        Ok(pem) => pem,
        Err(error) => {
            report.add(
                "tls_cert",
                Status::Fail,
                format!("cannot read {}: {error}", cert_file.display()),
                "point tls cert_file (--tls-cert) at a readable PEM certificate chain",
            );
            return;
        }
    };
    let parsed = parse_first(&cert_pem);
    let (not_after, public_key, subject) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            report.add(
                "tls_cert",
                Status::Fail,
                format!("{} is not a PEM certificate: {error}", cert_file.display()),
                "use the certificate chain (leaf first) your CA or ACME client wrote",
            );
            return;
        }
    };
    let now = unix_now_secs();
    let days_left = (not_after - now) / 86_400;
    if not_after <= now {
        report.add(
            "tls_cert",
            Status::Fail,
            format!(
                "{} ({subject}) expired {} days ago",
                cert_file.display(),
                -days_left
            ),
            "renew it (certbot renew / acme.sh --renew); the hub re-reads the files",
        );
    } else if not_after - now < EXPIRY_WARNING.as_secs() as i64 {
        report.add(
            "tls_cert",
            Status::Warn,
            format!(
                "{} ({subject}) expires in {days_left} days",
                cert_file.display()
            ),
            "renew it soon; check that the ACME client's renewal runs",
        );
    } else {
        report.ok(
            "tls_cert",
            format!(
                "{} ({subject}) is valid for {days_left} more days",
                cert_file.display()
            ),
        );
    }
    let key_pem = match std::fs::read_to_string(key_file) {
        Ok(pem) => pem,
        Err(error) => {
            report.add(
                "tls_key",
                Status::Fail,
                format!("cannot read {}: {error}", key_file.display()),
                "point tls key_file (--tls-key) at the certificate's PEM private key",
            );
            return;
        }
    };
    match rcgen::KeyPair::from_pem(&key_pem) {
        Err(error) => report.add(
            "tls_key",
            Status::Fail,
            format!("{} is not a PEM private key: {error}", key_file.display()),
            "use the private key the certificate was issued for (PKCS#8, PKCS#1 or SEC1)",
        ),
        Ok(key) if key.public_key_raw() != public_key.as_slice() => report.add(
            "tls_key",
            Status::Fail,
            format!(
                "{} is not the key of {}",
                key_file.display(),
                cert_file.display()
            ),
            "use the key and certificate from the same issuance",
        ),
        Ok(_) => match mode(key_file) {
            Some(bits) if bits & 0o077 != 0 => report.add(
                "tls_key",
                Status::Fail,
                format!(
                    "{} is readable by others (mode {bits:04o})",
                    key_file.display()
                ),
                &format!("chmod 0600 {}", key_file.display()),
            ),
            _ => report.ok(
                "tls_key",
                format!("{} matches the certificate", key_file.display()),
            ),
        },
    }
}
