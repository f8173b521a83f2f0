//! "Acknowledged means on disk": the real binary is killed with SIGKILL while clients
//! publish QoS 1 messages, restarted on the same data directory, and every message it
//! had acknowledged is still delivered (broker state) and in the history (ingest, on
//! SQLite, PostgreSQL and MariaDB).

use bytes::BytesMut;
use hearth_mqtt::{
    ByteStr, Connect, Packet, ProtocolVersion, Publish, QoS, Subscribe, SubscribeFilter,
    SubscriptionOptions,
};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const DEADLINE: Duration = Duration::from_secs(30);
const V311: ProtocolVersion = ProtocolVersion::V3_1_1;

async fn serve(data_dir: &Path) -> (Child, u16) {
    serve_with(data_dir, None).await
}

/// Starts the hub on `data_dir`, with the registry in `database` when given.
async fn serve_with(data_dir: &Path, database: Option<&str>) -> (Child, u16) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hearth"));
    command
        .args([
            "serve",
            "--allow-anonymous",
            "--print-addrs",
            "--mqtt",
            "127.0.0.1:0",
        ])
        .args(["--ws", "off", "--http", "off"])
        .args(database.map(|url| format!("--database={url}")))
        .arg("--data-dir")
        .arg(data_dir)
        .current_dir(data_dir)
        .env_remove("HEARTH_LOG")
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().expect("hearth starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut port = None;
    tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(addr) = line.strip_prefix("mqtt=") {
                port = addr.rsplit(':').next().and_then(|p| p.parse().ok());
            }
            if line == "ready" {
                break;
            }
        }
    })
    .await
    .expect("hearth prints its addresses");
    (child, port.expect("an mqtt= line"))
}

/// A bare MQTT 3.1.1 client on our own codec, so the test controls packet ids exactly.
struct RawClient {
    stream: TcpStream,
    read_buf: BytesMut,
}

impl RawClient {
    async fn connect(port: u16, client_id: &str, clean_start: bool) -> (RawClient, bool) {
        let (client, connack) = RawClient::try_connect(port, client_id, clean_start, None).await;
        assert_eq!(connack.reason, hearth_mqtt::ReasonCode::SUCCESS);
        (client, connack.session_present)
    }

