//! `/api/v1/devices`: registering, listing (filters, sort, pages), editing, enabling,
//! rotating secrets, and live state.

use crate::caller::Caller;
use crate::dto::{DeviceLiveView, DeviceSecretView, DeviceView, Page};
use crate::error::{ApiError, ApiResult, parse_id};
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::apps::visible_app;
use crate::routes::taken::{check_probes, taken};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hearth_model::{
    AppId, Application, Device, DeviceId, DevicePatch, GroupId, Permission, Role, SiteId,
};
use hearth_services::registry::{self, DeviceSpec};
use hearth_store::{DeviceFilter, DeviceSort};
use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_devices, create_device))
        .routes(routes!(get_device, update_device, remove_device))
        .routes(routes!(device_live))
        .routes(routes!(enable_device))
        .routes(routes!(disable_device))
        .routes(routes!(rotate_device_secret))
}

/// Default and largest page sizes.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// The device `id` with its application, if the caller has at least `least` on it
/// (404 if they cannot see it, 403 if they can but not enough).
pub(crate) async fn device_for(
    state: &AppState,
    caller: &Caller,
    id: &str,
    least: Permission,
    what: &str,
) -> ApiResult<(Device, Application)> {
    let id: DeviceId = parse_id("id", id)?;
    let device = state.store.device(&id).await?;
    let app = state.store.app(&device.application).await?;
    match caller.permission_on(&app) {
        None => Err(ApiError::not_found(format!(
            "device {:?} not found",
            id.as_str()
        ))),
        Some(_) => {
            caller.require_permission(&app, least, what)?;
            Ok((device, app))
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    #[default]
    Id,
    Name,
    /// Most recently seen first.
    LastSeen,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceListQuery {
    /// Only this application's devices.
    pub app: Option<String>,
    /// Only devices of this group's applications.
    pub group: Option<String>,
    pub room: Option<String>,
    pub kind: Option<String>,
    pub online: Option<bool>,
    pub enabled: Option<bool>,
    /// Case-insensitive substring of the id or name.
    pub search: Option<String>,
    #[param(inline)]
    pub sort: Option<SortKey>,
    /// Page size (default 50, at most 500).
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// Devices the caller can see, filtered, sorted and paged: `{items, total}`.
#[utoipa::path(get, path = "/devices", tag = "devices", params(DeviceListQuery),
    responses((status = 200, body = Page<DeviceView>), (status = 400, body = crate::error::ErrorBody)))]
async fn list_devices(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<DeviceListQuery>,
) -> ApiResult<axum::Json<Page<DeviceView>>> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "limit",
            format!("limit: must be 1..={MAX_LIMIT}"),
        ));
    }
    let mut filter = DeviceFilter {
        application: query
            .app
            .as_deref()
            .map(|a| parse_id("app", a))
            .transpose()?,
        group: query
            .group
            .as_deref()
            .map(|g| parse_id("group", g))
            .transpose()?,
        room: query.room,
        kind: query.kind,
        online: query.online,
        enabled: query.enabled,
        search: query.search.filter(|search| !search.is_empty()),
        sort: match query.sort.unwrap_or_default() {
            SortKey::Id => DeviceSort::Id,
            SortKey::Name => DeviceSort::Name,
            SortKey::LastSeen => DeviceSort::LastSeen,
        },
        limit: Some(limit),
        offset: query.offset.unwrap_or(0),
    };
    if caller.is_admin() {
        return page(&state, &filter).await;
    }
    if let Some(app) = &filter.application {
        visible_app(&state, &caller, app).await?;
        return page(&state, &filter).await;
    }
    if let Some(group) = &filter.group {
        caller.require_role(group, hearth_model::Role::Viewer, "listing devices")?;
        return page(&state, &filter).await;
    }
    let mut groups: Vec<GroupId> = caller.roles.keys().cloned().collect();
    groups.sort();
    match groups.as_slice() {
        [] => Ok(axum::Json(Page {
            items: vec![],
            total: 0,
        })),
        [only] => {
            filter.group = Some(only.clone());
            page(&state, &filter).await
        }
        _ => {
            // Several groups: the store filters by one, so merge their whole listings
            // (a household's devices; small) and page here, in the store's order.
            let mut devices = Vec::new();
            for group in groups {
                let whole = DeviceFilter {
                    group: Some(group),
                    limit: None,
                    offset: 0,
                    ..filter.clone()
                };
                devices.extend(state.store.devices(&whole).await?);
            }
            sort_like_store(&mut devices, filter.sort);
            let total = devices.len() as u64;
            let items = devices
                .into_iter()
                .skip(filter.offset as usize)
                .take(limit as usize)
                .map(|device| state.device_view(device))
                .collect();
            Ok(axum::Json(Page { items, total }))
        }
    }
}

