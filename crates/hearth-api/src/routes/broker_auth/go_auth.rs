//! mosquitto-go-auth's HTTP backend, for a Mosquitto that loads that plugin:
//! `auth_opt_http_getuser_uri`, `auth_opt_http_superuser_uri` and
//! `auth_opt_http_aclcheck_uri` point at `/api/v1/broker/go-auth/{user,superuser,acl}`.
//!
//! Format as documented by the plugin (read for this module, nothing copied): its README's
//! "HTTP" section (<https://github.com/iegomez/mosquitto-go-auth#http>) and
//! `backends/http.go`: a POST whose parameters are JSON (`http_params_mode json`, the
//! default) or a form (`form`): `username`, `password`, `clientid` for a login;
//! `username` for the superuser check; `username`, `clientid`, `topic`, `acc` for an ACL
//! check, `acc` being Mosquitto's access: 1 read (a message about to be delivered), 2
//! write (publish), 3 read and write, 4 subscribe. A 2xx status grants and anything else
//! refuses (`http_response_mode status`, the default); `json` mode also needs the body
//! `{"ok": true}`, `text` mode the body `ok`.
//!
//! Hearth answers 200 with `{"ok": true, "error": ""}` or 403 with `{"ok": false, ...}`,
//! which serves `status` and `json` modes; with `?response=text` in the URI it answers
//! `ok` or `denied` for `text` mode. Nobody is a superuser (every action is checked).
//! Mosquitto asks "read" before each delivery, so subscriptions the built-in broker
//! grants filtered per delivery (an application's `devices/+/data`) are granted here
//! too, and each delivery is then checked as the built-in broker checks it.

use super::{Broker, parse_body, unshared, username};
use crate::error::{ApiError, ApiResult};
use crate::seams::{BrokerAccess, BrokerLogin};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Mosquitto's access bits as go-auth passes them.
const READ: u8 = 1;
const WRITE: u8 = 2;
const SUBSCRIBE: u8 = 4;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(go_auth_user))
        .routes(routes!(go_auth_superuser))
        .routes(routes!(go_auth_acl))
}

/// How the plugin reads answers (`auth_opt_http_response_mode`): pass `response=text`
/// in the configured URIs for `text`; `status` and `json` need nothing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct GoAuthQuery {
    /// `text` for the plugin's `text` response mode.
    #[serde(default)]
    pub response: Option<String>,
    /// The broker secret (go-auth sends no headers of its own). Read by the `Broker`
    /// extractor; named here for the OpenAPI document.
    #[serde(default)]
    #[allow(dead_code)]
    pub secret: Option<String>,
}

/// The answer body in `json` mode (and read by nobody in `status` mode).
#[derive(Debug, Serialize, ToSchema)]
pub struct GoAuthAnswer {
    pub ok: bool,
    pub error: String,
}

fn answer(query: &GoAuthQuery, granted: bool) -> Response {
    let status = if granted {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    if query.response.as_deref() == Some("text") {
        return (status, if granted { "ok" } else { "denied" }).into_response();
    }
    let error = if granted { "" } else { "not allowed" };
    (
        status,
        axum::Json(GoAuthAnswer {
            ok: granted,
            error: error.into(),
        }),
    )
        .into_response()
}

/// A login (`GetUser`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct GoAuthUser {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    pub clientid: String,
}

/// go-auth's user check: a CONNECT checked against the registry.
#[utoipa::path(post, path = "/broker/go-auth/user", tag = "broker",
    request_body = GoAuthUser, params(GoAuthQuery),
    responses((status = 200, body = GoAuthAnswer), (status = 403, body = GoAuthAnswer),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
async fn go_auth_user(
    Broker(authority): Broker,
    Query(query): Query<GoAuthQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let request: GoAuthUser = parse_body(&headers, &body)?;
    let login = BrokerLogin {
        username: username(&request.username).map(str::to_owned),
        password: request.password.map(String::into_bytes),
        client_id: request.clientid,
        // go-auth does not pass the client's address: failures share one count per name.
        peer: None,
    };
    Ok(answer(&query, authority.login(login).await.is_ok()))
}

/// A superuser check (`GetSuperuser`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct GoAuthSuperuser {
    #[serde(default)]
    pub username: Option<String>,
}

/// go-auth's superuser check: always refused, so that every action is checked (a hub
/// administrator too: some topics are the hub's alone).
#[utoipa::path(post, path = "/broker/go-auth/superuser", tag = "broker",
    request_body = GoAuthSuperuser, params(GoAuthQuery),
    responses((status = 403, body = GoAuthAnswer), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody)))]
async fn go_auth_superuser(
    Broker(_): Broker,
    Query(query): Query<GoAuthQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let request: GoAuthSuperuser = parse_body(&headers, &body)?;
    tracing::debug!(username = ?request.username, "go-auth superuser check: nobody is");
    Ok(answer(&query, false))
}

/// An ACL check (`CheckAcl`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct GoAuthAcl {
    #[serde(default)]
    pub username: Option<String>,
    pub clientid: String,
    pub topic: String,
    /// 1 read (deliver), 2 write (publish), 3 both, 4 subscribe.
    pub acc: u8,
}

/// go-auth's ACL check: a publish, a subscription or a delivery of a connected client.
#[utoipa::path(post, path = "/broker/go-auth/acl", tag = "broker",
    request_body = GoAuthAcl, params(GoAuthQuery),
    responses((status = 200, body = GoAuthAnswer), (status = 403, body = GoAuthAnswer),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
async fn go_auth_acl(
    Broker(authority): Broker,
    Query(query): Query<GoAuthQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let request: GoAuthAcl = parse_body(&headers, &body)?;
    let user = username(&request.username);
    let allows = |access| authority.allows(user, &request.clientid, access, &request.topic);
    let granted = match request.acc {
        READ => allows(BrokerAccess::Receive),
        WRITE => allows(BrokerAccess::Publish),
        value if value == READ | WRITE => {
            allows(BrokerAccess::Receive) && allows(BrokerAccess::Publish)
        }
        SUBSCRIBE => authority.allows(
            user,
            &request.clientid,
            BrokerAccess::SubscribeCheckedPerDelivery,
            unshared(&request.topic),
        ),
        other => {
            return Err(ApiError::bad_request(
                "acc",
                format!("{other} is not a Mosquitto access (1 read, 2 write, 3 both, 4 subscribe)"),
            ));
        }
    };
    Ok(answer(&query, granted))
}
