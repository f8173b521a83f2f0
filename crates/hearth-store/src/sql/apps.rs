//! Applications, grants and the authorizer's credentials: one copy of each query for
//! both backends (included with `#[path]`, see `sql/mod.rs`), split from `registry.rs`
//! to keep files small; the row helpers live there.

use super::audit::write_audit;
use super::registry::*;
use super::statement;
use super::{BEGIN_SNAPSHOT, ThisStore};
use crate::registry::{
    AdminCredential, AppCredential, Credentials, DeviceCredential, SecretOwner, SecretRehash,
};
use crate::sql::{backend, map_err};
use crate::{AppStore, CredentialStore, StoreError, StoreResult};
use async_trait::async_trait;
use hearth_model::{AppId, Application, DeviceId, Grant, GroupId, NewAuditEntry, UserName};

#[async_trait]
impl AppStore for ThisStore {
    async fn create_app(
        &self,
        app: &Application,
        secret_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            require(&mut tx, GROUP_EXISTS, "group", app.group.as_str()).await?;
            if exists(&mut tx, APP_EXISTS, app.id.as_str()).await? {
                return Err(StoreError::conflict("application", &app.id));
            }
            let key_taken = "SELECT 1 FROM applications WHERE mqtt_key = $1";
            if exists(&mut tx, key_taken, &app.mqtt_key).await? {
                return Err(StoreError::conflict("mqtt key", &app.mqtt_key));
            }
            statement(
                "INSERT INTO applications \
             (id, group_id, name, description, mqtt_key, secret_hash, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(app.id.as_str())
            .bind(app.group.as_str())
            .bind(&app.name)
            .bind(&app.description)
            .bind(&app.mqtt_key)
            .bind(secret_hash)
            .bind(app.created_at_ms)
            .execute(&mut *tx)
            .await
            .map_err(|error| {
                map_err(
                    error,
                    Some(("application", app.id.as_str())),
                    Some(("group", app.group.as_str())),
                )
            })?;
            // Only when set, in the same transaction: an application with the hub's
            // default retention is the same row an older schema (before migration
            // 0015) holds, which the migration tests seed through this method.
            if let Some(days) = app.message_retention_days {
                statement("UPDATE applications SET message_retention_days = $2 WHERE id = $1")
                    .bind(app.id.as_str())
                    .bind(i64::from(days))
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
            write_audit(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    async fn app(&self, id: &AppId) -> StoreResult<Application> {
        let row = statement(
            "SELECT id, group_id, name, description, mqtt_key, created_at_ms, discovery, \
             message_retention_days FROM applications WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::not_found("application", id))?;
        app_from_row(&row)
    }

    async fn apps(&self, group: Option<&GroupId>) -> StoreResult<Vec<Application>> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        let rows = match group {
            Some(group) => {
                require(&mut conn, GROUP_EXISTS, "group", group.as_str()).await?;
                statement(
                    "SELECT id, group_id, name, description, mqtt_key, created_at_ms, \
                     discovery, message_retention_days FROM applications WHERE group_id = $1 ORDER BY id",
                )
                .bind(group.as_str())
                .fetch_all(&mut *conn)
                .await
            }
            None => {
                statement(
                    "SELECT id, group_id, name, description, mqtt_key, created_at_ms, \
                     discovery, message_retention_days FROM applications ORDER BY id",
                )
                .fetch_all(&mut *conn)
                .await
            }
        }
        .map_err(backend)?;
        rows.iter().map(app_from_row).collect()
    }

    async fn delete_app(&self, id: &AppId, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            require(&mut tx, APP_EXISTS, "application", id.as_str()).await?;
            let n_devices: i64 = get(
                &statement("SELECT COUNT(*) AS n FROM devices WHERE app_id = $1")
                    .bind(id.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?,
                "n",
            )?;
            if n_devices > 0 {
                return Err(StoreError::Refused(format!(
                    "application {id:?} still has {n_devices} device(s): delete them first"
                )));
            }
            // Grants go with the application (ON DELETE CASCADE).
            let delete = "DELETE FROM applications WHERE id = $1";
            change_one(&mut tx, delete, "application", id.as_str()).await?;
            write_audit(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    async fn set_app_secret(
        &self,
        id: &AppId,
        secret_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        set_one(
            self,
            "UPDATE applications SET secret_hash = $2 WHERE id = $1",
            ("application", id.as_str()),
            secret_hash,
            audit,
        )
        .await
    }

    async fn set_app_message_retention(
        &self,
        id: &AppId,
        days: Option<u32>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        set_one(
            self,
            "UPDATE applications SET message_retention_days = $2 WHERE id = $1",
            ("application", id.as_str()),
            days.map(i64::from),
            audit,
        )
        .await
    }

    async fn set_grant(&self, grant: &Grant, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            require(
                &mut tx,
                APP_EXISTS,
                "application",
                grant.application.as_str(),
            )
            .await?;
            require(&mut tx, USER_EXISTS, "user", grant.user.as_str()).await?;
            statement(
                "INSERT INTO grants (app_id, user_name, permission) VALUES ($1, $2, $3) \
             ON CONFLICT (app_id, user_name) DO UPDATE SET permission = excluded.permission",
            )
            .bind(grant.application.as_str())
            .bind(grant.user.as_str())
            .bind(grant.permission.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            write_audit(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    async fn remove_grant(
        &self,
        app: &AppId,
        user: &UserName,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            let done = statement("DELETE FROM grants WHERE app_id = $1 AND user_name = $2")
                .bind(app.as_str())
                .bind(user.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("grant", format!("{app}/{user}")));
            }
            write_audit(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    async fn grants(&self, app: &AppId) -> StoreResult<Vec<Grant>> {
        children(
            self,
            (APP_EXISTS, "application"),
            app.as_str(),
            "SELECT app_id, user_name, permission FROM grants WHERE app_id = $1 ORDER BY user_name",
            grant_from_row,
        )
        .await
    }

    async fn grants_of(&self, user: &UserName) -> StoreResult<Vec<Grant>> {
        children(
            self,
            (USER_EXISTS, "user"),
            user.as_str(),
            "SELECT app_id, user_name, permission FROM grants WHERE user_name = $1 ORDER BY app_id",
            grant_from_row,
        )
        .await
    }
}

#[async_trait]
impl CredentialStore for ThisStore {
    async fn credentials(&self) -> StoreResult<Credentials> {
        // One snapshot, so that the three lists agree with each other.
        let mut tx = self
            .pool
            .begin_with(BEGIN_SNAPSHOT)
            .await
            .map_err(backend)?;
        let result = read_credentials(&mut tx).await;
        finish(tx, result).await
    }

    async fn rehash_secrets(&self, rehashes: &[SecretRehash]) -> StoreResult<Vec<bool>> {
        if rehashes.is_empty() {
            return Ok(Vec::new());
        }
        // One transaction (one commit, one fsync) for the whole batch, and no audit
        // entry: see the trait's docs.
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            let mut replaced = Vec::with_capacity(rehashes.len());
            for rehash in rehashes {
                let (sql, id) = match &rehash.owner {
                    SecretOwner::Device(id) => (
                        "UPDATE devices SET secret_hash = $3 WHERE id = $1 AND secret_hash = $2",
                        id.as_str(),
                    ),
                    SecretOwner::App(id) => (
                        "UPDATE applications SET secret_hash = $3 \
                         WHERE id = $1 AND secret_hash = $2",
                        id.as_str(),
                    ),
                };
                let done = statement(sql)
                    .bind(id)
                    .bind(&rehash.old_hash)
                    .bind(&rehash.new_hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                replaced.push(done.rows_affected() == 1);
            }
            Ok(replaced)
        }
        .await;
        finish(tx, result).await
    }
}

async fn read_credentials(tx: &mut DbTx) -> StoreResult<Credentials> {
    {
        let device_rows = statement(
            "SELECT id, app_id, enabled, secret_hash, cert_sha256 FROM devices ORDER BY id",
        )
        .fetch_all(&mut **tx)
        .await
        .map_err(backend)?;
        let app_rows = statement("SELECT id, mqtt_key, secret_hash FROM applications ORDER BY id")
            .fetch_all(&mut **tx)
            .await
            .map_err(backend)?;
        let admin_rows =
            statement("SELECT name, password_hash FROM users WHERE is_admin = $1 ORDER BY name")
                .bind(true)
                .fetch_all(&mut **tx)
                .await
                .map_err(backend)?;
        Ok(Credentials {
            devices: device_rows
                .iter()
                .map(|row| {
                    Ok(DeviceCredential {
                        id: id(row, "id", DeviceId::new)?,
                        application: id(row, "app_id", AppId::new)?,
                        enabled: get(row, "enabled")?,
                        secret_hash: get(row, "secret_hash")?,
                        cert_sha256: get(row, "cert_sha256")?,
                    })
                })
                .collect::<StoreResult<_>>()?,
            apps: app_rows
                .iter()
                .map(|row| {
                    Ok(AppCredential {
                        id: id(row, "id", AppId::new)?,
                        mqtt_key: get(row, "mqtt_key")?,
                        secret_hash: get(row, "secret_hash")?,
                    })
                })
                .collect::<StoreResult<_>>()?,
            admins: admin_rows
                .iter()
                .map(|row| {
                    Ok(AdminCredential {
                        name: id(row, "name", UserName::new)?,
                        password_hash: get(row, "password_hash")?,
                    })
                })
                .collect::<StoreResult<_>>()?,
        })
    }
}
