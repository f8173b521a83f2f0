//! Claiming devices (issue 23, docs/onboarding.md "Claiming a device"):
//! `/api/v1/unclaimed-devices` (administrators pre-register), `/devices/{id}/claim-code`
//! and `/devices/{id}/label.svg` (administrators: a new code, the QR label),
//! `/claims` (a person claims), `/devices/{id}/claim` (owner and state) and
//! `/devices/{id}/unclaim` (the owner or a group admin).
//!
//! Who may claim: a member, admin or owner of the target group (not a viewer, who may
//! not add anything); a group they are not in is the usual 404. Every refusal about the
//! device itself (unknown id, wrong code, spent code, a device that is not waiting) is
//! the same 404 with the same text, and counts against the per-person and per-device
//! limits (`hearth_services::registry::CLAIM_FAILURES_PER_MINUTE`), so that guessing
//! neither finds codes nor learns which ids exist.

use crate::caller::Caller;
use crate::dto::DeviceView;
use crate::error::{ApiError, ApiResult, parse_id};
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::devices::device_for;
use crate::security::RequestIsHttps;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use hearth_model::{DeviceId, GroupId, Millis, Permission, Role};
use hearth_services::registry::{self, ClaimError, DeviceSpec};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_unclaimed))
        .routes(routes!(new_claim_code))
        .routes(routes!(label_svg))
        .routes(routes!(claim))
        .routes(routes!(claim_state))
        .routes(routes!(unclaim))
}

/// The URL a device's label holds: the web app's claim page with the id and the code.
pub fn claim_url(base: &str, device: &DeviceId, code: &str) -> String {
    // Ids and codes are letters, digits, '-' and '_': nothing to escape.
    format!("{}/claim?d={device}&c={code}", base.trim_end_matches('/'))
}

/// The claim URL as a QR code, an SVG image (black on white, 4 modules of quiet zone).
pub fn qr_svg(url: &str) -> String {
    let code = qrcode::QrCode::with_error_correction_level(url, qrcode::EcLevel::M)
        .expect("a claim URL fits in a QR code");
    code.render::<qrcode::render::svg::Color>()
        .min_dimensions(256, 256)
        .build()
}

/// The hub's address as the caller's browser reached it (its `Host`, or a trusted
/// proxy's `X-Forwarded-Host`; `https` when the request came over HTTPS).
fn base_url(state: &AppState, headers: &HeaderMap, https: RequestIsHttps) -> String {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let forwarded = state
        .config
        .trust_forwarded_for
        .then(|| text("x-forwarded-host"))
        .flatten()
        .and_then(|value| value.split(',').next())
        .map(str::trim);
    let host = forwarded.or_else(|| text("host")).unwrap_or("localhost");
    let scheme = if https.0 { "https" } else { "http" };
    format!("{scheme}://{host}")
}

/// Whether `caller` shares a device they own: a grant of `view` or `control` (never
/// `manage`) to someone else on the caller's own claimed-devices application of a group
/// where the caller may still add devices (member or more), or the removal of such a
/// grant (`permission` `None`). Anything else on grants stays the group admins'.
pub(crate) fn owner_shares(
    caller: &Caller,
    app: &hearth_model::Application,
    user: &hearth_model::UserName,
    permission: Option<Permission>,
) -> bool {
    app.id == registry::claim_app_id(&app.group, &caller.user.name)
        && user != &caller.user.name
        && permission != Some(Permission::Manage)
        && caller.role_in(&app.group) >= Some(Role::Member)
}

