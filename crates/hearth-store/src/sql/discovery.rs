//! Discovered devices (Home Assistant MQTT discovery): one copy of each query for both
//! backends (included with `#[path]`, see `sql/mod.rs`). An entry is a JSON document
//! with the columns that listings filter on.

use super::ThisStore;
use super::audit::write_audit;
use super::registry::{APP_EXISTS, DbRow, begin_write, finish, get, require, set_one};
use super::statement;
use crate::discovery::DiscoveryStore;
use crate::sql::backend;
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use hearth_model::{AppId, DeviceId, DiscoveredDevice, GroupId, NewAuditEntry};

fn from_row(row: &DbRow) -> StoreResult<DiscoveredDevice> {
    let mut device: DiscoveredDevice = serde_json::from_str(&get::<String>(row, "document")?)
        .map_err(|error| backend(format!("stored discovered device: {error}")))?;
    let adopted: Option<String> = get(row, "adopted_device")?;
    device.adopted_device = adopted
        .map(|id| DeviceId::new(&id))
        .transpose()
        .map_err(|error| backend(format!("stored discovered device: {error}")))?;
    Ok(device)
}

#[async_trait]
impl DiscoveryStore for ThisStore {
    async fn set_app_discovery(
        &self,
        app: &AppId,
        discovery: bool,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        set_one(
            self,
            "UPDATE applications SET discovery = $2 WHERE id = $1",
            ("application", app.as_str()),
            discovery,
            audit,
        )
        .await
    }

    async fn upsert_discovered(&self, device: &DiscoveredDevice) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            require(&mut tx, APP_EXISTS, "application", device.app.as_str()).await?;
            let existing = statement(
                "SELECT adopted_device, document FROM discovered_devices \
                 WHERE app_id = $1 AND id = $2",
            )
            .bind(device.app.as_str())
            .bind(device.id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            let mut stored = device.clone();
            if let Some(row) = &existing {
                let old = from_row(row)?;
                stored.first_seen_ms = old.first_seen_ms.min(device.first_seen_ms);
                stored.adopted_device = old.adopted_device;
            }
            let document = serde_json::to_string(&stored).map_err(backend)?;
            let adopted = stored.adopted_device.as_ref().map(DeviceId::as_str);
            let sql = if existing.is_some() {
                "UPDATE discovered_devices SET group_id = $3, adopted_device = $4, \
                 last_seen_ms = $5, document = $6 WHERE app_id = $1 AND id = $2"
            } else {
                "INSERT INTO discovered_devices \
                 (app_id, id, group_id, adopted_device, last_seen_ms, document) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            };
            statement(sql)
                .bind(stored.app.as_str())
                .bind(stored.id.as_str())
                .bind(stored.group.as_str())
                .bind(adopted)
                .bind(stored.last_seen_ms)
                .bind(document)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    async fn discovered(&self, app: &AppId, id: &DeviceId) -> StoreResult<DiscoveredDevice> {
        let row = statement(
            "SELECT adopted_device, document FROM discovered_devices \
             WHERE app_id = $1 AND id = $2",
        )
        .bind(app.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::not_found("discovered device", id))?;
        from_row(&row)
    }

    async fn discovered_list(
        &self,
        group: Option<&GroupId>,
        include_adopted: bool,
    ) -> StoreResult<Vec<DiscoveredDevice>> {
        let sql = match (group.is_some(), include_adopted) {
            (true, true) => concat!(
                "SELECT adopted_device, document FROM discovered_devices ",
                "WHERE group_id = $1 ORDER BY app_id, id"
            ),
            (true, false) => concat!(
                "SELECT adopted_device, document FROM discovered_devices ",
                "WHERE group_id = $1 AND adopted_device IS NULL ORDER BY app_id, id"
            ),
            (false, true) => concat!(
                "SELECT adopted_device, document FROM discovered_devices ",
                "ORDER BY app_id, id"
            ),
            (false, false) => concat!(
                "SELECT adopted_device, document FROM discovered_devices ",
                "WHERE adopted_device IS NULL ORDER BY app_id, id"
            ),
        };
        let mut query = statement(sql);
        if let Some(group) = group {
            query = query.bind(group.as_str());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter().map(from_row).collect()
    }

    async fn delete_discovered(&self, app: &AppId, id: &DeviceId) -> StoreResult<bool> {
        let done = statement("DELETE FROM discovered_devices WHERE app_id = $1 AND id = $2")
            .bind(app.as_str())
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn forget_discovered(
        &self,
        app: &AppId,
        id: &DeviceId,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            let done = statement("DELETE FROM discovered_devices WHERE app_id = $1 AND id = $2")
                .bind(app.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("discovered device", id));
            }
            write_audit(&mut tx, audit).await
        }
        .await;
        finish(tx, result).await
    }

    async fn mark_discovered_adopted(
        &self,
        app: &AppId,
        id: &DeviceId,
        device: &DeviceId,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            let done = statement(
                "UPDATE discovered_devices SET adopted_device = $3 \
                 WHERE app_id = $1 AND id = $2",
            )
            .bind(app.as_str())
            .bind(id.as_str())
            .bind(device.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("discovered device", id));
            }
            write_audit(&mut tx, audit).await
        }
        .await;
        finish(tx, result).await
    }
}
