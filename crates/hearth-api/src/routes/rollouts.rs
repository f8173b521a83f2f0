//! Rollouts of firmware images (`/api/v1/rollouts`), through
//! [`hearth_services::ota::Ota`].
//!
//! Who may: the admins (and owners) of the group whose devices are targeted, and hub
//! administrators. Every target is in that one group: a device's or an application's
//! group, or the `group` named with a kind. Only devices of the image's kind are
//! targeted. Reading a rollout needs a role in its group (any: a device's firmware is
//! part of its state, which viewers see; `hearth/rollouts/{group}` carries the same).

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::routes::firmware::ota;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hearth_model::{
    AppId, DeviceId, Firmware, GroupId, Role, Rollout, RolloutSummary, RolloutTarget,
};
use hearth_services::ota::RolloutRequest;
use hearth_store::DeviceFilter;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rollouts, start_rollout))
        .routes(routes!(get_rollout))
        .routes(routes!(continue_rollout))
        .routes(routes!(stop_rollout))
        .routes(routes!(retry_rollout))
}

/// Exactly one of `device`, `kind` (with `group`) and `app`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutBody {
    /// The image's id.
    pub firmware: String,
    /// One device.
    pub device: Option<String>,
    /// Every device of this kind in `group`.
    pub kind: Option<String>,
    pub group: Option<String>,
    /// Every device of the image's kind in this application.
    pub app: Option<String>,
    /// Share of the devices sent first (1..=100, default 100); the rest follows when
    /// they all succeeded, or on `continue`.
    pub percentage_first: Option<u8>,
}

/// A rollout with its image, the counts and each device.
#[derive(Debug, Serialize, ToSchema)]
pub struct RolloutView {
    pub rollout: Rollout,
    pub firmware: Firmware,
    pub summary: RolloutSummary,
    pub targets: Vec<RolloutTarget>,
}

fn parse_id<T: std::str::FromStr>(field: &'static str, text: &str) -> ApiResult<T> {
    text.parse()
        .map_err(|_| ApiError::invalid(field, format!("{field}: {text:?} is not a valid id")))
}

/// Resolves the targets and checks that the caller is an admin of their group.
async fn resolve(
    state: &AppState,
    caller: &Caller,
    body: &RolloutBody,
    firmware: &Firmware,
) -> ApiResult<(GroupId, String, Vec<DeviceId>)> {
    let what = "rolling out firmware";
    let chosen = [
        body.device.is_some(),
        body.kind.is_some(),
        body.app.is_some(),
    ];
    if chosen.iter().filter(|set| **set).count() != 1 {
        return Err(ApiError::invalid(
            "targets",
            "targets: give exactly one of device, kind (with group) or app",
        ));
    }
    if let Some(device) = &body.device {
        let id: DeviceId = parse_id("device", device)?;
        let device = state.store.device(&id).await?;
        let app = state.store.app(&device.application).await?;
        // A device of another group is "not found", like everywhere in the API.
        caller
            .require_role(&app.group, Role::Admin, what)
            .map_err(|error| match error {
                ApiError::NotFound(_) => ApiError::not_found(format!("device {id} not found")),
                other => other,
            })?;
        if device.kind != firmware.kind {
            return Err(ApiError::invalid(
                "device",
                format!(
                    "device: {id} is a {}, the image is for {}",
                    device.kind, firmware.kind
                ),
            ));
        }
        return Ok((app.group, format!("device:{id}"), vec![id]));
    }
    let (group, selector, filter) = if let Some(app) = &body.app {
        let id: AppId = parse_id("app", app)?;
        let app = state.store.app(&id).await?;
        let filter = DeviceFilter {
            application: Some(id.clone()),
            ..DeviceFilter::default()
        };
        (app.group, format!("app:{id}"), filter)
    } else {
        let kind = body.kind.clone().unwrap_or_default();
        let Some(group) = &body.group else {
            return Err(ApiError::invalid("group", "group: a kind needs its group"));
        };
        if kind != firmware.kind {
            return Err(ApiError::invalid(
                "kind",
                format!("kind: the image is for {}", firmware.kind),
            ));
        }
        let group: GroupId = parse_id("group", group)?;
        let filter = DeviceFilter {
            group: Some(group.clone()),
            ..DeviceFilter::default()
        };
        (group, format!("kind:{kind}"), filter)
    };
    caller.require_role(&group, Role::Admin, what)?;
    let filter = DeviceFilter {
        kind: Some(firmware.kind.clone()),
        enabled: Some(true),
        ..filter
    };
    let devices = state.store.devices(&filter).await?;
    Ok((
        group,
        selector,
        devices.into_iter().map(|device| device.id).collect(),
    ))
}

