//! The broker over every transport with real clients: paho-mqtt over WebSocket (path
//! `/mqtt`), TLS and secure WebSocket, mosquitto_pub/mosquitto_sub over TLS, traffic
//! between transports, and a subscriber that stops reading while others keep receiving.

mod common;

use common::TestBroker;
use common::clients::{
    SCRIPT_DEADLINE, TlsFiles, mosquitto, payloads, records, run_mosquitto, run_script, text,
    wait_for_stats,
};
use serde_json::Value;

fn numbered(count: usize) -> Vec<String> {
    (0..count).map(|number| number.to_string()).collect()
}

/// pubsub.py with the given per-side options; checks all `count` messages and the
/// sentinel arrived.
async fn pubsub(broker: &TestBroker, count: usize, args: &[&str]) -> Value {
    let count_arg = count.to_string();
    let mut all = vec!["--count", &count_arg, "--sub-qos", "1", "--pub-qos", "1"];
    all.extend_from_slice(args);
    let result = run_script("pubsub.py", broker.port(), &all).await;
    assert_eq!(text(&result["sentinel"]["payload"]), "end", "{result}");
    assert_eq!(payloads(&result["received"]), numbered(count), "{result}");
    result
}

#[tokio::test]
async fn websocket_clients_publish_and_subscribe() {
    let broker = TestBroker::start().await;
    let ws = broker.ws().port().to_string();
    for version in ["311", "5"] {
        pubsub(
            &broker,
            10,
            &[
                "--sub-port",
                &ws,
                "--sub-transport",
                "websockets",
                "--sub-version",
                version,
                "--pub-port",
                &ws,
                "--pub-transport",
                "websockets",
                "--pub-version",
                version,
            ],
        )
        .await;
    }
    broker.stop().await;
}

#[tokio::test]
async fn websocket_publisher_reaches_tcp_subscriber() {
    let broker = TestBroker::start().await;
    let ws = broker.ws().port().to_string();
    pubsub(
        &broker,
        10,
        &["--pub-port", &ws, "--pub-transport", "websockets"],
    )
    .await;
    broker.stop().await;
}

#[tokio::test]
async fn tcp_publisher_reaches_websocket_subscriber() {
    let broker = TestBroker::start().await;
    let ws = broker.ws().port().to_string();
    pubsub(
        &broker,
        10,
        &[
            "--sub-port",
            &ws,
            "--sub-transport",
            "websockets",
            "--sub-version",
            "5",
        ],
    )
    .await;
    broker.stop().await;
}

#[tokio::test]
async fn tls_clients_publish_and_subscribe() {
    let files = TlsFiles::generate();
    let broker = TestBroker::start_tls(&files).await;
    let tls = broker.mqtts().port().to_string();
    pubsub(
        &broker,
        10,
        &[
            "--sub-port",
            &tls,
            "--sub-cafile",
            files.cafile(),
            "--pub-port",
            &tls,
            "--pub-cafile",
            files.cafile(),
        ],
    )
    .await;
    broker.stop().await;
}

#[tokio::test]
async fn secure_websocket_publisher_reaches_tls_subscriber() {
    let files = TlsFiles::generate();
    let broker = TestBroker::start_tls(&files).await;
    let tls = broker.mqtts().port().to_string();
    let wss = broker.wss().port().to_string();
    pubsub(
        &broker,
        10,
        &[
            "--sub-port",
            &tls,
            "--sub-cafile",
            files.cafile(),
            "--sub-version",
            "5",
            "--pub-port",
            &wss,
            "--pub-cafile",
            files.cafile(),
            "--pub-transport",
            "websockets",
        ],
    )
    .await;
    broker.stop().await;
}

