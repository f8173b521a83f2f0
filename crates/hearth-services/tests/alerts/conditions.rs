//! The other conditions: a device offline, a smoke event with its acknowledgement, a
//! low battery with its hysteresis, and a failed command.

use super::*;

/// A device offline for 5 minutes raises an alert (the group's devices, by kind); it
/// clears when the device is back. A smoke event raises a critical alert that a member
/// acknowledges (audited) and that clears on `{"smoke": false}`.
async fn offline_and_smoke(backend: Backend) {
    let clock = Arc::new(ManualClock::new(NOON));
    let hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock.clone()).await;
    let secrets = add_devices(&hub, &["hall-sensor", "smoke-1"]).await;
    let offline = rule(
        &hub,
        json!({"group": "home", "name": "Offline", "severity": "minor",
            "condition": {"type": "offline", "for": 300}, "devices": ["hall-sensor"]}),
    )
    .await;
    let smoke = rule(
        &hub,
        json!({"group": "home", "name": "Smoke", "severity": "critical",
            "condition": {"type": "event", "device": "smoke-1", "matches": {"smoke": true},
                "clear_matches": {"smoke": false}},
            "message": "Smoke at {device}!"}),
    )
    .await;
    let sensor = TestDevice::connect(&hub, "hall-sensor", &secrets["hall-sensor"]).await;
    sensor.disconnect().await;
    tokio::time::timeout(DEADLINE, async {
        while hub
            .store()
            .device(&ids::device("hall-sensor"))
            .await
            .unwrap()
            .live
            .is_online
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    clock.advance(Duration::from_secs(301));
    let raised = alerts_until(&hub, &offline, |alerts| !alerts.is_empty()).await;
    assert_eq!(raised[0].device.as_str(), "hall-sensor");
    assert_eq!(raised[0].message, "hall-sensor is offline");
    let _back = TestDevice::connect(&hub, "hall-sensor", &secrets["hall-sensor"]).await;
    alerts_until(&hub, &offline, |alerts| {
        alerts[0].state == AlertState::Cleared
    })
    .await;

    let mut detector = TestDevice::connect(&hub, "smoke-1", &secrets["smoke-1"]).await;
    detector.event(r#"{"smoke": true}"#).await;
    let alerts = alerts_until(&hub, &smoke, |alerts| !alerts.is_empty()).await;
    assert_eq!(alerts[0].message, "Smoke at smoke-1!");
    let alice = ids::user("admin");
    let acknowledged = hub
        .alert_services()
        .acknowledge(&alerts[0].id, &alice)
        .await
        .unwrap();
    assert_eq!(acknowledged.state, AlertState::Acknowledged);
    let audit = hub
        .store()
        .audit(&hearth_store::AuditFilter {
            action_prefixes: vec!["alert.".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "alert.acknowledge");
    detector.event(r#"{"smoke": false}"#).await;
    let cleared = alerts_until(&hub, &smoke, |alerts| {
        alerts[0].state == AlertState::Cleared
    })
    .await;
    assert_eq!(cleared[0].acknowledged_by.as_ref(), Some(&alice));
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(offline_and_smoke);

/// A battery below 15 % raises an alert that clears only at 20 % (the default 5 points
/// of hysteresis); a command the lock answers with a failure raises one that its next
/// acknowledged command clears.
async fn battery_and_failed_commands(backend: Backend) {
    let clock = Arc::new(ManualClock::new(NOON));
    let hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock).await;
    let secrets = add_devices(&hub, &["lock"]).await;
    let battery = rule(
        &hub,
        json!({"group": "home", "name": "Battery low", "severity": "warning",
            "condition": {"type": "battery", "below": 15}, "devices": ["lock"]}),
    )
    .await;
    let failed = rule(
        &hub,
        json!({"group": "home", "name": "Lock failed", "severity": "major",
            "condition": {"type": "command", "device": "lock", "name": "unlock"}}),
    )
    .await;
    let mut lock = TestDevice::connect(&hub, "lock", &secrets["lock"]).await;
    lock.data(r#"{"battery": 12}"#).await;
    let raised = alerts_until(&hub, &battery, |alerts| !alerts.is_empty()).await;
    assert_eq!(raised[0].message, "lock battery is at 12%");
    lock.data(r#"{"battery": 18}"#).await;
    lock.data(r#"{"battery": 21}"#).await;
    let cleared = alerts_until(&hub, &battery, |alerts| {
        alerts[0].state == AlertState::Cleared
    })
    .await;
    assert_eq!(cleared.len(), 1);

    lock.client
        .subscribe(
            "devices/lock/commands/#",
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        )
        .await
        .unwrap();
    lock.next(
        |packet| matches!(packet, rumqttc::v5::mqttbytes::v5::Packet::SubAck(_)),
        "SUBACK",
    )
    .await;
    for ok in [false, true] {
        hub.commands()
            .send(
                "user:admin",
                &ids::device("lock"),
                "unlock",
                json!({}),
                None,
            )
            .await
            .unwrap();
        let command = lock
            .next(
                |packet| {
                    matches!(packet, rumqttc::v5::mqttbytes::v5::Packet::Publish(publish)
                        if &publish.topic[..] == b"devices/lock/commands/unlock")
                },
                "command",
            )
            .await;
        let rumqttc::v5::mqttbytes::v5::Packet::Publish(command) = command else {
            unreachable!()
        };
        let params: Value = serde_json::from_slice(&command.payload).unwrap();
        lock.publish(
            "commands/unlock/ack",
            &json!({"id": params["id"], "ok": ok, "error": "jammed"}).to_string(),
        )
        .await;
        if !ok {
            let raised = alerts_until(&hub, &failed, |alerts| !alerts.is_empty()).await;
            assert_eq!(raised[0].value, Some(json!("unlock failed")));
        }
    }
    alerts_until(&hub, &failed, |alerts| {
        alerts[0].state == AlertState::Cleared
    })
    .await;
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(battery_and_failed_commands);
