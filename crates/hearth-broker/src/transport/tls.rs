//! TLS for the MQTT (8883) and WSS (8084) listeners.
//!
//! Certificates and keys come as PEM files, the format every CA, certbot and openssl hand
//! out. A mistake in them is the most common way a TLS listener fails to start, so every
//! error names the file it is in and says what is wrong in words an operator can act on
//! ("no certificate found", "the private key does not match the certificate in …"), instead
//! of passing on a bare parser error.
//!
//! The server config always uses rustls' *ring* provider, passed explicitly rather than
//! taken from the process-wide default, so that no other crate in the binary can change
//! which cryptography the broker uses (and aws-lc never needs to be linked).
//!
//! No ALPN protocol is configured. A rustls server that lists ALPN protocols refuses every
//! client that offers ALPN but none of them, and real clients do that: browsers offer
//! `http/1.1` on WSS and AWS-style device SDKs offer their own identifiers on 8883. MQTT
//! needs no negotiation, so ignoring ALPN accepts them all. A listener that wants to
//! advertise `mqtt` can set `alpn_protocols` on a clone of the returned config.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::ResolvesServerCert;
use rustls::server::danger::ClientCertVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::{ByteStream, TransportError};

/// What [`tls_config_from_pem`] names in its errors in place of a certificate file.
const CERT_PEM_LABEL: &str = "<certificate PEM>";
/// What [`tls_config_from_pem`] names in its errors in place of a key file.
const KEY_PEM_LABEL: &str = "<private key PEM>";

/// Loads a PEM certificate chain and private key into a rustls server config.
///
/// `cert_path` holds the server certificate first, then any intermediates, as
/// `BEGIN CERTIFICATE` blocks. `key_path` holds the private key as PKCS#8
/// (`BEGIN PRIVATE KEY`), PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`);
/// both may be the same file. TLS 1.2 and 1.3 are enabled and clients are not asked for a
/// certificate: MQTT clients authenticate with CONNECT credentials.
///
/// Errors name the file and the problem: it cannot be read, holds no certificate or no
/// key, is not valid PEM, or the key does not belong to the certificate.
pub fn load_tls_config(
    cert_path: &Path,
    key_path: &Path,
) -> Result<Arc<ServerConfig>, TransportError> {
    let cert_pem = read_file(cert_path)?;
    let key_pem = read_file(key_path)?;
    build_config(cert_path, &cert_pem, key_path, &key_pem)
}

/// Same as [`load_tls_config`] from PEM bytes already in memory (tests, and certificates
/// generated at start-up for development).
///
/// Errors name `<certificate PEM>` or `<private key PEM>` where a file would be named.
pub fn tls_config_from_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<ServerConfig>, TransportError> {
    build_config(
        Path::new(CERT_PEM_LABEL),
        cert_pem,
        Path::new(KEY_PEM_LABEL),
        key_pem,
    )
}

/// Performs the server side of the TLS handshake on an accepted connection.
///
/// A separate function rather than a bare `acceptor.accept(stream)` so that a failure is a
/// [`TransportError::TlsHandshake`], which the accept loop logs as the client's problem,
/// not as a socket error of the broker's.
pub async fn accept_tls<S: ByteStream>(
    acceptor: &TlsAcceptor,
    stream: S,
) -> Result<TlsStream<S>, TransportError> {
    acceptor
        .accept(stream)
        .await
        .map_err(TransportError::TlsHandshake)
}

pub(super) fn read_file(path: &Path) -> Result<Vec<u8>, TransportError> {
    std::fs::read(path)
        .map_err(|error| config_error(path, format!("cannot read the file: {error}")))
}

fn build_config(
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key_pem: &[u8],
) -> Result<Arc<ServerConfig>, TransportError> {
    let certified_key = certified_key(cert_path, cert_pem, key_path, key_pem)?;
    Ok(server_config(
        Arc::new(SingleCertAndKey::from(certified_key)),
        None,
    ))
}

/// A server config for TLS 1.2 and 1.3 on the ring provider that takes its certificate
/// from `resolver` (a [`super::CertificateSource`] swaps it when the files change) and,
/// with `client_verifier`, asks clients for a certificate (devices log in with one).
pub fn server_config(
    resolver: Arc<dyn ResolvesServerCert>,
    client_verifier: Option<Arc<dyn ClientCertVerifier>>,
) -> Arc<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("the ring provider supports TLS 1.2 and 1.3");
    let config = match client_verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    }
    .with_cert_resolver(resolver);
    Arc::new(config)
}

/// The cryptography every TLS listener uses: rustls' ring provider (see the module docs).
pub(super) fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Parses a PEM certificate chain and key and checks that they belong together; errors
/// name the file at fault.
pub(super) fn certified_key(
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key_pem: &[u8],
) -> Result<CertifiedKey, TransportError> {
    let chain = parse_certificate_chain(cert_path, cert_pem)?;
    let key = parse_private_key(key_path, key_pem)?;

    let signing_key = crypto_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|error| config_error(key_path, format!("unusable private key: {error}")))?;

    // The key/certificate match is checked here rather than left to `with_single_cert` so
    // that each failure can be blamed on the right file.
    let certified_key = CertifiedKey::new(chain, signing_key);
    match certified_key.keys_match() {
        // `Unknown`: the key type cannot report its public key; rustls accepts that too.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(config_error(
                key_path,
                format!(
                    "the private key does not match the certificate in {}",
                    cert_path.display()
                ),
            ));
        }
        Err(error) => {
            return Err(config_error(
                cert_path,
                format!("the first certificate is not a valid X.509 certificate: {error}"),
            ));
        }
    }
    Ok(certified_key)
}

pub(super) fn parse_certificate_chain(
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| config_error(path, format!("not valid PEM: {}", pem_problem(&error))))?;
    if chain.is_empty() {
        return Err(config_error(
            path,
            "no certificate found (expected a \"BEGIN CERTIFICATE\" PEM block)".to_owned(),
        ));
    }
    Ok(chain)
}

pub(super) fn parse_private_key(
    path: &Path,
    pem: &[u8],
) -> Result<PrivateKeyDer<'static>, TransportError> {
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) if contains(pem, b"ENCRYPTED PRIVATE KEY") => {
            Err(config_error(
                path,
                "the private key is encrypted; store it decrypted \
                 (e.g. `openssl pkey -in key.pem -out plain.pem`) and protect the file instead"
                    .to_owned(),
            ))
        }
        Err(pem::Error::NoItemsFound) => Err(config_error(
            path,
            "no private key found (expected a PKCS#8 \"BEGIN PRIVATE KEY\", PKCS#1 \
             \"BEGIN RSA PRIVATE KEY\" or SEC1 \"BEGIN EC PRIVATE KEY\" PEM block)"
                .to_owned(),
        )),
        Err(error) => Err(config_error(
            path,
            format!("not valid PEM: {}", pem_problem(&error)),
        )),
    }
}

/// Describes a PEM parse error without the byte-array debug output the PEM parser's own
/// `Display` gives for bad lines.
fn pem_problem(error: &pem::Error) -> String {
    match error {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "a section is missing its end line \"{}\"",
            String::from_utf8_lossy(end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => format!(
            "malformed section start line \"{}\"",
            String::from_utf8_lossy(line)
        ),
        other => other.to_string(),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

pub(super) fn config_error(path: &Path, problem: String) -> TransportError {
    TransportError::TlsConfig {
        path: path.to_path_buf(),
        problem,
    }
}
