use super::*;
use serde_json::json;

fn layout(value: Value) -> Layout {
    serde_json::from_value(value).expect("a layout")
}

fn bulb() -> Layout {
    layout(json!({
        "inbound": [
            {"topic": "home/{room}/bulb/{id}/state", "as": "data", "ack": true,
             "fields": {"on": "is_on", "brightness": "brightness", "color": "color",
                        "power": "power_consumption"}},
            {"topic": "home/{room}/bulb/{id}/status", "as": "status", "payload": "plain"}
        ],
        "commands": [
            {"name": "switch", "topic": "home/{room}/bulb/{id}/command/{name}",
             "payload": {"action": "{on}"}, "map": {"on": {"true": "on", "false": "off"}}},
            {"name": "brightness", "topic": "home/{room}/bulb/{id}/command/{name}",
             "payload": {"level": "{brightness}"}},
            {"name": "*", "topic": "home/{room}/bulb/{id}/command/{name}"}
        ]
    }))
}

fn lock() -> Layout {
    layout(json!({
        "inbound": [
            {"topic": "/{id}/statu", "as": "status", "payload": "plain", "when": ["-2"],
             "status_values": {"-2": "offline"}},
            {"topic": "/{id}/statu", "payload": "plain", "key": "locked",
             "values": {"1": true, "0": false}, "ack": true}
        ],
        "commands": [{"name": "unlock", "topic": "/{id}/call", "payload": "unlock"}]
    }))
}

fn device_vars(name: &str) -> Option<String> {
    match name {
        "id" => Some("bulb1".to_owned()),
        "room" => Some("livingroom".to_owned()),
        _ => None,
    }
}

#[test]
fn the_seed_examples_are_valid_and_round_trip_as_json() {
    for example in [bulb(), lock()] {
        example.validate(LayoutScope::App).unwrap();
        let text = serde_json::to_string(&example).unwrap();
        assert_eq!(serde_json::from_str::<Layout>(&text).unwrap(), example);
    }
}

#[test]
fn patterns_match_levels_and_extract_the_id() {
    let pattern = Pattern::parse("home/{room}/bulb/{id}/state").unwrap();
    assert_eq!(pattern.filter(), "home/+/bulb/+/state");
    let found = pattern.matches("home/kitchen/bulb/b7/state").unwrap();
    assert_eq!(found.id, Some("b7"));
    assert!(pattern.matches_device("home/kitchen/bulb/b7/state", "b7"));
    assert!(!pattern.matches_device("home/kitchen/bulb/b7/state", "b8"));
    for other in [
        "home/kitchen/bulb/b7",
        "home/kitchen/bulb/b7/state/x",
        "home//bulb/b7/state",
        "home/kitchen/lamp/b7/state",
    ] {
        assert!(pattern.matches(other).is_none(), "{other}");
    }
    let lock = Pattern::parse("/{id}/statu").unwrap();
    assert_eq!(lock.filter(), "/+/statu");
    assert_eq!(
        lock.matches("/20190412001/statu").unwrap().id,
        Some("20190412001")
    );
    assert!(lock.matches("20190412001/statu").is_none());
    let partial = Pattern::parse("tele/{id}_sensor/STATE").unwrap();
    assert_eq!(
        partial.matches("tele/abc_sensor/STATE").unwrap().id,
        Some("abc")
    );
    assert!(partial.matches("tele/_sensor/STATE").is_none());
    let twice = Pattern::parse("{id}/x/{id}").unwrap();
    assert!(twice.matches("a/x/a").is_some());
    assert!(twice.matches("a/x/b").is_none());
}

#[test]
fn bad_patterns_say_why() {
    for (text, why) in [
        ("", "empty"),
        ("home/+/state", "wildcards"),
        ("home/#", "wildcards"),
        ("devices/{id}/data", "Hearth's own"),
        ("hearth/{id}", "Hearth's own"),
        ("$SYS/{id}", "Hearth's own"),
        ("home/{a b}/x", "not a variable"),
        ("home/{id", "without"),
        ("home/{id}{room}/x", "more than one"),
    ] {
        let error = Pattern::parse(text).unwrap_err();
        assert!(error.contains(why), "{text}: {error}");
    }
}

