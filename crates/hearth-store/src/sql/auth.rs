//! Login sessions and personal API tokens: one copy of each query for both backends
//! (included with `#[path]`, see `sql/mod.rs`).

use super::ThisStore;
use super::audit::write_audit;
use super::registry::{DbRow, USER_EXISTS, begin_write, finish, get, id, require};
use super::statement;
use crate::auth::{ApiToken, AuthStore, Session};
use crate::sql::{backend, map_err};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use hearth_model::{Millis, NewAuditEntry, UserName};

fn session_from_row(row: &DbRow) -> StoreResult<Session> {
    Ok(Session {
        id_hash: get(row, "id_hash")?,
        user: id(row, "user_name", UserName::new)?,
        created_at_ms: get(row, "created_at_ms")?,
        expires_at_ms: get(row, "expires_at_ms")?,
        last_seen_ms: get(row, "last_seen_ms")?,
    })
}

fn token_from_row(row: &DbRow) -> StoreResult<ApiToken> {
    Ok(ApiToken {
        id: get(row, "id")?,
        user: id(row, "user_name", UserName::new)?,
        name: get(row, "name")?,
        created_at_ms: get(row, "created_at_ms")?,
        expires_at_ms: get(row, "expires_at_ms")?,
        last_used_ms: get(row, "last_used_ms")?,
    })
}

/// The columns an [`ApiToken`] is read from (never the token's hash).
macro_rules! token_columns {
    () => {
        "id, user_name, name, created_at_ms, expires_at_ms, last_used_ms"
    };
}

#[async_trait]
impl AuthStore for ThisStore {
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        statement(
            "INSERT INTO sessions (id_hash, user_name, created_at_ms, expires_at_ms, last_seen_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&session.id_hash)
        .bind(session.user.as_str())
        .bind(session.created_at_ms)
        .bind(session.expires_at_ms)
        .bind(session.last_seen_ms)
        .execute(&self.pool)
        .await
        .map_err(|error| {
            map_err(
                error,
                Some(("session", "(new)")),
                Some(("user", session.user.as_str())),
            )
        })?;
        Ok(())
    }

    async fn session(&self, id_hash: &str, now_ms: Millis) -> StoreResult<Session> {
        let row = statement(
            "SELECT id_hash, user_name, created_at_ms, expires_at_ms, last_seen_ms \
             FROM sessions WHERE id_hash = $1 AND expires_at_ms > $2",
        )
        .bind(id_hash)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::not_found("session", "(hidden)"))?;
        session_from_row(&row)
    }

    async fn touch_session(
        &self,
        id_hash: &str,
        now_ms: Millis,
        expires_at_ms: Millis,
    ) -> StoreResult<()> {
        statement("UPDATE sessions SET last_seen_ms = $1, expires_at_ms = $2 WHERE id_hash = $3")
            .bind(now_ms)
            .bind(expires_at_ms)
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        let done = statement("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("session", "(hidden)"));
        }
        Ok(())
    }

    async fn delete_sessions_of(
        &self,
        user: &UserName,
        except: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        // RETURNING: PostgreSQL, and SQLite since 3.35 (sqlx bundles a newer one).
        let rows = statement(
            "DELETE FROM sessions WHERE user_name = $1 AND id_hash <> $2 RETURNING id_hash",
        )
        .bind(user.as_str())
        .bind(except.unwrap_or(""))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(|row| get(row, "id_hash")).collect()
    }

    async fn prune_auth(&self, now_ms: Millis) -> StoreResult<u64> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<u64> = async {
            let sessions = statement("DELETE FROM sessions WHERE expires_at_ms <= $1")
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            let tokens = statement(
                "DELETE FROM api_tokens WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= $1",
            )
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            Ok(sessions.rows_affected() + tokens.rows_affected())
        }
        .await;
        finish(tx, result).await
    }

    async fn create_token(
        &self,
        token: &ApiToken,
        token_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<()> = async {
            require(&mut tx, USER_EXISTS, "user", token.user.as_str()).await?;
            statement(
                "INSERT INTO api_tokens \
                 (id, token_hash, user_name, name, created_at_ms, expires_at_ms, last_used_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL)",
            )
            .bind(&token.id)
            .bind(token_hash)
            .bind(token.user.as_str())
            .bind(&token.name)
            .bind(token.created_at_ms)
            .bind(token.expires_at_ms)
            .execute(&mut *tx)
            .await
            .map_err(|error| {
                map_err(
                    error,
                    Some(("token", token.id.as_str())),
                    Some(("user", token.user.as_str())),
                )
            })?;
            write_audit(&mut tx, audit).await
        }
        .await;
        finish(tx, result).await
    }

    async fn tokens_of(&self, user: &UserName) -> StoreResult<Vec<ApiToken>> {
        let rows = statement(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens WHERE user_name = $1 ORDER BY created_at_ms DESC, id"
        ))
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(token_from_row).collect()
    }

    async fn token_by_hash(&self, token_hash: &str, now_ms: Millis) -> StoreResult<ApiToken> {
        let row = statement(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens WHERE token_hash = $1 \
             AND (expires_at_ms IS NULL OR expires_at_ms > $2)"
        ))
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::not_found("token", "(hidden)"))?;
        token_from_row(&row)
    }

    async fn touch_token(&self, id: &str, now_ms: Millis) -> StoreResult<()> {
        statement("UPDATE api_tokens SET last_used_ms = $1 WHERE id = $2")
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_token(
        &self,
        user: &UserName,
        id: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<()> = async {
            let done = statement("DELETE FROM api_tokens WHERE id = $1 AND user_name = $2")
                .bind(id)
                .bind(user.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("token", id));
            }
            write_audit(&mut tx, audit).await
        }
        .await;
        finish(tx, result).await
    }
}
