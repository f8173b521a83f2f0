//! Devices: registering (one or thousands), secrets, enabling, editing, removing.

use super::{Registry, RegistryError, optional_text, text};
use crate::secret;
use hearth_model::capability::parse_capabilities;
use hearth_model::{AppId, Device, DeviceId, DevicePatch, NewAuditEntry, NewDevice};
use serde_json::json;

/// A device to register, as typed on a command line, posted as JSON or read from a CSV
/// row. The ids are already parsed by whoever read them (the edge can blame its own
/// flag, property or row); the free-text fields are plain strings, checked here.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    pub id: DeviceId,
    /// Optional when the hub has exactly one application.
    pub app: Option<AppId>,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub room: Option<String>,
    pub firmware: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub heartbeat_timeout_secs: Option<u32>,
}

impl DeviceSpec {
    /// A spec with only the id: the hub's only application, the id as name, a sensor.
    pub fn new(id: DeviceId) -> DeviceSpec {
        DeviceSpec {
            id,
            app: None,
            name: None,
            kind: None,
            room: None,
            firmware: None,
            metadata: None,
            heartbeat_timeout_secs: None,
        }
    }
}

/// Kinds the web app has icons and controls for; others are accepted as free text.
pub const KNOWN_KINDS: [&str; 11] = [
    "sensor",
    "switch",
    "relay",
    "light",
    "thermostat",
    "cover",
    "lock",
    "smoke",
    "camera",
    "gateway",
    "other",
];

/// Accepted heartbeat timeouts: long enough not to flap, short enough to matter.
pub const HEARTBEAT_TIMEOUT_RANGE: std::ops::RangeInclusive<u32> = 5..=86_400;

fn check_kind(kind: Option<&str>) -> Result<String, RegistryError> {
    let kind = kind.map(str::trim).unwrap_or("sensor");
    let ok = !kind.is_empty()
        && kind.len() <= 32
        && kind.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' || byte == b'_'
        });
    if !ok {
        return Err(RegistryError::invalid(
            "kind",
            format!(
                "{kind:?} is not a kind: use lowercase letters, digits, '-' or '_' (e.g. {})",
                KNOWN_KINDS.join(", ")
            ),
        ));
    }
    Ok(kind.to_owned())
}

fn check_metadata(metadata: Option<serde_json::Value>) -> Result<serde_json::Value, RegistryError> {
    match metadata {
        None | Some(serde_json::Value::Null) => Ok(json!({})),
        Some(object @ serde_json::Value::Object(_)) => {
            check_capabilities(&object)?;
            Ok(object)
        }
        Some(_) => Err(RegistryError::invalid("metadata", "must be a JSON object")),
    }
}

/// `metadata.capabilities`, when set, is what the web app draws the device's controls
/// from: a list it can read, blamed entry by entry (`metadata.capabilities[2].type`).
fn check_capabilities(metadata: &serde_json::Value) -> Result<(), RegistryError> {
    match metadata.get("capabilities") {
        None | Some(serde_json::Value::Null) => Ok(()),
        Some(declared) => parse_capabilities(declared).map(drop).map_err(|error| {
            RegistryError::invalid(
                format!("metadata.capabilities{}", error.path),
                error.message,
            )
        }),
    }
}

fn check_timeout(timeout: Option<u32>) -> Result<Option<u32>, RegistryError> {
    match timeout {
        Some(secs) if !HEARTBEAT_TIMEOUT_RANGE.contains(&secs) => Err(RegistryError::invalid(
            "heartbeat_timeout_secs",
            format!(
                "{secs} is out of range {}..={} seconds",
                HEARTBEAT_TIMEOUT_RANGE.start(),
                HEARTBEAT_TIMEOUT_RANGE.end()
            ),
        )),
        other => Ok(other),
    }
}

impl Registry {
    /// The application a device spec names, or the only one there is.
    async fn resolve_app(&self, app: Option<AppId>) -> Result<AppId, RegistryError> {
        if let Some(app) = app {
            return Ok(app);
        }
        // The holding application of unclaimed devices is nobody's choice by default.
        let apps: Vec<_> = self
            .store
            .apps(None)
            .await?
            .into_iter()
            .filter(|app| app.id.as_str() != super::HOLDING)
            .collect();
        match apps.as_slice() {
            [only] => Ok(only.id.clone()),
            [] => Err(RegistryError::invalid(
                "app",
                "there is no application yet; create one with `hearth app add`",
            )),
            _ => Err(RegistryError::invalid(
                "app",
                format!(
                    "there are {} applications; say which one (e.g. --app {})",
                    apps.len(),
                    apps[0].id
                ),
            )),
        }
    }

    pub(super) fn check_spec(spec: DeviceSpec, app: AppId) -> Result<NewDevice, RegistryError> {
        let id = spec.id;
        Ok(NewDevice {
            name: text("name", spec.name.as_deref().unwrap_or(id.as_str()), 100)?,
            kind: check_kind(spec.kind.as_deref())?,
            room: optional_text("room", spec.room.as_deref(), 64)?,
            firmware: optional_text("firmware", spec.firmware.as_deref(), 64)?,
            metadata: check_metadata(spec.metadata)?,
            heartbeat_timeout_secs: check_timeout(spec.heartbeat_timeout_secs)?,
            application: app,
            id,
        })
    }

