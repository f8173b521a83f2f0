//! MQTT core behaviour as real clients see it: paho-mqtt (Python) scenarios from
//! tests/clients against an in-process broker on port 0.
//!
//! Round trips in every protocol version and across versions, QoS delivery and downgrade,
//! exactly-once and ordering, retained messages, wildcards and `$` topics, shared
//! subscriptions and `$SYS`. Sessions, wills and keep-alive are in `paho_sessions.rs`;
//! WebSocket, TLS and slow consumers in `transports.rs`.

mod common;

use common::TestBroker;
use common::clients::{payloads, records, run_script, text};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// "0", "1", ... as the scripts number their messages.
fn numbered(count: usize) -> Vec<String> {
    (0..count).map(|number| number.to_string()).collect()
}

/// Runs pubsub.py and checks the parts every round trip shares: the sentinel arrived and
/// the subscription was granted the QoS asked for.
async fn pubsub(broker: &TestBroker, args: &[&str]) -> Value {
    let result = run_script("pubsub.py", broker.port(), args).await;
    assert_eq!(text(&result["sentinel"]["payload"]), "end", "{result}");
    result
}

async fn round_trip(sub_version: &str, pub_version: &str) {
    let broker = TestBroker::start().await;
    let result = pubsub(
        &broker,
        &[
            "--sub-version",
            sub_version,
            "--pub-version",
            pub_version,
            "--count",
            "5",
            "--sub-qos",
            "1",
            "--pub-qos",
            "1",
        ],
    )
    .await;
    assert_eq!(payloads(&result["received"]), numbered(5), "{result}");
    for message in records(&result["received"]) {
        assert_eq!(message["qos"], 1, "{message}");
        assert_eq!(message["retain"], false, "{message}");
        assert!(text(&message["topic"]).starts_with("pubsub/"), "{message}");
    }
    broker.stop().await;
}

#[tokio::test]
async fn v3_1_mqisdp_client_round_trip() {
    round_trip("31", "31").await;
}

#[tokio::test]
async fn v3_1_1_client_round_trip() {
    round_trip("311", "311").await;
}

#[tokio::test]
async fn v5_client_round_trip() {
    round_trip("5", "5").await;
}

#[tokio::test]
async fn v3_1_publisher_reaches_v5_subscriber() {
    round_trip("5", "31").await;
}

#[tokio::test]
async fn v5_publisher_reaches_v3_1_subscriber() {
    round_trip("31", "5").await;
}

/// Publishes 20 messages at `qos` to a subscription at `qos`; all arrive at that QoS.
async fn delivered_at(qos: &str) {
    let broker = TestBroker::start().await;
    let result = pubsub(
        &broker,
        &["--count", "20", "--sub-qos", qos, "--pub-qos", qos],
    )
    .await;
    assert_eq!(
        result["granted"],
        serde_json::json!([qos.parse::<u8>().unwrap()]),
        "{result}"
    );
    assert_eq!(payloads(&result["received"]), numbered(20), "{result}");
    for message in records(&result["received"]) {
        assert_eq!(message["qos"].to_string(), qos, "{message}");
    }
    broker.stop().await;
}

#[tokio::test]
async fn qos0_messages_are_delivered() {
    delivered_at("0").await;
}

#[tokio::test]
async fn qos1_messages_are_delivered() {
    delivered_at("1").await;
}

#[tokio::test]
async fn qos2_messages_are_delivered() {
    delivered_at("2").await;
}

/// MQTT 3.1.1 §3.8.4 / 5.0 §3.8.4: the broker delivers at the minimum of the published
/// QoS and the QoS granted to the subscription.
#[tokio::test]
async fn delivered_qos_is_the_minimum_of_published_and_subscribed() {
    let broker = TestBroker::start().await;
    let result = run_script("qos_matrix.py", broker.port(), &[]).await;
    for subscribed in 0..=2u64 {
        let key = subscribed.to_string();
        assert_eq!(
            result["granted"][&key],
            serde_json::json!([subscribed]),
            "{result}"
        );
        let received = records(&result["received"][&key]);
        let observed: Vec<(String, u64)> = received
            .iter()
            .map(|message| (text(&message["payload"]), message["qos"].as_u64().unwrap()))
            .collect();
        let expected: Vec<(String, u64)> = (0..=2u64)
            .map(|published| {
                (
                    format!("published at {published}"),
                    published.min(subscribed),
                )
            })
            .collect();
        assert_eq!(
            observed, expected,
            "subscriber at QoS {subscribed}: {result}"
        );
    }
    broker.stop().await;
}

