//! Alert rules, alerts and the notification outbox (issue 15).

use crate::StoreResult;
use async_trait::async_trait;
use hearth_model::{
    Alert, AlertRule, AlertState, DeviceId, GroupId, Millis, NewAuditEntry, Notification, Severity,
};

/// Which alerts a listing shows (all set filters apply), newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    pub groups: Option<Vec<GroupId>>,
    pub states: Vec<AlertState>,
    pub severity: Option<Severity>,
    pub device: Option<DeviceId>,
    pub rule: Option<String>,
    /// Opened at or after.
    pub since_ms: Option<Millis>,
    /// At most this many; `None` for 100.
    pub limit: Option<u32>,
}

/// Rules (audited like automations: the engine reloads when the audit sequence moves),
/// alerts and notifications. An alert change and the notifications it causes are
/// written in one transaction: what was accepted is delivered, after a restart too.
#[async_trait]
pub trait AlertStore: Send + Sync {
    /// `NotFound` for an unknown group, `Conflict` if the id is taken.
    async fn insert_alert_rule(&self, rule: &AlertRule, audit: &NewAuditEntry) -> StoreResult<()>;
    /// Replaces name, enabled, the document and `updated_at_ms`.
    async fn update_alert_rule(&self, rule: &AlertRule, audit: &NewAuditEntry) -> StoreResult<()>;
    /// Deletes it with its alerts and their notifications.
    async fn delete_alert_rule(&self, id: &str, audit: &NewAuditEntry) -> StoreResult<()>;
    async fn alert_rule(&self, id: &str) -> StoreResult<AlertRule>;
    /// A group's rules (every group's with `None`), by group, name and id.
    async fn alert_rules(&self, group: Option<&GroupId>) -> StoreResult<Vec<AlertRule>>;

    /// Stores a new alert with its notifications; `Conflict` if the rule already has an
    /// active alert for the device.
    async fn open_alert(&self, alert: &Alert, notifications: &[Notification]) -> StoreResult<()>;
    /// Stores an alert's new state with the notifications it causes, and the audit
    /// entry of a person's acknowledgement or clearing.
    async fn update_alert(
        &self,
        alert: &Alert,
        notifications: &[Notification],
        audit: Option<&NewAuditEntry>,
    ) -> StoreResult<()>;
    async fn alert(&self, id: &str) -> StoreResult<Alert>;
    async fn alerts(&self, filter: &AlertFilter) -> StoreResult<Vec<Alert>>;
    /// The newest alert of a rule for a device, whatever its state (for the cooldown).
    async fn latest_alert(&self, rule: &str, device: &DeviceId) -> StoreResult<Option<Alert>>;
    /// Counts by severity and state, for `/metrics`.
    async fn alert_counts(&self) -> StoreResult<Vec<(Severity, AlertState, u64)>>;

    /// Stores notifications of no alert (an automation's notify action).
    async fn queue_notifications(&self, notifications: &[Notification]) -> StoreResult<()>;
    /// Pending notifications due at `now_ms`, oldest first.
    async fn due_notifications(&self, now_ms: Millis, limit: u32)
    -> StoreResult<Vec<Notification>>;
    /// Pending notifications of one channel (to bound its queue).
    async fn pending_notifications(&self, channel: &str) -> StoreResult<u64>;
    /// Replaces a notification's state, attempts and next attempt.
    async fn update_notification(&self, notification: &Notification) -> StoreResult<()>;
    /// A group's notifications, newest first (the automations' notify action's too,
    /// which belong to no alert), at most `limit`.
    async fn group_notifications(
        &self,
        group: &GroupId,
        limit: u32,
    ) -> StoreResult<Vec<Notification>>;
    /// An alert's notifications, oldest first.
    async fn notifications_of(&self, alert: &str) -> StoreResult<Vec<Notification>>;
}
