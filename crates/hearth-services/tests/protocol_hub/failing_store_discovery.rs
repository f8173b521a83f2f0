//! [`FailingStore`]'s forwarding of the discovery store (never made to fail).

use super::failing_store::FailingStore;
use async_trait::async_trait;
use hearth_model::{AppId, DeviceId, DiscoveredDevice, GroupId, NewAuditEntry};
use hearth_store::{DiscoveryStore, StoreResult};

#[async_trait]
impl DiscoveryStore for FailingStore {
    async fn set_app_discovery(
        &self,
        app: &AppId,
        discovery: bool,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner().set_app_discovery(app, discovery, audit).await
    }
    async fn upsert_discovered(&self, device: &DiscoveredDevice) -> StoreResult<()> {
        self.inner().upsert_discovered(device).await
    }
    async fn discovered(&self, app: &AppId, id: &DeviceId) -> StoreResult<DiscoveredDevice> {
        self.inner().discovered(app, id).await
    }
    async fn discovered_list(
        &self,
        group: Option<&GroupId>,
        include_adopted: bool,
    ) -> StoreResult<Vec<DiscoveredDevice>> {
        self.inner().discovered_list(group, include_adopted).await
    }
    async fn delete_discovered(&self, app: &AppId, id: &DeviceId) -> StoreResult<bool> {
        self.inner().delete_discovered(app, id).await
    }
    async fn forget_discovered(
        &self,
        app: &AppId,
        id: &DeviceId,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner().forget_discovered(app, id, audit).await
    }
    async fn mark_discovered_adopted(
        &self,
        app: &AppId,
        id: &DeviceId,
        device: &DeviceId,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner()
            .mark_discovered_adopted(app, id, device, audit)
            .await
    }
}
