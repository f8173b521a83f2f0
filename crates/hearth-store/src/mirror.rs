//! The registry mirrored between a cloud hub and a home hub (issue 20, migration 0017,
//! docs/bridge.md "Registry mirror").
//!
//! The cloud builds a [`MirrorSnapshot`] of what one site's home hub needs to let its
//! devices and people in while the cloud is out of reach (the site's group, its members
//! with their password hashes, its applications, their grants, the site's devices with
//! their secret hashes); the home applies it in one transaction. The same types are the
//! wire format of the link (JSON), so what the cloud reads is what the home writes.
//! Secret hashes travel as stored: device and application secrets are salted HMACs
//! without a hub key and people's passwords argon2id, so they verify on either hub.

use crate::StoreResult;
use async_trait::async_trait;
use hearth_model::{Millis, SiteId};
use serde::{Deserialize, Serialize};

/// What the cloud defines for one site, at one revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MirrorSnapshot {
    pub site: String,
    /// The cloud's audit sequence when the snapshot was read: the home applies only a
    /// snapshot at least as new as the last one it applied.
    pub revision: i64,
    pub group: MirrorGroup,
    /// The group's members, and anyone holding a grant on its applications.
    pub users: Vec<MirrorUser>,
    pub apps: Vec<MirrorApp>,
    pub grants: Vec<MirrorGrant>,
    /// The site's devices (`devices.site_id` in the cloud).
    pub devices: Vec<MirrorDevice>,
    /// What the cloud refused of this site's pushed devices (shown on both hubs).
    #[serde(default)]
    pub conflicts: Vec<MirrorConflict>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorGroup {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorUser {
    pub name: String,
    pub display_name: String,
    pub email: Option<String>,
    pub language: String,
    /// argon2id, as stored in the cloud.
    pub password_hash: String,
    /// The role in the group (`owner`, `admin`, `member`, `viewer`); `None` for a
    /// person who only holds a grant.
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorApp {
    pub id: String,
    pub name: String,
    pub description: String,
    pub mqtt_key: String,
    pub secret_hash: String,
    pub discovery: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorGrant {
    pub app: String,
    pub user: String,
    /// `view`, `control` or `manage`.
    pub permission: String,
}

/// A device's definition (never its live state: presence, readings and history are
/// each hub's own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MirrorDevice {
    pub id: String,
    pub app: String,
    pub name: String,
    pub kind: String,
    pub room: Option<String>,
    pub firmware: Option<String>,
    pub metadata: serde_json::Value,
    pub enabled: bool,
    pub heartbeat_timeout_secs: Option<u32>,
    pub secret_hash: String,
    pub cert_sha256: Option<String>,
}

/// One conflict: what was not taken, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorConflict {
    /// The device (or, at home, `user:NAME` / `app:ID`) concerned.
    pub device: String,
    pub reason: String,
    pub at_ms: Millis,
}

/// The home's record of the last snapshot applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MirrorState {
    pub site: String,
    pub revision: i64,
    pub last_sync_ms: Millis,
    /// The cloud's conflicts for this site and those found applying the snapshot.
    pub conflicts: Vec<MirrorConflict>,
}

/// What applying a snapshot did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorApplied {
    /// `false`: the home already applied a newer revision, nothing changed.
    pub applied: bool,
    pub devices_removed: u64,
    /// Conflicts found at home (a local entity with a mirrored one's id).
    pub conflicts: Vec<MirrorConflict>,
}

/// What the cloud did with a device a site pushed up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushedDevice {
    Created,
    /// The cloud already has it, in this site, with the same application and secret.
    Identical,
    /// Not created; recorded in `site_conflicts` (audited).
    Conflict(String),
}

/// The mirror's storage on both hubs.
#[async_trait]
pub trait MirrorStore: Send + Sync {
    /// Cloud: the snapshot of `site`, read in one transaction (revision = the audit
    /// sequence in it). `NotFound` for an unknown site.
    async fn mirror_snapshot(&self, site: &SiteId) -> StoreResult<MirrorSnapshot>;
    /// Cloud: creates a device a site pushed up, in that site, when its id is free and
    /// its application is one of the site's group; `Identical` when it is already there
    /// as pushed; otherwise records a conflict. One transaction, audited as `actor`.
    async fn accept_site_device(
        &self,
        site: &SiteId,
        device: &MirrorDevice,
        actor: &str,
    ) -> StoreResult<PushedDevice>;
    /// Cloud: a site's conflicts, newest first.
    async fn site_conflicts(&self, site: &SiteId) -> StoreResult<Vec<MirrorConflict>>;
    /// Home: applies a snapshot in one transaction (audited as `mirror.apply` by
    /// `actor`), unless a newer revision is already applied. Definitions are replaced,
    /// live state is not; mirrored entities missing from it are deleted; a local device
    /// or application with a mirrored one's id is overwritten (the cloud wins on
    /// definitions; a conflict when it differed), except a local device's secret when
    /// it differs (kept, the device stays local: a conflict), and a local person with a
    /// mirrored one's name is kept (a conflict: a cloud member never takes over, say,
    /// this hub's admin).
    async fn apply_mirror(
        &self,
        snapshot: &MirrorSnapshot,
        actor: &str,
    ) -> StoreResult<MirrorApplied>;
    /// Home: the last snapshot applied, if any.
    async fn mirror_state(&self) -> StoreResult<Option<MirrorState>>;
    /// Home: devices created at home (not mirrored) under a mirrored application: what
    /// goes up to the cloud.
    async fn unmirrored_devices(&self) -> StoreResult<Vec<MirrorDevice>>;
}
