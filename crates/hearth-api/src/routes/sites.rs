//! `/api/v1/sites` (issue 20, docs/sites.md): the home hubs linked to this hub. Only the
//! admins and owners of a site's group (and hub administrators) see and change it: a
//! site's secret speaks for every device it holds. Anyone else gets 404 for a site, as
//! for one that does not exist.

use crate::caller::Caller;
use crate::error::{ApiResult, parse_id};
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::taken::{check_probes, taken};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hearth_model::{GroupId, Millis, Role, Site, SiteId};
use hearth_services::registry;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sites, create_site))
        .routes(routes!(get_site, update_site, remove_site))
        .routes(routes!(rotate_site_secret))
}

/// A site, with the ids of the devices it relays. Never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteView {
    pub id: String,
    pub group: String,
    pub name: String,
    pub enabled: bool,
    pub created_at_ms: Millis,
    /// When its link last connected.
    pub last_seen_ms: Option<Millis>,
    pub devices: Vec<String>,
    /// Its link as this hub sees it now (absent where the hub runs no relay).
    pub link: Option<SiteLinkView>,
    /// Devices its home hub created and pushed up that this hub did not take (the id
    /// is taken, or the application is not the site group's), newest first
    /// (docs/sites.md "Registry mirror").
    pub conflicts: Vec<crate::routes::bridge::MirrorConflictView>,
}

/// A site's link now (issue 20, docs/sites.md "Visible"); counts are since this hub
/// started.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteLinkView {
    /// Whether the site's link is connected now.
    pub connected: bool,
    /// Since when it is connected, or down; absent if it has not connected since this
    /// hub started.
    pub since_ms: Option<Millis>,
    /// When this hub last accepted a message from the link.
    pub last_message_ms: Option<Millis>,
    /// The home hub's receive time of the newest relayed message.
    pub last_home_ms: Option<Millis>,
    /// Now minus `last_home_ms`: how far the relay is behind the home hub (grows too
    /// while the home has nothing to send).
    pub lag_ms: Option<Millis>,
    /// Messages accepted from the link (reports and answers to commands).
    pub messages_total: u64,
}

/// A site with its secret, shown once (at creation or rotation).
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteSecretView {
    pub site: SiteView,
    /// The MQTT password of the site's link (user name: the site id, client id
    /// `site:{id}`).
    pub secret: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SiteListQuery {
    /// Only this group's sites.
    pub group: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSiteRequest {
    pub id: String,
    pub group: String,
    pub name: Option<String>,
}

/// What `PATCH /sites/{id}` changes; an absent field is left alone.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SitePatchRequest {
    /// `false` disconnects the link and refuses it until enabled again.
    pub enabled: Option<bool>,
}

async fn view(state: &AppState, site: Site) -> ApiResult<SiteView> {
    let devices = state.store.site_devices(&site.id).await?;
    let conflicts = state.store.site_conflicts(&site.id).await?;
    Ok(SiteView {
        id: site.id.to_string(),
        group: site.group.to_string(),
        name: site.name,
        enabled: site.enabled,
        created_at_ms: site.created_at_ms,
        last_seen_ms: site.last_seen_ms,
        devices: devices.iter().map(ToString::to_string).collect(),
        conflicts: conflicts.into_iter().map(Into::into).collect(),
        link: state.site_relay.as_ref().map(|relay| {
            let link = relay
                .links
                .status(site.id.as_str(), hearth_model::now_millis());
            SiteLinkView {
                connected: link.connected,
                since_ms: link.since_ms,
                last_message_ms: link.last_message_ms,
                last_home_ms: link.last_home_ms,
                lag_ms: link.lag_ms,
                messages_total: link.messages_total,
            }
        }),
    })
}

/// The site `id` if the caller administers its group; 404 otherwise (as if it did not
/// exist), 403 for a member or viewer of the group.
async fn managed_site(state: &AppState, caller: &Caller, id: &SiteId) -> ApiResult<Site> {
    let site = state.store.site(id).await?;
    match caller.role_in(&site.group) {
        None => Err(crate::error::ApiError::not_found(format!(
            "site {:?} not found",
            id.as_str()
        ))),
        Some(_) => {
            caller.require_role(&site.group, Role::Admin, "managing sites")?;
            Ok(site)
        }
    }
}

/// The sites of the groups the caller administers (`?group=`: one of them).
#[utoipa::path(get, path = "/sites", tag = "sites", params(SiteListQuery),
    responses((status = 200, body = Vec<SiteView>), (status = 403, body = crate::error::ErrorBody),
        (status = 404, description = "No such group that the caller is in", body = crate::error::ErrorBody)))]