#[test]
fn validation_names_the_field() {
    let cases = [
        (
            json!({"inbound": [{"topic": "a/{id}"}, {"topic": "b/state"}]}),
            "inbound[1].topic: must contain {id}",
        ),
        (
            json!({"inbound": [{"topic": "a/{id}", "payload": "plain"}]}),
            "inbound[0].key: a plain data or event payload needs the key it becomes",
        ),
        (
            json!({"inbound": [{"topic": "a/{id}", "payload": "plain", "key": "x",
                                "fields": {"y": "z"}}]}),
            "inbound[0].fields: only for json payloads",
        ),
        (
            json!({"inbound": [{"topic": "a/{id}", "as": "status",
                                "status_values": {"x": "sideways"}}]}),
            "inbound[0].status_values.x: \"sideways\" is not a presence word (online, offline...)",
        ),
        (
            json!({"commands": [{"name": "switch", "topic": "cmd/{id}"},
                                {"name": "switch", "topic": "cmd2/{id}"}]}),
            "commands[1].name: switch has two rules",
        ),
        (
            json!({"commands": [{"name": "a/b", "topic": "cmd/{id}"}]}),
            "commands[0].name: a command name (1-32 letters, digits, '-', '_') or \"*\"",
        ),
        (
            json!({"commands": [{"name": "x", "topic": "cmd/{id}", "payload": 5}]}),
            "commands[0].payload: a text template or a JSON object/array template",
        ),
        (
            json!({"inbound": [{"topic": "x/{id}/set"}],
                   "commands": [{"name": "*", "topic": "x/{id}/{name}"}]}),
            "commands[0].topic: may be the same topic as inbound[0].topic (a device may publish its inbound topics, never its commands)",
        ),
        (
            json!({}),
            "inbound: a layout needs at least one inbound or command rule",
        ),
        (
            json!({"via_app": "z2m", "inbound": [{"topic": "a/{id}"}]}),
            "via_app: only a device's layout may name an application",
        ),
    ];
    for (document, expected) in cases {
        let error = layout(document.clone())
            .validate(LayoutScope::App)
            .expect_err(&document.to_string());
        assert_eq!(error.to_string(), expected);
    }
    // A device's layout may use concrete topics, and name the application it comes through.
    layout(
        json!({"via_app": "z2m", "inbound": [{"topic": "zigbee2mqtt/plug"}],
                  "commands": [{"name": "switch", "topic": "zigbee2mqtt/plug/set"}]}),
    )
    .validate(LayoutScope::Device)
    .unwrap();
    assert!(serde_json::from_value::<Layout>(json!({"inbound": [], "extra": 1})).is_err());
    assert!(
        serde_json::from_value::<Layout>(json!({"inbound": [{"topic": "a/{id}", "as": "x"}]}))
            .is_err()
    );
}

