//! Topic layouts: one copy of each query for both backends (included with `#[path]`,
//! see `sql/mod.rs`). A layout is a JSON document beside its owner's id.

use super::ThisStore;
use super::automations::audited;
use super::registry::{APP_EXISTS, DbRow, begin_write, get, id, require};
use super::statement;
use crate::layouts::{AllLayouts, LayoutStore};
use crate::sql::backend;
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use hearth_model::layout::Layout;
use hearth_model::{AppId, DeviceId, NewAuditEntry, now_millis};

const DEVICE_EXISTS: &str = "SELECT 1 FROM devices WHERE id = $1";

fn document(row: &DbRow) -> StoreResult<Layout> {
    serde_json::from_str(&get::<String>(row, "document")?)
        .map_err(|error| backend(format!("stored layout: {error}")))
}

/// One owner table's queries: (exists check, owner kind, select, upsert, delete).
struct Table {
    exists: &'static str,
    what: &'static str,
    select: &'static str,
    upsert: &'static str,
    delete: &'static str,
}

const APPS: Table = Table {
    exists: APP_EXISTS,
    what: "application",
    select: "SELECT document FROM app_layouts WHERE app_id = $1",
    upsert: "INSERT INTO app_layouts (app_id, document, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (app_id) DO UPDATE SET document = excluded.document, \
             updated_at_ms = excluded.updated_at_ms",
    delete: "DELETE FROM app_layouts WHERE app_id = $1",
};

const DEVICES: Table = Table {
    exists: DEVICE_EXISTS,
    what: "device",
    select: "SELECT document FROM device_layouts WHERE device_id = $1",
    upsert: "INSERT INTO device_layouts (device_id, document, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (device_id) DO UPDATE SET document = excluded.document, \
             updated_at_ms = excluded.updated_at_ms",
    delete: "DELETE FROM device_layouts WHERE device_id = $1",
};

impl ThisStore {
    async fn read_layout(&self, table: &Table, owner: &str) -> StoreResult<Option<Layout>> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        require(&mut conn, table.exists, table.what, owner).await?;
        let row = statement(table.select)
            .bind(owner)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
        row.as_ref().map(document).transpose()
    }

    async fn write_layout(
        &self,
        table: &Table,
        owner: &str,
        layout: Option<&Layout>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let text = layout
            .map(|layout| serde_json::to_string(layout).map_err(backend))
            .transpose()?;
        let mut tx = begin_write(self).await?;
        let change = async {
            require(&mut tx, table.exists, table.what, owner).await?;
            let query = match &text {
                Some(text) => statement(table.upsert)
                    .bind(owner)
                    .bind(text.as_str())
                    .bind(now_millis()),
                None => statement(table.delete).bind(owner),
            };
            query.execute(&mut *tx).await.map_err(backend)?;
            Ok::<(), StoreError>(())
        }
        .await;
        audited(tx, change, audit).await
    }
}

#[async_trait]
impl LayoutStore for ThisStore {
    async fn app_layout(&self, app: &AppId) -> StoreResult<Option<Layout>> {
        self.read_layout(&APPS, app.as_str()).await
    }

    async fn set_app_layout(
        &self,
        app: &AppId,
        layout: Option<&Layout>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.write_layout(&APPS, app.as_str(), layout, audit).await
    }

    async fn device_layout(&self, device: &DeviceId) -> StoreResult<Option<Layout>> {
        self.read_layout(&DEVICES, device.as_str()).await
    }

    async fn set_device_layout(
        &self,
        device: &DeviceId,
        layout: Option<&Layout>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.write_layout(&DEVICES, device.as_str(), layout, audit)
            .await
    }

    async fn layouts(&self) -> StoreResult<AllLayouts> {
        let apps = statement("SELECT app_id, document FROM app_layouts ORDER BY app_id")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        let devices =
            statement("SELECT device_id, document FROM device_layouts ORDER BY device_id")
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        Ok(AllLayouts {
            apps: apps
                .iter()
                .map(|row| Ok((id(row, "app_id", AppId::new)?, document(row)?)))
                .collect::<StoreResult<_>>()?,
            devices: devices
                .iter()
                .map(|row| Ok((id(row, "device_id", DeviceId::new)?, document(row)?)))
                .collect::<StoreResult<_>>()?,
        })
    }
}
