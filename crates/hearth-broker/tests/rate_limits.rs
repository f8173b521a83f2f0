//! `[mqtt.rate_limits]` with real clients: a device over its rate is slowed (nothing it
//! was acknowledged for is lost), then refused (MQTT 5: PUBACK 0x97; MQTT 3.1.1: the
//! connection is closed), while another device goes on; one principal's connections
//! share its budget; an override per principal applies; an address opening connections
//! too fast is refused at CONNECT. Counts are compared, never times.

mod common;

use async_trait::async_trait;
use common::TestBroker;
use hearth_broker::BrokerConfig;
use hearth_broker::rate_limit::ClientRate;
use hearth_bus::{Action, AuthError, Authorizer, ConnectRequest, Principal, PrincipalKind};
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, Packet as Packet5, PubAckReason};
use rumqttc::v5::{AsyncClient as Client5, Event as Event5, MqttOptions as Options5};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);

/// Every client is a device named by its user name, or else its client id.
struct Devices;

#[async_trait]
impl Authorizer for Devices {
    async fn authenticate(&self, request: &ConnectRequest) -> Result<Principal, AuthError> {
        let name = request
            .username
            .clone()
            .unwrap_or(request.client_id.clone());
        Ok(Principal::new(PrincipalKind::Device, name))
    }

    fn authorize(&self, _: &Principal, _: &str, _: Action, _: &str) -> bool {
        true
    }
}

/// Devices may send 5 messages a second, 5 at once; refusals begin after `max_delay`
/// seconds of slowing down. No connection rate.
fn config(max_delay_secs: f64) -> BrokerConfig {
    let mut config = BrokerConfig::ephemeral();
    config.rate_limits.max_delay_secs = max_delay_secs;
    config.rate_limits.max_conn_rate = 0.0;
    config.rate_limits.device = ClientRate {
        messages_rate: Some(5.0),
        messages_burst: Some(5),
        ..ClientRate::default()
    };
    config
}

async fn count(broker: &TestBroker, kind: &str, reason: &str) -> u64 {
    let stats = broker.handle.stats().await.expect("stats");
    stats
        .rate_limited
        .iter()
        .find(|c| c.kind == kind && c.reason == reason)
        .map_or(0, |c| c.count)
}

/// A v5 subscriber to `t/#` counting messages per topic, until `total` arrived or the
/// event loop is dropped.
async fn subscriber(broker: &TestBroker) -> (Client5, rumqttc::v5::EventLoop) {
    let (client, mut events) =
        Client5::new(Options5::new("watcher", "127.0.0.1", broker.port()), 64);
    client
        .subscribe("t/#", rumqttc::v5::mqttbytes::QoS::AtLeastOnce)
        .await
        .unwrap();
    tokio::time::timeout(DEADLINE, async {
        while !matches!(
            events.poll().await,
            Ok(Event5::Incoming(Packet5::SubAck(_)))
        ) {}
    })
    .await
    .expect("SUBACK");
    (client, events)
}

/// Publishes `n` QoS 1 messages on `t/{name}` over MQTT 5 and returns the PUBACK reasons
/// in the order they came.
async fn publish_v5(port: u16, name: &str, n: usize) -> Vec<PubAckReason> {
    let mut options = Options5::new(name, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(60));
    let (client, mut events) = Client5::new(options, n + 8);
    for i in 0..n {
        client
            .publish(
                format!("t/{name}"),
                rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                false,
                format!("{i}"),
            )
            .await
            .unwrap();
    }
    let mut reasons = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        while reasons.len() < n {
            match events.poll().await {
                Ok(Event5::Incoming(Packet5::PubAck(ack))) => reasons.push(ack.reason),
                Ok(_) => {}
                Err(error) => panic!("{name}: {error:?} after {} acks", reasons.len()),
            }
        }
    })
    .await
    .expect("every PUBACK before the deadline");
    let _ = client.disconnect().await;
    reasons
}

