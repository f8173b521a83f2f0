//! Wildcard subscriptions of applications, as real clients see them: an application
//! subscribed to `devices/+/data` receives the messages of the devices it holds and
//! nothing else, retained messages included; a device added to it starts flowing and a
//! device taken from it stops at once, without a new subscription. Every test runs on
//! SQLite and PostgreSQL.

mod acl_hub;

use acl_hub::*;
use hearth_services::registry::DeviceSpec;
use hearth_testkit::{Backend, ids};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a client waits for a packet it expects.
const WAIT: Duration = Duration::from_secs(10);

/// A v5 client whose event loop runs in a task and forwards what it receives.
struct Client {
    client: AsyncClient,
    received: mpsc::UnboundedReceiver<Packet>,
}

impl Client {
    async fn connect(hub: &AclHub, client_id: &str, username: &str, password: &str) -> Client {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", hub.port());
        options.set_credentials(username, password);
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let (sender, received) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(packet)) => {
                        if sender.send(packet).is_err() {
                            return;
                        }
                    }
                    Ok(Event::Outgoing(_)) => {}
                    Err(_) => return,
                }
            }
        });
        let mut client = Client { client, received };
        match client.next_packet().await {
            Packet::ConnAck(_) => {}
            other => panic!("{client_id}: expected CONNACK, got {other:?}"),
        }
        client
    }

    async fn next_packet(&mut self) -> Packet {
        tokio::time::timeout(WAIT, self.received.recv())
            .await
            .expect("a packet within the wait")
            .expect("the connection is open")
    }

    /// Subscribes to one filter at QoS 1 and returns its SUBACK reason code.
    async fn subscribe(&mut self, filter: &str) -> SubscribeReasonCode {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        loop {
            match self.next_packet().await {
                Packet::SubAck(ack) => return ack.return_codes[0],
                Packet::Publish(publish) => {
                    panic!("a publish before the SUBACK: {publish:?}")
                }
                _ => {}
            }
        }
    }

    /// Publishes at QoS 1 and waits for the PUBACK: by then the broker has routed it.
    async fn publish(&mut self, topic: &str, payload: &str, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
            .await
            .unwrap();
        loop {
            if let Packet::PubAck(_) = self.next_packet().await {
                return;
            }
        }
    }

    /// Messages received until (and with) one whose payload is `last`, as
    /// `topic payload` lines.
    async fn messages_until(&mut self, last: &str) -> Vec<String> {
        let mut messages = Vec::new();
        loop {
            if let Packet::Publish(publish) = self.next_packet().await {
                let payload = String::from_utf8_lossy(&publish.payload).into_owned();
                messages.push(format!(
                    "{} {payload}",
                    String::from_utf8_lossy(&publish.topic)
                ));
                if payload == last {
                    return messages;
                }
            }
        }
    }
}

