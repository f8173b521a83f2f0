//! Intruders against the bulb's layout (docs/security.md): another device on the bulb's
//! topics, the bulb on its own command topic, an application and an administrator on a
//! mapped command topic. MQTT 5 clients, so that refusals are visible (0x87).

use super::*;
use hearth_model::DeviceId;
use hearth_testkit::Backend;
use rumqttc::v5::mqttbytes::QoS as QoS5;
use rumqttc::v5::mqttbytes::v5::{Packet as Packet5, PubAckReason, SubscribeReasonCode};
use rumqttc::v5::{
    AsyncClient as Client5, Event as Event5, EventLoop as EventLoop5, MqttOptions as Options5,
};

hearth_testkit::both_backends_hub!(nobody_else_speaks_on_a_mapped_devices_topics);

pub(super) struct V5 {
    client: Client5,
    events: EventLoop5,
}

impl V5 {
    pub(super) async fn connect(hub: &TestHub, client_id: &str, user: &str, secret: &str) -> V5 {
        let mut options = Options5::new(client_id, "127.0.0.1", hub.mqtt().port());
        options.set_credentials(user, secret);
        let (client, events) = Client5::new(options, 16);
        let mut v5 = V5 { client, events };
        v5.next(|packet| matches!(packet, Packet5::ConnAck(_)))
            .await;
        v5
    }

    async fn next(&mut self, wanted: impl Fn(&Packet5) -> bool) -> Packet5 {
        tokio::time::timeout(DEADLINE, async {
            loop {
                match self.events.poll().await {
                    Ok(Event5::Incoming(packet)) if wanted(&packet) => return packet,
                    Ok(_) => {}
                    Err(error) => panic!("{error:?}"),
                }
            }
        })
        .await
        .expect("an answer in time")
    }

    /// Whether the broker accepted a QoS 1 publish.
    pub(super) async fn publish(&mut self, topic: &str, payload: &str) -> bool {
        self.client
            .publish(topic, QoS5::AtLeastOnce, false, payload.to_owned())
            .await
            .unwrap();
        match self
            .next(|packet| matches!(packet, Packet5::PubAck(_)))
            .await
        {
            Packet5::PubAck(ack) => ack.reason == PubAckReason::Success,
            _ => unreachable!(),
        }
    }

    /// Whether the broker granted a subscription.
    pub(super) async fn subscribe(&mut self, filter: &str) -> bool {
        self.client
            .subscribe(filter, QoS5::AtLeastOnce)
            .await
            .unwrap();
        match self
            .next(|packet| matches!(packet, Packet5::SubAck(_)))
            .await
        {
            Packet5::SubAck(ack) => ack
                .return_codes
                .iter()
                .all(|code| matches!(code, SubscribeReasonCode::Success(_))),
            _ => unreachable!(),
        }
    }
}

async fn nobody_else_speaks_on_a_mapped_devices_topics(backend: Backend) {
    let hub = hearth_testkit::start_hub(backend).await;
    let api = Api::login(&hub).await;
    let secrets = super::bulb::bulbs(&hub, &api, &["bulb001", "bulb002"]).await;
    let state = "home/livingroom/bulb/bulb001/state";
    let command = "home/livingroom/bulb/bulb001/command/switch";

    // The bulb's neighbour may not speak for it, nor listen to its orders.
    let mut neighbour = V5::connect(&hub, "bulb002", "bulb002", &secrets[1]).await;
    assert!(!neighbour.publish(state, r#"{"is_on": true}"#).await);
    assert!(
        !neighbour
            .publish("home/livingroom/bulb/bulb001/status", "online")
            .await
    );
    assert!(
        !neighbour
            .subscribe("home/livingroom/bulb/bulb001/command/+")
            .await
    );
    assert!(!neighbour.subscribe("home/+/bulb/+/command/+").await);
    assert!(!neighbour.subscribe("home/#").await);
    // Its own topics it may use (the layout's rules with {id} = itself).
    assert!(
        neighbour
            .publish("home/livingroom/bulb/bulb002/state", r#"{"is_on": false}"#)
            .await
    );
    assert!(
        neighbour
            .subscribe("home/livingroom/bulb/bulb002/command/+")
            .await
    );
    assert!(
        neighbour
            .subscribe("home/+/bulb/bulb002/command/switch")
            .await
    );

    // The bulb may not give itself orders.
    let mut bulb = V5::connect(&hub, "bulb001", "bulb001", &secrets[0]).await;
    assert!(!bulb.publish(command, r#"{"action": "on"}"#).await);
    assert!(bulb.publish(state, r#"{"is_on": false}"#).await);

    // The application that holds the bulb, and even an administrator, send commands
    // through the hub (devices/{id}/commands/...), never on the bulb's own topic.
    let (_, _, rotated) = api
        .send("POST", "/api/v1/apps/bulbs/rotate-secret", None)
        .await;
    let (key, app_secret) = (
        rotated["mqtt_key"].as_str().unwrap(),
        rotated["mqtt_secret"].as_str().unwrap(),
    );
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    let mut app = V5::connect(&hub, &format!("{key}:console"), key, app_secret).await;
    assert!(!app.publish(command, r#"{"action": "on"}"#).await);
    let mut admin = V5::connect(&hub, "admin-console", "admin", ADMIN_PASSWORD).await;
    assert!(!admin.publish(command, r#"{"action": "on"}"#).await);
    assert!(
        !admin
            .publish("home/kitchen/bulb/bulb002/command/scene", "{}")
            .await
    );
    // Other topics stay the administrator's.
    assert!(
        admin
            .publish("home/livingroom/bulb/nobody/command/switch", "{}")
            .await
    );

    // Nothing the intruders said reached bulb001's history.
    let data = hub
        .store()
        .device(&DeviceId::new("bulb001").unwrap())
        .await
        .unwrap()
        .live
        .last_report_data;
    assert_eq!(data, Some(serde_json::json!({"on": false})));
    hub.shutdown().await;
}
