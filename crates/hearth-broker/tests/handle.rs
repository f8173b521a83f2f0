//! The in-process handle: services publish, subscribe and intercept without a socket,
//! observed by real MQTT clients (rumqttc, 3.1.1 and 5.0).

mod common;

use bytes::Bytes;
use common::{TestBroker, eventually};
use hearth_bus::{AckToken, Bus, Envelope, Interceptor, Qos};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

/// Keeps every intercepted message and its token until the test decides.
#[derive(Default)]
struct Holding {
    held: Mutex<Vec<(Envelope, Option<AckToken>)>>,
}

impl Interceptor for Holding {
    fn intercept(&self, message: &Envelope, ack: Option<AckToken>) {
        self.held.lock().push((message.clone(), ack));
    }
}

fn v4_client(broker: &TestBroker, id: &str) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
    let mut options = rumqttc::MqttOptions::new(id, "127.0.0.1", broker.port());
    options.set_keep_alive(Duration::from_secs(30));
    rumqttc::AsyncClient::new(options, 64)
}

fn v5_client(broker: &TestBroker, id: &str) -> (rumqttc::v5::AsyncClient, rumqttc::v5::EventLoop) {
    let mut options = rumqttc::v5::MqttOptions::new(id, "127.0.0.1", broker.port());
    options.set_keep_alive(Duration::from_secs(30));
    rumqttc::v5::AsyncClient::new(options, 64)
}

/// Polls a 3.1.1 event loop until `wanted` matches an incoming packet.
async fn next_v4(
    eventloop: &mut rumqttc::EventLoop,
    wanted: impl Fn(&rumqttc::Packet) -> bool,
) -> rumqttc::Packet {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(packet)) if wanted(&packet) => return packet,
                Ok(_) => {}
                Err(error) => panic!("connection failed: {error}"),
            }
        }
    })
    .await
    .expect("packet arrives before the deadline")
}

#[tokio::test]
async fn in_process_subscriber_receives_client_publishes_with_the_client_id() {
    let broker = TestBroker::start().await;
    let mut subscription = broker.handle.subscribe("sensors/#").await.unwrap();
    let (client, mut eventloop) = v4_client(&broker, "thermometer");
    client
        .publish("sensors/kitchen", rumqttc::QoS::AtLeastOnce, false, "21.5")
        .await
        .unwrap();
    next_v4(&mut eventloop, |p| matches!(p, rumqttc::Packet::PubAck(_))).await;
    let envelope = tokio::time::timeout(DEADLINE, subscription.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&*envelope.topic, "sensors/kitchen");
    assert_eq!(envelope.payload, Bytes::from_static(b"21.5"));
    assert_eq!(envelope.client_id.as_deref(), Some("thermometer"));
    assert_eq!(envelope.qos, Qos::AtLeastOnce);
    broker.stop().await;
}

#[tokio::test]
async fn in_process_publish_reaches_mqtt_subscribers_and_is_retained() {
    let broker = TestBroker::start().await;
    let (client, mut eventloop) = v4_client(&broker, "listener");
    client
        .subscribe("lights/+/state", rumqttc::QoS::AtLeastOnce)
        .await
        .unwrap();
    next_v4(&mut eventloop, |p| matches!(p, rumqttc::Packet::SubAck(_))).await;
    let message = Envelope::new("lights/porch/state", "on")
        .with_qos(Qos::AtLeastOnce)
        .with_retain(true);
    broker.handle.publish(message).await.unwrap();
    let packet = next_v4(&mut eventloop, |p| matches!(p, rumqttc::Packet::Publish(_))).await;
    let rumqttc::Packet::Publish(publish) = packet else {
        unreachable!()
    };
    assert_eq!(publish.topic, "lights/porch/state");
    assert_eq!(&publish.payload[..], b"on");

    // A later subscriber gets it as a retained message.
    let (late, mut late_loop) = v4_client(&broker, "late");
    late.subscribe("lights/#", rumqttc::QoS::AtMostOnce)
        .await
        .unwrap();
    let packet = next_v4(&mut late_loop, |p| matches!(p, rumqttc::Packet::Publish(_))).await;
    let rumqttc::Packet::Publish(publish) = packet else {
        unreachable!()
    };
    assert!(publish.retain);
    assert_eq!(&publish.payload[..], b"on");
    broker.stop().await;
}

