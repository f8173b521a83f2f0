//! Debian's Mosquitto with its dynamic-security plugin, started by the test on a free
//! loopback port, a registry on SQLite, and MQTT 5 clients that report what they get.

use hearth_services::dynsec::{BrokerKey, DynsecConfig, DynsecSync};
use hearth_services::lease::Leadership;
use hearth_services::registry::{DeviceSpec, Registry};
use hearth_testkit::mosquitto::MosquittoProcess;
use hearth_testkit::{Backend, TestStore, ids};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, LastWill, Packet, SubscribeReasonCode};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::sync::mpsc;

pub const PLUGIN: &str = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so";
pub const ADMIN: &str = "hearth-admin";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// How long anything the test expects may take to arrive (generous: nothing is timed).
pub const WAIT: Duration = Duration::from_secs(20);

/// A running `mosquitto -c <generated conf>`, killed (by its PID) when dropped.
pub struct Mosquitto {
    _process: MosquittoProcess,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Writes the plugin's file with `mosquitto_ctrl dynsec init` (the administrator),
    /// a mosquitto.conf loading the plugin, and starts the broker.
    pub fn start() -> Mosquitto {
        assert!(
            Path::new(PLUGIN).exists() && Path::new("/usr/sbin/mosquitto").exists(),
            "these tests need Debian's mosquitto package (apt-get install mosquitto)"
        );
        let dir = tempfile::tempdir().unwrap();
        let dynsec = dir.path().join("dynamic-security.json");
        let status = Command::new("mosquitto_ctrl")
            .args(["dynsec", "init"])
            .arg(&dynsec)
            .args([ADMIN, ADMIN_PASSWORD])
            .stdout(Stdio::null())
            .status()
            .expect("mosquitto_ctrl runs");
        assert!(status.success(), "mosquitto_ctrl dynsec init failed");
        // A free port: taken from the kernel and given back just before Mosquitto binds
        // it (Mosquitto cannot listen on port 0 and say which it got).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Started as root, Mosquitto would become `mosquitto` and could no longer save
        // the plugin's file in our directory: it stays who we are.
        let user = Command::new("id")
            .arg("-un")
            .output()
            .expect("id runs")
            .stdout;
        let user = String::from_utf8(user).unwrap().trim().to_owned();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "user {user}\nper_listener_settings false\nallow_anonymous false\nlistener {port} 127.0.0.1\n\
                 plugin {PLUGIN}\nplugin_opt_config_file {}\npersistence false\n\
                 log_dest stderr\nlog_type error\nlog_type warning\n",
                dynsec.display()
            ),
        )
        .unwrap();
        let process = MosquittoProcess::start(&conf, &[port]);
        Mosquitto {
            _process: process,
            port,
            dir,
        }
    }

    /// `[dynsec]` for this broker, the password in a file as recommended.
    pub fn config(&self) -> DynsecConfig {
        let password_file = self.dir.path().join("admin-password");
        std::fs::write(&password_file, format!("{ADMIN_PASSWORD}\n")).unwrap();
        let text = format!(
            "url = \"mqtt://127.0.0.1:{}\"\nadmin = \"{ADMIN}\"\npassword_file = \"{}\"\n",
            self.port,
            password_file.display()
        );
        toml::from_str(&text).unwrap()
    }
}

/// The registry: group `home`, applications `default` (d1, d2) and `other` (d3).
pub struct Hub {
    pub store: TestStore,
    pub registry: Registry,
    pub key: BrokerKey,
    pub key_path: PathBuf,
    pub mosquitto: Mosquitto,
}

impl Hub {
    pub async fn start() -> Hub {
        let mosquitto = Mosquitto::start();
        let store = hearth_testkit::test_store(Backend::Sqlite).await;
        let registry = Registry::new(store.store());
        registry
            .ensure_owner(Some("owner-password-1".into()))
            .await
            .unwrap();
        registry
            .add_app("test", &ids::app("other"), &ids::group("home"), None, None)
            .await
            .unwrap();
        for (id, app) in [("d1", "default"), ("d2", "default"), ("d3", "other")] {
            let spec = DeviceSpec {
                app: Some(ids::app(app)),
                ..DeviceSpec::new(ids::device(id))
            };
            registry.add_device("test", spec).await.unwrap();
        }
        let key_path = mosquitto.dir.path().join("dynsec.key");
        let key = BrokerKey::load_or_create(&key_path).unwrap();
        Hub {
            store,
            registry,
            key,
            key_path,
            mosquitto,
        }
    }

    /// Starts the sync and waits until the broker reflects the registry as it is now.
    pub async fn sync(&self) -> DynsecSync {
        let key = BrokerKey::load_or_create(&self.key_path).unwrap();
        let sync = DynsecSync::start(
            self.mosquitto.config(),
            key,
            self.store.store(),
            Leadership::always(),
        )
        .unwrap();
        self.wait_synced(&sync).await;
        sync
    }

