//! Devices announced through Home Assistant MQTT discovery (issue 18) and the
//! applications that may announce them.

use crate::StoreResult;
use async_trait::async_trait;
use hearth_model::{AppId, DeviceId, DiscoveredDevice, GroupId, NewAuditEntry};

/// Discovered devices are written by the hub as configs arrive (not audited: they are
/// device traffic, like readings); making an application a discovery login and forgetting
/// or adopting a discovered device are people's changes and audited.
#[async_trait]
pub trait DiscoveryStore: Send + Sync {
    /// Makes `app` a discovery login or an ordinary application again; `NotFound` for an
    /// unknown application.
    async fn set_app_discovery(
        &self,
        app: &AppId,
        discovery: bool,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// Inserts or replaces the entry keyed by (`device.app`, `device.id`), keeping the
    /// stored `first_seen_ms` and `adopted_device` of an existing one (a re-announce
    /// never duplicates nor un-adopts). `NotFound` for an unknown application.
    async fn upsert_discovered(&self, device: &DiscoveredDevice) -> StoreResult<()>;
    /// `NotFound` when there is no such entry.
    async fn discovered(&self, app: &AppId, id: &DeviceId) -> StoreResult<DiscoveredDevice>;
    /// Entries by (application, id); only `group`'s when given, adopted ones only when
    /// `include_adopted`.
    async fn discovered_list(
        &self,
        group: Option<&GroupId>,
        include_adopted: bool,
    ) -> StoreResult<Vec<DiscoveredDevice>>;
    /// Removes an entry (its components all withdrawn); whether there was one.
    async fn delete_discovered(&self, app: &AppId, id: &DeviceId) -> StoreResult<bool>;
    /// A person forgets an entry (audited); `NotFound` when there is none.
    async fn forget_discovered(
        &self,
        app: &AppId,
        id: &DeviceId,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// Marks an entry adopted as `device` (audited); `NotFound` when there is none.
    async fn mark_discovered_adopted(
        &self,
        app: &AppId,
        id: &DeviceId,
        device: &DeviceId,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
}
