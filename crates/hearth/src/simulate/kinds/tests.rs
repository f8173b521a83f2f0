//! The simulated kinds' readings, commands and declared capabilities.

use super::*;

fn sim(kind: Kind) -> Sim {
    Sim::new(kind, SplitMix::from_text("t", 1))
}

#[test]
fn sensors_drift_plausibly() {
    let mut sensor = sim(Kind::Temperature);
    let first = sensor.tick().data.expect("data");
    let mut changed = false;
    for _ in 0..1000 {
        let data = sensor.tick().data.expect("data");
        let temperature = data["temperature"].as_f64().expect("a number");
        assert!((10.0..35.0).contains(&temperature), "{temperature}");
        changed |= data != first;
    }
    assert!(changed);
}

#[test]
fn commands_change_state_or_say_why_not() {
    let mut dimmer = sim(Kind::Dimmer);
    let state = dimmer
        .apply("brightness", &json!({"brightness": 40}))
        .expect("known");
    assert_eq!(state, Ok(json!({"on": true, "brightness": 40.0})));
    assert!(matches!(
        dimmer.apply("brightness", &json!({"brightness": 140})),
        Some(Err(_))
    ));
    assert_eq!(dimmer.apply("reboot", &json!({})), None);
    let mut lock = sim(Kind::Lock);
    let state = lock
        .apply("unlock", &json!({}))
        .expect("known")
        .expect("done");
    assert_eq!(state["locked"], json!(false));
    let mut thermostat = sim(Kind::Thermostat);
    thermostat
        .apply("setpoint", &json!({"setpoint": 25}))
        .expect("known")
        .expect("done");
    for _ in 0..200 {
        thermostat.tick();
    }
    let temperature = thermostat.state()["temperature"]
        .as_f64()
        .expect("a number");
    assert!((temperature - 25.0).abs() < 1.5, "{temperature}");
}

#[test]
fn new_vocabulary_commands_change_state() {
    let mut light = sim(Kind::ColorLight);
    let state = light
        .apply("color", &json!({"r": 10, "g": 20, "b": 255}))
        .expect("known")
        .expect("done");
    assert_eq!(state["color"], json!({"r": 10, "g": 20, "b": 255}));
    let state = light
        .apply("color", &json!({"color_temp_k": 4000}))
        .expect("known")
        .expect("done");
    assert_eq!(state["color_temp_k"], json!(4000.0));
    assert!(matches!(
        light.apply("color", &json!({"r": 300, "g": 0, "b": 0})),
        Some(Err(_))
    ));
    assert!(matches!(
        light.apply("color", &json!({"color_temp_k": 9000})),
        Some(Err(_))
    ));

    let mut thermostat = sim(Kind::Thermostat);
    let state = thermostat
        .apply("mode", &json!({"mode": "off"}))
        .expect("known")
        .expect("done");
    assert_eq!(state["mode"], "off");
    assert_eq!(state["heating"], false);
    assert!(matches!(
        thermostat.apply("mode", &json!({"mode": "turbo"})),
        Some(Err(_))
    ));

    let mut blind = sim(Kind::Cover);
    let closed = blind
        .apply("close", &json!({}))
        .expect("known")
        .expect("done");
    assert_eq!(closed["position"], json!(0.0));
    let half = blind
        .apply("position", &json!({"position": 40}))
        .expect("known")
        .expect("done");
    assert_eq!(half["position"], json!(40.0));
    let stopped = blind
        .apply("stop", &json!({}))
        .expect("known")
        .expect("done");
    assert_eq!(stopped["position"], json!(40.0));
    assert!(matches!(
        blind.apply("position", &json!({"position": 140})),
        Some(Err(_))
    ));
}

#[test]
fn every_kind_declares_valid_capabilities_matching_its_state() {
    use hearth_model::capability::parse_capabilities;
    for kind in Kind::ALL.into_iter().chain([Kind::Camera]) {
        let declared = serde_json::to_value(kind.capabilities()).expect("serializes");
        let read = parse_capabilities(&declared).expect("valid");
        assert_eq!(read, kind.capabilities(), "{kind:?}");
        // Every key a capability reads is in the state the device reports.
        let state = sim(kind).state();
        for capability in read {
            let key = match capability {
                Capability::Switch => "on",
                Capability::Dimmer => "brightness",
                Capability::Color { .. } => "color",
                Capability::Thermostat { .. } => "setpoint",
                Capability::Cover => "position",
                Capability::Lock => "locked",
                Capability::Sensor { key, .. } | Capability::BinarySensor { key, .. } => {
                    assert!(state.get(&key).is_some(), "{kind:?}: {key} not in {state}");
                    continue;
                }
                Capability::Camera { .. } => continue,
            };
            assert!(state.get(key).is_some(), "{kind:?}: {key} not in {state}");
        }
    }
}

#[test]
fn cameras_send_snapshots_and_motion_that_starts_and_ends() {
    let mut camera = sim(Kind::Camera);
    assert_eq!(Kind::parse("camera"), Some(Kind::Camera));
    assert_eq!(Kind::Camera.registry_kind(), "camera");
    let mut events = Vec::new();
    let mut snapshots = Vec::new();
    for _ in 0..300 {
        let tick = camera.tick();
        events.extend(tick.events);
        snapshots.push(tick.snapshot.expect("a snapshot every period"));
    }
    assert!(
        snapshots
            .iter()
            .all(|jpeg| jpeg.starts_with(&[0xff, 0xd8, 0xff]))
    );
    assert_ne!(snapshots[0], snapshots[1]);
    assert!(events.contains(&json!({"motion": true})), "{events:?}");
    // Every motion ends before the next begins.
    let mut moving = false;
    for event in &events {
        let now = event["motion"].as_bool().expect("a motion event");
        assert_ne!(now, moving, "{events:?}");
        moving = now;
    }
}
