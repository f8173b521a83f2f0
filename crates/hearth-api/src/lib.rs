//! Hearth's HTTP API: JSON under `/api/v1` for the web app and for scripts, described by
//! an OpenAPI document generated from the handlers (`/api/openapi.json`, browsable at
//! `/api/docs`), plus `/healthz` and `/metrics`.
//!
//! Changes go through `hearth_services::Registry` (validation, audit, revocation shared
//! with the CLI); reads go to the store. Every handler that needs a login takes a
//! [`Caller`], which carries the user's roles and grants; see `caller.rs` for who may
//! do what.
//!
//! # Layout
//! - [`router`], [`serve`]: the whole app, and serving it until a shutdown future.
//! - `state`: [`AppState`] and [`ApiConfig`].
//! - `seams`: [`CommandService`] and [`MqttCredentialIssuer`], implemented by the binary.
//! - `caller`: [`Caller`], authentication (cookie or bearer token) and permissions.
//! - `session`: session ids, tokens, cookies. The login rate limit is
//!   `hearth_services::LoginLimiter`, shared with the MQTT login.
//! - `server`: the HTTP/1 accept loop with head-size and header-timeout limits, plain or
//!   TLS ([`serve_tls`], with HSTS); `redirect`: the HTTP-to-HTTPS redirect listener.
//! - `security`: the cross-site request check, security headers, HTTPS detection.
//! - `error`: [`ApiError`]; `extract`: JSON and query extractors that fail as `ApiError`.
//! - `dto`: response bodies with OpenAPI schemas.
//! - `metrics`: [`Metrics`], Prometheus text written by hand.
//! - `routes/`: one file per resource.
//! - `web`: the embedded web app (`web/dist`), served for every other GET.

mod caller;
mod common_errors;
mod dto;
mod error;
mod extract;
mod metrics;
mod redirect;
mod routes;
mod seams;
mod security;
mod server;
mod session;
mod state;
mod web;

pub use caller::{Caller, Credential};
pub use error::{ApiError, ApiResult, ErrorBody};
pub use metrics::{Metrics, MetricsWriter};
pub use redirect::{RedirectTarget, serve_redirect};
pub use routes::broker_auth::BrokerAuthConfig;
pub use routes::claims::{claim_url, qr_svg};
pub use seams::{
    AlertDesk, AutomationRunner, BrokerAccess, BrokerAuthority, BrokerLogin, BrokerSession,
    CommandRequest, CommandService, IssuedCredential, LogLevels, MqttCredentialIssuer,
};
pub use security::{CONTENT_SECURITY_POLICY, ServedOverTls};
pub use server::{HSTS, MAX_HEAD_BYTES};
pub use state::{ApiConfig, AppState, ReadinessCheck, RegistrationMode};
pub use web::web_app_built;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::time::Instant;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

/// The API's prefix.
pub const API_PREFIX: &str = "/api/v1";

#[derive(OpenApi)]
#[openapi(
    info(title = "Hearth API", description = "The HTTP API of a Hearth hub. Log in with \
        `POST /api/v1/auth/login` (session cookie) or send `Authorization: Bearer <token>` \
        with a personal API token. Errors are `{\"error\": {\"code\", \"message\", \"field\"?}}`."),
    tags(
        (name = "auth", description = "Login, logout, profile, password, registration"),
        (name = "tokens", description = "Personal API tokens"),
        (name = "users", description = "Accounts (hub administrators)"),
        (name = "groups", description = "Groups and members with roles"),
        (name = "apps", description = "Applications, MQTT secrets and grants"),
        (name = "devices", description = "Devices and their live state"),
        (name = "claims", description = "Claiming devices with a one-time code (docs/onboarding.md)"),
        (name = "sites", description = "Home hubs linked to this hub (issue 20)"),
        (name = "history", description = "Messages, points, aggregates, status history"),
        (name = "commands", description = "Remote control"),
        (name = "mqtt", description = "Browser MQTT credentials"),
        (name = "automations", description = "Automations and scenes (stored and checked; no engine runs them yet)"),
        (name = "notifications", description = "One's own notification preferences and Web Push subscriptions"),
        (name = "firmware", description = "Firmware images and over-the-air rollouts"),
        (name = "discovery", description = "Devices announced through Home Assistant MQTT discovery"),
        (name = "audit", description = "The audit log"),
        (name = "operations", description = "Health and metrics"),
        (name = "admin", description = "Running the hub: the log filter (hub administrators)"),
        (name = "broker", description = "Authentication and ACL for an external MQTT broker (EMQX, VerneMQ, mosquitto-go-auth); only with `[broker_auth] secret`"),
    ),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// The routes and the OpenAPI document they describe, before state is attached.
