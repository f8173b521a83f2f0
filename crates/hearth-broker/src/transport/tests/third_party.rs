//! Real third-party MQTT clients against our transports, with a minimal scripted broker
//! side (read CONNECT, answer CONNACK, read the rest). Fails (never skips) when the
//! client is not installed: `.ci/run` installs them.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio_rustls::TlsAcceptor;

use super::{dev_certificate, read_mqtt_packet};
use crate::transport::{ByteStream, accept_tls, accept_websocket, tls_config_from_pem};

/// CONNACK, MQTT 3.1.1, session not present, accepted.
const CONNACK: &[u8] = b"\x20\x02\x00\x00";

/// Plays the broker for one client: expects CONNECT, accepts it, then collects everything
/// up to the end of the stream. Returns (CONNECT, the rest).
async fn scripted_broker(mut stream: impl ByteStream) -> (Vec<u8>, Vec<u8>) {
    let connect = read_mqtt_packet(&mut stream).await;
    stream.write_all(CONNACK).await.unwrap();
    stream.flush().await.unwrap();
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest).await {
        Ok(_) => {}
        // A TLS client that closes the socket without close_notify; the bytes are all in.
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(error) => panic!("broker side read failed: {error}"),
    }
    (connect, rest)
}

fn assert_connect_publish_disconnect(connect: &[u8], rest: &[u8]) {
    assert_eq!(connect[0], 0x10, "CONNECT first: {connect:?}");
    assert!(
        connect.windows(4).any(|window| window == b"MQTT"),
        "{connect:?}"
    );
    assert_eq!(rest[0], 0x30, "then a QoS 0 PUBLISH: {rest:?}");
    assert!(
        rest.windows(11).any(|window| window == b"hearth/test"),
        "{rest:?}"
    );
    assert!(rest.ends_with(b"\xe0\x00"), "then DISCONNECT: {rest:?}");
}

fn command_exists(program: &str, version_arg: &str) -> bool {
    std::process::Command::new(program)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

const PAHO_SCRIPT: &str = r#"
import sys, time
import paho.mqtt.client as mqtt
port, ca = int(sys.argv[1]), (sys.argv[2] if len(sys.argv) > 2 else None)
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hearth-paho",
                     transport="websockets", protocol=mqtt.MQTTv311)
client.ws_set_options(path="/mqtt")
if ca:
    client.tls_set(ca_certs=ca)
answers = []
client.on_connect = lambda c, userdata, flags, reason, properties: answers.append(reason)
client.connect("localhost", port, keepalive=30)
deadline = time.time() + 5
while not answers and time.time() < deadline:
    client.loop(0.1)
if not answers or answers[0] != 0:
    sys.exit("no CONNACK: %r" % answers)
info = client.publish("hearth/test", b"hello", qos=0)
while not info.is_published() and time.time() < deadline:
    client.loop(0.1)
client.disconnect()
print("ok")
"#;

async fn run_paho(use_tls: bool) {
    if !command_exists("python3", "--version")
        || !std::process::Command::new("python3")
            .args(["-c", "import paho.mqtt.client"])
            .status()
            .is_ok_and(|status| status.success())
    {
        panic!("python3 with paho-mqtt is required (see README; .ci/run installs it)");
    }
    let certificate = dev_certificate();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, &certificate.cert_pem).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();

    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        if use_tls {
            let config = tls_config_from_pem(
                certificate.cert_pem.as_bytes(),
                certificate.key_pem.as_bytes(),
            )
            .unwrap();
            let tls = accept_tls(&TlsAcceptor::from(config), tcp).await.unwrap();
            scripted_broker(accept_websocket(tls, "/mqtt").await.unwrap()).await
        } else {
            scripted_broker(accept_websocket(tcp, "/mqtt").await.unwrap()).await
        }
    });

    let mut paho = Command::new("python3");
    paho.args(["-c", PAHO_SCRIPT, &port.to_string()]);
    if use_tls {
        paho.arg(&ca_path);
    }
    let output = tokio::time::timeout(Duration::from_secs(20), paho.output())
        .await
        .expect("paho finished in time")
        .unwrap();
    assert!(
        output.status.success(),
        "paho failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ok");
    let (connect, rest) = server.await.unwrap();
    assert_connect_publish_disconnect(&connect, &rest);
}

#[tokio::test]
async fn paho_over_websocket() {
    run_paho(false).await;
}

#[tokio::test]
async fn paho_over_secure_websocket() {
    run_paho(true).await;
}

#[tokio::test]
async fn mosquitto_pub_over_tls() {
    if !command_exists("mosquitto_pub", "--help") {
        panic!(
            "mosquitto_pub is required (apt-get install mosquitto-clients; .ci/run installs it)"
        );
    }
    let certificate = dev_certificate();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, &certificate.cert_pem).unwrap();
    let config = tls_config_from_pem(
        certificate.cert_pem.as_bytes(),
        certificate.key_pem.as_bytes(),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();

    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = accept_tls(&TlsAcceptor::from(config), tcp).await.unwrap();
        scripted_broker(tls).await
    });

    let port = port.to_string();
    let ca_path = ca_path.to_str().unwrap();
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        Command::new("mosquitto_pub")
            .args(["-h", "localhost", "-p", &port, "--cafile", ca_path])
            .args([
                "-V",
                "mqttv311",
                "-i",
                "hearth-mosq",
                "-t",
                "hearth/test",
                "-m",
                "hello",
            ])
            .output(),
    )
    .await
    .expect("mosquitto_pub finished in time")
    .unwrap();
    assert!(
        output.status.success(),
        "mosquitto_pub failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (connect, rest) = server.await.unwrap();
    assert_connect_publish_disconnect(&connect, &rest);
}
