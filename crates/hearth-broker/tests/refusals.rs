//! Interceptors refusing a publish with a reason of their own (AckToken::refuse, after
//! the message was routed) or before the broker routes it at all (Interceptor::admit),
//! seen by real MQTT 5 and 3.1.1 clients (rumqttc). The bridge's `refuse` overflow
//! policy answers 0x97 "quota exceeded" this way without the broker knowing the bridge.

mod common;

use common::TestBroker;
use hearth_bus::{AckToken, Bus, Envelope, Interceptor};
use parking_lot::Mutex;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason, PubRecReason};
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use std::sync::Arc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);
const QUOTA_EXCEEDED: u8 = 0x97;

/// Refuses on admission what is published under `full/`, holds the rest and refuses
/// its token with 0x97 when the payload says "refuse", else accepts at once. Counts
/// what it was shown.
#[derive(Default)]
struct Quota {
    shown: Mutex<Vec<String>>,
}

impl Interceptor for Quota {
    fn admit(&self, message: &Envelope) -> Result<(), u8> {
        if message.topic.starts_with("full/") {
            Err(QUOTA_EXCEEDED)
        } else {
            Ok(())
        }
    }

    fn intercept(&self, message: &Envelope, ack: Option<AckToken>) {
        self.shown.lock().push(message.topic.to_string());
        if let Some(ack) = ack {
            if &message.payload[..] == b"refuse" {
                ack.refuse(QUOTA_EXCEEDED);
            } else {
                ack.accept();
            }
        }
    }
}

/// A second holder that always accepts: a specific refusal of another wins.
struct Accepting;

impl Interceptor for Accepting {
    fn intercept(&self, _message: &Envelope, ack: Option<AckToken>) {
        if let Some(ack) = ack {
            ack.accept();
        }
    }
}

fn v5_client(broker: &TestBroker, id: &str) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(id, "127.0.0.1", broker.port());
    options.set_keep_alive(Duration::from_secs(30));
    AsyncClient::new(options, 64)
}

async fn next(eventloop: &mut EventLoop, wanted: impl Fn(&Packet) -> bool) -> Packet {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(packet)) if wanted(&packet) => return packet,
                Ok(_) => {}
                Err(error) => panic!("connection failed: {error}"),
            }
        }
    })
    .await
    .expect("packet arrives before the deadline")
}

async fn puback(
    client: &AsyncClient,
    eventloop: &mut EventLoop,
    topic: &str,
    payload: &str,
) -> PubAckReason {
    client
        .publish(topic, QoS::AtLeastOnce, false, payload.to_owned())
        .await
        .unwrap();
    match next(eventloop, |p| matches!(p, Packet::PubAck(_))).await {
        Packet::PubAck(ack) => ack.reason,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn a_v5_publisher_sees_the_interceptors_reason_and_an_unadmitted_message_reaches_nobody() {
    let broker = TestBroker::start().await;
    let quota = Arc::new(Quota::default());
    broker.handle.intercept("#", quota.clone()).unwrap();
    broker.handle.intercept("#", Arc::new(Accepting)).unwrap();
    let mut subscription = broker.handle.subscribe("#").await.unwrap();
    let (client, mut eventloop) = v5_client(&broker, "device");

    assert_eq!(
        puback(&client, &mut eventloop, "ok/1", "fine").await,
        PubAckReason::Success
    );
    // Refused by the token after routing: 0x97, not 0x80.
    assert_eq!(
        puback(&client, &mut eventloop, "ok/2", "refuse").await,
        PubAckReason::QuotaExceeded
    );
    // Refused on admission: 0x97, and neither routed nor shown to any interceptor.
    assert_eq!(
        puback(&client, &mut eventloop, "full/3", "fine").await,
        PubAckReason::QuotaExceeded
    );
    client
        .publish("full/4", QoS::ExactlyOnce, false, "fine")
        .await
        .unwrap();
    match next(&mut eventloop, |p| matches!(p, Packet::PubRec(_))).await {
        Packet::PubRec(rec) => assert_eq!(rec.reason, PubRecReason::QuotaExceeded),
        _ => unreachable!(),
    }
    // QoS 0 is not asked (nobody could be told): it passes.
    client
        .publish("full/5", QoS::AtMostOnce, false, "fine")
        .await
        .unwrap();
    assert_eq!(
        puback(&client, &mut eventloop, "ok/6", "fine").await,
        PubAckReason::Success
    );

    let mut routed = Vec::new();
    while routed.last().map(String::as_str) != Some("ok/6") {
        let envelope = tokio::time::timeout(DEADLINE, subscription.recv())
            .await
            .unwrap()
            .unwrap();
        routed.push(envelope.topic.to_string());
    }
    assert_eq!(routed, vec!["ok/1", "ok/2", "full/5", "ok/6"]);
    assert_eq!(*quota.shown.lock(), vec!["ok/1", "ok/2", "full/5", "ok/6"]);
    broker.stop().await;
}

#[tokio::test]
async fn a_3_1_1_publisher_refused_on_admission_loses_its_connection() {
    let broker = TestBroker::start().await;
    broker
        .handle
        .intercept("full/#", Arc::new(Quota::default()))
        .unwrap();
    let mut options = rumqttc::MqttOptions::new("old-device", "127.0.0.1", broker.port());
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 64);
    client
        .publish("full/1", rumqttc::QoS::AtLeastOnce, false, "x")
        .await
        .unwrap();
    let closed = tokio::time::timeout(DEADLINE, async {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => return false,
                Ok(_) => {}
                Err(_) => return true,
            }
        }
    })
    .await
    .unwrap();
    assert!(
        closed,
        "3.1.1 has no refusal: the connection ends, no PUBACK"
    );
    broker.stop().await;
}
