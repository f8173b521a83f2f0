//! The registry mirror (migration 0017): one copy of each query for both backends
//! (included with `#[path]`, see `sql/mod.rs`).

use super::audit::write_audit;
use super::registry::{DbRow, DbTx, begin_write, finish, get};
use super::{BEGIN_SNAPSHOT, ThisStore};
use crate::StoreError;
use crate::StoreResult;
use crate::mirror::{
    MirrorApp, MirrorApplied, MirrorConflict, MirrorDevice, MirrorGrant, MirrorGroup,
    MirrorSnapshot, MirrorState, MirrorStore, MirrorUser, PushedDevice,
};
use crate::sql::{backend, json_text, json_value};
use async_trait::async_trait;
use hearth_model::{NewAuditEntry, SiteId, now_millis};
use serde_json::json;
use std::collections::HashSet;

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
    sqlx::query(sql)
        .bind(key)
        .fetch_all(&mut **tx)
        .await
        .map_err(backend)
}

async fn strings(tx: &mut DbTx, sql: &'static str) -> StoreResult<Vec<String>> {
    let found = sqlx::query(sql)
        .fetch_all(&mut **tx)
        .await
        .map_err(backend)?;
    found.iter().map(|row| get::<String>(row, "id")).collect()
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
    let seq = sqlx::query("SELECT MAX(seq) AS seq FROM audit_log")
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
    let devices = sqlx::query(concat!(
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

/// Inserts or replaces a device's definition (never its live columns). A local device
/// with that id becomes mirrored: the cloud wins on definitions.
async fn upsert_device(tx: &mut DbTx, device: &MirrorDevice, now: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO devices (id, app_id, name, kind, room, firmware, metadata, enabled, \
         heartbeat_timeout_secs, secret_hash, cert_sha256, created_at_ms, mirrored) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, TRUE) \
         ON CONFLICT (id) DO UPDATE SET app_id = excluded.app_id, name = excluded.name, \
         kind = excluded.kind, room = excluded.room, firmware = excluded.firmware, \
         metadata = excluded.metadata, enabled = excluded.enabled, \
         heartbeat_timeout_secs = excluded.heartbeat_timeout_secs, \
         secret_hash = excluded.secret_hash, cert_sha256 = excluded.cert_sha256, \
         mirrored = TRUE",
    )
    .bind(&device.id)
    .bind(&device.app)
    .bind(&device.name)
    .bind(&device.kind)
    .bind(&device.room)
    .bind(&device.firmware)
    .bind(json_text(&device.metadata))
    .bind(device.enabled)
    .bind(device.heartbeat_timeout_secs.map(i64::from))
    .bind(&device.secret_hash)
    .bind(&device.cert_sha256)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Applies `snapshot` inside `tx`; the conflicts found at home.
async fn apply(tx: &mut DbTx, snapshot: &MirrorSnapshot, now: i64) -> StoreResult<MirrorApplied> {
    let mut conflicts = Vec::new();
    let mut conflict = |device: String, reason: &str| {
        conflicts.push(MirrorConflict {
            device,
            reason: reason.to_owned(),
            at_ms: now,
        })
    };
    let group = &snapshot.group;
    let done = sqlx::query(
        "INSERT INTO groups (id, name, created_at_ms, mirrored) VALUES ($1, $2, $3, TRUE) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, mirrored = TRUE",
    )
    .bind(&group.id)
    .bind(&group.name)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    debug_assert!(done.rows_affected() <= 1);
    // People: a local person with a mirrored one's name is kept (never given a cloud
    // password, nor the other way round: a hub administrator stays one).
    let mut users = HashSet::new();
    for user in &snapshot.users {
        let done = sqlx::query(
            "INSERT INTO users (name, display_name, email, language, is_admin, password_hash, \
             created_at_ms, mirrored) VALUES ($1, $2, $3, $4, FALSE, $5, $6, TRUE) \
             ON CONFLICT (name) DO UPDATE SET display_name = excluded.display_name, \
             email = excluded.email, language = excluded.language, \
             password_hash = excluded.password_hash WHERE users.mirrored = TRUE",
        )
        .bind(&user.name)
        .bind(&user.display_name)
        .bind(&user.email)
        .bind(&user.language)
        .bind(&user.password_hash)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            conflict(
                format!("user:{}", user.name),
                "a person of this hub has that name; kept",
            );
        } else {
            users.insert(user.name.as_str());
        }
    }
    sqlx::query(
        "DELETE FROM memberships WHERE group_id = $1 \
         AND user_name IN (SELECT name FROM users WHERE mirrored = TRUE)",
    )
    .bind(&group.id)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    for user in &snapshot.users {
        if let (Some(role), true) = (&user.role, users.contains(user.name.as_str())) {
            sqlx::query("INSERT INTO memberships (group_id, user_name, role) VALUES ($1, $2, $3)")
                .bind(&group.id)
                .bind(&user.name)
                .bind(role)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
        }
    }
    // Applications: the cloud's definition replaces a local one with the same id (a
    // fresh hub's own `default`, say); another with the same MQTT key is kept.
    let mut apps = HashSet::new();
    for app in &snapshot.apps {
        let local =
            sqlx::query("SELECT secret_hash FROM applications WHERE id = $1 AND mirrored = FALSE")
                .bind(&app.id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(backend)?;
        let taken = sqlx::query("SELECT 1 FROM applications WHERE mqtt_key = $2 AND id <> $1")
            .bind(&app.id)
            .bind(&app.mqtt_key)
            .fetch_optional(&mut **tx)
            .await
            .map_err(backend)?;
        if taken.is_some() {
            conflict(
                format!("app:{}", app.id),
                "an application of this hub has that MQTT key; kept",
            );
            continue;
        }
        sqlx::query(
            "INSERT INTO applications (id, group_id, name, description, mqtt_key, secret_hash, \
             created_at_ms, discovery, mirrored) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, TRUE) \
             ON CONFLICT (id) DO UPDATE SET group_id = excluded.group_id, name = excluded.name, \
             description = excluded.description, mqtt_key = excluded.mqtt_key, \
             secret_hash = excluded.secret_hash, discovery = excluded.discovery, \
             mirrored = TRUE",
        )
        .bind(&app.id)
        .bind(&group.id)
        .bind(&app.name)
        .bind(&app.description)
        .bind(&app.mqtt_key)
        .bind(&app.secret_hash)
        .bind(now)
        .bind(app.discovery)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
        if let Some(row) = local
            && get::<String>(&row, "secret_hash")? != app.secret_hash
        {
            conflict(
                format!("app:{}", app.id),
                "defined differently in the cloud hub; the cloud's definition replaced this hub's",
            );
        }
        apps.insert(app.id.as_str());
    }
    sqlx::query(
        "DELETE FROM grants WHERE app_id IN (SELECT id FROM applications WHERE mirrored = TRUE) \
         AND user_name IN (SELECT name FROM users WHERE mirrored = TRUE)",
    )
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    for grant in &snapshot.grants {
        if apps.contains(grant.app.as_str()) && users.contains(grant.user.as_str()) {
            sqlx::query("INSERT INTO grants (app_id, user_name, permission) VALUES ($1, $2, $3)")
                .bind(&grant.app)
                .bind(&grant.user)
                .bind(&grant.permission)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
        }
    }
    // Devices: the cloud's definition replaces a local one with the same id.
    let mut devices = HashSet::new();
    for device in &snapshot.devices {
        if !apps.contains(device.app.as_str()) {
            continue;
        }
        let local = sqlx::query(
            "SELECT app_id, secret_hash FROM devices WHERE id = $1 AND mirrored = FALSE",
        )
        .bind(&device.id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(backend)?;
        if let Some(row) = local {
            let same = get::<String>(&row, "app_id")? == device.app
                && get::<String>(&row, "secret_hash")? == device.secret_hash;
            if !same {
                conflict(
                    device.id.clone(),
                    "defined differently in the cloud hub; the cloud's definition replaced this hub's",
                );
            }
        }
        upsert_device(tx, device, now).await?;
        devices.insert(device.id.as_str());
    }
    // What the cloud no longer defines goes (live state and history with it or not, as
    // a device removed at home).
    let mut devices_removed = 0;
    for id in strings(tx, "SELECT id FROM devices WHERE mirrored = TRUE").await? {
        if !devices.contains(id.as_str()) {
            sqlx::query("DELETE FROM devices WHERE id = $1")
                .bind(&id)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
            devices_removed += 1;
        }
    }
    for id in strings(tx, "SELECT id FROM applications WHERE mirrored = TRUE").await? {
        if !apps.contains(id.as_str()) {
            // Kept while local devices use it (they name it).
            sqlx::query(
                "DELETE FROM applications WHERE id = $1 \
                 AND NOT EXISTS (SELECT 1 FROM devices WHERE app_id = $1)",
            )
            .bind(&id)
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
        }
    }
    for name in strings(tx, "SELECT name AS id FROM users WHERE mirrored = TRUE").await? {
        if !users.contains(name.as_str()) {
            sqlx::query("DELETE FROM users WHERE name = $1")
                .bind(&name)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
        }
    }
    Ok(MirrorApplied {
        applied: true,
        devices_removed,
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
                    sqlx::query("DELETE FROM site_conflicts WHERE site_id = $1 AND device_id = $2")
                        .bind(site.as_str())
                        .bind(&device.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    return Ok(PushedDevice::Identical);
                }
                Some(
                    "the id is taken in the cloud hub by another device; the cloud's is kept"
                        .to_owned(),
                )
            } else {
                None
            };
            if let Some(reason) = reason {
                sqlx::query(
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
            sqlx::query("UPDATE devices SET site_id = $1, mirrored = FALSE WHERE id = $2")
                .bind(site.as_str())
                .bind(&device.id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query("DELETE FROM site_conflicts WHERE site_id = $1 AND device_id = $2")
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
            let last = sqlx::query("SELECT site_id, revision FROM mirror_state WHERE id = 1")
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
            sqlx::query(
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
        let row = sqlx::query(
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
        let found = sqlx::query(concat!(
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
