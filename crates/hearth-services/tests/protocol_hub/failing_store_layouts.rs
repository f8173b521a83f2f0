//! [`FailingStore`]'s forwarding of the layout store (never made to fail).

use super::failing_store::FailingStore;
use async_trait::async_trait;
use hearth_model::layout::Layout;
use hearth_model::{AppId, DeviceId, NewAuditEntry};
use hearth_store::{AllLayouts, LayoutStore, StoreResult};

#[async_trait]
impl LayoutStore for FailingStore {
    async fn app_layout(&self, app: &AppId) -> StoreResult<Option<Layout>> {
        self.inner().app_layout(app).await
    }
    async fn set_app_layout(
        &self,
        app: &AppId,
        layout: Option<&Layout>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner().set_app_layout(app, layout, audit).await
    }
    async fn device_layout(&self, device: &DeviceId) -> StoreResult<Option<Layout>> {
        self.inner().device_layout(device).await
    }
    async fn set_device_layout(
        &self,
        device: &DeviceId,
        layout: Option<&Layout>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner().set_device_layout(device, layout, audit).await
    }
    async fn layouts(&self) -> StoreResult<AllLayouts> {
        self.inner().layouts().await
    }
}
