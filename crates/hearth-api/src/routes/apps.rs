//! `/api/v1/apps`: applications, their MQTT secret and the grants people hold on them.

use crate::caller::Caller;
use crate::dto::{AppSecretView, AppView, GrantView};
use crate::error::{ApiResult, parse_id};
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::taken::{check_probes, taken};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hearth_model::{AppId, Application, GroupId, Permission, Role, UserName};
use hearth_services::registry;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_apps, create_app))
        .routes(routes!(get_app, update_app, remove_app))
        .routes(routes!(rotate_app_secret))
        .routes(routes!(list_grants))
        .routes(routes!(set_grant, remove_grant))
}

/// The application `id` if the caller may see it (404 otherwise, as if it did not exist).
pub(crate) async fn visible_app(
    state: &AppState,
    caller: &Caller,
    id: &AppId,
) -> ApiResult<Application> {
    let app = state.store.app(id).await?;
    caller.require_permission(&app, Permission::View, "reading an application")?;
    Ok(app)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AppListQuery {
    /// Only this group's applications.
    pub group: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAppRequest {
    pub id: String,
    pub group: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// A discovery login (Home Assistant MQTT discovery); false when absent.
    pub discovery: Option<bool>,
    /// Days the raw messages of its devices are kept (1 to 3650); absent or `null`: the
    /// hub's default.
    #[schema(minimum = 1, maximum = 3650)]
    pub message_retention_days: Option<u32>,
}

/// What `PATCH /apps/{id}` changes; an absent field is left alone.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppPatchRequest {
    /// Days the raw messages of its devices are kept (1 to 3650); `null` goes back to
    /// the hub's default.
    #[serde(default, deserialize_with = "crate::routes::devices::nullable")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 3650)]
    pub message_retention_days: Option<Option<u32>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// `view`, `control` or `manage`.
    #[schema(value_type = String, example = "control")]
    pub permission: Permission,
}

/// The applications the caller can see, with what they may do with each. `?group=`
/// names a group the caller is in (404 otherwise, the same answer whether it exists or
/// not: a non-member's empty list would say that it does).
#[utoipa::path(get, path = "/apps", tag = "apps", params(AppListQuery),
    responses((status = 200, body = Vec<AppView>),
        (status = 404, description = "No such group that the caller is in", body = crate::error::ErrorBody)))]
async fn list_apps(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AppListQuery>,
) -> ApiResult<axum::Json<Vec<AppView>>> {
    let group: Option<GroupId> = query
        .group
        .as_deref()
        .map(|g| parse_id("group", g))
        .transpose()?;
    if let Some(group) = &group {
        caller.require_role(group, Role::Viewer, "listing a group's applications")?;
    }
    let apps = state.store.apps(group.as_ref()).await?;
    Ok(axum::Json(
        apps.into_iter()
            .filter_map(|app| {
                let permission = caller.permission_on(&app)?;
                Some(AppView::new(app, Some(permission)))
            })
            .collect(),
    ))
}

/// Creates an application in a group (its owners and admins); returns its MQTT key and
/// secret, the secret shown this once.
#[utoipa::path(post, path = "/apps", tag = "apps", request_body = NewAppRequest,
    responses((status = 201, body = AppSecretView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, description = "The group named in the body is not one the caller is in", body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody),
        (status = 422, description = "A value breaks a rule (e.g. the id's characters)", body = crate::error::ErrorBody),
        (status = 429, description = "Too many taken ids tried this minute (`routes::taken`); see Retry-After", body = crate::error::ErrorBody)))]
async fn create_app(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<NewAppRequest>,
) -> ApiResult<(StatusCode, axum::Json<AppSecretView>)> {
    let group: GroupId = parse_id("group", &request.group)?;
    caller.require_role(&group, Role::Admin, "creating applications")?;
    check_probes(&state, &caller)?;
    // A malformed id in the body is the registry's 422 naming `id`, as it always was.
    let id: AppId = registry::parse_id("id", &request.id)?;
    let (app, secret) = state
        .registry
        .add_app_with_retention(
            &caller.actor(),
            &id,
            &group,
            request.name.as_deref(),
            request.description.as_deref(),
            request.message_retention_days,
        )
        .await
        .map_err(|error| taken(&state, &caller, "application", &request.id, error))?;
    let mut app = app;
    if request.discovery == Some(true) {
        state
            .registry
            .set_app_discovery(&caller.actor(), &app.id, true)
            .await?;
        app.discovery = true;
    }
    let permission = caller.permission_on(&app);
    Ok((
        StatusCode::CREATED,
        axum::Json(AppSecretView {
            mqtt_key: app.mqtt_key.clone(),
            app: AppView::new(app, permission),
            mqtt_secret: secret,
        }),
    ))
}

