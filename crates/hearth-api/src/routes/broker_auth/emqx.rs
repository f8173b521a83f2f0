//! EMQX 5 (open source up to 5.8) HTTP authentication and authorization.
//!
//! Formats as documented by EMQX (read for this module, nothing copied):
//! - authentication: <https://docs.emqx.com/en/emqx/v5.8/access-control/authn/http.html>
//!   (a JSON body from the configured template; answer 200 with `result` `allow`,
//!   `deny` or `ignore`, `is_superuser`, since 5.8 optionally `expire_at` in Unix
//!   seconds and an `acl` list; a 4xx/5xx means `ignore`);
//! - the `acl` list: <https://docs.emqx.com/en/emqx/latest/access-control/authn/acl.html>
//!   (rules `permission`, `action`, `topic`, checked before every authorizer; a client
//!   action no rule matches goes on to the authorizers);
//! - authorization: <https://docs.emqx.com/en/emqx/v5.2/access-control/authz/http.html>
//!   (placeholders `${username}`, `${clientid}`, `${action}` = `publish` | `subscribe`,
//!   `${topic}`, `${qos}`, `${retain}`; answer 200 with `result` `allow`, `deny` or
//!   `ignore`; any other status means `ignore`).
//!
//! Hearth answers `allow` or `deny`, never `ignore`: a client Hearth does not know is
//! denied, so that EMQX's `authorization.no_match` never decides for Hearth's topics
//! (docs/scale.md still tells to set it to `deny`, for when the hub cannot be reached).
//! `is_superuser` is always false: administrators are checked like everyone (the hub's
//! own topics stay the hub's). The `acl` list holds only grants the rules give for the
//! connection's whole life (a device's reports and command filter, a site's command
//! filter), so EMQX asks less often and never gets a wider right than by asking.

use super::{Broker, parse_body, peer_ip, unshared, username};
use crate::error::ApiResult;
use crate::seams::{BrokerAccess, BrokerLogin};
use crate::state::AppState;
use axum::body::Bytes;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(emqx_authn))
        .routes(routes!(emqx_authz))
}

/// What the authentication template sends (docs/scale.md has the template).
#[derive(Debug, Deserialize, ToSchema)]
pub struct EmqxAuthnRequest {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    pub clientid: String,
    /// The client's address (`${peerhost}`): failed logins are counted per address.
    #[serde(default)]
    pub peerhost: Option<String>,
}

/// One rule of the `acl` list: always a grant.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmqxAclRule {
    /// Always `allow`.
    pub permission: String,
    /// `publish` or `subscribe`.
    pub action: String,
    pub topic: String,
}

/// The authentication answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmqxAuthnAnswer {
    /// `allow` or `deny`.
    pub result: String,
    /// Always false: every action is checked.
    pub is_superuser: bool,
    /// A browser token's expiry (Unix seconds): EMQX 5.8 disconnects the client then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expire_at: Option<i64>,
    /// Grants for the connection's life (EMQX 5.8; older versions ignore it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub acl: Vec<EmqxAclRule>,
}

/// EMQX HTTP authentication: a CONNECT checked against the registry.
#[utoipa::path(post, path = "/broker/emqx/authn", tag = "broker",
    request_body = EmqxAuthnRequest,
    params(("secret" = Option<String>, Query, description = "the broker secret, unless sent as `Authorization: Bearer`")),
    responses((status = 200, body = EmqxAuthnAnswer), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody)))]
async fn emqx_authn(
    Broker(authority): Broker,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<EmqxAuthnAnswer>> {
    let request: EmqxAuthnRequest = parse_body(&headers, &body)?;
    let login = BrokerLogin {
        username: username(&request.username).map(str::to_owned),
        password: request.password.map(String::into_bytes),
        client_id: request.clientid,
        peer: peer_ip(request.peerhost.as_deref()),
    };
    let answer = match authority.login(login).await {
        Ok(session) => EmqxAuthnAnswer {
            result: "allow".into(),
            is_superuser: false,
            expire_at: session.expires_at_ms.map(|ms| ms / 1000),
            acl: session
                .preset
                .into_iter()
                .map(|(publish, topic)| EmqxAclRule {
                    permission: "allow".into(),
                    action: if publish { "publish" } else { "subscribe" }.into(),
                    topic,
                })
                .collect(),
        },
        Err(_) => EmqxAuthnAnswer {
            result: "deny".into(),
            is_superuser: false,
            expire_at: None,
            acl: Vec::new(),
        },
    };
    Ok(axum::Json(answer))
}

/// What the authorization template sends (docs/scale.md has the template). `qos` and
/// `retain` are read for the log only: a retained message and a will are publishes like
/// any other, under the same rule.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EmqxAuthzRequest {
    #[serde(default)]
    pub username: Option<String>,
    pub clientid: String,
    /// `publish` or `subscribe`.
    pub action: String,
    /// A topic name (publish) or filter (subscribe, `$share/{group}/` allowed).
    pub topic: String,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub qos: Option<serde_json::Value>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub retain: Option<serde_json::Value>,
}

/// The authorization answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmqxAuthzAnswer {
    /// `allow` or `deny`.
    pub result: String,
}

/// EMQX HTTP authorization: one publish or subscribe of a connected client.
#[utoipa::path(post, path = "/broker/emqx/authz", tag = "broker",
    request_body = EmqxAuthzRequest,
    params(("secret" = Option<String>, Query, description = "the broker secret, unless sent as `Authorization: Bearer`")),
    responses((status = 200, body = EmqxAuthzAnswer), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody)))]
async fn emqx_authz(
    Broker(authority): Broker,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<EmqxAuthzAnswer>> {
    let request: EmqxAuthzRequest = parse_body(&headers, &body)?;
    let access = match request.action.as_str() {
        "publish" => Some(BrokerAccess::Publish),
        "subscribe" => Some(BrokerAccess::Subscribe),
        _ => None,
    };
    let allowed = access.is_some_and(|access| {
        authority.allows(
            username(&request.username),
            &request.clientid,
            access,
            unshared(&request.topic),
        )
    });
    tracing::debug!(client_id = %request.clientid, action = %request.action, topic = %request.topic,
        qos = ?request.qos, retain = ?request.retain, allowed, "EMQX authorization");
    Ok(axum::Json(EmqxAuthzAnswer {
        result: if allowed { "allow" } else { "deny" }.into(),
    }))
}