    /// Waits until the sync has written the registry's latest change.
    pub async fn wait_synced(&self, sync: &DynsecSync) {
        let seq = self.store.last_audit_seq().await.unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let status = sync.status();
            if status.synced_seq.is_some_and(|synced| synced >= seq) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the sync did not catch up: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The broker password of a device as Hearth derives it now.
    pub async fn device_password(&self, id: &str) -> String {
        let credentials = self.store.credentials().await.unwrap();
        let device = credentials
            .devices
            .iter()
            .find(|device| device.id.as_str() == id)
            .expect("device in the registry");
        self.key.password("device", id, &device.secret_hash)
    }

    /// A site's broker password as Hearth derives it now.
    pub async fn site_password(&self, id: &str) -> String {
        let sites = self.store.site_credentials().await.unwrap();
        let site = sites
            .iter()
            .find(|site| site.id.as_str() == id)
            .expect("site in the registry");
        self.key.password("site", id, &site.secret_hash)
    }

    /// An application's MQTT key and broker password.
    pub async fn app_login(&self, app: &str) -> (String, String) {
        let credentials = self.store.credentials().await.unwrap();
        let app = credentials
            .apps
            .iter()
            .find(|credential| credential.id.as_str() == app)
            .expect("app in the registry");
        let password = self.key.password("app", &app.mqtt_key, &app.secret_hash);
        (app.mqtt_key.clone(), password)
    }
}

/// A v5 client whose event loop runs in a task and forwards what it receives; `None`
/// marks the end of the connection.
pub struct Client {
    pub client: AsyncClient,
    received: mpsc::UnboundedReceiver<Option<Packet>>,
}

/// How a connection attempt ended.
pub enum Login {
    Accepted(Client),
    Refused(ConnectReturnCode),
}

impl Login {
    pub fn accepted(self, what: &str) -> Client {
        match self {
            Login::Accepted(client) => client,
            Login::Refused(code) => panic!("{what}: refused with {code:?}"),
        }
    }

    pub fn refused(self, what: &str) -> ConnectReturnCode {
        match self {
            Login::Accepted(_) => panic!("{what}: accepted"),
            Login::Refused(code) => code,
        }
    }
}

impl Client {
    pub async fn connect(port: u16, client_id: &str, user: &str, password: &str) -> Login {
        Client::connect_with(port, client_id, user, password, None).await
    }

    pub async fn connect_with(
        port: u16,
        client_id: &str,
        user: &str,
        password: &str,
        will: Option<LastWill>,
    ) -> Login {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options.set_credentials(user, password);
        options.set_keep_alive(Duration::from_secs(30));
        if let Some(will) = will {
            options.set_last_will(will);
        }
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let (sender, mut received) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(packet)) => {
                        if sender.send(Some(packet)).is_err() {
                            return;
                        }
                    }
                    Ok(Event::Outgoing(_)) => {}
                    Err(error) => {
                        if let rumqttc::v5::ConnectionError::ConnectionRefused(code) = error {
                            let _ = sender.send(Some(Packet::ConnAck(
                                rumqttc::v5::mqttbytes::v5::ConnAck {
                                    session_present: false,
                                    code,
                                    properties: None,
                                },
                            )));
                        }
                        let _ = sender.send(None);
                        return;
                    }
                }
            }
        });
        let first = tokio::time::timeout(WAIT, received.recv())
            .await
            .expect("an answer to CONNECT")
            .flatten();
        match first {
            Some(Packet::ConnAck(ack)) if ack.code == ConnectReturnCode::Success => {
                Login::Accepted(Client { client, received })
            }
            Some(Packet::ConnAck(ack)) => Login::Refused(ack.code),
            other => panic!("{client_id}: expected CONNACK, got {other:?}"),
        }
    }

    /// The next packet, or `None` when the connection has ended.
    pub async fn next_packet(&mut self) -> Option<Packet> {
        tokio::time::timeout(WAIT, self.received.recv())
            .await
            .expect("a packet or the end within the wait")
            .flatten()
    }

    /// Waits for the broker to close the connection (a kick).
    pub async fn closed(&mut self) {
        while self.next_packet().await.is_some() {}
    }

    pub async fn subscribe(&mut self, filter: &str) -> SubscribeReasonCode {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        loop {
            match self.next_packet().await {
                Some(Packet::SubAck(ack)) => return ack.return_codes[0],
                Some(_) => {}
                None => panic!("closed before the SUBACK"),
            }
        }
    }

    /// Publishes at QoS 1 and returns whether the broker took it (PUBACK success or no
    /// matching subscribers, as opposed to 0x87 not authorized).
    pub async fn publish(&mut self, topic: &str, payload: &str, retain: bool) -> bool {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
            .await
            .unwrap();
        loop {
            match self.next_packet().await {
                Some(Packet::PubAck(ack)) => {
                    use rumqttc::v5::mqttbytes::v5::PubAckReason;
                    return matches!(
                        ack.reason,
                        PubAckReason::Success | PubAckReason::NoMatchingSubscribers
                    );
                }
                Some(_) => {}
                None => panic!("closed before the PUBACK of {topic}"),
            }
        }
    }

    /// The topics of messages received until one on `marker` arrives.
    pub async fn topics_until(&mut self, marker: &str) -> Vec<String> {
        let mut topics = Vec::new();
        loop {
            match self.next_packet().await {
                Some(Packet::Publish(publish)) => {
                    let topic = String::from_utf8(publish.topic.to_vec()).unwrap();
                    if topic == marker {
                        return topics;
                    }
                    topics.push(topic);
                }
                Some(_) => {}
                None => panic!("closed before {marker}"),
            }
        }
    }
}

/// The dynsec administrator as an observer: its role (from `dynsec init`) may
/// subscribe to and receive everything, and publish only on `$CONTROL/...`.
pub async fn observer(port: u16, client_id: &str) -> Client {
    Client::connect(port, client_id, ADMIN, ADMIN_PASSWORD)
        .await
        .accepted("the administrator")
}
