//! Groups, users, memberships, applications, grants and credentials, plus the [`Store`]
//! methods: one copy of each query for both backends.
//!
//! Not a module of `sql`: `sqlite/mod.rs` and `postgres/mod.rs` each include this file
//! with `#[path]` after defining `Db`, `ThisStore` and the backend's constants (see
//! `sql/mod.rs` for why). Everything here therefore compiles once per backend against a
//! concrete `sqlx::Sqlite` or `sqlx::Postgres`.

use super::audit::write_audit;
use super::statement;
use super::{BACKEND, BEGIN_WRITE, Db, ThisStore};
use crate::sql::{backend, map_err};
use crate::{GroupStore, Store, StoreError, StoreResult, UserStore};
use async_trait::async_trait;
use hearth_model::{
    AppId, Application, Grant, Group, GroupId, Membership, NewAuditEntry, User, UserName,
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
    store
        .write_pool()
        .begin_with(BEGIN_WRITE)
        .await
        .map_err(backend)
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
    let row = statement(sql)
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
pub(super) async fn children<T>(
    store: &ThisStore,
    (exists, what): (&'static str, &'static str),
    key: &str,
    select: &'static str,
    from_row: fn(&DbRow) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut conn = store.pool.acquire().await.map_err(backend)?;
    require(&mut conn, exists, what, key).await?;
    let rows = statement(select)
        .bind(key)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?;
    rows.iter().map(from_row).collect()
}

pub(super) const GROUP_EXISTS: &str = "SELECT 1 FROM groups WHERE id = $1";
pub(super) const USER_EXISTS: &str = "SELECT 1 FROM users WHERE name = $1";
pub(super) const APP_EXISTS: &str = "SELECT 1 FROM applications WHERE id = $1";

pub(super) fn group_from_row(row: &DbRow) -> StoreResult<Group> {
    Ok(Group {
        id: id(row, "id", GroupId::new)?,
        name: get(row, "name")?,
        created_at_ms: get(row, "created_at_ms")?,
    })
}

pub(super) fn user_from_row(row: &DbRow) -> StoreResult<User> {
    Ok(User {
        name: id(row, "name", UserName::new)?,
        display_name: get(row, "display_name")?,
        email: get(row, "email")?,
        language: get(row, "language")?,
        is_admin: get(row, "is_admin")?,
        created_at_ms: get(row, "created_at_ms")?,
    })
}

pub(super) fn membership_from_row(row: &DbRow) -> StoreResult<Membership> {
    Ok(Membership {
        group: id(row, "group_id", GroupId::new)?,
        user: id(row, "user_name", UserName::new)?,
        role: id(row, "role", str::parse)?,
    })
}

pub(super) fn app_from_row(row: &DbRow) -> StoreResult<Application> {
    Ok(Application {
        id: id(row, "id", AppId::new)?,
        group: id(row, "group_id", GroupId::new)?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        mqtt_key: get(row, "mqtt_key")?,
        created_at_ms: get(row, "created_at_ms")?,
        discovery: get(row, "discovery")?,
        message_retention_days: get::<Option<i64>>(row, "message_retention_days")?
            .map(u32::try_from)
            .transpose()
            .map_err(|error| backend(format!("stored message retention: {error}")))?,
    })
}

pub(super) fn grant_from_row(row: &DbRow) -> StoreResult<Grant> {
    Ok(Grant {
        application: id(row, "app_id", AppId::new)?,
        user: id(row, "user_name", UserName::new)?,
        permission: id(row, "permission", str::parse)?,
    })
}

/// Runs a one-key statement in `tx` and answers `NotFound` when it touched nothing.
pub(super) async fn change_one(
    tx: &mut DbTx,
    sql: &'static str,
    what: &'static str,
    key: &str,
) -> StoreResult<()> {
    let done = statement(sql)
        .bind(key)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found(what, key));
    }
    Ok(())
}

/// Sets one column of one row (`sql` binds the key as `$1` and `value` as `$2`) and
/// writes the audit entry, in one transaction; `NotFound` when no row has the key.
pub(super) async fn set_one<V>(
    store: &ThisStore,
    sql: &'static str,
    (what, key): (&'static str, &str),
    value: V,
    audit: &NewAuditEntry,
) -> StoreResult<()>
where
    V: for<'q> sqlx::Encode<'q, Db> + sqlx::Type<Db> + Clone + Send + Sync,
{
    let mut tx = begin_write(store).await?;
    let result: StoreResult<_> = async {
        let done = statement(sql)
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(what, key));
        }
        write_audit(&mut tx, audit).await
    }
    .await;
    finish(tx, result).await
}

#[async_trait]
impl GroupStore for ThisStore {
    async fn create_group(&self, group: &Group, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            statement("INSERT INTO groups (id, name, created_at_ms) VALUES ($1, $2, $3)")
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
        let row = statement("SELECT id, name, created_at_ms FROM groups WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or_else(|| StoreError::not_found("group", id))?;
        group_from_row(&row)
    }

    async fn groups(&self) -> StoreResult<Vec<Group>> {
        let rows = statement("SELECT id, name, created_at_ms FROM groups ORDER BY id")
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
                &statement("SELECT COUNT(*) AS n FROM applications WHERE group_id = $1")
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
            let n_sites: i64 = get(
                &statement("SELECT COUNT(*) AS n FROM sites WHERE group_id = $1")
                    .bind(id.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?,
                "n",
            )?;
            if n_sites > 0 {
                return Err(StoreError::Refused(format!(
                    "group {id:?} still has {n_sites} site(s): delete them first"
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
            statement(
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
            let done = statement("DELETE FROM memberships WHERE group_id = $1 AND user_name = $2")
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
            statement(
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
        let row = statement(
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
        let rows = statement(
            "SELECT name, display_name, email, language, is_admin, created_at_ms \
             FROM users ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn user_count(&self) -> StoreResult<u64> {
        let row = statement("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(get::<i64>(&row, "n")? as u64)
    }

    async fn update_user(&self, user: &User, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            let done = statement(
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
        let row = statement("SELECT password_hash FROM users WHERE name = $1")
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
        set_one(
            self,
            "UPDATE users SET password_hash = $2 WHERE name = $1",
            ("user", name.as_str()),
            password_hash,
            audit,
        )
        .await
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
impl Store for ThisStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn ping(&self) -> StoreResult<()> {
        statement("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn close(&self) {
        self.write_pool().close().await;
        self.pool.close().await;
    }
}
