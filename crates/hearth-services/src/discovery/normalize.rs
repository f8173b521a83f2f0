//! What announced components mean for Hearth: the adopted device's kind, the
//! capabilities they imply (the vocabulary of `metadata.capabilities`) and the topic
//! layout (as the JSON document of `hearth_model::layout::Layout`) that carries their
//! states, availability and commands.
//!
//! Supported: `switch`; `light` (default schema: state, brightness with scale 100;
//! JSON schema: state, brightness with scale 100); `sensor`; `binary_sensor`;
//! `lock`; `cover` (open/close/stop, position with range 0-100). Values are read from a
//! plain payload or with `{{ value }}` / `{{ value_json.path }}` templates. Anything
//! else is listed in the component's `unsupported` and left out of the layout.

use super::config::{ValueTemplate, as_text, availability, parse_value_template};
use hearth_model::DiscoveredComponent;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

fn text(config: &Value, key: &str) -> Option<String> {
    config.get(key).and_then(as_text)
}

fn text_or(config: &Value, key: &str, default: &str) -> String {
    text(config, key).unwrap_or_else(|| default.to_owned())
}

/// Hearth's state key for a reading component: the template's last path element
/// (`value_json.temperature`), else the device class, else the object id; lowercase.
fn reading_key(component: &DiscoveredComponent) -> String {
    let from_template = component
        .config
        .get("value_template")
        .and_then(Value::as_str)
        .map(parse_value_template)
        .and_then(|template| match template {
            ValueTemplate::Json(path) => path.last().cloned(),
            _ => None,
        });
    from_template
        .or_else(|| component.device_class.clone())
        .unwrap_or_else(|| component.object_id.clone())
        .to_lowercase()
}

/// Fills each component's `unsupported` list (what Hearth cannot use of it).
pub fn annotate(component: &mut DiscoveredComponent) {
    let config = &component.config;
    let mut notes = Vec::new();
    for key in [
        "value_template",
        "state_value_template",
        "brightness_value_template",
    ] {
        if let Some(template) = config.get(key).and_then(Value::as_str)
            && let ValueTemplate::Unsupported(_) = parse_value_template(template)
        {
            notes.push(format!(
                "{key} {template:?}: only {{{{ value }}}} and {{{{ value_json.path }}}} are read"
            ));
        }
    }
    for key in [
        "command_template",
        "brightness_command_template",
        "json_attributes_template",
    ] {
        if config.get(key).is_some() {
            notes.push(format!("{key}: templates are not rendered"));
        }
    }
    match component.component.as_str() {
        "switch" | "sensor" | "binary_sensor" | "lock" => {}
        "light" => {
            let scale = config
                .get("brightness_scale")
                .and_then(Value::as_f64)
                .unwrap_or(255.0);
            let has_brightness = config.get("brightness_command_topic").is_some()
                || config.get("brightness").and_then(Value::as_bool) == Some(true);
            if has_brightness && scale != 100.0 {
                notes.push(format!(
                    "brightness_scale {scale}: Hearth's brightness is a percentage and is not rescaled, so brightness is left out"
                ));
            }
            for key in [
                "rgb_command_topic",
                "color_temp_command_topic",
                "effect_command_topic",
                "xy_command_topic",
                "hs_command_topic",
            ] {
                if config.get(key).is_some() {
                    notes.push(format!("{key}: colour and effects are not supported yet"));
                }
            }
            if config.get("schema").and_then(Value::as_str) == Some("template") {
                notes.push("light schema template is not supported".into());
            }
        }
        "cover" => {
            if config.get("set_position_topic").is_some()
                && (config
                    .get("position_open")
                    .and_then(Value::as_i64)
                    .unwrap_or(100)
                    != 100
                    || config
                        .get("position_closed")
                        .and_then(Value::as_i64)
                        .unwrap_or(0)
                        != 0)
            {
                notes.push("cover position range other than 0-100 is not supported".into());
            }
        }
        other => notes.push(format!("component {other:?} has no Hearth capability yet")),
    }
    if availability(config)
        .topics
        .iter()
        .any(|topic| topic.value_template.is_some())
    {
        notes.push("availability value_template: an adopted device's presence follows plain availability payloads only (the template is read for the discovered list and the presence at adoption)".into());
    }
    component.unsupported = notes;
}

fn brightness_supported(config: &Value) -> bool {
    config
        .get("brightness_scale")
        .and_then(Value::as_f64)
        .unwrap_or(255.0)
        == 100.0
        && (config.get("brightness_command_topic").is_some()
            || config.get("brightness").and_then(Value::as_bool) == Some(true))
}

