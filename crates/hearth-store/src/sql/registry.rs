//! Groups, users, memberships, applications, grants and credentials, plus the [`Store`]
//! methods: one copy of each query for both backends.
//!
//! Not a module of `sql`: `sqlite/mod.rs` and `postgres/mod.rs` each include this file
//! with `#[path]` after defining `Db`, `ThisStore` and the backend's constants (see
//! `sql/mod.rs` for why). Everything here therefore compiles once per backend against a
//! concrete `sqlx::Sqlite` or `sqlx::Postgres`.

use super::audit::write_audit;
use super::{BACKEND, BEGIN_SNAPSHOT, BEGIN_WRITE, Db, ThisStore};
use crate::registry::{AdminCredential, AppCredential, Credentials, DeviceCredential};
use crate::sql::{backend, map_err};
use crate::{AppStore, CredentialStore, GroupStore, Store, StoreError, StoreResult, UserStore};
use async_trait::async_trait;
use hearth_model::{
    AppId, Application, DeviceId, Grant, Group, GroupId, Membership, NewAuditEntry, User, UserName,
};
use sqlx::{Database, Row};

/// A row of this backend.
pub(super) type DbRow = <Db as Database>::Row;
/// A connection of this backend (what a transaction derefs to).
pub(super) type DbConn = <Db as Database>::Connection;
/// A write transaction of this backend.
pub(super) type DbTx = sqlx::Transaction<'static, Db>;

/// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite, so that a transaction that
/// reads before it writes waits for the write lock up front instead of failing with
/// `SQLITE_BUSY` when it upgrades).
pub(super) async fn begin_write(store: &ThisStore) -> StoreResult<DbTx> {
    store.pool.begin_with(BEGIN_WRITE).await.map_err(backend)
}

/// Commits `tx` if `result` is a success, rolls it back otherwise. Always end a
/// transaction through here: a dropped `Transaction` only queues its ROLLBACK for the
/// connection's next use, so the connection would sit in the pool "idle in transaction",
/// holding its locks (on PostgreSQL that blocks DDL, migrations and other writers).
pub(super) async fn finish<T>(tx: DbTx, result: StoreResult<T>) -> StoreResult<T> {
    match result {
        Ok(value) => {
            tx.commit().await.map_err(backend)?;
            Ok(value)
        }
        Err(error) => {
            // The error that matters is the first one; a failed rollback closes the
            // connection anyway.
            let _ = tx.rollback().await;
            Err(error)
        }
    }
}

/// One column of a row, with sqlx's error hidden.
pub(super) fn get<'r, T>(row: &'r DbRow, column: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Db> + sqlx::Type<Db>,
{
    row.try_get(column).map_err(backend)
}

/// A stored id back to its type; an invalid one is corruption (written by hand?).
pub(super) fn id<T, E: std::fmt::Display>(
    row: &DbRow,
    column: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> StoreResult<T> {
    let text: String = get(row, column)?;
    parse(&text).map_err(backend)
}

/// Whether `sql` (a `SELECT 1 ... WHERE key = $1`) finds a row.
pub(super) async fn exists(conn: &mut DbConn, sql: &'static str, key: &str) -> StoreResult<bool> {
    let row = sqlx::query(sql)
        .bind(key)
        .fetch_optional(conn)
        .await
        .map_err(backend)?;
    Ok(row.is_some())
}

/// `NotFound` unless `sql` finds `key`.
pub(super) async fn require(
    conn: &mut DbConn,
    sql: &'static str,
    what: &'static str,
    key: &str,
) -> StoreResult<()> {
    if exists(conn, sql, key).await? {
        Ok(())
    } else {
        Err(StoreError::not_found(what, key))
    }
}

/// The rows of `select` (its one parameter bound to `key`), after checking with
/// `exists` that the parent `key` names is there: listing the members of a group that
/// does not exist is `NotFound`, not an empty list.
async fn children<T>(
    store: &ThisStore,
    (exists, what): (&'static str, &'static str),
    key: &str,
    select: &'static str,
    from_row: fn(&DbRow) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut conn = store.pool.acquire().await.map_err(backend)?;
    require(&mut conn, exists, what, key).await?;
    let rows = sqlx::query(select)
        .bind(key)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?;
    rows.iter().map(from_row).collect()
}

pub(super) const GROUP_EXISTS: &str = "SELECT 1 FROM groups WHERE id = $1";
pub(super) const USER_EXISTS: &str = "SELECT 1 FROM users WHERE name = $1";
pub(super) const APP_EXISTS: &str = "SELECT 1 FROM applications WHERE id = $1";

fn group_from_row(row: &DbRow) -> StoreResult<Group> {
    Ok(Group {
        id: id(row, "id", GroupId::new)?,
        name: get(row, "name")?,
        created_at_ms: get(row, "created_at_ms")?,
    })
}

fn user_from_row(row: &DbRow) -> StoreResult<User> {
    Ok(User {
        name: id(row, "name", UserName::new)?,
        display_name: get(row, "display_name")?,
        email: get(row, "email")?,
        language: get(row, "language")?,
        is_admin: get(row, "is_admin")?,
        created_at_ms: get(row, "created_at_ms")?,
    })
}

fn membership_from_row(row: &DbRow) -> StoreResult<Membership> {
    Ok(Membership {
        group: id(row, "group_id", GroupId::new)?,
        user: id(row, "user_name", UserName::new)?,
        role: id(row, "role", str::parse)?,
    })
}

fn app_from_row(row: &DbRow) -> StoreResult<Application> {
    Ok(Application {
        id: id(row, "id", AppId::new)?,
        group: id(row, "group_id", GroupId::new)?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        mqtt_key: get(row, "mqtt_key")?,
        created_at_ms: get(row, "created_at_ms")?,
    })
}

fn grant_from_row(row: &DbRow) -> StoreResult<Grant> {
    Ok(Grant {
        application: id(row, "app_id", AppId::new)?,
        user: id(row, "user_name", UserName::new)?,
        permission: id(row, "permission", str::parse)?,
    })
}

/// Runs a one-key statement in `tx` and answers `NotFound` when it touched nothing.
async fn change_one(
    tx: &mut DbTx,
    sql: &'static str,
    what: &'static str,
    key: &str,
) -> StoreResult<()> {
    let done = sqlx::query(sql)
        .bind(key)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found(what, key));
    }
    Ok(())
}

