//! The cloud hub (site `home-1` in its registry, and a password-file login for the
//! watcher), the home hub with `[bridge]` logging in as that site, the devices
//! registered on both sides with one secret, the watcher subscribed on the cloud, and
//! waiting.

use hearth_broker::file_auth::hash_password;
use hearth_model::{NewAuditEntry, Site, SiteId, now_millis};
use hearth_services::bridge::{BridgeConfig, BridgeStatus, RECEIVED_AT};
use hearth_services::secret::hash_secret;
use hearth_testkit::devices::TestDevice;
use hearth_testkit::{Backend, TestHub, ids, start_hub_with};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;

pub const SITE: &str = "home-1";
pub const SITE_SECRET: &str = "site-secret-for-tests";
const WATCHER_SECRET: &str = "watcher-secret-for-tests";
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A port free now, so that a restarted cloud listens where it did.
pub fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// The cloud hub on `mqtt` (a fixed address, the same after a restart), with site
/// [`SITE`] in its registry (secret [`SITE_SECRET`]) and the watcher's password-file
/// login.
pub async fn start_cloud(mqtt: SocketAddr, dir: &std::path::Path) -> TestHub {
    start_cloud_with(mqtt, dir, |_| {}).await
}

/// [`start_cloud`] with the cloud's configuration adjusted (the benchmark turns the
/// site's rate limit off).
pub async fn start_cloud_with(
    mqtt: SocketAddr,
    dir: &std::path::Path,
    adjust: impl FnOnce(&mut hearth::config::HearthConfig),
) -> TestHub {
    let password_file = dir.join("passwd");
    let acl_file = dir.join("acl");
    std::fs::write(
        &password_file,
        format!("watcher:{}\n", hash_password(WATCHER_SECRET)),
    )
    .unwrap();
    std::fs::write(
        &acl_file,
        "user watcher\ntopic read sites/#\ntopic read devices/#\n",
    )
    .unwrap();
    let cloud = start_hub_with(Backend::Sqlite, |config| {
        config.mqtt.listen = Some(mqtt);
        config.mqtt.auth.password_file = Some(password_file);
        config.mqtt.auth.acl_file = Some(acl_file);
        adjust(config);
    })
    .await;
    register_site(&cloud).await;
    cloud
}

/// Site [`SITE`] of group `home`, with the hash of [`SITE_SECRET`] (what `hearth site
/// add` stores, with a secret the test knows).
pub async fn register_site(cloud: &TestHub) {
    let site = Site {
        id: SiteId::new(SITE).unwrap(),
        group: ids::group("home"),
        name: SITE.to_owned(),
        enabled: true,
        created_at_ms: now_millis(),
        last_seen_ms: None,
    };
    cloud
        .store()
        .create_site(
            &site,
            &hash_secret(SITE_SECRET),
            &NewAuditEntry::new("test", "site.create", SITE),
        )
        .await
        .unwrap();
    cloud
        .authorizer()
        .refresh(cloud.bus().as_ref())
        .await
        .unwrap();
}

/// Registers `ids` at home and, with the same secrets, in the cloud as devices of the
/// site (so that the site may relay them, and a device could log in at either hub);
/// returns the secrets by id. Both hubs store the same hash, as the registry mirror
/// leaves it: a hash that differs (another salt) reads as a new secret, and a hub cuts
/// a device whose secret changed.
pub async fn add_site_devices(
    cloud: &TestHub,
    home: &TestHub,
    ids: &[&str],
) -> std::collections::HashMap<String, String> {
    let secrets = hearth_testkit::devices::add_devices(home, ids).await;
    let hashes: std::collections::HashMap<String, String> = secrets
        .iter()
        .map(|(id, secret)| (id.clone(), hash_secret(secret)))
        .collect();
    for (id, hash) in &hashes {
        let id = ids::device(id);
        home.store()
            .set_device_secret(&id, hash, &NewAuditEntry::new("test", "device.rotate", &id))
            .await
            .unwrap();
    }
    home.authorizer()
        .refresh(home.bus().as_ref())
        .await
        .unwrap();
    add_cloud_devices(cloud, ids, Some(&hashes)).await;
    secrets
}

/// Registers `devices` in the cloud as devices of the site, with the given secret
/// `hashes` when there are (else secrets of the cloud's own).
pub async fn add_cloud_devices(
    cloud: &TestHub,
    devices: &[&str],
    hashes: Option<&std::collections::HashMap<String, String>>,
) {
    hearth_testkit::devices::add_devices(cloud, devices).await;
    let site = SiteId::new(SITE).unwrap();
    for device in devices {
        let id = ids::device(device);
        if let Some(hash) = hashes.and_then(|hashes| hashes.get(*device)) {
            cloud
                .store()
                .set_device_secret(&id, hash, &NewAuditEntry::new("test", "device.rotate", &id))
                .await
                .unwrap();
        }
        cloud
            .registry()
            .set_device_site("test", &id, Some(&site))
            .await
            .unwrap();
    }
    cloud
        .authorizer()
        .refresh(cloud.bus().as_ref())
        .await
        .unwrap();
}

