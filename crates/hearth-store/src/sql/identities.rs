//! People's links to identity providers: one copy of each query for both backends
//! (included with `#[path]`, see `sql/mod.rs`).

use super::ThisStore;
use super::audit::write_audit;
use super::registry::{DbRow, USER_EXISTS, begin_write, finish, get, id, require};
use super::statement;
use crate::StoreResult;
use crate::identities::{IdentityStore, UserIdentity};
use crate::sql::{backend, map_err};
use async_trait::async_trait;
use hearth_model::{Millis, NewAuditEntry, UserName};

fn identity_from_row(row: &DbRow) -> StoreResult<UserIdentity> {
    Ok(UserIdentity {
        provider: get(row, "provider")?,
        subject: get(row, "subject")?,
        user: id(row, "user_name", UserName::new)?,
        email: get(row, "email")?,
        created_at_ms: get(row, "created_at_ms")?,
        last_used_ms: get(row, "last_used_ms")?,
    })
}

#[async_trait]
impl IdentityStore for ThisStore {
    async fn sign_in_identity(
        &self,
        provider: &str,
        subject: &str,
        now_ms: Millis,
        actor: &str,
    ) -> StoreResult<Option<UserName>> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<Option<UserName>> = async {
            // Two statements, not `UPDATE ... RETURNING` (MariaDB has none); the row is
            // locked by the UPDATE until the commit.
            statement(
                "UPDATE user_identities SET last_used_ms = $3 \
                 WHERE provider = $1 AND subject = $2",
            )
            .bind(provider)
            .bind(subject)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            let row = statement(
                "SELECT user_name FROM user_identities WHERE provider = $1 AND subject = $2",
            )
            .bind(provider)
            .bind(subject)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            let Some(row) = row else { return Ok(None) };
            let user = id(&row, "user_name", UserName::new)?;
            let audit = NewAuditEntry::new(actor, "user.sign_in", &user)
                .with_detail(serde_json::json!({ "provider": provider }));
            write_audit(&mut tx, &audit).await?;
            Ok(Some(user))
        }
        .await;
        finish(tx, result).await
    }

    async fn link_identity(
        &self,
        identity: &UserIdentity,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<()> = async {
            require(&mut tx, USER_EXISTS, "user", identity.user.as_str()).await?;
            statement(
                "INSERT INTO user_identities \
                 (provider, subject, user_name, email, created_at_ms, last_used_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&identity.provider)
            .bind(&identity.subject)
            .bind(identity.user.as_str())
            .bind(&identity.email)
            .bind(identity.created_at_ms)
            .bind(identity.last_used_ms)
            .execute(&mut *tx)
            .await
            .map_err(|error| {
                map_err(
                    error,
                    Some(("identity", identity.subject.as_str())),
                    Some(("user", identity.user.as_str())),
                )
            })?;
            write_audit(&mut tx, audit).await
        }
        .await;
        finish(tx, result).await
    }

    async fn identities_of(&self, user: &UserName) -> StoreResult<Vec<UserIdentity>> {
        let rows = statement(
            "SELECT provider, subject, user_name, email, created_at_ms, last_used_ms \
             FROM user_identities WHERE user_name = $1 \
             ORDER BY created_at_ms DESC, provider, subject",
        )
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(identity_from_row).collect()
    }

    async fn users_with_email(&self, email: &str) -> StoreResult<Vec<UserName>> {
        let rows = statement(
            "SELECT name FROM users WHERE email IS NOT NULL AND LOWER(email) = LOWER($1) \
             ORDER BY name",
        )
        .bind(email)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| id(row, "name", UserName::new))
            .collect()
    }
}
