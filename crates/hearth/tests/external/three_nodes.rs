//! The proof of issue 21 on one machine: Debian's Mosquitto with its dynamic-security
//! plugin, PostgreSQL, and three `hearth serve` nodes in external mode on one database,
//! each running the `[dynsec]` sync, so that devices log in to Mosquitto with the
//! broker passwords `hearth device broker-password` prints. A node is killed (SIGKILL)
//! while devices publish QoS 1 readings, and restarted with its data directory; every
//! reading Mosquitto acknowledged is stored; a wrong password is refused by Mosquitto;
//! a command sent through a surviving node reaches the device and its ack is recorded.

use crate::harness::*;
use hearth_store::Store;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, Packet, PubAckReason};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, MqttOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Where Debian's `mosquitto` package puts the plugin, per architecture.
const PLUGINS: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
];
const ADMIN: &str = "hearth-admin";
const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// The devices that publish readings, the lamp that gets a command, and one that is
/// registered but tries a wrong password.
const SENSORS: [&str; 4] = ["tn-a", "tn-b", "tn-c", "tn-d"];
const LAMP: &str = "tn-lamp";
const STRANGER: &str = "tn-wrong";
const PER_SENSOR: u64 = 120;
/// The second node is killed once this many readings were acknowledged (of 480).
const KILL_AFTER: u64 = 160;

/// Mosquitto with the dynamic-security plugin (an administrator for the nodes' sync)
/// and the nodes' own service login, a client made by hand as docs/scale.md says.
struct DynsecBroker {
    addr: SocketAddr,
    dir: tempfile::TempDir,
    _process: hearth_testkit::mosquitto::MosquittoProcess,
}

