//! Clients of a test hub as outsiders see it: [`Api`], the HTTP API with a person's
//! session cookie, and [`Mqtt`], an MQTT 3.1.1 client (as device firmwares and the
//! seeds' paho scripts speak) whose packets the test reads as they come; and
//! [`eventually`] for state the hub reaches asynchronously.

use crate::{ADMIN_PASSWORD, TestHub};
use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, EventLoop, LastWill, MqttOptions, Packet, QoS,
};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long any one wait of these clients lasts before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The API as someone with a session cookie. Every request goes on a fresh connection
/// with the hub's own Origin, as the web app's would.
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

    /// A GET's body as text (`/metrics`).
    pub async fn text(&self, path: &str) -> String {
        let (status, _, body) = self.send_raw("GET", path, None).await;
        assert_eq!(status, 200, "{path}");
        body
    }

    /// A GET that answers a JSON list: its items.
    pub async fn list(&self, path: &str) -> Vec<Value> {
        let (status, _, body) = self.send("GET", path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body.as_array().expect("a JSON list").clone()
    }

    /// One request: status, head, JSON body (`Null` if none).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String, Value) {
        let (status, head, body) = self.send_raw(method, path, body).await;
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        (status, head, json)
    }

    /// One request: status, head, body as text.
    async fn send_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String, String) {
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
        (status, head.to_owned(), body)
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

/// An MQTT 3.1.1 client, its event loop on a task of its own.
pub struct Mqtt {
    pub client: AsyncClient,
    packets: tokio::sync::mpsc::UnboundedReceiver<Packet>,
    task: tokio::task::JoinHandle<()>,
}

impl Mqtt {
    /// Connects (client id `client_id`, a clean session unless `keep_session`) with an
    /// optional retained QoS 1 will, and returns the CONNACK's code.
    pub async fn try_connect(
        hub: &TestHub,
        client_id: &str,
        user: &str,
        secret: &str,
        will: Option<(&str, &str)>,
        keep_session: bool,
    ) -> (Mqtt, ConnectReturnCode) {
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
                    None => return ConnectReturnCode::NotAuthorized,
                }
            }
        })
        .await
        .expect("a CONNACK or a refusal in time");
        (mqtt, code)
    }

    /// Connects with a clean session and fails the test unless the hub accepts.
    pub async fn connect(
        hub: &TestHub,
        client_id: &str,
        user: &str,
        secret: &str,
        will: Option<(&str, &str)>,
    ) -> Mqtt {
        let (mqtt, code) = Mqtt::try_connect(hub, client_id, user, secret, will, false).await;
        assert_eq!(code, ConnectReturnCode::Success, "{client_id} connects");
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

    /// The topics of every message received so far that `wanted` accepts (no waiting).
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

    /// Waits until the broker closes the connection.
    pub async fn closed(&mut self) {
        tokio::time::timeout(DEADLINE, async {
            while self.packets.recv().await.is_some() {}
        })
        .await
        .expect("the broker closed the connection in time");
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
