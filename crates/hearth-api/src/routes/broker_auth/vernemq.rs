//! VerneMQ's webhooks (`vmq_webhooks`): `auth_on_register`, `auth_on_publish`,
//! `auth_on_subscribe`, and the `_m5` forms VerneMQ calls for MQTT 5 clients (Hearth's
//! own devices speak MQTT 5), each registered with its endpoint
//! `/api/v1/broker/vernemq/{hook}?secret=...`.
//!
//! Format as documented by VerneMQ (read for this module, nothing copied):
//! <https://docs.vernemq.com/plugin-development/webhookplugins> (vmq-docs
//! `plugindevelopment/webhookplugins.md`): a POST with header `vernemq-hook` and a JSON
//! body (`username`, `password`, `client_id`, `mountpoint`, `peer_addr`, `topic`, `qos`,
//! `retain`, the payload base64, `topics` as `[{"topic", "qos"}]`); the answer 200 with
//! `{"result": "ok"}`, `{"result": "next"}` or `{"result": {"error": "not_allowed"}}`;
//! for a subscription, rewritten `topics` (v3: top level; m5: under `modifiers`) where a
//! `qos` of 128 (v3) or 135 (m5, Not authorized) refuses that one filter.
//!
//! Hearth never answers `next`: it is the registry, and a client it does not know is
//! refused. A subscription is granted whole when every filter passes; otherwise each
//! filter comes back with its requested QoS or the refusal code, so that the SUBACK
//! says which. A non-empty mountpoint is refused (Hearth's topics live at the root).
//! The payload is never read.

use super::{Broker, parse_body, peer_ip, unshared, username};
use crate::error::{ApiError, ApiResult};
use crate::routes::automations::object_schema;
use crate::seams::{BrokerAccess, BrokerLogin};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A refused subscription filter's QoS in a v3 `auth_on_subscribe` answer (0x80).
const REFUSED_V3: u8 = 128;
/// The same in an `auth_on_subscribe_m5` answer: 0x87 Not authorized.
const REFUSED_M5: u8 = 135;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(vernemq_hook))
}

/// One subscription filter of `auth_on_subscribe`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VmqTopic {
    pub topic: String,
    pub qos: u8,
}

/// The body of every auth hook (fields a hook does not carry are absent).
#[derive(Debug, Deserialize, ToSchema)]
pub struct VmqRequest {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    pub client_id: String,
    #[serde(default)]
    pub mountpoint: Option<String>,
    #[serde(default)]
    pub peer_addr: Option<String>,
    /// `auth_on_publish`: the topic name (a will and a retained message too).
    #[serde(default)]
    pub topic: Option<String>,
    /// `auth_on_subscribe`: the filters and their requested QoS.
    #[serde(default)]
    pub topics: Option<Vec<VmqTopic>>,
}

/// The hook's answer.
pub struct VmqAnswer;
object_schema!(
    VmqAnswer,
    "`{\"result\": \"ok\"}`, `{\"result\": {\"error\": \"not_allowed\"}}`, or for a \
     subscription with refused filters `{\"result\": \"ok\", \"topics\": [...]}` (v3, QoS 128 \
     refused) / `{\"result\": \"ok\", \"modifiers\": {\"topics\": [...]}}` (m5, QoS 135 refused)."
);

/// A VerneMQ auth hook: `auth_on_register`, `auth_on_publish`, `auth_on_subscribe` or
/// their `_m5` forms.
#[utoipa::path(post, path = "/broker/vernemq/{hook}", tag = "broker",
    request_body = VmqRequest,
    params(("hook" = String, Path, description = "auth_on_register, auth_on_publish, auth_on_subscribe, or the same with _m5"),
        ("secret" = String, Query, description = "the broker secret")),
    responses((status = 200, body = VmqAnswer), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody)))]
async fn vernemq_hook(
    Broker(authority): Broker,
    Path(hook): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    let (name, m5) = match hook.strip_suffix("_m5") {
        Some(name) => (name, true),
        None => (hook.as_str(), false),
    };
    if !matches!(
        name,
        "auth_on_register" | "auth_on_publish" | "auth_on_subscribe"
    ) {
        return Err(ApiError::not_found(format!("no VerneMQ hook {hook}")));
    }
    let request: VmqRequest = parse_body(&headers, &body)?;
    let refused = || json!({"result": {"error": "not_allowed"}});
    let ok = || json!({"result": "ok"});
    if request
        .mountpoint
        .as_deref()
        .is_some_and(|mountpoint| !mountpoint.is_empty())
    {
        return Ok(axum::Json(refused()));
    }
    let user = username(&request.username);
    let answer =
        match name {
            "auth_on_register" => {
                let login = BrokerLogin {
                    username: user.map(str::to_owned),
                    password: request.password.map(String::into_bytes),
                    client_id: request.client_id.clone(),
                    peer: peer_ip(request.peer_addr.as_deref()),
                };
                match authority.login(login).await {
                    Ok(_) => ok(),
                    Err(_) => refused(),
                }
            }
            "auth_on_publish" => {
                let topic = request.topic.as_deref().ok_or_else(|| {
                    ApiError::bad_request("topic", "auth_on_publish needs a topic")
                })?;
                if authority.allows(user, &request.client_id, BrokerAccess::Publish, topic) {
                    ok()
                } else {
                    refused()
                }
            }
            _ => {
                let topics = request.topics.as_deref().ok_or_else(|| {
                    ApiError::bad_request("topics", "auth_on_subscribe needs topics")
                })?;
                let granted: Vec<bool> = topics
                    .iter()
                    .map(|wanted| {
                        authority.allows(
                            user,
                            &request.client_id,
                            BrokerAccess::Subscribe,
                            unshared(&wanted.topic),
                        )
                    })
                    .collect();
                let all_granted = granted.iter().all(|granted| *granted);
                let verdicts: Vec<Value> = topics
                    .iter()
                    .zip(&granted)
                    .map(|(wanted, granted)| {
                        let qos = match (granted, m5) {
                            (true, _) => wanted.qos,
                            (false, false) => REFUSED_V3,
                            (false, true) => REFUSED_M5,
                        };
                        json!({"topic": wanted.topic, "qos": qos})
                    })
                    .collect();
                match (all_granted, m5) {
                    (true, _) => ok(),
                    (false, false) => json!({"result": "ok", "topics": verdicts}),
                    (false, true) => json!({"result": "ok", "modifiers": {"topics": verdicts}}),
                }
            }
        };
    Ok(axum::Json(answer))
}
