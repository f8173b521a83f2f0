//! Home Assistant MQTT discovery end to end (issue 18): a real hub
//! (`hearth_testkit::start_hub`) and MQTT clients publishing the retained discovery
//! payloads of `crates/hearth-services/tests/fixtures/discovery/` exactly as Tasmota,
//! Zigbee2MQTT, ESPHome and Shelly publish them, with the discovery application's key and
//! secret, on SQLite and PostgreSQL.
//!
//! # Layout
//! - this file: the fixtures, the HTTP client, the MQTT client, the discovery login.
//! - `flows.rs`: per fixture: listed, availability, adopted, state into history and live
//!   state, availability into presence, a command in the device's own payload, removal,
//!   re-announce after the birth message without a duplicate.
//! - `intruders.rs`: another group's discovery login (see, adopt, command, spoof), an
//!   ordinary device and an ordinary application publishing configs.

mod flows;
mod intruders;

use hearth_model::AppId;
use hearth_testkit::{ADMIN_PASSWORD, TestHub, ids};
use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Packet, QoS};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a test waits for something before it fails (never a pass threshold).
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The `topic`/`payload` pairs of a fixture file (`#` lines are comments).
pub fn fixture(name: &str) -> Vec<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../hearth-services/tests/fixtures/discovery")
        .join(name);
    let text = std::fs::read_to_string(path).unwrap();
    let mut pairs = Vec::new();
    let mut topic = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("topic ") {
            topic = Some(rest.trim().to_owned());
        } else if let Some(rest) = line.strip_prefix("payload") {
            pairs.push((topic.take().unwrap(), rest.trim().to_owned()));
        }
    }
    pairs
}

/// A discovery application `app` in `group` (created with the group when missing): its
/// MQTT key and secret.
pub async fn discovery_login(hub: &TestHub, group: &str, app: &str) -> (String, String) {
    let registry = hub.registry();
    if registry.store().group(&ids::group(group)).await.is_err() {
        registry
            .add_group("test", &ids::group(group), None, None)
            .await
            .unwrap();
    }
    let (created, secret) = registry
        .add_app("test", &ids::app(app), &ids::group(group), None, None)
        .await
        .unwrap();
    registry
        .set_app_discovery("test", &AppId::new(app).unwrap(), true)
        .await
        .unwrap();
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    (created.mqtt_key, secret)
}

/// The API as someone with a session cookie.
pub struct Api {
    address: std::net::SocketAddr,
    cookie: String,
}

impl Api {
    /// As the owner (`admin`, a hub administrator).
    pub async fn login(hub: &TestHub) -> Api {
        Api::login_as(hub, "admin", ADMIN_PASSWORD).await
    }

    pub async fn login_as(hub: &TestHub, user: &str, password: &str) -> Api {
        let mut api = Api {
            address: hub.http(),
            cookie: String::new(),
        };
        let body = serde_json::json!({"username": user, "password": password});
        let (status, head, _) = api.send("POST", "/api/v1/auth/login", Some(body)).await;
        assert_eq!(status, 200, "login as {user}");
        api.cookie = head
            .lines()
            .find(|line| line.to_ascii_lowercase().starts_with("set-cookie:"))
            .and_then(|line| line.split_once(':'))
            .map(|(_, value)| value.trim().split(';').next().unwrap().to_owned())
            .expect("a session cookie");
        api
    }

