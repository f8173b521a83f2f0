//! Firmware updates over the air, the device's half (protocol in docs/ota.md).
//!
//! [`OtaHandler`] is a [`CommandHandler`] for the `ota` command
//! `{"id", "url", "sha256", "size", "version"}`. It answers at once — `ok` with
//! `{"ota": "accepted"}`, or `failed` when the parameters are unusable — so that the
//! hub's acknowledgement window never has to cover a download; then, in a task of its
//! own, it:
//!
//! 1. downloads `url` (HTTP/1 GET, `https://` with the TLS configuration it was given)
//!    into `<dir>/<sha256>.part` while hashing, reporting the event
//!    `{"ota": "downloading", "progress": P}` every 10 %;
//! 2. checks size and SHA-256; on a mismatch reports `{"ota": "failed", "error":
//!    "checksum mismatch"}` and deletes the file;
//! 3. reports `{"ota": "installing"}` and hands the file to the [`Installer`]
//!    (the simulator records the version and reconnects as if rebooted; an agent runs
//!    its install command);
//! 4. once connected again, reports data `{"firmware_version": V}`: the hub counts the
//!    device as updated only when it reports the new version.
//!
//! Why hyper: it is already in every Hearth build (the hub's outbound client uses it),
//! it parses HTTP/1 fully (chunked bodies, keep-alive, header limits) where a hand-made
//! GET would get corner cases wrong, and it is small with only the `client` and `http1`
//! features. TLS is tokio-rustls on ring, as in the rest of Hearth; the device crate
//! still depends on nothing of the hub's.

use crate::{Ack, Command, CommandHandler, DeviceClient, DeviceError};
use async_trait::async_trait;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::AsyncWriteExt;

/// Installs a verified image. Returning `Ok` means the device will run `version`
/// (after a reboot, if it takes one); `Err` is reported as the failure reason.
#[async_trait]
pub trait Installer: Send + Sync + 'static {
    async fn install(
        &self,
        device: &DeviceClient,
        image: &Path,
        version: &str,
    ) -> Result<(), String>;
}

/// The simulator's installer: "installs" by recording the version and "reboots" by
/// dropping the link for `reboot` (the hub sees the will, then the device come back).
pub struct SimulatedInstaller {
    reboot: std::time::Duration,
    version: std::sync::Mutex<Option<String>>,
}

impl SimulatedInstaller {
    pub fn new(reboot: std::time::Duration) -> SimulatedInstaller {
        SimulatedInstaller {
            reboot,
            version: std::sync::Mutex::new(None),
        }
    }

    /// The version installed last (`None` before any update).
    pub fn version(&self) -> Option<String> {
        self.version
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

#[async_trait]
impl Installer for SimulatedInstaller {
    async fn install(
        &self,
        device: &DeviceClient,
        _image: &Path,
        version: &str,
    ) -> Result<(), String> {
        *self
            .version
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(version.to_owned());
        let mut changes = device.state_changes();
        device.go_offline(self.reboot);
        // Wait for the link to drop, so the version is reported after the "reboot".
        let _ = changes
            .wait_for(|state| *state != crate::ConnectionState::Connected)
            .await;
        Ok(())
    }
}

/// What an `ota` command carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtaRequest {
    pub url: String,
    pub sha256: String,
    pub size: u64,
    pub version: String,
}

impl OtaRequest {
    /// Reads the command's parameters; `Err` names the bad one.
    pub fn from_params(params: &Value) -> Result<OtaRequest, String> {
        let text = |name: &str| {
            params
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("bad ota parameters: {name}"))
        };
        let request = OtaRequest {
            url: text("url")?,
            sha256: text("sha256")?.to_ascii_lowercase(),
            size: params
                .get("size")
                .and_then(Value::as_u64)
                .ok_or("bad ota parameters: size")?,
            version: text("version")?,
        };
        let hex_ok = request.sha256.len() == 64
            && request.sha256.bytes().all(|byte| byte.is_ascii_hexdigit());
        if !hex_ok {
            return Err("bad ota parameters: sha256".into());
        }
        Ok(request)
    }
}

