//! Back-pressure instead of loss: a QoS 1 publisher faster than its subscriber is slowed
//! down through withheld PUBACKs, and nothing is dropped.

mod common;

use common::TestBroker;
use hearth_broker::BrokerConfig;
use hearth_bus::AllowAll;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::sync::Arc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_slow_subscriber_holds_back_qos1_publishers_instead_of_losing_messages() {
    let mut config = BrokerConfig::ephemeral();
    config.limits.max_inflight = 2;
    config.limits.queue_backpressure_at = 5;
    // Room for every held message: back-pressure works when the publishers' windows fit
    // between `queue_backpressure_at` and `max_queued_messages` (the defaults, 1,000 and
    // 10,000, fit a hundred publishers with rumqttc's or paho's window).
    config.limits.max_queued_messages = 100;
    // This subscriber reads nothing for a while on purpose; it must count as slow, not
    // stalled, however loaded the test machine is.
    config.limits.subscriber_stall_ms = 600_000;
    let broker = TestBroker::start_with(config, Arc::new(AllowAll)).await;

    let mut options = MqttOptions::new("slow", "127.0.0.1", broker.port());
    options.set_manual_acks(true);
    let (subscriber, mut sub_loop) = AsyncClient::new(options, 64);
    subscriber
        .subscribe("meter/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    tokio::time::timeout(DEADLINE, async {
        while !matches!(
            sub_loop.poll().await,
            Ok(Event::Incoming(Packet::SubAck(_)))
        ) {}
    })
    .await
    .unwrap();

    let (publisher, mut pub_loop) =
        AsyncClient::new(MqttOptions::new("fast", "127.0.0.1", broker.port()), 64);
    for n in 0..20 {
        publisher
            .publish("meter/power", QoS::AtLeastOnce, false, format!("{n}"))
            .await
            .unwrap();
    }
    // Read the publisher's acknowledgements while the subscriber reads nothing.
    let mut acks = 0;
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            if let Ok(Event::Incoming(Packet::PubAck(_))) = pub_loop.poll().await {
                acks += 1;
            }
        }
    })
    .await;
    // 2 go in flight and 5 queue freely; every later one waits for the subscriber.
    assert_eq!(acks, 7, "acknowledged while the subscriber was not reading");

    // The subscriber now reads and acknowledges everything.
    let mut received = Vec::new();
    let publisher_done = tokio::spawn(async move {
        let mut acks = acks;
        while acks < 20 {
            if let Ok(Event::Incoming(Packet::PubAck(_))) = pub_loop.poll().await {
                acks += 1;
            }
        }
        acks
    });
    tokio::time::timeout(DEADLINE, async {
        while received.len() < 20 {
            if let Ok(Event::Incoming(Packet::Publish(publish))) = sub_loop.poll().await {
                received.push(String::from_utf8_lossy(&publish.payload).into_owned());
                subscriber.ack(&publish).await.unwrap();
            }
        }
    })
    .await
    .expect("every message reaches the subscriber");
    let expected: Vec<String> = (0..20).map(|n| n.to_string()).collect();
    assert_eq!(received, expected);
    assert_eq!(
        tokio::time::timeout(DEADLINE, publisher_done)
            .await
            .unwrap()
            .unwrap(),
        20
    );
    let stats = broker.handle.stats().await.unwrap();
    assert_eq!(stats.dropped_queue_full, 0);
    broker.stop().await;
}

#[tokio::test]
async fn a_stalled_subscriber_stops_holding_publishers_back() {
    let mut config = BrokerConfig::ephemeral();
    config.limits.max_inflight = 2;
    config.limits.queue_backpressure_at = 5;
    config.limits.max_queued_messages = 100;
    config.limits.subscriber_stall_ms = 200;
    let broker = TestBroker::start_with(config, Arc::new(AllowAll)).await;

    let mut options = MqttOptions::new("stuck", "127.0.0.1", broker.port());
    options.set_manual_acks(true);
    let (subscriber, mut sub_loop) = AsyncClient::new(options, 64);
    subscriber
        .subscribe("meter/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    tokio::time::timeout(DEADLINE, async {
        while !matches!(
            sub_loop.poll().await,
            Ok(Event::Incoming(Packet::SubAck(_)))
        ) {}
    })
    .await
    .unwrap();
    // Keep the subscriber's connection serviced (keep-alive) but never acknowledge.
    let reader = tokio::spawn(async move { while sub_loop.poll().await.is_ok() {} });

    let (publisher, mut pub_loop) =
        AsyncClient::new(MqttOptions::new("fast", "127.0.0.1", broker.port()), 64);
    for n in 0..20 {
        publisher
            .publish("meter/power", QoS::AtLeastOnce, false, format!("{n}"))
            .await
            .unwrap();
    }
    // Held back at first, every publish is acknowledged once the subscriber counts as
    // stalled.
    let mut acks = 0;
    let released = tokio::time::timeout(DEADLINE, async {
        while acks < 20 {
            if let Ok(Event::Incoming(Packet::PubAck(_))) = pub_loop.poll().await {
                acks += 1;
            }
        }
    })
    .await;
    let stats = broker.handle.stats().await.unwrap();
    assert!(
        released.is_ok(),
        "the publisher was released; {acks} acknowledged, {stats:?}"
    );
    assert_eq!(acks, 20);
    let stats = broker.handle.stats().await.unwrap();
    // Nothing was dropped either: the queue (100) has room for all of them.
    assert_eq!(stats.dropped_queue_full, 0);
    assert_eq!(stats.queued, 20, "{stats:?}");
    reader.abort();
    broker.stop().await;
}