#[tokio::test]
async fn in_process_handle_rejects_invalid_topics() {
    let broker = TestBroker::start().await;
    assert!(
        broker
            .handle
            .publish(Envelope::new("a/+/b", "x"))
            .await
            .is_err()
    );
    assert!(broker.handle.subscribe("a/#/b").await.is_err());
    assert!(broker.handle.subscribe("$share//x").await.is_err());
    broker.stop().await;
}

#[tokio::test]
async fn interceptor_holds_puback_until_it_accepts() {
    let broker = TestBroker::start().await;
    let interceptor = Arc::new(Holding::default());
    broker
        .handle
        .intercept("devices/#", interceptor.clone())
        .unwrap();
    let (client, mut eventloop) = v4_client(&broker, "device-1");
    // The connection is up (CONNACK seen) before publishing.
    next_v4(&mut eventloop, |p| matches!(p, rumqttc::Packet::ConnAck(_))).await;
    client
        .publish(
            "devices/device-1/data",
            rumqttc::QoS::AtLeastOnce,
            false,
            "{\"t\":1}",
        )
        .await
        .unwrap();

    // Drive the event loop while the interceptor holds the token: no PUBACK may arrive.
    let polled = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            if let Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) = eventloop.poll().await
            {
                return;
            }
        }
    })
    .await;
    assert!(
        polled.is_err(),
        "PUBACK arrived before the interceptor accepted the message"
    );
    assert!(eventually(DEADLINE, || async { interceptor.held.lock().len() == 1 }).await);
    let (envelope, token) = interceptor.held.lock().pop().unwrap();
    assert_eq!(&*envelope.topic, "devices/device-1/data");
    token.expect("QoS 1 comes with a token").accept();
    next_v4(&mut eventloop, |p| matches!(p, rumqttc::Packet::PubAck(_))).await;
    broker.stop().await;
}

#[tokio::test]
async fn interceptor_gets_qos0_messages_without_a_token() {
    let broker = TestBroker::start().await;
    let interceptor = Arc::new(Holding::default());
    broker
        .handle
        .intercept("devices/+/data", interceptor.clone())
        .unwrap();
    let (client, mut eventloop) = v4_client(&broker, "device-2");
    client
        .publish(
            "devices/device-2/data",
            rumqttc::QoS::AtMostOnce,
            false,
            "1",
        )
        .await
        .unwrap();
    client
        .publish(
            "devices/device-2/other",
            rumqttc::QoS::AtMostOnce,
            false,
            "2",
        )
        .await
        .unwrap();
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    assert!(eventually(DEADLINE, || async { interceptor.held.lock().len() == 1 }).await);
    {
        let held = interceptor.held.lock();
        assert_eq!(&*held[0].0.topic, "devices/device-2/data");
        assert!(held[0].1.is_none());
    }
    broker.stop().await;
}

#[tokio::test]
async fn refused_interception_is_reported_to_a_v5_client_as_unspecified_error() {
    let broker = TestBroker::start().await;
    let interceptor = Arc::new(Holding::default());
    broker
        .handle
        .intercept("devices/#", interceptor.clone())
        .unwrap();
    let (client, mut eventloop) = v5_client(&broker, "device-3");
    client
        .publish(
            "devices/device-3/data",
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            false,
            "1",
        )
        .await
        .unwrap();
    let waiter = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::PubAck(
                    ack,
                ))) => return ack,
                Ok(_) => {}
                Err(error) => panic!("connection failed: {error}"),
            }
        }
    });
    assert!(eventually(DEADLINE, || async { interceptor.held.lock().len() == 1 }).await);
    // Dropping the token unaccepted means "not stored".
    interceptor.held.lock().clear();
    let ack = tokio::time::timeout(DEADLINE, waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ack.reason,
        rumqttc::v5::mqttbytes::v5::PubAckReason::UnspecifiedError
    );
    broker.stop().await;
}

