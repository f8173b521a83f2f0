//! Leases: one copy of each query for both backends (included with `#[path]`, see
//! `sql/mod.rs`). `INSERT ... ON CONFLICT ... DO UPDATE ... WHERE ... RETURNING` is one
//! atomic statement on PostgreSQL and on SQLite (3.35 and later; sqlx bundles a newer
//! one): the row is taken, renewed or left alone, and the answer says which.

use super::ThisStore;
use super::registry::get;
use crate::StoreResult;
use crate::leases::LeaseStore;
use crate::sql::backend;
use async_trait::async_trait;
use hearth_model::Millis;

#[async_trait]
impl LeaseStore for ThisStore {
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: Millis,
        ttl_ms: Millis,
    ) -> StoreResult<Option<Millis>> {
        let row = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at_ms, acquired_at_ms) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET \
                 holder = excluded.holder, \
                 expires_at_ms = excluded.expires_at_ms, \
                 acquired_at_ms = CASE WHEN leases.holder = excluded.holder \
                     THEN leases.acquired_at_ms ELSE excluded.acquired_at_ms END \
             WHERE leases.holder = excluded.holder OR leases.expires_at_ms <= $4 \
             RETURNING expires_at_ms",
        )
        .bind(name)
        .bind(holder)
        .bind(now_ms.saturating_add(ttl_ms.max(0)))
        .bind(now_ms)
        .fetch_optional(self.write_pool())
        .await
        .map_err(backend)?;
        row.map(|row| get(&row, "expires_at_ms")).transpose()
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(self.write_pool())
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn lease_holder(&self, name: &str) -> StoreResult<Option<(String, Millis)>> {
        let row = sqlx::query("SELECT holder, expires_at_ms FROM leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.map(|row| Ok((get(&row, "holder")?, get(&row, "expires_at_ms")?)))
            .transpose()
    }
}
