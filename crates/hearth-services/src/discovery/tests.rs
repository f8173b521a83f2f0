//! The parser and the normalization against the fixtures (retained discovery payloads as
//! Tasmota, Zigbee2MQTT, ESPHome and Shelly publish them; tests/fixtures/discovery).

use super::config::{
    Config, ConfigTopic, ValueTemplate, availability, parse_config, parse_topic,
    parse_value_template,
};
use super::normalize;
use hearth_model::DiscoveredComponent;
use serde_json::{Value, json};

/// The `topic`/`payload` pairs of a fixture file (`#` lines are comments).
pub(crate) fn fixture(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut topic = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("topic ") {
            topic = Some(rest.trim().to_owned());
        } else if let Some(rest) = line.strip_prefix("payload") {
            pairs.push((
                topic.take().expect("payload after topic"),
                rest.trim().to_owned(),
            ));
        }
    }
    pairs
}

const TASMOTA: &str = include_str!("../../tests/fixtures/discovery/tasmota.txt");
const Z2M: &str = include_str!("../../tests/fixtures/discovery/zigbee2mqtt.txt");
const ESPHOME: &str = include_str!("../../tests/fixtures/discovery/esphome.txt");
const SHELLY: &str = include_str!("../../tests/fixtures/discovery/shelly.txt");
const DEVICE: &str = include_str!("../../tests/fixtures/discovery/device_based.txt");

/// Every component the fixture announces (removals skipped), with its discovery id.
fn announced(text: &str) -> Vec<(String, DiscoveredComponent)> {
    let mut out = Vec::new();
    for (topic, payload) in fixture(text) {
        match parse_config("homeassistant", &topic, payload.as_bytes())
            .unwrap()
            .1
        {
            Config::Removed => {}
            Config::Announced(announcement) => {
                for mut component in announcement.components {
                    normalize::annotate(&mut component);
                    out.push((announcement.discovery_id.clone(), component));
                }
            }
        }
    }
    out
}

#[test]
fn config_topics_with_and_without_node_id() {
    assert_eq!(
        parse_topic("homeassistant", "homeassistant/switch/ABBD20_RL_1/config"),
        Some(ConfigTopic {
            component: "switch".into(),
            node_id: None,
            object_id: "ABBD20_RL_1".into()
        })
    );
    let with_node = parse_topic(
        "homeassistant",
        "homeassistant/sensor/livingroom/temperature/config",
    )
    .unwrap();
    assert_eq!(with_node.node_id.as_deref(), Some("livingroom"));
    for not_config in [
        "homeassistant/status",
        "homeassistant/switch/x/state",
        "homeassistant/switch/config",
        "homeassistant/a/b/c/d/config",
        "homeassistant/switch/bad id/config",
        "homeassistant/switch/x+/config",
        "other/switch/x/config",
        "homeassistantx/switch/x/config",
    ] {
        assert_eq!(
            parse_topic("homeassistant", not_config),
            None,
            "{not_config}"
        );
    }
}

#[test]
fn value_templates_in_their_common_forms() {
    let json_path =
        |path: &[&str]| ValueTemplate::Json(path.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        parse_value_template("{{ value_json.x }}"),
        json_path(&["x"])
    );
    assert_eq!(
        parse_value_template("{{value_json.POWER}}"),
        json_path(&["POWER"])
    );
    assert_eq!(
        parse_value_template("{{ value_json['x'] }}"),
        json_path(&["x"])
    );
    assert_eq!(
        parse_value_template("{{ value_json[\"RSSI\"] }}"),
        json_path(&["RSSI"])
    );
    assert_eq!(
        parse_value_template("{{ value_json.a.b }}"),
        json_path(&["a", "b"])
    );
    assert_eq!(
        parse_value_template("{{value_json['ENERGY']['Power']}}"),
        json_path(&["ENERGY", "Power"])
    );
    assert_eq!(parse_value_template("{{ value }}"), ValueTemplate::Value);
    for unsupported in [
        "{{ value_json.x | float }}",
        "{{ value | int }}",
        "{% if value == '1' %}ON{% endif %}",
        "{{ value_json.x * 10 }}",
        "{{ value_json }}",
        "plain",
    ] {
        assert!(
            matches!(
                parse_value_template(unsupported),
                ValueTemplate::Unsupported(_)
            ),
            "{unsupported}"
        );
    }
}