/// The home's `[bridge]` towards `cloud` (the proxy), with a quick back-off.
pub fn bridge_config(cloud: SocketAddr) -> BridgeConfig {
    let mut config = BridgeConfig::new(&format!("mqtt://{cloud}"), SITE, SITE_SECRET).unwrap();
    config.reconnect_min_ms = 20;
    config.reconnect_max_ms = 300;
    config.window = 32;
    config
}

pub async fn start_home(bridge: BridgeConfig) -> TestHub {
    // The bridge's log, for a failing run (RUST_LOG overrides).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "hearth_services::bridge=info".into()),
        )
        .with_test_writer()
        .try_init();
    start_hub_with(Backend::Sqlite, |config| config.bridge = Some(bridge)).await
}

/// A message the watcher got on the cloud.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: String,
    pub received_at: Option<i64>,
}

/// A real MQTT 5 subscriber on the cloud (`sites/#`, QoS 1, a persistent session), that
/// keeps reconnecting across a restart of the cloud.
pub struct Watcher {
    messages: mpsc::UnboundedReceiver<Received>,
    pub seen: Vec<Received>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    pub async fn start(cloud: SocketAddr) -> Watcher {
        let mut options = MqttOptions::new("watcher", "127.0.0.1", cloud.port());
        options
            .set_credentials("watcher", WATCHER_SECRET)
            .set_clean_start(false)
            .set_session_expiry_interval(Some(3600));
        let (client, mut events) = AsyncClient::new(options, 64);
        let (sender, messages) = mpsc::unbounded_channel();
        let (subscribed_tx, mut subscribed) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        client.subscribe("sites/#", QoS::AtLeastOnce).await.unwrap();
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = subscribed_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        let received_at = publish.properties.as_ref().and_then(|properties| {
                            properties
                                .user_properties
                                .iter()
                                .find(|(key, _)| key == RECEIVED_AT)
                                .map(|(_, value)| value.parse().unwrap())
                        });
                        let _ = sender.send(Received {
                            topic: String::from_utf8(publish.topic.to_vec()).unwrap(),
                            payload: String::from_utf8(publish.payload.to_vec()).unwrap(),
                            received_at,
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(DEADLINE, subscribed.recv())
            .await
            .expect("the watcher subscribed on the cloud");
        Watcher {
            messages,
            seen: Vec::new(),
            task,
        }
    }

    /// Collects until `done` holds for what was seen.
    pub async fn until(&mut self, what: &str, done: impl Fn(&[Received]) -> bool) {
        self.until_within(DEADLINE, what, done).await;
    }

    /// [`Watcher::until`] with another deadline (the benchmark's long runs).
    pub async fn until_within(
        &mut self,
        limit: Duration,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) {
        tokio::time::timeout(limit, async {
            while !done(&self.seen) {
                let message = self.messages.recv().await.expect("the watcher runs");
                self.seen.push(message);
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the cloud never saw {what}: {} messages", self.seen.len()));
    }

    /// Per device (by cloud topic), the payloads in arrival order.
    pub fn by_topic(&self) -> BTreeMap<String, Vec<Received>> {
        let mut map: BTreeMap<String, Vec<Received>> = BTreeMap::new();
        for message in &self.seen {
            map.entry(message.topic.clone())
                .or_default()
                .push(message.clone());
        }
        map
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Publishes `{"n": n}` on the device's data topic (QoS 1) and returns the PUBACK's
/// reason.
pub async fn publish(device: &mut TestDevice, n: u64) -> PubAckReason {
    device
        .client
        .publish(
            format!("devices/{}/data", device.id),
            QoS::AtLeastOnce,
            false,
            format!("{{\"n\":{n}}}"),
        )
        .await
        .unwrap();
    match device
        .next(|packet| matches!(packet, Packet::PubAck(_)), "PUBACK")
        .await
    {
        Packet::PubAck(ack) => ack.reason,
        _ => unreachable!(),
    }
}

/// Waits until the home's bridge status satisfies `done`.
pub async fn wait_status(home: &TestHub, what: &str, done: impl Fn(&BridgeStatus) -> bool) {
    let start = std::time::Instant::now();
    loop {
        let status = home.bridge_status().expect("the home has a bridge");
        if done(&status) {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "never {what}: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `n`s of a device's messages at the cloud, each once, in order of first arrival.
pub fn first_arrivals(messages: &[Received]) -> Vec<u64> {
    let mut seen = std::collections::HashSet::new();
    messages
        .iter()
        .map(|message| {
            let value: serde_json::Value = serde_json::from_str(&message.payload).unwrap();
            value["n"].as_u64().unwrap()
        })
        .filter(|n| seen.insert(*n))
        .collect()
}
