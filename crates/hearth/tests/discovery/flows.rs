//! Each fixture through the whole path: announced (retained), listed, availability,
//! adopted into the owner's application, state into history and live state,
//! availability into presence, a command through the API in the device's own payload.
//! Then removal by an empty config, and a re-announce after the hub's birth message.

use super::*;
use hearth_model::DeviceId;
use hearth_testkit::Backend;
use serde_json::json;

hearth_testkit::both_backends_hub!(
    tasmota_light_round_trip,
    zigbee2mqtt_sensor_and_bulb_round_trip,
    esphome_node_round_trip,
    shelly_script_round_trip,
    an_empty_config_removes_and_a_birth_reannounce_never_duplicates,
);

/// How one firmware behaves around its announcement.
struct Case {
    fixture: &'static str,
    discovery_id: &'static str,
    client_id: &'static str,
    kind: &'static str,
    /// Availability topic, available and not-available payloads.
    availability: Option<(&'static str, &'static str, &'static str)>,
    /// What the device subscribes to for its commands.
    command_filter: &'static str,
    /// A state message and what it becomes in the live state.
    state: (&'static str, &'static str),
    reported: (&'static str, serde_json::Value),
    /// A Hearth command, the topic and payload the device gets.
    command: Option<(&'static str, serde_json::Value, &'static str, &'static str)>,
}

async fn round_trip(backend: Backend, case: Case) {
    let hub = hearth_testkit::start_hub(backend).await;
    let api = Api::login(&hub).await;
    let (key, secret) = discovery_login(&hub, "home", "ha").await;
    let will = case
        .availability
        .map(|(topic, _, offline)| (topic, offline));
    let mut device = Mqtt::connect(&hub, case.client_id, &key, &secret, will).await;
    assert!(device.subscribe(case.command_filter).await);
    let configs = fixture(case.fixture);
    let announced = configs
        .iter()
        .filter(|(_, payload)| !payload.is_empty())
        .count();
    for (topic, payload) in &configs {
        device.publish(topic, payload, true).await;
    }

    // Listed with every component, and what they imply.
    let listed = eventually("listed", || async {
        let all = discovered(&api).await;
        all.into_iter().find(|entry| {
            entry["id"] == case.discovery_id
                && entry["components"].as_array().map(Vec::len) == Some(announced)
        })
    })
    .await;
    assert_eq!(listed["app"], "ha");
    assert_eq!(listed["group"], "home");
    assert_eq!(listed["kind"], case.kind, "{listed}");
    assert_eq!(discovered(&api).await.len(), 1, "one entry per device");
    if let Some((topic, online, _)) = case.availability {
        device.publish(topic, online, true).await;
        eventually("online before adoption", || async {
            let all = discovered(&api).await;
            (all.first()?["online"] == true).then_some(())
        })
        .await;
    }

    // Adopted into the owner's ordinary application.
    let (status, _, adopted) = api
        .send(
            "POST",
            &format!("/api/v1/discovered/ha/{}/adopt", case.discovery_id),
            Some(json!({"app": "default", "id": "gadget", "name": "Gadget", "room": "kitchen"})),
        )
        .await;
    assert_eq!(status, 201, "{adopted}");
    assert_eq!(adopted["kind"], case.kind);
    assert_eq!(adopted["room"], "kitchen");
    assert_eq!(
        adopted["metadata"]["capabilities"], listed["capabilities"],
        "the capabilities it implied"
    );
    assert!(
        discovered(&api).await.is_empty(),
        "an adopted entry is no longer listed"
    );
    let (status, _, _) = api
        .send(
            "POST",
            &format!("/api/v1/discovered/ha/{}/adopt", case.discovery_id),
            Some(json!({"app": "default", "id": "gadget2"})),
        )
        .await;
    assert_eq!(status, 404, "adopted once only");
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();

    // State into history and live state; availability into presence.
    let id = DeviceId::new("gadget").unwrap();
    let store = hub.store();
    if let Some((topic, online, _)) = case.availability {
        device.publish(topic, online, true).await;
    }
    device.publish(case.state.0, case.state.1, false).await;
    let (key, value) = &case.reported;
    let live = eventually("the state in the live state", || {
        let store = store.clone();
        let id = id.clone();
        async move {
            let device = store.device(&id).await.unwrap();
            let data = device.live.last_report_data.clone()?;
            (data.get(*key) == Some(value)).then_some(device)
        }
    })
    .await;
    let messages = store
        .messages(&hearth_store::MessageQuery {
            device: id.clone(),
            kind: None,
            range: hearth_store::TimeRange {
                from_ms: 0,
                to_ms: i64::MAX,
            },
            limit: 100,
        })
        .await
        .unwrap();
    assert!(!messages.is_empty(), "the state is in the history");
    if case.availability.is_some() {
        eventually("online after the availability", || {
            let store = store.clone();
            let id = id.clone();
            async move {
                store
                    .device(&id)
                    .await
                    .unwrap()
                    .live
                    .is_online
                    .then_some(())
            }
        })
        .await;
    }
    let _ = live;

    // A command through the API in the device's own form.
    if let Some((name, params, topic, payload)) = &case.command {
        let (status, _, command) = api
            .send(
                "POST",
                "/api/v1/devices/gadget/commands",
                Some(json!({"name": name, "params": params})),
            )
            .await;
        assert_eq!(status, 202, "{command}");
        assert_eq!(device.message(topic).await, *payload);
    }

    // Power lost: the will says so, and presence follows.
    if case.availability.is_some() {
        device.cut();
        eventually("offline after the will", || {
            let store = store.clone();
            let id = id.clone();
            async move { (!store.device(&id).await.unwrap().live.is_online).then_some(()) }
        })
        .await;
    }
    hub.shutdown().await;
}

async fn tasmota_light_round_trip(backend: Backend) {
    round_trip(
        backend,
        Case {
            fixture: "tasmota.txt",
            discovery_id: "9A55A3",
            client_id: "DVES_9A55A3",
            kind: "light",
            availability: Some(("sypialnia_lampka/tele/LWT", "Aktywny", "Nieaktywny")),
            command_filter: "sypialnia_lampka/cmnd/#",
            state: (
                "sypialnia_lampka/tele/STATE",
                r#"{"Time":"2026-12-07T10:00:00","Uptime":"0T00:00:12","POWER":"ON"}"#,
            ),
            reported: ("on", json!(true)),
            command: Some((
                "switch",
                json!({"on": false}),
                "sypialnia_lampka/cmnd/POWER",
                "OFF",
            )),
        },
    )
    .await;
}

async fn zigbee2mqtt_sensor_and_bulb_round_trip(backend: Backend) {
    // Zigbee2MQTT announces each Zigbee device under its own identifiers: the sensor
    // here (the bulb of the same fixture is another entry).
    let hub = hearth_testkit::start_hub(backend).await;
    let api = Api::login(&hub).await;
    let (key, secret) = discovery_login(&hub, "home", "z2m").await;
    let mut bridge = Mqtt::connect(
        &hub,
        "zigbee2mqtt_a1b2",
        &key,
        &secret,
        Some(("zigbee2mqtt/bridge/state", "offline")),
    )
    .await;
    assert!(bridge.subscribe("zigbee2mqtt/#").await);
    for (topic, payload) in fixture("zigbee2mqtt.txt") {
        bridge.publish(&topic, &payload, true).await;
    }
    bridge
        .publish("zigbee2mqtt/bridge/state", "online", true)
        .await;
    let entries = eventually("both listed, online", || async {
        let all = discovered(&api).await;
        (all.len() == 2 && all.iter().all(|entry| entry["online"] == true)).then_some(all)
    })
    .await;
    let sensor = &entries[0];
    assert_eq!(sensor["id"], "zigbee2mqtt_0x00124b001b78047b");
    assert_eq!(sensor["manufacturer"], "SONOFF");
    assert_eq!(
        sensor["capabilities"],
        json!([{"type": "sensor", "key": "temperature", "unit": "°C", "device_class": "temperature"}])
    );
    let bulb = &entries[1];
    assert_eq!(bulb["kind"], "light");
    let (status, _, _) = api
        .send(
            "POST",
            "/api/v1/discovered/z2m/zigbee2mqtt_0x00124b001b78047b/adopt",
            Some(json!({"app": "default", "id": "snzb02"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _, _) = api
        .send(
            "POST",
            "/api/v1/discovered/z2m/zigbee2mqtt_0x0017880102952daf/adopt",
            Some(json!({"app": "default", "id": "hue"})),
        )
        .await;
    assert_eq!(status, 201);
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    // Presence starts from the availability the bridge reported before the adoption
    // (it says it only at its start): the bulb's command goes out without another word.
    bridge
        .publish(
            "zigbee2mqtt/0x00124b001b78047b",
            r#"{"battery":64,"humidity":47.21,"linkquality":139,"temperature":19.63,"voltage":2900}"#,
            false,
        )
        .await;
    let store = hub.store();
    let sensor_id = DeviceId::new("snzb02").unwrap();
    eventually("the temperature stored", || {
        let store = store.clone();
        let id = sensor_id.clone();
        async move {
            let points = store.latest_points(&id).await.unwrap();
            points
                .iter()
                .find(|point| point.metric == "temperature")
                .map(|point| assert_eq!(point.value, 19.63))
        }
    })
    .await;
    // The bulb gets switch in Zigbee2MQTT's JSON on its /set topic.
    let (status, _, command) = api
        .send(
            "POST",
            "/api/v1/devices/hue/commands",
            Some(json!({"name": "switch", "params": {"on": true}})),
        )
        .await;
    assert_eq!(status, 202, "{command}");
    let payload = bridge.message("zigbee2mqtt/0x0017880102952daf/set").await;
    assert_eq!(
        serde_json::from_str::<Value>(&payload).unwrap(),
        json!({"state": "ON"})
    );
    hub.shutdown().await;
}

async fn esphome_node_round_trip(backend: Backend) {
    round_trip(
        backend,
        Case {
            fixture: "esphome.txt",
            discovery_id: "a4cf12b3c4d5",
            client_id: "livingroom",
            kind: "switch",
            availability: Some(("livingroom/status", "online", "offline")),
            command_filter: "livingroom/switch/relay/command",
            state: ("livingroom/switch/relay/state", "ON"),
            reported: ("on", json!(true)),
            command: Some((
                "switch",
                json!({"on": false}),
                "livingroom/switch/relay/command",
                "OFF",
            )),
        },
    )
    .await;
}

async fn shelly_script_round_trip(backend: Backend) {
    round_trip(
        backend,
        Case {
            fixture: "shelly.txt",
            discovery_id: "VIRTUAL_SWITCH",
            client_id: "shellyplus1-a8032ab11964",
            kind: "switch",
            availability: None,
            command_filter: "shellyplus1-a8032ab11964/switch/cmd",
            state: ("shellyplus1-a8032ab11964/switch/state", "on"),
            reported: ("on", json!(true)),
            command: Some((
                "switch",
                json!({"on": true}),
                "shellyplus1-a8032ab11964/switch/cmd",
                "on",
            )),
        },
    )
    .await;
}

async fn an_empty_config_removes_and_a_birth_reannounce_never_duplicates(backend: Backend) {
    let mut hub = hearth_testkit::start_hub(backend).await;
    let (key, secret) = discovery_login(&hub, "home", "ha").await;
    let configs = fixture("esphome.txt");
    // A device that keeps its session and listens for the hub's birth message, as
    // devices listen for Home Assistant's.
    let (mut node, _) = Mqtt::try_connect(&hub, "livingroom", &key, &secret, None, true).await;
    assert!(node.subscribe("homeassistant/status").await);
    for (topic, payload) in &configs {
        node.publish(topic, payload, true).await;
    }
    let api = Api::login(&hub).await;
    let before = eventually("listed with both components", || async {
        let all = discovered(&api).await;
        (all.len() == 1 && all[0]["components"].as_array()?.len() == 2)
            .then(|| all[0]["last_seen_ms"].as_i64().unwrap())
    })
    .await;
    // The hub restarts and says it is online: the node announces again.
    node.client.disconnect().await.unwrap();
    hub.restart().await;
    let (mut node, _) = Mqtt::try_connect(&hub, "livingroom", &key, &secret, None, true).await;
    assert_eq!(node.message("homeassistant/status").await, "online");
    for (topic, payload) in &configs {
        node.publish(topic, payload, true).await;
    }
    let api = Api::login(&hub).await;
    let all = eventually("announced again", || async {
        let all = discovered(&api).await;
        (all.len() == 1 && all[0]["last_seen_ms"].as_i64()? > before).then_some(all)
    })
    .await;
    assert_eq!(
        all[0]["components"].as_array().unwrap().len(),
        2,
        "no duplicate"
    );
    // An empty config removes its component; the last one removes the device.
    node.publish(&configs[1].0, "", true).await;
    eventually("the sensor withdrawn", || async {
        let all = discovered(&api).await;
        (all.len() == 1 && all[0]["components"].as_array()?.len() == 1).then_some(())
    })
    .await;
    node.publish(&configs[0].0, "", true).await;
    eventually("the device gone", || async {
        discovered(&api).await.is_empty().then_some(())
    })
    .await;
    hub.shutdown().await;
}
