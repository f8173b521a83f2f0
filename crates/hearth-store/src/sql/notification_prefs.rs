//! Notification preferences and push subscriptions: one copy of each query for both
//! backends (included with `#[path]`, see `sql/mod.rs`).

use super::ThisStore;
use super::registry::{DbRow, USER_EXISTS, get, id, require};
use super::{scalar, statement};
use crate::notification_prefs::PreferenceStore;
use crate::sql::{backend, map_err};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use hearth_model::{NotificationPrefs, PushSubscription, UserName};

fn subscription_from_row(row: &DbRow) -> StoreResult<PushSubscription> {
    Ok(PushSubscription {
        id: get(row, "id")?,
        user: id(row, "user_name", UserName::new)?,
        endpoint: get(row, "endpoint")?,
        p256dh: get(row, "p256dh")?,
        auth: get(row, "auth")?,
        created_at_ms: get(row, "created_at_ms")?,
    })
}

#[async_trait]
impl PreferenceStore for ThisStore {
    async fn notification_prefs(&self, user: &UserName) -> StoreResult<NotificationPrefs> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        require(&mut conn, USER_EXISTS, "user", user.as_str()).await?;
        let row = statement("SELECT document FROM notification_prefs WHERE user_name = $1")
            .bind(user.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
        match row {
            Some(row) => serde_json::from_str(&get::<String>(&row, "document")?)
                .map_err(|error| backend(format!("stored preferences: {error}"))),
            None => Ok(NotificationPrefs::default()),
        }
    }

    async fn set_notification_prefs(
        &self,
        user: &UserName,
        prefs: &NotificationPrefs,
    ) -> StoreResult<()> {
        let document = serde_json::to_string(prefs).map_err(backend)?;
        statement(
            "INSERT INTO notification_prefs (user_name, document) VALUES ($1, $2) \
             ON CONFLICT (user_name) DO UPDATE SET document = excluded.document",
        )
        .bind(user.as_str())
        .bind(document)
        .execute(&self.pool)
        .await
        .map_err(|error| map_err(error, None, Some(("user", user.as_str()))))?;
        Ok(())
    }

    async fn put_push_subscription(&self, subscription: &PushSubscription) -> StoreResult<()> {
        // The update applies only to the same person's row: another person's endpoint
        // is left alone and reported as taken. Looked up first as well: MariaDB's
        // upsert reports a row left alone as affected, so the count below cannot say.
        let owner: Option<String> =
            scalar("SELECT user_name FROM push_subscriptions WHERE endpoint = $1")
                .bind(&subscription.endpoint)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        if owner.is_some_and(|owner| owner != subscription.user.as_str()) {
            return Err(StoreError::conflict(
                "push subscription",
                &subscription.endpoint,
            ));
        }
        let done = statement(
            "INSERT INTO push_subscriptions (id, user_name, endpoint, p256dh, auth, \
             created_at_ms) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (endpoint) DO UPDATE SET p256dh = excluded.p256dh, \
             auth = excluded.auth WHERE push_subscriptions.user_name = excluded.user_name",
        )
        .bind(&subscription.id)
        .bind(subscription.user.as_str())
        .bind(&subscription.endpoint)
        .bind(&subscription.p256dh)
        .bind(&subscription.auth)
        .bind(subscription.created_at_ms)
        .execute(&self.pool)
        .await
        .map_err(|error| {
            map_err(
                error,
                Some(("push subscription", subscription.endpoint.as_str())),
                Some(("user", subscription.user.as_str())),
            )
        })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::conflict(
                "push subscription",
                &subscription.endpoint,
            ));
        }
        Ok(())
    }

    async fn push_subscriptions(&self, user: &UserName) -> StoreResult<Vec<PushSubscription>> {
        let rows = statement(
            "SELECT id, user_name, endpoint, p256dh, auth, created_at_ms \
             FROM push_subscriptions WHERE user_name = $1 ORDER BY created_at_ms, id",
        )
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(subscription_from_row).collect()
    }

    async fn delete_push_subscription(
        &self,
        endpoint: &str,
        user: Option<&UserName>,
    ) -> StoreResult<()> {
        let done = statement(
            "DELETE FROM push_subscriptions WHERE endpoint = $1 \
             AND ($2 IS NULL OR user_name = $2)",
        )
        .bind(endpoint)
        .bind(user.map(UserName::as_str))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("push subscription", endpoint));
        }
        Ok(())
    }
}
