//! The registry as the authorizer holds it in memory: rebuilt whole whenever the
//! registry changes, read on every CONNECT, PUBLISH and SUBSCRIBE.

use hearth_model::{Permission, effective_permission};
use hearth_store::{Credentials, Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceEntry {
    pub app: Arc<str>,
    pub enabled: bool,
    pub secret_hash: Arc<str>,
    /// SHA-256 (lowercase hex) of the client certificate it may log in with.
    pub cert_sha256: Option<Arc<str>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppEntry {
    pub id: Arc<str>,
    pub secret_hash: Arc<str>,
}

/// A site (a home hub's link, issue 20) as the authorizer holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SiteEntry {
    pub enabled: bool,
    pub secret_hash: Arc<str>,
    /// The devices it may publish for.
    pub devices: HashSet<Arc<str>>,
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
    /// Ids of the discovery applications (Home Assistant discovery logins, see
    /// `discovery_acl.rs`).
    pub discovery_apps: HashSet<Arc<str>>,
    /// What each person's browser may touch, from roles and grants.
    pub users: HashMap<Arc<str>, UserAccess>,
    /// Devices with a topic layout (issue 18): their ACL, and what the translator and
    /// the commands' encoder read.
    pub layouts: Arc<crate::layouts::LayoutDirectory>,
    /// Sites by id (issue 20).
    pub sites: HashMap<Arc<str>, SiteEntry>,
}

/// The devices a person may see and those they may switch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UserAccess {
    pub is_admin: bool,
    pub view: HashSet<Arc<str>>,
    pub control: HashSet<Arc<str>>,
    /// The groups they are a member of: they read the groups' notifications and
    /// confirmation requests (`hearth/notifications/{group}`, `hearth/confirmations/{group}`).
    pub groups: HashSet<Arc<str>>,
}

/// Reads everything a snapshot needs. The audit sequence is read first: a change that
/// lands meanwhile moves it again and is picked up by the next round.
pub(crate) async fn load(store: &dyn Store) -> Result<Snapshot, StoreError> {
    let seq = store.last_audit_seq().await?;
    let mut snapshot = Snapshot::build(seq, store.credentials().await?);
    snapshot.layouts = Arc::new(crate::layouts::LayoutDirectory::load(store).await?);
    for site in store.site_credentials().await? {
        snapshot.sites.insert(
            site.id.as_str().into(),
            SiteEntry {
                enabled: site.enabled,
                secret_hash: site.secret_hash.into(),
                devices: site
                    .devices
                    .iter()
                    .map(|device| Arc::from(device.as_str()))
                    .collect(),
            },
        );
    }
    let apps = store.apps(None).await?;
    snapshot.discovery_apps = apps
        .iter()
        .filter(|app| app.discovery)
        .map(|app| Arc::from(app.id.as_str()))
        .collect();
    let mut roles: HashMap<(Arc<str>, Arc<str>), hearth_model::Role> = HashMap::new();
    for group in store.groups().await? {
        for member in store.members(&group.id).await? {
            roles.insert(
                (member.user.as_str().into(), group.id.as_str().into()),
                member.role,
            );
        }
    }
    let mut grants: HashMap<(Arc<str>, Arc<str>), Permission> = HashMap::new();
    for app in &apps {
        for grant in store.grants(&app.id).await? {
            grants.insert(
                (grant.user.as_str().into(), app.id.as_str().into()),
                grant.permission,
            );
        }
    }
    for user in store.users().await? {
        let name: Arc<str> = user.name.as_str().into();
        let mut access = UserAccess {
            is_admin: user.is_admin,
            ..UserAccess::default()
        };
        access.groups = roles
            .keys()
            .filter(|(user, _)| *user == name)
            .map(|(_, group)| group.clone())
            .collect();
        for app in &apps {
            let app_id: Arc<str> = app.id.as_str().into();
            let Some(role) = roles.get(&(name.clone(), app.group.as_str().into())) else {
                continue;
            };
            let permission =
                effective_permission(*role, grants.get(&(name.clone(), app_id.clone())).copied());
            if let Some(devices) = snapshot.app_devices.get(&app_id) {
                access.view.extend(devices.iter().cloned());
                if permission >= Permission::Control {
                    access.control.extend(devices.iter().cloned());
                }
            }
        }
        snapshot.users.insert(name, access);
    }
    Ok(snapshot)
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
                    cert_sha256: device.cert_sha256.map(Arc::from),
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

    /// Devices that a live connection must lose: gone, disabled, or given a new secret
    /// or a new (or no) client certificate.
    /// `same_secret(old, new)` tells whether a changed hash still stands for the same
    /// secret (rehashed, see `rehash.rs`).
    pub fn revoked_devices(
        &self,
        newer: &Snapshot,
        same_secret: impl Fn(&str, &str) -> bool,
    ) -> Vec<Arc<str>> {
        self.devices
            .iter()
            .filter(|(id, old)| match newer.devices.get(*id) {
                None => true,
                Some(new) => {
                    !new.enabled
                        || !same_secret(&old.secret_hash, &new.secret_hash)
                        || old.cert_sha256.is_some() && old.cert_sha256 != new.cert_sha256
                }
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Application ids whose connections must go: deleted or given a new secret.
    pub fn revoked_apps(
        &self,
        newer: &Snapshot,
        same_secret: impl Fn(&str, &str) -> bool,
    ) -> HashSet<Arc<str>> {
        self.apps
            .iter()
            .filter(|(key, old)| match newer.apps.get(*key) {
                None => true,
                Some(new) => !same_secret(&old.secret_hash, &new.secret_hash),
            })
            .map(|(_, old)| old.id.clone())
            .collect()
    }

    /// People who lost sight or control of a device, or their account.
    pub fn narrowed_users(&self, newer: &Snapshot) -> HashSet<Arc<str>> {
        self.users
            .iter()
            .filter(|(name, old)| match newer.users.get(*name) {
                None => true,
                Some(new) => {
                    (old.is_admin && !new.is_admin)
                        || !old.view.is_subset(&new.view)
                        || !old.control.is_subset(&new.control)
                }
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Sites whose link must go: removed, disabled or given a new secret.
    pub fn revoked_sites(&self, newer: &Snapshot) -> Vec<Arc<str>> {
        self.sites
            .iter()
            .filter(|(id, old)| {
                newer
                    .sites
                    .get(*id)
                    .is_none_or(|new| !new.enabled || new.secret_hash != old.secret_hash)
            })
            .map(|(id, _)| id.clone())
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