/// One application (anyone who may view its devices).
#[utoipa::path(get, path = "/apps/{id}", tag = "apps", params(("id" = String, Path)),
    responses((status = 200, body = AppView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_app(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AppView>> {
    let id: AppId = parse_id("id", &id)?;
    let app = visible_app(&state, &caller, &id).await?;
    let permission = caller.permission_on(&app);
    Ok(axum::Json(AppView::new(app, permission)))
}

/// Changes an application's settings: how long its devices' raw messages are kept. Its
/// group's owners and admins, like creating and deleting it (a member or viewer gets
/// 403, someone outside the group 404).
#[utoipa::path(patch, path = "/apps/{id}", tag = "apps", params(("id" = String, Path)),
    request_body = AppPatchRequest,
    responses((status = 200, body = AppView),
        (status = 400, description = "Not a number of days, or an unknown field", body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, description = "Out of range (1 to 3650 days); names the field", body = crate::error::ErrorBody)))]
async fn update_app(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<AppPatchRequest>,
) -> ApiResult<axum::Json<AppView>> {
    let id: AppId = parse_id("id", &id)?;
    let mut app = visible_app(&state, &caller, &id).await?;
    caller.require_role(&app.group, Role::Admin, "changing an application")?;
    if let Some(days) = patch.message_retention_days {
        app = state
            .registry
            .set_app_message_retention(&caller.actor(), &id, days)
            .await?;
    }
    let permission = caller.permission_on(&app);
    Ok(axum::Json(AppView::new(app, permission)))
}

/// Deletes an application (its group's owners and admins; refused while it has devices).
#[utoipa::path(delete, path = "/apps/{id}", tag = "apps", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
async fn remove_app(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: AppId = parse_id("id", &id)?;
    let app = visible_app(&state, &caller, &id).await?;
    caller.require_role(&app.group, Role::Admin, "deleting applications")?;
    state.registry.remove_app(&caller.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives the application a new MQTT secret (shown this once); connections with the old
/// one are cut. Needs `manage`.
#[utoipa::path(post, path = "/apps/{id}/rotate-secret", tag = "apps", params(("id" = String, Path)),
    responses((status = 200, body = AppSecretView), (status = 403, body = crate::error::ErrorBody)))]
async fn rotate_app_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AppSecretView>> {
    let id: AppId = parse_id("id", &id)?;
    let app = visible_app(&state, &caller, &id).await?;
    let permission = caller.require_permission(&app, Permission::Manage, "rotating the secret")?;
    let secret = state
        .registry
        .rotate_app_secret(&caller.actor(), &id)
        .await?;
    Ok(axum::Json(AppSecretView {
        mqtt_key: app.mqtt_key.clone(),
        app: AppView::new(app, Some(permission)),
        mqtt_secret: secret,
    }))
}

/// The grants on an application. Needs `manage`.
#[utoipa::path(get, path = "/apps/{id}/grants", tag = "apps", params(("id" = String, Path)),
    responses((status = 200, body = Vec<GrantView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<GrantView>>> {
    let id: AppId = parse_id("id", &id)?;
    let app = visible_app(&state, &caller, &id).await?;
    caller.require_permission(&app, Permission::Manage, "reading grants")?;
    let grants = state.store.grants(&id).await?;
    Ok(axum::Json(
        grants.into_iter().map(GrantView::from).collect(),
    ))
}

/// Grants a user a permission on the application (its group's owners and admins).
///
/// A device's owner may also grant `view` or `control` on their claimed-devices
/// application (sharing what they own, docs/onboarding.md).
#[utoipa::path(put, path = "/apps/{id}/grants/{user}", tag = "apps",
    params(("id" = String, Path), ("user" = String, Path)), request_body = GrantRequest,
    responses((status = 200, body = GrantView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn set_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user)): Path<(String, String)>,
    ApiJson(request): ApiJson<GrantRequest>,
) -> ApiResult<axum::Json<GrantView>> {
    let id: AppId = parse_id("id", &id)?;
    let user: UserName = parse_id("user", &user)?;
    let app = visible_app(&state, &caller, &id).await?;
    // A device's owner shares it (view or control) on their claimed-devices application.
    if !crate::routes::claims::owner_shares(&caller, &app, &user, Some(request.permission)) {
        caller.require_role(&app.group, Role::Admin, "granting permissions")?;
    }
    let grant = state
        .registry
        .set_grant(&caller.actor(), &id, &user, request.permission)
        .await?;
    Ok(axum::Json(grant.into()))
}

/// Removes a user's grant (its group's owners and admins).
///
/// A device's owner may also remove others' grants on their claimed-devices application.
#[utoipa::path(delete, path = "/apps/{id}/grants/{user}", tag = "apps",
    params(("id" = String, Path), ("user" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn remove_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id: AppId = parse_id("id", &id)?;
    let user: UserName = parse_id("user", &user)?;
    let app = visible_app(&state, &caller, &id).await?;
    if !crate::routes::claims::owner_shares(&caller, &app, &user, None) {
        caller.require_role(&app.group, Role::Admin, "removing grants")?;
    }
    state
        .registry
        .remove_grant(&caller.actor(), &id, &user)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
