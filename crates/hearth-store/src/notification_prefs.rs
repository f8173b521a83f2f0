//! People's notification preferences and Web Push subscriptions (issue 15).

use crate::StoreResult;
use async_trait::async_trait;
use hearth_model::{NotificationPrefs, PushSubscription, UserName};

/// Preferences and push subscriptions, one person's at a time. They are a person's own
/// settings, not the registry: changes are not audited and do not move the audit
/// sequence. Both go with the person (deleting a user deletes them).
#[async_trait]
pub trait PreferenceStore: Send + Sync {
    /// The person's preferences, the defaults if they set none; `NotFound` for an
    /// unknown user.
    async fn notification_prefs(&self, user: &UserName) -> StoreResult<NotificationPrefs>;
    /// Replaces the person's preferences; `NotFound` for an unknown user.
    async fn set_notification_prefs(
        &self,
        user: &UserName,
        prefs: &NotificationPrefs,
    ) -> StoreResult<()>;
    /// Stores a subscription, or renews the keys of the same person's subscription with
    /// this endpoint; `NotFound` for an unknown user, `Conflict` when another person
    /// holds the endpoint.
    async fn put_push_subscription(&self, subscription: &PushSubscription) -> StoreResult<()>;
    /// A person's subscriptions, oldest first.
    async fn push_subscriptions(&self, user: &UserName) -> StoreResult<Vec<PushSubscription>>;
    /// Deletes the subscription with this endpoint (only if it is `user`'s, when given);
    /// `NotFound` when there is none.
    async fn delete_push_subscription(
        &self,
        endpoint: &str,
        user: Option<&UserName>,
    ) -> StoreResult<()>;
}
