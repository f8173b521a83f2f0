//! What the automation engine keeps beside automations (issue 14): where each group is
//! (time zone and place, for schedules and sunrise/sunset) and the two-person
//! confirmation requests of runs, which people answer from the web app.

use crate::StoreResult;
use async_trait::async_trait;
use hearth_model::{Confirmation, GroupId, GroupPlace, Millis, NewAuditEntry};

/// Group places and confirmation requests. Setting a place is audited (`group.place`),
/// which moves the audit sequence so that a running engine reloads it; a request's
/// changes carry the audit entry of the answer or outcome that made them.
#[async_trait]
pub trait GateStore: Send + Sync {
    /// The group's place; the default (all unset) if none was set, `NotFound` for an
    /// unknown group.
    async fn group_place(&self, group: &GroupId) -> StoreResult<GroupPlace>;
    /// Every group's place that was set.
    async fn group_places(&self) -> StoreResult<Vec<(GroupId, GroupPlace)>>;
    /// Sets (replaces) a group's place; `NotFound` for an unknown group.
    async fn set_group_place(
        &self,
        group: &GroupId,
        place: &GroupPlace,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;

    /// Creates or replaces a request (by id) with the audit entry of what changed it;
    /// `NotFound` for an unknown group or automation.
    async fn put_confirmation(
        &self,
        confirmation: &Confirmation,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    async fn confirmation(&self, id: &str) -> StoreResult<Confirmation>;
    /// Sets (`Some`) or removes the hash of an automation's webhook secret, with its
    /// audit entry; `NotFound` for an unknown automation.
    async fn set_webhook_hash(
        &self,
        automation_id: &str,
        hash: Option<&str>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// The hash of an automation's webhook secret (`None`: no webhook URL);
    /// `NotFound` for an unknown automation.
    async fn webhook_hash(&self, automation_id: &str) -> StoreResult<Option<String>>;
    /// Writes an audit entry alone: what the hub did on someone's behalf with nothing
    /// else to store (a scene applied).
    async fn note(&self, audit: &NewAuditEntry) -> StoreResult<()>;
    /// A group's requests (every group's with `None`) that are pending or were created
    /// at or after `since_ms`, newest first, at most `limit`.
    async fn confirmations(
        &self,
        group: Option<&GroupId>,
        since_ms: Millis,
        limit: u32,
    ) -> StoreResult<Vec<Confirmation>>;
}
