//! Messages from the cloud are acknowledged to it only after the home bus took them:
//! the bridge runs against mosquitto with a home bus that fails its first publish, and
//! the command is not lost (mosquitto sends it again on the resumed session, which it
//! would not do had the link acknowledged it on reading).

use crate::harness::SITE;
use crate::mosquitto::Mosquitto;
use hearth_bus::{Bus, BusError, ClientEvent, Envelope, Interceptor, Subscription};
use hearth_services::bridge::{Bridge, BridgeConfig};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const DEADLINE: Duration = Duration::from_secs(10);

/// A home bus that refuses its first `failures` publishes and records the rest.
struct FlakyBus {
    failures: Mutex<usize>,
    attempts: Mutex<Vec<String>>,
    published: mpsc::UnboundedSender<Envelope>,
}

#[async_trait::async_trait]
impl Bus for FlakyBus {
    async fn publish(&self, message: Envelope) -> Result<(), BusError> {
        self.attempts.lock().push(message.topic.to_string());
        {
            let mut failures = self.failures.lock();
            if *failures > 0 {
                *failures -= 1;
                return Err(BusError::Closed);
            }
        }
        let _ = self.published.send(message);
        Ok(())
    }

    async fn subscribe(&self, _filter: &str) -> Result<Subscription, BusError> {
        Err(BusError::Closed)
    }

    async fn kick(&self, _client_id: &str) -> Result<bool, BusError> {
        Ok(false)
    }

    fn intercept(&self, _filter: &str, _interceptor: Arc<dyn Interceptor>) -> Result<(), BusError> {
        Ok(())
    }

    fn client_events(&self) -> mpsc::UnboundedReceiver<ClientEvent> {
        mpsc::unbounded_channel().1
    }

    fn observe_client_events(&self, _observer: hearth_bus::ClientObserver) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_the_home_bus_failed_to_take_comes_again_and_is_delivered_once() {
    let mosquitto = Mosquitto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (published, mut delivered) = mpsc::unbounded_channel();
    let bus = Arc::new(FlakyBus {
        failures: Mutex::new(0),
        attempts: Mutex::new(Vec::new()),
        published,
    });
    let mut config = BridgeConfig::new(&format!("mqtt://{}", mosquitto.addr), SITE, "any").unwrap();
    config.reconnect_min_ms = 20;
    config.reconnect_max_ms = 200;
    let bridge = Bridge::start(config, dir.path(), bus.clone()).unwrap();
    let start = std::time::Instant::now();
    while !bridge.status().up {
        assert!(start.elapsed() < DEADLINE, "the link never came up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut app = mosquitto.client("cloud-app").await;
    let topic = format!("sites/{SITE}/devices/d1/commands/reboot");
    // The link subscribes after its CONNACK: probe until a command gets through.
    loop {
        app.publish(&topic, "probe").await;
        if let Ok(probe) = tokio::time::timeout(Duration::from_millis(200), delivered.recv()).await
        {
            assert_eq!(&probe.unwrap().payload[..], b"probe");
            break;
        }
        assert!(start.elapsed() < DEADLINE, "the link never subscribed");
    }
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), delivered.recv()).await
    {
    }
    bus.attempts.lock().clear();
    let connects = bridge.status().connects_total;
    let commands = bridge.status().commands_total;

    *bus.failures.lock() = 1;
    app.publish(&topic, "{\"id\":\"c1\"}").await;
    let command = tokio::time::timeout(DEADLINE, delivered.recv())
        .await
        .expect("the command reaches the home bus")
        .unwrap();
    assert_eq!(&*command.topic, "devices/d1/commands/reboot");
    assert_eq!(&command.payload[..], b"{\"id\":\"c1\"}");
    let attempts = bus.attempts.lock().clone();
    assert_eq!(
        attempts,
        vec!["devices/d1/commands/reboot", "devices/d1/commands/reboot"],
        "refused once, then taken from mosquitto's resend"
    );
    assert!(
        bridge.status().connects_total > connects,
        "the link reconnected"
    );
    // Counted once the bus took it (just after the test saw it).
    while bridge.status().commands_total != commands + 1 {
        assert!(start.elapsed() < DEADLINE, "{:?}", bridge.status());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Taken and acknowledged: a later connection does not get it again.
    app.publish(&topic, "{\"id\":\"c2\"}").await;
    let second = tokio::time::timeout(DEADLINE, delivered.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&second.payload[..], b"{\"id\":\"c2\"}");
    bridge.shutdown().await;
    let bridge = Bridge::start(
        {
            let mut config =
                BridgeConfig::new(&format!("mqtt://{}", mosquitto.addr), SITE, "any").unwrap();
            config.reconnect_min_ms = 20;
            config
        },
        dir.path(),
        bus.clone(),
    )
    .unwrap();
    while !bridge.status().up {
        assert!(
            start.elapsed() < DEADLINE * 2,
            "the link never came up again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.publish(&topic, "{\"id\":\"c3\"}").await;
    let third = tokio::time::timeout(DEADLINE, delivered.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        &third.payload[..],
        b"{\"id\":\"c3\"}",
        "c1 and c2 were acknowledged"
    );
    bridge.shutdown().await;
}
