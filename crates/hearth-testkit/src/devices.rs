//! Simulated devices for hub tests: registered in the registry, connected over real
//! MQTT (rumqttc, MQTT 5) to the hub's TCP listener, publishing what a test tells them
//! and waiting for the broker's acknowledgement (acknowledged means stored).

use crate::TestHub;
use crate::ids;
use hearth_services::registry::DeviceSpec;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use std::collections::HashMap;
use std::time::Duration;

/// How long a test waits for the broker before it fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// Registers `devices` (in the default application of group `home`) and returns their
/// MQTT secrets by id; the hub's authorizer knows them when this returns.
pub async fn add_devices(hub: &TestHub, devices: &[&str]) -> HashMap<String, String> {
    let specs = devices
        .iter()
        .map(|id| DeviceSpec::new(ids::device(id)))
        .collect();
    let secrets = hub
        .registry()
        .add_devices("test", specs, &|_| {})
        .await
        .expect("devices registered")
        .into_iter()
        .map(|(id, secret)| (id.to_string(), secret))
        .collect();
    hub.authorizer()
        .refresh(hub.bus().as_ref())
        .await
        .expect("the authorizer refreshed");
    secrets
}

/// A device connected to the hub.
pub struct TestDevice {
    pub id: String,
    pub client: AsyncClient,
    events: EventLoop,
}

impl TestDevice {
    /// Connects as `id` with its secret and waits for the CONNACK.
    pub async fn connect(hub: &TestHub, id: &str, secret: &str) -> TestDevice {
        let mut options = MqttOptions::new(id, "127.0.0.1", hub.mqtt().port());
        options.set_credentials(id, secret);
        let (client, events) = AsyncClient::new(options, 64);
        let mut device = TestDevice {
            id: id.to_owned(),
            client,
            events,
        };
        device
            .next(|packet| matches!(packet, Packet::ConnAck(_)), "CONNACK")
            .await;
        device
    }

    /// The next incoming packet that `wanted` accepts (others are skipped).
    pub async fn next(&mut self, wanted: impl Fn(&Packet) -> bool, what: &str) -> Packet {
        tokio::time::timeout(DEADLINE, async {
            loop {
                match self.events.poll().await {
                    Ok(Event::Incoming(packet)) if wanted(&packet) => return packet,
                    Ok(_) => {}
                    Err(error) => panic!("{}: {error:?}", self.id),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{}: no {what} in time", self.id))
    }

    /// Publishes on `devices/{id}/{kind}` (QoS 1) and waits for the PUBACK.
    pub async fn publish(&mut self, kind: &str, payload: &str) {
        self.client
            .publish(
                format!("devices/{}/{kind}", self.id),
                QoS::AtLeastOnce,
                false,
                payload.to_owned(),
            )
            .await
            .expect("published");
        self.next(|packet| matches!(packet, Packet::PubAck(_)), "PUBACK")
            .await;
    }

    /// A reading (`devices/{id}/data`), stored when this returns.
    pub async fn data(&mut self, payload: &str) {
        self.publish("data", payload).await;
    }

    /// An event (`devices/{id}/events`), stored when this returns.
    pub async fn event(&mut self, payload: &str) {
        self.publish("events", payload).await;
    }

    /// Disconnects cleanly (the hub sees it offline at once).
    pub async fn disconnect(mut self) {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while self.events.poll().await.is_ok() {}
        })
        .await;
    }
}