fn claim_refusal(error: ClaimError) -> ApiError {
    match error {
        ClaimError::NoSuchClaim => ApiError::not_found(ClaimError::NoSuchClaim.to_string()),
        ClaimError::TooMany(wait) => ApiError::RateLimited {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        },
        ClaimError::Registry(error) => error.into(),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUnclaimedDevice {
    /// Letters, digits, `-` and `_`: the device's MQTT client id and user name.
    pub id: String,
    pub name: Option<String>,
    pub kind: Option<String>,
    pub firmware: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub heartbeat_timeout_secs: Option<u32>,
}

/// A device waiting to be claimed, with what is shown only once.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnclaimedView {
    pub device: DeviceView,
    /// The MQTT password of the device (shown once).
    pub secret: String,
    /// The one-time claim code (shown once; only its hash is kept).
    pub code: String,
    /// What the label's QR code holds: `<hub>/claim?d=<id>&c=<code>`.
    pub claim_url: String,
}

/// Registers a device unclaimed (hub administrators: makers and installers): it waits
/// in the holding application until someone claims it with its code.
#[utoipa::path(post, path = "/unclaimed-devices", tag = "claims", request_body = NewUnclaimedDevice,
    responses((status = 201, body = UnclaimedView), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_unclaimed(
    State(state): State<AppState>,
    caller: Caller,
    https: RequestIsHttps,
    headers: HeaderMap,
    ApiJson(request): ApiJson<NewUnclaimedDevice>,
) -> ApiResult<(StatusCode, axum::Json<UnclaimedView>)> {
    caller.require_admin("registering unclaimed devices")?;
    let id: DeviceId = registry::parse_id("id", &request.id)?;
    let spec = DeviceSpec {
        name: request.name,
        kind: request.kind,
        firmware: request.firmware,
        metadata: request.metadata,
        heartbeat_timeout_secs: request.heartbeat_timeout_secs,
        ..DeviceSpec::new(id.clone())
    };
    let made = state
        .registry
        .add_unclaimed_device(&caller.actor(), spec)
        .await?;
    let claim_url = claim_url(&base_url(&state, &headers, https), &id, &made.code);
    Ok((
        StatusCode::CREATED,
        axum::Json(UnclaimedView {
            device: state.device_view(made.device),
            secret: made.secret,
            code: made.code,
            claim_url,
        }),
    ))
}

/// A new claim code and its URL (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimCodeView {
    pub code: String,
    pub claim_url: String,
}

/// Makes a new claim code for a device waiting to be claimed (hub administrators; a
/// lost label): the previous code stops working.
#[utoipa::path(post, path = "/devices/{id}/claim-code", tag = "claims", params(("id" = String, Path)),
    responses((status = 200, body = ClaimCodeView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn new_claim_code(
    State(state): State<AppState>,
    caller: Caller,
    https: RequestIsHttps,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ClaimCodeView>> {
    caller.require_admin("making claim codes")?;
    let id: DeviceId = parse_id("id", &id)?;
    let code = state.registry.new_claim_code(&caller.actor(), &id).await?;
    Ok(axum::Json(ClaimCodeView {
        claim_url: claim_url(&base_url(&state, &headers, https), &id, &code),
        code,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LabelQuery {
    /// The device's current claim code (from registering it or `claim-code`).
    pub code: String,
}

/// The device's label: its claim URL as a QR code (SVG), for hub administrators. It
/// changes nothing (a GET), so it takes the code, which the hub cannot tell from its
/// hash; a code that is not the device's current one is 404.
#[utoipa::path(get, path = "/devices/{id}/label.svg", tag = "claims",
    params(("id" = String, Path), LabelQuery),
    responses((status = 200, content_type = "image/svg+xml", body = String),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn label_svg(
    State(state): State<AppState>,
    caller: Caller,
    https: RequestIsHttps,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<LabelQuery>,
) -> ApiResult<impl IntoResponse> {
    caller.require_admin("printing claim labels")?;
    let id: DeviceId = parse_id("id", &id)?;
    let current = state
        .registry
        .claim_state(&id)
        .await
        .ok()
        .and_then(|claim| claim.code_hash)
        .is_some_and(|hash| hearth_services::secret::verify(query.code.as_bytes(), &hash));
    if !current {
        return Err(ApiError::not_found(ClaimError::NoSuchClaim.to_string()));
    }
    let url = claim_url(&base_url(&state, &headers, https), &id, &query.code);
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        qr_svg(&url),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// The device id (the label's `d`).
    pub device: String,
    /// The claim code (the label's `c`).
    pub code: String,
    /// The group it joins: the caller must be its member, admin or owner.
    pub group: String,
    pub room: Option<String>,
}

/// Claims a device with its code into one of the caller's groups: it moves into the
/// caller's claimed-devices application of that group, the caller becomes its owner,
/// and the code is spent. 404 (one text) for an unknown device, a wrong or spent code;
/// 429 past the per-person or per-device limit of failed claims.
#[utoipa::path(post, path = "/claims", tag = "claims", request_body = ClaimRequest,
    responses((status = 200, body = DeviceView), (status = 403, description = "A viewer of the group", body = crate::error::ErrorBody),
        (status = 404, description = "No such claim (or a group the caller is not in)", body = crate::error::ErrorBody),
        (status = 422, description = "The room is too long or holds control characters", body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody)))]
async fn claim(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<ClaimRequest>,
) -> ApiResult<axum::Json<DeviceView>> {
    let group: GroupId = parse_id("group", &request.group)?;
    if group.as_str() == registry::HOLDING {
        return Err(ApiError::bad_request(
            "group",
            "group: choose one of your own groups",
        ));
    }
    caller.require_role(&group, Role::Member, "claiming a device")?;
    // A malformed id is no more telling than an unknown one.
    let Ok(device) = request.device.parse::<DeviceId>() else {
        return Err(ApiError::not_found(ClaimError::NoSuchClaim.to_string()));
    };
    let device = state
        .registry
        .claim_device(
            &caller.actor(),
            &caller.user.name,
            &device,
            request.code.trim(),
            &group,
            request.room.as_deref(),
        )
        .await
        .map_err(claim_refusal)?;
    Ok(axum::Json(state.device_view(device)))
}

/// A device's claim state, for whoever can see the device.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimStateView {
    /// Waiting to be claimed (in the holding application).
    pub unclaimed: bool,
    /// The person who claimed it.
    pub owner: Option<String>,
    pub claimed_at_ms: Option<Millis>,
    /// Whether the caller may unclaim it (its owner, a group owner or admin, a hub
    /// administrator: `manage` on its application).
    pub can_unclaim: bool,
}

/// Who owns the device and whether it waits to be claimed (needs `view`).
#[utoipa::path(get, path = "/devices/{id}/claim", tag = "claims", params(("id" = String, Path)),
    responses((status = 200, body = ClaimStateView), (status = 404, body = crate::error::ErrorBody)))]
async fn claim_state(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ClaimStateView>> {
    let (device, app) =
        device_for(&state, &caller, &id, Permission::View, "reading a device").await?;
    let claim = state.registry.claim_state(&device.id).await?;
    Ok(axum::Json(ClaimStateView {
        unclaimed: claim.unclaimed(),
        owner: claim.owner.map(|owner| owner.to_string()),
        claimed_at_ms: claim.claimed_at_ms,
        can_unclaim: caller.permission_on(&app) == Some(Permission::Manage),
    }))
}

/// What unclaiming returns, shown once: the device's new secret (its old one no longer
/// logs in) and its new claim code, for whoever has the device next.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnclaimedAgainView {
    pub id: String,
    pub secret: String,
    pub code: String,
    pub claim_url: String,
}

/// Unclaims a device (its owner, who manages their claimed-devices application, a
/// group owner or admin, or a hub administrator): it returns to the holding
/// application without owner or room, with a new claim code and a new secret, and is
/// disconnected at once. To transfer it, give the next household the new code.
#[utoipa::path(post, path = "/devices/{id}/unclaim", tag = "claims", params(("id" = String, Path)),
    responses((status = 200, body = UnclaimedAgainView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn unclaim(
    State(state): State<AppState>,
    caller: Caller,
    https: RequestIsHttps,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<UnclaimedAgainView>> {
    let (device, _) = device_for(
        &state,
        &caller,
        &id,
        Permission::Manage,
        "unclaiming a device",
    )
    .await?;
    let (secret, code) = state
        .registry
        .unclaim_device(&caller.actor(), &device.id)
        .await?;
    Ok(axum::Json(UnclaimedAgainView {
        claim_url: claim_url(&base_url(&state, &headers, https), &device.id, &code),
        id: device.id.to_string(),
        secret,
        code,
    }))
}
