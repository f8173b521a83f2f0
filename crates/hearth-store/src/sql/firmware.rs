//! Firmware images and rollouts: one copy of each query for both backends (included
//! with `#[path]`, see `sql/mod.rs`). Records are JSON documents; the columns beside
//! them are what lookups use (the token digest and its expiry are columns only).

use super::ThisStore;
use super::audit::write_audit;
use super::automations::{audited, touched};
use super::registry::{DbRow, DbTx, GROUP_EXISTS, begin_write, finish, get, require};
use super::statement;
use crate::firmware::FirmwareStore;
use crate::sql::{backend, map_err};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use hearth_model::{DeviceId, Firmware, NewAuditEntry, Rollout, RolloutTarget, TargetState};
use serde::de::DeserializeOwned;

fn document<T: DeserializeOwned>(row: &DbRow, what: &str) -> StoreResult<T> {
    serde_json::from_str(&get::<String>(row, "document")?)
        .map_err(|error| backend(format!("stored {what}: {error}")))
}

fn text<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(backend)
}

fn target_from_row(row: &DbRow) -> StoreResult<RolloutTarget> {
    let mut target: RolloutTarget = document(row, "rollout target")?;
    target.token_sha256 = get(row, "token_sha256")?;
    target.token_expires_at_ms = get(row, "token_expires_at_ms")?;
    Ok(target)
}

/// The columns a [`RolloutTarget`] is read from.
macro_rules! target_select {
    ($rest:literal) => {
        concat!(
            "SELECT document, token_sha256, token_expires_at_ms FROM rollout_targets WHERE ",
            $rest
        )
    };
}

async fn upsert_target(tx: &mut DbTx, target: &RolloutTarget) -> StoreResult<()> {
    statement(
        "INSERT INTO rollout_targets (rollout_id, device_id, state, command_id, token_sha256, \
         token_expires_at_ms, document) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (rollout_id, device_id) DO UPDATE SET state = excluded.state, \
         command_id = excluded.command_id, token_sha256 = excluded.token_sha256, \
         token_expires_at_ms = excluded.token_expires_at_ms, document = excluded.document",
    )
    .bind(&target.rollout)
    .bind(target.device.as_str())
    .bind(target.state.as_str())
    .bind(target.command.as_deref())
    .bind(target.token_sha256.as_deref())
    .bind(target.token_expires_at_ms)
    .bind(text(target)?)
    .execute(&mut **tx)
    .await
    .map_err(|error| map_err(error, None, Some(("rollout", target.rollout.as_str()))))?;
    Ok(())
}

async fn write_rollout(tx: &mut DbTx, rollout: &Rollout) -> StoreResult<()> {
    let done = statement("UPDATE rollouts SET document = $2 WHERE id = $1")
        .bind(&rollout.id)
        .bind(text(rollout)?)
        .execute(&mut **tx)
        .await
        .map_err(backend)?
        .rows_affected();
    touched(done, "rollout", &rollout.id)
}

#[async_trait]
impl FirmwareStore for ThisStore {
    async fn insert_firmware(&self, firmware: &Firmware, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let change = statement(
            "INSERT INTO firmware (id, sha256, uploaded_at_ms, document) VALUES ($1, $2, $3, $4)",
        )
        .bind(&firmware.id)
        .bind(&firmware.sha256)
        .bind(firmware.uploaded_at_ms)
        .bind(text(firmware)?)
        .execute(&mut *tx)
        .await
        .map(|_| ())
        .map_err(|error| map_err(error, Some(("firmware", firmware.id.as_str())), None));
        audited(tx, change, audit).await
    }

