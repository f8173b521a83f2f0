//! The external bus itself against Mosquitto: a refused token sends no PUBACK and the
//! broker sends the message again on the resumed session; a Hearth node's own
//! publishes reach subscribers but no interceptor (as on the built-in broker).

use crate::harness::*;
use hearth::external_bus::ExternalBus;
use hearth_broker::external::ExternalBrokerConfig;
use hearth_bus::{AckToken, Bus, Envelope, Interceptor, Qos};
use parking_lot::Mutex;
use rumqttc::v5::mqttbytes::v5::PubAckReason;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Refuses the first delivery it is shown, accepts the rest; remembers each payload.
#[derive(Default)]
struct RefuseFirst {
    seen: Mutex<Vec<(String, bool)>>,
}

impl Interceptor for RefuseFirst {
    fn intercept(&self, message: &Envelope, ack: Option<AckToken>) {
        let mut seen = self.seen.lock();
        let payload = String::from_utf8_lossy(&message.payload).into_owned();
        let device = message.principal.as_ref().map(|p| p.name.to_string());
        assert_eq!(
            device.as_deref(),
            Some("ext-r"),
            "the device is taken from the topic"
        );
        let first = seen.is_empty();
        seen.push((payload, ack.is_some()));
        if let Some(ack) = ack {
            if first {
                ack.refuse(0x80)
            } else {
                ack.accept()
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_delivery_comes_again_and_service_publishes_are_not_intercepted() {
    let broker = Mosquitto::start(&["ext-r"]).await;
    let mut config = ExternalBrokerConfig::new(&format!("mqtt://{}", broker.addr)).unwrap();
    config.username = Some("hearth".into());
    config.password = Some(HEARTH_PASSWORD.into());
    let bus = ExternalBus::start(&config, "hearth-bus-test", 1 << 20)
        .await
        .unwrap();
    let interceptor = Arc::new(RefuseFirst::default());
    bus.intercept("devices/+/+", interceptor.clone()).unwrap();
    let mut watcher = bus.subscribe("devices/#").await.unwrap();
    // The SUBSCRIBEs are on the wire before the device publishes.
    bus.publish(Envelope::new("devices/ext-r/status", "online").with_qos(Qos::AtLeastOnce))
        .await
        .unwrap();
    let own = tokio::time::timeout(DEADLINE, watcher.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        &*own.topic, "devices/ext-r/status",
        "subscribers see a node's publish"
    );

    let mut device = Device::connect(broker.addr, "ext-r").await;
    let reason = device
        .publish("devices/ext-r/data", "{\"n\":1}".to_owned())
        .await;
    assert_eq!(reason, PubAckReason::Success);
    eventually(
        "the refused reading comes again and is accepted",
        || async { interceptor.seen.lock().len() >= 2 },
    )
    .await;
    let seen = interceptor.seen.lock().clone();
    assert_eq!(
        seen,
        vec![
            ("{\"n\":1}".to_owned(), true),
            ("{\"n\":1}".to_owned(), true)
        ],
        "the node's own status publish was not intercepted; the reading twice"
    );
    let counters = bus.counters();
    assert_eq!(counters.refused.load(Ordering::Relaxed), 1);
    assert!(
        counters.connects.load(Ordering::Relaxed) >= 2,
        "it reconnected"
    );
    bus.shutdown().await;
}

/// Records what it is shown and accepts it.
#[derive(Default)]
struct Accept {
    seen: Mutex<Vec<String>>,
}

impl Interceptor for Accept {
    fn intercept(&self, message: &Envelope, ack: Option<AckToken>) {
        self.seen.lock().push(message.topic.to_string());
        if let Some(ack) = ack {
            ack.accept();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtts_checks_the_brokers_certificate_against_ca_file() {
    let (certs, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    hearth::tls_cmd::dev_cert(certs.path(), &["127.0.0.1".to_owned()]).unwrap();
    hearth::tls_cmd::dev_cert(other.path(), &["127.0.0.1".to_owned()]).unwrap();
    let (broker, tls) = Mosquitto::start_with_tls(&["ext-t"], Some(certs.path())).await;
    let tls = tls.unwrap();
    let config = |ca: &std::path::Path| {
        let mut config = ExternalBrokerConfig::new(&format!("mqtts://{tls}")).unwrap();
        config.username = Some("hearth".into());
        config.password = Some(HEARTH_PASSWORD.into());
        config.ca_file = Some(ca.join("hearth-ca.pem"));
        config
    };
    // A broker whose certificate another CA signed is not this hub's broker.
    let refused = ExternalBus::start(&config(other.path()), "hearth-tls-wrong", 1 << 20).await;
    let error = refused.err().expect("an untrusted certificate is refused");
    assert!(format!("{error:#}").contains("TLS"), "{error:#}");

    let bus = ExternalBus::start(&config(certs.path()), "hearth-tls", 1 << 20)
        .await
        .unwrap();
    let interceptor = Arc::new(Accept::default());
    bus.intercept("devices/+/+", interceptor.clone()).unwrap();
    // The subscription is in place once the bus's own publish comes back to it.
    let mut watcher = bus.subscribe("devices/ext-t/status").await.unwrap();
    bus.publish(Envelope::new("devices/ext-t/status", "online").with_qos(Qos::AtLeastOnce))
        .await
        .unwrap();
    tokio::time::timeout(DEADLINE, watcher.recv())
        .await
        .unwrap()
        .unwrap();
    let mut device = Device::connect(broker.addr, "ext-t").await;
    let reason = device
        .publish("devices/ext-t/data", "{\"n\":1}".to_owned())
        .await;
    assert_eq!(reason, PubAckReason::Success);
    eventually("the reading arrives over MQTTS", || async {
        interceptor.seen.lock().len() == 1
    })
    .await;
    assert_eq!(interceptor.seen.lock()[0], "devices/ext-t/data");
    bus.shutdown().await;
}
