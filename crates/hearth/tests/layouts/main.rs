//! Topic layouts end to end (issue 18): a real hub (`hearth_testkit::start_hub`) and
//! MQTT clients speaking exactly the topics and payloads of seed 001's bulb and seed
//! 004's lock, with the layouts shipped in `docs/layouts/`, on SQLite and PostgreSQL.
//!
//! # Layout
//! - this file: the HTTP client (login, JSON requests), the MQTT client (3.1.1, as the
//!   seeds' paho clients speak), waiting for the store.
//! - `bulb.rs`: seed 001's bulb: state into history and live state, status and will into
//!   presence, `switch` through the API arriving as `{"action": "on"}`, acked by the state.
//! - `lock.rs`: seed 004's lock, its layout from hearth.toml: `unlock` on `/{lockno}/call`,
//!   `statu` "1"/"0"/"-2".
//! - `device_level.rs`: a device's own layout (concrete topics), and one whose messages
//!   come through an application (`via_app`).
//! - `intruders.rs`: another device on the bulb's topics, a device on its own command
//!   topic, an application and an administrator on a mapped command topic.

mod bulb;
mod device_level;
mod intruders;
mod lock;

use hearth_testkit::{ADMIN_PASSWORD, TestHub};
use serde_json::Value;
use std::time::Duration;

/// How long a test waits for something before it fails (never a pass threshold).
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A layout file of `docs/layouts/` as the API's JSON.
pub fn layout_json(file: &str) -> Value {
    let text = std::fs::read_to_string(docs_layout(file)).unwrap();
    let layout: hearth_model::layout::Layout = toml::from_str(&text).unwrap();
    serde_json::to_value(layout).unwrap()
}

pub fn docs_layout(file: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/layouts")
        .join(file)
}

pub use hearth_testkit::client::{Api, Mqtt, eventually};
