//! Topic layouts of applications and devices (issue 18, migration 0012).

use crate::StoreResult;
use async_trait::async_trait;
use hearth_model::layout::Layout;
use hearth_model::{AppId, DeviceId, NewAuditEntry};

/// Every stored layout, for the hub's in-memory directory (the authorizer's snapshot).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllLayouts {
    /// By application id.
    pub apps: Vec<(AppId, Layout)>,
    /// By device id.
    pub devices: Vec<(DeviceId, Layout)>,
}

/// Layouts are registry data: every change is audited (the running hub reloads on the
/// audit sequence), and a layout goes with its application or device. The store keeps
/// documents as they are given; the registry validates them first.
#[async_trait]
pub trait LayoutStore: Send + Sync {
    /// The application's layout, `None` when it has none; `NotFound` for an unknown
    /// application.
    async fn app_layout(&self, app: &AppId) -> StoreResult<Option<Layout>>;
    /// Sets (or with `None` removes) the application's layout; `NotFound` for an
    /// unknown application.
    async fn set_app_layout(
        &self,
        app: &AppId,
        layout: Option<&Layout>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// The device's own layout, `None` when it has none; `NotFound` for an unknown
    /// device.
    async fn device_layout(&self, device: &DeviceId) -> StoreResult<Option<Layout>>;
    /// Sets (or with `None` removes) the device's own layout; `NotFound` for an unknown
    /// device.
    async fn set_device_layout(
        &self,
        device: &DeviceId,
        layout: Option<&Layout>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// Every layout, by owner id.
    async fn layouts(&self) -> StoreResult<AllLayouts>;
}
