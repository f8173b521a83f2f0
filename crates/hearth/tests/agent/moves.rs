//! An agent with two hubs (issue 20, `hub = [home, cloud]`): it moves to the second
//! when the first is gone, readings made while neither answers wait in its disk queue
//! and reach the hub it gets to, in order with their times, and it moves back to the
//! first when that answers again.

use super::*;
use hearth_model::NewAuditEntry;
use hearth_testkit::start_hub_with;

/// A hub on a fixed MQTT address (the agent's list must stay valid across restarts).
async fn hub_at(mqtt: SocketAddr) -> TestHub {
    start_hub_with(Backend::Sqlite, |config| config.mqtt.listen = Some(mqtt)).await
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

async fn actions(hub: &TestHub) -> Vec<Value> {
    events(hub)
        .await
        .iter()
        .map(|event| event["action"].clone())
        .collect()
}

/// Each event once (by its `ts`: a reading the lost hub may have stored without the
/// agent seeing its acknowledgement is sent again to the next, at least once), as
/// (ts, action), oldest first.
async fn presses(hubs: &[&TestHub]) -> Vec<(i64, Value)> {
    let mut all = std::collections::BTreeMap::new();
    for hub in hubs {
        for message in messages(hub, MessageKind::Event).await {
            let value = json_of(&message);
            all.insert(value["ts"].as_i64().unwrap(), value["action"].clone());
        }
    }
    all.into_iter().collect()
}

async fn press(gpio: &SimGpio, high: bool) {
    assert!(gpio.set_input(CHIP, 5, high));
    // Distinct times, so that the order in history is the order of the presses.
    tokio::time::sleep(Duration::from_millis(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_moves_between_its_hubs_and_its_queue_follows() {
    let (home_addr, cloud_addr) = (free_port(), free_port());
    let mut home = hub_at(home_addr).await;
    let mut cloud = hub_at(cloud_addr).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = r#"
[[button]]
name = "b"
line = 5
debounce_ms = 0
release_action = "release"
"#;
    let config = setup(&home, home_addr, dir.path(), extra).await;
    // The same device, with the same secret, in the cloud's registry.
    add_devices(&cloud, &["pi1"]).await;
    let secret = std::fs::read_to_string(dir.path().join("secret")).unwrap();
    cloud
        .store()
        .set_device_secret(
            &ids::device("pi1"),
            &hearth_services::secret::hash_secret(&secret),
            &NewAuditEntry::new("test", "device.rotate", "pi1"),
        )
        .await
        .unwrap();
    cloud
        .authorizer()
        .refresh(cloud.bus().as_ref())
        .await
        .unwrap();
    let mut config = config;
    config.hub = hearth::agent::hubs::Hubs::Many(vec![
        format!("mqtt://{home_addr}"),
        format!("mqtt://{cloud_addr}"),
    ]);
    config.return_probe_secs = 1;
    let gpio = SimGpio::new();
    let agent = Agent::start(config, Arc::new(gpio.clone())).await.unwrap();
    connected(&agent).await;
    assert_eq!(agent.client().endpoint(), 0);
    press(&gpio, true).await;
    until("the first press at home", async || {
        actions(&home).await == vec![json!("press")]
    })
    .await;

    // Both hubs away (the cloud first, so that the agent leaving home finds no cloud
    // to connect to in the moment it stops): the readings wait on disk.
    cloud.shutdown_keeping_data().await;
    home.shutdown_keeping_data().await;
    let mut state = agent.client().state_changes();
    tokio::time::timeout(
        DEADLINE,
        state.wait_for(|state| *state != hearth_device::ConnectionState::Connected),
    )
    .await
    .expect("the agent noticed")
    .unwrap();
    let away = now_millis();
    press(&gpio, false).await;
    press(&gpio, true).await;
    until("two readings queued", async || {
        agent
            .stats()
            .queued
            .load(std::sync::atomic::Ordering::Relaxed)
            == 2
    })
    .await;

    // Only the cloud comes back: the agent gets there and sends its queue.
    cloud.restart().await;
    until("the queue at the cloud", async || {
        actions(&cloud)
            .await
            .ends_with(&[json!("release"), json!("press")])
    })
    .await;
    assert_eq!(agent.client().endpoint(), 1);
    for message in messages(&cloud, MessageKind::Event).await {
        assert!(message.received_at_ms >= away && !message.ts_clamped);
    }
    press(&gpio, false).await;
    until("a press made at the cloud", async || {
        actions(&cloud)
            .await
            .ends_with(&[json!("release"), json!("press"), json!("release")])
    })
    .await;

    // Home is back: the agent's probe finds it and it moves home.
    home.restart().await;
    until("the agent back home", async || {
        agent.client().is_connected() && agent.client().endpoint() == 0
    })
    .await;
    press(&gpio, true).await;
    until("a press at home again", async || {
        actions(&home).await == vec![json!("press"), json!("press")]
    })
    .await;
    // Nothing lost: the five presses, in order, across the two hubs.
    let all: Vec<Value> = presses(&[&home, &cloud])
        .await
        .into_iter()
        .map(|(_, action)| action)
        .collect();
    assert_eq!(
        all,
        ["press", "release", "press", "release", "press"].map(|action| json!(action))
    );
    assert_eq!(
        agent
            .stats()
            .queued
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    agent.shutdown().await;
    home.shutdown().await;
    cloud.shutdown().await;
}
