//! Mosquitto with a password file and an ACL (devices publish only under their own
//! `devices/{id}/`), `hearth serve` nodes as child processes (to kill them), devices as
//! rumqttc clients, and the store the nodes share.

use hearth_services::registry::{DeviceSpec, Registry};
use hearth_store::{MessageQuery, Store, TimeRange};
use hearth_testkit::ids;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason};
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const DEADLINE: Duration = Duration::from_secs(30);
/// The password of the nodes' service login and of every device at Mosquitto.
pub const HEARTH_PASSWORD: &str = "node-secret";
pub const DEVICE_PASSWORD: &str = "device-secret";
pub const OWNER_PASSWORD: &str = "owner-password-1";

pub fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A running mosquitto on 127.0.0.1, stopped (by its pid) when dropped.
pub struct Mosquitto {
    pub addr: SocketAddr,
    _process: hearth_testkit::mosquitto::MosquittoProcess,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// User `hearth` (the nodes) may do anything; each device user reads and writes
    /// only under `devices/<its name>/`. In-flight and queue limits raised as
    /// docs/scale.md says (Mosquitto's 20 in flight would make every ingest batch 20).
    pub async fn start(devices: &[&str]) -> Mosquitto {
        Mosquitto::start_with_tls(devices, None).await.0
    }

    /// [`Mosquitto::start`], and with `tls` (a `hearth tls dev-cert` directory) also an
    /// MQTTS listener with its server certificate, whose address comes second.
    pub async fn start_with_tls(
        devices: &[&str],
        tls: Option<&Path>,
    ) -> (Mosquitto, Option<SocketAddr>) {
        let dir = tempfile::tempdir().unwrap();
        let addr = free_port();
        let passwords = dir.path().join("passwd");
        std::fs::write(&passwords, "").unwrap();
        let mut users = vec![("hearth", HEARTH_PASSWORD)];
        users.extend(devices.iter().map(|device| (*device, DEVICE_PASSWORD)));
        for (user, password) in users {
            let status = std::process::Command::new("mosquitto_passwd")
                .arg("-b")
                .arg(&passwords)
                .args([user, password])
                .status()
                .expect("mosquitto_passwd is installed (Debian package mosquitto)");
            assert!(status.success());
        }
        let acl = dir.path().join("acl");
        std::fs::write(
            &acl,
            "user hearth\ntopic readwrite #\n\npattern readwrite devices/%u/#\n",
        )
        .unwrap();
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {} 127.0.0.1\nallow_anonymous false\npassword_file {}\nacl_file {}\n\
                 persistence false\nmax_inflight_messages 1000\nmax_queued_messages 0\n",
                addr.port(),
                passwords.display(),
                acl.display()
            ),
        )
        .unwrap();
        let tls_addr = tls.map(|files| {
            let tls_addr = free_port();
            let mut text = std::fs::read_to_string(&config).unwrap();
            text.push_str(&format!(
                // `user root`: Mosquitto started as root drops to its own user after
                // the listeners, and could then not read the key in the test's
                // private temporary directory.
                "user root\nlistener {} 127.0.0.1\ncertfile {}\nkeyfile {}\n",
                tls_addr.port(),
                files.join("server.cert.pem").display(),
                files.join("server.key.pem").display()
            ));
            std::fs::write(&config, text).unwrap();
            tls_addr
        });
        let mut ports = vec![addr.port()];
        ports.extend(tls_addr.map(|tls_addr| tls_addr.port()));
        let process = hearth_testkit::mosquitto::MosquittoProcess::start(&config, &ports);
        let mosquitto = Mosquitto {
            addr,
            _process: process,
            _dir: dir,
        };
        (mosquitto, tls_addr)
    }
}

/// The shared registry: the owner and `devices`.
pub async fn prepare(database: &str, devices: &[&str]) -> Arc<dyn Store> {
    let store = hearth_store::open(database).await.unwrap();
    let registry = Registry::new(store.clone());
    registry
        .ensure_owner(Some(OWNER_PASSWORD.into()))
        .await
        .unwrap();
    let specs = devices
        .iter()
        .map(|id| DeviceSpec::new(ids::device(id)))
        .collect();
    registry.add_devices("test", specs, &|_| {}).await.unwrap();
    store
}

/// One `hearth serve` node in external mode.
pub struct Node {
    pub http: SocketAddr,
    pub child: Child,
}

/// The node's configuration file: external mode on `broker`, HTTP on a free port.
pub fn write_config(dir: &Path, broker: SocketAddr, password: &str) {
    std::fs::write(
        dir.join("hearth.toml"),
        format!(
            "[mqtt]\nmode = \"external\"\n\n[mqtt.external]\nurl = \"mqtt://{broker}\"\n\
             username = \"hearth\"\npassword = \"{password}\"\n"
        ),
    )
    .unwrap();
}