    /// Registers one device; returns it with its secret (shown once).
    pub async fn add_device(
        &self,
        actor: &str,
        spec: DeviceSpec,
    ) -> Result<(Device, String), RegistryError> {
        let app = self.resolve_app(spec.app.clone()).await?;
        let device = Self::check_spec(spec, app)?;
        let device_secret = secret::generate_secret();
        let hash = secret::hash_secret(&device_secret);
        let id = device.id.clone();
        self.store.create_devices(&[(device, hash)], actor).await?;
        self.changed();
        Ok((self.store.device(&id).await?, device_secret))
    }

    /// Registers many devices all or nothing. Every row is checked before anything is
    /// written; an error names the row (1-based) and the field. `progress` is called
    /// with the number of secrets hashed so far. Returns each id with its secret.
    pub async fn add_devices(
        &self,
        actor: &str,
        specs: Vec<DeviceSpec>,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<(DeviceId, String)>, RegistryError> {
        let mut devices = Vec::with_capacity(specs.len());
        let mut seen = std::collections::HashSet::new();
        for (index, spec) in specs.into_iter().enumerate() {
            let row = index + 1;
            let app = self
                .resolve_app(spec.app.clone())
                .await
                .map_err(|error| error.at_row(row))?;
            let device = Self::check_spec(spec, app).map_err(|error| error.at_row(row))?;
            if !seen.insert(device.id.clone()) {
                return Err(
                    RegistryError::invalid("id", format!("{} appears twice", device.id))
                        .at_row(row),
                );
            }
            devices.push(device);
        }
        // Draw and hash on every core (a large import makes tens of thousands).
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk_len = devices.len().div_ceil(workers).max(1);
        let done = std::sync::atomic::AtomicUsize::new(0);
        let secrets: Vec<(String, String)> = std::thread::scope(|scope| {
            let handles: Vec<_> = devices
                .chunks(chunk_len)
                .map(|chunk| {
                    let done = &done;
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .map(|_| {
                                let device_secret = secret::generate_secret();
                                let hash = secret::hash_secret(&device_secret);
                                let count =
                                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                                progress(count);
                                (device_secret, hash)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|handle| handle.join().expect("hashing does not panic"))
                .collect()
        });
        let mut rows = Vec::with_capacity(devices.len());
        let mut result = Vec::with_capacity(devices.len());
        for (device, (device_secret, hash)) in devices.into_iter().zip(secrets) {
            result.push((device.id.clone(), device_secret));
            rows.push((device, hash));
        }
        self.store.create_devices(&rows, actor).await?;
        self.changed();
        Ok(result)
    }

    /// Gives a device a new secret (shown once); its live connection is cut.
    pub async fn rotate_device_secret(
        &self,
        actor: &str,
        id: &DeviceId,
    ) -> Result<String, RegistryError> {
        let device_secret = secret::generate_secret();
        self.store
            .set_device_secret(
                id,
                &secret::hash_secret(&device_secret),
                &NewAuditEntry::new(actor, "device.rotate_secret", id),
            )
            .await?;
        self.changed();
        Ok(device_secret)
    }

    /// Records the SHA-256 fingerprint (lowercase hex of the DER) of the client
    /// certificate the device logs in with from now on (`None`: none). A previous
    /// certificate stops working and its live connection is cut.
    pub async fn set_device_cert(
        &self,
        actor: &str,
        id: &DeviceId,
        cert_sha256: Option<&str>,
    ) -> Result<(), RegistryError> {
        let action = if cert_sha256.is_some() {
            "device.cert_issue"
        } else {
            "device.cert_revoke"
        };
        self.store
            .set_device_cert(id, cert_sha256, &NewAuditEntry::new(actor, action, id))
            .await?;
        self.changed();
        Ok(())
    }

    /// Enables or disables a device; disabling cuts its live connection.
    pub async fn set_device_enabled(
        &self,
        actor: &str,
        id: &DeviceId,
        enabled: bool,
    ) -> Result<(), RegistryError> {
        let action = if enabled {
            "device.enable"
        } else {
            "device.disable"
        };
        self.store
            .set_device_enabled(id, enabled, &NewAuditEntry::new(actor, action, id))
            .await?;
        self.changed();
        Ok(())
    }

    /// Changes a device's descriptive fields.
    pub async fn update_device(
        &self,
        actor: &str,
        id: &DeviceId,
        mut patch: DevicePatch,
    ) -> Result<Device, RegistryError> {
        if let Some(name) = &patch.name {
            patch.name = Some(text("name", name, 100)?);
        }
        if let Some(kind) = &patch.kind {
            patch.kind = Some(check_kind(Some(kind))?);
        }
        if let Some(room) = &patch.room {
            patch.room = Some(optional_text("room", room.as_deref(), 64)?);
        }
        if let Some(firmware) = &patch.firmware {
            patch.firmware = Some(optional_text("firmware", firmware.as_deref(), 64)?);
        }
        if let Some(metadata) = patch.metadata.take() {
            patch.metadata = Some(check_metadata(Some(metadata))?);
        }
        if let Some(timeout) = patch.heartbeat_timeout_secs {
            patch.heartbeat_timeout_secs = Some(check_timeout(timeout)?);
        }
        let detail = serde_json::to_value(&patch).unwrap_or_default();
        let device = self
            .store
            .update_device(
                id,
                &patch,
                &NewAuditEntry::new(actor, "device.update", id).with_detail(detail),
            )
            .await?;
        self.changed();
        Ok(device)
    }

    /// Removes a device; its live connection is cut.
    pub async fn remove_device(&self, actor: &str, id: &DeviceId) -> Result<(), RegistryError> {
        self.store
            .delete_device(id, &NewAuditEntry::new(actor, "device.remove", id))
            .await?;
        self.changed();
        Ok(())
    }
}
