//! What the OTA tests share: HTTP requests to the hub, groups and relays in the
//! registry, devices running the real `OtaHandler`, polling a rollout.

use hearth_device::ota::{OtaHandler, SimulatedInstaller};
use hearth_device::{CommandHandler, DeviceClient, DeviceConfig, dispatch};
use hearth_model::{AppId, GroupId};
use hearth_services::registry::DeviceSpec;
use hearth_testkit::{TestHub, ids};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Only against a hang (not a measurement).
pub const DEADLINE: Duration = Duration::from_secs(60);

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub async fn http(
    hub: &TestHub,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Response {
    let mut stream = tokio::net::TcpStream::connect(hub.http()).await.unwrap();
    let cookie = cookie
        .map(|value| format!("Cookie: hearth_session={value}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n{cookie}\
         Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len(),
        host = hub.http()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    Response {
        status: head[9..12].parse().unwrap(),
        body: response[split + 4..].to_vec(),
    }
}

pub async fn json_request(
    hub: &TestHub,
    method: &str,
    path: &str,
    cookie: &str,
    body: Value,
) -> Response {
    http(
        hub,
        method,
        path,
        Some(cookie),
        "application/json",
        body.to_string().as_bytes(),
    )
    .await
}

pub async fn login(hub: &TestHub, name: &str, password: &str) -> String {
    let body = json!({"username": name, "password": password}).to_string();
    let mut stream = tokio::net::TcpStream::connect(hub.http()).await.unwrap();
    let request = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len(),
        host = hub.http()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
        .lines()
        .find_map(|line| {
            let value = line.strip_prefix("set-cookie: ")?;
            value
                .split(';')
                .next()?
                .strip_prefix("hearth_session=")
                .map(str::to_owned)
        })
        .expect("a session cookie")
}

/// Groups `x` and `y`, each with an application and relays `{group}1..{group}n`.
pub async fn setup(hub: &TestHub, per_group: usize) -> HashMap<String, String> {
    let mut secrets = HashMap::new();
    for group in ["x", "y"] {
        let group_id: GroupId = ids::group(group);
        let app: AppId = ids::app(&format!("{group}app"));
        hub.registry()
            .add_group("test", &group_id, None, None)
            .await
            .unwrap();
        hub.registry()
            .add_app("test", &app, &group_id, None, None)
            .await
            .unwrap();
        let specs = (1..=per_group)
            .map(|n| {
                let mut spec = DeviceSpec::new(ids::device(&format!("{group}{n}")));
                spec.app = Some(app.clone());
                spec.kind = Some("relay".into());
                spec
            })
            .collect();
        for (id, secret) in hub
            .registry()
            .add_devices("test", specs, &|_| {})
            .await
            .unwrap()
        {
            secrets.insert(id.to_string(), secret);
        }
    }
    hub.authorizer()
        .refresh(hub.bus().as_ref())
        .await
        .expect("the authorizer refreshed");
    secrets
}

/// A connected device running the OTA handler; its installer and corruption switch.
pub struct SimDevice {
    pub client: DeviceClient,
    pub installer: Arc<SimulatedInstaller>,
    pub corrupt: Arc<AtomicBool>,
}

pub async fn run_device(hub: &TestHub, id: &str, secret: &str, dir: &std::path::Path) -> SimDevice {
    let mut config = DeviceConfig::new("127.0.0.1", hub.mqtt().port(), ids::device(id), secret);
    config.backoff.initial = Duration::from_millis(50);
    let (client, commands) = DeviceClient::connect(config);
    let installer = Arc::new(SimulatedInstaller::new(Duration::from_millis(100)));
    let corrupt = Arc::new(AtomicBool::new(false));
    let handler =
        OtaHandler::new(dir.join(id), installer.clone()).corrupting_downloads(corrupt.clone());
    let handlers: Vec<Arc<dyn CommandHandler>> = vec![Arc::new(handler)];
    tokio::spawn(dispatch(client.clone(), commands, handlers));
    tokio::time::timeout(DEADLINE, client.wait_connected())
        .await
        .expect("connected in time")
        .expect("connected");
    SimDevice {
        client,
        installer,
        corrupt,
    }
}

pub async fn upload(hub: &TestHub, cookie: &str, version: &str, image: &[u8]) -> Response {
    http(
        hub,
        "POST",
        &format!("/api/v1/firmware?name=relay.bin&version={version}&kind=relay"),
        Some(cookie),
        "application/octet-stream",
        image,
    )
    .await
}

/// Polls the rollout until `done` says so.
pub async fn rollout_until(
    hub: &TestHub,
    cookie: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let view = http(
                hub,
                "GET",
                &format!("/api/v1/rollouts/{id}"),
                Some(cookie),
                "text/plain",
                b"",
            )
            .await
            .json();
            if done(&view) {
                return view;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("rollout {id} did not get there"))
}

pub fn state_of(view: &Value, device: &str) -> String {
    view["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|target| target["device"] == device)
        .map(|target| target["state"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The download token of the device's latest `ota` command (from the hub's command log).
pub async fn latest_token(hub: &TestHub, device: &str) -> String {
    let commands = hub.commands().list(&ids::device(device), 10).await.unwrap();
    let url = commands
        .iter()
        .find(|command| command.name == "ota")
        .expect("an ota command")
        .params["url"]
        .as_str()
        .unwrap()
        .to_owned();
    url.rsplit('/').next().unwrap().to_owned()
}

pub fn image(len: usize) -> Vec<u8> {
    (0..len).map(|n| (n * 31 % 251) as u8).collect()
}

pub fn tempfile_dir() -> TempDir {
    TempDir::new()
}

/// A scratch directory removed on drop (the device crate has no tempfile dependency).
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "hearth-ota-test-{}-{}",
            std::process::id(),
            hearth_device::now_millis()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Publishes `{"ota": "failed"}` as `device` on `topic` (QoS 1); the PUBACK's reason.
pub async fn forge(
    hub: &TestHub,
    device: &str,
    secret: &str,
    topic: &str,
) -> rumqttc::v5::mqttbytes::v5::PubAckReason {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let mut options = MqttOptions::new(device, "127.0.0.1", hub.mqtt().port());
    options.set_credentials(device, secret);
    let (client, mut events) = AsyncClient::new(options, 10);
    client
        .publish(
            topic,
            QoS::AtLeastOnce,
            false,
            r#"{"ota": "failed", "error": "forged"}"#,
        )
        .await
        .unwrap();
    tokio::time::timeout(DEADLINE, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(ack))) => return ack.reason,
                Ok(_) => {}
                Err(error) => panic!("connection failed: {error}"),
            }
        }
    })
    .await
    .expect("a PUBACK")
}
