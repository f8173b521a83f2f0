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

async fn wait_for_suback(eventloop: &mut rumqttc::EventLoop) {
    tokio::time::timeout(DEADLINE, async {
        while !matches!(
            eventloop.poll().await,
            Ok(Event::Incoming(Packet::SubAck(_)))
        ) {}
    })
    .await
    .expect("SUBACK before the deadline");
}

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
    wait_for_suback(&mut sub_loop).await;

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
    wait_for_suback(&mut sub_loop).await;
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

#[tokio::test]
async fn a_qos0_publisher_faster_than_its_subscriber_is_paused_not_dropped() {
    let mut config = BrokerConfig::ephemeral();
    config.limits.queue_backpressure_at = 100;
    config.limits.max_qos0_backlog = 5_000;
    config.limits.subscriber_stall_ms = 600_000;
    let broker = TestBroker::start_with(config, Arc::new(AllowAll)).await;

    let (subscriber, mut sub_loop) =
        AsyncClient::new(MqttOptions::new("reader", "127.0.0.1", broker.port()), 64);
    subscriber
        .subscribe("tick/#", QoS::AtMostOnce)
        .await
        .unwrap();
    wait_for_suback(&mut sub_loop).await;

    const N: usize = 30_000;
    let mut options = MqttOptions::new("ticker", "127.0.0.1", broker.port());
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (publisher, mut pub_loop) = AsyncClient::new(options, 1024);
    let pump = tokio::spawn(async move { while pub_loop.poll().await.is_ok() {} });
    let sender = tokio::spawn(async move {
        for n in 0..N {
            publisher
                .publish("tick/a", QoS::AtMostOnce, false, n.to_string())
                .await
                .unwrap();
        }
    });
    let mut received = 0usize;
    let mut in_order = true;
    tokio::time::timeout(Duration::from_secs(60), async {
        while received < N {
            if let Ok(Event::Incoming(Packet::Publish(publish))) = sub_loop.poll().await {
                in_order &= publish.payload == received.to_string().as_bytes();
                received += 1;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {received} of {N} QoS 0 messages arrived"));
    assert!(in_order, "QoS 0 messages arrived out of order");
    sender.await.unwrap();
    let stats = broker.handle.stats().await.unwrap();
    assert_eq!(stats.dropped_qos0_backlog, 0, "{stats:?}");
    pump.abort();
    broker.stop().await;
}

#[tokio::test]
async fn a_stalled_qos0_subscriber_pauses_its_publisher_only_briefly() {
    let mut config = BrokerConfig::ephemeral();
    config.limits.queue_backpressure_at = 10;
    config.limits.max_qos0_backlog = 100;
    config.limits.subscriber_stall_ms = 300;
    let broker = TestBroker::start_with(config, Arc::new(AllowAll)).await;

    // A raw subscriber that subscribes and then never reads again.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stuck = tokio::net::TcpStream::connect(broker.mqtt()).await.unwrap();
    let mut connect = vec![0x10u8, 17, 0, 4];
    connect.extend_from_slice(b"MQTT");
    connect.extend_from_slice(&[4, 2, 0, 60, 0, 5]);
    connect.extend_from_slice(b"stuck");
    stuck.write_all(&connect).await.unwrap();
    // SUBSCRIBE, packet id 1, "t/#" at QoS 0.
    let subscribe = [0x82u8, 8, 0, 1, 0, 3, b't', b'/', b'#', 0];
    stuck.write_all(&subscribe).await.unwrap();
    let mut ack = [0u8; 9];
    stuck.read_exact(&mut ack).await.unwrap(); // CONNACK (4 bytes) + SUBACK (5 bytes)
    assert_eq!(ack[4], 0x90, "SUBACK");

    // A healthy subscriber on the same topic must get everything the publisher sends,
    // even though the stuck one overflows.
    let (healthy, mut healthy_loop) =
        AsyncClient::new(MqttOptions::new("healthy", "127.0.0.1", broker.port()), 64);
    healthy.subscribe("t/#", QoS::AtMostOnce).await.unwrap();
    wait_for_suback(&mut healthy_loop).await;
    let (publisher, mut pub_loop) =
        AsyncClient::new(MqttOptions::new("source", "127.0.0.1", broker.port()), 1024);
    let pump = tokio::spawn(async move { while pub_loop.poll().await.is_ok() {} });
    const N: usize = 5_000;
    let payload = vec![b'x'; 1024];
    for _ in 0..N {
        publisher
            .publish("t/x", QoS::AtMostOnce, false, payload.clone())
            .await
            .unwrap();
    }
    let mut received = 0;
    let all = tokio::time::timeout(Duration::from_secs(60), async {
        while received < N {
            if let Ok(Event::Incoming(Packet::Publish(_))) = healthy_loop.poll().await {
                received += 1;
            }
        }
    })
    .await;
    assert!(all.is_ok(), "the healthy subscriber got {received} of {N}");
    let stats = broker.handle.stats().await.unwrap();
    assert!(stats.publishers_paused > 0, "{stats:?}");
    assert!(
        stats.dropped_qos0_backlog > 0,
        "the stuck subscriber's limit applied: {stats:?}"
    );
    pump.abort();
    broker.stop().await;
}
