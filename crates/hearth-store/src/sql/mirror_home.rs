//! The registry mirror at home: applying a cloud snapshot inside one transaction
//! (migration 0017). One copy for both backends, included with `#[path]` like
//! `mirror.rs`, whose `MirrorStore::apply_mirror` calls [`apply`].

use super::registry::{DbTx, get};
use super::{scalar, statement};
use crate::StoreResult;
use crate::mirror::{MirrorApplied, MirrorConflict, MirrorDevice, MirrorSnapshot};
use crate::sql::{backend, json_text};
use std::collections::HashSet;

async fn strings(tx: &mut DbTx, sql: &'static str) -> StoreResult<Vec<String>> {
    let found = statement(sql).fetch_all(&mut **tx).await.map_err(backend)?;
    found.iter().map(|row| get::<String>(row, "id")).collect()
}

/// Inserts or replaces a device's definition (never its live columns). A local device
/// with that id becomes mirrored: the cloud wins on definitions.
pub(super) async fn upsert_device(
    tx: &mut DbTx,
    device: &MirrorDevice,
    now: i64,
) -> StoreResult<()> {
    statement(
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
pub(super) async fn apply(
    tx: &mut DbTx,
    snapshot: &MirrorSnapshot,
    now: i64,
) -> StoreResult<MirrorApplied> {
    let mut conflicts = Vec::new();
    let mut conflict = |device: String, reason: &str| {
        conflicts.push(MirrorConflict {
            device,
            reason: reason.to_owned(),
            at_ms: now,
        })
    };
    let group = &snapshot.group;
    let done = statement(
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
        // Looked up first: MariaDB's upsert reports a row it left alone as affected.
        let local: Option<bool> = scalar("SELECT mirrored FROM users WHERE name = $1")
            .bind(&user.name)
            .fetch_optional(&mut **tx)
            .await
            .map_err(backend)?;
        if local == Some(false) {
            conflict(
                format!("user:{}", user.name),
                "a person of this hub has that name; kept",
            );
            continue;
        }
        let done = statement(
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
    statement(
        "DELETE FROM memberships WHERE group_id = $1 \
         AND user_name IN (SELECT name FROM users WHERE mirrored = TRUE)",
    )
    .bind(&group.id)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    for user in &snapshot.users {
        if let (Some(role), true) = (&user.role, users.contains(user.name.as_str())) {
            statement("INSERT INTO memberships (group_id, user_name, role) VALUES ($1, $2, $3)")
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
            statement("SELECT secret_hash FROM applications WHERE id = $1 AND mirrored = FALSE")
                .bind(&app.id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(backend)?;
        let taken = statement("SELECT 1 FROM applications WHERE mqtt_key = $2 AND id <> $1")
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
        statement(
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
    statement(
        "DELETE FROM grants WHERE app_id IN (SELECT id FROM applications WHERE mirrored = TRUE) \
         AND user_name IN (SELECT name FROM users WHERE mirrored = TRUE)",
    )
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    for grant in &snapshot.grants {
        if apps.contains(grant.app.as_str()) && users.contains(grant.user.as_str()) {
            statement("INSERT INTO grants (app_id, user_name, permission) VALUES ($1, $2, $3)")
                .bind(&grant.app)
                .bind(&grant.user)
                .bind(&grant.permission)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
        }
    }
    // Devices: the cloud's definition replaces a local one with the same id, except
    // its secret: a device made here with another secret keeps this hub's (the device
    // holds one secret; taking the cloud's would lock it out and cut its connection)
    // and stays this hub's, listed as a conflict.
    let mut devices = HashSet::new();
    for device in &snapshot.devices {
        if !apps.contains(device.app.as_str()) {
            continue;
        }
        let local =
            statement("SELECT app_id, secret_hash FROM devices WHERE id = $1 AND mirrored = FALSE")
                .bind(&device.id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(backend)?;
        if let Some(row) = local {
            if get::<String>(&row, "secret_hash")? != device.secret_hash {
                conflict(
                    device.id.clone(),
                    "the cloud hub has it with another secret; this hub's secret is kept",
                );
                let mut keeping = device.clone();
                keeping.secret_hash = get(&row, "secret_hash")?;
                upsert_device(tx, &keeping, now).await?;
                statement("UPDATE devices SET mirrored = FALSE WHERE id = $1")
                    .bind(&device.id)
                    .execute(&mut **tx)
                    .await
                    .map_err(backend)?;
                continue;
            }
            if get::<String>(&row, "app_id")? != device.app {
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
            statement("DELETE FROM devices WHERE id = $1")
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
            statement(
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
            statement("DELETE FROM users WHERE name = $1")
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
