//! Device commands (`/api/v1/devices/{id}/commands`, `/api/v1/commands/{id}`) and browser
//! MQTT credentials (`/api/v1/mqtt/credentials`), both through the seams in
//! `crate::seams` (503 when `serve.rs` did not provide the service).

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::devices::device_for;
use crate::seams::{CommandRequest, IssuedCredential};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hearth_model::{Command, DeviceId, Permission};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_commands, send_command))
        .routes(routes!(get_command))
        .routes(routes!(mqtt_credentials))
}

/// Longest a command may wait for an offline device.
const MAX_TTL_SECS: u32 = 7 * 86_400;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandBody {
    /// The command (a topic level: letters, digits, `-`, `_`), e.g. `switch`.
    pub name: String,
    /// A JSON object of parameters, e.g. `{"on": true}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
    /// How long it may wait for an offline device (1..=604800 s); default: the hub's.
    pub ttl_secs: Option<u32>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default, deny_unknown_fields)]
pub struct CommandListQuery {
    /// At most this many, newest first (default 50, at most 500).
    pub limit: Option<u32>,
}

fn commands(state: &AppState) -> ApiResult<&dyn crate::seams::CommandService> {
    state
        .commands
        .as_deref()
        .ok_or_else(|| ApiError::unavailable("commands are not available on this hub"))
}

/// Sends a command to a device (needs `control`); it is `pending` until published,
/// `sent`, then `acked`, `failed` or `timeout`.
#[utoipa::path(post, path = "/devices/{id}/commands", tag = "commands",
    params(("id" = String, Path)), request_body = CommandBody,
    responses((status = 202, body = Command), (status = 403, body = crate::error::ErrorBody),
        (status = 422, description = "The name or parameters break a rule (e.g. an empty name)", body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody)))]
async fn send_command(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CommandBody>,
) -> ApiResult<(StatusCode, axum::Json<Command>)> {
    let (device, _) = device_for(
        &state,
        &caller,
        &id,
        Permission::Control,
        "sending commands",
    )
    .await?;
    // The name becomes a topic level: the id rules keep out `/`, `+`, `#` and NUL.
    let name: DeviceId = body.name.parse().map_err(|error: hearth_model::IdError| {
        ApiError::invalid("name", format!("name: {:?}: {}", error.value, error.why))
    })?;
    let params = match body.params {
        None | Some(serde_json::Value::Null) => serde_json::json!({}),
        Some(object @ serde_json::Value::Object(_)) => object,
        Some(_) => return Err(ApiError::invalid("params", "params: must be a JSON object")),
    };
    let ttl_ms = match body.ttl_secs {
        None => None,
        Some(secs @ 1..=MAX_TTL_SECS) => Some(i64::from(secs) * 1_000),
        Some(secs) => {
            return Err(ApiError::invalid(
                "ttl_secs",
                format!("ttl_secs: {secs} is out of range 1..={MAX_TTL_SECS}"),
            ));
        }
    };
    let service = commands(&state)?;
    let command = service
        .send(CommandRequest {
            actor: caller.actor(),
            device: device.id,
            name: name.to_string(),
            params,
            ttl_ms,
        })
        .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(command)))
}

/// A device's commands, newest first (needs `view`).
#[utoipa::path(get, path = "/devices/{id}/commands", tag = "commands",
    params(("id" = String, Path), CommandListQuery),
    responses((status = 200, body = Vec<Command>), (status = 503, body = crate::error::ErrorBody)))]
async fn list_commands(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<CommandListQuery>,
) -> ApiResult<axum::Json<Vec<Command>>> {
    let (device, _) =
        device_for(&state, &caller, &id, Permission::View, "reading commands").await?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit", "limit: must be 1..=500"));
    }
    Ok(axum::Json(commands(&state)?.list(&device.id, limit).await?))
}

/// One command and its state (needs `view` on its device).
#[utoipa::path(get, path = "/commands/{id}", tag = "commands", params(("id" = String, Path)),
    responses((status = 200, body = Command), (status = 404, body = crate::error::ErrorBody)))]
async fn get_command(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Command>> {
    if id.is_empty() || id.len() > 128 {
        return Err(ApiError::bad_request(
            "id",
            "id: must be 1 to 128 characters",
        ));
    }
    let command = commands(&state)?.get(&id).await?;
    device_for(
        &state,
        &caller,
        command.device.as_str(),
        Permission::View,
        "reading commands",
    )
    .await
    .map_err(|error| match error {
        ApiError::NotFound(_) => ApiError::not_found(format!("command {id:?} not found")),
        other => other,
    })?;
    Ok(axum::Json(command))
}

/// Short-lived MQTT-over-WebSocket credentials for the caller's browser: read what they
/// may view, command what they may control. Logging out revokes them.
#[utoipa::path(post, path = "/mqtt/credentials", tag = "mqtt",
    responses((status = 200, body = IssuedCredential), (status = 503, body = crate::error::ErrorBody)))]
async fn mqtt_credentials(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<IssuedCredential>> {
    let issuer = state
        .mqtt_credentials
        .as_deref()
        .ok_or_else(|| ApiError::unavailable("browser MQTT credentials are not available"))?;
    Ok(axum::Json(
        issuer.issue(&caller.user.name, &caller.session_key())?,
    ))
}
