//! Bad input over raw sockets (`tests/clients/raw_bad_input.py`): each test sends one
//! kind of malformed or forbidden packet and checks what the offending client observes
//! (DISCONNECT with the right reason code on MQTT 5, a closed connection on 3.1.1), that
//! the broker counted it, that a client connected beforehand still works and that new
//! clients can still connect (SPEC §5: a bad packet closes only its own connection).

mod common;

use common::TestBroker;
use common::clients::run_script;
use hearth_broker::{BrokerConfig, Limits};
use hearth_bus::AllowAll;
use hearth_mqtt::ReasonCode;
use serde_json::Value;
use std::sync::Arc;

/// Runs one case against a fresh broker (with adjusted limits) and checks what every
/// case must show: the witness and a newcomer unaffected. Returns the script's report
/// and the broker's statistics afterwards.
async fn run_case(
    case: &str,
    adjust: impl FnOnce(&mut Limits),
) -> (Value, hearth_broker::StatsSnapshot) {
    let mut config = BrokerConfig::ephemeral();
    adjust(&mut config.limits);
    let broker = TestBroker::start_with(config, Arc::new(AllowAll)).await;
    let report = run_script("raw_bad_input.py", broker.port(), &["--case", case]).await;
    assert_eq!(
        report["witness"], "ok",
        "a client connected beforehand was affected: {report}"
    );
    assert_eq!(
        report["new_connection"], "ok",
        "new clients could not connect afterwards: {report}"
    );
    let stats = broker.handle.stats().await.expect("stats");
    broker.stop().await;
    (report, stats)
}

async fn bad_input(case: &str) -> (Value, hearth_broker::StatsSnapshot) {
    run_case(case, |_| {}).await
}

/// An MQTT 5 run ended with a DISCONNECT carrying one of `reasons`, then a close.
fn assert_v5_disconnect(report: &Value, reasons: &[ReasonCode]) {
    let run = &report["runs"]["5"];
    let allowed: Vec<u8> = reasons.iter().map(|reason| reason.0).collect();
    let got = run["disconnect_reason"].as_u64();
    assert!(
        got.is_some_and(|got| allowed.iter().any(|&reason| u64::from(reason) == got)),
        "MQTT 5 client expected DISCONNECT with one of {allowed:#04x?}, observed {run}"
    );
    assert_eq!(
        run["closed"], true,
        "connection left open after DISCONNECT: {run}"
    );
}

/// An MQTT 3.1.1 run ended with the connection closed (3.1.1 has no server DISCONNECT).
fn assert_v3_closed(report: &Value) {
    let run = &report["runs"]["4"];
    assert_eq!(
        run["closed"], true,
        "MQTT 3.1.1 connection not closed: {run}"
    );
    assert_eq!(
        run["packets"],
        serde_json::json!([]),
        "MQTT 3.1.1 client got packets instead of a close: {run}"
    );
}

/// A run before CONNECT was accepted ended with the connection closed and no CONNACK
/// that accepted it.
fn assert_closed_without_session(run: &Value) {
    assert_eq!(run["closed"], true, "connection not closed: {run}");
    let accepted = run["connack"]["reason"].as_u64() == Some(0);
    assert!(!accepted, "bad CONNECT was accepted: {run}");
}

/// The common shape of these tests: the v5 connection gets DISCONNECT with one of
/// `reasons`, the 3.1.1 connection is closed, and both offences are counted.
async fn assert_closes_both_dialects(case: &str, reasons: &[ReasonCode]) {
    let (report, stats) = bad_input(case).await;
    assert_v5_disconnect(&report, reasons);
    assert_v3_closed(&report);
    assert_protocol_errors(&stats, 2);
}

fn assert_protocol_errors(stats: &hearth_broker::StatsSnapshot, at_least: u64) {
    assert!(
        stats.protocol_errors >= at_least,
        "expected {at_least} protocol errors counted: {stats:?}"
    );
}

#[tokio::test]
async fn remaining_length_of_five_bytes_is_malformed() {
    // v5 1.5.5 / 2.1.4: at most four bytes.
    assert_closes_both_dialects("remaining_length_too_long", &[ReasonCode::MALFORMED_PACKET]).await;
}

#[tokio::test]
async fn topic_with_invalid_utf8_is_malformed() {
    // v5 1.5.4 [MQTT-1.5.4-1].
    assert_closes_both_dialects("topic_invalid_utf8", &[ReasonCode::MALFORMED_PACKET]).await;
}

#[tokio::test]
async fn topic_with_nul_character_is_malformed() {
    // v5 1.5.4 [MQTT-1.5.4-2].
    assert_closes_both_dialects("topic_with_nul", &[ReasonCode::MALFORMED_PACKET]).await;
}

