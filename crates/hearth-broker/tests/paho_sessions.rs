//! Sessions and connection lifetimes as real clients see them: persistent and clean
//! sessions, v5 session expiry, takeover, will messages, keep-alive, and QoS 2 flows that
//! span a reconnection. Clients are paho-mqtt (Python), mosquitto_pub/mosquitto_sub, and
//! raw sockets where a library would hide the behaviour (see tests/clients/mqttkit.py).

mod common;

use common::TestBroker;
use common::clients::{
    SCRIPT_DEADLINE, mosquitto, payloads, records, run_mosquitto, run_script, text, wait_for_stats,
};
use serde_json::Value;

async fn sessions(case: &str, version: &str, qos: &str) -> Value {
    let broker = TestBroker::start().await;
    let result = run_script(
        "sessions.py",
        broker.port(),
        &[
            "--case",
            case,
            "--version",
            version,
            "--qos",
            qos,
            "--count",
            "5",
        ],
    )
    .await;
    broker.stop().await;
    result
}

fn assert_resumed_with_stored_messages(result: &Value, qos: u64) {
    assert_eq!(
        result["first"]["session_present"], false,
        "a fresh session: {result}"
    );
    assert_eq!(
        result["second"]["session_present"], true,
        "CONNACK Session Present on resuming: {result}"
    );
    assert_eq!(
        payloads(&result["received"]),
        ["0", "1", "2", "3", "4"],
        "stored messages, in order: {result}"
    );
    assert!(
        records(&result["received"])
            .iter()
            .all(|message| message["qos"] == qos),
        "{result}"
    );
}

/// MQTT 3.1.1 §3.1.2.4, §3.2.2.2: with CleanSession 0 the subscription and the QoS 1
/// messages published while the client was away are kept and delivered when it returns,
/// and CONNACK says Session Present.
#[tokio::test]
async fn v3_1_1_persistent_session_receives_qos1_messages_published_while_offline() {
    assert_resumed_with_stored_messages(&sessions("persistent", "311", "1").await, 1);
}

#[tokio::test]
async fn v3_1_1_persistent_session_receives_qos2_messages_published_while_offline() {
    assert_resumed_with_stored_messages(&sessions("persistent", "311", "2").await, 2);
}

/// MQTT 5.0 §3.1.2.11.2: a session with a Session Expiry Interval survives the connection.
#[tokio::test]
async fn v5_session_with_expiry_receives_qos1_messages_published_while_offline() {
    assert_resumed_with_stored_messages(&sessions("persistent", "5", "1").await, 1);
}

#[tokio::test]
async fn v5_session_with_expiry_receives_qos2_messages_published_while_offline() {
    assert_resumed_with_stored_messages(&sessions("persistent", "5", "2").await, 2);
}

/// MQTT 3.1.1 §3.1.2.4: a clean session ends with the connection; asking to resume it
/// finds nothing (Session Present 0) and nothing published meanwhile is delivered.
#[tokio::test]
async fn v3_1_1_clean_session_is_discarded_at_disconnect() {
    let result = sessions("clean", "311", "1").await;
    assert_eq!(result["second"]["session_present"], false, "{result}");
    assert_eq!(
        payloads(&result["received"]),
        Vec::<String>::new(),
        "{result}"
    );
}

/// MQTT 5.0 §3.1.2.11.2: Session Expiry Interval 0 ends the session with the connection.
#[tokio::test]
async fn v5_session_with_zero_expiry_is_discarded_at_disconnect() {
    let result = sessions("clean", "5", "1").await;
    assert_eq!(result["second"]["session_present"], false, "{result}");
    assert_eq!(
        payloads(&result["received"]),
        Vec::<String>::new(),
        "{result}"
    );
}

/// MQTT 5.0 §3.1.2.11.2: a session with expiry 1 s is eventually gone (the script keeps
/// trying to resume until Session Present is 0, within its deadline).
#[tokio::test]
async fn v5_session_is_discarded_after_its_expiry_interval() {
    let result = sessions("expiry", "5", "1").await;
    assert_eq!(result["second"]["session_present"], false, "{result}");
    assert!(result["attempts"].as_u64().unwrap() >= 1, "{result}");
}