#[tokio::test]
async fn refused_interception_closes_a_v311_connection_so_the_client_resends() {
    let broker = TestBroker::start().await;
    let interceptor = Arc::new(Holding::default());
    broker
        .handle
        .intercept("devices/#", interceptor.clone())
        .unwrap();
    let (client, mut eventloop) = v4_client(&broker, "device-4");
    client
        .publish(
            "devices/device-4/data",
            rumqttc::QoS::AtLeastOnce,
            false,
            "1",
        )
        .await
        .unwrap();
    let waiter = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => return "puback",
                Ok(_) => {}
                Err(_) => return "closed",
            }
        }
    });
    assert!(eventually(DEADLINE, || async { interceptor.held.lock().len() == 1 }).await);
    interceptor.held.lock().clear();
    let outcome = tokio::time::timeout(DEADLINE, waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome, "closed");
    broker.stop().await;
}

#[tokio::test]
async fn disconnect_client_kicks_a_connected_client_only() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let broker = TestBroker::start().await;
    // A raw v5 client: CONNECT with client id "kick-me", then read what comes back.
    let mut stream = tokio::net::TcpStream::connect(broker.mqtt()).await.unwrap();
    let mut connect = vec![0x10u8, 20, 0, 4];
    connect.extend_from_slice(b"MQTT");
    connect.extend_from_slice(&[5, 2, 0, 60, 0, 0, 7]);
    connect.extend_from_slice(b"kick-me");
    stream.write_all(&connect).await.unwrap();
    let mut received = bytes::BytesMut::new();
    let mut packets = Vec::new();
    while packets.len() < 2 {
        let version = Some(hearth_mqtt::ProtocolVersion::V5);
        while let Some(packet) = hearth_mqtt::decode(&mut received, version, 1 << 20).unwrap() {
            packets.push(packet);
        }
        if packets.len() == 1 {
            let reason = hearth_mqtt::ReasonCode::ADMINISTRATIVE_ACTION;
            assert!(
                broker
                    .handle
                    .disconnect_client("kick-me", reason)
                    .await
                    .unwrap()
            );
            assert!(
                !broker
                    .handle
                    .disconnect_client("nobody", reason)
                    .await
                    .unwrap()
            );
        }
        if packets.len() < 2 {
            let n = tokio::time::timeout(DEADLINE, stream.read_buf(&mut received))
                .await
                .unwrap()
                .unwrap();
            assert!(
                n > 0 || !received.is_empty(),
                "closed without a DISCONNECT; got {packets:?}"
            );
        }
    }
    assert!(
        matches!(&packets[0], hearth_mqtt::Packet::ConnAck(connack) if connack.reason == hearth_mqtt::ReasonCode::SUCCESS)
    );
    match &packets[1] {
        hearth_mqtt::Packet::Disconnect(disconnect) => {
            assert_eq!(
                disconnect.reason,
                hearth_mqtt::ReasonCode::ADMINISTRATIVE_ACTION
            )
        }
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    broker.stop().await;
}

#[tokio::test]
async fn an_in_process_subscription_with_retained_gets_the_retained_messages_first() {
    let broker = TestBroker::start().await;
    let (client, mut eventloop) = v4_client(&broker, "lwt-writer");
    next_v4(&mut eventloop, |p| matches!(p, rumqttc::Packet::ConnAck(_))).await;
    client
        .publish("plug/tele/LWT", rumqttc::QoS::AtLeastOnce, true, "Online")
        .await
        .unwrap();
    next_v4(&mut eventloop, |p| matches!(p, rumqttc::Packet::PubAck(_))).await;
    // A plain subscription does not get what was retained before it...
    let mut plain = broker.handle.subscribe("plug/tele/LWT").await.unwrap();
    // ...one asking for retained messages does, marked retained, with the publisher.
    let mut with_retained = broker
        .handle
        .subscribe_with_retained("plug/tele/+")
        .await
        .unwrap();
    let first = tokio::time::timeout(DEADLINE, with_retained.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&*first.topic, "plug/tele/LWT");
    assert_eq!(&first.payload[..], b"Online");
    assert!(first.retain);
    assert_eq!(first.client_id.as_deref(), Some("lwt-writer"));
    // Later messages reach both.
    client
        .publish("plug/tele/LWT", rumqttc::QoS::AtLeastOnce, true, "Offline")
        .await
        .unwrap();
    next_v4(&mut eventloop, |p| matches!(p, rumqttc::Packet::PubAck(_))).await;
    for subscription in [&mut plain, &mut with_retained] {
        let next = tokio::time::timeout(DEADLINE, subscription.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&next.payload[..], b"Offline");
    }
}
