//! A broker started paused (`Broker::start_paused`) lets nobody in until
//! `accept_connections`, so that a hub registers its interceptors first: a client that
//! connects the moment a hub restarts must not have a QoS 1 publish acknowledged before
//! ingest (or a site's relay) can intercept it. Found by the bridge's scale test, where
//! a site's first messages after a cloud restart were acknowledged and stored nowhere.

use hearth_broker::{Broker, BrokerConfig};
use hearth_bus::{AckToken, AllowAll, ClientEvents, Envelope, Interceptor};
use parking_lot::Mutex;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::sync::Arc;
use std::time::Duration;

/// Keeps what it intercepted and accepts it.
#[derive(Default)]
struct Keeper {
    kept: Mutex<Vec<String>>,
}

impl Interceptor for Keeper {
    fn intercept(&self, message: &Envelope, ack: Option<AckToken>) {
        self.kept
            .lock()
            .push(String::from_utf8_lossy(&message.payload).into_owned());
        if let Some(ack) = ack {
            ack.accept();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_broker_admits_no_client_before_its_interceptors_are_in_place() {
    let broker = Broker::start_paused(
        BrokerConfig::ephemeral(),
        Arc::new(AllowAll),
        None,
        Arc::new(ClientEvents::new()),
    )
    .await
    .unwrap();
    let port = broker.local_addrs().mqtt.unwrap().port();

    // A device that connects at once and publishes QoS 1 as soon as it is let in.
    let mut options = MqttOptions::new("early", "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(options, 16);
    client
        .publish("devices/early/data", QoS::AtLeastOnce, false, "first")
        .await
        .unwrap();
    let (connected_tx, mut connected) = tokio::sync::mpsc::unbounded_channel();
    let (acked_tx, mut acked) = tokio::sync::mpsc::unbounded_channel();
    let device = tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = connected_tx.send(());
                }
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    let _ = acked_tx.send(());
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    });

    // Paused: no CONNACK while the hub would still be starting its services.
    let early = tokio::time::timeout(Duration::from_millis(500), connected.recv()).await;
    assert!(early.is_err(), "a paused broker let a client in");

    let keeper = Arc::new(Keeper::default());
    broker
        .handle()
        .intercept("devices/+/data", keeper.clone())
        .unwrap();
    broker.accept_connections();
    tokio::time::timeout(Duration::from_secs(10), connected.recv())
        .await
        .expect("the client is let in once the broker accepts");
    tokio::time::timeout(Duration::from_secs(10), acked.recv())
        .await
        .expect("its publish is acknowledged");
    assert_eq!(
        *keeper.kept.lock(),
        vec!["first".to_owned()],
        "the interceptor saw the publish that was acknowledged"
    );
    device.abort();
    broker.shutdown().await;
}
