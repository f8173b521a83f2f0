//! Group places and confirmation requests: one copy of each query for both backends
//! (included with `#[path]`, see `sql/mod.rs`).

use super::ThisStore;
use super::audit::write_audit;
use super::automations::{audited, touched};
use super::registry::{DbRow, GROUP_EXISTS, begin_write, finish, get, id, require};
use super::statement;
use crate::automation_gates::GateStore;
use crate::sql::{backend, map_err};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use hearth_model::{Confirmation, GroupId, GroupPlace, Millis, NewAuditEntry};

fn place_from_row(row: &DbRow) -> StoreResult<(GroupId, GroupPlace)> {
    Ok((
        id(row, "group_id", GroupId::new)?,
        GroupPlace {
            time_zone: get(row, "time_zone")?,
            latitude: get(row, "latitude")?,
            longitude: get(row, "longitude")?,
        },
    ))
}

fn confirmation_from_row(row: &DbRow) -> StoreResult<Confirmation> {
    serde_json::from_str(&get::<String>(row, "document")?)
        .map_err(|error| backend(format!("stored confirmation: {error}")))
}

#[async_trait]
impl GateStore for ThisStore {
    async fn group_place(&self, group: &GroupId) -> StoreResult<GroupPlace> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        require(&mut conn, GROUP_EXISTS, "group", group.as_str()).await?;
        let row = statement(
            "SELECT group_id, time_zone, latitude, longitude FROM group_places \
             WHERE group_id = $1",
        )
        .bind(group.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
        match row {
            Some(row) => Ok(place_from_row(&row)?.1),
            None => Ok(GroupPlace::default()),
        }
    }

    async fn group_places(&self) -> StoreResult<Vec<(GroupId, GroupPlace)>> {
        let rows = statement(
            "SELECT group_id, time_zone, latitude, longitude FROM group_places ORDER BY group_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(place_from_row).collect()
    }

    async fn set_group_place(
        &self,
        group: &GroupId,
        place: &GroupPlace,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let change = async {
            let tx = &mut tx;
            require(tx, GROUP_EXISTS, "group", group.as_str()).await?;
            statement(
                "INSERT INTO group_places (group_id, time_zone, latitude, longitude) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (group_id) DO UPDATE SET \
                 time_zone = excluded.time_zone, latitude = excluded.latitude, \
                 longitude = excluded.longitude",
            )
            .bind(group.as_str())
            .bind(place.time_zone.as_deref())
            .bind(place.latitude)
            .bind(place.longitude)
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
            Ok(())
        }
        .await;
        audited(tx, change, audit).await
    }

    async fn put_confirmation(
        &self,
        confirmation: &Confirmation,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let document = serde_json::to_string(confirmation).map_err(backend)?;
        let mut tx = begin_write(self).await?;
        let change = async {
            let tx = &mut tx;
            statement(
                "INSERT INTO automation_confirmations (id, group_id, automation_id, state, \
                 created_at_ms, expires_at_ms, document) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state, \
                 document = excluded.document",
            )
            .bind(&confirmation.id)
            .bind(confirmation.group.as_str())
            .bind(&confirmation.automation)
            .bind(confirmation.state.as_str())
            .bind(confirmation.created_at_ms)
            .bind(confirmation.expires_at_ms)
            .bind(document)
            .execute(&mut **tx)
            .await
            .map_err(|error| {
                map_err(
                    error,
                    None,
                    Some(("automation", confirmation.automation.as_str())),
                )
            })?;
            Ok(())
        }
        .await;
        audited(tx, change, audit).await
    }

    async fn confirmation(&self, key: &str) -> StoreResult<Confirmation> {
        let row = statement("SELECT document FROM automation_confirmations WHERE id = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or_else(|| StoreError::not_found("confirmation", key))?;
        confirmation_from_row(&row)
    }

    async fn set_webhook_hash(
        &self,
        automation_id: &str,
        hash: Option<&str>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let change = async {
            let tx = &mut tx;
            let done = statement("UPDATE automations SET webhook_hash = $2 WHERE id = $1")
                .bind(automation_id)
                .bind(hash)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
            touched(done.rows_affected(), "automation", automation_id)
        }
        .await;
        audited(tx, change, audit).await
    }

    async fn webhook_hash(&self, automation_id: &str) -> StoreResult<Option<String>> {
        let row = statement("SELECT webhook_hash FROM automations WHERE id = $1")
            .bind(automation_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or_else(|| StoreError::not_found("automation", automation_id))?;
        get(&row, "webhook_hash")
    }

    async fn note(&self, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result = write_audit(&mut tx, audit).await;
        finish(tx, result).await
    }

    async fn confirmations(
        &self,
        group: Option<&GroupId>,
        since_ms: Millis,
        limit: u32,
    ) -> StoreResult<Vec<Confirmation>> {
        let rows = statement(
            "SELECT document FROM automation_confirmations \
             WHERE ($1 IS NULL OR group_id = $1) \
             AND (state = 'pending' OR created_at_ms >= $2) \
             ORDER BY created_at_ms DESC, id DESC LIMIT $3",
        )
        .bind(group.map(GroupId::as_str))
        .bind(since_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(confirmation_from_row).collect()
    }
}
