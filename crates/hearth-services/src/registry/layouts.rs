//! Topic layouts (issue 18): an application's (for each of its devices) and a device's
//! own (what discovery generates), validated and audited. A running hub picks a change
//! up through the audit sequence: the authorizer's snapshot holds the layouts (ACL) and
//! the translator reads them from there.

use super::{Registry, RegistryError};
use hearth_model::layout::{Layout, LayoutScope};
use hearth_model::{AppId, DeviceId, NewAuditEntry};
use serde_json::json;

/// A refused layout as a registry error naming the field inside the document
/// (`inbound[1].topic: must contain {id}`).
fn check(layout: &Layout, scope: LayoutScope) -> Result<(), RegistryError> {
    layout
        .validate(scope)
        .map_err(|error| RegistryError::invalid(error.field, error.message))
}

impl Registry {
    /// The application's layout, `None` when it has none.
    pub async fn app_layout(&self, app: &AppId) -> Result<Option<Layout>, RegistryError> {
        Ok(self.store.app_layout(app).await?)
    }

    /// Sets the application's layout (checked: every pattern names `{id}`), or clears
    /// it with `None`.
    pub async fn set_app_layout(
        &self,
        actor: &str,
        app: &AppId,
        layout: Option<&Layout>,
    ) -> Result<(), RegistryError> {
        if let Some(layout) = layout {
            check(layout, LayoutScope::App)?;
        }
        let audit = match layout {
            Some(layout) => NewAuditEntry::new(actor, "app.layout.set", app).with_detail(json!({
                "inbound": layout.inbound.len(),
                "commands": layout.commands.len(),
            })),
            None => NewAuditEntry::new(actor, "app.layout.clear", app),
        };
        self.store.set_app_layout(app, layout, &audit).await?;
        self.changed();
        Ok(())
    }

    /// The device's own layout, `None` when it has none (it may still follow its
    /// application's).
    pub async fn device_layout(&self, device: &DeviceId) -> Result<Option<Layout>, RegistryError> {
        Ok(self.store.device_layout(device).await?)
    }

    /// Sets the device's own layout (it replaces its application's for this device), or
    /// clears it with `None`. A `via_app` must be an application of the device's group.
    pub async fn set_device_layout(
        &self,
        actor: &str,
        device: &DeviceId,
        layout: Option<&Layout>,
    ) -> Result<(), RegistryError> {
        if let Some(layout) = layout {
            check(layout, LayoutScope::Device)?;
            if let Some(via) = &layout.via_app {
                let owner = self.store.device(device).await?;
                let group = self.store.app(&owner.application).await?.group;
                let same_group = match self.store.app(via).await {
                    Ok(app) => app.group == group,
                    Err(hearth_store::StoreError::NotFound { .. }) => false,
                    Err(error) => return Err(error.into()),
                };
                if !same_group {
                    return Err(RegistryError::invalid(
                        "via_app",
                        format!("no application {via} in the device's group"),
                    ));
                }
            }
        }
        let audit = match layout {
            Some(layout) => {
                NewAuditEntry::new(actor, "device.layout.set", device).with_detail(json!({
                    "inbound": layout.inbound.len(),
                    "commands": layout.commands.len(),
                    "via_app": layout.via_app,
                }))
            }
            None => NewAuditEntry::new(actor, "device.layout.clear", device),
        };
        self.store.set_device_layout(device, layout, &audit).await?;
        self.changed();
        Ok(())
    }
}
