//! The coordinator (issue 21, docs/scale.md "The coordinator"): two nodes split a
//! device's readings, yet presence changes once and an automation fires once per
//! crossing, because one node (the lease's holder) watches every message and runs the
//! engines; "run now" through the other node reaches that engine; when that node is
//! killed the other takes over and the automation goes on.

use crate::harness::*;
use hearth_model::{DeviceId, now_millis};
use hearth_store::{Store, TimeRange};
use rumqttc::v5::mqttbytes::v5::PubAckReason;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const SENSOR: &str = "ext-c-sensor";
const LAMP: &str = "ext-c-lamp";

/// External mode with a short lease and heartbeat timeout, so that the test waits
/// seconds, not the defaults' minutes.
fn configure(dir: &Path, broker: std::net::SocketAddr) {
    write_config(dir, broker, HEARTH_PASSWORD);
    let path = dir.join("hearth.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str("\n[cluster]\nlease_secs = 3\n\n[ingest]\nheartbeat_timeout_secs = 4\n");
    std::fs::write(path, config).unwrap();
}

fn node_id(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("node-id"))
        .unwrap()
        .trim()
        .to_owned()
}

/// A lease holder is `<node id>.<random per start>`.
fn is_node(holder: &str, node: &str) -> bool {
    holder.split_once('.').is_some_and(|(id, _)| id == node)
}

async fn lamp_commands(store: &Arc<dyn Store>) -> usize {
    store
        .commands(&DeviceId::new(LAMP).unwrap(), 100)
        .await
        .unwrap()
        .len()
}

/// Publishes one reading per value, QoS 1, each acknowledged by Mosquitto.
async fn report(sensor: &mut Device, values: &[f64]) {
    for value in values {
        let reason = sensor
            .publish(
                &format!("devices/{SENSOR}/data"),
                json!({ "temp": value }).to_string(),
            )
            .await;
        assert_eq!(reason, PubAckReason::Success);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_coordinates_presence_and_automations_and_another_takes_over() {
    let broker = Mosquitto::start(&[SENSOR, LAMP]).await;
    let (database, _guard) = hearth_testkit::database_url(hearth_testkit::Backend::Postgres);
    let store = prepare(&database, &[SENSOR, LAMP]).await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for dir in &dirs {
        configure(dir.path(), broker.addr);
    }
    let mut nodes = vec![
        Some(serve(dirs[0].path(), &database).await.unwrap()),
        Some(serve(dirs[1].path(), &database).await.unwrap()),
    ];
    let ids = [node_id(dirs[0].path()), node_id(dirs[1].path())];
    let holder = async || {
        store
            .lease_holder(hearth_services::lease::COORDINATOR)
            .await
            .unwrap()
            .and_then(|(holder, _)| ids.iter().position(|id| is_node(&holder, id)))
    };
    eventually("one node holds the coordinator lease", || async {
        holder().await.is_some()
    })
    .await;
    let coordinator = holder().await;
    let coordinator = coordinator.unwrap();
    let standby = 1 - coordinator;
    let http = nodes[standby].as_ref().unwrap().http;
    let (status, cookie) = http_login(http).await;
    assert_eq!(status, 200);

    // The automation, created through the node that does NOT coordinate.
    let group = store.apps(None).await.unwrap()[0].group.to_string();
    let automation = json!({
        "group": group, "name": "Lamp on when warm",
        "triggers": [{"type": "reading", "device": SENSOR, "metric": "temp", "gt": 30.0}],
        "actions": [{"type": "command", "device": LAMP, "name": "switch", "params": {"on": true}, "wait": false}],
    });
    let (status, created) = http_json(
        http,
        "POST",
        "/api/v1/automations",
        &cookie,
        Some(automation),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let automation_id = created["id"].as_str().unwrap().to_owned();

    // Readings go to both nodes in turn (Mosquitto's shared subscription); the
    // crossing 20 -> 31 lands on one of them and is followed by others above 30
    // on both. The coordinator sees them all: one run, one command.
    let mut sensor = Device::connect(broker.addr, SENSOR).await;
    // Give the coordinator's engine the automation (it polls the registry).
    tokio::time::sleep(Duration::from_secs(2)).await;
    report(&mut sensor, &[20.0, 21.0, 31.0, 32.0, 33.0, 34.0]).await;
    eventually("the crossing commands the lamp", || async {
        lamp_commands(&store).await >= 1
    })
    .await;
    report(&mut sensor, &[35.0, 36.0]).await;
    // A second command would come from a node with half the story (no edge seen).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(lamp_commands(&store).await, 1, "one crossing, one command");

    // "Run now" through the node that does not coordinate: its API relays the request
    // to the coordinator's engine over the broker, and the answer (or the error) back.
    let (status, started) = http_json(
        http,
        "POST",
        &format!("/api/v1/automations/{automation_id}/run"),
        &cookie,
        None,
    )
    .await;
    assert_eq!(status, 202, "{started}");
    assert!(
        started["run"]
            .as_str()
            .is_some_and(|run| run.starts_with("r-")),
        "{started}"
    );
    eventually("the relayed run commands the lamp", || async {
        lamp_commands(&store).await == 2
    })
    .await;
    let (status, missing) = http_json(
        http,
        "POST",
        "/api/v1/automations/a-doesnotexist/run",
        &cookie,
        None,
    )
    .await;
    assert_eq!(status, 404, "{missing}");

    // Presence: online once, offline once after the heartbeat timeout, though both
    // nodes stored the sensor's readings.
    drop(sensor);
    eventually("the sensor goes offline after its timeout", || async {
        !store
            .device(&DeviceId::new(SENSOR).unwrap())
            .await
            .unwrap()
            .live
            .is_online
    })
    .await;
    let range = TimeRange {
        from_ms: 0,
        to_ms: now_millis() + 60_000,
    };
    let changes = store
        .status_history(&DeviceId::new(SENSOR).unwrap(), range, 100)
        .await
        .unwrap();
    let online: Vec<bool> = changes.iter().rev().map(|change| change.online).collect();
    assert_eq!(online, [true, false], "{changes:?}");

    // The coordinator dies; the other node takes the lease and the automation goes on.
    nodes[coordinator].take().unwrap().kill().await;
    eventually("the other node holds the lease", || async {
        store
            .lease_holder(hearth_services::lease::COORDINATOR)
            .await
            .unwrap()
            .is_some_and(|(holder, expires_at_ms)| {
                is_node(&holder, &ids[standby]) && expires_at_ms > now_millis()
            })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut sensor = Device::connect(broker.addr, SENSOR).await;
    report(&mut sensor, &[22.0, 37.0]).await;
    eventually("the new coordinator commands the lamp", || async {
        lamp_commands(&store).await == 3
    })
    .await;
    eventually("and keeps presence", || async {
        store
            .device(&DeviceId::new(SENSOR).unwrap())
            .await
            .unwrap()
            .live
            .is_online
    })
    .await;
    for node in nodes.into_iter().flatten() {
        node.kill().await;
    }
}

async fn http_login(addr: std::net::SocketAddr) -> (u16, String) {
    http(
        addr,
        "POST",
        "/api/v1/auth/login",
        "",
        Some(json!({"username": "admin", "password": OWNER_PASSWORD})),
    )
    .await
}

async fn http_json(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let (status, body) = http(addr, method, path, cookie, body).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}
