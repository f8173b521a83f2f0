//! The device protocol as the web app must read it: the topic grammar, the presence
//! vocabulary and the command statuses, written by the Rust side into
//! `web/tests/fixtures/device-protocol.json`, which `web/tests/unit/protocol.test.ts`
//! checks the web app's copy against. This test fails when the committed fixture is
//! stale; `HEARTH_UPDATE_FIXTURES=1 cargo test -p hearth-model --test web_fixture`
//! rewrites it.

use hearth_model::topic::{self, TopicKind};
use hearth_model::{CommandStatus, DeviceId, DevicePresence, PRESENCE_WORDS};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Topics that pin the grammar down, the odd ones included.
const TOPICS: &[&str] = &[
    "devices/d1/data",
    "devices/d1/status",
    "devices/d1/heartbeat",
    "devices/d1/events",
    "devices/d1/command-status",
    "devices/d1/snapshot",
    "devices/d1/commands/relay",
    "devices/d1/commands/relay/ack",
    "devices/d1/commands/light/set",
    "devices/d1/commands/light/set/ack",
    "devices/lamp_2-x/data",
    "devices/d1",
    "devices/d1/",
    "devices//data",
    "devices/+/data",
    "devices/#",
    "devices/d1/event",
    "devices/d1/data/extra",
    "devices/d1/commands",
    "devices/d1/commands/",
    "devices/d1/commands/ack",
    "devices/d1/commands//ack",
    "other/d1/data",
    "devices",
];

/// Status payloads as devices send them.
const STATUS_PAYLOADS: &[&str] = &[
    "online",
    "offline",
    "up",
    "down",
    "connected",
    "disconnected",
    " OFFLINE\n",
    "Down",
    "\"offline\"",
    "\"down\"",
    r#"{"online": false, "rssi": -60}"#,
    r#"{"online": true}"#,
    r#"{"status": "online"}"#,
    r#"{"status": "down"}"#,
    r#"{"battery": 80}"#,
    "rebooting",
    "",
];

fn parsed(topic: &str) -> Value {
    match topic::parse(topic) {
        None => Value::Null,
        Some(parsed) => {
            let mut value = json!({"device": parsed.device, "kind": parsed.kind.label()});
            if let Some(name) = parsed.kind.command_name() {
                value["name"] = json!(name);
            }
            value
        }
    }
}

fn fixture() -> Value {
    let device = DeviceId::new("lamp-1").unwrap();
    let builders = json!({
        "device": device.as_str(),
        "command_name": "relay",
        "data": topic::device_topic(&device, TopicKind::Data),
        "status": topic::status(&device),
        "heartbeat": topic::device_topic(&device, TopicKind::Heartbeat),
        "events": topic::device_topic(&device, TopicKind::Events),
        "snapshot": topic::snapshot(&device),
        "command-status": topic::command_status(&device),
        "command": topic::command(&device, "relay"),
        "command-ack": topic::command_ack(&device, "relay"),
    });
    let statuses = [
        CommandStatus::Pending,
        CommandStatus::Sent,
        CommandStatus::Acked,
        CommandStatus::Failed,
        CommandStatus::Timeout,
    ];
    json!({
        "_comment": "Written by crates/hearth-model/tests/web_fixture.rs; do not edit.",
        "topics": TOPICS.iter().map(|topic| json!({"topic": topic, "parsed": parsed(topic)})).collect::<Vec<_>>(),
        "builders": builders,
        "presence_words": PRESENCE_WORDS.iter().map(|(word, presence)| json!({"word": word, "presence": presence})).collect::<Vec<_>>(),
        "status_payloads": STATUS_PAYLOADS.iter().map(|payload| json!({
            "payload": payload,
            "presence": DevicePresence::from_status_payload(payload.as_bytes()),
        })).collect::<Vec<_>>(),
        "command_statuses": statuses.iter().map(|status| json!({"status": status, "final": status.is_final()})).collect::<Vec<_>>(),
    })
}

#[test]
fn the_web_fixture_matches_the_grammar() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../web/tests/fixtures/device-protocol.json");
    let expected = format!("{}\n", serde_json::to_string_pretty(&fixture()).unwrap());
    if std::env::var_os("HEARTH_UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "{} is stale: run HEARTH_UPDATE_FIXTURES=1 cargo test -p hearth-model --test web_fixture, \
         then make the web app's copy (web/src/mqtt/protocol.ts) pass web/tests/unit/protocol.test.ts",
        path.display()
    );
}
