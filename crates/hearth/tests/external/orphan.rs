//! A resumed session redelivers what an earlier process of the node had not
//! acknowledged, for a subscription this process does not make (a service turned off):
//! after the start's grace (30 s) the bus acknowledges and drops it, so that it cannot
//! hold the window the broker keeps for the node, and it does not come again.

use crate::harness::*;
use hearth::external_bus::ExternalBus;
use hearth_broker::external::ExternalBrokerConfig;
use hearth_bus::{AckToken, Bus, Envelope, Interceptor};
use parking_lot::Mutex;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Filter, Packet, PubAckReason, SubscribeProperties};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const CLIENT_ID: &str = "hearth-orphan";

#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl Interceptor for Seen {
    fn intercept(&self, message: &Envelope, ack: Option<AckToken>) {
        self.0
            .lock()
            .push(String::from_utf8_lossy(&message.payload).into_owned());
        if let Some(ack) = ack {
            ack.accept();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_for_a_subscription_no_longer_made_is_dropped_after_the_grace() {
    let broker = Mosquitto::start(&["ext-o"]).await;
    // The "earlier process": the node's client id, a persistent session and a shared
    // subscription of its own, which takes one reading and never acknowledges it.
    let mut options = MqttOptions::new(CLIENT_ID, "127.0.0.1", broker.addr.port());
    options
        .set_credentials("hearth", HEARTH_PASSWORD)
        .set_clean_start(false)
        .set_session_expiry_interval(Some(3600))
        .set_manual_acks(true);
    let (earlier, mut events) = AsyncClient::new(options, 16);
    let properties = SubscribeProperties {
        id: Some(4242),
        user_properties: Vec::new(),
    };
    earlier
        .subscribe_many_with_properties(
            vec![Filter::new("$share/hearth/devices/+/+", QoS::AtLeastOnce)],
            properties,
        )
        .await
        .unwrap();
    let mut subscribed = false;
    let mut device = None;
    tokio::time::timeout(DEADLINE, async {
        loop {
            match events.poll().await.unwrap() {
                Event::Incoming(Packet::SubAck(_)) if !subscribed => {
                    subscribed = true;
                    let mut sender = Device::connect(broker.addr, "ext-o").await;
                    let reason = sender
                        .publish("devices/ext-o/data", "{\"n\":1}".to_owned())
                        .await;
                    assert_eq!(reason, PubAckReason::Success);
                    device = Some(sender);
                }
                Event::Incoming(Packet::Publish(_)) => return,
                _ => {}
            }
        }
    })
    .await
    .expect("the earlier process gets the reading");
    drop(events);
    drop(earlier);

    // This process: the same client id, the session resumed, no such subscription.
    let mut config = ExternalBrokerConfig::new(&format!("mqtt://{}", broker.addr)).unwrap();
    config.username = Some("hearth".into());
    config.password = Some(HEARTH_PASSWORD.into());
    let bus = ExternalBus::start(&config, CLIENT_ID, 1 << 20)
        .await
        .unwrap();
    let counters = bus.counters();
    tokio::time::timeout(Duration::from_secs(60), async {
        while counters.orphaned.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the redelivery is dropped after the grace");
    bus.shutdown().await;

    // It does not come again: the next process with the subscription gets the next
    // reading first.
    let bus = ExternalBus::start(&config, CLIENT_ID, 1 << 20)
        .await
        .unwrap();
    let seen = Arc::new(Seen::default());
    bus.intercept("devices/+/+", seen.clone()).unwrap();
    let mut watcher = bus.subscribe("devices/ext-o/status").await.unwrap();
    bus.publish(
        Envelope::new("devices/ext-o/status", "online").with_qos(hearth_bus::Qos::AtLeastOnce),
    )
    .await
    .unwrap();
    tokio::time::timeout(DEADLINE, watcher.recv())
        .await
        .unwrap()
        .unwrap();
    let mut device = device.unwrap();
    let reason = device
        .publish("devices/ext-o/data", "{\"n\":2}".to_owned())
        .await;
    assert_eq!(reason, PubAckReason::Success);
    eventually("the next reading arrives", || async {
        !seen.0.lock().is_empty()
    })
    .await;
    assert_eq!(seen.0.lock()[0], "{\"n\":2}");
    bus.shutdown().await;
}
