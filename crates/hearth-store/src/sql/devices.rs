//! Devices: registration (one or thousands, all or nothing), listing with filters, sort
//! and pages, and changes. One copy for both backends (included with `#[path]`, see
//! `sql/mod.rs`).

use super::audit::{write_audit, write_audits};
use super::registry::{APP_EXISTS, DbRow, DbTx, begin_write, finish, get, id, set_one};
use super::statement;
use super::{Db, ThisStore};
use crate::sql::{backend, json_text, json_value, like_pattern, map_err};
use crate::{DeviceFilter, DeviceSort, DeviceStore, StoreError, StoreResult};
use async_trait::async_trait;
use hearth_model::{
    AppId, Device, DeviceId, DeviceLive, DevicePatch, NewAuditEntry, NewDevice, SiteId, now_millis,
};
use sqlx::QueryBuilder;
use std::collections::HashSet;

/// The columns a [`Device`] is read from (never the secret's hash).
macro_rules! device_columns {
    () => {
        "id, app_id, name, kind, room, firmware, metadata, enabled, heartbeat_timeout_secs, \
         created_at_ms, is_online, last_seen_ms, last_heartbeat_ms, device_status, \
         last_report_data, site_id"
    };
}

const SELECT_DEVICE: &str = concat!("SELECT ", device_columns!(), " FROM devices WHERE id = $1");

/// Rows per multi-row INSERT: 11 parameters each (11,000 a statement), below SQLite's
/// 32,766 and PostgreSQL's 65,535.
const DEVICE_CHUNK: usize = 1_000;

/// Ids per `IN (...)` when looking for taken ids.
const ID_CHUNK: usize = 5_000;

fn device_from_row(row: &DbRow) -> StoreResult<Device> {
    let heartbeat: Option<i64> = get(row, "heartbeat_timeout_secs")?;
    let report: Option<String> = get(row, "last_report_data")?;
    Ok(Device {
        id: id(row, "id", DeviceId::new)?,
        application: id(row, "app_id", AppId::new)?,
        name: get(row, "name")?,
        kind: get(row, "kind")?,
        room: get(row, "room")?,
        firmware: get(row, "firmware")?,
        metadata: json_value(&get::<String>(row, "metadata")?)?,
        enabled: get(row, "enabled")?,
        heartbeat_timeout_secs: heartbeat
            .map(|secs| u32::try_from(secs).map_err(backend))
            .transpose()?,
        created_at_ms: get(row, "created_at_ms")?,
        live: DeviceLive {
            is_online: get(row, "is_online")?,
            last_seen_ms: get(row, "last_seen_ms")?,
            last_heartbeat_ms: get(row, "last_heartbeat_ms")?,
            device_status: get(row, "device_status")?,
            last_report_data: report.as_deref().map(json_value).transpose()?,
        },
        site: get::<Option<String>>(row, "site_id")?
            .map(|site| SiteId::new(&site).map_err(backend))
            .transpose()?,
    })
}

/// Appends ` WHERE ...` for every field of `filter` that narrows the listing.
fn push_filter(query: &mut QueryBuilder<Db>, filter: &DeviceFilter) {
    query.push(" WHERE 1 = 1");
    if let Some(app) = &filter.application {
        query
            .push(" AND app_id = ")
            .push_bind(app.as_str().to_owned());
    }
    if let Some(group) = &filter.group {
        query
            .push(" AND app_id IN (SELECT id FROM applications WHERE group_id = ")
            .push_bind(group.as_str().to_owned())
            .push(")");
    }
    if let Some(room) = &filter.room {
        query.push(" AND room = ").push_bind(room.clone());
    }
    if let Some(kind) = &filter.kind {
        query.push(" AND kind = ").push_bind(kind.clone());
    }
    if let Some(online) = filter.online {
        query.push(" AND is_online = ").push_bind(online);
    }
    if let Some(enabled) = filter.enabled {
        query.push(" AND enabled = ").push_bind(enabled);
    }
    if let Some(search) = &filter.search {
        // LOWER on both sides is portable (SQLite has no ILIKE). SQLite's LOWER folds
        // ASCII only; PostgreSQL's folds all of Unicode.
        let pattern = like_pattern(search);
        query
            .push(" AND (LOWER(id) LIKE LOWER(")
            .push_bind(pattern.clone())
            .push(") ESCAPE '\\' OR LOWER(name) LIKE LOWER(")
            .push_bind(pattern)
            .push(") ESCAPE '\\')");
    }
}

