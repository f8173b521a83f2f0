//! `/api/v1/alert-rules` and `/api/v1/alerts` (issue 15). Members of a group read its
//! rules and alerts; its `admin`s and `owner`s change rules; members (not viewers)
//! acknowledge and clear alerts. Other groups' ids answer 404, as unknown ones do.
//! Webhook secrets are never shown: a rule's view says only that one is set.

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult, parse_id};
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::automations::{
    GroupQuery, object_schema, require_reader, require_writer, visible_groups,
};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hearth_model::{
    AlertRule, AlertRuleSpec, AlertState, ChannelTarget, DeviceId, GroupId, Role, Severity,
};
use hearth_services::alerts::Alerts;
use hearth_store::AlertFilter;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(get_rule, update_rule, remove_rule))
        .routes(routes!(list_alerts))
        .routes(routes!(get_alert))
        .routes(routes!(acknowledge))
        .routes(routes!(clear))
}

fn service(state: &AppState) -> Alerts {
    Alerts::new(state.store.clone())
}

/// The document a person sends (`hearth_model::AlertRuleSpec`).
pub struct AlertRuleDocument;
object_schema!(
    AlertRuleDocument,
    "An alert rule: `group`, `name`, `severity` (critical, major, minor, warning), \
     `condition` (`{\"type\": \"reading\"|\"offline\"|\"event\"|\"battery\"|\"command\", ...}`), \
     optional `devices`/`kind`/`app`, `message` template, `cooldown_secs` (default 900), \
     `notify` (`[{\"channel\": \"webhook\", \"url\", \"secret\"}, {\"channel\": \"email\"}, ...]`)."
);

/// A stored rule, secrets hidden.
#[derive(Serialize)]
#[serde(transparent)]
pub struct AlertRuleView(pub Value);
object_schema!(
    AlertRuleView,
    "A stored rule: the document's fields plus `id`, `created_by`, `created_at_ms`, \
     `updated_at_ms`; a webhook's `secret` is replaced by `secret_set: true`."
);

fn rule_view(rule: &AlertRule) -> AlertRuleView {
    let mut value = serde_json::to_value(rule).unwrap_or(Value::Null);
    if let Some(targets) = value.get_mut("notify").and_then(Value::as_array_mut) {
        for (target, original) in targets.iter_mut().zip(&rule.spec.notify) {
            if let (Some(object), ChannelTarget::Webhook { secret, .. }) =
                (target.as_object_mut(), original)
            {
                object.remove("secret");
                object.insert("secret_set".into(), json!(secret.is_some()));
            }
        }
    }
    AlertRuleView(value)
}

/// An alert (`hearth_model::Alert`), with its notifications on `GET /alerts/{id}`.
#[derive(Serialize)]
#[serde(transparent)]
pub struct AlertView(pub Value);
object_schema!(
    AlertView,
    "An alert: `id`, `rule`, `rule_name`, `group`, `device`, `severity`, `state` (open, \
     acknowledged, cleared), `message`, `value`, `opened_at_ms`, `last_seen_at_ms`, \
     `repeats`, `notified_at_ms`, `acknowledged_by`/`_at_ms`, `cleared_by`/`_at_ms`; on \
     `GET /alerts/{id}` also `notifications`, each with its attempts (destinations' \
     secrets hidden)."
);

/// Rules of a group, or of every group the caller is in.
#[utoipa::path(get, path = "/alert-rules", tag = "alerts", params(GroupQuery),
    responses((status = 200, body = Vec<AlertRuleView>), (status = 404, body = crate::error::ErrorBody)))]
async fn list_rules(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<GroupQuery>,
) -> ApiResult<axum::Json<Vec<AlertRuleView>>> {
    let group = visible_groups(&caller, query.group)?;
    let rules = service(&state).list(group.as_ref()).await?;
    Ok(axum::Json(
        rules
            .iter()
            .filter(|rule| caller.role_in(&rule.spec.group).is_some())
            .map(rule_view)
            .collect(),
    ))
}

