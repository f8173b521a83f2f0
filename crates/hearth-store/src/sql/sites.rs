//! Sites: one copy of each query for both backends (included with `#[path]`, see
//! `sql/mod.rs`).

use super::automations::{audited, touched};
use super::registry::{
    DbRow, GROUP_EXISTS, begin_write, children, finish, get, id, require, set_one,
};
use super::statement;
use super::{BEGIN_SNAPSHOT, ThisStore};
use crate::sites::{SiteCredential, SiteStore};
use crate::sql::{backend, map_err};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use hearth_model::{DeviceId, GroupId, Millis, NewAuditEntry, Site, SiteId};
use std::collections::HashMap;

/// The columns a [`Site`] is read from (never the secret's hash).
macro_rules! site_columns {
    () => {
        "id, group_id, name, enabled, created_at_ms, last_seen_ms"
    };
}
const SITE_EXISTS: &str = "SELECT 1 FROM sites WHERE id = $1";
const DEVICE_EXISTS: &str = "SELECT 1 FROM devices WHERE id = $1";

fn site_from_row(row: &DbRow) -> StoreResult<Site> {
    Ok(Site {
        id: id(row, "id", SiteId::new)?,
        group: id(row, "group_id", GroupId::new)?,
        name: get(row, "name")?,
        enabled: get(row, "enabled")?,
        created_at_ms: get(row, "created_at_ms")?,
        last_seen_ms: get(row, "last_seen_ms")?,
    })
}

fn device_id_from_row(row: &DbRow) -> StoreResult<DeviceId> {
    id(row, "id", DeviceId::new)
}

#[async_trait]
impl SiteStore for ThisStore {
    async fn create_site(
        &self,
        site: &Site,
        secret_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let change = async {
            require(&mut tx, GROUP_EXISTS, "group", site.group.as_str()).await?;
            if super::registry::exists(&mut tx, SITE_EXISTS, site.id.as_str()).await? {
                return Err(StoreError::conflict("site", &site.id));
            }
            statement(
                "INSERT INTO sites (id, group_id, name, secret_hash, enabled, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(site.id.as_str())
            .bind(site.group.as_str())
            .bind(&site.name)
            .bind(secret_hash)
            .bind(site.enabled)
            .bind(site.created_at_ms)
            .execute(&mut *tx)
            .await
            .map_err(|error| {
                map_err(
                    error,
                    Some(("site", site.id.as_str())),
                    Some(("group", site.group.as_str())),
                )
            })?;
            Ok(())
        }
        .await;
        audited(tx, change, audit).await
    }

    async fn site(&self, id: &SiteId) -> StoreResult<Site> {
        let row = statement(concat!(
            "SELECT ",
            site_columns!(),
            " FROM sites WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::not_found("site", id))?;
        site_from_row(&row)
    }

    async fn sites(&self, group: Option<&GroupId>) -> StoreResult<Vec<Site>> {
        match group {
            Some(group) => {
                children(
                    self,
                    (GROUP_EXISTS, "group"),
                    group.as_str(),
                    concat!(
                        "SELECT ",
                        site_columns!(),
                        " FROM sites WHERE group_id = $1 ORDER BY id"
                    ),
                    site_from_row,
                )
                .await
            }
            None => {
                let rows = statement(concat!(
                    "SELECT ",
                    site_columns!(),
                    " FROM sites ORDER BY id"
                ))
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
                rows.iter().map(site_from_row).collect()
            }
        }
    }

    async fn site_devices(&self, id: &SiteId) -> StoreResult<Vec<DeviceId>> {
        children(
            self,
            (SITE_EXISTS, "site"),
            id.as_str(),
            "SELECT id FROM devices WHERE site_id = $1 ORDER BY id",
            device_id_from_row,
        )
        .await
    }

    async fn delete_site(&self, id: &SiteId, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let change = async {
            require(&mut tx, SITE_EXISTS, "site", id.as_str()).await?;
            statement("UPDATE devices SET site_id = NULL WHERE site_id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            let done = statement("DELETE FROM sites WHERE id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            touched(done.rows_affected(), "site", id.as_str())
        }
        .await;
        audited(tx, change, audit).await
    }

    async fn set_site_secret(
        &self,
        id: &SiteId,
        secret_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        set_one(
            self,
            "UPDATE sites SET secret_hash = $2 WHERE id = $1",
            ("site", id.as_str()),
            secret_hash,
            audit,
        )
        .await
    }

    async fn set_site_enabled(
        &self,
        id: &SiteId,
        enabled: bool,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        set_one(
            self,
            "UPDATE sites SET enabled = $2 WHERE id = $1",
            ("site", id.as_str()),
            enabled,
            audit,
        )
        .await
    }

    async fn set_device_site(
        &self,
        device: &DeviceId,
        site: Option<&SiteId>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let change = async {
            require(&mut tx, DEVICE_EXISTS, "device", device.as_str()).await?;
            if let Some(site) = site {
                require(&mut tx, SITE_EXISTS, "site", site.as_str()).await?;
            }
            statement("UPDATE devices SET site_id = $2 WHERE id = $1")
                .bind(device.as_str())
                .bind(site.map(|site| site.as_str().to_owned()))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            Ok(())
        }
        .await;
        audited(tx, change, audit).await
    }

    async fn set_site_seen(&self, id: &SiteId, at_ms: Millis) -> StoreResult<()> {
        let done = statement("UPDATE sites SET last_seen_ms = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(at_ms)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        touched(done.rows_affected(), "site", id.as_str())
    }

    async fn site_credentials(&self) -> StoreResult<Vec<SiteCredential>> {
        // One snapshot, so that the devices agree with the sites.
        let mut tx = self
            .pool
            .begin_with(BEGIN_SNAPSHOT)
            .await
            .map_err(backend)?;
        let read = async {
            let sites = statement("SELECT id, enabled, secret_hash FROM sites ORDER BY id")
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?;
            let devices =
                statement("SELECT id, site_id FROM devices WHERE site_id IS NOT NULL ORDER BY id")
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(backend)?;
            let mut by_site: HashMap<String, Vec<DeviceId>> = HashMap::new();
            for row in &devices {
                by_site
                    .entry(get(row, "site_id")?)
                    .or_default()
                    .push(device_id_from_row(row)?);
            }
            sites
                .iter()
                .map(|row| {
                    let site = id(row, "id", SiteId::new)?;
                    Ok(SiteCredential {
                        devices: by_site.remove(site.as_str()).unwrap_or_default(),
                        id: site,
                        enabled: get(row, "enabled")?,
                        secret_hash: get(row, "secret_hash")?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()
        }
        .await;
        finish(tx, read).await
    }
}
