//! `[dynsec]` of hearth.toml: which Mosquitto to keep in step and as whom. Checked
//! while parsing, so that a mistake names its line.

use crate::bridge::BridgeUrl;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Keeping a Mosquitto's dynamic-security plugin in step with the registry (docs/scale.md
/// "Mosquitto dynamic security"). Present in hearth.toml: the hub runs the sync. Its
/// `Debug` leaves the password out, so that a logged configuration does not carry it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawDynsecConfig", into = "RawDynsecConfig")]
pub struct DynsecConfig {
    /// `mqtt://host:port` or `mqtts://host:port`.
    pub url: BridgeUrl,
    /// The dynsec administrator's user name (made by `mosquitto_ctrl dynsec init`).
    pub admin: String,
    /// Its password, inline or read from `password_file` at start.
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    /// The key broker passwords are derived from (`desired.rs`); default
    /// `<data_dir>/dynsec.key`, made on first start.
    pub key_file: Option<PathBuf>,
    /// The broker's CA for `mqtts://` (PEM); without it, the system's roots.
    pub ca_file: Option<PathBuf>,
    /// The client id of Hearth's admin connection; default `hearth-dynsec`.
    pub client_id: String,
}

impl std::fmt::Debug for DynsecConfig {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        out.debug_struct("DynsecConfig")
            .field("url", &self.url)
            .field("admin", &self.admin)
            .field("password", &self.password.as_ref().map(|_| "(hidden)"))
            .field("password_file", &self.password_file)
            .field("key_file", &self.key_file)
            .field("ca_file", &self.ca_file)
            .field("client_id", &self.client_id)
            .finish()
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDynsecConfig {
    url: BridgeUrl,
    admin: String,
    /// Never written back out: a serialized configuration does not carry it.
    #[serde(default, skip_serializing)]
    password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ca_file: Option<PathBuf>,
    #[serde(default = "default_client_id")]
    client_id: String,
}

fn default_client_id() -> String {
    "hearth-dynsec".into()
}

impl TryFrom<RawDynsecConfig> for DynsecConfig {
    type Error = String;
    fn try_from(raw: RawDynsecConfig) -> Result<DynsecConfig, String> {
        if raw.admin.is_empty() {
            return Err("[dynsec] admin: empty".into());
        }
        match (&raw.password, &raw.password_file) {
            (Some(_), Some(_)) => {
                return Err("[dynsec]: give password or password_file, not both".into());
            }
            (None, None) => return Err("[dynsec]: password or password_file is required".into()),
            (Some(password), None) if password.is_empty() => {
                return Err("[dynsec] password: empty".into());
            }
            _ => {}
        }
        if raw.ca_file.is_some() && !raw.url.tls {
            return Err("[dynsec] ca_file: only for an mqtts:// url".into());
        }
        if raw.client_id.is_empty() {
            return Err("[dynsec] client_id: empty".into());
        }
        Ok(DynsecConfig {
            url: raw.url,
            admin: raw.admin,
            password: raw.password,
            password_file: raw.password_file,
            key_file: raw.key_file,
            ca_file: raw.ca_file,
            client_id: raw.client_id,
        })
    }
}

impl From<DynsecConfig> for RawDynsecConfig {
    fn from(config: DynsecConfig) -> RawDynsecConfig {
        RawDynsecConfig {
            url: config.url,
            admin: config.admin,
            password: config.password,
            password_file: config.password_file,
            key_file: config.key_file,
            ca_file: config.ca_file,
            client_id: config.client_id,
        }
    }
}

impl DynsecConfig {
    /// The administrator's password: inline, or the first line of `password_file`.
    pub fn read_password(&self) -> Result<String, String> {
        if let Some(password) = &self.password {
            return Ok(password.clone());
        }
        let path = self.password_file.as_ref().expect("checked while parsing");
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("[dynsec] password_file {}: {error}", path.display()))?;
        let password = text.lines().next().unwrap_or("").trim_end().to_owned();
        if password.is_empty() {
            return Err(format!("[dynsec] password_file {}: empty", path.display()));
        }
        Ok(password)
    }

    /// Where the broker-password key lives: `key_file`, else `<data_dir>/dynsec.key`.
    pub fn key_path(&self, data_dir: &Path) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("dynsec.key"))
    }

    /// The rustls configuration for `mqtts://`: `ca_file`'s CAs, else the system's.
    pub fn tls(&self) -> Result<Option<Arc<rustls::ClientConfig>>, String> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        if !self.url.tls {
            return Ok(None);
        }
        let mut roots = rustls::RootCertStore::empty();
        if let Some(path) = &self.ca_file {
            let named = |error: &dyn std::fmt::Display| {
                format!("[dynsec] ca_file {}: {error}", path.display())
            };
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|error| named(&error))?;
            for cert in certs {
                roots.add(cert).map_err(|error| named(&error))?;
            }
        } else {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
        if roots.is_empty() {
            return Err("[dynsec]: no CA certificate to check the broker with".into());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| error.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Some(Arc::new(config)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct File {
        dynsec: DynsecConfig,
    }

    #[test]
    fn a_minimal_table_parses_and_mistakes_name_their_line() {
        let file: File = toml::from_str(
            "[dynsec]\nurl = \"mqtt://127.0.0.1:1883\"\nadmin = \"hearth\"\npassword = \"pw\"\n",
        )
        .unwrap();
        assert_eq!(file.dynsec.url.port, 1883);
        assert_eq!(file.dynsec.client_id, "hearth-dynsec");
        assert_eq!(file.dynsec.read_password().unwrap(), "pw");
        let shown = format!("{:?}", file.dynsec);
        assert!(
            !shown.contains("\"pw\"") && shown.contains("hidden"),
            "{shown}"
        );
        let written = toml::to_string(&file.dynsec).unwrap();
        assert!(!written.contains("password"), "{written}");
        for (text, expected) in [
            (
                "[dynsec]\nurl = \"mqtt://h\"\nadmin = \"a\"\n",
                "password or password_file is required",
            ),
            (
                "[dynsec]\nurl = \"mqtt://h\"\nadmin = \"a\"\npassword = \"p\"\npassword_file = \"f\"\n",
                "not both",
            ),
            (
                "[dynsec]\nurl = \"http://h\"\nadmin = \"a\"\npassword = \"p\"\n",
                "mqtt://",
            ),
            (
                "[dynsec]\nurl = \"mqtt://h\"\nadmin = \"a\"\npassword = \"p\"\nca_file = \"c\"\n",
                "only for an mqtts:// url",
            ),
            (
                "[dynsec]\nurl = \"mqtt://h\"\nadmin = \"a\"\npassword = \"p\"\nextra = 1\n",
                "unknown field",
            ),
        ] {
            let error = toml::from_str::<File>(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
            assert!(error.contains("line"), "{text}: {error}");
        }
    }
}