/// The first id of `devices` that is already registered or repeated within `devices`.
async fn first_taken_id(
    tx: &mut DbTx,
    devices: &[(NewDevice, String)],
) -> StoreResult<Option<DeviceId>> {
    let mut taken = HashSet::new();
    let ids: Vec<&str> = devices
        .iter()
        .map(|(device, _)| device.id.as_str())
        .collect();
    for chunk in ids.chunks(ID_CHUNK) {
        let mut select: QueryBuilder<Db> =
            QueryBuilder::new("SELECT id FROM devices WHERE id IN (");
        let mut list = select.separated(", ");
        for device_id in chunk {
            list.push_bind(device_id.to_string());
        }
        select.push(")");
        for row in select.build().fetch_all(&mut **tx).await.map_err(backend)? {
            taken.insert(get::<String>(&row, "id")?);
        }
    }
    let mut seen = HashSet::new();
    for (device, _) in devices {
        if taken.contains(device.id.as_str()) || !seen.insert(device.id.as_str()) {
            return Ok(Some(device.id.clone()));
        }
    }
    Ok(None)
}

#[async_trait]
impl DeviceStore for ThisStore {
    async fn create_devices(
        &self,
        devices: &[(NewDevice, String)],
        actor: &str,
    ) -> StoreResult<()> {
        if devices.is_empty() {
            return Ok(());
        }
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            let mut apps_checked = HashSet::new();
            for (device, _) in devices {
                if apps_checked.insert(device.application.as_str()) {
                    let known =
                        super::registry::exists(&mut tx, APP_EXISTS, device.application.as_str());
                    if !known.await? {
                        return Err(StoreError::not_found("application", &device.application));
                    }
                }
            }
            if let Some(taken) = first_taken_id(&mut tx, devices).await? {
                return Err(StoreError::conflict("device", taken));
            }
            let created_at_ms = now_millis();
            for chunk in devices.chunks(DEVICE_CHUNK) {
                let mut insert: QueryBuilder<Db> = QueryBuilder::new(
                    "INSERT INTO devices (id, app_id, name, kind, room, firmware, metadata, \
                 enabled, heartbeat_timeout_secs, secret_hash, created_at_ms) ",
                );
                insert.push_values(chunk, |mut row, (device, secret_hash)| {
                    row.push_bind(device.id.as_str().to_owned())
                        .push_bind(device.application.as_str().to_owned())
                        .push_bind(device.name.clone())
                        .push_bind(device.kind.clone())
                        .push_bind(device.room.clone())
                        .push_bind(device.firmware.clone())
                        .push_bind(json_text(&device.metadata))
                        .push_bind(true)
                        .push_bind(device.heartbeat_timeout_secs.map(i64::from))
                        .push_bind(secret_hash.clone())
                        .push_bind(created_at_ms);
                });
                // The checks above ran in this transaction; a violation here means another
                // writer raced us (PostgreSQL) and is reported the same way.
                insert.build().execute(&mut *tx).await.map_err(|error| {
                    map_err(
                        error,
                        Some(("device", "(one of the batch)")),
                        Some(("application", "(one of the batch)")),
                    )
                })?;
            }
            let entries: Vec<NewAuditEntry> = devices
                .iter()
                .map(|(device, _)| {
                    NewAuditEntry::new(actor, "device.add", &device.id).with_detail(
                        serde_json::json!({
                            "application": device.application.as_str(),
                            "name": device.name,
                            "kind": device.kind,
                        }),
                    )
                })
                .collect();
            write_audits(&mut tx, &entries).await?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    async fn device(&self, id: &DeviceId) -> StoreResult<Device> {
        let row = statement(SELECT_DEVICE)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or_else(|| StoreError::not_found("device", id))?;
        device_from_row(&row)
    }

    async fn devices(&self, filter: &DeviceFilter) -> StoreResult<Vec<Device>> {
        let mut select: QueryBuilder<Db> =
            QueryBuilder::new(concat!("SELECT ", device_columns!(), " FROM devices"));
        push_filter(&mut select, filter);
        select.push(match filter.sort {
            DeviceSort::Id => " ORDER BY id",
            DeviceSort::Name => " ORDER BY name, id",
            // `IS NULL` sorts false before true in both databases: never-seen last.
            DeviceSort::LastSeen => " ORDER BY last_seen_ms IS NULL, last_seen_ms DESC, id",
        });
        if filter.limit.is_some() || filter.offset > 0 {
            let limit = filter.limit.map_or(i64::MAX, i64::from);
            select
                .push(" LIMIT ")
                .push_bind(limit)
                .push(" OFFSET ")
                .push_bind(i64::from(filter.offset));
        }
        let rows = select
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(device_from_row).collect()
    }

    async fn count_devices(&self, filter: &DeviceFilter) -> StoreResult<u64> {
        let mut select: QueryBuilder<Db> = QueryBuilder::new("SELECT COUNT(*) AS n FROM devices");
        push_filter(&mut select, filter);
        let row = select
            .build()
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(get::<i64>(&row, "n")? as u64)
    }

    async fn update_device(
        &self,
        id: &DeviceId,
        patch: &DevicePatch,
        audit: &NewAuditEntry,
    ) -> StoreResult<Device> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            let mut update: QueryBuilder<Db> = QueryBuilder::new("UPDATE devices SET ");
            let mut fields = update.separated(", ");
            // Always set something, so that an empty patch still tells whether the device
            // exists through the affected-row count.
            fields.push("id = id");
            if let Some(name) = &patch.name {
                fields.push("name = ").push_bind_unseparated(name.clone());
            }
            if let Some(kind) = &patch.kind {
                fields.push("kind = ").push_bind_unseparated(kind.clone());
            }
            if let Some(room) = &patch.room {
                fields.push("room = ").push_bind_unseparated(room.clone());
            }
            if let Some(firmware) = &patch.firmware {
                fields
                    .push("firmware = ")
                    .push_bind_unseparated(firmware.clone());
            }
            if let Some(metadata) = &patch.metadata {
                fields
                    .push("metadata = ")
                    .push_bind_unseparated(json_text(metadata));
            }
            if let Some(heartbeat) = patch.heartbeat_timeout_secs {
                fields
                    .push("heartbeat_timeout_secs = ")
                    .push_bind_unseparated(heartbeat.map(i64::from));
            }
            update
                .push(" WHERE id = ")
                .push_bind(id.as_str().to_owned());
            let done = update.build().execute(&mut *tx).await.map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("device", id));
            }
            write_audit(&mut tx, audit).await?;
            let row = statement(SELECT_DEVICE)
                .bind(id.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
            device_from_row(&row)
        }
        .await;
        finish(tx, result).await
    }

    async fn set_device_secret(
        &self,
        id: &DeviceId,
        secret_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        set_one(
            self,
            "UPDATE devices SET secret_hash = $2 WHERE id = $1",
            ("device", id.as_str()),
            secret_hash,
            audit,
        )
        .await
    }

    async fn set_device_enabled(
        &self,
        id: &DeviceId,
        enabled: bool,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        set_one(
            self,
            "UPDATE devices SET enabled = $2 WHERE id = $1",
            ("device", id.as_str()),
            enabled,
            audit,
        )
        .await
    }

    async fn set_device_cert(
        &self,
        id: &DeviceId,
        cert_sha256: Option<&str>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        set_one(
            self,
            "UPDATE devices SET cert_sha256 = $2 WHERE id = $1",
            ("device", id.as_str()),
            cert_sha256.map(str::to_owned),
            audit,
        )
        .await
    }

    async fn delete_device(&self, id: &DeviceId, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            let done = statement("DELETE FROM devices WHERE id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("device", id));
            }
            write_audit(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }
}
