//! MQTT 5 features of message delivery, as third-party clients see them: topic aliases in
//! both directions, Receive Maximum, Maximum Packet Size, subscription options and
//! identifiers, forwarded properties, and the reason codes of PUBACK, SUBACK and
//! UNSUBACK. Connection and session features are in `mqtt5.rs`.

mod common;

use async_trait::async_trait;
use common::TestBroker;
use common::clients::{mosquitto, run_mosquitto, run_script, wait_for_stats};
use hearth_broker::BrokerConfig;
use hearth_bus::{Action, AllowAll, AuthError, Authorizer, ConnectRequest, Principal};
use hearth_mqtt::ReasonCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Lets everyone connect and do anything except publish or subscribe under `forbidden/`.
struct DenyForbidden;

#[async_trait]
impl Authorizer for DenyForbidden {
    async fn authenticate(&self, request: &ConnectRequest) -> Result<Principal, AuthError> {
        AllowAll.authenticate(request).await
    }

    fn authorize(&self, _: &Principal, _: &str, _: Action, topic: &str) -> bool {
        !topic.starts_with("forbidden/")
    }
}

async fn v5_raw(broker: &TestBroker, case: &str, extra: &[&str]) -> Value {
    let args: Vec<&str> = ["--case", case].iter().chain(extra).copied().collect();
    run_script("v5_raw.py", broker.port(), &args).await
}

async fn v5_paho(broker: &TestBroker, case: &str) -> Value {
    run_script("v5_paho.py", broker.port(), &["--case", case]).await
}