fn parts() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let api = OpenApiRouter::new()
        .merge(routes::auth::router())
        .merge(routes::oidc::router())
        .merge(routes::tokens::router())
        .merge(routes::users::router())
        .merge(routes::groups::router())
        .merge(routes::apps::router())
        .merge(routes::sites::router())
        .merge(routes::devices::router())
        .merge(routes::claims::router())
        .merge(routes::layouts::router())
        .merge(routes::discovered::router())
        .merge(routes::history::router())
        .merge(routes::commands::router())
        .merge(routes::automations::router())
        .merge(routes::scenes::router())
        .merge(routes::confirmations::router())
        .merge(routes::places::router())
        .merge(routes::hooks::router())
        .merge(routes::alerts::router())
        .merge(routes::firmware::router())
        .merge(routes::rollouts::router())
        .merge(routes::notifications::router())
        .merge(routes::audit::router())
        .merge(routes::log_level::router())
        .merge(routes::bridge::router())
        .merge(routes::broker_auth::router());
    let (routes, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(API_PREFIX, api)
        .merge(routes::ops::router())
        .split_for_parts();
    common_errors::document(&mut openapi);
    (routes, openapi)
}

/// The OpenAPI document (what `/api/openapi.json` serves).
pub fn openapi() -> utoipa::openapi::OpenApi {
    parts().1
}

/// The whole HTTP app: `/api/v1/...`, `/api/openapi.json`, `/api/docs`, `/healthz`,
/// `/metrics`, and the web app for any other GET (see `web`). Unknown API routes answer
/// 404 `no_route` in the API's error shape; a panic
/// in a handler answers 500 `internal` (and is logged) instead of dropping the
/// connection. Every response carries the security headers, and state-changing
/// requests with the session cookie from another origin answer 403 (see `security`).
/// Serve it with [`serve`] (or any server that adds `ConnectInfo<SocketAddr>` to each
/// request) so that the login rate limit sees client addresses.
pub fn router(state: AppState) -> axum::Router {
    let (routes, openapi) = parts();
    let docs: axum::Router<AppState> = SwaggerUi::new("/api/docs")
        .url("/api/openapi.json", openapi)
        .into();
    routes
        .merge(docs)
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::check_origin,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn(security::security_headers))
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` completes, then finishes the
/// requests in flight, with limits on request heads and the time to send them (see
/// `server`). Meanwhile deletes expired sessions and tokens once an hour.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = state.store.clone();
    let pruner = tokio::spawn(async move {
        let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3_600));
        loop {
            every_hour.tick().await;
            if let Err(error) = store.prune_auth(hearth_model::now_millis()).await {
                tracing::warn!(%error, "cannot delete expired sessions and tokens");
            }
        }
    });
    let header_read_timeout =
        std::time::Duration::from_secs(u64::from(state.config.header_read_timeout_secs.max(1)));
    let result = server::run(listener, router(state), header_read_timeout, shutdown).await;
    pruner.abort();
    result
}

/// [`serve`] over TLS (`hearth serve --https`): the same router, with the session
/// cookie `Secure` and `Strict-Transport-Security` on every response. `tls` holds the
/// certificate, which the hub swaps when its files change. Expired sessions are pruned
/// by [`serve`] when the plain listener runs too, and here otherwise.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    state: AppState,
    prune: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = state.store.clone();
    let pruner = prune.then(|| {
        tokio::spawn(async move {
            let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3_600));
            loop {
                every_hour.tick().await;
                if let Err(error) = store.prune_auth(hearth_model::now_millis()).await {
                    tracing::warn!(%error, "cannot delete expired sessions and tokens");
                }
            }
        })
    });
    let header_read_timeout =
        std::time::Duration::from_secs(u64::from(state.config.header_read_timeout_secs.max(1)));
    let result = server::run_tls(listener, tls, router(state), header_read_timeout, shutdown).await;
    if let Some(pruner) = pruner {
        pruner.abort();
    }
    result
}

async fn no_route(request: Request) -> Response {
    if let Some(page) = web::respond(request.method(), request.uri(), request.headers()) {
        return page;
    }
    ApiError::NoRoute(format!(
        "no route {} {}",
        request.method(),
        request.uri().path()
    ))
    .into_response()
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal("a request handler panicked").into_response()
}

/// Counts requests and their latency by matched route (not by raw path: ids would
/// make every device its own series).
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    state.metrics.record_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
