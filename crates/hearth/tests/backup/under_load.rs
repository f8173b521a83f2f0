//! A backup taken while three devices publish QoS 1 as fast as the hub acknowledges,
//! restored into a new directory (and on PostgreSQL a second database) and started:
//! every message acknowledged before the backup began is in history, the retained
//! message and a persistent session's queued message are there, the devices log in
//! again and the hub takes a new message.

use crate::{backup, restore, text};
use hearth::config::HearthConfig;
use hearth::hub::Hub;
use hearth_testkit::devices::{TestDevice, add_devices};
use hearth_testkit::{ADMIN_PASSWORD, Backend, start_hub_with};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(60);
const DEVICES: [&str; 6] = [
    "meter-a", "meter-b", "meter-c", "meter-d", "meter-e", "meter-f",
];

/// An MQTT 5 client of the test's own (the restored hub is not a `TestHub`).
struct Client {
    client: AsyncClient,
    events: EventLoop,
}

impl Client {
    /// Connects; `persistent` keeps the session for an hour after a disconnect.
    async fn connect(
        port: u16,
        id: &str,
        login: Option<(&str, &str)>,
        persistent: bool,
    ) -> (Client, bool) {
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        if let Some((user, password)) = login {
            options.set_credentials(user, password);
        }
        if persistent {
            options.set_clean_start(false);
            options.set_session_expiry_interval(Some(3600));
        }
        let (client, events) = AsyncClient::new(options, 64);
        let mut this = Client { client, events };
        let Packet::ConnAck(ack) = this
            .next(|packet| matches!(packet, Packet::ConnAck(_)))
            .await
        else {
            unreachable!()
        };
        assert_eq!(
            ack.code,
            rumqttc::v5::mqttbytes::v5::ConnectReturnCode::Success,
            "{id}"
        );
        (this, ack.session_present)
    }

    async fn next(&mut self, wanted: impl Fn(&Packet) -> bool) -> Packet {
        tokio::time::timeout(DEADLINE, async {
            loop {
                match self.events.poll().await {
                    Ok(Event::Incoming(packet)) if wanted(&packet) => return packet,
                    Ok(_) => {}
                    Err(error) => panic!("MQTT: {error:?}"),
                }
            }
        })
        .await
        .expect("an answer in time")
    }

    async fn publish(&mut self, topic: &str, payload: &str, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.to_owned())
            .await
            .unwrap();
        self.next(|packet| matches!(packet, Packet::PubAck(_)))
            .await;
    }

    async fn subscribe(&mut self, filter: &str) {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        self.next(|packet| matches!(packet, Packet::SubAck(_)))
            .await;
    }

    async fn message(&mut self, topic: &str) -> rumqttc::v5::mqttbytes::v5::Publish {
        let Packet::Publish(publish) = self
            .next(|packet| matches!(packet, Packet::Publish(p) if p.topic == topic.as_bytes()))
            .await
        else {
            unreachable!()
        };
        publish
    }

    async fn disconnect(mut self) {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while self.events.poll().await.is_ok() {}
        })
        .await;
    }
}

/// The stored `n` of each data message of `device`.
async fn stored(hub: &Hub, device: &str) -> BTreeSet<u64> {
    hub.store()
        .messages(&hearth_store::MessageQuery {
            device: hearth_model::DeviceId::new(device).unwrap(),
            kind: Some(hearth_model::MessageKind::Data),
            range: hearth_store::TimeRange {
                from_ms: 0,
                to_ms: i64::MAX,
            },
            limit: u32::MAX,
        })
        .await
        .unwrap()
        .iter()
        .map(|message| {
            let value: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
            value["n"].as_u64().unwrap()
        })
        .collect()
}