/// The `ota` command's handler (see the module documentation).
pub struct OtaHandler {
    dir: PathBuf,
    installer: Arc<dyn Installer>,
    tls: Option<Arc<rustls::ClientConfig>>,
    corrupt: Arc<AtomicBool>,
}

impl OtaHandler {
    /// Downloads into `dir` (created if missing) and installs with `installer`.
    pub fn new(dir: impl Into<PathBuf>, installer: Arc<dyn Installer>) -> OtaHandler {
        OtaHandler {
            dir: dir.into(),
            installer,
            tls: None,
            corrupt: Arc::new(AtomicBool::new(false)),
        }
    }

    /// How `https://` downloads check the hub (its CA, or the system's roots).
    pub fn with_tls(mut self, tls: Arc<rustls::ClientConfig>) -> OtaHandler {
        self.tls = Some(tls);
        self
    }

    /// For tests and demos: while `corrupt` is set, flips one byte of every downloaded
    /// image before it is checked, so that the device reports `checksum mismatch` as a
    /// damaged download would (the simulator's `ota_fail = "checksum"`).
    pub fn corrupting_downloads(mut self, corrupt: Arc<AtomicBool>) -> OtaHandler {
        self.corrupt = corrupt;
        self
    }

    /// Downloads, checks and installs; the reason on failure. Reports progress.
    pub async fn update(&self, device: &DeviceClient, request: &OtaRequest) -> Result<(), String> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|error| format!("download directory: {error}"))?;
        let part = self.dir.join(format!("{}.part", request.sha256));
        let result = self.fetch_and_install(device, request, &part).await;
        let _ = tokio::fs::remove_file(&part).await;
        result
    }

    async fn fetch_and_install(
        &self,
        device: &DeviceClient,
        request: &OtaRequest,
        part: &Path,
    ) -> Result<(), String> {
        let digest = self.download(device, request, part).await?;
        if digest != request.sha256 {
            return Err("checksum mismatch".into());
        }
        report(device, json!({"ota": "installing"})).await;
        self.installer
            .install(device, part, &request.version)
            .await?;
        Ok(())
    }

    /// Streams the body to `part` while hashing; returns the hex digest (of the bytes
    /// as stored: a corrupting handler flips one before hashing).
    async fn download(
        &self,
        device: &DeviceClient,
        request: &OtaRequest,
        part: &Path,
    ) -> Result<String, String> {
        let mut body = get(&request.url, self.tls.clone()).await?;
        let mut file = tokio::fs::File::create(part)
            .await
            .map_err(|error| format!("download file: {error}"))?;
        let mut hasher = Sha256::new();
        let mut received: u64 = 0;
        let mut reported = 0u64;
        report(device, json!({"ota": "downloading", "progress": 0})).await;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|error| format!("download failed: {error}"))?;
            let Ok(mut data) = frame.into_data() else {
                continue;
            };
            if received == 0 && self.corrupt.load(Ordering::Relaxed) && !data.is_empty() {
                let mut flipped = data.to_vec();
                flipped[0] ^= 0xff;
                data = Bytes::from(flipped);
            }
            received += data.len() as u64;
            if received > request.size {
                return Err("download larger than announced".into());
            }
            hasher.update(&data);
            file.write_all(&data)
                .await
                .map_err(|error| format!("download file: {error}"))?;
            let percent = received * 100 / request.size.max(1);
            if percent >= reported + 10 && percent < 100 {
                reported = percent - percent % 10;
                report(device, json!({"ota": "downloading", "progress": reported})).await;
            }
        }
        file.flush()
            .await
            .map_err(|error| format!("download file: {error}"))?;
        if received != request.size {
            return Err(format!(
                "download incomplete: {received} of {} bytes",
                request.size
            ));
        }
        report(device, json!({"ota": "downloading", "progress": 100})).await;
        Ok(hex::encode(hasher.finalize()))
    }
}

