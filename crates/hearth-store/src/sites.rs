//! Sites (issue 20, migration 0016): home hubs linked to this hub, and which devices
//! each relays (`devices.site_id`).

use crate::StoreResult;
use async_trait::async_trait;
use hearth_model::{DeviceId, GroupId, NewAuditEntry, Site, SiteId};

/// A site as the MQTT authorizer needs it: its secret and the devices it may speak for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteCredential {
    pub id: SiteId,
    pub enabled: bool,
    pub secret_hash: String,
    /// Its devices, by id.
    pub devices: Vec<DeviceId>,
}

/// Sites are registry data: every change is audited in the same transaction (the
/// running hub reloads its authorizer on the audit sequence, which cuts revoked links).
#[async_trait]
pub trait SiteStore: Send + Sync {
    /// Creates a site with its secret's hash; `NotFound` for an unknown group,
    /// `Conflict` if the id is taken.
    async fn create_site(
        &self,
        site: &Site,
        secret_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    async fn site(&self, id: &SiteId) -> StoreResult<Site>;
    /// Sites, by id; only those of `group` when given (`NotFound` for an unknown group).
    async fn sites(&self, group: Option<&GroupId>) -> StoreResult<Vec<Site>>;
    /// The ids of the devices that belong to a site, by id; `NotFound` for an unknown site.
    async fn site_devices(&self, id: &SiteId) -> StoreResult<Vec<DeviceId>>;
    /// Deletes a site; its devices stay registered and belong to no site from then on.
    async fn delete_site(&self, id: &SiteId, audit: &NewAuditEntry) -> StoreResult<()>;
    async fn set_site_secret(
        &self,
        id: &SiteId,
        secret_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    async fn set_site_enabled(
        &self,
        id: &SiteId,
        enabled: bool,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// Puts a device in a site (`Some`) or in none; `NotFound` for an unknown device
    /// or site. That both are of one group is the registry's to check.
    async fn set_device_site(
        &self,
        device: &DeviceId,
        site: Option<&SiteId>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// Records when a site's link connected (live state: not audited, like a device's
    /// `last_seen_ms`).
    async fn set_site_seen(&self, id: &SiteId, at_ms: hearth_model::Millis) -> StoreResult<()>;
    /// Every site with its secret's hash and devices, read in one snapshot.
    async fn site_credentials(&self) -> StoreResult<Vec<SiteCredential>>;
}