/// 100 QoS 2 messages between two paho clients: each payload exactly once, none flagged
/// as a duplicate (nothing was resent on a healthy connection).
#[tokio::test]
async fn qos2_messages_arrive_exactly_once() {
    let broker = TestBroker::start().await;
    let result = pubsub(
        &broker,
        &[
            "--count",
            "100",
            "--sub-qos",
            "2",
            "--pub-qos",
            "2",
            "--inflight",
            "20",
        ],
    )
    .await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for payload in payloads(&result["received"]) {
        *counts.entry(payload).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = numbered(100)
        .into_iter()
        .map(|payload| (payload, 1))
        .collect();
    assert_eq!(counts, expected, "deliveries per payload");
    assert!(
        records(&result["received"])
            .iter()
            .all(|message| message["qos"] == 2),
        "{result}"
    );
    broker.stop().await;
}

/// MQTT 3.1.1 §4.6 / 5.0 §4.6: messages from one publisher on one topic at one QoS
/// reach a subscriber in the order they were published.
#[tokio::test]
async fn qos1_messages_on_one_topic_arrive_in_publish_order() {
    let broker = TestBroker::start().await;
    let result = pubsub(
        &broker,
        &[
            "--count",
            "1000",
            "--sub-qos",
            "1",
            "--pub-qos",
            "1",
            "--inflight",
            "100",
        ],
    )
    .await;
    let received = payloads(&result["received"]);
    assert_eq!(received.len(), 1000, "every message arrives once");
    let out_of_order = received
        .iter()
        .zip(numbered(1000))
        .position(|(got, want)| *got != want);
    assert_eq!(out_of_order, None, "first position out of order");
    broker.stop().await;
}

async fn retained_case(case: &str) -> Value {
    let broker = TestBroker::start().await;
    let result = run_script("retained.py", broker.port(), &["--case", case]).await;
    broker.stop().await;
    result
}

fn payload_and_retain(messages: &Value) -> Vec<(String, bool)> {
    records(messages)
        .iter()
        .map(|message| {
            (
                text(&message["payload"]),
                message["retain"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// MQTT 3.1.1 §3.3.1.3: a retained message is sent to a new subscriber with RETAIN 1.
#[tokio::test]
async fn retained_message_reaches_new_subscriber_with_retain_flag() {
    let result = retained_case("set").await;
    assert_eq!(
        payload_and_retain(&result["new"]),
        [("first".to_owned(), true)],
        "{result}"
    );
}

/// MQTT 3.1.1 §3.3.1.3: a new retained message on a topic replaces the previous one.
#[tokio::test]
async fn retained_message_is_replaced_by_a_newer_one() {
    let result = retained_case("replace").await;
    assert_eq!(
        payload_and_retain(&result["new"]),
        [("second".to_owned(), true)],
        "{result}"
    );
}

/// MQTT 3.1.1 §3.3.1.3: a retained PUBLISH with an empty payload removes the retained
/// message; a later subscriber gets nothing.
#[tokio::test]
async fn empty_retained_payload_deletes_the_retained_message() {
    let result = retained_case("delete").await;
    assert_eq!(payload_and_retain(&result["new"]), [], "{result}");
}

/// MQTT 3.1.1 §3.3.1.3: "It MUST set the RETAIN flag to 0 when a PUBLISH Packet is sent to
/// a Client because it matches an established subscription regardless of how the flag was
/// set in the message it received" — while a new subscriber still sees RETAIN 1.
#[tokio::test]
async fn established_subscriber_gets_retained_publish_without_retain_flag() {
    let result = retained_case("existing").await;
    assert_eq!(
        payload_and_retain(&result["existing"]),
        [("first".to_owned(), false)],
        "{result}"
    );
    assert_eq!(
        payload_and_retain(&result["new"]),
        [("first".to_owned(), true)],
        "{result}"
    );
}

/// MQTT 3.1.1 §4.7.1: `+` matches one level, `#` any number of levels including the parent.
#[tokio::test]
async fn plus_and_hash_wildcards_match_as_specified() {
    let broker = TestBroker::start().await;
    let topics = [
        "wc/a/temp",
        "wc/b/temp",
        "wc/a/humidity",
        "wc/a",
        "wc",
        "other/a/temp",
        "wc/a/temp/deep",
    ];
    let expected: [(&str, &[&str]); 7] = [
        ("wc/+/temp", &["wc/a/temp", "wc/b/temp"]),
        (
            "wc/#",
            &[
                "wc/a/temp",
                "wc/b/temp",
                "wc/a/humidity",
                "wc/a",
                "wc",
                "wc/a/temp/deep",
            ],
        ),
        ("wc/a/+", &["wc/a/temp", "wc/a/humidity"]),
        ("+/a/temp", &["wc/a/temp", "other/a/temp"]),
        ("#", &topics),
        ("wc/+", &["wc/a"]),
        ("wc/a/temp/#", &["wc/a/temp", "wc/a/temp/deep"]),
    ];
    let mut args = vec!["--case", "wildcards", "--filters"];
    args.extend(expected.iter().map(|(filter, _)| *filter));
    args.push("--topics");
    args.extend(topics);
    let result = run_script("wildcards.py", broker.port(), &args).await;
    for (filter, topics) in expected {
        let received: Vec<String> = records(&result["received"][filter])
            .iter()
            .map(text)
            .collect();
        assert_eq!(received, topics, "filter {filter}");
    }
    broker.stop().await;
}

/// MQTT 3.1.1 §4.7.2: filters starting with a wildcard do not match topics starting with
/// `$`; `$SYS/#` does. Checked for live `$SYS` updates and for retained ones delivered on
/// subscribe.
#[tokio::test]
async fn dollar_topics_are_not_matched_by_leading_wildcards() {
    let broker = TestBroker::start().await;
    let filters = ["#", "+/broker/uptime", "+/#", "$SYS/broker/uptime"];
    let mut args = vec!["--case", "dollar", "--filters"];
    args.extend(filters);
    let result = run_script("wildcards.py", broker.port(), &args).await;
    for filter in ["#", "+/broker/uptime", "+/#"] {
        let received: Vec<String> = records(&result["received"][filter])
            .iter()
            .map(text)
            .collect();
        assert!(
            received.iter().all(|topic| !topic.starts_with('$')),
            "{filter} matched {received:?}"
        );
    }
    let explicit: Vec<String> = records(&result["received"]["$SYS/broker/uptime"])
        .iter()
        .map(text)
        .collect();
    assert!(
        !explicit.is_empty(),
        "an explicit $SYS filter gets $SYS messages"
    );
    let sys_topics: Vec<String> = records(&result["sys_topics"]).iter().map(text).collect();
    assert!(
        sys_topics.contains(&"$SYS/broker/uptime".to_owned()),
        "$SYS/# matched {sys_topics:?}"
    );
    broker.stop().await;
}

/// MQTT 5.0 §4.8.2: each message matching a shared subscription goes to exactly one member
/// of the group; the ordinary subscriber on the same topic still gets every message.
#[tokio::test]
async fn shared_subscription_delivers_each_message_to_exactly_one_member() {
    let broker = TestBroker::start().await;
    let result = run_script(
        "shared.py",
        broker.port(),
        &["--members", "3", "--count", "300"],
    )
    .await;
    for granted in records(&result["granted"]) {
        assert_eq!(granted, &serde_json::json!([1, 1]), "{result}");
    }
    let members: Vec<Vec<String>> = records(&result["members"])
        .iter()
        .map(payloads_of_strings)
        .collect();
    let total: usize = members.iter().map(Vec::len).sum();
    let distinct: BTreeSet<&String> = members.iter().flatten().collect();
    let expected: BTreeSet<String> = numbered(300).into_iter().collect();
    assert_eq!(
        total, 300,
        "deliveries to the group (duplicates count twice)"
    );
    assert_eq!(
        distinct,
        expected.iter().collect::<BTreeSet<_>>(),
        "every message reached the group"
    );
    for (index, member) in members.iter().enumerate() {
        assert!(
            !member.is_empty(),
            "member {index} got nothing: counts {:?}",
            members.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }
    assert_eq!(
        payloads_of_strings(&result["plain"]),
        numbered(300),
        "the ordinary subscriber"
    );
    broker.stop().await;
}

fn payloads_of_strings(value: &Value) -> Vec<String> {
    records(value).iter().map(text).collect()
}

/// `$SYS/broker/...` (Mosquitto's names): values arrive and are consistent with what the
/// client did.
#[tokio::test]
async fn sys_topics_report_broker_state() {
    let broker = TestBroker::start().await;
    let result = run_script("sys_topics.py", broker.port(), &["--retained", "3"]).await;
    let value = |snapshot: &str, topic: &str| -> String {
        let key = format!("$SYS/broker/{topic}");
        result[snapshot][&key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key} in {snapshot}: {result}"))
            .to_owned()
    };
    let number = |snapshot: &str, topic: &str| -> u64 {
        let raw = value(snapshot, topic);
        raw.parse()
            .unwrap_or_else(|_| panic!("{topic} is not a number: {raw:?}"))
    };
    let uptime = |snapshot: &str| -> u64 {
        let raw = value(snapshot, "uptime");
        let seconds = raw
            .strip_suffix(" seconds")
            .unwrap_or_else(|| panic!("uptime {raw:?} is not 'N seconds'"));
        seconds.parse().unwrap_or_else(|_| panic!("uptime {raw:?}"))
    };
    assert!(
        !value("after", "version").trim().is_empty(),
        "version is empty"
    );
    assert!(uptime("after") >= uptime("before"), "uptime went backwards");
    // The watcher and the publisher are both connected.
    assert!(number("after", "clients/connected") >= 2, "{result}");
    // At least the watcher's own subscription.
    assert!(number("after", "subscriptions/count") >= 1, "{result}");
    // Three retained messages were published between the two snapshots.
    assert!(
        number("after", "retained messages/count")
            >= number("before", "retained messages/count") + 3,
        "retained count did not grow by 3: {result}"
    );
    assert!(
        number("after", "messages/received") >= number("before", "messages/received") + 3,
        "messages received did not grow by 3: {result}"
    );
    broker.stop().await;
}
