//! Sites (issue 20): home hubs linked to this hub, with a secret each, and which devices
//! each may relay. Every change rings the authorizer, which cuts a link whose site was
//! removed, disabled or given a new secret.

use super::{Registry, RegistryError, optional_text};
use crate::secret;
use hearth_model::{DeviceId, GroupId, NewAuditEntry, Site, SiteId, now_millis};
use serde_json::json;

impl Registry {
    /// Registers a site in `group`; returns it with its secret (shown once, only its
    /// hash is stored). `name` defaults to the id.
    pub async fn add_site(
        &self,
        actor: &str,
        id: &SiteId,
        group: &GroupId,
        name: Option<&str>,
    ) -> Result<(Site, String), RegistryError> {
        let name = optional_text("name", name, 100)?.unwrap_or_else(|| id.to_string());
        let site = Site {
            id: id.clone(),
            group: group.clone(),
            name,
            enabled: true,
            created_at_ms: now_millis(),
            last_seen_ms: None,
        };
        let site_secret = secret::generate_secret();
        self.store
            .create_site(
                &site,
                &secret::hash_secret(&site_secret),
                &NewAuditEntry::new(actor, "site.create", id)
                    .with_detail(json!({ "group": group.as_str(), "name": site.name })),
            )
            .await?;
        self.changed();
        Ok((self.store.site(id).await?, site_secret))
    }

    /// Removes a site; its devices stay and belong to no site from then on, and its live
    /// link is cut.
    pub async fn remove_site(&self, actor: &str, id: &SiteId) -> Result<(), RegistryError> {
        self.store
            .delete_site(id, &NewAuditEntry::new(actor, "site.remove", id))
            .await?;
        self.changed();
        Ok(())
    }

    /// Gives a site a new secret (shown once); its live link is cut.
    pub async fn rotate_site_secret(
        &self,
        actor: &str,
        id: &SiteId,
    ) -> Result<String, RegistryError> {
        let site_secret = secret::generate_secret();
        self.store
            .set_site_secret(
                id,
                &secret::hash_secret(&site_secret),
                &NewAuditEntry::new(actor, "site.rotate", id),
            )
            .await?;
        self.changed();
        Ok(site_secret)
    }

    /// Enables or disables a site; disabling cuts its live link.
    pub async fn set_site_enabled(
        &self,
        actor: &str,
        id: &SiteId,
        enabled: bool,
    ) -> Result<(), RegistryError> {
        let action = if enabled {
            "site.enable"
        } else {
            "site.disable"
        };
        self.store
            .set_site_enabled(id, enabled, &NewAuditEntry::new(actor, action, id))
            .await?;
        self.changed();
        Ok(())
    }

    /// Puts a device in a site (its messages come through that site's link, its
    /// commands go there), or in none. The site must be of the group of the device's
    /// application: a site never speaks for another group's device.
    pub async fn set_device_site(
        &self,
        actor: &str,
        device: &DeviceId,
        site: Option<&SiteId>,
    ) -> Result<(), RegistryError> {
        let found = self.store.device(device).await?;
        if let Some(site_id) = site {
            let site = self.store.site(site_id).await?;
            let app = self.store.app(&found.application).await?;
            if app.group != site.group {
                return Err(RegistryError::invalid(
                    "site",
                    format!(
                        "site {site_id} is of group {}, device {device} of group {}: a \
                         device may only belong to a site of its own group",
                        site.group, app.group
                    ),
                ));
            }
        }
        self.store
            .set_device_site(
                device,
                site,
                &NewAuditEntry::new(actor, "device.site", device)
                    .with_detail(json!({ "site": site.map(SiteId::as_str) })),
            )
            .await?;
        self.changed();
        Ok(())
    }
}