#[test]
fn json_fields_are_picked_by_dotted_path() {
    let state = &bulb().inbound[0];
    let payload = br#"{"timestamp":"2026-01-01T10:00:00","is_on":true,"brightness":40,
        "color":{"r":255,"g":180,"b":120},"power_consumption":3.2}"#;
    let out = state.translate(payload).unwrap();
    assert_eq!(out.kind, InboundKind::Data);
    let value: Value = serde_json::from_slice(&out.payload).unwrap();
    assert_eq!(
        value,
        json!({"on": true, "brightness": 40, "color": {"r":255,"g":180,"b":120}, "power": 3.2})
    );
    let nested = InboundRule {
        topic: "x/{id}".into(),
        fields: [("watts".to_owned(), "meter.0.w".to_owned())].into(),
        ..InboundRule::default()
    };
    assert_eq!(
        nested.translate(br#"{"meter":[{"w":7}]}"#).unwrap().payload,
        br#"{"watts":7}"#
    );
    // Nothing selected, or not JSON: the rule does not take it.
    assert_eq!(nested.translate(br#"{"other":1}"#), None);
    assert_eq!(nested.translate(b"not json"), None);
    // A field's values through its map (Tasmota's POWER "ON"); others as they are.
    let tasmota = InboundRule {
        topic: "tele/{id}/STATE".into(),
        fields: [
            ("on".to_owned(), "POWER".to_owned()),
            ("rssi".to_owned(), "Wifi.RSSI".to_owned()),
        ]
        .into(),
        map: [(
            "on".to_owned(),
            [
                ("ON".to_owned(), json!(true)),
                ("OFF".to_owned(), json!(false)),
            ]
            .into(),
        )]
        .into(),
        ..InboundRule::default()
    };
    tasmota.validate("inbound[0]", LayoutScope::App).unwrap();
    let read = |payload: &[u8]| -> Value {
        serde_json::from_slice(&tasmota.translate(payload).unwrap().payload).unwrap()
    };
    assert_eq!(
        read(br#"{"POWER":"ON","Wifi":{"RSSI":60}}"#),
        json!({"on": true, "rssi": 60})
    );
    assert_eq!(read(br#"{"POWER":"OFF"}"#), json!({"on": false}));
    assert_eq!(read(br#"{"POWER":"TOGGLE"}"#), json!({"on": "TOGGLE"}));
    let stray = InboundRule {
        map: [("off".to_owned(), [("0".to_owned(), json!(false))].into())].into(),
        ..tasmota.clone()
    };
    let error = stray.validate("inbound[0]", LayoutScope::App).unwrap_err();
    assert!(error.to_string().contains("inbound[0].map.off"), "{error}");
    // No fields: the whole object.
    let whole = InboundRule {
        topic: "x/{id}".into(),
        ..InboundRule::default()
    };
    assert_eq!(
        whole.translate(br#"{"a":1}"#).unwrap().payload,
        br#"{"a":1}"#
    );
}

#[test]
fn plain_payloads_use_when_values_and_status_values() {
    let rules = lock().inbound;
    let first = |payload: &[u8]| rules.iter().find_map(|rule| rule.translate(payload));
    let offline = first(b"-2").unwrap();
    assert_eq!(offline.kind, InboundKind::Status);
    assert_eq!(offline.payload, b"offline");
    let unlocked = first(b"0").unwrap();
    assert_eq!(unlocked.kind, InboundKind::Data);
    assert_eq!(unlocked.payload, br#"{"locked":false}"#);
    assert_eq!(first(b" 1\n").unwrap().payload, br#"{"locked":true}"#);
    // Not in the map: no rule takes it.
    assert_eq!(first(b"7"), None);
    let bulb_status = &bulb().inbound[1];
    assert_eq!(bulb_status.translate(b"online").unwrap().payload, b"online");
    let numeric = InboundRule {
        topic: "t/{id}".into(),
        payload: PayloadFormat::Plain,
        key: Some("temperature".into()),
        ..InboundRule::default()
    };
    assert_eq!(
        numeric.translate(b"21.5").unwrap().payload,
        br#"{"temperature":21.5}"#
    );
    assert_eq!(
        numeric.translate(b"ON").unwrap().payload,
        br#"{"temperature":"ON"}"#
    );
    assert_eq!(numeric.translate(&[0xff]), None);
}

#[test]
fn commands_render_topics_and_typed_payloads() {
    let bulb = bulb();
    let switch = bulb.command_rule("switch").unwrap();
    let out = switch
        .render("switch", &json!({"on": true, "id": "c1"}), &device_vars)
        .unwrap();
    assert_eq!(out.topic, "home/livingroom/bulb/bulb1/command/switch");
    assert_eq!(out.payload, br#"{"action":"on"}"#);
    assert!(out.json);
    let off = switch
        .render("switch", &json!({"on": false}), &device_vars)
        .unwrap();
    assert_eq!(off.payload, br#"{"action":"off"}"#);
    let level = bulb
        .command_rule("brightness")
        .unwrap()
        .render("brightness", &json!({"brightness": 40}), &device_vars)
        .unwrap();
    assert_eq!(level.payload, br#"{"level":40}"#);
    // The catch-all rule: params as JSON, without the hub's id.
    let scene = bulb.command_rule("scene").unwrap();
    let out = scene
        .render(
            "scene",
            &json!({"scene": "relax", "id": "c2"}),
            &device_vars,
        )
        .unwrap();
    assert_eq!(out.topic, "home/livingroom/bulb/bulb1/command/scene");
    assert_eq!(out.payload, br#"{"scene":"relax"}"#);
    let unlock = lock().commands[0]
        .render("unlock", &json!({"id": "c3"}), &|name| {
            (name == "id").then(|| "20190412001".to_owned())
        })
        .unwrap();
    assert_eq!(unlock.topic, "/20190412001/call");
    assert_eq!(unlock.payload, b"unlock");
    assert!(!unlock.json);
}

#[test]
fn missing_params_and_variables_are_errors() {
    let bulb = bulb();
    let error = bulb.commands[0]
        .render("switch", &json!({}), &device_vars)
        .unwrap_err();
    assert!(error.contains("params.on"), "{error}");
    let error = bulb.commands[0]
        .render("switch", &json!({"on": true}), &|name| {
            (name == "id").then(|| "b1".to_owned())
        })
        .unwrap_err();
    assert!(error.contains("{room}"), "{error}");
    let text = CommandRule {
        name: "set".into(),
        topic: "cmnd/{id}/POWER".into(),
        payload: Some(json!("level={level}%")),
        ..CommandRule::default()
    };
    let out = text
        .render("set", &json!({"level": 40}), &device_vars)
        .unwrap();
    assert_eq!(out.topic, "cmnd/bulb1/POWER");
    assert_eq!(out.payload, b"level=40%");
}

#[test]
fn overlapping_filters_are_told_apart() {
    assert!(filters_overlap("a/+/c", "a/b/c"));
    assert!(filters_overlap("+/b", "a/+"));
    assert!(!filters_overlap("a/b", "a/b/c"));
    assert!(!filters_overlap("a/b", "a/c"));
}