#[tokio::test]
async fn wildcard_in_publish_topic_closes_the_connection() {
    // v5 3.3.2.1 [MQTT-3.3.2-2] names no reason code; the codec calls it a protocol
    // error, and 0x90 (Topic Name invalid) would be as right.
    assert_closes_both_dialects(
        "topic_with_wildcard",
        &[ReasonCode::PROTOCOL_ERROR, ReasonCode::TOPIC_NAME_INVALID],
    )
    .await;
}

#[tokio::test]
async fn subscribe_with_reserved_flags_cleared_is_malformed() {
    // v5 2.1.3 / 3.8.1: SUBSCRIBE flags must be 0b0010, anything else is malformed.
    assert_closes_both_dialects("subscribe_reserved_flags", &[ReasonCode::MALFORMED_PACKET]).await;
}

#[tokio::test]
async fn publish_with_qos_3_is_malformed() {
    // v5 3.3.1.2 [MQTT-3.3.1-4].
    assert_closes_both_dialects("publish_qos3", &[ReasonCode::MALFORMED_PACKET]).await;
}

#[tokio::test]
async fn dup_flag_on_qos_0_publish_closes_the_connection() {
    // v5 3.3.1.1 [MQTT-3.3.1-2] names no reason code: either error fits.
    assert_closes_both_dialects(
        "dup_on_qos0",
        &[ReasonCode::MALFORMED_PACKET, ReasonCode::PROTOCOL_ERROR],
    )
    .await;
}

#[tokio::test]
async fn packet_identifier_zero_on_qos_1_publish_closes_the_connection() {
    // v5 2.2.1 [MQTT-2.2.1-3] names no reason code: either error fits.
    assert_closes_both_dialects(
        "packet_id_zero",
        &[ReasonCode::MALFORMED_PACKET, ReasonCode::PROTOCOL_ERROR],
    )
    .await;
}

#[tokio::test]
async fn second_connect_is_a_protocol_error() {
    // v5 3.1.0 [MQTT-3.1.0-2].
    assert_closes_both_dialects("second_connect", &[ReasonCode::PROTOCOL_ERROR]).await;
}

#[tokio::test]
async fn packet_larger_than_maximum_is_refused_from_its_fixed_header() {
    let (report, stats) = run_case("too_large_after_connect", |limits| {
        limits.max_packet_size = 1024
    })
    .await;
    // Only the fixed header announcing 10 MB was sent: the answer must not wait for the
    // body (SPEC §5; v5 3.2.2.3.6 and 4.13: DISCONNECT 0x95).
    assert_v5_disconnect(&report, &[ReasonCode::PACKET_TOO_LARGE]);
    assert_v3_closed(&report);
    assert_protocol_errors(&stats, 2);
}

#[tokio::test]
async fn connect_larger_than_maximum_is_refused_from_its_fixed_header() {
    let (report, stats) =
        run_case("too_large_connect", |limits| limits.max_packet_size = 1024).await;
    assert_closed_without_session(&report["runs"]["any"]);
    assert_protocol_errors(&stats, 1);
}

#[tokio::test]
async fn first_packet_other_than_connect_closes_the_connection() {
    let (report, stats) = bad_input("first_packet_not_connect").await;
    // v5 3.1.0 [MQTT-3.1.0-1].
    assert_closed_without_session(&report["runs"]["any"]);
    assert_protocol_errors(&stats, 1);
}

#[tokio::test]
async fn unsupported_protocol_level_gets_connack_0x01_and_a_close() {
    let (report, _) = bad_input("unsupported_protocol_level").await;
    let run = &report["runs"]["any"];
    // Level 6 with the name "MQTT": 3.1.1 3.1.2.2 [MQTT-3.1.2-2] says return code 0x01
    // (unacceptable protocol level), in the 3.1.1 CONNACK format.
    assert_eq!(run["connack"]["reason"], 0x01, "{run}");
    assert_eq!(run["closed"], true, "{run}");
}

#[tokio::test]
async fn refused_unsupported_protocol_level_is_counted() {
    let (_, stats) = bad_input("unsupported_protocol_level").await;
    // Every other refused CONNECT counts as connect_refused, every bad packet as a
    // protocol error; this one should show up in one of them.
    assert!(
        stats.protocol_errors + stats.connect_refused >= 1,
        "refusal of an unsupported protocol level not counted anywhere: {stats:?}"
    );
}

#[tokio::test]
async fn v5_connect_with_garbage_properties_closes_the_connection() {
    let (report, stats) = bad_input("v5_connect_garbage_properties").await;
    let run = &report["runs"]["any"];
    assert_closed_without_session(run);
    // If a CONNACK is sent at all, it must say malformed (v5 4.13.1).
    if let Some(reason) = run["connack"]["reason"].as_u64() {
        assert_eq!(reason, u64::from(ReasonCode::MALFORMED_PACKET.0), "{run}");
    }
    assert_protocol_errors(&stats, 1);
}

