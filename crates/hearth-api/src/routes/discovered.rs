//! `/api/v1/discovered`: devices announced through Home Assistant MQTT discovery and not
//! adopted yet (issue 18, docs/discovery.md). Group admins of the discovering
//! application's group (and hub admins) list, adopt and forget them; anyone else gets
//! 404, as if there were none.

use crate::caller::Caller;
use crate::dto::DeviceView;
use crate::error::{ApiError, ApiResult, parse_id};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hearth_model::{AppId, DeviceId, DiscoveredDevice, GroupId, Role};
use hearth_services::discovery::AdoptRequest;
use hearth_services::registry;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_discovered))
        .routes(routes!(forget_discovered))
        .routes(routes!(adopt_discovered))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DiscoveredQuery {
    /// Only this group's (a group the caller administers).
    pub group: Option<String>,
}

/// `POST /discovered/{app}/{id}/adopt`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdoptDiscoveredRequest {
    /// The application the device joins: an ordinary application of the discovering
    /// application's group.
    pub app: String,
    /// The Hearth device id; the discovery id when absent.
    pub id: Option<String>,
    pub name: Option<String>,
    pub room: Option<String>,
}

fn is_group_admin(caller: &Caller, group: &GroupId) -> bool {
    caller
        .role_in(group)
        .is_some_and(|role| role >= Role::Admin)
}

/// The entry if the caller administers its group (404 otherwise, the same answer as for
/// one that does not exist).
async fn visible_entry(
    state: &AppState,
    caller: &Caller,
    app: &str,
    id: &str,
) -> ApiResult<DiscoveredDevice> {
    let missing = || ApiError::not_found(format!("discovered device {app}/{id} not found"));
    let (Ok(app), Ok(id)) = (AppId::new(app), DeviceId::new(id)) else {
        return Err(missing());
    };
    match state.store.discovered(&app, &id).await {
        Ok(entry) if entry.adopted_device.is_none() && is_group_admin(caller, &entry.group) => {
            Ok(entry)
        }
        Ok(_) | Err(hearth_store::StoreError::NotFound { .. }) => Err(missing()),
        Err(error) => Err(error.into()),
    }
}

/// Announced devices not adopted yet, in the groups the caller administers (all for hub
/// admins). `?group=` names one of them (404 for any other).
#[utoipa::path(get, path = "/discovered", tag = "discovery", params(DiscoveredQuery),
    responses((status = 200, body = Vec<DiscoveredDevice>),
        (status = 404, description = "No such group that the caller administers", body = crate::error::ErrorBody)))]
async fn list_discovered(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<DiscoveredQuery>,
) -> ApiResult<axum::Json<Vec<DiscoveredDevice>>> {
    let group: Option<GroupId> = query
        .group
        .as_deref()
        .map(|g| parse_id("group", g))
        .transpose()?;
    if let Some(group) = &group
        && !is_group_admin(&caller, group)
    {
        return Err(ApiError::not_found(format!(
            "group {:?} not found",
            group.as_str()
        )));
    }
    let entries = state.store.discovered_list(group.as_ref(), false).await?;
    Ok(axum::Json(
        entries
            .into_iter()
            .filter(|entry| is_group_admin(&caller, &entry.group))
            .collect(),
    ))
}

/// Adopts an announced device into an application of its group: creates the device
/// (kind and capabilities from its components, a topic layout whose messages come from
/// the discovering login) and stops listing the entry.
#[utoipa::path(post, path = "/discovered/{app}/{id}/adopt", tag = "discovery",
    params(("app" = String, Path, description = "The discovery application"),
        ("id" = String, Path, description = "The discovery id")),
    request_body = AdoptDiscoveredRequest,
    responses((status = 201, body = DeviceView),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The device id is taken", body = crate::error::ErrorBody),
        (status = 422, description = "A value breaks a rule (e.g. an application of another group)", body = crate::error::ErrorBody)))]
async fn adopt_discovered(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, id)): Path<(String, String)>,
    ApiJson(request): ApiJson<AdoptDiscoveredRequest>,
) -> ApiResult<(StatusCode, axum::Json<DeviceView>)> {
    let entry = visible_entry(&state, &caller, &app, &id).await?;
    let target: AppId = registry::parse_id("app", &request.app)?;
    let new_id: Option<DeviceId> = request
        .id
        .as_deref()
        .map(|id| registry::parse_id("id", id))
        .transpose()?;
    let device = state
        .registry
        .adopt_discovered(
            &caller.actor(),
            &entry.app,
            &entry.id,
            AdoptRequest {
                app: target,
                id: new_id,
                name: request.name,
                room: request.room,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(DeviceView::from(device))))
}

/// Forgets an announced device (it comes back if it announces itself again).
#[utoipa::path(delete, path = "/discovered/{app}/{id}", tag = "discovery",
    params(("app" = String, Path, description = "The discovery application"),
        ("id" = String, Path, description = "The discovery id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn forget_discovered(
    State(state): State<AppState>,
    caller: Caller,
    Path((app, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let entry = visible_entry(&state, &caller, &app, &id).await?;
    state
        .registry
        .forget_discovered(&caller.actor(), &entry.app, &entry.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
