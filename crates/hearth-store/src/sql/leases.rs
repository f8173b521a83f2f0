//! Leases: one copy of each query for both backends (included with `#[path]`, see
//! `sql/mod.rs`). `INSERT ... ON CONFLICT ... DO UPDATE ... WHERE ... RETURNING` is one
//! atomic statement on PostgreSQL and on SQLite (3.35 and later; sqlx bundles a newer
//! one): the row is taken, renewed or left alone, and the answer says which. MariaDB has
//! neither a conditional upsert nor `RETURNING` on one: there the row is read under its
//! lock and written in one transaction (see `acquire_on_mariadb`).

use super::registry::{begin_write, finish, get};
use super::statement;
use super::{BACKEND, ThisStore};
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
        if BACKEND == "mysql" {
            return acquire_on_mariadb(self, name, holder, now_ms, ttl_ms).await;
        }
        let row = statement(
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
        let done = statement("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(self.write_pool())
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn lease_holder(&self, name: &str) -> StoreResult<Option<(String, Millis)>> {
        let row = statement("SELECT holder, expires_at_ms FROM leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.map(|row| Ok((get(&row, "holder")?, get(&row, "expires_at_ms")?)))
            .transpose()
    }
}

/// [`LeaseStore::acquire_lease`] on MariaDB: the row read under its lock, the decision
/// made here, the row written. Two nodes racing for a missing row both try to insert it;
/// the loser's duplicate key means someone else took it. (An `ON DUPLICATE KEY UPDATE`
/// that reads columns it assigns depends on MariaDB's assignment order, which does not
/// hold for TEXT columns.)
async fn acquire_on_mariadb(
    store: &ThisStore,
    name: &str,
    holder: &str,
    now_ms: Millis,
    ttl_ms: Millis,
) -> StoreResult<Option<Millis>> {
    let expires_at_ms = now_ms.saturating_add(ttl_ms.max(0));
    let mut tx = begin_write(store).await?;
    let result = async {
        let row = statement(
            "SELECT holder, expires_at_ms, acquired_at_ms FROM leases WHERE name = $1 FOR UPDATE",
        )
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            let inserted = statement(
                "INSERT INTO leases (name, holder, expires_at_ms, acquired_at_ms) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(name)
            .bind(holder)
            .bind(expires_at_ms)
            .bind(now_ms)
            .execute(&mut *tx)
            .await;
            return match inserted {
                Ok(_) => Ok(Some(expires_at_ms)),
                Err(sqlx::Error::Database(error))
                    if error.kind() == sqlx::error::ErrorKind::UniqueViolation =>
                {
                    Ok(None)
                }
                Err(error) => Err(backend(error)),
            };
        };
        let current: String = get(&row, "holder")?;
        let current_expiry: Millis = get(&row, "expires_at_ms")?;
        if current != holder && current_expiry > now_ms {
            return Ok(None);
        }
        let acquired_at_ms: Millis = if current == holder {
            get(&row, "acquired_at_ms")?
        } else {
            now_ms
        };
        statement(
            "UPDATE leases SET holder = $1, expires_at_ms = $2, acquired_at_ms = $3 \
             WHERE name = $4",
        )
        .bind(holder)
        .bind(expires_at_ms)
        .bind(acquired_at_ms)
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        Ok(Some(expires_at_ms))
    }
    .await;
    finish(tx, result).await
}
