//! MQTTS for devices: the trust and, optionally, the client certificate a device presents.
//!
//! A hub with a certificate from a public CA (Let's Encrypt behind the hub's own HTTPS)
//! is trusted through the system's roots; a home hub with `hearth tls dev-cert`'s CA
//! through that CA's PEM file. A device issued a certificate by `hearth device add
//! --cert` presents it and needs no secret (docs/tls.md). rustls on ring, as the rest of
//! Hearth: no OpenSSL and no aws-lc on a Raspberry Pi.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// Why a TLS configuration could not be built; names the file at fault.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct TlsError(String);

/// What a device needs to log in over MQTTS.
#[derive(Debug, Clone, Default)]
pub struct DeviceTls {
    /// PEM file of the CA(s) to trust for the hub's certificate; `None` trusts the
    /// system's roots (a hub with a publicly trusted certificate).
    pub ca_file: Option<std::path::PathBuf>,
    /// The device's certificate chain and private key (PEM files), presented when the
    /// hub asks: the certificate is then the credential and the secret may be empty.
    pub identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl DeviceTls {
    /// The rustls client configuration, with every file read and checked now, so that a
    /// wrong path fails at start and not at each reconnection.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                for cert in certificates(path)? {
                    roots
                        .add(cert)
                        .map_err(|error| TlsError(format!("{}: {error}", path.display())))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                for cert in found.certs {
                    // One unusable system root is no reason to trust none.
                    let _ = roots.add(cert);
                }
                if roots.is_empty() {
                    return Err(TlsError(
                        "no system CA certificates found: give the hub's CA file (ca_file)".into(),
                    ));
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsError(error.to_string()))?
            .with_root_certificates(roots);
        let config = match &self.identity {
            Some((cert_file, key_file)) => {
                let chain = certificates(cert_file)?;
                let key = PrivateKeyDer::from_pem_file(key_file).map_err(|error| {
                    TlsError(format!("{}: no private key: {error}", key_file.display()))
                })?;
                builder.with_client_auth_cert(chain, key).map_err(|error| {
                    TlsError(format!(
                        "{} and {}: {error}",
                        cert_file.display(),
                        key_file.display()
                    ))
                })?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| TlsError(format!("{}: {error}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "{}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_are_named() {
        let dir = std::env::temp_dir().join(format!("hearth-device-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let missing = dir.join("missing.pem");
        for (tls, expected) in [
            (
                DeviceTls {
                    ca_file: Some(missing.clone()),
                    identity: None,
                },
                "missing.pem",
            ),
            (
                DeviceTls {
                    ca_file: Some(empty.clone()),
                    identity: None,
                },
                "no PEM certificate",
            ),
        ] {
            let error = tls.client_config().unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
