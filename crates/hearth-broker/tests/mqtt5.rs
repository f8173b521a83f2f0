//! MQTT 5 connection and session features, as third-party clients see them: CONNACK
//! properties, message expiry, will delay, DISCONNECT sent through the broker handle,
//! enhanced authentication. Routing features (aliases, flow control, subscription
//! options, properties, ack reason codes) are in `mqtt5_delivery.rs`; session expiry
//! and takeover (0x8E) are covered in `paho_sessions.rs`.
//!
//! The scenarios are `tests/clients/v5_raw.py` (hand-built packets) and `v5_paho.py`
//! (paho-mqtt 2.x); each prints what its clients observed and the assertions are here.

mod common;

use common::TestBroker;
use common::clients::{DEADLINE, SCRIPT_DEADLINE, parse_json, python, run_script};
use hearth_broker::BrokerConfig;
use hearth_bus::AllowAll;
use hearth_mqtt::ReasonCode;
use serde_json::Value;
use std::sync::Arc;

async fn start_with_limits(adjust: impl FnOnce(&mut hearth_broker::Limits)) -> TestBroker {
    let mut config = BrokerConfig::ephemeral();
    adjust(&mut config.limits);
    TestBroker::start_with(config, Arc::new(AllowAll)).await
}

async fn v5_raw(broker: &TestBroker, case: &str, extra: &[&str]) -> Value {
    let args: Vec<&str> = ["--case", case].iter().chain(extra).copied().collect();
    run_script("v5_raw.py", broker.port(), &args).await
}

async fn v5_paho(broker: &TestBroker, case: &str) -> Value {
    run_script("v5_paho.py", broker.port(), &["--case", case]).await
}

fn reason(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("expected a reason code, got {value}"))
}

#[tokio::test]
async fn connack_announces_receive_maximum_packet_size_and_topic_alias_maximum() {
    let broker = start_with_limits(|limits| {
        limits.receive_maximum = 17;
        limits.max_packet_size = 4096;
        limits.topic_alias_maximum = 5;
    })
    .await;
    let connack = v5_paho(&broker, "connack_properties").await;
    assert_eq!(reason(&connack["reason"]), 0, "{connack}");
    let properties = &connack["properties"];
    assert_eq!(properties["ReceiveMaximum"], 17, "{connack}");
    assert_eq!(properties["MaximumPacketSize"], 4096, "{connack}");
    assert_eq!(properties["TopicAliasMaximum"], 5, "{connack}");
    broker.stop().await;
}

