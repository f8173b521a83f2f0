//! `hearth device cert ID` and `hearth device add ID --cert`: a device's X.509 client
//! certificate from the hub's device CA, and the fingerprint the registry keeps of it.
//!
//! The registry stores only the SHA-256 fingerprint; the key is written to a file here
//! (mode 0600) and exists nowhere else. The device's id is the certificate's subject CN
//! (see `hearth_services::auth` and docs/tls.md).

use super::{Ctx, Failure, parse_id};
use crate::certs::{LocalCa, create_dir, write_private, write_public};
use hearth_model::DeviceId;
use hearth_services::auth::{certificate_common_name, certificate_sha256};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The files written for a device and the fingerprint recorded.
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    pub sha256: String,
}

impl CertFiles {
    pub fn json(&self) -> Value {
        json!({
            "cert_file": self.cert,
            "key_file": self.key,
            "ca_file": self.ca,
            "sha256": self.sha256,
        })
    }

    pub fn print(&self, id: &DeviceId) {
        println!("client certificate: {}", self.cert.display());
        println!(
            "its key (mode 0600; copy it to the device only): {}",
            self.key.display()
        );
        println!("issued by the device CA {}", self.ca.display());
        println!("SHA-256 fingerprint: {}", self.sha256);
        println!(
            "Log in over MQTTS without a secret (the CA file is the one that signed the hub's server certificate):"
        );
        println!(
            "  mosquitto_pub -h HUB -p 8883 --cafile SERVER-CA.pem --cert {} --key {} -i {id} \
             -t devices/{id}/data -m '{{\"temperature\": 21.5}}'",
            self.cert.display(),
            self.key.display()
        );
    }
}

fn tls_failure(error: anyhow::Error) -> Failure {
    Failure {
        code: "tls",
        field: None,
        message: format!("{error:#}"),
    }
}

/// Issues `id` a new certificate into `out` (default: the current directory) and makes
/// it the only one the device may log in with.
pub async fn issue(ctx: &Ctx, id: &DeviceId, out: Option<PathBuf>) -> Result<CertFiles, Failure> {
    // The device first: no certificate for a device that does not exist.
    ctx.store.device(id).await?;
    let out = out.unwrap_or_else(|| PathBuf::from("."));
    let ca = LocalCa::device_ca(&ctx.data_dir).map_err(tls_failure)?;
    let issued = ca.issue_device(id.as_str()).map_err(tls_failure)?;
    create_dir(&out).map_err(tls_failure)?;
    let files = CertFiles {
        cert: out.join(format!("{id}.cert.pem")),
        key: out.join(format!("{id}.key.pem")),
        ca: ca.cert_path.clone(),
        sha256: certificate_sha256(&issued.der),
    };
    write_private(&files.key, &issued.key_pem).map_err(tls_failure)?;
    write_public(&files.cert, &issued.cert_pem).map_err(tls_failure)?;
    ctx.registry
        .set_device_cert(&ctx.actor, id, Some(&files.sha256))
        .await?;
    Ok(files)
}

pub async fn run(
    ctx: &Ctx,
    id: &str,
    out: Option<PathBuf>,
    import: Option<PathBuf>,
    revoke: bool,
) -> Result<(), Failure> {
    let id: DeviceId = parse_id("id", id)?;
    if revoke {
        ctx.registry.set_device_cert(&ctx.actor, &id, None).await?;
        ctx.out.done(
            json!({ "id": id, "certificate": null }),
            &format!("device {id} no longer logs in with a certificate"),
        );
        return Ok(());
    }
    if let Some(file) = import {
        let sha256 = import_fingerprint(&id, &file)?;
        ctx.store.device(&id).await?;
        ctx.registry
            .set_device_cert(&ctx.actor, &id, Some(&sha256))
            .await?;
        ctx.out.done(
            json!({ "id": id, "sha256": sha256 }),
            &format!(
                "device {id} now logs in with the certificate in {} (SHA-256 {sha256})",
                file.display()
            ),
        );
        return Ok(());
    }
    let files = issue(ctx, &id, out).await?;
    if ctx.out.json {
        let mut value = files.json();
        value["id"] = json!(id);
        ctx.out.json(&value);
    } else {
        println!("new client certificate for device {id}; the previous one no longer works");
        files.print(&id);
    }
    Ok(())
}

/// The fingerprint of the first certificate in `file`, after checking that its CN is
/// the device id (otherwise the hub would never match it to the device).
fn import_fingerprint(id: &DeviceId, file: &Path) -> Result<String, Failure> {
    let der = CertificateDer::from_pem_file(file).map_err(|error| {
        Failure::invalid(
            "import",
            format!("{}: no PEM certificate: {error}", file.display()),
        )
    })?;
    match certificate_common_name(&der) {
        Some(name) if name == id.as_str() => Ok(certificate_sha256(&der)),
        Some(name) => Err(Failure::invalid(
            "import",
            format!("the certificate's subject CN is {name:?}, not the device id {id}"),
        )),
        None => Err(Failure::invalid(
            "import",
            "the certificate has no subject CN (the hub reads the device id from it)",
        )),
    }
}
