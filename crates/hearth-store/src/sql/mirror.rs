//! The registry mirror (migration 0017): one copy of each query for both backends
//! (included with `#[path]`, see `sql/mod.rs`).

use super::audit::write_audit;
use super::mirror_home::{apply, upsert_device};
use super::registry::{DbRow, DbTx, begin_write, finish, get};
use super::statement;
use super::{BEGIN_SNAPSHOT, ThisStore};
use crate::StoreError;
use crate::StoreResult;
use crate::mirror::{
    MirrorApp, MirrorApplied, MirrorConflict, MirrorDevice, MirrorGrant, MirrorGroup,
    MirrorSnapshot, MirrorState, MirrorStore, MirrorUser, PushedDevice,
};
use crate::sql::{backend, json_value};
use async_trait::async_trait;
use hearth_model::{NewAuditEntry, SiteId, now_millis};
use serde_json::json;

/// The columns a [`MirrorDevice`] is read from.
macro_rules! mirror_device_columns {
    () => {
        "id, app_id, name, kind, room, firmware, metadata, enabled, \
         heartbeat_timeout_secs, secret_hash, cert_sha256"
    };
}

fn device_from_row(row: &DbRow) -> StoreResult<MirrorDevice> {
    let heartbeat: Option<i64> = get(row, "heartbeat_timeout_secs")?;
    Ok(MirrorDevice {
        id: get(row, "id")?,
        app: get(row, "app_id")?,
        name: get(row, "name")?,
        kind: get(row, "kind")?,
        room: get(row, "room")?,
        firmware: get(row, "firmware")?,
        metadata: json_value(&get::<String>(row, "metadata")?)?,
        enabled: get(row, "enabled")?,
        heartbeat_timeout_secs: heartbeat
            .map(|secs| u32::try_from(secs).map_err(backend))
            .transpose()?,
        secret_hash: get(row, "secret_hash")?,
        cert_sha256: get(row, "cert_sha256")?,
    })
}

fn conflict_from_row(row: &DbRow) -> StoreResult<MirrorConflict> {
    Ok(MirrorConflict {
        device: get(row, "device_id")?,
        reason: get(row, "reason")?,
        at_ms: get(row, "at_ms")?,
    })
}

async fn rows(tx: &mut DbTx, sql: &'static str, key: &str) -> StoreResult<Vec<DbRow>> {
    statement(sql)
        .bind(key)
        .fetch_all(&mut **tx)
        .await
        .map_err(backend)
}

async fn site_conflict_rows(tx: &mut DbTx, site: &str) -> StoreResult<Vec<MirrorConflict>> {
    rows(
        tx,
        "SELECT device_id, reason, at_ms FROM site_conflicts WHERE site_id = $1 \
         ORDER BY at_ms DESC, device_id",
        site,
    )
    .await?
    .iter()
    .map(conflict_from_row)
    .collect()
}