/// Reads the watcher's messages until `expected` arrived, counting them per topic.
async fn received(events: &mut rumqttc::v5::EventLoop, expected: usize) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    tokio::time::timeout(DEADLINE, async {
        let mut total = 0;
        while total < expected {
            if let Ok(Event5::Incoming(Packet5::Publish(publish))) = events.poll().await {
                let topic = String::from_utf8_lossy(&publish.topic).into_owned();
                *counts.entry(topic).or_default() += 1;
                total += 1;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{expected} messages before the deadline, got {counts:?}"));
    counts
}

#[tokio::test]
async fn a_v5_device_over_its_rate_is_slowed_then_refused_and_another_device_goes_on() {
    let broker = TestBroker::start_with(config(1.0), Arc::new(Devices)).await;
    let (_watcher, mut watch) = subscriber(&broker).await;
    let port = broker.port();
    let flooder = tokio::spawn(async move { publish_v5(port, "flood", 60).await });
    let calm = tokio::spawn(async move { publish_v5(port, "calm", 5).await });
    let flood = flooder.await.unwrap();
    let calm = calm.await.unwrap();

    assert!(calm.iter().all(|r| *r == PubAckReason::Success), "{calm:?}");
    let accepted = flood
        .iter()
        .filter(|r| **r == PubAckReason::Success)
        .count();
    let refused = flood
        .iter()
        .filter(|r| **r == PubAckReason::QuotaExceeded)
        .count();
    assert_eq!(accepted + refused, 60, "{flood:?}");
    assert!(refused > 0, "{flood:?}");
    // The burst, then at least one slowed message, come before the first refusal.
    let first_refusal = flood
        .iter()
        .position(|r| *r == PubAckReason::QuotaExceeded)
        .unwrap();
    assert!(first_refusal > 5, "{flood:?}");
    // Every acknowledged message arrived: slowing down loses nothing.
    let counts = received(&mut watch, accepted + 5).await;
    assert_eq!(counts.get("t/flood"), Some(&accepted));
    assert_eq!(counts.get("t/calm"), Some(&5));
    assert!(count(&broker, "device", "slowed").await > 0);
    assert_eq!(count(&broker, "device", "refused").await, refused as u64);
    broker.stop().await;
}

#[tokio::test]
async fn a_v3_device_over_its_rate_for_too_long_is_disconnected_when_so_configured() {
    let mut config = config(0.5);
    config.rate_limits.disconnect_over_rate = true;
    let broker = TestBroker::start_with(config, Arc::new(Devices)).await;
    let (_watcher, mut watch) = subscriber(&broker).await;
    let (client, mut events) =
        AsyncClient::new(MqttOptions::new("old", "127.0.0.1", broker.port()), 128);
    for i in 0..100 {
        client
            .publish("t/old", QoS::AtLeastOnce, false, format!("{i}"))
            .await
            .unwrap();
    }
    let mut acked = 0;
    let ended = tokio::time::timeout(DEADLINE, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(error) => return error,
            }
        }
    })
    .await
    .expect("the broker closes the connection");
    assert!((5..100).contains(&acked), "{acked} acked, then {ended:?}");
    assert_eq!(count(&broker, "device", "disconnected").await, 1);
    let counts = received(&mut watch, acked).await;
    assert_eq!(counts.get("t/old"), Some(&acked));
    broker.stop().await;
}

#[tokio::test]
async fn connections_of_one_principal_share_its_budget_and_an_override_lifts_it() {
    let mut config = config(600.0);
    config.rate_limits.principals.insert(
        "meter".into(),
        ClientRate {
            messages_rate: Some(0.0),
            ..ClientRate::default()
        },
    );
    let broker = TestBroker::start_with(config, Arc::new(Devices)).await;
    let port = broker.port();
    // The override: 50 at once from a device whose kind allows 5, nothing slowed.
    let meter = publish_v5(port, "meter", 50).await;
    assert!(meter.iter().all(|r| *r == PubAckReason::Success));
    assert_eq!(count(&broker, "device", "slowed").await, 0);
    // Two devices with 4 each stay within their own bursts.
    let (a, b) = tokio::join!(publish_v5(port, "a", 4), publish_v5(port, "b", 4));
    assert!(a.iter().chain(&b).all(|r| *r == PubAckReason::Success));
    assert_eq!(count(&broker, "device", "slowed").await, 0);
    // Two connections of one device with 4 each go past its burst of 5 together.
    let shared = |id: &'static str| {
        let mut options = Options5::new(id, "127.0.0.1", port);
        options.set_credentials("twin", "");
        options
    };
    let mut tasks = Vec::new();
    for id in ["twin-1", "twin-2"] {
        let options = shared(id);
        tasks.push(tokio::spawn(async move {
            let (client, mut events) = Client5::new(options, 16);
            for i in 0..4 {
                client
                    .publish(
                        "t/twin",
                        rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                        false,
                        format!("{i}"),
                    )
                    .await
                    .unwrap();
            }
            let mut acks = 0;
            while acks < 4 {
                if let Ok(Event5::Incoming(Packet5::PubAck(ack))) = events.poll().await {
                    assert_eq!(ack.reason, PubAckReason::Success);
                    acks += 1;
                }
            }
        }));
    }
    for task in tasks {
        tokio::time::timeout(DEADLINE, task).await.unwrap().unwrap();
    }
    assert!(count(&broker, "device", "slowed").await > 0);
    broker.stop().await;
}