#[tokio::test]
async fn connection_without_connect_is_closed_after_the_connect_timeout() {
    let (report, _) = run_case("no_connect", |limits| limits.connect_timeout_secs = 1).await;
    assert_closed_without_session(&report["runs"]["any"]);
}

#[tokio::test]
async fn connection_with_an_unfinished_connect_is_closed_after_the_connect_timeout() {
    let (report, _) = run_case("partial_connect", |limits| limits.connect_timeout_secs = 1).await;
    assert_closed_without_session(&report["runs"]["any"]);
}

#[tokio::test]
async fn pubrel_for_an_unknown_packet_identifier_gets_pubcomp_0x92() {
    let (report, _) = bad_input("pubrel_unknown_id").await;
    // v5 3.7.2.1: 0x92 Packet Identifier not found; the connection stays open.
    let v5 = &report["runs"]["5"];
    assert_eq!(v5["packets"][0]["type"], "PUBCOMP", "{v5}");
    assert_eq!(v5["packets"][0]["packet_id"], 4242, "{v5}");
    assert_eq!(
        v5["packets"][0]["reason"],
        ReasonCode::PACKET_IDENTIFIER_NOT_FOUND.0,
        "{v5}"
    );
    assert_eq!(v5["still_open"], true, "{v5}");
    // 3.1.1 has no reason codes: a plain PUBCOMP.
    let v3 = &report["runs"]["4"];
    assert_eq!(v3["packets"][0]["type"], "PUBCOMP", "{v3}");
    assert_eq!(v3["still_open"], true, "{v3}");
}

#[tokio::test]
async fn random_garbage_closes_only_its_own_connection() {
    let (report, stats) = bad_input("garbage").await;
    for run in report["runs"]["any"]["runs"]
        .as_array()
        .expect("runs before CONNECT")
    {
        assert_closed_without_session(run);
    }
    for run in report["runs"]["5"]["runs"]
        .as_array()
        .expect("runs after CONNECT")
    {
        assert_eq!(run["closed"], true, "{run}");
        // Whatever the garbage was, a DISCONNECT, if sent, gives an error reason.
        if let Some(reason) = run["disconnect_reason"].as_u64() {
            assert!(
                reason >= 0x80,
                "DISCONNECT {reason:#x} after garbage: {run}"
            );
        }
    }
    assert_protocol_errors(&stats, 1);
}

#[tokio::test]
async fn more_unacknowledged_qos_2_publishes_than_receive_maximum_is_refused_with_0x93() {
    let (report, stats) = run_case("receive_maximum_exceeded", |limits| {
        limits.receive_maximum = 2
    })
    .await;
    // v5 3.3.4: 0x93 Receive Maximum exceeded.
    assert_v5_disconnect(&report, &[ReasonCode::RECEIVE_MAXIMUM_EXCEEDED]);
    assert_protocol_errors(&stats, 1);
}

#[tokio::test]
async fn topic_alias_zero_closes_the_connection() {
    let (report, stats) = bad_input("topic_alias_zero").await;
    // v5 3.3.2.3.4: a Topic Alias of 0 is not permitted. The reason code table defines
    // 0x94 for an alias above the maximum only, so a protocol error fits as well.
    assert_v5_disconnect(
        &report,
        &[ReasonCode::TOPIC_ALIAS_INVALID, ReasonCode::PROTOCOL_ERROR],
    );
    assert_protocol_errors(&stats, 1);
}

#[tokio::test]
async fn topic_alias_above_the_announced_maximum_is_refused_with_0x94() {
    let (report, stats) = run_case("topic_alias_above_maximum", |limits| {
        limits.topic_alias_maximum = 3
    })
    .await;
    assert_eq!(report["runs"]["5"]["alias_sent"], 4, "{report}");
    // v5 3.3.2.3.4: never above the Topic Alias Maximum in the CONNACK.
    assert_v5_disconnect(&report, &[ReasonCode::TOPIC_ALIAS_INVALID]);
    assert_protocol_errors(&stats, 1);
}

#[tokio::test]
async fn empty_topic_with_an_alias_never_set_is_a_protocol_error() {
    let (report, stats) = bad_input("topic_alias_unknown").await;
    // v5 3.3.4: a zero-length topic with an unmapped alias is a Protocol Error.
    assert_v5_disconnect(&report, &[ReasonCode::PROTOCOL_ERROR]);
    assert_protocol_errors(&stats, 1);
}

#[tokio::test]
async fn auth_packet_without_an_authentication_method_is_a_protocol_error() {
    let (report, stats) = bad_input("auth_without_method").await;
    // v5 4.12: AUTH only after a CONNECT with an Authentication Method.
    assert_v5_disconnect(&report, &[ReasonCode::PROTOCOL_ERROR]);
    assert_protocol_errors(&stats, 1);
}