    /// Connects with optional credentials and returns the CONNACK whatever it says.
    async fn try_connect(
        port: u16,
        client_id: &str,
        clean_start: bool,
        credentials: Option<(&str, &str)>,
    ) -> (RawClient, hearth_mqtt::ConnAck) {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut client = RawClient {
            stream,
            read_buf: BytesMut::new(),
        };
        client
            .send(&Packet::Connect(Box::new(Connect {
                protocol: V311,
                clean_start,
                keep_alive: 60,
                client_id: ByteStr::from(client_id),
                will: None,
                username: credentials.map(|(username, _)| ByteStr::from(username)),
                password: credentials
                    .map(|(_, password)| bytes::Bytes::copy_from_slice(password.as_bytes())),
                properties: Default::default(),
            })))
            .await
            .unwrap();
        match client.next().await {
            Some(Packet::ConnAck(connack)) => (client, connack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    async fn send(&mut self, packet: &Packet) -> std::io::Result<()> {
        let mut out = BytesMut::new();
        hearth_mqtt::encode(packet, V311, &mut out).unwrap();
        self.stream.write_all(&out).await
    }

    /// The next packet, or `None` when the connection ends.
    async fn next(&mut self) -> Option<Packet> {
        loop {
            if let Some(packet) =
                hearth_mqtt::decode(&mut self.read_buf, Some(V311), 1 << 20).ok()?
            {
                return Some(packet);
            }
            if self.stream.read_buf(&mut self.read_buf).await.ok()? == 0 {
                return None;
            }
        }
    }

    async fn subscribe(&mut self, filter: &str) {
        let options = SubscriptionOptions {
            qos: QoS::AtLeastOnce,
            ..Default::default()
        };
        let subscribe = Subscribe {
            packet_id: 1,
            filters: vec![SubscribeFilter {
                filter: ByteStr::from(filter),
                options,
            }],
            properties: Default::default(),
        };
        self.send(&Packet::Subscribe(subscribe)).await.unwrap();
        assert!(matches!(self.next().await, Some(Packet::SubAck(_))));
    }
}

fn publish(topic: &str, packet_id: u16, payload: String, retain: bool) -> Packet {
    Packet::Publish(Publish {
        qos: QoS::AtLeastOnce,
        retain,
        topic: ByteStr::from(topic),
        packet_id,
        payload: payload.into(),
        ..Default::default()
    })
}

/// Publishes numbered QoS 1 messages until the connection breaks; returns the payloads
/// the broker acknowledged.
async fn publish_until_killed(port: u16, publisher: usize) -> BTreeSet<String> {
    let (client, _) = RawClient::connect(port, &format!("publisher-{publisher}"), true).await;
    let topic = format!("sensors/{publisher}");
    send_until_killed(client, topic, move |n| format!("p{publisher}-{n}")).await
}

/// Publishes 2,000 numbered QoS 1 messages on `topic` (payload from `payload(n)`) until
/// the connection breaks; returns the payloads that were acknowledged.
async fn send_until_killed(
    mut client: RawClient,
    topic: String,
    payload: impl Fn(u32) -> String + Send + 'static,
) -> BTreeSet<String> {
    let (mut reader, mut writer) = client.stream.into_split();
    let sender = tokio::spawn(async move {
        let mut sent = Vec::new();
        // 4 x 2,000 messages stay below the default per-session queue limit (10,000):
        // beyond it, the configured policy drops messages, which is a different test.
        for n in 0..2_000u32 {
            let packet_id = (n % 60_000 + 1) as u16;
            let payload = payload(n);
            let mut out = BytesMut::new();
            hearth_mqtt::encode(
                &publish(&topic, packet_id, payload.clone(), false),
                V311,
                &mut out,
            )
            .unwrap();
            if writer.write_all(&out).await.is_err() {
                break;
            }
            sent.push(payload);
            // Pace so that the kill lands mid-stream rather than after the end.
            if n % 8 == 7 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        sent
    });
    let mut acked_ids = Vec::new();
    let mut buf = std::mem::take(&mut client.read_buf);
    'read: loop {
        while let Ok(Some(packet)) = hearth_mqtt::decode(&mut buf, Some(V311), 1 << 20) {
            if let Packet::PubAck(ack) = packet {
                acked_ids.push(ack.packet_id);
            }
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break 'read,
            Ok(_) => {}
        }
    }
    let sent = sender.await.unwrap();
    // Packet ids are unique (fewer than 60,000 messages), and PUBACKs name them.
    acked_ids
        .into_iter()
        .filter_map(|id| sent.get(usize::from(id) - 1).cloned())
        .collect()
}

#[tokio::test]
async fn every_acknowledged_message_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let (mut hub, port) = serve(dir.path()).await;

    // A persistent subscriber that is offline while the publishers run.
    let (mut archive, _) = RawClient::connect(port, "archive", false).await;
    archive.subscribe("sensors/#").await;
    drop(archive);
    let (mut config_writer, _) = RawClient::connect(port, "configurator", true).await;
    config_writer
        .send(&publish("config/mode", 1, "eco".into(), true))
        .await
        .unwrap();
    assert!(matches!(
        config_writer.next().await,
        Some(Packet::PubAck(_))
    ));

    let publishers: Vec<_> = (0..4)
        .map(|p| tokio::spawn(publish_until_killed(port, p)))
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    hub.start_kill().unwrap(); // SIGKILL
    hub.wait().await.unwrap();
    let mut acknowledged = BTreeSet::new();
    for publisher in publishers {
        acknowledged.extend(publisher.await.unwrap());
    }
    assert!(
        !acknowledged.is_empty(),
        "the publishers got acknowledgements before the kill"
    );

    let (mut hub, port) = serve(dir.path()).await;
    let (mut archive, session_present) = RawClient::connect(port, "archive", false).await;
    assert!(session_present, "the persistent session survived");
    let mut received = BTreeSet::new();
    let all_in = tokio::time::timeout(DEADLINE, async {
        while !acknowledged.is_subset(&received) {
            match archive.next().await {
                Some(Packet::Publish(publish)) => {
                    received.insert(String::from_utf8_lossy(&publish.payload).into_owned());
                    let ack = hearth_mqtt::PubResponse::new(
                        publish.packet_id,
                        hearth_mqtt::ReasonCode::SUCCESS,
                    );
                    archive.send(&Packet::PubAck(ack)).await.unwrap();
                }
                Some(_) => {}
                None => break,
            }
        }
    })
    .await;
    let missing: Vec<_> = acknowledged.difference(&received).take(10).collect();
    assert!(
        all_in.is_ok() && missing.is_empty(),
        "{} acknowledged, missing e.g. {missing:?}",
        acknowledged.len()
    );

    let (mut reader, _) = RawClient::connect(port, "reader", true).await;
    reader.subscribe("config/#").await;
    match reader.next().await {
        Some(Packet::Publish(publish)) => {
            assert!(publish.retain);
            assert_eq!(&publish.payload[..], b"eco");
        }
        other => panic!("expected the retained config, got {other:?}"),
    }
    hub.start_kill().unwrap();
}

/// Registers a device through the CLI (on the hub's own store) and returns its secret.
async fn add_device(database: &str, id: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["--database", database, "device", "add", id, "--json"])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "device add failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let added: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    added["secret"].as_str().unwrap().to_owned()
}

/// Connects as a device, retrying while the hub has not yet picked up the registration
/// (it polls the registry).
async fn connect_device(port: u16, id: &str, secret: &str) -> RawClient {
    for _ in 0..200 {
        let (client, connack) = RawClient::try_connect(port, id, true, Some((id, secret))).await;
        if connack.reason == hearth_mqtt::ReasonCode::SUCCESS {
            return client;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("device {id} was never accepted");
}

async fn acknowledged_readings_survive_sigkill(backend: hearth_testkit::Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (database, _guard) = hearth_testkit::database_url(backend);
    let (mut hub, port) = serve_with(dir.path(), Some(&database)).await;
    let mut devices = Vec::new();
    for index in 0..4 {
        let id = format!("sensor-{index}");
        let secret = add_device(&database, &id).await;
        devices.push((id, secret));
    }
    let mut publishers = Vec::new();
    for (id, secret) in &devices {
        let client = connect_device(port, id, secret).await;
        let topic = format!("devices/{id}/data");
        publishers.push(tokio::spawn(send_until_killed(client, topic, |n| {
            format!(r#"{{"seq": {n}, "temperature": 21.5}}"#)
        })));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    hub.start_kill().unwrap(); // SIGKILL
    hub.wait().await.unwrap();
    let mut acknowledged = Vec::new();
    for publisher in publishers {
        acknowledged.push(publisher.await.unwrap());
    }
    assert!(
        acknowledged.iter().any(|acked| !acked.is_empty()),
        "the devices got acknowledgements before the kill"
    );

    // The hub starts again on the same store, and the history has every acknowledged
    // reading.
    let (mut hub, _) = serve_with(dir.path(), Some(&database)).await;
    let store = hearth_store::open(&database).await.unwrap();
    for ((id, _), acked) in devices.iter().zip(&acknowledged) {
        let stored: BTreeSet<String> = store
            .messages(&hearth_store::MessageQuery {
                device: hearth_model::DeviceId::new(id).unwrap(),
                kind: Some(hearth_model::MessageKind::Data),
                range: hearth_store::TimeRange {
                    from_ms: 0,
                    to_ms: i64::MAX,
                },
                limit: 100_000,
            })
            .await
            .unwrap()
            .into_iter()
            .map(|message| String::from_utf8(message.payload).unwrap())
            .collect();
        let missing: Vec<_> = acked.difference(&stored).take(5).collect();
        assert!(
            missing.is_empty(),
            "{id}: {} acknowledged, {} stored, missing e.g. {missing:?}",
            acked.len(),
            stored.len()
        );
    }
    store.close().await;
    hub.start_kill().unwrap();
}

#[tokio::test]
async fn acknowledged_readings_survive_sigkill_on_sqlite() {
    acknowledged_readings_survive_sigkill(hearth_testkit::Backend::Sqlite).await;
}

#[tokio::test]
async fn acknowledged_readings_survive_sigkill_on_postgres() {
    acknowledged_readings_survive_sigkill(hearth_testkit::Backend::Postgres).await;
}

#[tokio::test]
async fn acknowledged_readings_survive_sigkill_on_mariadb() {
    acknowledged_readings_survive_sigkill(hearth_testkit::Backend::MariaDb).await;
}