async fn page(state: &AppState, filter: &DeviceFilter) -> ApiResult<axum::Json<Page<DeviceView>>> {
    let total = state.store.count_devices(filter).await?;
    let items = state.store.devices(filter).await?;
    Ok(axum::Json(Page {
        items: items
            .into_iter()
            .map(|device| state.device_view(device))
            .collect(),
        total,
    }))
}

fn sort_like_store(devices: &mut [Device], sort: DeviceSort) {
    match sort {
        DeviceSort::Id => devices.sort_by(|a, b| a.id.cmp(&b.id)),
        DeviceSort::Name => devices.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id))),
        DeviceSort::LastSeen => devices.sort_by(|a, b| {
            let key =
                |device: &Device| std::cmp::Reverse(device.live.last_seen_ms.unwrap_or(i64::MIN));
            key(a).cmp(&key(b)).then(a.id.cmp(&b.id))
        }),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeviceRequest {
    /// Letters, digits, `-` and `_`: the device's MQTT client id and user name.
    pub id: String,
    /// The application it belongs to.
    pub app: String,
    pub name: Option<String>,
    /// sensor, switch, relay, light, thermostat, lock, smoke, camera, gateway...
    pub kind: Option<String>,
    pub room: Option<String>,
    pub firmware: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub heartbeat_timeout_secs: Option<u32>,
}

/// Registers a device (needs `manage` on its application); returns its secret, shown
/// this once.
#[utoipa::path(post, path = "/devices", tag = "devices", request_body = NewDeviceRequest,
    responses((status = 201, body = DeviceSecretView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, description = "The application named in the body is not one the caller can see", body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody),
        (status = 429, description = "Too many taken ids tried this minute (`routes::taken`); see Retry-After", body = crate::error::ErrorBody)))]
async fn create_device(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<NewDeviceRequest>,
) -> ApiResult<(StatusCode, axum::Json<DeviceSecretView>)> {
    let app_id: AppId = parse_id("app", &request.app)?;
    let app = visible_app(&state, &caller, &app_id).await?;
    caller.require_permission(&app, Permission::Manage, "registering devices")?;
    check_probes(&state, &caller)?;
    // A malformed id in the body is the registry's 422 naming `id`, as it always was.
    let device_id: DeviceId = registry::parse_id("id", &request.id)?;
    let (device, secret) = state
        .registry
        .add_device(
            &caller.actor(),
            DeviceSpec {
                id: device_id.clone(),
                app: Some(app_id),
                name: request.name,
                kind: request.kind,
                room: request.room,
                firmware: request.firmware,
                metadata: request.metadata,
                heartbeat_timeout_secs: request.heartbeat_timeout_secs,
            },
        )
        .await
        .map_err(|error| taken(&state, &caller, "device", device_id.as_str(), error))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(DeviceSecretView {
            device: device.into(),
            secret,
        }),
    ))
}

/// One device with its live state (needs `view`).
#[utoipa::path(get, path = "/devices/{id}", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = DeviceView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_device(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<DeviceView>> {
    let (device, _) =
        device_for(&state, &caller, &id, Permission::View, "reading a device").await?;
    Ok(axum::Json(state.device_view(device)))
}