    /// One request on a fresh connection: status, head, JSON body (`Null` if none).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String, Value) {
        let body = body.map(|body| body.to_string()).unwrap_or_default();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {0}\r\nOrigin: http://{0}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {1}\r\n",
            self.address,
            body.len()
        );
        if !self.cookie.is_empty() {
            request.push_str(&format!("Cookie: {}\r\n", self.cookie));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        let mut stream = tokio::net::TcpStream::connect(self.address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let response = String::from_utf8(response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            unchunk(body)
        } else {
            body.to_owned()
        };
        (
            status,
            head.to_owned(),
            serde_json::from_str(&body).unwrap_or(Value::Null),
        )
    }

    /// `GET /api/v1/discovered`: the entries listed.
    pub async fn discovered(&self) -> Vec<Value> {
        let (status, _, body) = self.send("GET", "/api/v1/discovered", None).await;
        assert_eq!(status, 200, "{body}");
        body.as_array().unwrap().clone()
    }
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// An MQTT 3.1.1 client (as the firmwares speak), its event loop on a task of its own.
pub struct Mqtt {
    pub client: AsyncClient,
    packets: tokio::sync::mpsc::UnboundedReceiver<Packet>,
    task: tokio::task::JoinHandle<()>,
}

impl Mqtt {
    /// Connects (client id `client_id`, a clean session unless `keep_session`) with an
    /// optional retained will, and returns the CONNACK's code (0 accepted).
    pub async fn try_connect(
        hub: &TestHub,
        client_id: &str,
        user: &str,
        secret: &str,
        will: Option<(&str, &str)>,
        keep_session: bool,
    ) -> (Mqtt, rumqttc::ConnectReturnCode) {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", hub.mqtt().port());
        options.set_credentials(user, secret);
        options.set_clean_session(!keep_session);
        if let Some((topic, payload)) = will {
            options.set_last_will(LastWill::new(topic, payload, QoS::AtLeastOnce, true));
        }
        let (client, events) = AsyncClient::new(options, 64);
        let (sender, packets) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(pump(events, sender));
        let mut mqtt = Mqtt {
            client,
            packets,
            task,
        };
        // A refused CONNECT ends rumqttc's event loop with an error: no CONNACK packet.
        let code = tokio::time::timeout(DEADLINE, async {
            loop {
                match mqtt.packets.recv().await {
                    Some(Packet::ConnAck(ack)) => return ack.code,
                    Some(_) => {}
                    None => return rumqttc::ConnectReturnCode::NotAuthorized,
                }
            }
        })
        .await
        .expect("a CONNACK or a refusal in time");
        (mqtt, code)
    }

    pub async fn connect(
        hub: &TestHub,
        client_id: &str,
        user: &str,
        secret: &str,
        will: Option<(&str, &str)>,
    ) -> Mqtt {
        let (mqtt, code) = Mqtt::try_connect(hub, client_id, user, secret, will, false).await;
        assert_eq!(
            code,
            rumqttc::ConnectReturnCode::Success,
            "{client_id} connects"
        );
        mqtt
    }

    /// The next packet `wanted` accepts (others are skipped).
    pub async fn next(&mut self, wanted: impl Fn(&Packet) -> bool, what: &str) -> Packet {
        tokio::time::timeout(DEADLINE, async {
            loop {
                let packet = self.packets.recv().await.expect("the connection is open");
                if wanted(&packet) {
                    return packet;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {what} in time"))
    }

    /// Publishes at QoS 1 and waits for the PUBACK.
    pub async fn publish(&mut self, topic: &str, payload: &str, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.to_owned())
            .await
            .unwrap();
        self.next(|packet| matches!(packet, Packet::PubAck(_)), "PUBACK")
            .await;
    }

    /// Subscribes at QoS 1; whether the broker granted it.
    pub async fn subscribe(&mut self, filter: &str) -> bool {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        match self
            .next(|packet| matches!(packet, Packet::SubAck(_)), "SUBACK")
            .await
        {
            Packet::SubAck(ack) => ack
                .return_codes
                .iter()
                .all(|code| matches!(code, rumqttc::SubscribeReasonCode::Success(_))),
            _ => unreachable!(),
        }
    }

    /// The next message on `topic`: its payload.
    pub async fn message(&mut self, topic: &str) -> String {
        match self
            .next(
                |packet| matches!(packet, Packet::Publish(publish) if publish.topic == topic),
                topic,
            )
            .await
        {
            Packet::Publish(publish) => String::from_utf8(publish.payload.to_vec()).unwrap(),
            _ => unreachable!(),
        }
    }

    /// Every message received so far on topics `wanted` accepts (without waiting).
    pub fn received(&mut self, wanted: impl Fn(&str) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(packet) = self.packets.try_recv() {
            if let Packet::Publish(publish) = packet
                && wanted(&publish.topic)
            {
                out.push(publish.topic.clone());
            }
        }
        out
    }

    /// Drops the connection without DISCONNECT (power lost): the broker sends the will.
    pub fn cut(self) {
        self.task.abort();
    }
}

async fn pump(mut events: EventLoop, sender: tokio::sync::mpsc::UnboundedSender<Packet>) {
    loop {
        match events.poll().await {
            Ok(Event::Incoming(packet)) => {
                if sender.send(packet).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// Waits until `check` gives `Some`, reading again every 20 ms; fails after
/// [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    tokio::time::timeout(DEADLINE, async {
        loop {
            if let Some(value) = check().await {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: not in time"))
}