#[async_trait]
impl GroupStore for ThisStore {
    async fn create_group(&self, group: &Group, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            sqlx::query("INSERT INTO groups (id, name, created_at_ms) VALUES ($1, $2, $3)")
                .bind(group.id.as_str())
                .bind(&group.name)
                .bind(group.created_at_ms)
                .execute(&mut *tx)
                .await
                .map_err(|error| map_err(error, Some(("group", group.id.as_str())), None))?;
            write_audit(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    async fn group(&self, id: &GroupId) -> StoreResult<Group> {
        let row = sqlx::query("SELECT id, name, created_at_ms FROM groups WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or_else(|| StoreError::not_found("group", id))?;
        group_from_row(&row)
    }

    async fn groups(&self) -> StoreResult<Vec<Group>> {
        let rows = sqlx::query("SELECT id, name, created_at_ms FROM groups ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(group_from_row).collect()
    }

    async fn delete_group(&self, id: &GroupId, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            require(&mut tx, GROUP_EXISTS, "group", id.as_str()).await?;
            let n_apps: i64 = get(
                &sqlx::query("SELECT COUNT(*) AS n FROM applications WHERE group_id = $1")
                    .bind(id.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?,
                "n",
            )?;
            if n_apps > 0 {
                return Err(StoreError::Refused(format!(
                    "group {id:?} still has {n_apps} application(s): delete them first"
                )));
            }
            change_one(
                &mut tx,
                "DELETE FROM groups WHERE id = $1",
                "group",
                id.as_str(),
            )
            .await?;
            write_audit(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    async fn set_member(&self, membership: &Membership, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            require(&mut tx, GROUP_EXISTS, "group", membership.group.as_str()).await?;
            require(&mut tx, USER_EXISTS, "user", membership.user.as_str()).await?;
            sqlx::query(
                "INSERT INTO memberships (group_id, user_name, role) VALUES ($1, $2, $3) \
             ON CONFLICT (group_id, user_name) DO UPDATE SET role = excluded.role",
            )
            .bind(membership.group.as_str())
            .bind(membership.user.as_str())
            .bind(membership.role.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            write_audit(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    async fn remove_member(
        &self,
        group: &GroupId,
        user: &UserName,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            let done =
                sqlx::query("DELETE FROM memberships WHERE group_id = $1 AND user_name = $2")
                    .bind(group.as_str())
                    .bind(user.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found(
                    "membership",
                    format!("{group}/{user}"),
                ));
            }
            write_audit(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    async fn members(&self, group: &GroupId) -> StoreResult<Vec<Membership>> {
        children(
            self,
            (GROUP_EXISTS, "group"),
            group.as_str(),
            "SELECT group_id, user_name, role FROM memberships WHERE group_id = $1 ORDER BY user_name",
            membership_from_row,
        )
        .await
    }

    async fn memberships_of(&self, user: &UserName) -> StoreResult<Vec<Membership>> {
        children(
            self,
            (USER_EXISTS, "user"),
            user.as_str(),
            "SELECT group_id, user_name, role FROM memberships WHERE user_name = $1 ORDER BY group_id",
            membership_from_row,
        )
        .await
    }
}

#[async_trait]
impl UserStore for ThisStore {
    async fn create_user(
        &self,
        user: &User,
        password_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            sqlx::query(
                "INSERT INTO users \
             (name, display_name, email, language, is_admin, password_hash, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(user.name.as_str())
            .bind(&user.display_name)
            .bind(user.email.as_deref())
            .bind(&user.language)
            .bind(user.is_admin)
            .bind(password_hash)
            .bind(user.created_at_ms)
            .execute(&mut *tx)
            .await
            .map_err(|error| map_err(error, Some(("user", user.name.as_str())), None))?;
            write_audit(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    async fn user(&self, name: &UserName) -> StoreResult<User> {
        let row = sqlx::query(
            "SELECT name, display_name, email, language, is_admin, created_at_ms \
             FROM users WHERE name = $1",
        )
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::not_found("user", name))?;
        user_from_row(&row)
    }

    async fn users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(
            "SELECT name, display_name, email, language, is_admin, created_at_ms \
             FROM users ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn user_count(&self) -> StoreResult<u64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(get::<i64>(&row, "n")? as u64)
    }

    async fn update_user(&self, user: &User, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            let done = sqlx::query(
                "UPDATE users SET display_name = $2, email = $3, language = $4, is_admin = $5 \
             WHERE name = $1",
            )
            .bind(user.name.as_str())
            .bind(&user.display_name)
            .bind(user.email.as_deref())
            .bind(&user.language)
            .bind(user.is_admin)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("user", &user.name));
            }
            write_audit(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    async fn password_hash(&self, name: &UserName) -> StoreResult<String> {
        let row = sqlx::query("SELECT password_hash FROM users WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or_else(|| StoreError::not_found("user", name))?;
        get(&row, "password_hash")
    }

    async fn set_password_hash(
        &self,
        name: &UserName,
        password_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            let done = sqlx::query("UPDATE users SET password_hash = $2 WHERE name = $1")
                .bind(name.as_str())
                .bind(password_hash)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("user", name));
            }
            write_audit(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    async fn delete_user(&self, name: &UserName, audit: &NewAuditEntry) -> StoreResult<()> {
        // Memberships and grants go with the user (ON DELETE CASCADE).
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            change_one(
                &mut tx,
                "DELETE FROM users WHERE name = $1",
                "user",
                name.as_str(),
            )
            .await?;
            write_audit(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }
}

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
            sqlx::query(
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
            write_audit(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, result).await
    }

    async fn app(&self, id: &AppId) -> StoreResult<Application> {
        let row = sqlx::query(
            "SELECT id, group_id, name, description, mqtt_key, created_at_ms \
             FROM applications WHERE id = $1",
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
                sqlx::query(
                    "SELECT id, group_id, name, description, mqtt_key, created_at_ms \
                     FROM applications WHERE group_id = $1 ORDER BY id",
                )
                .bind(group.as_str())
                .fetch_all(&mut *conn)
                .await
            }
            None => {
                sqlx::query(
                    "SELECT id, group_id, name, description, mqtt_key, created_at_ms \
                     FROM applications ORDER BY id",
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
                &sqlx::query("SELECT COUNT(*) AS n FROM devices WHERE app_id = $1")
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
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            let done = sqlx::query("UPDATE applications SET secret_hash = $2 WHERE id = $1")
                .bind(id.as_str())
                .bind(secret_hash)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("application", id));
            }
            write_audit(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, result).await
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
            sqlx::query(
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
            let done = sqlx::query("DELETE FROM grants WHERE app_id = $1 AND user_name = $2")
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
}

async fn read_credentials(tx: &mut DbTx) -> StoreResult<Credentials> {
    {
        let device_rows =
            sqlx::query("SELECT id, app_id, enabled, secret_hash FROM devices ORDER BY id")
                .fetch_all(&mut **tx)
                .await
                .map_err(backend)?;
        let app_rows =
            sqlx::query("SELECT id, mqtt_key, secret_hash FROM applications ORDER BY id")
                .fetch_all(&mut **tx)
                .await
                .map_err(backend)?;
        let admin_rows =
            sqlx::query("SELECT name, password_hash FROM users WHERE is_admin = $1 ORDER BY name")
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

#[async_trait]
impl Store for ThisStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