#[test]
fn tasmota_abbreviations_and_base_topic_expand() {
    let components = announced(TASMOTA);
    assert_eq!(components.len(), 1);
    let (id, light) = &components[0];
    assert_eq!(id, "9A55A3");
    assert_eq!(light.component, "light");
    assert_eq!(light.config["command_topic"], "sypialnia_lampka/cmnd/POWER");
    assert_eq!(light.config["state_topic"], "sypialnia_lampka/tele/STATE");
    assert_eq!(light.config["value_template"], "{{value_json.POWER}}");
    let available = availability(&light.config);
    assert_eq!(available.topics.len(), 1);
    assert_eq!(available.topics[0].topic, "sypialnia_lampka/tele/LWT");
    assert_eq!(available.topics[0].payload_available, "Aktywny");
    assert_eq!(available.topics[0].payload_not_available, "Nieaktywny");
    // The empty config is a removal.
    let (topic, payload) = &fixture(TASMOTA)[0];
    assert_eq!(
        parse_config("homeassistant", topic, payload.as_bytes())
            .unwrap()
            .1,
        Config::Removed
    );
    let lights: Vec<_> = components.into_iter().map(|(_, c)| c).collect();
    assert_eq!(normalize::kind(&lights), "light");
    assert_eq!(
        normalize::capabilities(&lights),
        vec![json!({"type": "switch"})]
    );
    let layout = normalize::layout(&lights, "tasmota");
    assert_eq!(
        layout,
        json!({
            "inbound": [
                {"topic": "sypialnia_lampka/tele/STATE", "as": "data", "payload": "json", "fields": {"on": "POWER"},
                 "map": {"on": {"ON": true, "OFF": false}}, "ack": true},
                {"topic": "sypialnia_lampka/tele/LWT", "as": "status", "payload": "plain",
                 "status_values": {"Aktywny": "online", "Nieaktywny": "offline"}}
            ],
            "commands": [
                {"name": "switch", "topic": "sypialnia_lampka/cmnd/POWER", "payload": "{on}",
                 "map": {"on": {"true": "ON", "false": "OFF"}}}
            ],
            "via_app": "tasmota"
        })
    );
}

#[test]
fn zigbee2mqtt_sensor_and_json_light() {
    let components = announced(Z2M);
    assert_eq!(components.len(), 2);
    assert_eq!(components[0].0, "zigbee2mqtt_0x00124b001b78047b");
    assert_eq!(components[1].0, "zigbee2mqtt_0x0017880102952daf");
    let sensor = &components[0].1;
    assert_eq!(sensor.unit.as_deref(), Some("°C"));
    assert_eq!(
        normalize::capabilities(std::slice::from_ref(sensor)),
        vec![
            json!({"type": "sensor", "key": "temperature", "unit": "°C", "device_class": "temperature"})
        ]
    );
    let layout = normalize::layout(std::slice::from_ref(sensor), "z2m");
    assert_eq!(
        layout["inbound"][0],
        json!({"topic": "zigbee2mqtt/0x00124b001b78047b", "as": "data", "payload": "json",
               "fields": {"temperature": "temperature"}})
    );
    assert_eq!(
        layout["inbound"][1],
        json!({"topic": "zigbee2mqtt/bridge/state", "as": "status", "payload": "plain",
               "status_values": {"online": "online", "offline": "offline"}})
    );
    let light = &components[1].1;
    // Brightness 0..254 is not rescaled: left out and said so.
    assert!(
        light
            .unsupported
            .iter()
            .any(|note| note.contains("brightness_scale 254"))
    );
    assert_eq!(
        normalize::capabilities(std::slice::from_ref(light)),
        vec![json!({"type": "switch"})]
    );
    let layout = normalize::layout(std::slice::from_ref(light), "z2m");
    assert_eq!(
        layout["commands"],
        json!([{"name": "switch", "topic": "zigbee2mqtt/0x0017880102952daf/set",
                "payload": {"state": "{on}"}, "map": {"on": {"true": "ON", "false": "OFF"}}}])
    );
    assert_eq!(layout["inbound"][0]["fields"], json!({"on": "state"}));
    assert_eq!(
        layout["inbound"][0]["map"],
        json!({"on": {"ON": true, "OFF": false}})
    );
}

#[test]
fn esphome_node_id_plain_payloads_and_default_availability() {
    let components = announced(ESPHOME);
    assert_eq!(components.len(), 2);
    assert!(components.iter().all(|(id, _)| id == "a4cf12b3c4d5"));
    let parts: Vec<DiscoveredComponent> = components.into_iter().map(|(_, c)| c).collect();
    assert_eq!(parts[0].object_id, "livingroom_relay");
    assert_eq!(normalize::kind(&parts), "switch");
    assert_eq!(
        normalize::capabilities(&parts),
        vec![
            json!({"type": "switch"}),
            json!({"type": "sensor", "key": "temperature", "unit": "°C", "device_class": "temperature"})
        ]
    );
    let layout = normalize::layout(&parts, "esphome");
    assert_eq!(
        layout["inbound"],
        json!([
            {"topic": "livingroom/sensor/temperature/state", "as": "data", "payload": "plain", "key": "temperature"},
            {"topic": "livingroom/switch/relay/state", "as": "data", "payload": "plain", "key": "on",
             "values": {"ON": true, "OFF": false}, "ack": true},
            {"topic": "livingroom/status", "as": "status", "payload": "plain",
             "status_values": {"online": "online", "offline": "offline"}}
        ])
    );
    assert_eq!(
        layout["commands"][0]["topic"],
        "livingroom/switch/relay/command"
    );
}