impl DynsecBroker {
    fn start() -> DynsecBroker {
        let plugin = PLUGINS
            .iter()
            .find(|path| Path::new(path).exists())
            .expect("Debian's mosquitto package (mosquitto_dynamic_security.so)");
        let dir = tempfile::tempdir().unwrap();
        let dynsec = dir.path().join("dynamic-security.json");
        let status = std::process::Command::new("mosquitto_ctrl")
            .args(["dynsec", "init"])
            .arg(&dynsec)
            .args([ADMIN, ADMIN_PASSWORD])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("mosquitto_ctrl runs");
        assert!(status.success(), "mosquitto_ctrl dynsec init");
        let addr = free_port();
        // Started as root, Mosquitto would become `mosquitto` and could not save the
        // plugin's file in our directory: it stays who we are. In-flight and queue
        // limits as docs/scale.md advises.
        let user = std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout;
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "user {}\nper_listener_settings false\nallow_anonymous false\n\
                 listener {} 127.0.0.1\nplugin {plugin}\nplugin_opt_config_file {}\n\
                 persistence false\nmax_inflight_messages 1000\nmax_queued_messages 0\n",
                String::from_utf8(user).unwrap().trim(),
                addr.port(),
                dynsec.display()
            ),
        )
        .unwrap();
        let process = hearth_testkit::mosquitto::MosquittoProcess::start(&config, &[addr.port()]);
        let broker = DynsecBroker {
            addr,
            dir,
            _process: process,
        };
        // The nodes' login: a trusted service that publishes and subscribes on every
        // topic of the hub's services (devices, discovery's `homeassistant/`, sites),
        // and on its shared subscriptions. Narrower, a denied publish makes Mosquitto
        // 2.0 close the node's connection. Hearth's sync leaves the client alone (not
        // marked as its own) and the role too, as long as its name does not begin with
        // `hearth-` (those roles are the sync's: it deletes the ones it does not want).
        broker.ctrl(&["createRole", "cluster-node"]);
        for acl in [
            ["publishClientSend", "#"],
            ["publishClientReceive", "#"],
            ["subscribePattern", "#"],
            ["subscribePattern", "$share/hearth/#"],
            ["unsubscribePattern", "#"],
        ] {
            broker.ctrl(&["addRoleACL", "cluster-node", acl[0], acl[1], "allow"]);
        }
        broker.ctrl(&["createClient", "hearth", "-p", HEARTH_PASSWORD]);
        broker.ctrl(&["addClientRole", "hearth", "cluster-node"]);
        broker
    }

    /// `mosquitto_ctrl dynsec ...` as the administrator.
    fn ctrl(&self, args: &[&str]) {
        let output = std::process::Command::new("mosquitto_ctrl")
            .args(["-h", "127.0.0.1", "-p", &self.addr.port().to_string()])
            .args(["-u", ADMIN, "-P", ADMIN_PASSWORD, "dynsec"])
            .args(args)
            .output()
            .expect("mosquitto_ctrl runs");
        assert!(
            output.status.success(),
            "mosquitto_ctrl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Every node's hearth.toml: external mode with the service login, and `[dynsec]`
    /// with its own admin client id and the key file all nodes share.
    fn node_config(&self, dir: &Path, node: usize) {
        let password_file = self.dir.path().join("dynsec-admin");
        std::fs::write(&password_file, ADMIN_PASSWORD).unwrap();
        std::fs::write(
            dir.join("hearth.toml"),
            format!(
                "[mqtt]\nmode = \"external\"\n\n[mqtt.external]\nurl = \"mqtt://{broker}\"\n\
                 username = \"hearth\"\npassword = \"{HEARTH_PASSWORD}\"\n\n\
                 [dynsec]\nurl = \"mqtt://{broker}\"\nadmin = \"{ADMIN}\"\n\
                 password_file = \"{}\"\nkey_file = \"{}\"\nclient_id = \"hearth-dynsec-{node}\"\n\n\
                 [cluster]\nlease_secs = 3\n",
                password_file.display(),
                self.key_file().display(),
                broker = self.addr,
            ),
        )
        .unwrap();
    }

    fn key_file(&self) -> PathBuf {
        self.dir.path().join("dynsec.key")
    }
}

/// `hearth device broker-password <id> --json` with a node's configuration: what the
/// device's firmware would be given.
fn broker_password(config_dir: &Path, database: &str, id: &str) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("--config")
        .arg(config_dir.join("hearth.toml"))
        .arg(format!("--database={database}"))
        .args(["device", "broker-password", id, "--json"])
        .env_remove("HEARTH_LOG")
        .output()
        .expect("hearth runs");
    assert!(
        output.status.success(),
        "broker-password {id}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown["username"], id);
    assert_eq!(shown["client_id"], id);
    shown["password"].as_str().unwrap().to_owned()
}

/// One login attempt at Mosquitto: `Ok` on CONNACK success, else the refusal.
async fn try_login(broker: SocketAddr, id: &str, password: &str) -> Result<(), ConnectReturnCode> {
    let mut options = MqttOptions::new(id, "127.0.0.1", broker.port());
    options.set_credentials(id, password);
    let (client, mut events) = AsyncClient::new(options, 8);
    let answer = tokio::time::timeout(DEADLINE, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => return Ok(ack.code),
                Ok(_) => {}
                Err(ConnectionError::ConnectionRefused(code)) => return Err(code),
                Err(error) => panic!("{id}: {error}"),
            }
        }
    })
    .await
    .expect("an answer to CONNECT");
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), events.poll()).await;
    match answer {
        Ok(ConnectReturnCode::Success) => Ok(()),
        Ok(code) | Err(code) => Err(code),
    }
}

