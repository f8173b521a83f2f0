//! Firmware updates over the air (issue 17; protocol in docs/ota.md).
//!
//! - Images: an upload streams into a temporary file in `<data_dir>/firmware/` while
//!   it is hashed, then is renamed to its SHA-256 (0600): a crash leaves no half image
//!   under a real name, and two uploads of the same bytes share one file.
//! - Rollouts: the targets (one device, a kind in a group, an application) are stored
//!   with the rollout; a first wave (a percentage) is sent the `ota` command through
//!   [`Commands`] (so offline devices get it when they come back, and acks and
//!   deadlines work as for any command), the rest when the first wave all succeeded or
//!   someone continues.
//! - Each attempt carries a download URL with a fresh random token, stored only as its
//!   SHA-256, tied to that one target (device and image) and expiring with the command:
//!   `GET /api/v1/firmware/download/{token}` needs no login (devices have no HTTP
//!   session) and answers the same 404 to every refusal.
//! - The tracker (`tracker.rs`) moves each target on the command's outcomes and on the
//!   device's reports (`{"ota": "downloading", "progress": 40}`, a failure reason, and
//!   finally its `firmware_version`).
//!
//! # Layout
//! - this file: [`OtaConfig`], [`OtaError`], [`Ota`] (the handle) and images.
//! - `rollout`: starting, continuing, stopping and retrying rollouts.
//! - `tracker`: the task that follows devices' progress.

mod rollout;
mod tracker;

pub use rollout::RolloutRequest;

use crate::commands::Commands;
use crate::ingest::Ingest;
use hearth_model::{Firmware, NewAuditEntry, now_millis};
use hearth_store::{Store, StoreError};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

/// `[firmware]` in hearth.toml.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtaConfig {
    /// Largest image accepted (bytes).
    pub max_bytes: u64,
    /// How long a download token (and the `ota` command carrying it) lives.
    pub token_ttl_secs: u32,
    /// The hub's URL as devices reach it (`https://hub.lan:8443`); unset: the HTTP(S)
    /// listener's address, which is only right when it is not a wildcard address.
    pub public_url: Option<String>,
}

impl Default for OtaConfig {
    fn default() -> OtaConfig {
        OtaConfig {
            max_bytes: 64 * 1024 * 1024,
            token_ttl_secs: 3_600,
            public_url: None,
        }
    }
}

/// Why a firmware or rollout request was refused.
#[derive(Debug, thiserror::Error)]
pub enum OtaError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The image is larger than `max_bytes`.
    #[error("the image is larger than {0} bytes")]
    TooLarge(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("firmware file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the commands service is stopped")]
    Stopped,
}

/// The OTA service: a cheap-to-clone handle.
#[derive(Clone)]
pub struct Ota {
    inner: Arc<Inner>,
}

/// How `ota` commands go out: through the hub's commands service, or (the CLI, another
/// process) recorded as `pending` in the store for the running hub to adopt.
pub(crate) enum Sender {
    Hub(Commands),
    Store(crate::commands::CommandConfig),
}

struct Inner {
    store: Arc<dyn Store>,
    sender: Sender,
    /// Where target changes are announced (`hearth/rollouts/{group}`); none in the CLI.
    bus: Option<Arc<dyn hearth_bus::Bus>>,
    config: OtaConfig,
    /// `<data_dir>/firmware`.
    dir: PathBuf,
    /// What download URLs start with (no trailing `/`).
    base_url: String,
    /// Every change of a target goes through this lock (API requests and the tracker),
    /// so that a slow request never writes back a state the tracker already moved on.
    lock: tokio::sync::Mutex<()>,
    tracker: parking_lot::Mutex<Option<JoinHandle<()>>>,
}

/// An image being received: a temporary file, hashed as it is written.
pub struct Upload {
    file: tokio::fs::File,
    temp: PathBuf,
    hasher: Sha256,
    size: u64,
    limit: u64,
}

impl Upload {
    /// Appends a chunk; `TooLarge` (and the temporary file removed) past the limit.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), OtaError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            let _ = tokio::fs::remove_file(&self.temp).await;
            return Err(OtaError::TooLarge(self.limit));
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).await?;
        Ok(())
    }

    /// Drops the temporary file (an upload that failed half-way).
    pub async fn abort(self) {
        let _ = tokio::fs::remove_file(&self.temp).await;
    }
}