/// The first CONNACK a v5 client gets.
async fn connack_v5(port: u16, id: &str) -> ConnectReturnCode {
    let (_client, mut events) = Client5::new(Options5::new(id, "127.0.0.1", port), 4);
    tokio::time::timeout(DEADLINE, async {
        loop {
            match events.poll().await {
                Ok(Event5::Incoming(Packet5::ConnAck(connack))) => return connack.code,
                Err(rumqttc::v5::ConnectionError::ConnectionRefused(code)) => return code,
                Ok(_) => {}
                Err(error) => panic!("{id}: {error:?}"),
            }
        }
    })
    .await
    .expect("CONNACK")
}

#[tokio::test]
async fn an_address_opening_connections_too_fast_is_refused_at_connect() {
    let mut config = config(10.0);
    // Two at once, then one every 100 s: the third comes too early on any machine.
    config.rate_limits.max_conn_rate = 0.01;
    config.rate_limits.conn_burst = 2;
    config.rate_limits.conn_rate_exempt_loopback = false;
    let broker = TestBroker::start_with(config, Arc::new(Devices)).await;
    let port = broker.port();
    assert_eq!(connack_v5(port, "one").await, ConnectReturnCode::Success);
    assert_eq!(connack_v5(port, "two").await, ConnectReturnCode::Success);
    assert_eq!(
        connack_v5(port, "three").await,
        ConnectReturnCode::ConnectionRateExceeded
    );
    // MQTT 3.1.1 has no such code: "server unavailable".
    let (_client, mut events) = AsyncClient::new(MqttOptions::new("four", "127.0.0.1", port), 4);
    let refused = tokio::time::timeout(DEADLINE, async {
        loop {
            if let Err(error) = events.poll().await {
                return error;
            }
        }
    })
    .await
    .expect("refused");
    assert!(
        matches!(
            refused,
            rumqttc::ConnectionError::ConnectionRefused(
                rumqttc::ConnectReturnCode::ServiceUnavailable
            )
        ),
        "{refused:?}"
    );
    assert_eq!(count(&broker, "address", "connection_rate").await, 2);
    broker.stop().await;
}

#[tokio::test]
async fn by_default_a_v3_device_over_its_rate_is_only_slowed_and_loses_nothing() {
    let mut config = config(0.2);
    config.rate_limits.device.messages_rate = Some(20.0);
    let broker = TestBroker::start_with(config, Arc::new(Devices)).await;
    let (_watcher, mut watch) = subscriber(&broker).await;
    let (client, mut events) =
        AsyncClient::new(MqttOptions::new("old", "127.0.0.1", broker.port()), 64);
    for i in 0..40 {
        client
            .publish("t/old", QoS::AtLeastOnce, false, format!("{i}"))
            .await
            .unwrap();
    }
    let mut acked = 0;
    tokio::time::timeout(DEADLINE, async {
        while acked < 40 {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(error) => panic!("{error:?} after {acked} acks"),
            }
        }
    })
    .await
    .expect("every PUBACK");
    // Slowed for longer than max_delay (40 at 20/s after a burst of 5), never closed.
    assert!(count(&broker, "device", "slowed").await >= 30);
    assert_eq!(count(&broker, "device", "disconnected").await, 0);
    assert_eq!(received(&mut watch, 40).await.get("t/old"), Some(&40));
    broker.stop().await;
}
