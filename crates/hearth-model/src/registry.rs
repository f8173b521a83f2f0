//! The registry's records (SPEC §3): groups, users, memberships, applications, grants and
//! devices. Secrets and password hashes are deliberately not fields here: they live only
//! in the store and in the authorizer, so that no API or CLI path can print them by
//! accident.

use crate::{AppId, DeviceId, GroupId, Millis, Permission, Role, SiteId, UserName};
use serde::{Deserialize, Serialize};

/// A home, team or workshop: the unit people share devices in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    pub created_at_ms: Millis,
}

/// A person who can log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: UserName,
    pub display_name: String,
    pub email: Option<String>,
    /// `en` or `zh-CN`; the web app's language for this person.
    pub language: String,
    /// A hub administrator: may manage every group and connect to MQTT as admin.
    pub is_admin: bool,
    pub created_at_ms: Millis,
}

/// A user's role in a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub group: GroupId,
    pub user: UserName,
    pub role: Role,
}

/// A named set of devices in a group, with its own MQTT key and secret for the
/// services and scripts that consume or control those devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub id: AppId,
    pub group: GroupId,
    pub name: String,
    pub description: String,
    /// The MQTT user name of this application (its secret is the password).
    pub mqtt_key: String,
    pub created_at_ms: Millis,
    /// A discovery login (issue 18): devices running Tasmota, Zigbee2MQTT, ESPHome or
    /// Shelly firmware log in with this application's key and secret and announce
    /// themselves with Home Assistant MQTT discovery.
    #[serde(default)]
    pub discovery: bool,
    /// How many days the raw messages of this application's devices are kept (issue 19);
    /// `None` uses the hub's default from `[history]`. The registry accepts 1..=3650; the
    /// retention task deletes older messages (numeric readings follow their own tiers).
    #[serde(default)]
    pub message_retention_days: Option<u32>,
}

/// A user's permission on an application (seed 000's UserApplication).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub application: AppId,
    pub user: UserName,
    pub permission: Permission,
}

/// The state a device last reported (seed 002's live columns), filled by ingest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceLive {
    pub is_online: bool,
    pub last_seen_ms: Option<Millis>,
    pub last_heartbeat_ms: Option<Millis>,
    /// The last `status` payload (`online`, `offline` or a JSON document as text).
    pub device_status: Option<String>,
    /// The last `data` payload, when it was a JSON object.
    pub last_report_data: Option<serde_json::Value>,
}

/// A physical or virtual device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: DeviceId,
    pub application: AppId,
    pub name: String,
    /// sensor, switch, relay, light, thermostat, lock, smoke, camera, gateway...
    pub kind: String,
    pub room: Option<String>,
    pub firmware: Option<String>,
    /// Free-form JSON object for whatever else the owner wants to note.
    pub metadata: serde_json::Value,
    /// A disabled device may not connect; disabling one disconnects it.
    pub enabled: bool,
    /// Offline after this long without data or heartbeat; `None` uses the hub default.
    pub heartbeat_timeout_secs: Option<u32>,
    pub created_at_ms: Millis,
    pub live: DeviceLive,
    /// The site (a home hub) whose link relays this device's messages, if any (issue
    /// 20): only that site may publish for it, and its commands go to the site.
    #[serde(default)]
    pub site: Option<SiteId>,
}

/// What it takes to register a device; the secret's hash is passed beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDevice {
    pub id: DeviceId,
    pub application: AppId,
    pub name: String,
    pub kind: String,
    pub room: Option<String>,
    pub firmware: Option<String>,
    pub metadata: serde_json::Value,
    pub heartbeat_timeout_secs: Option<u32>,
}

/// A partial update of a device's descriptive fields; `None` leaves a field alone and
/// `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DevicePatch {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub room: Option<Option<String>>,
    pub firmware: Option<Option<String>>,
    pub metadata: Option<serde_json::Value>,
    pub heartbeat_timeout_secs: Option<Option<u32>>,
}

/// A home hub linked to this hub (issue 20, SPEC §6.4): it logs in with its id and its
/// own secret (client id `site:{id}`) and relays the messages of its devices. The
/// secret's hash is not a field here, like a device's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    pub id: SiteId,
    /// The group whose admins and owners manage it; its devices are the group's.
    pub group: GroupId,
    pub name: String,
    /// A disabled site may not connect; disabling one disconnects its link.
    pub enabled: bool,
    pub created_at_ms: Millis,
    /// When its link last connected.
    pub last_seen_ms: Option<Millis>,
}
