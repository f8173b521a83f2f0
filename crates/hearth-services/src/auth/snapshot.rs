//! The registry as the authorizer holds it in memory: rebuilt whole whenever the
//! registry changes, read on every CONNECT, PUBLISH and SUBSCRIBE.

use hearth_store::Credentials;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceEntry {
    pub app: Arc<str>,
    pub enabled: bool,
    pub secret_hash: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppEntry {
    pub id: Arc<str>,
    pub secret_hash: Arc<str>,
}

/// One consistent view of who may connect and what applications hold.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// The audit sequence number this view reflects.
    pub seq: i64,
    pub devices: HashMap<Arc<str>, DeviceEntry>,
    /// By MQTT key.
    pub apps: HashMap<Arc<str>, AppEntry>,
    /// Application id to the ids of its devices (enabled or not: a disabled device
    /// cannot connect, but its history stays readable).
    pub app_devices: HashMap<Arc<str>, HashSet<Arc<str>>>,
    /// Administrator name to password hash.
    pub admins: HashMap<Arc<str>, Arc<str>>,
}

impl Snapshot {
    pub fn build(seq: i64, credentials: Credentials) -> Snapshot {
        let mut snapshot = Snapshot {
            seq,
            ..Snapshot::default()
        };
        for app in credentials.apps {
            let id: Arc<str> = app.id.as_str().into();
            snapshot.app_devices.entry(id.clone()).or_default();
            snapshot.apps.insert(
                app.mqtt_key.as_str().into(),
                AppEntry {
                    id,
                    secret_hash: app.secret_hash.into(),
                },
            );
        }
        for device in credentials.devices {
            let id: Arc<str> = device.id.as_str().into();
            let app: Arc<str> = device.application.as_str().into();
            snapshot
                .app_devices
                .entry(app.clone())
                .or_default()
                .insert(id.clone());
            snapshot.devices.insert(
                id,
                DeviceEntry {
                    app,
                    enabled: device.enabled,
                    secret_hash: device.secret_hash.into(),
                },
            );
        }
        for admin in credentials.admins {
            snapshot
                .admins
                .insert(admin.name.as_str().into(), admin.password_hash.into());
        }
        snapshot
    }

    /// Devices that a live connection must lose: gone, disabled, or given a new secret.
    pub fn revoked_devices(&self, newer: &Snapshot) -> Vec<Arc<str>> {
        self.devices
            .iter()
            .filter(|(id, old)| match newer.devices.get(*id) {
                None => true,
                Some(new) => !new.enabled || new.secret_hash != old.secret_hash,
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Application ids whose connections must go: deleted or given a new secret.
    pub fn revoked_apps(&self, newer: &Snapshot) -> HashSet<Arc<str>> {
        self.apps
            .iter()
            .filter(|(key, old)| match newer.apps.get(*key) {
                None => true,
                Some(new) => new.secret_hash != old.secret_hash,
            })
            .map(|(_, old)| old.id.clone())
            .collect()
    }

    /// Administrators removed, demoted or given a new password.
    pub fn revoked_admins(&self, newer: &Snapshot) -> HashSet<Arc<str>> {
        self.admins
            .iter()
            .filter(|(name, hash)| newer.admins.get(*name) != Some(*hash))
            .map(|(name, _)| name.clone())
            .collect()
    }
}
