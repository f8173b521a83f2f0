//! Hearth's domain types, shared by the store, the services, the API and the CLI.
//!
//! Nothing here does I/O. The types are plain data with serde, so that the store can
//! persist them, the API can return them and the CLI can print them as JSON without
//! each keeping its own copy.
//!
//! # Layout
//! - `id`: validated identifiers ([`DeviceId`], [`GroupId`], [`AppId`], [`UserName`]).
//! - `registry`: groups, users, memberships, applications, grants, devices.
//! - `access`: roles and grants combined into what a user may do with an application.
//! - `audit`: the audit log entry.
//! - `capability`: what a device can do (switch, dimmer, colour, thermostat, cover,
//!   lock, sensors, camera), declared or implied by its kind.
//! - `automation`: automations (triggers, conditions, actions) and scenes, and
//!   `automation_check`, what is wrong with one, by field.
//! - `command`: remote control commands and their statuses.
//! - `discovered`: devices announced through Home Assistant MQTT discovery.
//! - `history`: messages, points, status changes and aggregates.
//! - `layout`: topic layouts, foreign topics and payloads mapped onto the device model.
//! - `notification_prefs`: a person's notification preferences and Web Push
//!   subscriptions.
//! - `presence`: the presence words of `devices/{id}/status`.
//! - `topic`: the device topic grammar (`devices/{id}/...`), parsed and built.

mod access;
mod alert;
mod audit;
mod automation;
mod automation_check;
pub mod capability;
mod command;
mod confirmation;
mod cron;
mod discovered;
mod firmware;
mod history;
mod id;
pub mod layout;
mod notification_prefs;
mod presence;
mod registry;
pub mod topic;

pub use access::{Permission, Role, effective_permission};
pub use alert::{
    Alert, AlertCondition, AlertRule, AlertRuleSpec, AlertState, ChannelTarget, Notification,
    NotificationState, Severity, fill_template,
};
pub use audit::{AuditEntry, NewAuditEntry};
pub use automation::{
    Action, Automation, AutomationSpec, Comparison, Condition, RunMode, Scene, SceneSpec,
    SceneTarget, SunEvent, Trigger, Weekday,
};
pub use automation_check::{FieldError, MAX_WAIT_SECS, parse_hh_mm};
pub use command::{Command, CommandStatus};
pub use confirmation::{
    AnswerError, Confirmation, ConfirmationAnswer, ConfirmationState, GroupPlace,
};
pub use cron::Cron;
pub use discovered::{DiscoveredComponent, DiscoveredDevice};
pub use firmware::{Firmware, Rollout, RolloutState, RolloutSummary, RolloutTarget, TargetState};
pub use history::{Aggregate, MessageKind, Point, PresenceReason, StatusChange, StoredMessage};
pub use id::{AppId, DeviceId, GroupId, IdError, SiteId, UserName};
pub use notification_prefs::{
    NOTIFICATION_LANGUAGES, NotificationPrefs, PushSubscription, QuietHours, SeverityFloors,
};
pub use presence::{DevicePresence, PRESENCE_WORDS};
pub use registry::{
    Application, Device, DeviceLive, DevicePatch, Grant, Group, Membership, NewDevice, Site, User,
};

/// Milliseconds since the Unix epoch. Stored as a plain integer so that SQLite and
/// PostgreSQL agree on it without a date library in the store.
pub type Millis = i64;

/// The current time in [`Millis`].
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as Millis)
        .unwrap_or(0)
}