#[test]
fn shelly_script_base_topic_at_the_start_and_lowercase_payloads() {
    let components = announced(SHELLY);
    assert_eq!(components.len(), 1);
    let (id, switch) = &components[0];
    assert_eq!(id, "VIRTUAL_SWITCH");
    assert_eq!(
        switch.config["command_topic"],
        "shellyplus1-a8032ab11964/switch/cmd"
    );
    assert_eq!(
        switch.config["state_topic"],
        "shellyplus1-a8032ab11964/switch/state"
    );
    assert!(availability(&switch.config).topics.is_empty());
    let layout = normalize::layout(std::slice::from_ref(switch), "shelly");
    assert_eq!(
        layout["commands"][0]["map"],
        json!({"on": {"true": "on", "false": "off"}})
    );
    assert_eq!(
        layout["inbound"][0]["values"],
        json!({"on": true, "off": false})
    );
}

#[test]
fn device_based_discovery_shares_the_root_options() {
    let (topic, payload) = &fixture(DEVICE)[0];
    let Config::Announced(announcement) = parse_config("homeassistant", topic, payload.as_bytes())
        .unwrap()
        .1
    else {
        panic!("announced");
    };
    assert_eq!(announcement.discovery_id, "ea334450945afc");
    assert_eq!(
        announcement.device.manufacturer.as_deref(),
        Some("Bla electronics")
    );
    assert_eq!(announcement.device.sw_version.as_deref(), Some("1.0"));
    assert_eq!(announcement.components.len(), 2);
    for component in &announcement.components {
        assert_eq!(component.component, "sensor");
        assert_eq!(component.config["state_topic"], "sensorBedroom/state");
        assert_eq!(component.config["qos"], 2);
        assert!(component.config.get("device").is_none());
    }
    let layout = normalize::layout(&announcement.components, "x");
    assert_eq!(
        layout["inbound"][0]["fields"],
        json!({"temperature": "temperature", "humidity": "humidity"})
    );
    // A component given with only its platform is withdrawn.
    let withdraw = r#"{"dev":{"ids":"ea334450945afc"},"cmps":{"some_unique_id2":{"p":"sensor"}}}"#;
    let Config::Announced(announcement) = parse_config("homeassistant", topic, withdraw.as_bytes())
        .unwrap()
        .1
    else {
        panic!("announced");
    };
    assert_eq!(announcement.withdrawn, vec!["some_unique_id2".to_owned()]);
    assert!(announcement.components.is_empty());
}

#[test]
fn availability_lists_modes_and_defaults() {
    let config = json!({
        "availability": [
            {"topic": "a/status"},
            {"t": "b/LWT", "pl_avail": "Online", "pl_not_avail": "Offline"}
        ],
        "availability_mode": "all"
    });
    let Config::Announced(announcement) = parse_config(
        "homeassistant",
        "homeassistant/binary_sensor/door/config",
        json!({"stat_t": "door/state", "uniq_id": "door-1", "avty": config["availability"], "avty_mode": "all"})
            .to_string()
            .as_bytes(),
    )
    .unwrap()
    .1
    else {
        panic!("announced");
    };
    assert_eq!(announcement.discovery_id, "door-1");
    let found = availability(&announcement.components[0].config);
    assert_eq!(found.mode, "all");
    assert_eq!(found.topics[0].payload_available, "online");
    assert_eq!(found.topics[0].payload_not_available, "offline");
    assert_eq!(found.topics[1].topic, "b/LWT");
    assert_eq!(found.topics[1].payload_available, "Online");
}