async fn backup_under_load_restores_everything_acknowledged(backend: Backend) {
    let databases = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some((pg::Database::create("src"), pg::Database::create("dst"))),
        // `hearth backup` refuses MariaDB and says what to run instead (`mariadb.rs`).
        Backend::MariaDb => unreachable!("no backup under load on MariaDB"),
    };
    let (mut data_dir, mut database) = (PathBuf::new(), None);
    let source_url = databases.as_ref().map(|(source, _)| source.url.clone());
    let hub = start_hub_with(backend, |config| {
        config.mqtt.auth.allow_anonymous = true;
        // Full-rate ingest (issue 16): devices are not held to the per-device default.
        config.mqtt.rate_limits.enabled = false;
        if let Some(url) = source_url {
            config.database = Some(url);
        }
        data_dir = config.data_dir.clone();
        database = config.database.clone();
    })
    .await;
    let port = hub.mqtt().port();
    let secrets = add_devices(&hub, &DEVICES).await;

    // A persistent session with a message queued while it is away, and a retained one.
    let (keeper, _) = Client::connect(port, "keeper", None, true).await;
    let mut keeper = keeper;
    keeper.subscribe("backup/queue").await;
    keeper.disconnect().await;
    let (mut publisher, _) = Client::connect(port, "publisher", None, false).await;
    publisher.publish("backup/queue", "queued-1", false).await;
    publisher.publish("backup/retained", "kept", true).await;
    publisher.disconnect().await;

    // Full rate: each device publishes its next reading as soon as the last is acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<parking_lot::Mutex<HashMap<String, BTreeSet<u64>>>> = Arc::default();
    let mut tasks = Vec::new();
    for id in DEVICES {
        let mut device = TestDevice::connect(&hub, id, &secrets[id]).await;
        let (stop, acked) = (stop.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                device.data(&format!("{{\"n\":{n}}}")).await;
                acked.lock().entry(device.id.clone()).or_default().insert(n);
                n += 1;
            }
            device.disconnect().await;
        }));
    }
    // Some of each device's messages are in before the backup begins.
    tokio::time::timeout(DEADLINE, async {
        while DEVICES
            .iter()
            .any(|id| acked.lock().get(*id).is_none_or(|set| set.len() < 150))
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the devices publish");

    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("hub.tar.gz");
    let before = acked.lock().clone();
    let started = std::time::Instant::now();
    let output = backup(&file, &data_dir, database.as_deref()).await;
    let took = started.elapsed();
    let during = acked.lock().values().map(BTreeSet::len).sum::<usize>()
        - before.values().map(BTreeSet::len).sum::<usize>();
    assert!(output.status.success(), "{}", text(&output));
    // Ingest goes on after the backup: every device gets more acknowledgements.
    let after_backup = acked.lock().clone();
    tokio::time::timeout(DEADLINE, async {
        while DEVICES
            .iter()
            .any(|id| acked.lock()[*id].len() < after_backup[*id].len() + 10)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the devices keep publishing after the backup");
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    assert!(
        text(&output).contains("from the running hub"),
        "{}",
        text(&output)
    );
    eprintln!(
        "{backend:?}: {} messages acknowledged before the backup, {during} during it, backup took {:?}",
        before.values().map(BTreeSet::len).sum::<usize>(),
        took
    );
    hub.shutdown().await;

    let restored = work.path().join("restored");
    let target = databases.as_ref().map(|(_, target)| target.url.as_str());
    let output = restore(&file, &restored, target).await;
    assert!(output.status.success(), "{}", text(&output));
    if let Some(url) = target {
        // The database is not empty now: a second restore is refused without --force.
        let again = restore(&file, &work.path().join("other"), Some(url)).await;
        assert!(!again.status.success());
        assert!(text(&again).contains("not empty"), "{}", text(&again));
    }

    let mut config = HearthConfig {
        data_dir: restored.clone(),
        database: target.map(str::to_owned),
        http: None,
        mqtt: hearth_broker::BrokerConfig::ephemeral(),
        ..HearthConfig::default()
    };
    config.mqtt.auth.allow_anonymous = true;
    let hub = Hub::start(config, Some(ADMIN_PASSWORD.to_owned()))
        .await
        .expect("the restored hub starts");
    let port = hub.addrs().mqtt.unwrap().port();
    for id in DEVICES {
        let have = stored(&hub, id).await;
        let missing: Vec<_> = before[id].difference(&have).collect();
        assert!(
            missing.is_empty(),
            "{id}: acknowledged before the backup but not restored: {missing:?}"
        );
    }
    let (mut keeper, session_present) = Client::connect(port, "keeper", None, true).await;
    assert!(session_present, "the persistent session survived");
    assert_eq!(
        keeper.message("backup/queue").await.payload.as_ref(),
        b"queued-1"
    );
    let (mut reader, _) = Client::connect(port, "reader", None, false).await;
    reader.subscribe("backup/retained").await;
    let retained = reader.message("backup/retained").await;
    assert!(retained.retain);
    assert_eq!(retained.payload.as_ref(), b"kept");
    // The devices log in with their old secrets, and the hub stores what they send.
    for id in DEVICES {
        let (mut device, _) = Client::connect(port, id, Some((id, &secrets[id])), false).await;
        device
            .publish(&format!("devices/{id}/data"), "{\"n\":1000000}", false)
            .await;
        device.disconnect().await;
        assert!(
            stored(&hub, id).await.contains(&1_000_000),
            "{id}: the new message is stored"
        );
    }
    keeper.disconnect().await;
    reader.disconnect().await;
    hub.shutdown().await;
    if let Some(url) = target {
        // --force restores over the database again (pg_restore --clean): the message
        // sent after the restore is gone, everything from the backup is back.
        let output = crate::hearth(&[
            "restore".as_ref(),
            file.as_os_str(),
            "--force".as_ref(),
            "--data-dir".as_ref(),
            restored.as_os_str(),
            "--database".as_ref(),
            url.as_ref(),
        ])
        .await;
        assert!(output.status.success(), "{}", text(&output));
        let mut config = HearthConfig {
            data_dir: restored.clone(),
            database: Some(url.to_owned()),
            http: None,
            mqtt: hearth_broker::BrokerConfig::ephemeral(),
            ..HearthConfig::default()
        };
        config.mqtt.auth.allow_anonymous = true;
        let hub = Hub::start(config, Some(ADMIN_PASSWORD.to_owned()))
            .await
            .unwrap();
        for id in DEVICES {
            let have = stored(&hub, id).await;
            assert!(!have.contains(&1_000_000), "{id}");
            assert!(before[id].is_subset(&have), "{id}");
        }
        hub.shutdown().await;
    }
    drop(databases);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_load_sqlite() {
    backup_under_load_restores_everything_acknowledged(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_under_load_postgres() {
    backup_under_load_restores_everything_acknowledged(Backend::Postgres).await;
}

/// Databases of their own for the PostgreSQL run: `pg_dump` copies a whole database,
/// and the shared test database holds other tests' schemas coming and going.
mod pg {
    use sqlx::Connection;

    pub struct Database {
        pub url: String,
        name: String,
        base: String,
    }

    impl Database {
        pub fn create(role: &str) -> Database {
            let base = std::env::var(hearth_testkit::POSTGRES_ENV).expect(
                "HEARTH_TEST_POSTGRES names a PostgreSQL database (scripts/test-postgres.sh)",
            );
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos();
            let name = format!("backup_{role}_{}_{nanos}", std::process::id());
            run(&base, format!("CREATE DATABASE {name}"));
            let (head, query) = base
                .split_once('?')
                .map_or((base.as_str(), None), |(h, q)| (h, Some(q)));
            let slash = head.rfind('/').expect("a database in the URL");
            let mut url = format!("{}/{name}", &head[..slash]);
            if let Some(query) = query {
                url = format!("{url}?{query}");
            }
            Database { url, name, base }
        }
    }

    impl Drop for Database {
        fn drop(&mut self) {
            // Best effort: a leftover database only costs the throw-away cluster space.
            let _ = std::panic::catch_unwind(|| {
                run(
                    &self.base,
                    format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
                )
            });
        }
    }

    fn run(url: &str, sql: String) {
        let url = url.to_owned();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut connection = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut connection)
                    .await
                    .unwrap();
                let _ = connection.close().await;
            });
        })
        .join()
        .unwrap();
    }
}
