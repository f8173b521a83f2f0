//! A person's own notification settings (issue 15): `/api/v1/profile/notifications`
//! (which channels for which severities, quiet hours, language) and Web Push:
//! `/api/v1/push/key` (the hub's VAPID public key, the web app's
//! `applicationServerKey`) and `/api/v1/push/subscriptions` (the browsers where the
//! caller enabled push). Everyone reads and changes only their own: no route takes a
//! user name, and a subscription of another person answers as if it did not exist.

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::routes::automations::object_schema;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use hearth_model::{NotificationPrefs, PushSubscription};
use hearth_services::notify::push::check_subscription;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Browsers one person may have push enabled on.
pub const MAX_SUBSCRIPTIONS_PER_PERSON: usize = 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_prefs, set_prefs))
        .routes(routes!(push_key))
        .routes(routes!(
            list_subscriptions,
            add_subscription,
            remove_subscription
        ))
}

/// The caller's notification preferences.
#[derive(Serialize)]
#[serde(transparent)]
pub struct PrefsView(pub NotificationPrefs);
object_schema!(
    PrefsView,
    "`email`, `push`, `in_app` (booleans, default true); `severities` {`email`, `push`, \
     `in_app`}: the lowest severity each channel carries (`critical`, `major`, `minor`, \
     `warning`; default major for e-mail, warning for the others); `quiet_hours` \
     {`start`, `end`} as HH:MM in the group's time zone (critical alerts ignore them); \
     `language` (`en` or `zh-CN`; unset: the account's)."
);

/// The caller's preferences (the defaults if they set none).
#[utoipa::path(get, path = "/profile/notifications", tag = "notifications",
    responses((status = 200, body = PrefsView), (status = 401, body = crate::error::ErrorBody)))]
async fn get_prefs(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<PrefsView>> {
    Ok(axum::Json(PrefsView(
        state.store.notification_prefs(&caller.user.name).await?,
    )))
}

/// Replaces the caller's preferences; 422 names a bad field (`quiet_hours.start`,
/// `language`).
#[utoipa::path(put, path = "/profile/notifications", tag = "notifications",
    request_body = PrefsView,
    responses((status = 200, body = PrefsView), (status = 400, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn set_prefs(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(prefs): ApiJson<NotificationPrefs>,
) -> ApiResult<axum::Json<PrefsView>> {
    prefs
        .check()
        .map_err(|error| ApiError::invalid(error.field, error.message))?;
    state
        .store
        .set_notification_prefs(&caller.user.name, &prefs)
        .await?;
    Ok(axum::Json(PrefsView(prefs)))
}

/// The hub's VAPID public key.
#[derive(Serialize, ToSchema)]
pub struct PushKey {
    /// The uncompressed P-256 point, base64url: `applicationServerKey` for
    /// `PushManager.subscribe()`.
    pub public_key: String,
}

/// The key browsers subscribe with; 503 when the hub does not send Web Push.
#[utoipa::path(get, path = "/push/key", tag = "notifications",
    responses((status = 200, body = PushKey), (status = 503, body = crate::error::ErrorBody)))]
async fn push_key(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<axum::Json<PushKey>> {
    match &state.push_key {
        Some(key) => Ok(axum::Json(PushKey {
            public_key: key.to_string(),
        })),
        None => Err(ApiError::unavailable("this hub does not send Web Push")),
    }
}

/// The browser's keys, as `PushSubscription.toJSON()` gives them.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionKeys {
    pub p256dh: String,
    pub auth: String,
}

/// What `PushSubscription.toJSON()` gives (`expirationTime` is ignored).
#[derive(Deserialize, ToSchema)]
pub struct NewSubscription {
    pub endpoint: String,
    pub keys: SubscriptionKeys,
}

/// A browser where the caller enabled push (its keys are not shown again).
#[derive(Serialize, ToSchema)]
pub struct SubscriptionView {
    pub id: String,
    pub endpoint: String,
    pub created_at_ms: i64,
}

impl From<PushSubscription> for SubscriptionView {
    fn from(subscription: PushSubscription) -> SubscriptionView {
        SubscriptionView {
            id: subscription.id,
            endpoint: subscription.endpoint,
            created_at_ms: subscription.created_at_ms,
        }
    }
}

/// Which subscription to remove.
#[derive(Deserialize, ToSchema)]
pub struct SubscriptionEndpoint {
    pub endpoint: String,
}

/// The caller's subscriptions, oldest first.
#[utoipa::path(get, path = "/push/subscriptions", tag = "notifications",
    responses((status = 200, body = Vec<SubscriptionView>)))]
async fn list_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<SubscriptionView>>> {
    let subscriptions = state.store.push_subscriptions(&caller.user.name).await?;
    Ok(axum::Json(
        subscriptions
            .into_iter()
            .map(SubscriptionView::from)
            .collect(),
    ))
}

/// Enables push on a browser for the caller (the same endpoint again renews its keys);
/// 422 names a bad field, 409 when the endpoint is another person's.
#[utoipa::path(post, path = "/push/subscriptions", tag = "notifications",
    request_body = NewSubscription,
    responses((status = 201, body = SubscriptionView), (status = 409, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn add_subscription(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewSubscription>,
) -> ApiResult<(StatusCode, axum::Json<SubscriptionView>)> {
    check_subscription(&new.endpoint, &new.keys.p256dh, &new.keys.auth)
        .map_err(|(field, message)| ApiError::invalid(field, message))?;
    let name = &caller.user.name;
    let existing = state.store.push_subscriptions(name).await?;
    let renewal = existing
        .iter()
        .any(|subscription| subscription.endpoint == new.endpoint);
    if !renewal && existing.len() >= MAX_SUBSCRIPTIONS_PER_PERSON {
        return Err(ApiError::invalid(
            "endpoint",
            format!("at most {MAX_SUBSCRIPTIONS_PER_PERSON} browsers; remove one first"),
        ));
    }
    let subscription = PushSubscription {
        id: format!(
            "ps-{}",
            hearth_services::secret::random_string(12).to_lowercase()
        ),
        user: name.clone(),
        endpoint: new.endpoint,
        p256dh: new.keys.p256dh,
        auth: new.keys.auth,
        created_at_ms: hearth_model::now_millis(),
    };
    state.store.put_push_subscription(&subscription).await?;
    let stored = state
        .store
        .push_subscriptions(name)
        .await?
        .into_iter()
        .find(|stored| stored.endpoint == subscription.endpoint)
        .unwrap_or(subscription);
    Ok((StatusCode::CREATED, axum::Json(stored.into())))
}

/// Disables push on a browser; 404 unless it is the caller's.
#[utoipa::path(delete, path = "/push/subscriptions", tag = "notifications",
    request_body = SubscriptionEndpoint,
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn remove_subscription(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(which): ApiJson<SubscriptionEndpoint>,
) -> ApiResult<StatusCode> {
    state
        .store
        .delete_push_subscription(&which.endpoint, Some(&caller.user.name))
        .await
        .map_err(|error| match error {
            hearth_store::StoreError::NotFound { .. } => {
                ApiError::not_found("no such push subscription of yours")
            }
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}
