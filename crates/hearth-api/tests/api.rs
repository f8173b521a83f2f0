//! The HTTP API through a real HTTP client against a real listener on port 0, on SQLite
//! and PostgreSQL (`hearth_testkit::both_backends!`).
//!
//! # Layout
//! - this file: the test hub ([`start`]), the HTTP client, fixtures.
//! - `api/auth.rs`: login, sessions, logout, tokens, rate limit, registration, profile.
//! - `api/access.rs`: the role × action table.
//! - `api/alert_intruders.rs`: alert rules and alerts (issue 15) against those who may
//!   not read or act on them; webhook secrets never shown.
//! - `api/app_retention.rs`: an application's raw-message retention (issue 19): set,
//!   read, cleared, refused by field, and against members, viewers and other groups.
//! - `api/automations.rs`: automations and scenes (issue 14) and who may change them.
//! - `api/automation_intruders.rs`: applying scenes, confirmation requests and a group's
//!   place (issue 14) against those who may not.
//! - `api/device_site.rs`: a device's site (issue 20) through the API, against
//!   members, viewers and other groups.
//! - `api/errors.rs`: error shapes for bad input.
//! - `api/fuzz_findings.rs`: what schemathesis found (issue 16), one test each.
//! - `api/history_export.rs`: the streamed CSV export (issue 19): more than a page,
//!   equal time stamps across page boundaries, `limit`, and against outsiders.
//! - `api/layouts.rs`: topic layouts (issue 18): set, read, cleared, refused by field,
//!   and against members, viewers and outsiders.
//! - `api/log_level.rs`: changing the log filter while running, against intruders.
//! - `api/notification_intruders.rs`: notification preferences and Web Push
//!   subscriptions (issue 15), each person's own only.
//! - `api/resources.rs`: groups, apps, devices (pagination), history, commands, audit.
//! - `api/oidc.rs`: signing in with an OpenID Connect provider (issue 23) against
//!   `api/oidc_provider.rs`, a provider on loopback made for the tests.
//! - `api/ops.rs`: the OpenAPI document against the routes, `/healthz`, `/metrics`.
//! - `api/security.rs`: cross-site requests, security headers, request-head limits,
//!   CSV formulas, taken ids (issue 12).
//! - `api/security_auth.rs`: audit scoping, password change, token scope, login limit
//!   and timing (issue 12).

#[path = "api/access.rs"]
mod access;
#[path = "api/alert_intruders/mod.rs"]
mod alert_intruders;
#[path = "api/app_retention.rs"]
mod app_retention;
#[path = "api/auth.rs"]
mod auth;
#[path = "api/automation_intruders/mod.rs"]
mod automation_intruders;
#[path = "api/automations.rs"]
mod automations;
#[path = "api/claims.rs"]
mod claims;
#[path = "api/device_site.rs"]
mod device_site;
#[path = "api/errors.rs"]
mod errors;
#[path = "api/fuzz_findings.rs"]
mod fuzz_findings;
#[path = "api/history_export.rs"]
mod history_export;
#[path = "api/layouts.rs"]
mod layouts;
#[path = "api/log_level.rs"]
mod log_level;
#[path = "api/notification_intruders.rs"]
mod notification_intruders;
#[path = "api/oidc.rs"]
mod oidc;
#[path = "api/oidc_provider.rs"]
mod oidc_provider;
#[path = "api/ops.rs"]
mod ops;
#[path = "api/resources.rs"]
mod resources;
#[path = "api/security.rs"]
mod security;
#[path = "api/security_auth.rs"]
mod security_auth;
#[path = "api/sites.rs"]
mod sites;

use hearth_api::{ApiConfig, AppState};
use hearth_services::Registry;
use hearth_services::registry::{DeviceSpec, NewUser};
use hearth_store::Store;
pub use hearth_testkit::both_backends;
use hearth_testkit::ids;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;

pub const ADMIN_PASSWORD: &str = "correct horse battery";

/// A running API on 127.0.0.1:<port>, stopped when dropped.
pub struct Hub {
    pub address: std::net::SocketAddr,
    pub store: Arc<dyn Store>,
    pub registry: Registry,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// Starts the API over `store` with the first-start owner (`admin`, group `home`, app
/// `default`); `configure` may change the state before serving.
pub async fn start_with(
    store: Arc<dyn Store>,
    configure: impl FnOnce(AppState) -> AppState,
) -> Hub {
    let registry = Registry::new(store.clone());
    registry
        .ensure_owner(Some(ADMIN_PASSWORD.into()))
        .await
        .unwrap();
    let state = configure(AppState::new(
        store.clone(),
        registry.clone(),
        ApiConfig::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(hearth_api::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Hub {
        address,
        store,
        registry,
        _shutdown: shutdown,
    }
}

pub async fn start(store: Arc<dyn Store>) -> Hub {
    start_with(store, |state| state).await
}

/// One HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "not JSON ({error}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    }

    /// The `error.code` of an error reply.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub fn field(&self) -> Option<String> {
        self.json()["error"]["field"].as_str().map(str::to_owned)
    }
}

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    /// The session cookie's value.
    Cookie(String),
    Bearer(String),
}

impl Hub {
    /// Sends a request with a raw JSON body on a fresh connection, as the web app would:
    /// cookie requests carry the hub's own `Origin`.
    pub async fn raw(&self, method: &str, path: &str, auth: &Auth, body: Option<Vec<u8>>) -> Reply {
        let origin = format!("http://{}", self.address);
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if matches!(auth, Auth::Cookie(_)) {
            headers.push(("origin", &origin));
        }
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        self.send(method, path, auth, &headers, body).await
    }

    /// Sends a request with exactly these extra `headers` (no `Origin` or
    /// `Content-Type` of its own) on a fresh connection.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        auth: &Auth,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let stream = tokio::net::TcpStream::connect(self.address).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.address.to_string());
        match auth {
            Auth::None => {}
            Auth::Cookie(value) => {
                request = request.header("cookie", format!("hearth_session={value}"))
            }
            Auth::Bearer(token) => {
                request = request.header("authorization", format!("Bearer {token}"))
            }
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn call(&self, method: &str, path: &str, auth: &Auth, body: Option<Value>) -> Reply {
        self.raw(
            method,
            path,
            auth,
            body.map(|body| body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> Reply {
        self.call("GET", path, auth, None).await
    }

    /// Logs in and returns the session cookie's value.
    pub async fn login(&self, username: &str, password: &str) -> Auth {
        let reply = self
            .call(
                "POST",
                "/api/v1/auth/login",
                &Auth::None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(reply.status, 200, "login {username}: {:?}", reply.body);
        let cookie = reply.header("set-cookie").unwrap();
        let value = cookie
            .strip_prefix("hearth_session=")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        Auth::Cookie(value)
    }

    pub async fn admin(&self) -> Auth {
        self.login("admin", ADMIN_PASSWORD).await
    }

    /// Creates a user with `password` (through the registry, as the CLI would).
    pub async fn add_user(&self, name: &str) {
        self.registry
            .add_user(
                "cli:test",
                NewUser {
                    password: Some(format!("{name}-password")),
                    ..NewUser::new(ids::user(name))
                },
            )
            .await
            .unwrap();
    }

    /// Registers a device in `app` and returns its id.
    pub async fn add_device(&self, id: &str, app: &str) {
        self.registry
            .add_device(
                "cli:test",
                DeviceSpec {
                    app: Some(ids::app(app)),
                    kind: Some("relay".into()),
                    ..DeviceSpec::new(ids::device(id))
                },
            )
            .await
            .unwrap();
    }
}