/// Creates a rule (group `admin` or `owner`); 422 naming the field for a bad one.
#[utoipa::path(post, path = "/alert-rules", tag = "alerts", request_body = AlertRuleDocument,
    responses((status = 201, body = AlertRuleView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_rule(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(spec): ApiJson<AlertRuleSpec>,
) -> ApiResult<(StatusCode, axum::Json<AlertRuleView>)> {
    caller.require_role(&spec.group, Role::Admin, "creating alert rules")?;
    let rule = service(&state).create(&caller.actor(), spec).await?;
    reload(&state).await;
    Ok((StatusCode::CREATED, axum::Json(rule_view(&rule))))
}

#[utoipa::path(get, path = "/alert-rules/{id}", tag = "alerts", params(("id" = String, Path)),
    responses((status = 200, body = AlertRuleView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AlertRuleView>> {
    let rule = service(&state).get(&id).await?;
    require_reader(&caller, &rule.spec.group, "alert rule", &id)?;
    Ok(axum::Json(rule_view(&rule)))
}

/// Replaces a rule (group `admin` or `owner`); a webhook sent without its secret keeps
/// the one stored for its URL.
#[utoipa::path(put, path = "/alert-rules/{id}", tag = "alerts", params(("id" = String, Path)),
    request_body = AlertRuleDocument,
    responses((status = 200, body = AlertRuleView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn update_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(spec): ApiJson<AlertRuleSpec>,
) -> ApiResult<axum::Json<AlertRuleView>> {
    let alerts = service(&state);
    let rule = alerts.get(&id).await?;
    require_writer(
        &caller,
        &rule.spec.group,
        ("alert rule", &id),
        "changing alert rules",
    )?;
    let rule = alerts.update(&caller.actor(), &id, spec).await?;
    reload(&state).await;
    Ok(axum::Json(rule_view(&rule)))
}

/// Removes a rule with its alerts (group `admin` or `owner`).
#[utoipa::path(delete, path = "/alert-rules/{id}", tag = "alerts", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn remove_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let alerts = service(&state);
    let rule = alerts.get(&id).await?;
    require_writer(
        &caller,
        &rule.spec.group,
        ("alert rule", &id),
        "removing alert rules",
    )?;
    alerts.remove(&caller.actor(), &id).await?;
    reload(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn reload(state: &AppState) {
    if let Some(desk) = &state.alert_desk {
        desk.reload().await;
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// Only this group's (the caller must be a member).
    pub group: Option<String>,
    /// Comma-separated states: `open`, `acknowledged`, `cleared` (default: all).
    pub state: Option<String>,
    /// `critical`, `major`, `minor` or `warning`.
    pub severity: Option<String>,
    pub device: Option<String>,
    pub rule: Option<String>,
    /// Opened at or after (ms).
    pub since_ms: Option<i64>,
    /// At most this many, newest first (1..=500, default 100).
    pub limit: Option<u32>,
}

/// Alerts, newest first, of one group or of every group the caller is in.
#[utoipa::path(get, path = "/alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, body = Vec<AlertView>), (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AlertQuery>,
) -> ApiResult<axum::Json<Vec<AlertView>>> {
    let groups: Option<Vec<GroupId>> = match visible_groups(&caller, query.group)? {
        Some(group) => Some(vec![group]),
        None if caller.is_admin() => None,
        None => Some(caller.roles.keys().cloned().collect()),
    };
    let states = match &query.state {
        Some(text) => text
            .split(',')
            .map(|word| {
                AlertState::parse(word.trim())
                    .ok_or_else(|| ApiError::invalid("state", "open, acknowledged and/or cleared"))
            })
            .collect::<ApiResult<Vec<_>>>()?,
        None => Vec::new(),
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "between 1 and 500"));
    }
    let severity = query
        .severity
        .as_deref()
        .map(|text| {
            Severity::ALL
                .into_iter()
                .find(|severity| severity.as_str() == text)
                .ok_or_else(|| ApiError::invalid("severity", "critical, major, minor or warning"))
        })
        .transpose()?;
    let filter = AlertFilter {
        groups,
        states,
        severity,
        device: query
            .device
            .as_deref()
            .map(|device| parse_id::<DeviceId>("device", device))
            .transpose()?,
        rule: query.rule,
        since_ms: query.since_ms,
        limit: Some(limit),
    };
    let alerts = state.store.alerts(&filter).await?;
    Ok(axum::Json(
        alerts
            .iter()
            .map(|alert| AlertView(serde_json::to_value(alert).unwrap_or(Value::Null)))
            .collect(),
    ))
}

/// An alert with its notifications and their attempts.
#[utoipa::path(get, path = "/alerts/{id}", tag = "alerts", params(("id" = String, Path)),
    responses((status = 200, body = AlertView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_alert(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AlertView>> {
    let alert = state.store.alert(&id).await?;
    require_reader(&caller, &alert.group, "alert", &id)?;
    let notifications: Vec<Value> = state
        .store
        .notifications_of(&id)
        .await?
        .into_iter()
        .map(|notification| {
            let mut target = notification.target.clone();
            if let Some(object) = target.as_object_mut() {
                object.remove("secret");
                object.remove("keys");
                // A named webhook's URL is hearth.toml's, not the group's (a chat
                // service's URL is itself a credential): shown by name, as in the rule.
                if notification.channel == "webhook" && object.contains_key("name") {
                    object.remove("url");
                }
                // A person's own channel (their e-mail address, their browser's push
                // endpoint, from their preferences) is theirs: the group sees whom.
                if object.contains_key("user") {
                    object.retain(|key, _| key == "user");
                }
            }
            json!({"id": notification.id, "channel": notification.channel,
                "event": notification.event, "target": target,
                "state": notification.state.as_str(), "attempts": notification.attempts,
                "created_at_ms": notification.created_at_ms})
        })
        .collect();
    let mut view = serde_json::to_value(&alert).unwrap_or(Value::Null);
    view["notifications"] = Value::Array(notifications);
    Ok(axum::Json(AlertView(view)))
}

/// The alert's group, if the caller may act on its alerts (a member or more); 404 for
/// another group's, 403 for a viewer.
async fn actionable(state: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    let alert = state.store.alert(id).await?;
    require_reader(caller, &alert.group, "alert", id)?;
    caller.require_role(&alert.group, Role::Member, "acting on alerts")?;
    Ok(())
}

fn desk(state: &AppState) -> ApiResult<&std::sync::Arc<dyn crate::seams::AlertDesk>> {
    state
        .alert_desk
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("alerts are not running on this hub"))
}

/// Acknowledges an alert (a member or more); it stays active until it clears.
#[utoipa::path(post, path = "/alerts/{id}/acknowledge", tag = "alerts", params(("id" = String, Path)),
    responses((status = 200, body = AlertView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AlertView>> {
    actionable(&state, &caller, &id).await?;
    let alert = desk(&state)?.acknowledge(&id, &caller.user.name).await?;
    Ok(axum::Json(AlertView(
        serde_json::to_value(&alert).unwrap_or(Value::Null),
    )))
}

/// Clears an alert (a member or more).
#[utoipa::path(post, path = "/alerts/{id}/clear", tag = "alerts", params(("id" = String, Path)),
    responses((status = 200, body = AlertView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn clear(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AlertView>> {
    actionable(&state, &caller, &id).await?;
    let alert = desk(&state)?.clear(&id, &caller.user.name).await?;
    Ok(axum::Json(AlertView(
        serde_json::to_value(&alert).unwrap_or(Value::Null),
    )))
}
