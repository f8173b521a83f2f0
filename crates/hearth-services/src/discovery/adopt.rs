//! Adopting a discovered device: the registry creates the Hearth device in an
//! application of the discovering application's group, with the kind and capabilities
//! its components imply and a device-level topic layout generated from them, whose
//! messages come from the discovering application's login (`via_app`).

use super::normalize;
use crate::registry::{DeviceSpec, Registry, RegistryError};
use hearth_model::layout::{Layout, LayoutScope};
use hearth_model::{AppId, Device, DeviceId, NewAuditEntry};
use serde_json::json;

/// What a person chooses when adopting.
#[derive(Debug, Clone)]
pub struct AdoptRequest {
    /// The application the device joins (of the discovering application's group).
    pub app: AppId,
    /// The Hearth device id; the discovery id when absent.
    pub id: Option<DeviceId>,
    pub name: Option<String>,
    pub room: Option<String>,
}

impl Registry {
    /// Adopts the device `id` announced by discovery application `from`: creates it,
    /// attaches its layout and marks the entry adopted (no longer listed). `NotFound`
    /// for an unknown or already adopted entry; `app` must be in the entry's group and
    /// not a discovery application itself.
    pub async fn adopt_discovered(
        &self,
        actor: &str,
        from: &AppId,
        id: &DeviceId,
        request: AdoptRequest,
    ) -> Result<Device, RegistryError> {
        let discovered = self.store().discovered(from, id).await?;
        if discovered.adopted_device.is_some() {
            return Err(hearth_store::StoreError::not_found("discovered device", id).into());
        }
        let target = self
            .store()
            .app(&request.app)
            .await
            .map_err(|error| match error {
                hearth_store::StoreError::NotFound { .. } => RegistryError::invalid(
                    "app",
                    format!(
                        "no application {} in group {} of the discovering application",
                        request.app, discovered.group
                    ),
                ),
                other => other.into(),
            })?;
        if target.group != discovered.group {
            return Err(RegistryError::invalid(
                "app",
                format!(
                    "no application {} in group {} of the discovering application",
                    request.app, discovered.group
                ),
            ));
        }
        if target.discovery {
            return Err(RegistryError::invalid(
                "app",
                "adopt into an ordinary application, not a discovery login",
            ));
        }
        let device_id = request.id.clone().unwrap_or_else(|| discovered.id.clone());
        let layout_document = normalize::layout(&discovered.components, from.as_str());
        let layout = parse_layout(&layout_document)?;
        let mut spec = DeviceSpec::new(device_id.clone());
        spec.app = Some(target.id.clone());
        spec.kind = Some(discovered.kind.clone());
        spec.name = request
            .name
            .clone()
            .or_else(|| discovered.name.clone())
            .map(|name| name.chars().take(100).collect());
        spec.room = request.room.clone();
        spec.firmware = discovered
            .sw_version
            .clone()
            .map(|version| version.chars().take(64).collect());
        spec.metadata = Some(json!({
            "capabilities": discovered.capabilities,
            "discovery": {
                "app": from,
                "id": discovered.id,
                "manufacturer": discovered.manufacturer,
                "model": discovered.model,
            },
        }));
        let (device, _secret) = self.add_device(actor, spec).await?;
        if let Some(layout) = layout {
            self.attach_discovery_layout(actor, &device.id, layout)
                .await?;
        }
        self.store()
            .mark_discovered_adopted(
                from,
                id,
                &device.id,
                &NewAuditEntry::new(actor, "discovered.adopt", &device.id)
                    .with_detail(json!({ "discovery_app": from, "discovery_id": id })),
            )
            .await?;
        self.changed();
        Ok(device)
    }

    /// Forgets an announced device (it comes back if it announces itself again).
    pub async fn forget_discovered(
        &self,
        actor: &str,
        from: &AppId,
        id: &DeviceId,
    ) -> Result<(), RegistryError> {
        self.store()
            .forget_discovered(
                from,
                id,
                &NewAuditEntry::new(actor, "discovered.forget", id)
                    .with_detail(json!({ "discovery_app": from })),
            )
            .await?;
        Ok(())
    }

    /// Makes an application a discovery login (or an ordinary one again).
    pub async fn set_app_discovery(
        &self,
        actor: &str,
        app: &AppId,
        discovery: bool,
    ) -> Result<(), RegistryError> {
        self.store()
            .set_app_discovery(
                app,
                discovery,
                &NewAuditEntry::new(actor, "app.discovery", app)
                    .with_detail(json!({ "discovery": discovery })),
            )
            .await?;
        self.changed();
        Ok(())
    }
}

/// The generated layout document as a [`Layout`], checked as a device's; `None` when the
/// components carry nothing Hearth can map (the device is still created, without one).
fn parse_layout(document: &serde_json::Value) -> Result<Option<Layout>, RegistryError> {
    let empty = |key: &str| {
        document
            .get(key)
            .and_then(|value| value.as_array())
            .is_none_or(Vec::is_empty)
    };
    if empty("inbound") && empty("commands") {
        return Ok(None);
    }
    let layout: Layout = serde_json::from_value(document.clone())
        .map_err(|error| RegistryError::invalid("layout", format!("generated layout: {error}")))?;
    layout
        .validate(LayoutScope::Device)
        .map_err(|error| RegistryError::invalid("layout", format!("generated layout: {error}")))?;
    Ok(Some(layout))
}

impl Registry {
    /// Attaches the generated layout to the adopted device (audited like any layout).
    async fn attach_discovery_layout(
        &self,
        actor: &str,
        device: &DeviceId,
        layout: Layout,
    ) -> Result<(), RegistryError> {
        self.store()
            .set_device_layout(
                device,
                Some(&layout),
                &NewAuditEntry::new(actor, "device.layout.set", device).with_detail(json!({
                    "inbound": layout.inbound.len(),
                    "commands": layout.commands.len(),
                    "via_app": layout.via_app,
                    "from": "discovery",
                })),
            )
            .await?;
        Ok(())
    }
}
