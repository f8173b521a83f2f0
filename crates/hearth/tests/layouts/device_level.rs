//! Device layouts (what discovery's adoption writes): concrete topics of one device,
//! from its own login or, with `via_app`, from an application's connections.

use super::*;
use hearth_model::layout::Layout;
use hearth_model::{CommandStatus, DeviceId};
use hearth_services::registry::DeviceSpec;
use hearth_testkit::{Backend, ids};

hearth_testkit::both_backends_hub!(
    a_device_layout_maps_one_device,
    a_via_app_layout_takes_the_applications_messages
);

fn plug_layout(plug: &str, via_app: Option<&str>) -> Layout {
    let mut layout = serde_json::json!({
        "inbound": [{"topic": format!("stat/{plug}/POWER"), "payload": "plain", "key": "on",
                     "values": {"ON": true, "OFF": false}, "ack": true}],
        "commands": [{"name": "switch", "topic": format!("cmnd/{plug}/POWER"),
                      "payload": "{on}", "map": {"on": {"true": "ON", "false": "OFF"}}}]
    });
    if let Some(app) = via_app {
        layout["via_app"] = app.into();
    }
    serde_json::from_value(layout).unwrap()
}

async fn add_plug(hub: &TestHub, id: &str, layout: &Layout) -> String {
    let (_, secret) = hub
        .registry()
        .add_device(
            "test",
            DeviceSpec {
                app: Some(ids::app("default")),
                kind: Some("switch".into()),
                ..DeviceSpec::new(ids::device(id))
            },
        )
        .await
        .unwrap();
    hub.registry()
        .set_device_layout("test", &ids::device(id), Some(layout))
        .await
        .unwrap();
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    secret
}

async fn wait_for_data(hub: &TestHub, device: &str, expected: Value) {
    let store = hub.store();
    let id = DeviceId::new(device).unwrap();
    eventually("the reading stored", || {
        let (store, id, expected) = (store.clone(), id.clone(), expected.clone());
        async move {
            let data = store.device(&id).await.unwrap().live.last_report_data;
            (data == Some(expected)).then_some(())
        }
    })
    .await;
}

async fn a_device_layout_maps_one_device(backend: Backend) {
    let hub = hearth_testkit::start_hub(backend).await;
    let api = Api::login(&hub).await;
    let secret = add_plug(&hub, "plug1", &plug_layout("plug1", None)).await;
    let other = add_plug(&hub, "plug2", &plug_layout("plug2", None)).await;
    let mut plug = Mqtt::connect(&hub, "plug1", "plug1", &secret, None).await;
    assert!(plug.subscribe("cmnd/plug1/POWER").await);
    assert!(!plug.subscribe("cmnd/+/POWER").await);
    plug.publish("stat/plug1/POWER", "OFF", false).await;
    wait_for_data(&hub, "plug1", serde_json::json!({"on": false})).await;

    let (status, _, command) = api
        .send(
            "POST",
            "/api/v1/devices/plug1/commands",
            Some(serde_json::json!({"name": "switch", "params": {"on": true}})),
        )
        .await;
    assert_eq!(status, 202, "{command}");
    assert_eq!(plug.message("cmnd/plug1/POWER").await, "ON");
    plug.publish("stat/plug1/POWER", "ON", false).await;
    let store = hub.store();
    let command_id = command["id"].as_str().unwrap().to_owned();
    eventually("acked", || {
        let (store, command_id) = (store.clone(), command_id.clone());
        async move {
            (store.command(&command_id).await.unwrap().status == CommandStatus::Acked).then_some(())
        }
    })
    .await;

    // plug2 (3.1.1: a refused publish is acknowledged and dropped) cannot speak for plug1.
    let mut neighbour = Mqtt::connect(&hub, "plug2", "plug2", &other, None).await;
    neighbour.publish("stat/plug1/POWER", "OFF", false).await;
    assert!(!neighbour.subscribe("cmnd/plug1/POWER").await);
    neighbour.publish("stat/plug2/POWER", "ON", false).await;
    wait_for_data(&hub, "plug2", serde_json::json!({"on": true})).await;
    wait_for_data(&hub, "plug1", serde_json::json!({"on": true})).await;

    // Its command topic is the hub's alone: not the device's, not an administrator's.
    let mut admin = super::intruders::V5::connect(&hub, "console", "admin", ADMIN_PASSWORD).await;
    assert!(!admin.publish("cmnd/plug1/POWER", "OFF").await);
    assert!(admin.publish("cmnd/nobody/POWER", "OFF").await);
    let mut own = super::intruders::V5::connect(&hub, "plug2", "plug2", &other).await;
    assert!(!own.publish("cmnd/plug2/POWER", "OFF").await);

    // A new layout takes its subscriptions' old grounds away: the device is disconnected
    // and comes back under the new rules.
    let mut moved = plug_layout("plug1", None);
    moved.commands[0].topic = "cmnd/plug1/RELAY".into();
    hub.registry()
        .set_device_layout("test", &ids::device("plug1"), Some(&moved))
        .await
        .unwrap();
    plug.closed().await;
    let mut plug = Mqtt::connect(&hub, "plug1", "plug1", &secret, None).await;
    assert!(!plug.subscribe("cmnd/plug1/POWER").await);
    assert!(plug.subscribe("cmnd/plug1/RELAY").await);
    hub.shutdown().await;
}

async fn a_via_app_layout_takes_the_applications_messages(backend: Backend) {
    let hub = hearth_testkit::start_hub(backend).await;
    let (bridge, bridge_secret) = hub
        .registry()
        .add_app("test", &ids::app("bridge"), &ids::group("home"), None, None)
        .await
        .unwrap();
    hub.registry()
        .set_app_discovery("test", &bridge.id, true)
        .await
        .unwrap();
    let own_secret = add_plug(&hub, "plug3", &plug_layout("plug3", Some("bridge"))).await;

    // The device's own login may not publish what comes through the application.
    let mut own = Mqtt::connect(&hub, "plug3", "plug3", &own_secret, None).await;
    own.publish("stat/plug3/POWER", "ON", false).await;
    // The application's connection speaks for it.
    let mut login = Mqtt::connect(
        &hub,
        "tasmota-plug3",
        &bridge.mqtt_key,
        &bridge_secret,
        None,
    )
    .await;
    login.publish("stat/plug3/POWER", "OFF", false).await;
    let device = hub
        .store()
        .device(&DeviceId::new("plug3").unwrap())
        .await
        .unwrap();
    assert_eq!(
        device.live.last_report_data,
        Some(serde_json::json!({"on": false}))
    );
    let messages = hub
        .store()
        .message_count(Some(&DeviceId::new("plug3").unwrap()))
        .await
        .unwrap();
    assert_eq!(
        messages, 1,
        "only the application's message is the device's"
    );
    hub.shutdown().await;
}