async fn list_sites(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<SiteListQuery>,
) -> ApiResult<axum::Json<Vec<SiteView>>> {
    let group: Option<GroupId> = query
        .group
        .as_deref()
        .map(|group| parse_id("group", group))
        .transpose()?;
    if let Some(group) = &group {
        caller.require_role(group, Role::Admin, "listing a group's sites")?;
    }
    let mut views = Vec::new();
    for site in state.store.sites(group.as_ref()).await? {
        if caller
            .role_in(&site.group)
            .is_some_and(|role| role >= Role::Admin)
        {
            views.push(view(&state, site).await?);
        }
    }
    Ok(axum::Json(views))
}

/// Registers a site in a group (its owners and admins); returns its secret, shown this
/// once.
#[utoipa::path(post, path = "/sites", tag = "sites", request_body = NewSiteRequest,
    responses((status = 201, body = SiteSecretView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, description = "The group named in the body is not one the caller is in", body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody),
        (status = 422, description = "A value breaks a rule (e.g. the id's characters)", body = crate::error::ErrorBody),
        (status = 429, description = "Too many taken ids tried this minute (`routes::taken`); see Retry-After", body = crate::error::ErrorBody)))]
async fn create_site(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<NewSiteRequest>,
) -> ApiResult<(StatusCode, axum::Json<SiteSecretView>)> {
    let group: GroupId = parse_id("group", &request.group)?;
    caller.require_role(&group, Role::Admin, "creating sites")?;
    check_probes(&state, &caller)?;
    let id: SiteId = registry::parse_id("id", &request.id)?;
    // A taken id answers as every taken id does (routes/taken.rs): no group, no name.
    let (site, secret) = state
        .registry
        .add_site(&caller.actor(), &id, &group, request.name.as_deref())
        .await
        .map_err(|error| taken(&state, &caller, "site", &request.id, error))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(SiteSecretView {
            site: view(&state, site).await?,
            secret,
        }),
    ))
}

/// One site with its devices.
#[utoipa::path(get, path = "/sites/{id}", tag = "sites", params(("id" = String, Path)),
    responses((status = 200, body = SiteView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn get_site(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<SiteView>> {
    let id: SiteId = parse_id("id", &id)?;
    let site = managed_site(&state, &caller, &id).await?;
    Ok(axum::Json(view(&state, site).await?))
}

/// Enables or disables a site (disabling cuts its link).
#[utoipa::path(patch, path = "/sites/{id}", tag = "sites", params(("id" = String, Path)),
    request_body = SitePatchRequest,
    responses((status = 200, body = SiteView), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn update_site(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<SitePatchRequest>,
) -> ApiResult<axum::Json<SiteView>> {
    let id: SiteId = parse_id("id", &id)?;
    managed_site(&state, &caller, &id).await?;
    if let Some(enabled) = patch.enabled {
        state
            .registry
            .set_site_enabled(&caller.actor(), &id, enabled)
            .await?;
    }
    let site = state.store.site(&id).await?;
    Ok(axum::Json(view(&state, site).await?))
}

/// Removes a site: its link is cut, its devices stay, in no site.
#[utoipa::path(delete, path = "/sites/{id}", tag = "sites", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn remove_site(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: SiteId = parse_id("id", &id)?;
    managed_site(&state, &caller, &id).await?;
    state.registry.remove_site(&caller.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives the site a new secret (shown this once); its link is cut.
#[utoipa::path(post, path = "/sites/{id}/rotate-secret", tag = "sites", params(("id" = String, Path)),
    responses((status = 200, body = SiteSecretView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn rotate_site_secret(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<SiteSecretView>> {
    let id: SiteId = parse_id("id", &id)?;
    managed_site(&state, &caller, &id).await?;
    let secret = state
        .registry
        .rotate_site_secret(&caller.actor(), &id)
        .await?;
    let site = state.store.site(&id).await?;
    Ok(axum::Json(SiteSecretView {
        site: view(&state, site).await?,
        secret,
    }))
}
