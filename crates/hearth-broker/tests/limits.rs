//! Configured limits, observed by a real client (rumqttc, MQTT 3.1.1).

mod common;

use common::{TestBroker, eventually};
use hearth_broker::BrokerConfig;
use hearth_bus::AllowAll;
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Packet,
};
use std::sync::Arc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

/// Polls until CONNACK (Ok) or the connection fails (Err).
async fn connect(eventloop: &mut EventLoop) -> Result<(), ConnectionError> {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(error) => return Err(error),
            }
        }
    })
    .await
    .expect("an answer to CONNECT")
}

fn client(broker: &TestBroker, id: &str) -> (AsyncClient, EventLoop) {
    AsyncClient::new(MqttOptions::new(id, "127.0.0.1", broker.port()), 16)
}

#[tokio::test]
async fn connections_beyond_max_connections_are_refused_as_server_unavailable() {
    let mut config = BrokerConfig::ephemeral();
    config.limits.max_connections = 2;
    let broker = TestBroker::start_with(config, Arc::new(AllowAll)).await;
    let (_first, mut first_loop) = client(&broker, "first");
    connect(&mut first_loop).await.expect("first connects");
    let first_pump = tokio::spawn(async move { while first_loop.poll().await.is_ok() {} });
    let (_second, mut second_loop) = client(&broker, "second");
    connect(&mut second_loop).await.expect("second connects");

    let (_third, mut third_loop) = client(&broker, "third");
    match connect(&mut third_loop).await {
        Err(ConnectionError::ConnectionRefused(code)) => {
            assert_eq!(code, ConnectReturnCode::ServiceUnavailable)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(broker.handle.stats().await.unwrap().connect_refused, 1);

    // Room again once a client leaves.
    first_pump.abort();
    drop(_first);
    let counted_down = eventually(DEADLINE, || async {
        broker.handle.stats().await.unwrap().clients_connected == 1
    })
    .await;
    assert!(counted_down);
    let (_fourth, mut fourth_loop) = client(&broker, "fourth");
    connect(&mut fourth_loop)
        .await
        .expect("a client connects once there is room");
    broker.stop().await;
}

/// Queues 5 QoS 1 messages for an offline persistent session under `limits`, then
/// returns the payloads it receives when it comes back and the drop counter.
async fn offline_queue_outcome(
    limits: impl FnOnce(&mut hearth_broker::Limits),
) -> (Vec<String>, u64) {
    let mut config = BrokerConfig::ephemeral();
    limits(&mut config.limits);
    let broker = TestBroker::start_with(config, Arc::new(AllowAll)).await;
    let mut options = MqttOptions::new("sleeper", "127.0.0.1", broker.port());
    options.set_clean_session(false);
    let (sleeper, mut sleeper_loop) = AsyncClient::new(options.clone(), 16);
    sleeper
        .subscribe("q/#", rumqttc::QoS::AtLeastOnce)
        .await
        .unwrap();
    tokio::time::timeout(DEADLINE, async {
        while !matches!(
            sleeper_loop.poll().await,
            Ok(Event::Incoming(Packet::SubAck(_)))
        ) {}
    })
    .await
    .unwrap();
    sleeper.disconnect().await.unwrap();
    let _ = tokio::time::timeout(DEADLINE, async {
        while sleeper_loop.poll().await.is_ok() {}
    })
    .await;

    let (publisher, mut publisher_loop) = client(&broker, "feeder");
    for n in 0..5 {
        publisher
            .publish(
                "q/t",
                rumqttc::QoS::AtLeastOnce,
                false,
                format!("message-{n}"),
            )
            .await
            .unwrap();
    }
    let mut acks = 0;
    tokio::time::timeout(DEADLINE, async {
        while acks < 5 {
            if let Ok(Event::Incoming(Packet::PubAck(_))) = publisher_loop.poll().await {
                acks += 1;
            }
        }
    })
    .await
    .unwrap();

    let (_sleeper, mut sleeper_loop) = AsyncClient::new(options, 16);
    let mut received = Vec::new();
    // A marker published after the reconnect arrives after everything that was queued.
    let (marker, mut marker_loop) = client(&broker, "marker");
    let marker_pump = tokio::spawn(async move { while marker_loop.poll().await.is_ok() {} });
    let mut marker_sent = false;
    tokio::time::timeout(DEADLINE, async {
        loop {
            match sleeper_loop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) if !marker_sent => {
                    marker
                        .publish("q/t", rumqttc::QoS::AtLeastOnce, false, "marker")
                        .await
                        .unwrap();
                    marker_sent = true;
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let text = String::from_utf8_lossy(&publish.payload).into_owned();
                    if text == "marker" {
                        break;
                    }
                    received.push(text);
                }
                Ok(_) => {}
                Err(error) => panic!("connection failed: {error}"),
            }
        }
    })
    .await
    .unwrap();
    marker_pump.abort();
    let dropped = broker.handle.stats().await.unwrap().dropped_queue_full;
    broker.stop().await;
    (received, dropped)
}

#[tokio::test]
async fn a_full_session_queue_drops_new_messages_by_default_and_counts_them() {
    let (received, dropped) = offline_queue_outcome(|limits| limits.max_queued_messages = 3).await;
    assert_eq!(received, vec!["message-0", "message-1", "message-2"]);
    assert_eq!(dropped, 2);
}

#[tokio::test]
async fn drop_oldest_keeps_the_latest_messages() {
    let (received, dropped) = offline_queue_outcome(|limits| {
        limits.max_queued_messages = 3;
        limits.queue_full_policy = hearth_broker::QueueFullPolicy::DropOldest;
    })
    .await;
    assert_eq!(received, vec!["message-2", "message-3", "message-4"]);
    assert_eq!(dropped, 2);
}

#[tokio::test]
async fn the_byte_limit_of_a_session_queue_applies_like_the_count() {
    // Each message is 3 bytes of topic + 9 of payload = 12 bytes: two fit in 30.
    let (received, dropped) = offline_queue_outcome(|limits| limits.max_queued_bytes = 30).await;
    assert_eq!(received, vec!["message-0", "message-1"]);
    assert_eq!(dropped, 3);
}