/// The same with Mosquitto's own clients: `mosquitto_sub -c -i id` (persistent session,
/// subscribe, exit), three QoS 1 publishes with mosquitto_pub, then the same
/// `mosquitto_sub -c -i id` gets them without subscribing anew being needed.
#[tokio::test]
async fn mosquitto_persistent_client_receives_messages_published_while_offline() {
    let broker = TestBroker::start().await;
    for version in ["mqttv311", "mqttv5"] {
        let client_id = format!("mosq-persistent-{version}");
        let topic = format!("persistent/{version}");
        let mut subscribe = mosquitto("mosquitto_sub", broker.port());
        subscribe.args([
            "-V", version, "-c", "-i", &client_id, "-q", "1", "-t", &topic, "-E",
        ]);
        run_mosquitto(subscribe).await;
        for payload in ["one", "two", "three"] {
            let mut publish = mosquitto("mosquitto_pub", broker.port());
            publish.args(["-V", version, "-q", "1", "-t", &topic, "-m", payload]);
            run_mosquitto(publish).await;
        }
        let mut resume = mosquitto("mosquitto_sub", broker.port());
        resume.args([
            "-V", version, "-c", "-i", &client_id, "-q", "1", "-t", &topic, "-C", "3", "-W", "10",
        ]);
        let output = run_mosquitto(resume).await;
        assert_eq!(
            output.lines().collect::<Vec<_>>(),
            ["one", "two", "three"],
            "{version}"
        );
    }
    broker.stop().await;
}

/// MQTT 5.0 §3.1.4: a second connection with the same client id takes the session over;
/// the first gets DISCONNECT with reason 0x8E (Session taken over) and is closed.
#[tokio::test]
async fn v5_session_takeover_disconnects_first_client_with_0x8e() {
    let broker = TestBroker::start().await;
    let result = run_script("takeover.py", broker.port(), &["--version", "5"]).await;
    assert_eq!(result["first_disconnect_reason"], 0x8E, "{result}");
    assert_eq!(result["first_socket_open"], false, "{result}");
    assert_eq!(
        payloads(&result["second_received"]),
        ["after takeover"],
        "{result}"
    );
    assert_eq!(
        payloads(&result["first_received"]),
        Vec::<String>::new(),
        "{result}"
    );
    broker.stop().await;
}

/// MQTT 3.1.1 §3.1.4: the broker disconnects the existing client with the same id.
#[tokio::test]
async fn v3_1_1_session_takeover_disconnects_first_client() {
    let broker = TestBroker::start().await;
    let result = run_script("takeover.py", broker.port(), &["--version", "311"]).await;
    assert_eq!(result["first_socket_open"], false, "{result}");
    assert_eq!(
        payloads(&result["second_received"]),
        ["after takeover"],
        "{result}"
    );
    assert_eq!(
        payloads(&result["first_received"]),
        Vec::<String>::new(),
        "{result}"
    );
    broker.stop().await;
}

/// MQTT 3.1.1 §3.1.2.5: the will is published when the network connection closes without
/// DISCONNECT; here mosquitto_sub is killed (SIGKILL) while connected.
#[tokio::test]
async fn will_is_published_when_the_client_process_is_killed() {
    let broker = TestBroker::start().await;
    let mut watch = mosquitto("mosquitto_sub", broker.port());
    watch.args(["-t", "will/killed", "-q", "1", "-C", "1", "-W", "10", "-v"]);
    let watcher = tokio::spawn(common::run_command(watch, SCRIPT_DEADLINE));
    wait_for_stats(&broker, "the watcher's subscription", |stats| {
        stats.subscriptions >= 1
    })
    .await;

    let mut victim = mosquitto("mosquitto_sub", broker.port());
    victim.args([
        "-i",
        "victim",
        "-t",
        "idle",
        "--will-topic",
        "will/killed",
        "--will-payload",
        "gone",
        "--will-qos",
        "1",
    ]);
    victim
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null());
    let mut victim = victim.spawn().expect("mosquitto_sub starts");
    wait_for_stats(&broker, "the victim's subscription", |stats| {
        stats.subscriptions >= 2
    })
    .await;
    victim.kill().await.expect("victim killed");

    let (ok, stdout, stderr) = watcher.await.expect("watcher task");
    assert!(ok, "the watcher got no will: {stderr}");
    assert_eq!(stdout.trim(), "will/killed gone");
    broker.stop().await;
}

