//! Claim codes and owners: one copy of each query for both backends (included with
//! `#[path]`, see `sql/mod.rs`).

use super::ThisStore;
use super::audit::write_audit;
use super::registry::{begin_write, finish, get, id};
use super::statement;
use crate::claims::{ClaimState, ClaimStore};
use crate::sql::{backend, map_err};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use hearth_model::{AppId, DeviceId, Millis, NewAuditEntry, UserName};

#[async_trait]
impl ClaimStore for ThisStore {
    async fn claim_state(&self, device: &DeviceId) -> StoreResult<ClaimState> {
        let row =
            statement("SELECT claim_code_hash, owner, claimed_at_ms FROM devices WHERE id = $1")
                .bind(device.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?
                .ok_or_else(|| StoreError::not_found("device", device.as_str()))?;
        let owner: Option<String> = get(&row, "owner")?;
        Ok(ClaimState {
            code_hash: get(&row, "claim_code_hash")?,
            owner: owner
                .map(|name| UserName::new(&name).map_err(backend))
                .transpose()?,
            claimed_at_ms: get(&row, "claimed_at_ms")?,
        })
    }

    async fn make_unclaimed(
        &self,
        device: &DeviceId,
        holding: &AppId,
        code_hash: &str,
        secret_hash: Option<&str>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<()> = async {
            let done = statement(
                "UPDATE devices SET app_id = $2, claim_code_hash = $3, owner = NULL, \
                 room = NULL, claimed_at_ms = NULL, \
                 secret_hash = COALESCE($4, secret_hash), \
                 cert_sha256 = CASE WHEN $4 IS NULL THEN cert_sha256 ELSE NULL END \
                 WHERE id = $1",
            )
            .bind(device.as_str())
            .bind(holding.as_str())
            .bind(code_hash)
            .bind(secret_hash)
            .execute(&mut *tx)
            .await
            .map_err(|error| map_err(error, None, Some(("application", holding.as_str()))))?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("device", device.as_str()));
            }
            write_audit(&mut tx, audit).await
        }
        .await;
        finish(tx, result).await
    }

    async fn claim_device(
        &self,
        device: &DeviceId,
        code_hash: &str,
        app: &AppId,
        owner: &UserName,
        room: Option<&str>,
        now_ms: Millis,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<()> = async {
            let done = statement(
                "UPDATE devices SET app_id = $3, owner = $4, room = COALESCE($5, room), \
                 claimed_at_ms = $6, claim_code_hash = NULL \
                 WHERE id = $1 AND claim_code_hash = $2",
            )
            .bind(device.as_str())
            .bind(code_hash)
            .bind(app.as_str())
            .bind(owner.as_str())
            .bind(room)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(|error| map_err(error, None, Some(("application", app.as_str()))))?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("device", device.as_str()));
            }
            write_audit(&mut tx, audit).await
        }
        .await;
        finish(tx, result).await
    }

    async fn owned_devices(&self, owner: &UserName) -> StoreResult<Vec<DeviceId>> {
        let rows = statement("SELECT id FROM devices WHERE owner = $1 ORDER BY id")
            .bind(owner.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| id(row, "id", DeviceId::new))
            .collect()
    }
}