/// Waits until Mosquitto lets `id` in: the nodes' sync has written it.
async fn wait_synced(broker: SocketAddr, id: &str, password: &str) {
    let start = std::time::Instant::now();
    while let Err(code) = try_login(broker, id, password).await {
        assert!(
            start.elapsed() < DEADLINE,
            "{id} still refused ({code:?}): the nodes' dynsec sync did not write it"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_behind_dynsec_mosquitto_lose_nothing_when_one_is_killed() {
    let broker = DynsecBroker::start();
    let (database, _guard) = hearth_testkit::database_url(hearth_testkit::Backend::Postgres);
    let mut registered = SENSORS.to_vec();
    registered.extend([LAMP, STRANGER]);
    let store = prepare(&database, &registered).await;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    for (index, dir) in dirs.iter().enumerate() {
        broker.node_config(dir.path(), index + 1);
        // One after another: the first makes the shared key file.
        nodes.push(serve(dir.path(), &database).await.unwrap());
    }
    assert!(broker.key_file().exists(), "the nodes share one dynsec key");

    // Registry credentials at Mosquitto: the derived broker passwords.
    let mut passwords = std::collections::HashMap::new();
    for id in &registered {
        let password = broker_password(dirs[0].path(), &database, id);
        assert_eq!(
            password,
            broker_password(dirs[2].path(), &database, id),
            "every node derives the same password"
        );
        passwords.insert(*id, password);
    }
    for id in &registered {
        wait_synced(broker.addr, id, &passwords[id]).await;
    }

    // A registered device with a wrong password, and a stranger Mosquitto does not know.
    assert!(
        try_login(broker.addr, STRANGER, "not-its-password")
            .await
            .is_err()
    );
    assert!(
        try_login(broker.addr, "tn-unknown", &passwords[STRANGER])
            .await
            .is_err()
    );

    // Readings, QoS 1, each waiting for Mosquitto's PUBACK; the second node is killed
    // (SIGKILL) when a third of them are acknowledged, the devices go on. A device that
    // gets halfway first waits for the kill, so the second half always follows it.
    let acknowledged = Arc::new(AtomicU64::new(0));
    let (killed_tx, killed_rx) = tokio::sync::watch::channel(false);
    let mut publishers = Vec::new();
    for id in SENSORS {
        let (addr, password, acknowledged) =
            (broker.addr, passwords[id].clone(), acknowledged.clone());
        let mut killed = killed_rx.clone();
        publishers.push(tokio::spawn(async move {
            let mut device = Device::connect_with(addr, id, &password).await;
            for n in 0..PER_SENSOR {
                if n == PER_SENSOR / 2 {
                    killed.wait_for(|killed| *killed).await.unwrap();
                }
                let reason = device
                    .publish(&format!("devices/{id}/data"), format!("{{\"n\":{n}}}"))
                    .await;
                assert_eq!(reason, PubAckReason::Success, "{id} reading {n}");
                acknowledged.fetch_add(1, Ordering::SeqCst);
                // A stream, not a burst: Mosquitto acknowledges at once.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    while acknowledged.load(Ordering::SeqCst) < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed = nodes.remove(1);
    let stored_by_killed = killed.stored().await;
    killed.kill().await;
    let at_kill = acknowledged.load(Ordering::SeqCst);
    killed_tx.send(true).unwrap();
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let total = PER_SENSOR * SENSORS.len() as u64;
    assert_eq!(acknowledged.load(Ordering::SeqCst), total);
    assert!(at_kill < total, "the node was killed mid-stream");
    // Back with the same data directory: the same client id, so the same session at
    // Mosquitto with what it held for the node.
    nodes.insert(1, serve(dirs[1].path(), &database).await.unwrap());
    eventually("every acknowledged reading is stored", || async {
        let mut distinct = 0;
        for id in SENSORS {
            let mut numbers = stored_numbers(&store, id).await;
            numbers.dedup();
            distinct += numbers.len() as u64;
        }
        distinct == total
    })
    .await;
    let mut duplicates = 0;
    for id in SENSORS {
        let mut numbers = stored_numbers(&store, id).await;
        let rows = numbers.len();
        numbers.dedup();
        assert_eq!(numbers, (0..PER_SENSOR).collect::<Vec<_>>(), "{id}");
        duplicates += rows - numbers.len();
    }
    let counts = [
        nodes[0].stored().await,
        nodes[1].stored().await,
        nodes[2].stored().await,
    ];
    println!(
        "{total} readings acknowledged by Mosquitto (node 2 killed after {at_kill}), all \
         stored, {duplicates} twice; stored by node 1: {}, node 2: {stored_by_killed} before \
         the kill + {} after its restart, node 3: {}",
        counts[0], counts[1], counts[2]
    );
    assert!(
        counts[0] > 0 && counts[2] > 0 && stored_by_killed + counts[1] > 0,
        "every node took a share: {counts:?}, {stored_by_killed}"
    );

    // A command through a surviving node's API reaches the lamp at Mosquitto; the
    // lamp's ack (taken by whichever node's share it falls in) is recorded.
    let mut lamp = Device::connect_with(broker.addr, LAMP, &passwords[LAMP]).await;
    lamp.client
        .subscribe(format!("devices/{LAMP}/commands/+"), QoS::AtLeastOnce)
        .await
        .unwrap();
    lamp.next(|packet| matches!(packet, Packet::SubAck(_)))
        .await;
    assert_eq!(
        lamp.publish(&format!("devices/{LAMP}/status"), "online".into())
            .await,
        PubAckReason::Success
    );
    let login = Some(serde_json::json!({"username": "admin", "password": OWNER_PASSWORD}));
    let (status, cookie) = http(nodes[0].http, "POST", "/api/v1/auth/login", "", login).await;
    assert_eq!(status, 200, "owner login");
    let (status, body) = http(
        nodes[0].http,
        "POST",
        &format!("/api/v1/devices/{LAMP}/commands"),
        &cookie,
        Some(serde_json::json!({"name": "blink", "params": {"times": 3}})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let sent: serde_json::Value = serde_json::from_str(&body).unwrap();
    let command_id = sent["id"].as_str().unwrap().to_owned();
    let Packet::Publish(command) = lamp
        .next(|packet| matches!(packet, Packet::Publish(_)))
        .await
    else {
        unreachable!()
    };
    assert_eq!(
        &command.topic[..],
        format!("devices/{LAMP}/commands/blink").as_bytes()
    );
    let payload: serde_json::Value = serde_json::from_slice(&command.payload).unwrap();
    assert_eq!(payload["id"], command_id.as_str(), "{payload}");
    assert_eq!(payload["times"], 3, "{payload}");
    let ack = serde_json::json!({"id": command_id, "ok": true, "result": {"blinked": 3}});
    assert_eq!(
        lamp.publish(
            &format!("devices/{LAMP}/commands/blink/ack"),
            ack.to_string()
        )
        .await,
        PubAckReason::Success
    );
    // Read through another node: the state is the database's, not a node's memory.
    let (_, cookie) = http(
        nodes[2].http,
        "POST",
        "/api/v1/auth/login",
        "",
        Some(serde_json::json!({"username": "admin", "password": OWNER_PASSWORD})),
    )
    .await;
    let path = format!("/api/v1/commands/{command_id}");
    eventually("the lamp's ack is recorded", || async {
        let (status, body) = http(nodes[2].http, "GET", &path, &cookie, None).await;
        assert_eq!(status, 200, "{body}");
        let command: serde_json::Value = serde_json::from_str(&body).unwrap();
        command["status"] == "acked"
    })
    .await;

    let mut nodes: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    automation_fires_once_and_outlives_its_coordinator(
        &broker,
        &store,
        &dirs,
        &mut nodes,
        &passwords[SENSORS[0]],
        &mut lamp,
    )
    .await;
    for node in nodes.into_iter().flatten() {
        node.kill().await;
    }
}

/// The automation engine runs on the coordinator (the lease holder), which observes
/// every device's traffic while the readings are stored by whichever node's turn it is:
/// one crossing, one command; and when the coordinator dies, another node takes the
/// lease (3 s here) and the automation goes on.
async fn automation_fires_once_and_outlives_its_coordinator(
    broker: &DynsecBroker,
    store: &Arc<dyn Store>,
    dirs: &[tempfile::TempDir],
    nodes: &mut [Option<Node>],
    sensor_password: &str,
    lamp: &mut Device,
) {
    let ids: Vec<String> = dirs
        .iter()
        .map(|dir| {
            std::fs::read_to_string(dir.path().join("node-id"))
                .unwrap()
                .trim()
                .to_owned()
        })
        .collect();
    let holder = async || {
        store
            .lease_holder(hearth_services::lease::COORDINATOR)
            .await
            .unwrap()
            .filter(|(_, expires_at_ms)| *expires_at_ms > hearth_model::now_millis())
            .and_then(|(holder, _)| {
                // The holder is `<node id>.<random per start>` (coordinator.rs).
                ids.iter()
                    .position(|id| holder.split_once('.').is_some_and(|(node, _)| node == id))
            })
    };
    eventually("a node holds the coordinator lease", || async {
        holder().await.is_some()
    })
    .await;
    let coordinator = holder().await.unwrap();
    // Created through a node that does not coordinate.
    let via = nodes[(coordinator + 1) % nodes.len()]
        .as_ref()
        .unwrap()
        .http;
    let login = serde_json::json!({"username": "admin", "password": OWNER_PASSWORD});
    let (_, cookie) = http(via, "POST", "/api/v1/auth/login", "", Some(login)).await;
    let group = store.apps(None).await.unwrap()[0].group.to_string();
    let automation = serde_json::json!({
        "group": group, "name": "Lamp on when warm",
        "triggers": [{"type": "reading", "device": SENSORS[0], "metric": "temp", "gt": 30.0}],
        "actions": [{"type": "command", "device": LAMP, "name": "switch", "params": {"on": true}}],
    });
    let (status, body) = http(
        via,
        "POST",
        "/api/v1/automations",
        &cookie,
        Some(automation),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // The coordinator's engine reads the automations every second.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let stored = async |nodes: &[Option<Node>]| {
        let mut counts = Vec::new();
        for node in nodes {
            counts.push(match node {
                Some(node) => node.stored().await,
                None => 0,
            });
        }
        counts
    };
    let before = stored(nodes).await;
    let mut sensor = Device::connect_with(broker.addr, SENSORS[0], sensor_password).await;
    report(&mut sensor, &[20.0, 21.0, 31.0, 32.0, 33.0, 34.0, 35.0]).await;
    switched(lamp).await;
    // More readings above 30 on every node: still the one crossing.
    report(&mut sensor, &[36.0, 37.0, 38.0]).await;
    eventually("the readings are stored", || async {
        let now = stored(nodes).await;
        now.iter().sum::<u64>() >= before.iter().sum::<u64>() + 10
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(switch_commands(store).await, 1, "one crossing, one command");
    let after = stored(nodes).await;
    let shares: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    println!(
        "the sensor's 10 readings stored by the nodes: {shares:?}; coordinator: node {}",
        coordinator + 1
    );
    assert!(
        shares.iter().filter(|share| **share > 0).count() >= 2,
        "the readings landed on several nodes: {shares:?}"
    );

    // The coordinator dies (SIGKILL): another node takes the lease once it expires.
    nodes[coordinator].take().unwrap().kill().await;
    eventually("another node holds the lease", || async {
        holder().await.is_some_and(|holder| holder != coordinator)
    })
    .await;
    let successor = holder().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    report(&mut sensor, &[22.0, 39.0]).await;
    switched(lamp).await;
    eventually("the second crossing's command is recorded", || async {
        switch_commands(store).await == 2
    })
    .await;
    println!("node {} took over and commanded the lamp", successor + 1);
}

/// Readings of `temp`, QoS 1, each acknowledged by Mosquitto.
async fn report(sensor: &mut Device, values: &[f64]) {
    for value in values {
        let topic = format!("devices/{}/data", SENSORS[0]);
        let payload = serde_json::json!({ "temp": value }).to_string();
        assert_eq!(sensor.publish(&topic, payload).await, PubAckReason::Success);
    }
}

/// Waits for the lamp's next `switch` command.
async fn switched(lamp: &mut Device) {
    let topic = format!("devices/{LAMP}/commands/switch");
    lamp.next(
        |packet| matches!(packet, Packet::Publish(publish) if publish.topic == topic.as_bytes()),
    )
    .await;
}

/// The `switch` commands recorded for the lamp.
async fn switch_commands(store: &Arc<dyn Store>) -> usize {
    let lamp = hearth_model::DeviceId::new(LAMP).unwrap();
    let commands = store.commands(&lamp, 100).await.unwrap();
    commands
        .iter()
        .filter(|command| command.name == "switch")
        .count()
}