/// MQTT 3.1.1 §3.1.2.5 / 5.0 §3.1.3.2: the will is published when the socket is closed
/// without DISCONNECT (raw client, 3.1.1 and 5.0), exactly once.
#[tokio::test]
async fn will_is_published_when_the_socket_closes_without_disconnect() {
    let broker = TestBroker::start().await;
    for version in ["311", "5"] {
        let result = run_script(
            "will.py",
            broker.port(),
            &["--case", "close-socket", "--version", version],
        )
        .await;
        assert_eq!(
            payloads(&result["received"]),
            ["gone"],
            "v{version}: {result}"
        );
        assert_eq!(result["received"][0]["qos"], 1, "will QoS: {result}");
    }
    broker.stop().await;
}

/// MQTT 3.1.1 §3.14.4 / 5.0 §3.14.4: after DISCONNECT (reason 0) the will is discarded.
#[tokio::test]
async fn will_is_not_published_after_a_normal_disconnect() {
    let broker = TestBroker::start().await;
    for version in ["311", "5"] {
        let result = run_script(
            "will.py",
            broker.port(),
            &["--case", "disconnect", "--version", version],
        )
        .await;
        assert_eq!(
            payloads(&result["received"]),
            Vec::<String>::new(),
            "v{version}: {result}"
        );
    }
    broker.stop().await;
}

/// The same with mosquitto_pub, which sends DISCONNECT after publishing: the watcher's
/// first message is the sentinel published afterwards, not the will.
#[tokio::test]
async fn mosquitto_pub_with_will_disconnecting_normally_publishes_no_will() {
    let broker = TestBroker::start().await;
    let mut watch = mosquitto("mosquitto_sub", broker.port());
    watch.args(["-t", "will/normal", "-q", "1", "-C", "1", "-W", "10"]);
    let watcher = tokio::spawn(common::run_command(watch, SCRIPT_DEADLINE));
    wait_for_stats(&broker, "the watcher's subscription", |stats| {
        stats.subscriptions >= 1
    })
    .await;

    let mut polite = mosquitto("mosquitto_pub", broker.port());
    polite.args([
        "-t",
        "elsewhere",
        "-m",
        "hello",
        "--will-topic",
        "will/normal",
        "--will-payload",
        "gone",
    ]);
    run_mosquitto(polite).await;
    // The router counts the publisher as gone only once it has handled its DISCONNECT,
    // so a wrongly published will would already be on its way to the watcher.
    wait_for_stats(&broker, "the publisher to disconnect", |stats| {
        stats.clients_connected == 1
    })
    .await;
    let mut sentinel = mosquitto("mosquitto_pub", broker.port());
    sentinel.args(["-t", "will/normal", "-q", "1", "-m", "sentinel"]);
    run_mosquitto(sentinel).await;

    let (ok, stdout, stderr) = watcher.await.expect("watcher task");
    assert!(ok, "the watcher got nothing: {stderr}");
    assert_eq!(
        stdout.trim(),
        "sentinel",
        "the first message on the will topic"
    );
    broker.stop().await;
}

/// MQTT 3.1.1 §3.1.2.10: a client silent for 1.5 × its keep-alive is disconnected. The
/// deadline (10 s) is generous on purpose; how fast is not what is checked.
#[tokio::test]
async fn v3_1_1_silent_client_is_disconnected_after_keep_alive() {
    let broker = TestBroker::start().await;
    let result = run_script(
        "keepalive.py",
        broker.port(),
        &["--mode", "silent", "--version", "311", "--keepalive", "1"],
    )
    .await;
    assert_eq!(
        result["closed"], true,
        "still connected after 10 s: {result}"
    );
    assert_eq!(
        result["packets"],
        serde_json::json!([]),
        "3.1.1 has no DISCONNECT from the server: {result}"
    );
    broker.stop().await;
}

