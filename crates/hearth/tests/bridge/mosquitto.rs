//! A third-party MQTT 5 broker as the "cloud" (issue 20: "a cloud hub, or any MQTT 5
//! broker"): mosquitto (Debian package `mosquitto`, installed by .ci/run), started by
//! the test on a free loopback port with a generated config, stopped by its pid when
//! dropped.

use crate::harness::free_port;
use hearth_testkit::mosquitto::MosquittoProcess;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, Publish};
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use std::net::SocketAddr;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

/// A running mosquitto on 127.0.0.1.
pub struct Mosquitto {
    pub addr: SocketAddr,
    _process: MosquittoProcess,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Anonymous logins (any user name and password pass, as the link sends its site's),
    /// no persistence: sessions live as long as the process.
    pub async fn start() -> Mosquitto {
        let dir = tempfile::tempdir().unwrap();
        let addr = free_port();
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 max_queued_messages 10000\n",
                addr.port()
            ),
        )
        .unwrap();
        let process = MosquittoProcess::start(&config, &[addr.port()]);
        Mosquitto {
            addr,
            _process: process,
            _dir: dir,
        }
    }

    /// A connected MQTT 5 client of the broker (clean session).
    pub async fn client(&self, id: &str) -> Client {
        let mut options = MqttOptions::new(id, "127.0.0.1", self.addr.port());
        options.set_keep_alive(Duration::from_secs(30));
        let (client, events) = AsyncClient::new(options, 64);
        let mut client = Client { client, events };
        client
            .next(|packet| matches!(packet, Packet::ConnAck(_)))
            .await;
        client
    }
}

/// A test's client of mosquitto.
pub struct Client {
    pub client: AsyncClient,
    events: EventLoop,
}

impl Client {
    /// Polls until `wanted` matches an incoming packet.
    pub async fn next(&mut self, wanted: impl Fn(&Packet) -> bool) -> Packet {
        tokio::time::timeout(DEADLINE, async {
            loop {
                match self.events.poll().await {
                    Ok(Event::Incoming(packet)) if wanted(&packet) => return packet,
                    Ok(_) => {}
                    Err(error) => panic!("mosquitto client: {error}"),
                }
            }
        })
        .await
        .expect("the packet arrives before the deadline")
    }

    pub async fn subscribe(&mut self, filter: &str) {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        self.next(|packet| matches!(packet, Packet::SubAck(_)))
            .await;
    }

    /// Publishes QoS 1 and waits for mosquitto's PUBACK.
    pub async fn publish(&mut self, topic: &str, payload: &str) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_owned())
            .await
            .unwrap();
        self.next(|packet| matches!(packet, Packet::PubAck(_)))
            .await;
    }

    /// The next PUBLISH.
    pub async fn message(&mut self) -> Publish {
        match self
            .next(|packet| matches!(packet, Packet::Publish(_)))
            .await
        {
            Packet::Publish(publish) => publish,
            _ => unreachable!(),
        }
    }
}