/// The capabilities the components imply, one per component (a light: switch, and
/// dimmer when its brightness is usable), without duplicates.
pub fn capabilities(components: &[DiscoveredComponent]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut push = |capability: Value| {
        if !out.contains(&capability) {
            out.push(capability);
        }
    };
    for component in components {
        let config = &component.config;
        match component.component.as_str() {
            "switch" => push(json!({"type": "switch"})),
            "light" => {
                push(json!({"type": "switch"}));
                if brightness_supported(config) {
                    push(json!({"type": "dimmer"}));
                }
            }
            "lock" => push(json!({"type": "lock"})),
            "cover" => push(json!({"type": "cover"})),
            "sensor" => {
                let mut capability = json!({"type": "sensor", "key": reading_key(component)});
                if let Some(unit) = &component.unit {
                    capability["unit"] = json!(unit.trim());
                }
                if let Some(class) = &component.device_class {
                    capability["device_class"] = json!(class);
                }
                push(capability);
            }
            "binary_sensor" => {
                let mut capability =
                    json!({"type": "binary_sensor", "key": reading_key(component)});
                if let Some(class) = &component.device_class {
                    capability["device_class"] = json!(class);
                }
                push(capability);
            }
            _ => {}
        }
    }
    out
}

/// The kind of the adopted device: the most capable component decides.
pub fn kind(components: &[DiscoveredComponent]) -> String {
    let has = |platform: &str| components.iter().any(|c| c.component == platform);
    for (platform, kind) in [
        ("light", "light"),
        ("switch", "switch"),
        ("lock", "lock"),
        ("cover", "cover"),
        ("climate", "thermostat"),
        ("binary_sensor", "sensor"),
        ("sensor", "sensor"),
    ] {
        if has(platform) {
            return kind.to_owned();
        }
    }
    "gateway".to_owned()
}

/// One inbound topic being assembled.
#[derive(Default)]
struct Inbound {
    /// JSON payload: Hearth key to dotted path.
    fields: BTreeMap<String, String>,
    /// JSON payload: per Hearth key, the device's words to the vocabulary's values
    /// (`"ON"` = true), from the component's `state_on`/`state_off`.
    maps: BTreeMap<String, BTreeMap<String, Value>>,
    /// Plain payload: the key and its values map.
    plain: Option<(String, BTreeMap<String, Value>)>,
}