/// MQTT 5.0 §3.1.2.10: the same for 5.0, where the broker may first send DISCONNECT with
/// reason 0x8D (Keep Alive timeout); if it sends one, that must be the reason.
#[tokio::test]
async fn v5_silent_client_is_disconnected_after_keep_alive() {
    let broker = TestBroker::start().await;
    let result = run_script(
        "keepalive.py",
        broker.port(),
        &["--mode", "silent", "--version", "5", "--keepalive", "1"],
    )
    .await;
    assert_eq!(
        result["closed"], true,
        "still connected after 10 s: {result}"
    );
    if !result["disconnect_reason"].is_null() {
        assert_eq!(result["disconnect_reason"], 0x8D, "{result}");
    }
    broker.stop().await;
}

/// The counterpart: PINGREQ every 0.4 s keeps a keep-alive 1 s connection open for 3 s,
/// with a PINGRESP for each (MQTT 3.1.1 §3.12.4).
#[tokio::test]
async fn client_sending_pingreq_within_keep_alive_stays_connected() {
    let broker = TestBroker::start().await;
    let result = run_script(
        "keepalive.py",
        broker.port(),
        &["--mode", "ping", "--keepalive", "1", "--duration", "3"],
    )
    .await;
    assert_eq!(result["pingresps"], result["pings"], "{result}");
    assert!(result["pings"].as_u64().unwrap() >= 5, "{result}");
    assert_eq!(result["still_open"], true, "{result}");
    broker.stop().await;
}

/// MQTT 3.1.1 §4.3.3 (and §4.4 for the resend): a QoS 2 PUBLISH sent again with DUP
/// before PUBREL is the same message; subscribers get it once.
#[tokio::test]
async fn qos2_publish_resent_with_dup_is_delivered_once() {
    let broker = TestBroker::start().await;
    let result = run_script("qos2.py", broker.port(), &["--case", "resend"]).await;
    assert_eq!(payloads(&result["received"]), ["once"], "{result}");
    assert_eq!(result["pubrec"], serde_json::json!([10, 10]), "{result}");
    broker.stop().await;
}

/// MQTT 3.1.1 §4.4: the same when the resend comes on a new connection of a persistent
/// session.
#[tokio::test]
async fn qos2_publish_resent_after_reconnect_is_delivered_once() {
    let broker = TestBroker::start().await;
    let result = run_script("qos2.py", broker.port(), &["--case", "reconnect"]).await;
    assert_eq!(payloads(&result["received"]), ["once"], "{result}");
    broker.stop().await;
}

/// MQTT 3.1.1 §4.4: "When a Client reconnects with CleanSession set to 0, both the Client
/// and Server MUST re-send any unacknowledged PUBLISH Packets (where QoS > 0) and PUBREL
/// Packets using their original Packet Identifiers". A PUBREL not yet completed is resent
/// as PUBREL, not as a second PUBLISH.
#[tokio::test]
async fn qos2_pubrel_is_resent_after_reconnect_instead_of_the_publish() {
    let broker = TestBroker::start().await;
    let result = run_script("qos2.py", broker.port(), &["--case", "release"]).await;
    assert_eq!(result["session_present"], true, "{result}");
    let after = records(&result["after_reconnect"]);
    let kinds: Vec<String> = after.iter().map(|packet| text(&packet["packet"])).collect();
    assert_eq!(
        kinds,
        ["PUBREL", "PUBLISH"],
        "PUBREL, then the sentinel: {result}"
    );
    assert_eq!(
        after[0]["packet_id"], result["pubrel"],
        "the original packet id: {result}"
    );
    assert_eq!(after[1]["payload"], "end", "{result}");
    broker.stop().await;
}
