//! Certificates that follow their files, and the device certificate check.
//!
//! ACME clients (certbot, acme.sh) renew a certificate every 60 to 90 days by writing
//! new files. A [`CertificateSource`] is the rustls certificate resolver of every TLS
//! listener (MQTTS, WSS and the hub's HTTPS): [`CertificateSource::reload`] re-reads the
//! two files and, when they changed and form a valid pair, swaps the certificate that new
//! handshakes get; connections already open keep theirs. A bad pair (half-written,
//! mismatched key, not PEM) is logged once and the old certificate stays in use, so a
//! renewal that goes wrong never takes the hub off the air. [`CertificateSource::watch`]
//! checks every few seconds; the hub also reloads on SIGHUP.
//!
//! The files' contents are compared, not their modification times: they are small, read
//! every few seconds, and a copy that keeps the time (`cp -p`) or lands within the
//! file system's time resolution is still noticed.
//!
//! [`device_client_verifier`] asks clients for a certificate without requiring one:
//! devices may log in with a certificate issued by a CA the hub trusts, everyone else
//! with a password. A certificate from any other CA fails the handshake.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use rustls::RootCertStore;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;

use super::TransportError;
use super::tls::{
    certified_key, config_error, crypto_provider, parse_certificate_chain, read_file,
};

/// How often [`CertificateSource::watch`] looks at the files by default.
pub const DEFAULT_RELOAD_CHECK: Duration = Duration::from_secs(5);

/// The current certificate of the TLS listeners, re-read from its files on demand.
pub struct CertificateSource {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// The file contents last looked at (loaded or refused), so that an unchanged bad
    /// pair is reported once, not on every check.
    seen: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for CertificateSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateSource")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl CertificateSource {
    /// Loads the certificate chain and key; errors name the file at fault (see
    /// [`super::load_tls_config`]).
    pub fn load(
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<Arc<CertificateSource>, TransportError> {
        let cert_pem = read_file(cert_path)?;
        let key_pem = read_file(key_path)?;
        let key = certified_key(cert_path, &cert_pem, key_path, &key_pem)?;
        Ok(Arc::new(CertificateSource {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: RwLock::new(Arc::new(key)),
            seen: Mutex::new((cert_pem, key_pem)),
        }))
    }

    /// Re-reads the files. `Ok(true)`: they changed and the new pair is now served;
    /// `Ok(false)`: nothing changed (or the same bad pair as last time); `Err`: they
    /// changed into something unusable, and the previous certificate is kept.
    pub fn reload(&self) -> Result<bool, TransportError> {
        let cert_pem = read_file(&self.cert_path)?;
        let key_pem = read_file(&self.key_path)?;
        {
            let mut seen = self.seen.lock();
            if seen.0 == cert_pem && seen.1 == key_pem {
                return Ok(false);
            }
            *seen = (cert_pem.clone(), key_pem.clone());
        }
        let key = certified_key(&self.cert_path, &cert_pem, &self.key_path, &key_pem)?;
        *self.current.write() = Arc::new(key);
        Ok(true)
    }

    /// [`CertificateSource::reload`], logging the outcome: what a watcher and a SIGHUP do.
    pub fn reload_and_log(&self) {
        match self.reload() {
            Ok(true) => tracing::info!(
                cert = %self.cert_path.display(),
                "TLS certificate reloaded; new connections use it"
            ),
            Ok(false) => {}
            Err(error) => tracing::warn!(
                "TLS certificate files changed but cannot be used, keeping the previous certificate: {error}"
            ),
        }
    }

    /// Checks the files every `every` until the task is aborted.
    pub fn watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let source = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(source) = source.upgrade() else {
                    return;
                };
                // File reads are small; a blocking thread keeps them off the runtime.
                let _ = tokio::task::spawn_blocking(move || source.reload_and_log()).await;
            }
        })
    }

    /// The DER of the certificate new handshakes get (leaf first), for tests and checks.
    pub fn current_chain(&self) -> Vec<rustls_pki_types::CertificateDer<'static>> {
        self.current.read().cert.clone()
    }

    /// The certificate file.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }
}

impl ResolvesServerCert for CertificateSource {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().clone())
    }
}

/// A client certificate check for the MQTT listeners: certificates are requested, not
/// required; one that is presented must chain to a CA in `ca_files` (PEM, each may hold
/// several), or the handshake fails. Which device a valid certificate stands for is the
/// authorizer's decision (see `hearth_bus::ConnectRequest::client_cert`).
pub fn device_client_verifier(
    ca_files: &[PathBuf],
) -> Result<Arc<dyn ClientCertVerifier>, TransportError> {
    let mut roots = RootCertStore::empty();
    for path in ca_files {
        let pem = read_file(path)?;
        for certificate in parse_certificate_chain(path, &pem)? {
            roots.add(certificate).map_err(|error| {
                config_error(path, format!("not a usable CA certificate: {error}"))
            })?;
        }
    }
    let Some(first) = ca_files.first() else {
        return Err(config_error(
            Path::new("<client CA>"),
            "no CA file given for client certificates".to_owned(),
        ));
    };
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crypto_provider())
        .allow_unauthenticated()
        .build()
        .map_err(|error| config_error(first, format!("cannot check client certificates: {error}")))
}
