//! Certificates the hub makes itself (rcgen, ECDSA P-256): a local CA with a server
//! certificate for development (`hearth tls dev-cert`), and the device CA that issues
//! devices' client certificates (`hearth device add ID --cert`, `hearth device cert ID`).
//!
//! A CA is two PEM files, the certificate and its key; the key is written with mode
//! 0600 and never printed. An existing CA is reused, so certificates issued earlier
//! stay valid and a CA already trusted stays trusted.

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How long a CA made here is valid: ten years.
const CA_DAYS: i64 = 3_650;
/// A server certificate: 397 days, the most browsers accept without complaint.
const SERVER_DAYS: i64 = 397;
/// A device certificate: five years; `hearth device cert ID` issues a new one.
const DEVICE_DAYS: i64 = 1_826;

/// The device CA's certificate, under the data directory.
pub fn device_ca_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("device-ca.pem"), dir.join("device-ca.key.pem"))
}

/// A CA that can sign certificates: its files and its signing key.
pub struct LocalCa {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    /// Whether this call created it (the caller says so).
    pub created: bool,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate just issued: PEM text of the certificate and its new key, and the DER.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl LocalCa {
    /// Reads the CA at `cert_path`/`key_path`, or creates one named `common_name` when
    /// neither file exists. Half a CA (one file without the other) is an error rather
    /// than something to overwrite.
    pub fn load_or_create(
        cert_path: &Path,
        key_path: &Path,
        common_name: &str,
    ) -> anyhow::Result<LocalCa> {
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => {
                let cert_pem = std::fs::read_to_string(cert_path)
                    .with_context(|| format!("reading {}", cert_path.display()))?;
                let key_pem = std::fs::read_to_string(key_path)
                    .with_context(|| format!("reading {}", key_path.display()))?;
                let key = KeyPair::from_pem(&key_pem)
                    .with_context(|| format!("{}: not a usable private key", key_path.display()))?;
                let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).with_context(|| {
                    format!("{}: not a usable CA certificate", cert_path.display())
                })?;
                Ok(LocalCa {
                    cert_path: cert_path.to_path_buf(),
                    key_path: key_path.to_path_buf(),
                    created: false,
                    issuer,
                })
            }
            (false, false) => {
                let key = KeyPair::generate().context("generating a CA key")?;
                let mut params = CertificateParams::default();
                let mut name = DistinguishedName::new();
                name.push(DnType::OrganizationName, "Hearth");
                name.push(
                    DnType::CommonName,
                    format!("{common_name} {}", now().date()),
                );
                params.distinguished_name = name;
                params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
                params.key_usages = vec![
                    KeyUsagePurpose::KeyCertSign,
                    KeyUsagePurpose::CrlSign,
                    KeyUsagePurpose::DigitalSignature,
                ];
                params.not_before = now() - time::Duration::days(1);
                params.not_after = now() + time::Duration::days(CA_DAYS);
                let cert = params
                    .self_signed(&key)
                    .context("signing the CA certificate")?;
                if let Some(dir) = cert_path.parent() {
                    create_dir(dir)?;
                }
                write_private(key_path, &key.serialize_pem())?;
                write_public(cert_path, &cert.pem())?;
                Ok(LocalCa {
                    cert_path: cert_path.to_path_buf(),
                    key_path: key_path.to_path_buf(),
                    created: true,
                    issuer: Issuer::new(params, key),
                })
            }
            (true, false) => bail!(
                "{} exists but its key {} does not; move it away to start a new CA",
                cert_path.display(),
                key_path.display()
            ),
            (false, true) => bail!(
                "{} exists but its certificate {} does not; move it away to start a new CA",
                key_path.display(),
                cert_path.display()
            ),
        }
    }

    /// The hub's device CA in `data_dir/tls`, created on first need.
    pub fn device_ca(data_dir: &Path) -> anyhow::Result<LocalCa> {
        let (cert, key) = device_ca_paths(data_dir);
        LocalCa::load_or_create(&cert, &key, "Hearth device CA")
    }

    /// A server certificate for `names` (DNS names or IP addresses; the first is also the
    /// subject CN).
    pub fn issue_server(&self, names: &[String]) -> anyhow::Result<Issued> {
        let Some(first) = names.first() else {
            bail!("give at least one name (--name), e.g. --name hub.local --name 192.168.1.10");
        };
        let mut params = CertificateParams::new(names.to_vec())
            .with_context(|| format!("{names:?}: not valid DNS names or IP addresses"))?;
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, first.as_str());
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = now() - time::Duration::days(1);
        params.not_after = now() + time::Duration::days(SERVER_DAYS);
        self.sign(params)
    }

    /// A client certificate whose subject CN is `device` (the device id the hub reads
    /// from it), usable only for client authentication.
    pub fn issue_device(&self, device: &str) -> anyhow::Result<Issued> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Hearth devices");
        params.distinguished_name.push(DnType::CommonName, device);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = now() - time::Duration::days(1);
        params.not_after = now() + time::Duration::days(DEVICE_DAYS);
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> anyhow::Result<Issued> {
        let key = KeyPair::generate().context("generating a key")?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("signing the certificate")?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        })
    }
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// Creates `dir` (and parents), mode 0700 where it is new.
pub fn create_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Writes a private key: mode 0600 from the first byte (never readable by others, not
/// even for a moment), replacing what was there.
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Writes a certificate (public: mode 0644).
pub fn write_public(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
