//! Seed 001's bulb on its own topics, with `docs/layouts/seed-001-bulb.toml` set on its
//! application through the API.

use super::*;
use hearth_model::{CommandStatus, DeviceId};
use hearth_services::registry::DeviceSpec;
use hearth_testkit::{Backend, ids};

hearth_testkit::both_backends_hub!(a_seed_bulb_reports_and_obeys_through_its_layout);

const STATE: &str = "home/livingroom/bulb/bulb001/state";
const STATUS: &str = "home/livingroom/bulb/bulb001/status";

/// Application `bulbs` (group `home`) with the seed layout set through the API, and its
/// bulb `bulb001` in the living room; the bulb's secret.
pub async fn bulbs(hub: &TestHub, api: &Api, bulbs: &[&str]) -> Vec<String> {
    hub.registry()
        .add_app("test", &ids::app("bulbs"), &ids::group("home"), None, None)
        .await
        .unwrap();
    let (status, _, body) = api
        .send(
            "PUT",
            "/api/v1/apps/bulbs/layout",
            Some(layout_json("seed-001-bulb.toml")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut secrets = Vec::new();
    for bulb in bulbs {
        let (_, secret) = hub
            .registry()
            .add_device(
                "test",
                DeviceSpec {
                    app: Some(ids::app("bulbs")),
                    kind: Some("light".into()),
                    room: Some("livingroom".into()),
                    ..DeviceSpec::new(ids::device(bulb))
                },
            )
            .await
            .unwrap();
        secrets.push(secret);
    }
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    secrets
}

fn state(on: bool, brightness: u8) -> String {
    serde_json::json!({
        "timestamp": "2026-12-07T10:00:00.000000",
        "is_on": on,
        "brightness": brightness,
        "color": {"r": 255, "g": 255, "b": 255},
        "power_consumption": if on { 8.0 * f64::from(brightness) / 100.0 } else { 0.0 },
    })
    .to_string()
}

async fn a_seed_bulb_reports_and_obeys_through_its_layout(backend: Backend) {
    let hub = hearth_testkit::start_hub(backend).await;
    let api = Api::login(&hub).await;
    let secret = bulbs(&hub, &api, &["bulb001"]).await.remove(0);
    let id = DeviceId::new("bulb001").unwrap();
    let store = hub.store();
    // What browsers and applications see: Hearth's own topics.
    let mut live = hub.bus().subscribe("devices/bulb001/#").await.unwrap();

    // As the seed's SmartBulb does on connect: will, subscription, "online", info, state.
    let mut bulb = Mqtt::connect(
        &hub,
        "bulb001",
        "bulb001",
        &secret,
        Some((STATUS, "offline")),
    )
    .await;
    assert!(
        bulb.subscribe("home/livingroom/bulb/bulb001/command/+")
            .await
    );
    bulb.publish(STATUS, "online", true).await;
    bulb.publish(
        "home/livingroom/bulb/bulb001/info",
        r#"{"device_id":"bulb001","device_type":"smart_bulb","room":"livingroom","model":"SmartBulb Pro","firmware_version":"1.2.3","capabilities":["switch","brightness","color","scenes"],"max_power":8.0}"#,
        true,
    )
    .await;
    bulb.publish(STATE, &state(false, 100), true).await;

    // Acknowledged means stored: live state, history points and presence.
    let device = store.device(&id).await.unwrap();
    assert_eq!(
        device.live.last_report_data,
        Some(serde_json::json!({"on": false, "brightness": 100,
            "color": {"r": 255, "g": 255, "b": 255}, "power": 0.0}))
    );
    assert_eq!(device.live.device_status.as_deref(), Some("online"));
    assert!(device.live.is_online);
    let points = store.latest_points(&id).await.unwrap();
    let brightness = points
        .iter()
        .find(|point| point.metric == "brightness")
        .unwrap();
    assert_eq!(brightness.value, 100.0);
    assert!(points.iter().any(|point| point.metric == "color.g"));
    let copy = tokio::time::timeout(DEADLINE, async {
        loop {
            let message = live.recv().await.unwrap();
            if &*message.topic == "devices/bulb001/data" {
                return message;
            }
        }
    })
    .await
    .unwrap();
    let copy: Value = serde_json::from_slice(&copy.payload).unwrap();
    assert_eq!(copy["on"], false);

    // switch {"on": true} through the API arrives in the bulb's own form.
    let (status, _, command) = api
        .send(
            "POST",
            "/api/v1/devices/bulb001/commands",
            Some(serde_json::json!({"name": "switch", "params": {"on": true}})),
        )
        .await;
    assert_eq!(status, 202, "{command}");
    let payload = bulb
        .message("home/livingroom/bulb/bulb001/command/switch")
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&payload).unwrap(),
        serde_json::json!({"action": "on"})
    );
    let command_id = command["id"].as_str().unwrap().to_owned();
    assert_ne!(
        store.command(&command_id).await.unwrap().status,
        CommandStatus::Acked
    );
    // The bulb does what it is told and publishes its state: that is its answer.
    bulb.publish(STATE, &state(true, 100), true).await;
    let acked = eventually("the command acked", || {
        let store = store.clone();
        let command_id = command_id.clone();
        async move {
            let command = store.command(&command_id).await.unwrap();
            (command.status == CommandStatus::Acked).then_some(command)
        }
    })
    .await;
    assert_eq!(acked.reported_state.unwrap()["on"], true);
    let (_, _, latest) = api.send("GET", "/api/v1/devices/bulb001", None).await;
    assert_eq!(latest["live"]["last_report_data"]["on"], true, "{latest}");

    // brightness and the catch-all rule (scene) in the bulb's form too.
    api.send(
        "POST",
        "/api/v1/devices/bulb001/commands",
        Some(serde_json::json!({"name": "brightness", "params": {"brightness": 40}})),
    )
    .await;
    let payload = bulb
        .message("home/livingroom/bulb/bulb001/command/brightness")
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&payload).unwrap(),
        serde_json::json!({"level": 40})
    );
    bulb.publish(STATE, &state(true, 40), true).await;
    api.send(
        "POST",
        "/api/v1/devices/bulb001/commands",
        Some(serde_json::json!({"name": "scene", "params": {"scene": "relax"}})),
    )
    .await;
    let payload = bulb
        .message("home/livingroom/bulb/bulb001/command/scene")
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&payload).unwrap(),
        serde_json::json!({"scene": "relax"})
    );

    // Operators see what the translator did.
    let metrics = api.text("/metrics").await;
    let translated = metrics
        .lines()
        .find_map(|line| line.strip_prefix("hearth_layout_messages_total{outcome=\"translated\"} "))
        .expect("the translator's counter");
    assert!(translated.parse::<f64>().unwrap() >= 5.0, "{translated}");

    // A state the layout cannot read is not lost: acknowledged, it is in history as
    // received and flagged, and it is not the bulb's live state.
    bulb.publish(STATE, r#"{"is_on": tru"#, false).await;
    let stored = store
        .messages(&hearth_store::MessageQuery {
            device: id.clone(),
            kind: Some(hearth_model::MessageKind::Data),
            range: hearth_store::TimeRange {
                from_ms: 0,
                to_ms: i64::MAX,
            },
            limit: 1000,
        })
        .await
        .unwrap();
    let raw = stored
        .iter()
        .find(|message| message.payload == br#"{"is_on": tru"#)
        .expect("the unreadable state is in history, as received");
    assert!(!raw.json_ok);
    let metrics = api.text("/metrics").await;
    assert!(
        metrics.contains("hearth_layout_messages_total{outcome=\"unreadable\"} 1"),
        "{metrics}"
    );

    // Power lost: the will says offline, and presence follows.
    bulb.cut();
    let device = eventually("offline after the will", || {
        let store = store.clone();
        let id = id.clone();
        async move {
            let device = store.device(&id).await.unwrap();
            (device.live.device_status.as_deref() == Some("offline")).then_some(device)
        }
    })
    .await;
    assert!(!device.live.is_online);
    hub.shutdown().await;
}