#[tokio::test]
async fn topic_alias_from_client_is_resolved_to_the_full_topic_for_subscribers() {
    let broker = TestBroker::start().await;
    let result = v5_paho(&broker, "topic_alias_from_client").await;
    assert_eq!(result["pubacks"], json!([0, 0]), "{result}");
    assert_eq!(
        result["received"],
        json!([
            ["alias/from/client", "first"],
            ["alias/from/client", "second"]
        ]),
        "{result}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn subscriber_announcing_topic_alias_maximum_receives_aliases_within_it() {
    let broker = TestBroker::start().await;
    let result = v5_raw(&broker, "topic_alias_to_client", &[]).await;
    let aliased = &result["aliased"];
    assert_eq!(
        aliased["resolved"], result["sent"],
        "aliases did not resolve to the topics sent: {result}"
    );
    let wire = aliased["wire"].as_array().expect("list");
    for packet in wire {
        if let Some(alias) = packet["alias"].as_u64() {
            // v5 3.3.2.3.4: never above the Topic Alias Maximum the client announced (2).
            assert!(
                (1..=2).contains(&alias),
                "alias {alias} outside 1..=2: {result}"
            );
        }
    }
    assert!(
        wire.iter()
            .any(|packet| packet["topic"] == "" && packet["alias"].is_u64()),
        "no PUBLISH used an alias in place of its topic: {result}"
    );

    let plain = &result["plain"];
    assert_eq!(plain["resolved"], result["sent"], "{result}");
    for packet in plain["wire"].as_array().expect("list") {
        assert!(
            packet["alias"].is_null(),
            "alias sent to a client that allows none: {result}"
        );
    }
    broker.stop().await;
}

#[tokio::test]
async fn receive_maximum_limits_unacknowledged_messages_in_flight_to_a_client() {
    let broker = TestBroker::start().await;
    let result = v5_raw(&broker, "receive_maximum", &[]).await;
    // v5 3.3.4: no more unacknowledged QoS 1 messages than the client's Receive Maximum (2).
    assert_eq!(result["before_ack"], json!(["m1", "m2"]), "{result}");
    assert_eq!(
        result["after_one_ack"],
        json!(["m3"]),
        "one PUBACK frees exactly one slot: {result}"
    );
    assert_eq!(
        result["all"],
        json!(["m1", "m2", "m3", "m4", "m5"]),
        "{result}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn message_larger_than_the_client_maximum_packet_size_is_not_sent() {
    let broker = TestBroker::start().await;
    let result = v5_raw(&broker, "maximum_packet_size", &[]).await;
    // v5 3.1.2.11.4: discard it as if delivered; the smaller messages still arrive.
    assert_eq!(
        result["received"],
        json!([{"topic": "mps/q0/small", "size": 5}, {"topic": "mps/q1/small", "size": 5}]),
        "{result}"
    );
    let stats = broker.handle.stats().await.expect("stats");
    assert_eq!(stats.dropped_too_large, 2, "{stats:?}");
    broker.stop().await;
}

#[tokio::test]
async fn no_local_subscription_does_not_receive_its_own_messages() {
    let broker = TestBroker::start().await;
    let result = v5_paho(&broker, "no_local").await;
    assert_eq!(result["a_got"], json!(["from-b"]), "{result}");
    assert_eq!(result["b_got"], json!(["from-a", "from-b"]), "{result}");
    broker.stop().await;
}

#[tokio::test]
async fn retain_as_published_keeps_the_retain_flag_on_forwarded_messages() {
    let broker = TestBroker::start().await;
    let result = v5_paho(&broker, "retain_as_published").await;
    // Retained messages sent because of a SUBSCRIBE always carry RETAIN; live ones only
    // with Retain As Published (v5 3.3.1.3).
    assert_eq!(
        result["a"],
        json!([["old", true], ["new", true]]),
        "{result}"
    );
    assert_eq!(
        result["b"],
        json!([["old", true], ["new", false]]),
        "{result}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn retain_handling_decides_when_retained_messages_are_sent_at_subscribe() {
    let broker = TestBroker::start().await;
    let result = v5_paho(&broker, "retain_handling").await;
    // v5 3.8.3.1: 0 = on every SUBSCRIBE, 1 = only for a new subscription, 2 = never.
    assert_eq!(
        result["retained_per_subscribe"],
        json!({"0": [1, 1], "1": [1, 0], "2": [0, 0]}),
        "{result}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn subscription_identifiers_of_every_matching_subscription_are_delivered() {
    let broker = TestBroker::start().await;
    let result = v5_paho(&broker, "subscription_identifiers").await;
    let received = result["received"].as_array().expect("list");
    let identifiers_for = |topic: &str| -> (usize, BTreeSet<u64>) {
        let copies: Vec<&Value> = received
            .iter()
            .filter(|message| message[0] == topic)
            .collect();
        let ids = copies
            .iter()
            .flat_map(|message| message[1].as_array().cloned().unwrap_or_default())
            .filter_map(|id| id.as_u64())
            .collect();
        (copies.len(), ids)
    };
    // v5 3.3.4: one copy carries every matching identifier (or one copy per subscription).
    let (copies, ids) = identifiers_for("sid/a/x");
    assert!(copies >= 1, "sid/a/x not delivered: {result}");
    assert_eq!(ids, BTreeSet::from([7, 9]), "{result}");
    assert_eq!(
        identifiers_for("sid/b"),
        (1, BTreeSet::from([7])),
        "{result}"
    );
    let plain: Vec<&Value> = received
        .iter()
        .filter(|message| message[0] == "plain/c")
        .collect();
    assert_eq!(plain.len(), 1, "{result}");
    assert!(
        plain[0][1].is_null(),
        "identifier on a subscription made without one: {result}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn user_properties_are_forwarded_in_order_with_duplicates() {
    let broker = TestBroker::start().await;
    let result = v5_paho(&broker, "user_properties").await;
    assert_eq!(result["received"], json!([result["sent"]]), "{result}");
    broker.stop().await;
}

#[tokio::test]
async fn mosquitto_clients_see_user_properties_response_topic_and_correlation_data() {
    let broker = TestBroker::start().await;
    let mut subscribe = mosquitto("mosquitto_sub", broker.port());
    subscribe.args([
        "-V",
        "mqttv5",
        "-t",
        "props/t",
        "-C",
        "1",
        "-W",
        "10",
        "-F",
        "%P|%R|%D|%p",
    ]);
    subscribe
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let subscriber = subscribe.spawn().expect("mosquitto_sub runs");
    wait_for_stats(&broker, "mosquitto_sub to subscribe", |stats| {
        stats.subscriptions == 1
    })
    .await;

    let mut publish = mosquitto("mosquitto_pub", broker.port());
    publish.args(["-V", "mqttv5", "-t", "props/t", "-m", "hello"]);
    for (key, value) in [("k", "1"), ("b", "2"), ("k", "3")] {
        publish.args(["-D", "publish", "user-property", key, value]);
    }
    publish.args(["-D", "publish", "response-topic", "props/reply"]);
    publish.args(["-D", "publish", "correlation-data", "req-17"]);
    run_mosquitto(publish).await;

    let output = tokio::time::timeout(
        common::clients::SCRIPT_DEADLINE,
        subscriber.wait_with_output(),
    )
    .await
    .expect("mosquitto_sub finished")
    .expect("mosquitto_sub output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "mosquitto_sub failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.trim(), "k:1 b:2 k:3|props/reply|req-17|hello");
    broker.stop().await;
}

#[tokio::test]
async fn request_response_properties_are_forwarded_unchanged() {
    let broker = TestBroker::start().await;
    let result = v5_paho(&broker, "request_response").await;
    let sent = &result["sent_correlation"];
    assert_eq!(
        result["responder_saw"]["ResponseTopic"], "rr/response/requester",
        "{result}"
    );
    assert_eq!(
        &result["responder_saw"]["CorrelationData"], sent,
        "{result}"
    );
    let responses = result["requester_got"].as_array().expect("list");
    assert_eq!(responses.len(), 1, "{result}");
    assert_eq!(responses[0]["payload"], "pong", "{result}");
    assert_eq!(
        &responses[0]["properties"]["CorrelationData"], sent,
        "{result}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn denied_publish_gets_puback_0x87_and_is_not_delivered() {
    let broker = TestBroker::start_with(BrokerConfig::ephemeral(), Arc::new(DenyForbidden)).await;
    let result = v5_paho(&broker, "puback_not_authorized").await;
    assert_eq!(
        result["denied_puback"],
        ReasonCode::NOT_AUTHORIZED.0,
        "{result}"
    );
    assert_eq!(result["allowed_puback"], 0, "{result}");
    assert_eq!(result["subscriber_got"], json!(["allowed/x"]), "{result}");
    let stats = broker.handle.stats().await.expect("stats");
    assert_eq!(stats.publish_denied, 1, "{stats:?}");
    broker.stop().await;
}

#[tokio::test]
async fn suback_reports_0x87_for_a_denied_filter_and_0x8f_for_an_invalid_one() {
    let broker = TestBroker::start_with(BrokerConfig::ephemeral(), Arc::new(DenyForbidden)).await;
    let v5 = v5_raw(&broker, "suback_reason_codes", &["--version", "5"]).await;
    // Filters: ok/#, forbidden/#, bad/#/x, bad+ (v5 3.9.3).
    assert_eq!(v5["reasons"], json!([1, 0x87, 0x8F, 0x8F]), "{v5}");
    // MQTT 3.1.1 has a single failure code, 0x80 (3.1.1 3.9.3).
    let v3 = v5_raw(&broker, "suback_reason_codes", &["--version", "4"]).await;
    assert_eq!(v3["reasons"], json!([1, 0x80]), "{v3}");
    let stats = broker.handle.stats().await.expect("stats");
    assert_eq!(stats.subscribe_denied, 2, "{stats:?}");
    broker.stop().await;
}

#[tokio::test]
async fn unsuback_reports_0x11_for_a_filter_that_was_not_subscribed() {
    let broker = TestBroker::start().await;
    let result = v5_paho(&broker, "unsubscribe_reason_codes").await;
    assert_eq!(
        result["reasons"],
        json!([0, ReasonCode::NO_SUBSCRIPTION_EXISTED.0]),
        "{result}"
    );
    broker.stop().await;
}
