//! Topic layouts (issue 18): `/api/v1/apps/{id}/layout` and `/api/v1/devices/{id}/layout`.
//! Whoever may see the application or device reads its layout; its group's admins (and
//! owners) set and clear it. A refused layout answers 422 naming the field inside the
//! document (`inbound[1].topic`); a document that is not a layout at all, 400.

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult, parse_id};
use crate::extract::ApiJson;
use crate::routes::apps::visible_app;
use crate::routes::devices::device_for;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hearth_model::layout::Layout;
use hearth_model::{AppId, Permission, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_app_layout, put_app_layout, delete_app_layout))
        .routes(routes!(
            get_device_layout,
            put_device_layout,
            delete_device_layout
        ))
}

fn no_layout(what: &str) -> ApiError {
    ApiError::not_found(format!("{what} has no layout"))
}

/// The application's topic layout (404 when it has none).
#[utoipa::path(get, path = "/apps/{id}/layout", tag = "apps", params(("id" = String, Path)),
    responses((status = 200, body = Layout), (status = 404, body = crate::error::ErrorBody)))]
async fn get_app_layout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Layout>> {
    let id: AppId = parse_id("id", &id)?;
    visible_app(&state, &caller, &id).await?;
    let layout = state.registry.app_layout(&id).await?;
    layout
        .map(axum::Json)
        .ok_or_else(|| no_layout(&format!("application {:?}", id.as_str())))
}

/// Sets the application's topic layout (its group's admins): every device of the
/// application speaks it from now on (docs/layouts.md).
#[utoipa::path(put, path = "/apps/{id}/layout", tag = "apps", params(("id" = String, Path)),
    request_body = Layout,
    responses((status = 200, body = Layout), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn put_app_layout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(layout): ApiJson<Layout>,
) -> ApiResult<axum::Json<Layout>> {
    let id: AppId = parse_id("id", &id)?;
    let app = visible_app(&state, &caller, &id).await?;
    caller.require_role(&app.group, Role::Admin, "changing a topic layout")?;
    state
        .registry
        .set_app_layout(&caller.actor(), &id, Some(&layout))
        .await?;
    Ok(axum::Json(layout))
}

/// Removes the application's topic layout (its group's admins).
#[utoipa::path(delete, path = "/apps/{id}/layout", tag = "apps", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody)))]
async fn delete_app_layout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: AppId = parse_id("id", &id)?;
    let app = visible_app(&state, &caller, &id).await?;
    caller.require_role(&app.group, Role::Admin, "changing a topic layout")?;
    state
        .registry
        .set_app_layout(&caller.actor(), &id, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The device's own topic layout (404 when it has none; it may still follow its
/// application's).
#[utoipa::path(get, path = "/devices/{id}/layout", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = Layout), (status = 404, body = crate::error::ErrorBody)))]
async fn get_device_layout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Layout>> {
    let (device, _) = device_for(&state, &caller, &id, Permission::View, "reading").await?;
    let layout = state.registry.device_layout(&device.id).await?;
    layout
        .map(axum::Json)
        .ok_or_else(|| no_layout(&format!("device {:?}", device.id.as_str())))
}

/// Sets the device's own topic layout, which replaces its application's for it (its
/// group's admins).
#[utoipa::path(put, path = "/devices/{id}/layout", tag = "devices", params(("id" = String, Path)),
    request_body = Layout,
    responses((status = 200, body = Layout), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn put_device_layout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(layout): ApiJson<Layout>,
) -> ApiResult<axum::Json<Layout>> {
    let (device, app) = device_for(&state, &caller, &id, Permission::View, "reading").await?;
    caller.require_role(&app.group, Role::Admin, "changing a topic layout")?;
    state
        .registry
        .set_device_layout(&caller.actor(), &device.id, Some(&layout))
        .await?;
    Ok(axum::Json(layout))
}

/// Removes the device's own topic layout (its group's admins).
#[utoipa::path(delete, path = "/devices/{id}/layout", tag = "devices", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody)))]
async fn delete_device_layout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let (device, app) = device_for(&state, &caller, &id, Permission::View, "reading").await?;
    caller.require_role(&app.group, Role::Admin, "changing a topic layout")?;
    state
        .registry
        .set_device_layout(&caller.actor(), &device.id, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