/// The device-level layout document for `components` (see the module docs), with
/// `via_app` naming the discovering application.
pub fn layout(components: &[DiscoveredComponent], via_app: &str) -> Value {
    let mut inbound: BTreeMap<String, Inbound> = BTreeMap::new();
    let mut commands: Vec<Value> = Vec::new();
    let mut status: Vec<Value> = Vec::new();
    // State topics of components that take commands: a message there is the device's
    // answer (it acknowledges the oldest command in flight).
    let mut answers = std::collections::BTreeSet::new();
    for component in components {
        let config = &component.config;
        let takes_commands = config
            .as_object()
            .is_some_and(|map| map.keys().any(|key| key.ends_with("command_topic")));
        if takes_commands {
            for key in ["state_topic", "brightness_state_topic", "position_topic"] {
                if let Some(topic) = config.get(key).and_then(Value::as_str) {
                    answers.insert(topic.to_owned());
                }
            }
        }
    }
    let mut read =
        |topic: &str, template: Option<&str>, key: String, values: BTreeMap<String, Value>| {
            let entry = inbound.entry(topic.to_owned()).or_default();
            match template.map(parse_value_template) {
                Some(ValueTemplate::Json(path)) => {
                    if !values.is_empty() {
                        entry.maps.insert(key.clone(), values);
                    }
                    entry.fields.insert(key, path.join("."));
                }
                Some(ValueTemplate::Unsupported(_)) => {}
                Some(ValueTemplate::Value) | None => {
                    if entry.plain.is_none() {
                        entry.plain = Some((key, values));
                    }
                }
            }
        };
    for component in components {
        let config = &component.config;
        let state_topic = config.get("state_topic").and_then(Value::as_str);
        let command_topic = config.get("command_topic").and_then(Value::as_str);
        let template = config.get("value_template").and_then(Value::as_str);
        let on = text_or(config, "payload_on", "ON");
        let off = text_or(config, "payload_off", "OFF");
        let on_off = |on_state: String, off_state: String| -> BTreeMap<String, Value> {
            BTreeMap::from([(on_state, json!(true)), (off_state, json!(false))])
        };
        match component.component.as_str() {
            "switch" | "light" if config.get("schema").and_then(Value::as_str) == Some("json") => {
                if let Some(topic) = state_topic {
                    read(
                        topic,
                        Some("{{ value_json.state }}"),
                        "on".into(),
                        on_off("ON".into(), "OFF".into()),
                    );
                    if brightness_supported(config) {
                        read(
                            topic,
                            Some("{{ value_json.brightness }}"),
                            "brightness".into(),
                            BTreeMap::new(),
                        );
                    }
                }
                if let Some(topic) = command_topic {
                    commands.push(json!({"name": "switch", "topic": topic,
                        "payload": {"state": "{on}"},
                        "map": {"on": {"true": "ON", "false": "OFF"}}}));
                    if brightness_supported(config) {
                        commands.push(json!({"name": "brightness", "topic": topic,
                            "payload": {"brightness": "{brightness}"}}));
                    }
                }
            }
            "switch" | "light" => {
                let state_on = text(config, "state_on").unwrap_or_else(|| on.clone());
                let state_off = text(config, "state_off").unwrap_or_else(|| off.clone());
                let state_template = config
                    .get("state_value_template")
                    .and_then(Value::as_str)
                    .or(template);
                if let Some(topic) = state_topic {
                    read(
                        topic,
                        state_template,
                        "on".into(),
                        on_off(state_on, state_off),
                    );
                }
                if let Some(topic) = command_topic {
                    commands.push(json!({"name": "switch", "topic": topic, "payload": "{on}",
                        "map": {"on": {"true": on, "false": off}}}));
                }
                if component.component == "light" && brightness_supported(config) {
                    if let Some(topic) =
                        config.get("brightness_state_topic").and_then(Value::as_str)
                    {
                        let template = config
                            .get("brightness_value_template")
                            .and_then(Value::as_str);
                        read(topic, template, "brightness".into(), BTreeMap::new());
                    }
                    if let Some(topic) = config
                        .get("brightness_command_topic")
                        .and_then(Value::as_str)
                    {
                        commands.push(json!({"name": "brightness", "topic": topic, "payload": "{brightness}"}));
                    }
                }
            }
            "sensor" => {
                if let Some(topic) = state_topic {
                    read(topic, template, reading_key(component), BTreeMap::new());
                }
            }
            "binary_sensor" => {
                if let Some(topic) = state_topic {
                    read(topic, template, reading_key(component), on_off(on, off));
                }
            }
            "lock" => {
                let locked = text_or(config, "state_locked", "LOCKED");
                let unlocked = text_or(config, "state_unlocked", "UNLOCKED");
                if let Some(topic) = state_topic {
                    read(topic, template, "locked".into(), on_off(locked, unlocked));
                }
                if let Some(topic) = command_topic {
                    commands.push(json!({"name": "lock", "topic": topic, "payload": text_or(config, "payload_lock", "LOCK")}));
                    commands.push(json!({"name": "unlock", "topic": topic, "payload": text_or(config, "payload_unlock", "UNLOCK")}));
                }
            }
            "cover" => {
                if let Some(topic) = command_topic {
                    for (name, key, default) in [
                        ("open", "payload_open", "OPEN"),
                        ("close", "payload_close", "CLOSE"),
                        ("stop", "payload_stop", "STOP"),
                    ] {
                        commands.push(json!({"name": name, "topic": topic, "payload": text_or(config, key, default)}));
                    }
                }
                if let Some(topic) = config.get("set_position_topic").and_then(Value::as_str) {
                    commands
                        .push(json!({"name": "position", "topic": topic, "payload": "{position}"}));
                }
                if let Some(topic) = config.get("position_topic").and_then(Value::as_str) {
                    let template = config.get("position_template").and_then(Value::as_str);
                    read(topic, template, "position".into(), BTreeMap::new());
                }
            }
            _ => {}
        }
        for topic in availability(config).topics {
            let words =
                json!({topic.payload_available: "online", topic.payload_not_available: "offline"});
            let rule = match topic.value_template.as_deref().map(parse_value_template) {
                None | Some(ValueTemplate::Value) => json!({"topic": topic.topic, "as": "status",
                    "payload": "plain", "status_values": words}),
                // JSON availability (Zigbee2MQTT's {"state": "online"}): the field is the word.
                Some(ValueTemplate::Json(path)) => json!({"topic": topic.topic, "as": "status",
                    "payload": "json", "fields": {"state": path.join(".")}, "status_values": words}),
                Some(ValueTemplate::Unsupported(_)) => continue,
            };
            if !status.contains(&rule) {
                status.push(rule);
            }
        }
    }
    let mut rules: Vec<Value> = Vec::new();
    for (topic, entry) in inbound {
        let ack = answers.contains(&topic);
        if !entry.fields.is_empty() {
            let mut rule =
                json!({"topic": topic, "as": "data", "payload": "json", "fields": entry.fields});
            if !entry.maps.is_empty() {
                rule["map"] = json!(entry.maps);
            }
            if ack {
                rule["ack"] = json!(true);
            }
            rules.push(rule);
        } else if let Some((key, values)) = entry.plain {
            let mut rule = Map::new();
            rule.insert("topic".into(), json!(topic));
            rule.insert("as".into(), json!("data"));
            rule.insert("payload".into(), json!("plain"));
            rule.insert("key".into(), json!(key));
            if !values.is_empty() {
                rule.insert("values".into(), json!(values));
            }
            if ack {
                rule.insert("ack".into(), json!(true));
            }
            rules.push(Value::Object(rule));
        }
    }
    rules.extend(status);
    // One rule per command name: the first component's wins.
    let mut seen = std::collections::HashSet::new();
    commands.retain(|command| seen.insert(command["name"].as_str().unwrap_or("").to_owned()));
    json!({"inbound": rules, "commands": commands, "via_app": via_app})
}