/// What an upload is for (the file's name, its version and device kind).
#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub name: String,
    pub version: String,
    pub kind: String,
}

impl Ota {
    /// Creates `<data_dir>/firmware` and starts the tracker on `ingest`'s reports and
    /// `commands`' outcomes.
    pub fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn hearth_bus::Bus>,
        commands: Commands,
        ingest: &Ingest,
        data_dir: &Path,
        base_url: String,
        config: OtaConfig,
    ) -> std::io::Result<Ota> {
        let ota = Ota::start_untracked(store, bus, commands.clone(), data_dir, base_url, config)?;
        let task = ota.track(commands.outcomes(), ingest.reports());
        *ota.inner.tracker.lock() = Some(task);
        Ok(ota)
    }

    /// [`Ota::start`] without a tracker: a node of a cluster serves images and starts
    /// rollouts, and the coordinator alone follows the devices ([`Ota::track`] in each
    /// of its terms, over every device's reports), so that a rollout's next wave goes
    /// out once.
    pub fn start_untracked(
        store: Arc<dyn Store>,
        bus: Arc<dyn hearth_bus::Bus>,
        commands: Commands,
        data_dir: &Path,
        base_url: String,
        config: OtaConfig,
    ) -> std::io::Result<Ota> {
        let dir = data_dir.join("firmware");
        private_dir(&dir)?;
        Ok(Ota {
            inner: Arc::new(Inner {
                store,
                sender: Sender::Hub(commands),
                bus: Some(bus),
                config,
                dir,
                base_url: base_url.trim_end_matches('/').to_owned(),
                lock: tokio::sync::Mutex::new(()),
                tracker: parking_lot::Mutex::new(None),
            }),
        })
    }

    /// Follows the devices' progress on `outcomes` and `reports` until the task is
    /// aborted.
    pub fn track(
        &self,
        outcomes: tokio::sync::broadcast::Receiver<hearth_model::Command>,
        reports: tokio::sync::broadcast::Receiver<crate::ingest::DeviceReport>,
    ) -> JoinHandle<()> {
        tokio::spawn(tracker::run(self.clone(), outcomes, reports))
    }

    /// For the CLI: no tracker; commands are recorded in the store and the running hub
    /// delivers them and follows the devices (see [`crate::commands::record_new`]).
    pub fn offline(
        store: Arc<dyn Store>,
        data_dir: &Path,
        base_url: String,
        config: OtaConfig,
        commands: crate::commands::CommandConfig,
    ) -> Ota {
        Ota {
            inner: Arc::new(Inner {
                store,
                sender: Sender::Store(commands),
                bus: None,
                config,
                dir: data_dir.join("firmware"),
                base_url: base_url.trim_end_matches('/').to_owned(),
                lock: tokio::sync::Mutex::new(()),
                tracker: parking_lot::Mutex::new(None),
            }),
        }
    }

    pub fn config(&self) -> &OtaConfig {
        &self.inner.config
    }

    /// Stops the tracker (targets stay as stored; the next run follows them again).
    pub fn shutdown(&self) {
        if let Some(task) = self.inner.tracker.lock().take() {
            task.abort();
        }
    }

    /// Tells the group's web apps what changed (`hearth/rollouts/{group}`:
    /// `{"rollout": ..., "targets": [...]}`, the changed targets only). Best effort: the
    /// API has the whole state.
    pub(crate) async fn announce(
        &self,
        rollout: &hearth_model::Rollout,
        targets: &[hearth_model::RolloutTarget],
    ) {
        let Some(bus) = &self.inner.bus else { return };
        let topic = format!("hearth/rollouts/{}", rollout.group);
        let payload = serde_json::json!({"rollout": rollout, "targets": targets}).to_string();
        let envelope =
            hearth_bus::Envelope::new(topic, payload).with_qos(hearth_bus::Qos::AtLeastOnce);
        if let Err(error) = bus.publish(envelope).await {
            tracing::warn!(rollout = %rollout.id, "rollout change not published: {error}");
        }
    }

    /// Starts receiving an image into a temporary file.
    pub async fn begin_upload(&self) -> Result<Upload, OtaError> {
        private_dir(&self.inner.dir)?;
        let temp = self
            .inner
            .dir
            .join(format!(".upload-{}", crate::secret::random_string(16)));
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let file = options.open(&temp).await?;
        Ok(Upload {
            file,
            temp,
            hasher: Sha256::new(),
            size: 0,
            limit: self.inner.config.max_bytes,
        })
    }

    /// Finishes an upload: renames the file to its digest and records the image
    /// (audited `firmware.upload`).
    pub async fn finish_upload(
        &self,
        actor: &str,
        mut upload: Upload,
        info: ImageInfo,
    ) -> Result<Firmware, OtaError> {
        if let Err(error) = check_info(&info) {
            upload.abort().await;
            return Err(error);
        }
        if upload.size == 0 {
            upload.abort().await;
            return Err(OtaError::Invalid {
                field: "body",
                message: "the image is empty".into(),
            });
        }
        upload.file.flush().await?;
        upload.file.sync_all().await?;
        let sha256 = hex::encode(upload.hasher.finalize());
        let path = self.inner.dir.join(&sha256);
        tokio::fs::rename(&upload.temp, &path).await?;
        let firmware = Firmware {
            id: crate::secret::random_string(12),
            name: info.name,
            version: info.version,
            kind: info.kind,
            sha256,
            size: upload.size,
            uploaded_by: actor.to_owned(),
            uploaded_at_ms: now_millis(),
        };
        let audit = NewAuditEntry::new(actor, "firmware.upload", &firmware.id).with_detail(
            serde_json::json!({"name": firmware.name, "version": firmware.version,
                "kind": firmware.kind, "sha256": firmware.sha256, "size": firmware.size}),
        );
        self.inner.store.insert_firmware(&firmware, &audit).await?;
        Ok(firmware)
    }

    /// Deletes an image (refused with `Conflict` while a rollout uses it) and its file
    /// unless another record has the same bytes.
    pub async fn delete_firmware(&self, actor: &str, id: &str) -> Result<(), OtaError> {
        let firmware = self.inner.store.firmware(id).await?;
        let audit = NewAuditEntry::new(actor, "firmware.delete", id)
            .with_detail(serde_json::json!({"version": firmware.version}));
        self.inner.store.delete_firmware(id, &audit).await?;
        if !self
            .inner
            .store
            .firmware_file_used(&firmware.sha256)
            .await?
        {
            let _ = tokio::fs::remove_file(self.inner.dir.join(&firmware.sha256)).await;
        }
        Ok(())
    }

    /// The file and its size for a download token, or `None` for every refusal
    /// (unknown, expired, revoked, the target finished or its rollout stopped).
    pub async fn download(&self, token: &str) -> Option<(PathBuf, u64)> {
        if token.is_empty() || token.len() > 128 {
            return None;
        }
        let digest = token_digest(token);
        let store = &self.inner.store;
        let target = store.rollout_target_by_token(&digest).await.ok()?;
        let live = target
            .token_expires_at_ms
            .is_some_and(|expires| expires > now_millis());
        if !live || target.state.is_final() {
            return None;
        }
        let rollout = store.rollout(&target.rollout).await.ok()?;
        if rollout.state == hearth_model::RolloutState::Stopped {
            return None;
        }
        let firmware = store.firmware(&rollout.firmware).await.ok()?;
        Some((self.inner.dir.join(&firmware.sha256), firmware.size))
    }
}

/// Creates `dir` if needed, readable by the hub's user only (0700).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The stored form of a download token.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn check_info(info: &ImageInfo) -> Result<(), OtaError> {
    for (field, value) in [
        ("name", &info.name),
        ("version", &info.version),
        ("kind", &info.kind),
    ] {
        if value.trim().is_empty() || value.len() > 128 || value.chars().any(char::is_control) {
            return Err(OtaError::Invalid {
                field,
                message: format!("{field}: must be 1 to 128 printable characters"),
            });
        }
    }
    Ok(())
}