/// Reads one site's snapshot inside `tx`.
async fn read_snapshot(tx: &mut DbTx, site: &SiteId) -> StoreResult<MirrorSnapshot> {
    let seq = statement("SELECT MAX(seq) AS seq FROM audit_log")
        .fetch_one(&mut **tx)
        .await
        .map_err(backend)?;
    let revision = get::<Option<i64>>(&seq, "seq")?.unwrap_or(0);
    let found = rows(
        tx,
        "SELECT g.id, g.name FROM sites s JOIN groups g ON g.id = s.group_id WHERE s.id = $1",
        site.as_str(),
    )
    .await?;
    let Some(group) = found.first() else {
        return Err(StoreError::not_found("site", site));
    };
    let group = MirrorGroup {
        id: get(group, "id")?,
        name: get(group, "name")?,
    };
    let apps = rows(
        tx,
        "SELECT id, name, description, mqtt_key, secret_hash, discovery FROM applications \
         WHERE group_id = $1 ORDER BY id",
        &group.id,
    )
    .await?
    .iter()
    .map(|row| {
        Ok(MirrorApp {
            id: get(row, "id")?,
            name: get(row, "name")?,
            description: get(row, "description")?,
            mqtt_key: get(row, "mqtt_key")?,
            secret_hash: get(row, "secret_hash")?,
            discovery: get(row, "discovery")?,
        })
    })
    .collect::<StoreResult<Vec<_>>>()?;
    let grants = rows(
        tx,
        "SELECT gr.app_id, gr.user_name, gr.permission FROM grants gr \
         JOIN applications a ON a.id = gr.app_id WHERE a.group_id = $1 \
         ORDER BY gr.app_id, gr.user_name",
        &group.id,
    )
    .await?
    .iter()
    .map(|row| {
        Ok(MirrorGrant {
            app: get(row, "app_id")?,
            user: get(row, "user_name")?,
            permission: get(row, "permission")?,
        })
    })
    .collect::<StoreResult<Vec<_>>>()?;
    // Members, and the holders of a grant on the group's applications.
    let users = rows(
        tx,
        "SELECT u.name, u.display_name, u.email, u.language, u.password_hash, m.role \
         FROM users u LEFT JOIN memberships m ON m.user_name = u.name AND m.group_id = $1 \
         WHERE m.role IS NOT NULL OR EXISTS (SELECT 1 FROM grants gr \
           JOIN applications a ON a.id = gr.app_id \
           WHERE gr.user_name = u.name AND a.group_id = $1) \
         ORDER BY u.name",
        &group.id,
    )
    .await?
    .iter()
    .map(|row| {
        Ok(MirrorUser {
            name: get(row, "name")?,
            display_name: get(row, "display_name")?,
            email: get(row, "email")?,
            language: get(row, "language")?,
            password_hash: get(row, "password_hash")?,
            role: get(row, "role")?,
        })
    })
    .collect::<StoreResult<Vec<_>>>()?;
    let devices = statement(concat!(
        "SELECT ",
        mirror_device_columns!(),
        " FROM devices WHERE site_id = $1 ORDER BY id"
    ))
    .bind(site.as_str())
    .fetch_all(&mut **tx)
    .await
    .map_err(backend)?
    .iter()
    .map(device_from_row)
    .collect::<StoreResult<Vec<_>>>()?;
    let conflicts = site_conflict_rows(tx, site.as_str()).await?;
    Ok(MirrorSnapshot {
        site: site.to_string(),
        revision,
        group,
        users,
        apps,
        grants,
        devices,
        conflicts,
    })
}

