//! The proof at its scale: 100 devices at home report QoS 1 through a 60-second
//! outage of the cloud, which is a real `hearth serve` process of its own, stopped with
//! SIGSTOP and then killed with SIGKILL while stopped, after the link was first cut
//! mid-stream by the proxy. The home hub logs in as a real site. When the cloud is back,
//! its store holds every message acknowledged at home, first arrivals in order per
//! device, each at the time the home received it (compared with the home's own history).

use crate::harness::*;
use crate::proxy::Proxy;
use hearth_model::{MessageKind, Millis, NewAuditEntry, Site, SiteId, now_millis};
use hearth_services::registry::{DeviceSpec, Registry};
use hearth_services::secret::hash_secret;
use hearth_store::{MessageQuery, Store, TimeRange};
use hearth_testkit::devices::TestDevice;
use hearth_testkit::ids;
use rumqttc::v5::mqttbytes::v5::PubAckReason;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const DEVICES: usize = 100;
/// Between two readings of one device: 100 devices make about 200 messages a second.
const EVERY: Duration = Duration::from_millis(500);
const OUTAGE: Duration = Duration::from_secs(60);
/// Of the outage, the part the cloud spends stopped (SIGSTOP) before it is killed.
const STOPPED: Duration = Duration::from_secs(20);
const ALL: TimeRange = TimeRange {
    from_ms: 0,
    to_ms: i64::MAX,
};

/// The cloud's registry before its first start: the owner, group `home` with its
/// default application, site [`SITE`] with [`SITE_SECRET`], and the devices in the site
/// with the home's secret hashes.
async fn prepare_cloud(database: &str, hashes: &HashMap<String, String>) {
    let store = hearth_store::open(database).await.unwrap();
    let registry = Registry::new(store.clone());
    registry
        .ensure_owner(Some("cloud-owner".into()))
        .await
        .unwrap();
    let site = Site {
        id: SiteId::new(SITE).unwrap(),
        group: ids::group("home"),
        name: SITE.to_owned(),
        enabled: true,
        created_at_ms: now_millis(),
        last_seen_ms: None,
    };
    store
        .create_site(
            &site,
            &hash_secret(SITE_SECRET),
            &NewAuditEntry::new("test", "site.create", SITE),
        )
        .await
        .unwrap();
    let specs = hashes
        .keys()
        .map(|id| DeviceSpec::new(ids::device(id)))
        .collect();
    registry.add_devices("test", specs, &|_| {}).await.unwrap();
    for (id, hash) in hashes {
        let id = ids::device(id);
        store
            .set_device_secret(&id, hash, &NewAuditEntry::new("test", "device.rotate", &id))
            .await
            .unwrap();
        registry
            .set_device_site("test", &id, Some(&site.id))
            .await
            .unwrap();
    }
}

/// `hearth serve` for the cloud on `mqtt` (the same port after a restart), waiting for
/// its `ready` line.
async fn serve_cloud(dir: &Path, database: &str, mqtt: std::net::SocketAddr) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["serve", "--print-addrs", "--ws", "off", "--http", "off"])
        .arg(format!("--mqtt={mqtt}"))
        .arg(format!("--database={database}"))
        .arg("--data-dir")
        .arg(dir)
        .current_dir(dir)
        .env_remove("HEARTH_LOG")
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("hearth starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line == "ready" {
                return;
            }
        }
        panic!("the cloud hub ended before it was ready");
    })
    .await
    .expect("the cloud hub prints ready");
    // Keep reading, so that the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

fn signal(child: &Child, name: &str) {
    let pid = child.id().expect("the cloud runs").to_string();
    let status = std::process::Command::new("kill")
        .args([name, &pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill {name} {pid}");
}

/// Each device publishes `{"n": n}` for n = 0, 1, ... every [`EVERY`] until `stop`,
/// and returns how many the home acknowledged (all of them must be).
fn report(mut device: TestDevice, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            assert_eq!(publish(&mut device, n).await, PubAckReason::Success);
            n += 1;
            tokio::time::sleep(EVERY).await;
        }
        n
    })
}