/// A device's live state only (needs `view`).
#[utoipa::path(get, path = "/devices/{id}/live", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = DeviceLiveView), (status = 404, body = crate::error::ErrorBody)))]
async fn device_live(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<DeviceLiveView>> {
    let (device, _) =
        device_for(&state, &caller, &id, Permission::View, "reading a device").await?;
    Ok(axum::Json(state.device_view(device).live))
}

/// `null` clears, absence leaves alone.
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevicePatchRequest {
    pub name: Option<String>,
    pub kind: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub room: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub firmware: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub heartbeat_timeout_secs: Option<Option<u32>>,
    /// The site (home hub) that relays the device, of the device's group; `null`: none,
    /// the device connects itself. Only the group's owners and admins change it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub site: Option<Option<String>>,
}

/// Changes a device's descriptive fields (needs `manage`) and its site (the group's
/// owners and admins).
#[utoipa::path(patch, path = "/devices/{id}", tag = "devices", params(("id" = String, Path)),
    request_body = DevicePatchRequest,
    responses((status = 200, body = DeviceView), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn update_device(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<DevicePatchRequest>,
) -> ApiResult<axum::Json<DeviceView>> {
    let (device, app) =
        device_for(&state, &caller, &id, Permission::Manage, "editing a device").await?;
    // Checked before anything changes: a refused site leaves the whole patch undone.
    let site = match &patch.site {
        Some(site) => Some(checked_site(&state, &caller, &app, site.as_deref()).await?),
        None => None,
    };
    let descriptive = DevicePatch {
        name: patch.name,
        kind: patch.kind,
        room: patch.room,
        firmware: patch.firmware,
        metadata: patch.metadata,
        heartbeat_timeout_secs: patch.heartbeat_timeout_secs,
    };
    let mut device = device;
    if site.is_none() || descriptive != DevicePatch::default() {
        device = state
            .registry
            .update_device(&caller.actor(), &device.id, descriptive)
            .await?;
    }
    if let Some(site) = site {
        state
            .registry
            .set_device_site(&caller.actor(), &device.id, site.as_ref())
            .await?;
        device = state.store.device(&device.id).await?;
    }
    Ok(axum::Json(device.into()))
}

/// The site a patch asks for (`None`: no site), if the caller may put the device of
/// `app` there: an owner or admin of the app's group (403 otherwise), and a site of that
/// group. A site of another group answers as one that does not exist (422 naming
/// `site`), so that its id tells nothing of the other group.
async fn checked_site(
    state: &AppState,
    caller: &Caller,
    app: &Application,
    site: Option<&str>,
) -> ApiResult<Option<SiteId>> {
    caller.require_role(&app.group, Role::Admin, "putting a device in a site")?;
    let Some(site) = site else {
        return Ok(None);
    };
    let id: SiteId = registry::parse_id("site", site)?;
    let not_here = || {
        ApiError::invalid(
            "site",
            format!("no site {:?} in group {}", id.as_str(), app.group),
        )
    };
    match state.store.site(&id).await {
        Ok(found) if found.group == app.group => Ok(Some(id)),
        Ok(_) | Err(hearth_store::StoreError::NotFound { .. }) => Err(not_here()),
        Err(error) => Err(error.into()),
    }
}

/// Removes a device; its connection is cut (needs `manage`).
#[utoipa::path(delete, path = "/devices/{id}", tag = "devices", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn remove_device(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let (device, _) = device_for(
        &state,
        &caller,
        &id,
        Permission::Manage,
        "removing a device",
    )
    .await?;
    state
        .registry
        .remove_device(&caller.actor(), &device.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_enabled(
    state: AppState,
    caller: Caller,
    id: String,
    enabled: bool,
) -> ApiResult<axum::Json<DeviceView>> {
    let (device, _) = device_for(
        &state,
        &caller,
        &id,
        Permission::Manage,
        "enabling or disabling a device",
    )
    .await?;
    state
        .registry
        .set_device_enabled(&caller.actor(), &device.id, enabled)
        .await?;
    Ok(axum::Json(state.store.device(&device.id).await?.into()))
}

/// Lets a disabled device connect again (needs `manage`).
#[utoipa::path(post, path = "/devices/{id}/enable", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = DeviceView), (status = 403, body = crate::error::ErrorBody)))]
async fn enable_device(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<DeviceView>> {
    set_enabled(state, caller, id, true).await
}

/// Refuses a device's connections and cuts the live one (needs `manage`).
#[utoipa::path(post, path = "/devices/{id}/disable", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = DeviceView), (status = 403, body = crate::error::ErrorBody)))]
async fn disable_device(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<DeviceView>> {
    set_enabled(state, caller, id, false).await
}

/// Gives a device a new secret (shown this once); its connection is cut (needs `manage`).
#[utoipa::path(post, path = "/devices/{id}/rotate-secret", tag = "devices",
    params(("id" = String, Path)),
    responses((status = 200, body = DeviceSecretView), (status = 403, body = crate::error::ErrorBody)))]
async fn rotate_device_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<DeviceSecretView>> {
    let (device, _) = device_for(
        &state,
        &caller,
        &id,
        Permission::Manage,
        "rotating a device's secret",
    )
    .await?;
    let secret = state
        .registry
        .rotate_device_secret(&caller.actor(), &device.id)
        .await?;
    Ok(axum::Json(DeviceSecretView {
        device: device.into(),
        secret,
    }))
}
