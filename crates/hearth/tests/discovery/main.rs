//! Home Assistant MQTT discovery end to end (issue 18): a real hub
//! (`hearth_testkit::start_hub`) and MQTT clients publishing the retained discovery
//! payloads of `crates/hearth-services/tests/fixtures/discovery/` exactly as Tasmota,
//! Zigbee2MQTT, ESPHome and Shelly publish them, with the discovery application's key and
//! secret, on SQLite and PostgreSQL.
//!
//! # Layout
//! - this file: the fixtures, the HTTP client, the MQTT client, the discovery login.
//! - `flows.rs`: per fixture: listed, availability, adopted, state into history and live
//!   state, availability into presence, a command in the device's own payload, removal,
//!   re-announce after the birth message without a duplicate.
//! - `intruders.rs`: another group's discovery login (see, adopt, command, spoof), an
//!   ordinary device and an ordinary application publishing configs.

mod flows;
mod intruders;

use hearth_model::AppId;
use hearth_testkit::{TestHub, ids};
use serde_json::Value;
use std::time::Duration;

/// How long a test waits for something before it fails (never a pass threshold).
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The `topic`/`payload` pairs of a fixture file (`#` lines are comments).
pub fn fixture(name: &str) -> Vec<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../hearth-services/tests/fixtures/discovery")
        .join(name);
    let text = std::fs::read_to_string(path).unwrap();
    let mut pairs = Vec::new();
    let mut topic = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("topic ") {
            topic = Some(rest.trim().to_owned());
        } else if let Some(rest) = line.strip_prefix("payload") {
            pairs.push((topic.take().unwrap(), rest.trim().to_owned()));
        }
    }
    pairs
}

/// A discovery application `app` in `group` (created with the group when missing): its
/// MQTT key and secret.
pub async fn discovery_login(hub: &TestHub, group: &str, app: &str) -> (String, String) {
    let registry = hub.registry();
    if registry.store().group(&ids::group(group)).await.is_err() {
        registry
            .add_group("test", &ids::group(group), None, None)
            .await
            .unwrap();
    }
    let (created, secret) = registry
        .add_app("test", &ids::app(app), &ids::group(group), None, None)
        .await
        .unwrap();
    registry
        .set_app_discovery("test", &AppId::new(app).unwrap(), true)
        .await
        .unwrap();
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    (created.mqtt_key, secret)
}

pub use hearth_testkit::client::{Api, Mqtt, eventually};

/// `GET /api/v1/discovered` as `api`'s person: the entries listed.
pub async fn discovered(api: &Api) -> Vec<Value> {
    api.list("/api/v1/discovered").await
}