/// Per device, its data messages' `n` with the stored time, in arrival order.
async fn stored(store: &Arc<dyn Store>, device: &str) -> Vec<(u64, Millis)> {
    let mut messages = store
        .messages(&MessageQuery {
            device: ids::device(device),
            kind: Some(MessageKind::Data),
            range: ALL,
            limit: u32::MAX,
        })
        .await
        .unwrap();
    messages.sort_by_key(|message| message.seq);
    messages
        .iter()
        .map(|message| {
            let value: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
            (value["n"].as_u64().unwrap(), message.received_at_ms)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_devices_through_a_sixty_second_outage_of_a_cloud_process() {
    let cloud_dir = tempfile::tempdir().unwrap();
    let (database, _database_guard) = hearth_testkit::database_url(hearth_testkit::Backend::Sqlite);
    let cloud_addr = free_port();
    let proxy = Proxy::start(Some(cloud_addr)).await;
    let home = start_home(bridge_config(proxy.addr)).await;

    let ids: Vec<String> = (0..DEVICES).map(|i| format!("s{i:03}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let secrets = hearth_testkit::devices::add_devices(&home, &id_refs).await;
    let mut hashes = HashMap::new();
    for (id, secret) in &secrets {
        let hash = hash_secret(secret);
        let device = ids::device(id);
        home.store()
            .set_device_secret(
                &device,
                &hash,
                &NewAuditEntry::new("test", "device.rotate", &device),
            )
            .await
            .unwrap();
        hashes.insert(id.clone(), hash);
    }
    home.authorizer()
        .refresh(home.bus().as_ref())
        .await
        .unwrap();
    prepare_cloud(&database, &hashes).await;
    let mut cloud = serve_cloud(cloud_dir.path(), &database, cloud_addr).await;
    wait_status(&home, "up", |status| status.up).await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut reporters = Vec::new();
    for id in &ids {
        let device = TestDevice::connect(&home, id, &secrets[id]).await;
        reporters.push(report(device, stop.clone()));
    }

    // 1. Mid-stream, the proxy drops the link; it reconnects.
    wait_status(&home, "messages flowing", |status| {
        status.acked_total >= 400
    })
    .await;
    proxy.cut();
    wait_status(&home, "reconnected after the cut", |status| {
        status.up && status.connects_total >= 2 && status.acked_total >= 800
    })
    .await;

    // 2. The outage: the cloud stopped, then killed while stopped, then started again.
    let acked_before = home.bridge_status().unwrap().acked_total;
    signal(&cloud, "-STOP");
    tokio::time::sleep(STOPPED).await;
    signal(&cloud, "-KILL");
    let _ = cloud.wait().await;
    tokio::time::sleep(OUTAGE - STOPPED).await;
    let during = home.bridge_status().unwrap();
    assert!(
        !during.up,
        "the link is down while the cloud is: {during:?}"
    );
    assert!(
        during.queued_messages >= 5_000,
        "a minute of 100 devices waits in the queue: {during:?}"
    );
    let mut cloud = serve_cloud(cloud_dir.path(), &database, cloud_addr).await;

    // 3. A few more seconds of reporting with the link back, then every device stops.
    wait_status(&home, "up again", |status| {
        status.up && status.acked_total > acked_before
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let mut sent: HashMap<String, u64> = HashMap::new();
    for (id, reporter) in ids.iter().zip(reporters) {
        sent.insert(id.clone(), reporter.await.unwrap());
    }
    let total: u64 = sent.values().sum();
    wait_status(&home, "the queue empty", |status| {
        status.queued_messages == 0
    })
    .await;
    let status = home.bridge_status().unwrap();
    assert_eq!(status.dropped_total + status.refused_total, 0, "{status:?}");
    assert_eq!(
        status.rejected_total, 0,
        "the cloud refused nothing: {status:?}"
    );

    // 4. The cloud's store against the home's: every acknowledged message, first
    //    arrivals in order, each at the home's receive time.
    signal(&cloud, "-TERM");
    let _ = cloud.wait().await;
    let cloud_store = hearth_store::open(&database).await.unwrap();
    let home_store = home.store();
    let mut duplicates = 0;
    for id in &ids {
        let at_home: BTreeMap<u64, Millis> = stored(&home_store, id).await.into_iter().collect();
        assert_eq!(at_home.len() as u64, sent[id], "{id}: the home stored each");
        let in_cloud = stored(&cloud_store, id).await;
        let mut first: Vec<u64> = Vec::new();
        for (n, at_ms) in &in_cloud {
            assert_eq!(
                Some(at_ms),
                at_home.get(n),
                "{id}: message {n} is stored in the cloud at the home's time"
            );
            if first.contains(n) {
                duplicates += 1;
            } else {
                first.push(*n);
            }
        }
        let expected: Vec<u64> = (0..sent[id]).collect();
        assert_eq!(first, expected, "{id}: every message, in order");
    }
    println!(
        "{total} messages of {DEVICES} devices, {} queued during the outage, {duplicates} \
         stored twice in the cloud (at least once), link connects {}",
        during.queued_messages, status.connects_total
    );
    home.shutdown().await;
}
