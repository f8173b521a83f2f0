//! Authentication and ACL for an external broker over HTTP (issue 21, docs/scale.md
//! "Broker authentication over HTTP"): a real hub (`hearth_testkit::start_hub_with`)
//! with `[broker_auth] secret`, called over HTTP with the request bodies the brokers'
//! documentation describes (written here from the documented fields: EMQX 5's HTTP
//! authentication and authorization templates, VerneMQ's webhook payloads,
//! mosquitto-go-auth's JSON and form parameters), on SQLite and PostgreSQL.
//!
//! # Layout
//! - this file: the fixture hub (devices, applications, people, sites) and the client.
//! - `emqx.rs`, `vernemq.rs`, `go_auth.rs`: each format's contract, principal by
//!   principal, intruders included.
//! - `files.rs`: anonymous clients and the broker password file's users.
//! - `guard.rs`: the secret (absent, wrong, rate-limited), the endpoints off without
//!   `[broker_auth]`, password guessing through a broker, the configuration's errors.

mod emqx;
mod files;
mod go_auth;
mod guard;
mod vernemq;

use hearth_model::SiteId;
use hearth_services::registry::DeviceSpec;
use hearth_testkit::{Backend, TestHub, ids};
use serde_json::Value;
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The secret every fixture hub is configured with.
pub const SECRET: &str = "broker-auth-test-secret-0123456789";

/// A hub whose broker endpoints are on, with: application `default` (group `home`)
/// holding d1 and d2, application `other` holding d3; alice (member of `home`, control
/// on `default`), carol (owner of group `cabin`, nothing in `home`); sites `home-1`
/// (holding d1) and `home-2` (holding d2).
pub struct Fixture {
    pub hub: TestHub,
    pub secrets: HashMap<String, String>,
    /// `default`'s MQTT key and secret.
    pub app: (String, String),
    pub site_secret: String,
}

impl Fixture {
    pub async fn start(backend: Backend) -> Fixture {
        let hub = hearth_testkit::start_hub_with(backend, |config| {
            config.broker_auth = Some(hearth_api::BrokerAuthConfig::new(SECRET).unwrap());
        })
        .await;
        let registry = hub.registry();
        let app_secret = registry
            .rotate_app_secret("test", &ids::app("default"))
            .await
            .unwrap();
        let app_key = hub
            .store()
            .app(&ids::app("default"))
            .await
            .unwrap()
            .mqtt_key;
        registry
            .add_app("test", &ids::app("other"), &ids::group("home"), None, None)
            .await
            .unwrap();
        let mut secrets = HashMap::new();
        for (id, app) in [("d1", "default"), ("d2", "default"), ("d3", "other")] {
            let spec = DeviceSpec {
                app: Some(ids::app(app)),
                ..DeviceSpec::new(ids::device(id))
            };
            let (_, secret) = registry.add_device("test", spec).await.unwrap();
            secrets.insert(id.to_owned(), secret);
        }
        hub.add_alice_and_carol().await;
        let site = |id: &str| SiteId::new(id).unwrap();
        let (_, site_secret) = registry
            .add_site("test", &site("home-1"), &ids::group("home"), None)
            .await
            .unwrap();
        registry
            .add_site("test", &site("home-2"), &ids::group("home"), None)
            .await
            .unwrap();
        for (device, home) in [("d1", "home-1"), ("d2", "home-2")] {
            registry
                .set_device_site("test", &ids::device(device), Some(&site(home)))
                .await
                .unwrap();
        }
        hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
        Fixture {
            hub,
            secrets,
            app: (app_key, app_secret),
            site_secret,
        }
    }

    pub fn secret(&self, device: &str) -> &str {
        &self.secrets[device]
    }

    /// A browser password for `user`, as `/api/v1/mqtt/credentials` issues it.
    pub fn token(&self, user: &str) -> (String, i64) {
        self.hub
            .authorizer()
            .issue_user_token(user, "session-1", 600_000)
    }

    /// POSTs `body` as JSON with the secret as a bearer token.
    pub async fn json(&self, path: &str, body: Value) -> (u16, Value) {
        let auth = format!("Bearer {SECRET}");
        let (status, text) = post(
            &self.hub,
            path,
            &[("Authorization", auth.as_str())],
            "application/json",
            &body.to_string(),
        )
        .await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// One HTTP/1.1 POST over a fresh connection, as a broker's HTTP client sends it (no
/// Origin, no cookie): status and body text.
pub async fn post(
    hub: &TestHub,
    path: &str,
    headers: &[(&str, &str)],
    content_type: &str,
    body: &str,
) -> (u16, String) {
    let address = hub.http();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}