#[async_trait]
impl MirrorStore for ThisStore {
    async fn mirror_snapshot(&self, site: &SiteId) -> StoreResult<MirrorSnapshot> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_SNAPSHOT)
            .await
            .map_err(backend)?;
        let result = read_snapshot(&mut tx, site).await;
        finish(tx, result).await
    }

    async fn accept_site_device(
        &self,
        site: &SiteId,
        device: &MirrorDevice,
        actor: &str,
    ) -> StoreResult<PushedDevice> {
        let mut tx = begin_write(self).await?;
        let result = async {
            let found = rows(
                &mut tx,
                "SELECT group_id FROM sites WHERE id = $1",
                site.as_str(),
            )
            .await?;
            let Some(group) = found.first() else {
                return Err(StoreError::not_found("site", site));
            };
            let group: String = get(group, "group_id")?;
            let app = rows(
                &mut tx,
                "SELECT group_id FROM applications WHERE id = $1",
                &device.app,
            )
            .await?;
            let existing = rows(
                &mut tx,
                "SELECT app_id, site_id, secret_hash FROM devices WHERE id = $1",
                &device.id,
            )
            .await?;
            let reason = if app
                .first()
                .map(|row| get::<String>(row, "group_id"))
                .transpose()?
                != Some(group)
            {
                Some(format!(
                    "application {} is not one of the site's group",
                    device.app
                ))
            } else if let Some(row) = existing.first() {
                let same = get::<String>(row, "app_id")? == device.app
                    && get::<Option<String>>(row, "site_id")?.as_deref() == Some(site.as_str())
                    && get::<String>(row, "secret_hash")? == device.secret_hash;
                if same {
                    statement("DELETE FROM site_conflicts WHERE site_id = $1 AND device_id = $2")
                        .bind(site.as_str())
                        .bind(&device.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    return Ok(PushedDevice::Identical);
                }
                let in_site =
                    get::<Option<String>>(row, "site_id")?.as_deref() == Some(site.as_str());
                Some(
                    if in_site {
                        "this site's device in the cloud hub has another secret or application; \
                     the cloud's is kept"
                    } else {
                        "the id is taken in the cloud hub by another device; the cloud's is kept"
                    }
                    .to_owned(),
                )
            } else {
                None
            };
            if let Some(reason) = reason {
                statement(
                    "INSERT INTO site_conflicts (site_id, device_id, reason, at_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (site_id, device_id) \
                     DO UPDATE SET reason = excluded.reason, at_ms = excluded.at_ms",
                )
                .bind(site.as_str())
                .bind(&device.id)
                .bind(&reason)
                .bind(now_millis())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                let audit = NewAuditEntry::new(actor, "site.mirror_conflict", site)
                    .with_detail(json!({ "device": device.id, "reason": reason }));
                write_audit(&mut tx, &audit).await?;
                return Ok(PushedDevice::Conflict(reason));
            }
            upsert_device(&mut tx, device, now_millis()).await?;
            statement("UPDATE devices SET site_id = $1, mirrored = FALSE WHERE id = $2")
                .bind(site.as_str())
                .bind(&device.id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            statement("DELETE FROM site_conflicts WHERE site_id = $1 AND device_id = $2")
                .bind(site.as_str())
                .bind(&device.id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            let audit = NewAuditEntry::new(actor, "device.create", device.id.as_str())
                .with_detail(json!({ "app": device.app, "site": site.as_str(), "from": "site" }));
            write_audit(&mut tx, &audit).await?;
            Ok(PushedDevice::Created)
        }
        .await;
        finish(tx, result).await
    }

    async fn site_conflicts(&self, site: &SiteId) -> StoreResult<Vec<MirrorConflict>> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_SNAPSHOT)
            .await
            .map_err(backend)?;
        let result = site_conflict_rows(&mut tx, site.as_str()).await;
        finish(tx, result).await
    }

    async fn apply_mirror(
        &self,
        snapshot: &MirrorSnapshot,
        actor: &str,
    ) -> StoreResult<MirrorApplied> {
        let mut tx = begin_write(self).await?;
        let result = async {
            let last = statement("SELECT site_id, revision FROM mirror_state WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
            if let Some(row) = last
                && get::<String>(&row, "site_id")? == snapshot.site
                && get::<i64>(&row, "revision")? > snapshot.revision
            {
                return Ok(MirrorApplied::default());
            }
            let now = now_millis();
            let applied = apply(&mut tx, snapshot, now).await?;
            let mut conflicts = snapshot.conflicts.clone();
            conflicts.extend(applied.conflicts.iter().cloned());
            let conflicts_text = serde_json::to_string(&conflicts).map_err(backend)?;
            statement(
                "INSERT INTO mirror_state (id, site_id, revision, last_sync_ms, conflicts) \
                 VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET \
                 site_id = excluded.site_id, revision = excluded.revision, \
                 last_sync_ms = excluded.last_sync_ms, conflicts = excluded.conflicts",
            )
            .bind(&snapshot.site)
            .bind(snapshot.revision)
            .bind(now)
            .bind(conflicts_text)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            let audit = NewAuditEntry::new(actor, "mirror.apply", snapshot.site.as_str())
                .with_detail(json!({
                    "revision": snapshot.revision,
                    "devices": snapshot.devices.len(),
                    "devices_removed": applied.devices_removed,
                    "conflicts": applied.conflicts.len(),
                }));
            write_audit(&mut tx, &audit).await?;
            Ok(applied)
        }
        .await;
        finish(tx, result).await
    }

    async fn mirror_state(&self) -> StoreResult<Option<MirrorState>> {
        let row = statement(
            "SELECT site_id, revision, last_sync_ms, conflicts FROM mirror_state WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|row| {
            Ok(MirrorState {
                site: get(&row, "site_id")?,
                revision: get(&row, "revision")?,
                last_sync_ms: get(&row, "last_sync_ms")?,
                conflicts: serde_json::from_str(&get::<String>(&row, "conflicts")?)
                    .map_err(backend)?,
            })
        })
        .transpose()
    }

    async fn unmirrored_devices(&self) -> StoreResult<Vec<MirrorDevice>> {
        let found = statement(concat!(
            "SELECT ",
            mirror_device_columns!(),
            " FROM devices WHERE mirrored = FALSE \
             AND app_id IN (SELECT id FROM applications WHERE mirrored = TRUE) ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        found.iter().map(device_from_row).collect()
    }
}