/// Starts a rollout (group admins of the targets' group, hub administrators).
#[utoipa::path(post, path = "/rollouts", tag = "firmware", request_body = RolloutBody,
    responses((status = 201, body = RolloutView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn start_rollout(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<RolloutBody>,
) -> ApiResult<(StatusCode, axum::Json<RolloutView>)> {
    let service = ota(&state)?;
    let firmware = state
        .store
        .firmware(&body.firmware)
        .await
        .map_err(|_| ApiError::not_found(format!("firmware {:?} not found", body.firmware)))?;
    let (group, selector, devices) = resolve(&state, &caller, &body, &firmware).await?;
    let rollout = service
        .start_rollout(RolloutRequest {
            actor: caller.actor(),
            firmware: firmware.id.clone(),
            group,
            selector,
            devices,
            first_percent: body.percentage_first.unwrap_or(100),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(view(&state, &rollout.id).await?),
    ))
}

async fn view(state: &AppState, id: &str) -> ApiResult<RolloutView> {
    let (rollout, targets) = ota(state)?.rollout(id).await?;
    let firmware = state.store.firmware(&rollout.firmware).await?;
    Ok(RolloutView {
        summary: RolloutSummary::of(&targets),
        rollout,
        firmware,
        targets,
    })
}

/// `Ok` if the caller has at least `least` in the rollout's group (404 for people outside
/// it: not even its existence is shown to them; 403 for too low a role).
async fn steerable(
    state: &AppState,
    caller: &Caller,
    id: &str,
    what: &str,
    least: Role,
) -> ApiResult<()> {
    let rollout = ota(state)?.rollout(id).await?.0;
    caller
        .require_role(&rollout.group, least, what)
        .map_err(|error| match error {
            ApiError::NotFound(_) => ApiError::not_found(format!("rollout {id:?} not found")),
            other => other,
        })?;
    Ok(())
}

/// The rollouts of the caller's groups, newest first.
#[utoipa::path(get, path = "/rollouts", tag = "firmware",
    responses((status = 200, body = Vec<Rollout>)))]
async fn list_rollouts(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<Rollout>>> {
    ota(&state)?;
    let rollouts = state.store.rollouts().await?;
    Ok(axum::Json(
        rollouts
            .into_iter()
            .filter(|rollout| caller.role_in(&rollout.group).is_some())
            .collect(),
    ))
}

/// A rollout: counts by state, failure reasons ("4 updated, 1 failed: checksum
/// mismatch") and each device.
#[utoipa::path(get, path = "/rollouts/{id}", tag = "firmware", params(("id" = String, Path)),
    responses((status = 200, body = RolloutView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_rollout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<RolloutView>> {
    steerable(&state, &caller, &id, "reading rollouts", Role::Viewer).await?;
    Ok(axum::Json(view(&state, &id).await?))
}

/// Sends the rest of a first-wave rollout now.
#[utoipa::path(post, path = "/rollouts/{id}/continue", tag = "firmware",
    params(("id" = String, Path)), responses((status = 200, body = RolloutView)))]
async fn continue_rollout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<RolloutView>> {
    steerable(&state, &caller, &id, "continuing rollouts", Role::Admin).await?;
    ota(&state)?.continue_rollout(&caller.actor(), &id).await?;
    Ok(axum::Json(view(&state, &id).await?))
}

/// Stops a rollout: nothing more is sent and open download tokens stop working.
#[utoipa::path(post, path = "/rollouts/{id}/stop", tag = "firmware",
    params(("id" = String, Path)), responses((status = 200, body = RolloutView)))]
async fn stop_rollout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<RolloutView>> {
    steerable(&state, &caller, &id, "stopping rollouts", Role::Admin).await?;
    ota(&state)?.stop_rollout(&caller.actor(), &id).await?;
    Ok(axum::Json(view(&state, &id).await?))
}

/// Sends the image again to the devices that failed.
#[utoipa::path(post, path = "/rollouts/{id}/retry", tag = "firmware",
    params(("id" = String, Path)), responses((status = 200, body = RolloutView)))]
async fn retry_rollout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<RolloutView>> {
    steerable(&state, &caller, &id, "retrying rollouts", Role::Admin).await?;
    ota(&state)?.retry_rollout(&caller.actor(), &id).await?;
    Ok(axum::Json(view(&state, &id).await?))
}
