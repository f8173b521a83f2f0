//! [`FailingStore`]'s forwarding of the site store (never made to fail).

use super::failing_store::FailingStore;
use async_trait::async_trait;
use hearth_model::{DeviceId, GroupId, Millis, NewAuditEntry, Site, SiteId};
use hearth_store::{SiteCredential, SiteStore, StoreResult};

#[async_trait]
impl SiteStore for FailingStore {
    async fn create_site(
        &self,
        site: &Site,
        secret_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner().create_site(site, secret_hash, audit).await
    }
    async fn site(&self, id: &SiteId) -> StoreResult<Site> {
        self.inner().site(id).await
    }
    async fn sites(&self, group: Option<&GroupId>) -> StoreResult<Vec<Site>> {
        self.inner().sites(group).await
    }
    async fn site_devices(&self, id: &SiteId) -> StoreResult<Vec<DeviceId>> {
        self.inner().site_devices(id).await
    }
    async fn delete_site(&self, id: &SiteId, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner().delete_site(id, audit).await
    }
    async fn set_site_secret(
        &self,
        id: &SiteId,
        secret_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner().set_site_secret(id, secret_hash, audit).await
    }
    async fn set_site_enabled(
        &self,
        id: &SiteId,
        enabled: bool,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner().set_site_enabled(id, enabled, audit).await
    }
    async fn set_device_site(
        &self,
        device: &DeviceId,
        site: Option<&SiteId>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner().set_device_site(device, site, audit).await
    }
    async fn set_site_seen(&self, id: &SiteId, at_ms: Millis) -> StoreResult<()> {
        self.inner().set_site_seen(id, at_ms).await
    }
    async fn site_credentials(&self) -> StoreResult<Vec<SiteCredential>> {
        self.inner().site_credentials().await
    }
}
