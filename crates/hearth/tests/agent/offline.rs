//! The hub away: the on-disk queue, original times, late reports.

use super::*;

/// A TCP relay in front of the hub's MQTT listener, so that the agent keeps one address
/// while the hub restarts on a new port.
async fn relay_to(target: Arc<parking_lot::Mutex<SocketAddr>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let to = *target.lock();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    address
}

#[tokio::test]
async fn readings_made_while_the_hub_is_down_arrive_later_with_their_times() {
    let mut hub = hearth_testkit::start_hub(Backend::Sqlite).await;
    let target = Arc::new(parking_lot::Mutex::new(hub.mqtt()));
    let relay = relay_to(target.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    // Three readings fit; the fourth made offline drops the oldest.
    let extra = r#"max_readings = 3

[[button]]
name = "b"
line = 5
debounce_ms = 0
release_action = "release"
"#;
    let config = setup(&hub, relay, dir.path(), extra).await;
    let gpio = SimGpio::new();
    let agent = Agent::start(config.clone(), Arc::new(gpio.clone()))
        .await
        .unwrap();
    connected(&agent).await;

    hub.shutdown_keeping_data().await;
    let mut state = agent.client().state_changes();
    tokio::time::timeout(
        DEADLINE,
        state.wait_for(|state| *state != hearth_device::ConnectionState::Connected),
    )
    .await
    .expect("the agent noticed")
    .unwrap();
    let started_offline = now_millis();
    for high in [true, false, true, false] {
        assert!(gpio.set_input(CHIP, 5, high));
        // Distinct times, so that the order in history is the order of the presses.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    until("four readings offered to the queue", async || {
        let stats = agent.stats();
        stats.queued.load(std::sync::atomic::Ordering::Relaxed)
            + stats.dropped.load(std::sync::atomic::Ordering::Relaxed)
            == 4
    })
    .await;
    assert_eq!(
        agent
            .stats()
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // The agent restarts while the hub is still away: the queue is on disk.
    agent.shutdown().await;
    let gpio = SimGpio::new();
    let agent = Agent::start(config, Arc::new(gpio.clone())).await.unwrap();
    assert_eq!(
        agent
            .stats()
            .queued
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    let came_back = now_millis();
    hub.restart().await;
    *target.lock() = hub.mqtt();
    until("the queued readings in history", async || {
        events(&hub).await.len() >= 3
    })
    .await;
    let stored = messages(&hub, MessageKind::Event).await;
    let actions: Vec<Value> = stored
        .iter()
        .map(|m| json_of(m)["action"].clone())
        .collect();
    assert_eq!(
        actions,
        vec![json!("release"), json!("press"), json!("release")],
        "the oldest (the first press) was dropped"
    );
    for message in &stored {
        assert!(
            (started_offline..came_back).contains(&message.received_at_ms),
            "stored at the time it was made, not when it arrived"
        );
        assert!(!message.ts_clamped);
    }
    assert!(
        stored
            .windows(2)
            .all(|w| w[0].received_at_ms < w[1].received_at_ms),
        "in order"
    );
    until("the queue emptied", async || {
        agent
            .stats()
            .queued
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
    })
    .await;
    assert_eq!(
        std::fs::metadata(dir.path().join("queue.jsonl"))
            .unwrap()
            .len(),
        0
    );
    agent.shutdown().await;
    hub.shutdown().await;
}

#[tokio::test]
async fn a_late_queued_event_is_history_but_triggers_no_automation() {
    let hub = hearth_testkit::start_hub(Backend::Sqlite).await;
    let secrets = add_devices(&hub, &["pi1"]).await;
    let automations = hearth_services::automations::Automations::new(hub.store());
    let spec = serde_json::from_value(json!({
        "group": "home", "name": "Doorbell", "mode": "parallel",
        "triggers": [{"type": "event", "device": "pi1", "matches": {"button": "doorbell"}}],
        "actions": [{"type": "notify", "message": "ding"}]
    }))
    .unwrap();
    let automation = automations.create("cli:test", spec).await.unwrap();
    hub.engine().reload().await.unwrap();
    let mut device =
        hearth_testkit::devices::TestDevice::connect(&hub, "pi1", &secrets["pi1"]).await;
    // Pressed an hour ago while the hub was away, then pressed now.
    let hour_ago = now_millis() - 3_600_000;
    device
        .event(&format!(r#"{{"button": "doorbell", "ts": {hour_ago}}}"#))
        .await;
    device.event(r#"{"button": "doorbell"}"#).await;
    until("the current press's run", async || {
        !automations
            .runs(&automation.id, 10)
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    let stored = messages(&hub, MessageKind::Event).await;
    assert_eq!(stored.len(), 2, "both in history");
    assert_eq!(stored[0].received_at_ms, hour_ago);
    // Reports reach the engine in order: the late one came first and was skipped.
    let runs = automations.runs(&automation.id, 10).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    hub.shutdown().await;
}