#[test]
fn bad_configs_are_refused_with_a_reason() {
    use super::config::ConfigError;
    let parse = |payload: &str| {
        parse_config(
            "homeassistant",
            "homeassistant/switch/x/config",
            payload.as_bytes(),
        )
    };
    assert!(matches!(parse("not json"), Err(ConfigError::NotJson(_))));
    assert!(matches!(parse("[1,2]"), Err(ConfigError::NotJson(_))));
    // No identifiers, unique_id or node id: nothing to key the device by.
    assert_eq!(
        parse(r#"{"name":"x"}"#).unwrap_err(),
        ConfigError::NoIdentifier
    );
    assert!(matches!(
        parse_config(
            "homeassistant",
            "homeassistant/device/x/config",
            b"{\"dev\":{\"ids\":\"a\"}}"
        ),
        Err(ConfigError::NoComponents)
    ));
    let _ = Value::Null;
}

#[test]
fn every_fixture_layout_is_a_valid_device_layout() {
    use hearth_model::layout::{Layout, LayoutScope};
    for text in [TASMOTA, Z2M, ESPHOME, SHELLY, DEVICE] {
        let components: Vec<DiscoveredComponent> =
            announced(text).into_iter().map(|(_, c)| c).collect();
        let document = normalize::layout(&components, "discovery-app");
        let layout: Layout = serde_json::from_value(document.clone()).expect("a Layout");
        layout
            .validate(LayoutScope::Device)
            .unwrap_or_else(|error| panic!("{document}: {error}"));
        assert_eq!(
            layout.via_app.as_ref().map(|app| app.as_str()),
            Some("discovery-app")
        );
    }
}

#[test]
fn the_prefix_is_a_plain_topic_outside_hearths_namespaces() {
    use super::DiscoverySettings;
    let settings = |prefix: &str| DiscoverySettings {
        enabled: true,
        prefix: prefix.to_owned(),
    };
    assert!(settings("homeassistant").check().is_ok());
    assert!(settings("home/ha").check().is_ok());
    assert_eq!(settings("ha").status_topic(), "ha/status");
    for bad in [
        "",
        "ha/#",
        "+/ha",
        "ha/",
        "devices",
        "devices/ha",
        "hearth/ha",
        "$SYS",
    ] {
        assert!(settings(bad).check().is_err(), "{bad:?}");
    }
}

#[test]
fn availability_words_plain_and_in_json() {
    use super::config::{AvailabilityTopic, availability_word};
    let plain = AvailabilityTopic {
        topic: "t".into(),
        payload_available: "Online".into(),
        payload_not_available: "Offline".into(),
        value_template: None,
    };
    assert_eq!(availability_word(&plain, b"Online"), Some(true));
    assert_eq!(availability_word(&plain, b" Offline\n"), Some(false));
    assert_eq!(availability_word(&plain, b"online"), None);
    // Zigbee2MQTT's JSON availability.
    let json = AvailabilityTopic {
        topic: "zigbee2mqtt/bridge/state".into(),
        payload_available: "online".into(),
        payload_not_available: "offline".into(),
        value_template: Some("{{ value_json.state }}".into()),
    };
    assert_eq!(
        availability_word(&json, br#"{"state":"online"}"#),
        Some(true)
    );
    assert_eq!(
        availability_word(&json, br#"{"state":"offline"}"#),
        Some(false)
    );
    assert_eq!(availability_word(&json, b"online"), None);
    let odd = AvailabilityTopic {
        value_template: Some("{{ value_json.state | lower }}".into()),
        ..json
    };
    assert_eq!(availability_word(&odd, br#"{"state":"online"}"#), None);
}

#[test]
fn json_availability_becomes_a_status_rule_that_reads_the_field() {
    let config = r#"{"name": "Plug", "uniq_id": "0xabc_switch", "stat_t": "zigbee2mqtt/plug",
        "cmd_t": "zigbee2mqtt/plug/set", "val_tpl": "{{ value_json.state }}",
        "avty": [{"topic": "zigbee2mqtt/bridge/state", "value_template": "{{ value_json.state }}"}],
        "dev": {"ids": ["zigbee2mqtt_0xabc"], "name": "Plug"}}"#;
    let (_, parsed) = parse_config(
        "homeassistant",
        "homeassistant/switch/0xabc/switch/config",
        config.as_bytes(),
    )
    .unwrap();
    let Config::Announced(announcement) = parsed else {
        panic!("announced")
    };
    let layout = normalize::layout(&announcement.components, "z2m");
    let status = layout["inbound"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["as"] == "status")
        .expect("a status rule")
        .clone();
    assert_eq!(
        status,
        json!({"topic": "zigbee2mqtt/bridge/state", "as": "status", "payload": "json",
               "fields": {"state": "state"}, "status_values": {"online": "online", "offline": "offline"}})
    );
    let rule: hearth_model::layout::InboundRule = serde_json::from_value(status).unwrap();
    assert_eq!(
        rule.translate(br#"{"state":"offline"}"#).unwrap().payload,
        b"offline"
    );
    assert_eq!(
        rule.translate(br#"{"state":"online"}"#).unwrap().payload,
        b"online"
    );
}
