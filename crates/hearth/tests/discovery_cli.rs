//! `hearth app add --discovery`, `hearth device discovered` and `hearth device adopt`
//! (issue 18): the real binary against a fresh store, on SQLite and PostgreSQL. The
//! discovered entry is what the hub's discovery service stores for Tasmota's
//! announcement (the fixture parsed as the service parses it).

#[macro_use]
mod admin;

use admin::*;
use hearth_model::{AppId, DeviceId, DiscoveredDevice, GroupId};
use hearth_services::discovery::{config, normalize};

both_backends!(discovered_devices_are_listed_and_adopted_from_the_command_line);

/// Stores the Tasmota fixture's announcement as discovery application `ha` would have.
fn announce(hub: &Hub) {
    let url = match hub.store_args[0].as_str() {
        "--data-dir" => hearth_store::sqlite_url(std::path::Path::new(&hub.store_args[1])),
        _ => hub.store_args[1].clone(),
    };
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../hearth-services/tests/fixtures/discovery/tasmota.txt"),
    )
    .unwrap();
    let (topic, payload) = text
        .lines()
        .skip_while(|line| !line.starts_with("topic homeassistant/light/"))
        .take(2)
        .map(|line| line.split_once(' ').unwrap().1.to_owned())
        .collect::<Vec<_>>()
        .try_into()
        .map(|[topic, payload]: [String; 2]| (topic, payload))
        .unwrap();
    let config::Config::Announced(announcement) =
        config::parse_config("homeassistant", &topic, payload.as_bytes())
            .unwrap()
            .1
    else {
        panic!("an announcement");
    };
    let mut components = announcement.components;
    components.iter_mut().for_each(normalize::annotate);
    let entry = DiscoveredDevice {
        app: AppId::new("ha").unwrap(),
        id: DeviceId::new(&announcement.discovery_id).unwrap(),
        group: GroupId::new("home").unwrap(),
        name: components[0].name.clone(),
        manufacturer: None,
        model: None,
        sw_version: None,
        kind: normalize::kind(&components),
        capabilities: normalize::capabilities(&components),
        components,
        online: Some(true),
        first_seen_ms: 1,
        last_seen_ms: 2,
        adopted_device: None,
    };
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = hearth_store::open(&url).await.unwrap();
        store.upsert_discovered(&entry).await.unwrap();
        store.close().await;
    });
}

fn discovered_devices_are_listed_and_adopted_from_the_command_line(hub: Hub) {
    hub.json(&["group", "add", "home"]);
    let login = hub.json(&["app", "add", "ha", "--group", "home", "--discovery"]);
    assert_eq!(login["discovery"], true, "{login}");
    hub.json(&["app", "add", "lights", "--group", "home"]);
    assert_eq!(hub.json(&["device", "discovered"]), serde_json::json!([]));
    announce(&hub);

    let listed = hub.json(&["device", "discovered"]);
    assert_eq!(listed[0]["id"], "9A55A3");
    assert_eq!(listed[0]["kind"], "light");
    let table = hub.ok(&["device", "discovered"]);
    assert!(
        table.contains("9A55A3") && table.contains("light") && table.contains("online"),
        "{table}"
    );

    // Not into the discovery login itself, nor an unknown entry.
    let error = hub.json_error(&["device", "adopt", "9A55A3", "--app", "ha"]);
    assert_eq!(error["field"], "app", "{error}");
    hub.fails(&["device", "adopt", "NOPE", "--app", "lights"]);

    let device = hub.json(&[
        "device", "adopt", "9A55A3", "--app", "lights", "--from", "ha", "--id", "lamp", "--room",
        "bedroom",
    ]);
    assert_eq!(device["id"], "lamp");
    assert_eq!(device["kind"], "light");
    assert_eq!(device["room"], "bedroom");
    assert_eq!(
        device["metadata"]["capabilities"],
        serde_json::json!([{"type": "switch"}])
    );
    assert_eq!(device["metadata"]["discovery"]["app"], "ha");
    assert_eq!(hub.json(&["device", "discovered"]), serde_json::json!([]));
    hub.fails(&[
        "device", "adopt", "9A55A3", "--app", "lights", "--id", "lamp2",
    ]);
    let shown = hub.json(&["device", "show", "lamp"]);
    assert_eq!(shown["application"], "lights", "{shown}");
}