#[tokio::test]
async fn empty_client_id_gets_a_unique_assigned_client_identifier() {
    let broker = TestBroker::start().await;
    let result = v5_paho(&broker, "assigned_client_id").await;
    let assigned: Vec<&str> = result["assigned"]
        .as_array()
        .expect("list of assigned ids")
        .iter()
        .map(|id| {
            id.as_str()
                .unwrap_or_else(|| panic!("CONNACK without Assigned Client Identifier: {result}"))
        })
        .collect();
    assert!(assigned.iter().all(|id| !id.is_empty()), "{result}");
    assert_ne!(
        assigned[0], assigned[1],
        "two clients were assigned the same id: {result}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn server_keep_alive_caps_keep_alive_when_a_maximum_is_configured() {
    let broker = start_with_limits(|limits| limits.max_keep_alive_secs = 5).await;
    let connacks = v5_raw(&broker, "server_keep_alive", &[]).await;
    // v5 3.2.2.3.14: the client must use the Server Keep Alive instead of its own value;
    // asking for 0 (no keep-alive) is also more than the maximum allows.
    assert_eq!(
        connacks["60"]["properties"]["server_keep_alive"], 5,
        "{connacks}"
    );
    assert_eq!(
        connacks["0"]["properties"]["server_keep_alive"], 5,
        "{connacks}"
    );
    broker.stop().await;

    let unlimited = start_with_limits(|limits| limits.max_keep_alive_secs = 0).await;
    let connacks = v5_raw(&unlimited, "server_keep_alive", &[]).await;
    assert!(
        connacks["60"]["properties"]["server_keep_alive"].is_null(),
        "{connacks}"
    );
    unlimited.stop().await;
}

#[tokio::test]
async fn queued_message_expires_while_its_session_is_offline() {
    let broker = TestBroker::start().await;
    let result = v5_raw(&broker, "message_expiry", &[]).await;
    assert_eq!(result["session_present"], true, "{result}");
    let payloads: Vec<&str> = result["received"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|m| m["payload"].as_str())
        .collect();
    // "short" had a 1 s Message Expiry Interval and waited more than 2 s (v5 3.3.2.3.3).
    assert_eq!(payloads, ["long", "forever"], "{result}");
    let stats = broker.handle.stats().await.expect("stats");
    assert!(
        stats.expired >= 1,
        "expired messages not counted: {stats:?}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn delivered_message_carries_its_remaining_expiry_interval() {
    let broker = TestBroker::start().await;
    let result = v5_raw(&broker, "message_expiry", &[]).await;
    let received = result["received"].as_array().expect("list");
    let long = received
        .iter()
        .find(|m| m["payload"] == "long")
        .unwrap_or_else(|| panic!("{result}"));
    let forever = received
        .iter()
        .find(|m| m["payload"] == "forever")
        .unwrap_or_else(|| panic!("{result}"));
    // Published with 60 s and delivered more than 2 s later: v5 3.3.2.3.3 requires the
    // interval to be reduced by the time spent waiting.
    let expiry = long["expiry"]
        .as_u64()
        .unwrap_or_else(|| panic!("no Message Expiry Interval: {result}"));
    assert!(
        (1..=58).contains(&expiry),
        "expiry {expiry} not reduced from 60: {result}"
    );
    assert!(
        forever["expiry"].is_null(),
        "a message without expiry gained one: {result}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn will_is_published_only_after_the_will_delay_interval() {
    let broker = TestBroker::start().await;
    let result = v5_raw(&broker, "will_delay", &[]).await;
    assert_eq!(result["topic"], "will/delayed", "{result}");
    assert_eq!(result["payload"], "gone", "{result}");
    // A lower bound only: a slow machine makes it later, never earlier (v5 3.1.3.2.2).
    let elapsed = result["elapsed_secs"].as_f64().expect("elapsed");
    assert!(
        elapsed >= 0.9,
        "will with a 1 s delay arrived after {elapsed} s"
    );
    broker.stop().await;
}

#[tokio::test]
async fn will_is_not_published_when_the_client_reconnects_within_the_delay() {
    let broker = TestBroker::start().await;
    let result = v5_raw(&broker, "will_cancelled", &[]).await;
    // The first will was due before the second; only the second may arrive.
    assert_eq!(
        result["will_topics"],
        serde_json::json!(["will/second"]),
        "{result}"
    );
    broker.stop().await;
}

/// Runs `wait_for_kick` for `client_id` while the handle disconnects that client.
async fn kick(broker: &TestBroker, client_id: &str, version: &str, reason: ReasonCode) -> Value {
    let mut command = python(
        "v5_raw.py",
        broker.port(),
        &[
            "--case",
            "wait_for_kick",
            "--client-id",
            client_id,
            "--version",
            version,
        ],
    );
    command
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().expect("python3 runs");
    let handle = broker.handle.clone();
    let kicked = common::eventually(DEADLINE, || {
        let handle = handle.clone();
        async move {
            handle
                .disconnect_client(client_id, reason)
                .await
                .unwrap_or(false)
        }
    })
    .await;
    assert!(kicked, "{client_id} never showed up as connected");
    let output = tokio::time::timeout(SCRIPT_DEADLINE, child.wait_with_output())
        .await
        .expect("script finished before its deadline")
        .expect("script output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "wait_for_kick failed: {stderr}");
    parse_json(&String::from_utf8_lossy(&output.stdout))
}

#[tokio::test]
async fn disconnect_client_sends_disconnect_with_the_given_reason() {
    let broker = TestBroker::start().await;
    let v5 = kick(&broker, "kick-v5", "5", ReasonCode::ADMINISTRATIVE_ACTION).await;
    assert_eq!(
        v5["disconnect_reason"],
        ReasonCode::ADMINISTRATIVE_ACTION.0,
        "{v5}"
    );
    assert_eq!(v5["closed"], true, "{v5}");

    let v3 = kick(&broker, "kick-v3", "4", ReasonCode::ADMINISTRATIVE_ACTION).await;
    assert_eq!(v3["closed"], true, "{v3}");
    assert!(
        v3["disconnect_reason"].is_null(),
        "MQTT 3.1.1 has no server DISCONNECT: {v3}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn authentication_method_in_connect_is_refused_with_0x8c() {
    let broker = TestBroker::start().await;
    let result = v5_paho(&broker, "authentication_method").await;
    // The broker offers no enhanced authentication (v5 4.12): CONNACK 0x8C.
    assert_eq!(
        reason(&result["reason"]),
        u64::from(ReasonCode::BAD_AUTHENTICATION_METHOD.0),
        "{result}"
    );
    let stats = broker.handle.stats().await.expect("stats");
    assert_eq!(stats.connect_refused, 1, "{stats:?}");
    broker.stop().await;
}
