//! VerneMQ's webhooks: `POST /api/v1/broker/vernemq/{hook}?secret=...` with the hook's
//! documented JSON (header `vernemq-hook`; `peer_addr`, `peer_port`, `username`,
//! `password`, `mountpoint`, `client_id`, `clean_session` / `clean_start` and
//! `properties`; `topic`, `qos`, `payload` base64, `retain`; `topics` as `[{"topic",
//! "qos"}]`), answered `{"result": "ok"}`, `{"result": {"error": "not_allowed"}}`, or
//! per-filter QoS with 128 (v3) / 135 (m5) for refused filters.

use super::{Fixture, SECRET, post};
use hearth_testkit::Backend;
use serde_json::{Value, json};

async fn hook(fixture: &Fixture, name: &str, body: Value) -> Value {
    let (status, text) = post(
        &fixture.hub,
        &format!("/api/v1/broker/vernemq/{name}?secret={SECRET}"),
        &[("vernemq-hook", name)],
        "application/json",
        &body.to_string(),
    )
    .await;
    assert_eq!(status, 200, "{name}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn register(username: &str, password: &str, client_id: &str) -> Value {
    json!({
        "peer_addr": "10.1.2.4",
        "peer_port": 51234,
        "username": username,
        "password": password,
        "mountpoint": "",
        "client_id": client_id,
        "clean_session": false,
    })
}

fn publish(username: &str, client_id: &str, topic: &str, retain: bool) -> Value {
    json!({
        "username": username,
        "client_id": client_id,
        "mountpoint": "",
        "qos": 1,
        "topic": topic,
        "payload": "eyJ0ZW1wZXJhdHVyZSI6IDIxLjV9",
        "retain": retain,
    })
}

fn subscribe(username: &str, client_id: &str, topics: &[(&str, u8)]) -> Value {
    let topics: Vec<Value> = topics
        .iter()
        .map(|(topic, qos)| json!({"topic": topic, "qos": qos}))
        .collect();
    json!({"username": username, "client_id": client_id, "mountpoint": "", "topics": topics})
}

async fn vernemq_hooks_follow_the_registry(backend: Backend) {
    let fixture = Fixture::start(backend).await;
    let ok = json!({"result": "ok"});
    let refused = json!({"result": {"error": "not_allowed"}});
    let d1 = fixture.secret("d1").to_owned();
    // Registering, v3 and m5 (MQTT 5 clients, Hearth's devices among them).
    assert_eq!(
        hook(&fixture, "auth_on_register", register("d1", &d1, "d1")).await,
        ok
    );
    let mut m5 = register("d1", &d1, "d1");
    m5["clean_start"] = json!(true);
    m5["properties"] = json!({});
    assert_eq!(hook(&fixture, "auth_on_register_m5", m5).await, ok);
    assert_eq!(
        hook(&fixture, "auth_on_register", register("d1", &d1, "d2")).await,
        refused
    );
    assert_eq!(
        hook(&fixture, "auth_on_register", register("d2", &d1, "d2")).await,
        refused
    );
    let (token, _) = fixture.token("alice");
    assert_eq!(
        hook(
            &fixture,
            "auth_on_register",
            register("alice", &token, "web:alice:t")
        )
        .await,
        ok
    );
    assert_eq!(
        hook(
            &fixture,
            "auth_on_register",
            register("carol", &token, "web:carol:t")
        )
        .await,
        refused
    );
    // A mountpoint puts the client's topics elsewhere than Hearth's: refused.
    let mut mounted = register("d1", &d1, "d1");
    mounted["mountpoint"] = json!("tenant-a");
    assert_eq!(hook(&fixture, "auth_on_register", mounted).await, refused);

    // Publishing: the payload (base64) is never read; retained messages and wills are
    // publishes under the same rule.
    for (name, body, expected) in [
        (
            "auth_on_publish",
            publish("d1", "d1", "devices/d1/data", false),
            &ok,
        ),
        (
            "auth_on_publish",
            publish("d1", "d1", "devices/d1/status", true),
            &ok,
        ),
        (
            "auth_on_publish",
            publish("d1", "d1", "devices/d2/status", true),
            &refused,
        ),
        (
            "auth_on_publish",
            publish("d1", "d1", "devices/d1/command-status", false),
            &refused,
        ),
        (
            "auth_on_publish_m5",
            publish("d1", "d1", "devices/d2/data", false),
            &refused,
        ),
        (
            "auth_on_publish",
            publish(
                "home-1",
                "site:home-1",
                "sites/home-1/devices/d1/data",
                false,
            ),
            &ok,
        ),
        (
            "auth_on_publish",
            publish(
                "home-1",
                "site:home-1",
                "sites/home-1/devices/d2/data",
                false,
            ),
            &refused,
        ),
        (
            "auth_on_publish",
            publish("carol", "web:carol:t", "devices/d1/commands/relay", false),
            &refused,
        ),
        (
            "auth_on_publish",
            publish("alice", "web:alice:t", "devices/d1/commands/relay", false),
            &ok,
        ),
    ] {
        assert_eq!(
            &hook(&fixture, name, body.clone()).await,
            expected,
            "{name} {body}"
        );
    }

    // Subscribing: all granted is a plain ok; otherwise each filter comes back with its
    // QoS or the refusal (128 in v3, 135 Not authorized in m5).
    let own = subscribe("d1", "d1", &[("devices/d1/commands/#", 1)]);
    assert_eq!(hook(&fixture, "auth_on_subscribe", own).await, ok);
    let mixed = subscribe(
        "d1",
        "d1",
        &[
            ("devices/d1/commands/#", 1),
            ("devices/d2/commands/#", 1),
            ("#", 0),
        ],
    );
    assert_eq!(
        hook(&fixture, "auth_on_subscribe", mixed.clone()).await,
        json!({"result": "ok", "topics": [
            {"topic": "devices/d1/commands/#", "qos": 1},
            {"topic": "devices/d2/commands/#", "qos": 128},
            {"topic": "#", "qos": 128},
        ]})
    );
    assert_eq!(
        hook(&fixture, "auth_on_subscribe_m5", mixed).await,
        json!({"result": "ok", "modifiers": {"topics": [
            {"topic": "devices/d1/commands/#", "qos": 1},
            {"topic": "devices/d2/commands/#", "qos": 135},
            {"topic": "#", "qos": 135},
        ]}})
    );
    let (key, _) = fixture.app.clone();
    let app = subscribe(
        &key,
        &key,
        &[
            ("$share/hearth/devices/d1/data", 1),
            ("devices/+/data", 1),
            ("devices/d3/#", 1),
        ],
    );
    assert_eq!(
        hook(&fixture, "auth_on_subscribe", app).await,
        json!({"result": "ok", "topics": [
            {"topic": "$share/hearth/devices/d1/data", "qos": 1},
            {"topic": "devices/+/data", "qos": 128},
            {"topic": "devices/d3/#", "qos": 128},
        ]})
    );
    // An unknown hook is no route of this API.
    let (status, _) = post(
        &fixture.hub,
        &format!("/api/v1/broker/vernemq/on_deliver?secret={SECRET}"),
        &[],
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(status, 404);
    fixture.hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(vernemq_hooks_follow_the_registry);
