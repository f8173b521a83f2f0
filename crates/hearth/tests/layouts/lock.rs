//! Seed 004's lock on its own topics, its layout from hearth.toml (`[layouts.default]
//! file = "docs/layouts/seed-004-lock.toml"`).

use super::*;
use hearth_model::{CommandStatus, DeviceId};
use hearth_services::layouts::LayoutSource;
use hearth_services::registry::DeviceSpec;
use hearth_testkit::{Backend, ids};

hearth_testkit::both_backends_hub!(a_seed_lock_opens_on_unlock_and_reports_on_statu);

const LOCKNO: &str = "20190412001";

async fn a_seed_lock_opens_on_unlock_and_reports_on_statu(backend: Backend) {
    let hub = hearth_testkit::start_hub_with(backend, |config| {
        config.layouts.insert(
            "default".into(),
            LayoutSource::File {
                file: docs_layout("seed-004-lock.toml"),
            },
        );
    })
    .await;
    let api = Api::login(&hub).await;
    let (status, _, layout) = api.send("GET", "/api/v1/apps/default/layout", None).await;
    assert_eq!((status, &layout), (200, &layout_json("seed-004-lock.toml")));
    let (_, secret) = hub
        .registry()
        .add_device(
            "test",
            DeviceSpec {
                kind: Some("lock".into()),
                ..DeviceSpec::new(ids::device(LOCKNO))
            },
        )
        .await
        .unwrap();
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    let id = DeviceId::new(LOCKNO).unwrap();
    let store = hub.store();
    let statu = format!("/{LOCKNO}/statu");
    let call = format!("/{LOCKNO}/call");

    let mut lock = Mqtt::connect(&hub, LOCKNO, LOCKNO, &secret, Some((&statu, "-2"))).await;
    assert!(lock.subscribe(&call).await);
    lock.publish(&statu, "1", false).await;
    assert_eq!(
        store.device(&id).await.unwrap().live.last_report_data,
        Some(serde_json::json!({"locked": true}))
    );

    let (status, _, command) = api
        .send(
            "POST",
            &format!("/api/v1/devices/{LOCKNO}/commands"),
            Some(serde_json::json!({"name": "unlock"})),
        )
        .await;
    assert_eq!(status, 202, "{command}");
    assert_eq!(lock.message(&call).await, "unlock");
    lock.publish(&statu, "0", false).await;
    let command_id = command["id"].as_str().unwrap().to_owned();
    let acked = eventually("unlock acked", || {
        let store = store.clone();
        let command_id = command_id.clone();
        async move {
            let command = store.command(&command_id).await.unwrap();
            (command.status == CommandStatus::Acked).then_some(command)
        }
    })
    .await;
    assert_eq!(
        acked.reported_state,
        Some(serde_json::json!({"locked": false}))
    );
    let device = store.device(&id).await.unwrap();
    assert_eq!(
        device.live.last_report_data,
        Some(serde_json::json!({"locked": false}))
    );

    // A command the layout has no rule for fails, saying so, rather than going nowhere.
    let (_, _, lock_command) = api
        .send(
            "POST",
            &format!("/api/v1/devices/{LOCKNO}/commands"),
            Some(serde_json::json!({"name": "lock"})),
        )
        .await;
    let failed = store
        .command(lock_command["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(failed.status, CommandStatus::Failed, "{lock_command}");

    // "-2": the lock says it is offline.
    lock.publish(&statu, "-2", false).await;
    let device = store.device(&id).await.unwrap();
    assert_eq!(device.live.device_status.as_deref(), Some("offline"));
    assert!(!device.live.is_online);
    hub.shutdown().await;
}