/// Starts `hearth serve` in `dir` (its `hearth.toml`) on `database`; waits for `ready`
/// and returns its HTTP address. `Err` with what it said on stderr when it ends first.
pub async fn serve(dir: &Path, database: &str) -> Result<Node, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["serve", "--print-addrs", "--http", "127.0.0.1:0"])
        .arg("--config")
        .arg(dir.join("hearth.toml"))
        .arg(format!("--database={database}"))
        .arg("--data-dir")
        .arg(dir)
        .current_dir(dir)
        .env_remove("HEARTH_LOG")
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hearth starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut http = None;
    let ready = tokio::time::timeout(DEADLINE, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(addr) = line.strip_prefix("http=") {
                http = addr.parse().ok();
            }
            if line == "ready" {
                return true;
            }
        }
        false
    })
    .await
    .expect("the node prints ready or ends");
    if !ready {
        let mut said = String::new();
        while let Ok(Some(line)) = errors.next_line().await {
            said.push_str(&line);
            said.push('\n');
        }
        return Err(said);
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    tokio::spawn(async move { while let Ok(Some(_)) = errors.next_line().await {} });
    Ok(Node {
        http: http.expect("the node prints its HTTP address"),
        child,
    })
}

impl Node {
    /// SIGKILL: nothing of the node's shutdown runs.
    pub async fn kill(mut self) {
        self.child.start_kill().unwrap();
        let _ = self.child.wait().await;
    }

    /// `hearth_ingest_stored_total` from the node's `/metrics`.
    pub async fn stored(&self) -> u64 {
        let (_, body) = http(self.http, "GET", "/metrics", "", None).await;
        body.lines()
            .find_map(|line| line.strip_prefix("hearth_ingest_stored_total "))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .map_or(0, |value| value as u64)
    }
}

/// One HTTP/1.1 request on a fresh connection: status and body.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    body: Option<serde_json::Value>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !cookie.is_empty() {
        request.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response[9..12].parse().unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    if method == "POST" && path == "/api/v1/auth/login" {
        let cookie = head
            .lines()
            .find(|line| line.to_ascii_lowercase().starts_with("set-cookie:"))
            .and_then(|line| line.split_once(':'))
            .map(|(_, value)| value.trim().split(';').next().unwrap().to_owned())
            .unwrap_or_default();
        return (status, cookie);
    }
    (status, body.to_owned())
}

/// A device's client of Mosquitto (MQTT 5, logged in as itself).
pub struct Device {
    pub client: AsyncClient,
    events: EventLoop,
}

impl Device {
    pub async fn connect(broker: SocketAddr, id: &str) -> Device {
        Device::connect_with(broker, id, DEVICE_PASSWORD).await
    }

    /// [`Device::connect`] with a password of its own (a dynamic-security broker
    /// password, `three_nodes.rs`).
    pub async fn connect_with(broker: SocketAddr, id: &str, password: &str) -> Device {
        let mut options = MqttOptions::new(id, "127.0.0.1", broker.port());
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_credentials(id, password);
        let (client, events) = AsyncClient::new(options, 64);
        let mut device = Device { client, events };
        device
            .next(|packet| matches!(packet, Packet::ConnAck(_)))
            .await;
        device
    }

    pub async fn next(&mut self, wanted: impl Fn(&Packet) -> bool) -> Packet {
        tokio::time::timeout(DEADLINE, async {
            loop {
                match self.events.poll().await {
                    Ok(Event::Incoming(packet)) if wanted(&packet) => return packet,
                    Ok(_) => {}
                    Err(error) => panic!("device client: {error}"),
                }
            }
        })
        .await
        .expect("the packet arrives before the deadline")
    }

    /// Publishes QoS 1: Mosquitto's PUBACK reason, `None` when it closed the connection
    /// instead (what Mosquitto 2.0 does to a publish its ACL denies).
    pub async fn try_publish(&mut self, topic: &str, payload: String) -> Option<PubAckReason> {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        tokio::time::timeout(DEADLINE, async {
            loop {
                match self.events.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(ack))) => return Some(ack.reason),
                    Ok(_) => {}
                    Err(_) => return None,
                }
            }
        })
        .await
        .expect("an answer before the deadline")
    }

    /// Publishes QoS 1 and returns Mosquitto's PUBACK reason.
    pub async fn publish(&mut self, topic: &str, payload: String) -> PubAckReason {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        match self
            .next(|packet| matches!(packet, Packet::PubAck(_)))
            .await
        {
            Packet::PubAck(ack) => ack.reason,
            _ => unreachable!(),
        }
    }
}

/// Per device, the `n` of every stored data message (duplicates included).
pub async fn stored_numbers(store: &Arc<dyn Store>, device: &str) -> Vec<u64> {
    let messages = store
        .messages(&MessageQuery {
            device: ids::device(device),
            kind: Some(hearth_model::MessageKind::Data),
            range: TimeRange {
                from_ms: 0,
                to_ms: i64::MAX,
            },
            limit: u32::MAX,
        })
        .await
        .unwrap();
    let mut numbers: Vec<u64> = messages
        .iter()
        .map(|message| {
            let value: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
            value["n"].as_u64().unwrap()
        })
        .collect();
    numbers.sort_unstable();
    numbers
}

/// Waits until `check` holds (every 100 ms, up to [`DEADLINE`]).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !check().await {
        assert!(start.elapsed() < DEADLINE, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