    async fn firmware(&self, id: &str) -> StoreResult<Firmware> {
        let row = statement("SELECT document FROM firmware WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or_else(|| StoreError::not_found("firmware", id))?;
        document(&row, "firmware")
    }

    async fn firmware_list(&self) -> StoreResult<Vec<Firmware>> {
        let rows = statement("SELECT document FROM firmware ORDER BY uploaded_at_ms DESC, id")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(|row| document(row, "firmware")).collect()
    }

    async fn delete_firmware(&self, id: &str, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let change = async {
            let used = statement("SELECT id FROM rollouts WHERE firmware_id = $1 LIMIT 1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
            if let Some(row) = used {
                let rollout: String = get(&row, "id")?;
                return Err(StoreError::Refused(format!(
                    "firmware {id} is used by rollout {rollout}"
                )));
            }
            let done = statement("DELETE FROM firmware WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected();
            touched(done, "firmware", id)
        }
        .await;
        audited(tx, change, audit).await
    }

    async fn firmware_file_used(&self, sha256: &str) -> StoreResult<bool> {
        let row = statement("SELECT 1 FROM firmware WHERE sha256 = $1 LIMIT 1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(row.is_some())
    }

    async fn insert_rollout(
        &self,
        rollout: &Rollout,
        targets: &[RolloutTarget],
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let change = async {
            let tx = &mut tx;
            require(tx, GROUP_EXISTS, "group", rollout.group.as_str()).await?;
            statement(
                "INSERT INTO rollouts (id, firmware_id, group_id, created_at_ms, document) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&rollout.id)
            .bind(&rollout.firmware)
            .bind(rollout.group.as_str())
            .bind(rollout.created_at_ms)
            .bind(text(rollout)?)
            .execute(&mut **tx)
            .await
            .map_err(|error| {
                map_err(
                    error,
                    Some(("rollout", rollout.id.as_str())),
                    Some(("firmware", rollout.firmware.as_str())),
                )
            })?;
            for target in targets {
                upsert_target(tx, target).await?;
            }
            write_audit(tx, audit).await
        }
        .await;
        finish(tx, change).await
    }

    async fn update_rollout(
        &self,
        rollout: &Rollout,
        targets: &[RolloutTarget],
        audit: Option<&NewAuditEntry>,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let change = async {
            let tx = &mut tx;
            write_rollout(tx, rollout).await?;
            for target in targets {
                upsert_target(tx, target).await?;
            }
            match audit {
                Some(audit) => write_audit(tx, audit).await,
                None => Ok(()),
            }
        }
        .await;
        finish(tx, change).await
    }

    async fn rollout(&self, id: &str) -> StoreResult<Rollout> {
        let row = statement("SELECT document FROM rollouts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or_else(|| StoreError::not_found("rollout", id))?;
        document(&row, "rollout")
    }

    async fn rollouts(&self) -> StoreResult<Vec<Rollout>> {
        let rows = statement("SELECT document FROM rollouts ORDER BY created_at_ms DESC, id")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(|row| document(row, "rollout")).collect()
    }

    async fn rollout_targets(&self, rollout: &str) -> StoreResult<Vec<RolloutTarget>> {
        let rows = statement(target_select!("rollout_id = $1 ORDER BY device_id"))
            .bind(rollout)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(target_from_row).collect()
    }

    async fn update_rollout_target(&self, target: &RolloutTarget) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let change = upsert_target(&mut tx, target).await;
        finish(tx, change).await
    }

    async fn rollout_target_by_token(&self, token_sha256: &str) -> StoreResult<RolloutTarget> {
        let row = statement(target_select!("token_sha256 = $1"))
            .bind(token_sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or_else(|| StoreError::not_found("download token", "(hidden)"))?;
        target_from_row(&row)
    }

    async fn rollout_target_by_command(&self, command: &str) -> StoreResult<RolloutTarget> {
        let row = statement(target_select!("command_id = $1"))
            .bind(command)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or_else(|| StoreError::not_found("rollout command", command))?;
        target_from_row(&row)
    }

    async fn open_rollout_targets(&self, device: &DeviceId) -> StoreResult<Vec<RolloutTarget>> {
        let rows = statement(target_select!(
            "device_id = $1 \
             AND state NOT IN ($2, $3, $4)"
        ))
        .bind(device.as_str())
        .bind(TargetState::Succeeded.as_str())
        .bind(TargetState::Failed.as_str())
        .bind(TargetState::Stopped.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(target_from_row).collect()
    }
}