/// Waits until the authorizer's snapshot has (or no longer has) `device`.
async fn wait_for_snapshot(hub: &AclHub, device: &str, present: bool) {
    for _ in 0..1_000 {
        if hub.authorizer().device_enabled(device).is_some() == present {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the authorizer never saw {device} present={present}");
}

async fn an_application_wildcard_follows_its_device_set(backend: Backend) {
    let hub = AclHub::start(backend).await;
    // The administrator publishes on behalf of everyone where the order of two messages
    // matters: one publisher's messages reach each subscriber in order, so a marker
    // that arrives proves that nothing published before it is still on the way.
    let mut admin = Client::connect(&hub, "admin-publisher", "admin", ADMIN_PASSWORD).await;
    admin.publish("devices/d1/data", "retained-d1", true).await;
    admin.publish("devices/d3/data", "retained-d3", true).await;

    let (key, secret) = hub.default_app.clone();
    let mut app = Client::connect(&hub, &format!("{key}:wildcard"), &key, &secret).await;
    assert_eq!(
        app.subscribe("devices/+/data").await,
        SubscribeReasonCode::Success(QoS::AtLeastOnce),
        "an application may subscribe to its devices through a wildcard"
    );
    let (other_key, other_secret) = hub.other_app.clone();
    let mut other = Client::connect(&hub, &other_key, &other_key, &other_secret).await;
    assert_eq!(
        other.subscribe("devices/+/data").await,
        SubscribeReasonCode::Success(QoS::AtLeastOnce)
    );

    // Retained messages at subscribe time and live ones: only the devices it holds.
    admin.publish("devices/d1/data", "m0", false).await;
    assert_eq!(
        app.messages_until("m0").await,
        ["devices/d1/data retained-d1", "devices/d1/data m0"]
    );
    admin.publish("devices/d2/data", "live-d2", false).await;
    admin.publish("devices/d3/data", "live-d3", false).await;
    admin.publish("devices/d1/data", "m1", false).await;
    assert_eq!(
        app.messages_until("m1").await,
        ["devices/d2/data live-d2", "devices/d1/data m1"]
    );

    // A device added to the application flows on the same subscription.
    let (_, d4_secret) = hub
        .registry()
        .add_device(
            "test",
            DeviceSpec {
                app: Some(ids::app("default")),
                ..DeviceSpec::new(ids::device("d4"))
            },
        )
        .await
        .unwrap();
    wait_for_snapshot(&hub, "d4", true).await;
    let mut d4 = Client::connect(&hub, "d4", "d4", &d4_secret).await;
    d4.publish("devices/d4/data", "from-d4", false).await;
    assert_eq!(
        app.messages_until("from-d4").await,
        ["devices/d4/data from-d4"]
    );

    // A device the application no longer holds stops at once...
    hub.registry()
        .remove_device("test", &ids::device("d2"))
        .await
        .unwrap();
    wait_for_snapshot(&hub, "d2", false).await;
    admin
        .publish("devices/d2/data", "after-removal", false)
        .await;
    admin.publish("devices/d1/data", "m2", false).await;
    assert_eq!(app.messages_until("m2").await, ["devices/d1/data m2"]);

    // ...also when it comes back in another application: that one receives it now.
    let (_, d2_secret) = hub
        .registry()
        .add_device(
            "test",
            DeviceSpec {
                app: Some(ids::app("other")),
                ..DeviceSpec::new(ids::device("d2"))
            },
        )
        .await
        .unwrap();
    wait_for_snapshot(&hub, "d2", true).await;
    let mut d2 = Client::connect(&hub, "d2", "d2", &d2_secret).await;
    d2.publish("devices/d2/data", "moved-d2", false).await;
    admin.publish("devices/d1/data", "m3", false).await;
    assert_eq!(app.messages_until("m3").await, ["devices/d1/data m3"]);
    admin.publish("devices/d3/data", "m-end", false).await;
    assert_eq!(
        other.messages_until("m-end").await,
        [
            "devices/d3/data retained-d3",
            "devices/d3/data live-d3",
            "devices/d2/data moved-d2",
            "devices/d3/data m-end",
        ]
    );
}

async fn a_shared_application_wildcard_is_filtered_too(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let mut admin = Client::connect(&hub, "admin-publisher", "admin", ADMIN_PASSWORD).await;
    admin.publish("devices/d3/data", "retained-d3", true).await;
    let (key, secret) = hub.default_app.clone();
    let mut app = Client::connect(&hub, &format!("{key}:shared"), &key, &secret).await;
    for filter in ["$share/workers/devices/+/data", "devices/#"] {
        assert_eq!(
            app.subscribe(filter).await,
            SubscribeReasonCode::Success(QoS::AtLeastOnce),
            "{filter}"
        );
    }
    for filter in ["#", "$SYS/#", "+/+/data", "devices"] {
        assert_eq!(
            app.subscribe(filter).await,
            SubscribeReasonCode::NotAuthorized,
            "{filter}"
        );
    }
    admin.publish("devices/d3/data", "live-d3", false).await;
    admin
        .publish("devices/d3/status", "live-d3-status", false)
        .await;
    admin.publish("devices/d1/status", "m0", false).await;
    // `devices/#` and the shared `devices/+/data` each deliver d1's message once;
    // nothing of d3, whose application is another, and not its retained message.
    admin.publish("devices/d1/data", "m1", false).await;
    let messages = app.messages_until("m0").await;
    assert_eq!(messages, ["devices/d1/status m0"]);
    let mut messages = app.messages_until("m1").await;
    messages.sort();
    assert_eq!(messages, ["devices/d1/data m1"]);
}

hearth_testkit::both_backends_hub!(
    an_application_wildcard_follows_its_device_set,
    a_shared_application_wildcard_is_filtered_too,
);
