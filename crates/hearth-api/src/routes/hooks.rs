//! Automations' incoming webhooks (issue 14): `POST /api/v1/hooks/{automation}/{secret}`
//! fires the automation's `webhook` trigger, for machines that cannot log in (a doorbell
//! service, a script on another box). The secret in the URL is the credential: made by
//! the hub (32 random letters and digits), stored hashed, shown once to the group's
//! admin who asked for it. A wrong secret, an unknown automation, one without a webhook
//! and a disabled one all answer the same 404. The body, if any, is the trigger's
//! (`body` in the run's trigger: JSON if it parses, else the text).

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::routes::automations::{RunStarted, object_schema, require_writer, service};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A hook's body beyond this is refused (a trigger, not an upload).
const MAX_BODY: usize = 64 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(make_webhook, remove_webhook))
        .routes(routes!(call_hook))
}

/// The automation's webhook URL, shown once.
#[derive(Serialize)]
#[serde(transparent)]
pub struct WebhookUrl(pub Value);
object_schema!(
    WebhookUrl,
    "`url`: the path to POST to (`/api/v1/hooks/{automation}/{secret}`), shown only now."
);

/// Makes (or replaces) the automation's webhook URL (group `admin` or `owner`); the
/// previous URL stops working. 400 naming `triggers` without a `webhook` trigger.
#[utoipa::path(post, path = "/automations/{id}/webhook", tag = "automations",
    params(("id" = String, Path)),
    responses((status = 201, body = WebhookUrl), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn make_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<WebhookUrl>)> {
    let automations = service(&state);
    let automation = automations.get(&id).await?;
    require_writer(
        &caller,
        &automation.spec.group,
        ("automation", &id),
        "making a webhook URL",
    )?;
    let secret = automations.make_webhook(&caller.actor(), &id).await?;
    let url = format!("/api/v1/hooks/{id}/{secret}");
    Ok((
        StatusCode::CREATED,
        axum::Json(WebhookUrl(serde_json::json!({ "url": url }))),
    ))
}

/// Removes the automation's webhook URL (group `admin` or `owner`).
#[utoipa::path(delete, path = "/automations/{id}/webhook", tag = "automations",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn remove_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let automations = service(&state);
    let automation = automations.get(&id).await?;
    require_writer(
        &caller,
        &automation.spec.group,
        ("automation", &id),
        "removing a webhook URL",
    )?;
    automations.remove_webhook(&caller.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Fires the automation's `webhook` trigger; no login, the secret is the credential.
#[utoipa::path(post, path = "/hooks/{id}/{secret}", tag = "automations",
    params(("id" = String, Path), ("secret" = String, Path)),
    responses((status = 202, body = RunStarted), (status = 404, body = crate::error::ErrorBody),
        (status = 413, body = crate::error::ErrorBody)))]
async fn call_hook(
    State(state): State<AppState>,
    Path((id, secret)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<(StatusCode, axum::Json<RunStarted>)> {
    let not_found = || ApiError::not_found("no such hook");
    if body.len() > MAX_BODY {
        return Err(ApiError::invalid("body", "a hook's body is at most 64 KiB"));
    }
    if !service(&state).webhook_matches(&id, &secret).await {
        return Err(not_found());
    }
    let body = match serde_json::from_slice::<Value>(&body) {
        Ok(json) => json,
        Err(_) if body.is_empty() => Value::Null,
        Err(_) => Value::String(String::from_utf8_lossy(&body).into_owned()),
    };
    let Some(runner) = &state.automation_runner else {
        return Err(ApiError::unavailable(
            "the automation engine is not running on this hub",
        ));
    };
    let run = runner.hook(&id, body).await.map_err(|error| match error {
        ApiError::NotFound(_) => not_found(),
        other => other,
    })?;
    Ok((StatusCode::ACCEPTED, axum::Json(RunStarted { run })))
}
