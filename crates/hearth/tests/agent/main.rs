//! `hearth agent` (issue 17) against a real hub over real MQTT, with the in-process GPIO
//! backend (`SimGpio`; the kernel's gpio-sim is not available in containers): a button
//! press becomes an event in history; a relay command through the hub's command service
//! drives the line, is recorded as succeeded and the state is reported; an `exec`
//! program's JSON lines become events; readings made while the hub is down are queued
//! on disk (surviving an agent restart, the oldest dropped beyond the bound) and arrive
//! later in order with their original times; firmware updates through `[ota]`; late
//! reports do not trigger automations.

mod board;
mod moves;
mod offline;
mod ota;

pub use hearth::agent::Agent;
pub use hearth::agent::config::AgentConfig;
pub use hearth::agent::gpio::SimGpio;
pub use hearth_model::{CommandStatus, MessageKind, Millis, StoredMessage, now_millis};
pub use hearth_store::{MessageQuery, TimeRange};
pub use hearth_testkit::{Backend, TestHub, devices::add_devices, ids};
pub use serde_json::{Value, json};
pub use std::net::SocketAddr;
pub use std::path::Path;
pub use std::sync::Arc;
pub use std::time::Duration;

/// How long a test waits for something before it fails (not a measurement).
pub const DEADLINE: Duration = Duration::from_secs(30);
pub const CHIP: &str = "gpiochip0";

pub async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    tokio::time::timeout(DEADLINE, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("gave up waiting for {what}"));
}

/// A device `pi1` on the hub and an agent configuration for it (secret in a 0600 file),
/// with `extra` TOML appended.
pub async fn setup(hub: &TestHub, mqtt: SocketAddr, dir: &Path, extra: &str) -> AgentConfig {
    use std::os::unix::fs::PermissionsExt;
    let secrets = add_devices(hub, &["pi1"]).await;
    let secret_file = dir.join("secret");
    std::fs::write(&secret_file, &secrets["pi1"]).unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        r#"
hub = "mqtt://{mqtt}"
device = "pi1"
secret_file = "{secret}"
reconnect_min_ms = 50
reconnect_max_ms = 500

[queue]
path = "{queue}"
{extra}"#,
        secret = secret_file.display(),
        queue = dir.join("queue.jsonl").display(),
    );
    AgentConfig::from_toml(&text).unwrap()
}

pub async fn messages(hub: &TestHub, kind: MessageKind) -> Vec<StoredMessage> {
    let mut found = hub
        .store()
        .messages(&MessageQuery {
            device: ids::device("pi1"),
            kind: Some(kind),
            range: TimeRange {
                from_ms: 0,
                to_ms: Millis::MAX,
            },
            limit: 1000,
        })
        .await
        .unwrap();
    found.reverse();
    found
}

pub fn json_of(message: &StoredMessage) -> Value {
    serde_json::from_slice(&message.payload).unwrap()
}

/// The payloads without `ts`, oldest first.
pub async fn events(hub: &TestHub) -> Vec<Value> {
    messages(hub, MessageKind::Event)
        .await
        .iter()
        .map(|message| {
            let mut value = json_of(message);
            value.as_object_mut().unwrap().remove("ts");
            value
        })
        .collect()
}

/// The data payloads without `ts`, oldest first.
pub async fn data(hub: &TestHub) -> Vec<Value> {
    messages(hub, MessageKind::Data)
        .await
        .iter()
        .map(|message| {
            let mut value = json_of(message);
            value.as_object_mut().unwrap().remove("ts");
            value
        })
        .collect()
}

/// The command once the device answered it (or it timed out).
pub async fn finished(hub: &TestHub, id: &str) -> hearth_model::Command {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let command = hub.commands().get(id).await.unwrap();
            if !matches!(command.status, CommandStatus::Pending | CommandStatus::Sent) {
                return command;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the command finished in time")
}

pub async fn connected(agent: &Agent) {
    tokio::time::timeout(DEADLINE, agent.client().wait_connected())
        .await
        .expect("the agent connected in time")
        .unwrap();
}