#[async_trait]
impl CommandHandler for OtaHandler {
    async fn handle(&self, device: &DeviceClient, command: &Command) -> Option<Ack> {
        if command.name != "ota" {
            return None;
        }
        let request = match OtaRequest::from_params(&command.params) {
            Ok(request) => request,
            Err(error) => return Some(Ack::failed(error)),
        };
        let handler = OtaHandler {
            dir: self.dir.clone(),
            installer: self.installer.clone(),
            tls: self.tls.clone(),
            corrupt: self.corrupt.clone(),
        };
        let device = device.clone();
        tokio::spawn(async move {
            match handler.update(&device, &request).await {
                Ok(()) => {
                    // After the "reboot": the hub counts the update when it sees this.
                    let report = json!({"firmware_version": request.version});
                    loop {
                        if device.wait_connected().await.is_err() {
                            return;
                        }
                        match device.publish_data(report.clone()).await {
                            Ok(()) => break,
                            Err(DeviceError::NotConnected) => continue,
                            Err(_) => return,
                        }
                    }
                }
                Err(error) => {
                    tracing::info!(device = %device.id(), %error, "firmware update failed");
                    report(&device, json!({"ota": "failed", "error": error})).await;
                }
            }
        });
        Some(
            Ack::ok().with_result(json!({"ota": "accepted", "version": command
            .param("version")
            .cloned()
            .unwrap_or(Value::Null)})),
        )
    }
}

/// Publishes a progress event, waiting for the connection if it is down.
async fn report(device: &DeviceClient, event: Value) {
    for _ in 0..3 {
        match device.publish_event(event.clone()).await {
            Ok(()) => return,
            Err(DeviceError::NotConnected) => {
                if device.wait_connected().await.is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

type Body = hyper::body::Incoming;

/// An HTTP/1 GET; the response body when the status is 200.
async fn get(url: &str, tls: Option<Arc<rustls::ClientConfig>>) -> Result<Body, String> {
    let uri: hyper::Uri = url.parse().map_err(|_| "bad download URL".to_owned())?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err("bad download URL".into()),
    };
    let host = uri.host().ok_or("bad download URL")?.to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let stream = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|error| format!("download failed: {error}"))?;
    let path = uri
        .path_and_query()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let request = hyper::Request::get(path)
        .header(
            hyper::header::HOST,
            uri.authority().map(|a| a.as_str()).unwrap_or(&host),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|error| format!("download failed: {error}"))?;
    let response = if https {
        let tls = tls.ok_or("download failed: https needs a TLS configuration")?;
        let name =
            rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
                .map_err(|_| "bad download URL".to_owned())?;
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, stream)
            .await
            .map_err(|error| format!("download failed: {error}"))?;
        send(TokioIo::new(stream), request).await?
    } else {
        send(TokioIo::new(stream), request).await?
    };
    if response.status() != hyper::StatusCode::OK {
        return Err(format!(
            "download failed: HTTP {}",
            response.status().as_u16()
        ));
    }
    Ok(response.into_body())
}

async fn send<T>(
    io: T,
    request: hyper::Request<Empty<Bytes>>,
) -> Result<hyper::Response<Body>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|error| format!("download failed: {error}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|error| format!("download failed: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_checked() {
        let good = json!({"url": "http://h/x", "sha256": "AB".repeat(32), "size": 3,
            "version": "2.0"});
        let request = OtaRequest::from_params(&good).unwrap();
        assert_eq!(request.sha256, "ab".repeat(32));
        let mut bad = good.clone();
        bad["sha256"] = json!("zz");
        assert_eq!(
            OtaRequest::from_params(&bad).unwrap_err(),
            "bad ota parameters: sha256"
        );
        bad = good.clone();
        bad.as_object_mut().unwrap().remove("size");
        assert!(OtaRequest::from_params(&bad).is_err());
    }
}
