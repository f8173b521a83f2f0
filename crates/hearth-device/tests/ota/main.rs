//! Firmware updates end to end (issue 17): a real hub (`hearth_testkit`), real MQTT
//! devices running the device-side `OtaHandler` with the simulator's installer, and
//! the HTTP API as people use it. Plus the intruder rows of docs/security.md.

mod support;

use hearth_model::Role;
use hearth_services::registry::NewUser;
use hearth_testkit::{ADMIN_PASSWORD, Backend, ids};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use support::*;

#[tokio::test]
async fn a_rollout_to_five_devices_ends_four_updated_one_failed_checksum_mismatch_sqlite() {
    five_devices_one_checksum_mismatch(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_rollout_to_five_devices_ends_four_updated_one_failed_checksum_mismatch_postgres() {
    five_devices_one_checksum_mismatch(Backend::Postgres).await;
}

#[tokio::test]
async fn a_rollout_to_five_devices_ends_four_updated_one_failed_checksum_mismatch_mariadb() {
    five_devices_one_checksum_mismatch(Backend::MariaDb).await;
}

async fn five_devices_one_checksum_mismatch(backend: Backend) {
    let hub = hearth_testkit::start_hub(backend).await;
    let secrets = setup(&hub, 6).await;
    let dir = tempfile_dir();
    let mut devices = HashMap::new();
    // x6 stays away (never connects): the rollout that is stopped waits for it.
    for n in 1..=5 {
        let id = format!("x{n}");
        devices.insert(
            id.clone(),
            run_device(&hub, &id, &secrets[&id], dir.path()).await,
        );
    }
    devices["x2"]
        .corrupt
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let admin = login(&hub, "admin", ADMIN_PASSWORD).await;
    // What the web app's MQTT carries: group x's rollout changes, as they happen.
    let mut live = hub.bus().subscribe("hearth/rollouts/x").await.unwrap();

    let bytes = image(300_000);
    let uploaded = upload(&hub, &admin, "2.0.0", &bytes).await;
    assert_eq!(
        uploaded.status,
        201,
        "{}",
        String::from_utf8_lossy(&uploaded.body)
    );
    let firmware = uploaded.json();
    assert_eq!(firmware["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(firmware["size"], bytes.len());

    // x1..x5 (x6 is in the group too, but offline: target it by app below instead).
    // A first wave of 30 % of six: x1 and x2; x2 fails, so the rest waits for a continue.
    let started = json_request(
        &hub,
        "POST",
        "/api/v1/rollouts",
        &admin,
        json!({"firmware": firmware["id"], "kind": "relay", "group": "x", "percentage_first": 30}),
    )
    .await;
    assert_eq!(
        started.status,
        201,
        "{}",
        String::from_utf8_lossy(&started.body)
    );
    let rollout = started.json()["rollout"]["id"].as_str().unwrap().to_owned();
    let view = rollout_until(&hub, &admin, &rollout, |view| {
        state_of(view, "x1") == "succeeded" && state_of(view, "x2") == "failed"
    })
    .await;
    assert_eq!(view["rollout"]["state"], "firstwave");
    for waiting in ["x3", "x4", "x5", "x6"] {
        assert_eq!(
            state_of(&view, waiting),
            "pending",
            "{waiting} waits for the first wave"
        );
    }
    // The offline x6 is part of it: continue, then stop while x6 has not come.
    let continued = json_request(
        &hub,
        "POST",
        &format!("/api/v1/rollouts/{rollout}/continue"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(
        continued.status,
        200,
        "{}",
        String::from_utf8_lossy(&continued.body)
    );
    let view = rollout_until(&hub, &admin, &rollout, |view| {
        ["x3", "x4", "x5"]
            .iter()
            .all(|id| state_of(view, id) == "succeeded")
    })
    .await;
    let x6_token = latest_token(&hub, "x6").await;
    let stopped = json_request(
        &hub,
        "POST",
        &format!("/api/v1/rollouts/{rollout}/stop"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(stopped.status, 200);
    let view_after_stop = stopped.json();
    assert_eq!(view_after_stop["rollout"]["state"], "stopped");
    assert_eq!(state_of(&view_after_stop, "x6"), "stopped");
    assert_eq!(
        view_after_stop["summary"]["text"],
        "4 updated, 1 failed: checksum mismatch, 1 stopped"
    );
    // The stopped device's token no longer downloads anything.
    let refused = http(
        &hub,
        "GET",
        &format!("/api/v1/firmware/download/{x6_token}"),
        None,
        "text/plain",
        b"",
    )
    .await;
    assert_eq!(refused.status, 404);
    let _ = view;

    for id in ["x1", "x3", "x4", "x5"] {
        assert_eq!(
            devices[id].installer.version().as_deref(),
            Some("2.0.0"),
            "{id}"
        );
    }
    assert_eq!(
        devices["x2"].installer.version(),
        None,
        "x2 never installed a bad image"
    );

    // Five devices, one fails: the summary the issue asks for (a rollout without x6).
    let second = upload(&hub, &admin, "2.1.0", &image(50_000)).await.json();
    let started = json_request(
        &hub,
        "POST",
        "/api/v1/rollouts",
        &admin,
        json!({"firmware": second["id"], "app": "xapp", "percentage_first": 100}),
    )
    .await;
    let rollout2 = started.json()["rollout"]["id"].as_str().unwrap().to_owned();
    // x6 is offline: stop waiting for it by stopping only after the five ended.
    let view = rollout_until(&hub, &admin, &rollout2, |view| {
        view["summary"]["succeeded"] == 4 && view["summary"]["failed"] == 1
    })
    .await;
    let five: Vec<&Value> = view["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|target| target["device"] != "x6")
        .collect();
    let summary = hearth_model::RolloutSummary::of(
        &five
            .iter()
            .map(|target| serde_json::from_value((*target).clone()).unwrap())
            .collect::<Vec<_>>(),
    );
    assert_eq!(summary.text, "4 updated, 1 failed: checksum mismatch");
    assert_eq!(
        view["summary"]["failures"],
        json!([["checksum mismatch", 1]])
    );

    // Every change was announced on hearth/rollouts/x, the failure with its reason.
    let mut announced = Vec::new();
    while let Ok(envelope) = live.receiver.try_recv() {
        let message: Value = serde_json::from_slice(&envelope.payload).unwrap();
        for target in message["targets"].as_array().unwrap() {
            announced.push(format!(
                "{} {} {}",
                message["rollout"]["id"].as_str().unwrap(),
                target["device"].as_str().unwrap(),
                target["state"].as_str().unwrap()
            ));
            if target["state"] == "failed" {
                assert_eq!(target["error"], "checksum mismatch");
            }
        }
    }
    for device in ["x1", "x3", "x4", "x5"] {
        assert!(
            announced.contains(&format!("{rollout2} {device} succeeded")),
            "{announced:?}"
        );
    }
    assert!(
        announced.contains(&format!("{rollout2} x2 failed")),
        "{announced:?}"
    );
    assert!(
        announced.contains(&format!("{rollout} x6 stopped")),
        "{announced:?}"
    );

    // Retry: x2's download is whole now; its old token stops working.
    let old_token = latest_token(&hub, "x2").await;
    devices["x2"]
        .corrupt
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let retried = json_request(
        &hub,
        "POST",
        &format!("/api/v1/rollouts/{rollout2}/retry"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(retried.status, 200);
    let view = rollout_until(&hub, &admin, &rollout2, |view| {
        state_of(view, "x2") == "succeeded"
    })
    .await;
    let x2 = view["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["device"] == "x2")
        .unwrap()
        .clone();
    assert_eq!(x2["attempts"], 2);
    assert_eq!(x2["reported_version"], "2.1.0");
    assert_eq!(devices["x2"].installer.version().as_deref(), Some("2.1.0"));
    let stale = http(
        &hub,
        "GET",
        &format!("/api/v1/firmware/download/{old_token}"),
        None,
        "text/plain",
        b"",
    )
    .await;
    assert_eq!(stale.status, 404);

    // Deleting an image a rollout uses is refused; everything was audited.
    let refused = http(
        &hub,
        "DELETE",
        &format!("/api/v1/firmware/{}", second["id"].as_str().unwrap()),
        Some(&admin),
        "text/plain",
        b"",
    )
    .await;
    assert_eq!(refused.status, 409);
    let audit = hub.store().audit(&Default::default()).await.unwrap();
    for action in [
        "firmware.upload",
        "rollout.create",
        "rollout.continue",
        "rollout.stop",
        "rollout.retry",
    ] {
        assert!(
            audit.iter().any(|entry| entry.action == action),
            "{action} audited"
        );
    }
    for device in devices.values() {
        device.client.shutdown().await;
    }
    hub.shutdown().await;
}

#[tokio::test]
async fn intruders_are_refused() {
    let hub = hearth_testkit::start_hub(Backend::Sqlite).await;
    let secrets = setup(&hub, 2).await;
    let dir = tempfile_dir();
    let x1 = run_device(&hub, "x1", &secrets["x1"], dir.path()).await;
    let admin = login(&hub, "admin", ADMIN_PASSWORD).await;

    // Carol is an admin of group x only.
    hub.registry()
        .add_user(
            "test",
            NewUser {
                name: ids::user("carol"),
                password: Some("carol-password-123".into()),
                display_name: None,
                email: None,
                language: None,
                is_admin: false,
            },
        )
        .await
        .unwrap();
    hub.registry()
        .set_member("test", &ids::group("x"), &ids::user("carol"), Role::Admin)
        .await
        .unwrap();
    let carol = login(&hub, "carol", "carol-password-123").await;

    // A non-admin may not upload firmware.
    let denied = upload(&hub, &carol, "9.9.9", &image(1_000)).await;
    assert_eq!(denied.status, 403);
    assert!(hub.store().firmware_list().await.unwrap().is_empty());

    let firmware = upload(&hub, &admin, "2.0.0", &image(10_000)).await.json();
    let id = firmware["id"].as_str().unwrap();
    // Carol may not roll out to group y's devices, by device, kind or application.
    for targets in [
        json!({"device": "y1"}),
        json!({"kind": "relay", "group": "y"}),
        json!({"app": "yapp"}),
    ] {
        let mut body = targets.clone();
        body["firmware"] = json!(id);
        let refused = json_request(&hub, "POST", "/api/v1/rollouts", &carol, body).await;
        assert_eq!(
            refused.status,
            404,
            "{targets}: {}",
            String::from_utf8_lossy(&refused.body)
        );
    }
    assert!(hub.store().rollouts().await.unwrap().is_empty());
    // ... but to her own group's.
    let mine = json_request(
        &hub,
        "POST",
        "/api/v1/rollouts",
        &carol,
        json!({"firmware": id, "device": "x1"}),
    )
    .await;
    assert_eq!(mine.status, 201, "{}", String::from_utf8_lossy(&mine.body));
    let rollout = mine.json()["rollout"]["id"].as_str().unwrap().to_owned();
    rollout_until(&hub, &carol, &rollout, |view| {
        state_of(view, "x1") == "succeeded"
    })
    .await;

    // Download tokens: unknown, finished, expired all answer the same 404.
    let x1_token = latest_token(&hub, "x1").await;
    for token in ["nope", x1_token.as_str(), &"A".repeat(40)] {
        let refused = http(
            &hub,
            "GET",
            &format!("/api/v1/firmware/download/{token}"),
            None,
            "text/plain",
            b"",
        )
        .await;
        assert_eq!(refused.status, 404, "{token}");
    }
    // A live token for x2 (offline, so its command waits), then expired by the clock.
    let pending = json_request(
        &hub,
        "POST",
        "/api/v1/rollouts",
        &admin,
        json!({"firmware": id, "device": "x2"}),
    )
    .await;
    let pending_id = pending.json()["rollout"]["id"].as_str().unwrap().to_owned();
    let token = latest_token(&hub, "x2").await;
    let served = http(
        &hub,
        "GET",
        &format!("/api/v1/firmware/download/{token}"),
        None,
        "text/plain",
        b"",
    )
    .await;
    assert_eq!(served.status, 200);
    assert_eq!(served.body, image(10_000));
    let mut target = hub
        .store()
        .rollout_targets(&pending_id)
        .await
        .unwrap()
        .remove(0);
    target.token_expires_at_ms = Some(hearth_model::now_millis() - 1);
    hub.store().update_rollout_target(&target).await.unwrap();
    let expired = http(
        &hub,
        "GET",
        &format!("/api/v1/firmware/download/{token}"),
        None,
        "text/plain",
        b"",
    )
    .await;
    assert_eq!(expired.status, 404);
    assert_eq!(
        expired.body,
        http(
            &hub,
            "GET",
            "/api/v1/firmware/download/nope",
            None,
            "text/plain",
            b""
        )
        .await
        .body
    );

    // A device cannot forge another device's progress: the ACL refuses x1 publishing
    // on x2's topics (MQTT 5 PUBACK "not authorized"), and x2's target is unchanged.
    x1.client.shutdown().await;
    let reason = forge(&hub, "x1", &secrets["x1"], "devices/x2/events").await;
    assert_eq!(
        reason,
        rumqttc::v5::mqttbytes::v5::PubAckReason::NotAuthorized
    );
    let allowed = forge(&hub, "x1", &secrets["x1"], "devices/x1/events").await;
    assert_eq!(allowed, rumqttc::v5::mqttbytes::v5::PubAckReason::Success);
    let target = hub
        .store()
        .rollout_targets(&pending_id)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(target.state, hearth_model::TargetState::Pending);
    hub.shutdown().await;
}