#[tokio::test]
async fn secure_websocket_clients_publish_and_subscribe() {
    let files = TlsFiles::generate();
    let broker = TestBroker::start_tls(&files).await;
    let wss = broker.wss().port().to_string();
    pubsub(
        &broker,
        10,
        &[
            "--sub-port",
            &wss,
            "--sub-cafile",
            files.cafile(),
            "--sub-transport",
            "websockets",
            "--pub-port",
            &wss,
            "--pub-cafile",
            files.cafile(),
            "--pub-transport",
            "websockets",
        ],
    )
    .await;
    broker.stop().await;
}

/// mosquitto_sub and mosquitto_pub with `--cafile` against the TLS listener.
async fn mosquitto_over_tls(version: &str) {
    let files = TlsFiles::generate();
    let broker = TestBroker::start_tls(&files).await;
    let port = broker.mqtts().port();
    let topic = format!("tls/{version}");
    let mut watch = mosquitto("mosquitto_sub", port);
    watch.args([
        "--cafile",
        files.cafile(),
        "-V",
        version,
        "-t",
        &topic,
        "-q",
        "1",
        "-C",
        "2",
        "-W",
        "10",
        "-v",
    ]);
    let watcher = tokio::spawn(common::run_command(watch, SCRIPT_DEADLINE));
    wait_for_stats(&broker, "the TLS subscription", |stats| {
        stats.subscriptions == 1
    })
    .await;
    for payload in ["first", "second"] {
        let mut publish = mosquitto("mosquitto_pub", port);
        publish.args([
            "--cafile",
            files.cafile(),
            "-V",
            version,
            "-t",
            &topic,
            "-q",
            "1",
            "-m",
            payload,
        ]);
        run_mosquitto(publish).await;
    }
    let (ok, stdout, stderr) = watcher.await.expect("watcher task");
    assert!(ok, "mosquitto_sub over TLS ({version}) failed: {stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [format!("{topic} first"), format!("{topic} second")]
    );
    broker.stop().await;
}

#[tokio::test]
async fn mosquitto_v3_1_1_clients_over_tls() {
    mosquitto_over_tls("mqttv311").await;
}

#[tokio::test]
async fn mosquitto_v5_clients_over_tls() {
    mosquitto_over_tls("mqttv5").await;
}

/// A client that trusts another CA must not get through: the listener really is TLS with
/// this certificate, not something that lets anything in.
#[tokio::test]
async fn tls_client_trusting_another_ca_is_refused() {
    let files = TlsFiles::generate();
    let other = TlsFiles::generate();
    let broker = TestBroker::start_tls(&files).await;
    let mut publish = mosquitto("mosquitto_pub", broker.mqtts().port());
    publish.args(["--cafile", other.cafile(), "-t", "tls/refused", "-m", "x"]);
    let (ok, _stdout, stderr) = common::run_command(publish, SCRIPT_DEADLINE).await;
    assert!(!ok, "mosquitto_pub succeeded with the wrong CA: {stderr}");
    let stats = broker.handle.stats().await.expect("stats");
    assert_eq!(
        stats.clients_total, 0,
        "no MQTT connection was accepted: {stats:?}"
    );
    broker.stop().await;
}

/// MQTT offers no remedy for a consumer that stops reading; the broker's answer (SPEC §5)
/// is a bounded queue per client. Two raw subscribers (QoS 0 and QoS 1) with tiny receive
/// buffers never read; 2,000 messages of 4 KiB (8 MiB, more than the socket buffers of
/// the slow clients) must all reach a paho subscriber, in order.
#[tokio::test]
async fn subscriber_that_stops_reading_does_not_hold_back_others() {
    let broker = TestBroker::start().await;
    let result = run_script(
        "slow_subscriber.py",
        broker.port(),
        &["--count", "2000", "--size", "4096"],
    )
    .await;
    let fast: Vec<u64> = records(&result["fast"])
        .iter()
        .map(|number| number.as_u64().unwrap())
        .collect();
    assert_eq!(fast.len(), 2000, "the fast subscriber's messages");
    assert!(fast.iter().copied().eq(0..2000), "in publish order");
    broker.stop().await;
}
