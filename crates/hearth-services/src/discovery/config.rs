//! Home Assistant MQTT discovery configs, parsed (pure functions, no I/O).
//!
//! A config arrives on `<prefix>/<component>/[<node_id>/]<object_id>/config` as a JSON
//! object whose keys may be abbreviated (`stat_t` for `state_topic`, see
//! `abbreviations`) and whose `*_topic` values may start or end with `~`, the base topic
//! given under the `~` key. Device-based discovery (`<prefix>/device/<object_id>/config`)
//! announces several components at once under `components` (`cmps`), each with its
//! `platform` (`p`); the root's other options (a shared `state_topic`, `availability`,
//! `qos`) apply to every component that does not set its own. An empty payload removes
//! what the topic announced.
//!
//! [`parse_config`] turns one message into a [`Config`]: the device it belongs to (its
//! discovery id and description) and its components with every key expanded and `~`
//! resolved. What the components mean for Hearth (kind, capabilities, topic layout) is
//! `normalize`'s.

use super::abbreviations::{
    ABBREVIATIONS, DEVICE_ABBREVIATIONS, ORIGIN_ABBREVIATIONS, expand as expand_key,
};
use hearth_model::DiscoveredComponent;
use serde_json::{Map, Value};

/// The parts of a config topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigTopic {
    pub component: String,
    pub node_id: Option<String>,
    pub object_id: String,
}

/// A level of a discovery topic: HA allows `[a-zA-Z0-9_-]` only.
fn valid_level(level: &str) -> bool {
    !level.is_empty()
        && level
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

/// `<prefix>/<component>/[<node_id>/]<object_id>/config`, or `None` for any other topic
/// (`<prefix>/status`, state topics under the prefix, malformed levels).
pub fn parse_topic(prefix: &str, topic: &str) -> Option<ConfigTopic> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let levels: Vec<&str> = rest.split('/').collect();
    let (component, node_id, object_id) = match levels.as_slice() {
        [component, object_id, "config"] => (*component, None, *object_id),
        [component, node_id, object_id, "config"] => (*component, Some(*node_id), *object_id),
        _ => return None,
    };
    if !valid_level(component) || !valid_level(object_id) || !node_id.is_none_or(valid_level) {
        return None;
    }
    Some(ConfigTopic {
        component: component.to_owned(),
        node_id: node_id.map(str::to_owned),
        object_id: object_id.to_owned(),
    })
}

/// The device a config describes (`device`/`dev`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceInfo {
    pub identifiers: Vec<String>,
    pub name: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub sw_version: Option<String>,
}

/// What one config message says.
#[derive(Debug, Clone, PartialEq)]
pub enum Config {
    /// An empty payload: whatever this topic announced is gone.
    Removed,
    /// Components of the device `discovery_id`.
    Announced(Announcement),
}

/// The components one config announces, and those it withdraws (device-based discovery:
/// a component given with nothing but its platform).
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    /// Sanitized to a Hearth device id (see [`discovery_id`]).
    pub discovery_id: String,
    pub device: DeviceInfo,
    pub components: Vec<DiscoveredComponent>,
    /// Object ids of components withdrawn by this config.
    pub withdrawn: Vec<String>,
}

/// Why a config was ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("not a discovery config topic")]
    NotConfigTopic,
    #[error("payload is not a JSON object: {0}")]
    NotJson(String),
    #[error("no identifier for the device (no device identifiers, unique_id or node id)")]
    NoIdentifier,
    #[error("device-based discovery without components")]
    NoComponents,
}

/// Parses the message on `topic` (under discovery `prefix`).
pub fn parse_config(
    prefix: &str,
    topic: &str,
    payload: &[u8],
) -> Result<(ConfigTopic, Config), ConfigError> {
    let parsed = parse_topic(prefix, topic).ok_or(ConfigError::NotConfigTopic)?;
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok((parsed, Config::Removed));
    }
    let raw: Value =
        serde_json::from_slice(payload).map_err(|error| ConfigError::NotJson(error.to_string()))?;
    let Value::Object(raw) = raw else {
        return Err(ConfigError::NotJson("not an object".into()));
    };
    let root = expand_object(&raw);
    let device = device_info(root.get("device"));
    let mut components = Vec::new();
    let mut withdrawn = Vec::new();
    if parsed.component == "device" {
        let Some(Value::Object(entries)) = root.get("components") else {
            return Err(ConfigError::NoComponents);
        };
        // Options shared by every component: the root's, less what describes the whole.
        let mut shared = root.clone();
        for key in ["components", "device", "origin", "~"] {
            shared.remove(key);
        }
        for (key, entry) in entries {
            let Value::Object(entry) = entry else {
                continue;
            };
            let own = expand_object(entry);
            let platform = own.get("platform").and_then(Value::as_str).unwrap_or("");
            if own.len() == 1 && !platform.is_empty() {
                withdrawn.push(key.clone());
                continue;
            }
            let mut merged = shared.clone();
            merged.extend(own);
            let base = merged
                .get("~")
                .or_else(|| raw.get("~"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            resolve_base(&mut merged, base.as_deref());
            let platform = merged
                .get("platform")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            components.push(component(platform, key.clone(), topic, merged));
        }
        if components.is_empty() && withdrawn.is_empty() {
            return Err(ConfigError::NoComponents);
        }
    } else {
        let mut config = root.clone();
        let base = raw.get("~").and_then(Value::as_str).map(str::to_owned);
        resolve_base(&mut config, base.as_deref());
        let object_id = match &parsed.node_id {
            Some(node) => format!("{node}_{}", parsed.object_id),
            None => parsed.object_id.clone(),
        };
        components.push(component(
            parsed.component.clone(),
            object_id,
            topic,
            config,
        ));
    }
    let candidate = device
        .identifiers
        .first()
        .cloned()
        .or_else(|| connection_id(root.get("device")))
        .or_else(|| {
            components
                .iter()
                .find_map(|component| component.unique_id.clone())
        })
        .or_else(|| parsed.node_id.clone())
        .or_else(|| (parsed.component == "device").then(|| parsed.object_id.clone()));
    let discovery_id = candidate
        .as_deref()
        .and_then(discovery_id)
        .ok_or(ConfigError::NoIdentifier)?;
    Ok((
        parsed,
        Config::Announced(Announcement {
            discovery_id,
            device,
            components,
            withdrawn,
        }),
    ))
}

fn component(
    platform: String,
    object_id: String,
    topic: &str,
    config: Map<String, Value>,
) -> DiscoveredComponent {
    let text = |key: &str| config.get(key).and_then(Value::as_str).map(str::to_owned);
    DiscoveredComponent {
        name: text("name"),
        unique_id: text("unique_id"),
        device_class: text("device_class"),
        unit: text("unit_of_measurement"),
        component: platform,
        object_id,
        config_topic: topic.to_owned(),
        config: Value::Object(config),
        unsupported: Vec::new(),
    }
}

/// A Hearth device id from a discovery identifier: characters outside
/// `[A-Za-z0-9_-]` become `_`, a leading `-` or `_` run is kept only if something
/// follows, and the id is cut at 64 characters. `None` when nothing usable is left.
pub fn discovery_id(identifier: &str) -> Option<String> {
    let mut id: String = identifier
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    while id.starts_with('-') {
        id.remove(0);
    }
    id.truncate(hearth_model_max_id());
    (!id.is_empty() && id.bytes().any(|b| b.is_ascii_alphanumeric())).then_some(id)
}

const fn hearth_model_max_id() -> usize {
    64
}

/// Every key of a component-level object expanded, recursively into `device`,
/// `origin` and `availability` entries.
fn expand_object(raw: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in raw {
        let full = expand_key(ABBREVIATIONS, key);
        let value = match (full, value) {
            ("device", Value::Object(device)) => Value::Object(
                device
                    .iter()
                    .map(|(k, v)| (expand_key(DEVICE_ABBREVIATIONS, k).to_owned(), v.clone()))
                    .collect(),
            ),
            ("origin", Value::Object(origin)) => Value::Object(
                origin
                    .iter()
                    .map(|(k, v)| (expand_key(ORIGIN_ABBREVIATIONS, k).to_owned(), v.clone()))
                    .collect(),
            ),
            ("availability", Value::Array(entries)) => Value::Array(
                entries
                    .iter()
                    .map(|entry| match entry {
                        Value::Object(entry) => Value::Object(expand_object(entry)),
                        other => other.clone(),
                    })
                    .collect(),
            ),
            // Components stay abbreviated here: each is expanded with the root's
            // shared options merged in.
            _ => value.clone(),
        };
        // A full key beats its abbreviation when both are given.
        if full != key && raw.contains_key(full) {
            continue;
        }
        out.insert(full.to_owned(), value);
    }
    out
}

/// `~` at the start or end of a `*_topic` value (and of availability topics) becomes
/// `base`, as HA does.
fn resolve_base(config: &mut Map<String, Value>, base: Option<&str>) {
    let Some(base) = base else {
        return;
    };
    let replace = |topic: &str| -> String {
        if let Some(rest) = topic.strip_prefix('~') {
            format!("{base}{rest}")
        } else if let Some(rest) = topic.strip_suffix('~') {
            format!("{rest}{base}")
        } else {
            topic.to_owned()
        }
    };
    for (key, value) in config.iter_mut() {
        if key.ends_with("_topic")
            && let Value::String(topic) = value
        {
            *topic = replace(topic);
        }
        if key == "availability"
            && let Value::Array(entries) = value
        {
            for entry in entries {
                if let Some(Value::String(topic)) = entry.get_mut("topic") {
                    *topic = replace(topic);
                }
            }
        }
    }
}

fn device_info(device: Option<&Value>) -> DeviceInfo {
    let Some(Value::Object(device)) = device else {
        return DeviceInfo::default();
    };
    let text = |key: &str| device.get(key).and_then(Value::as_str).map(str::to_owned);
    let identifiers = match device.get("identifiers") {
        Some(Value::String(id)) => vec![id.clone()],
        Some(Value::Array(ids)) => ids
            .iter()
            .filter_map(|id| match id {
                Value::String(id) => Some(id.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    DeviceInfo {
        identifiers,
        name: text("name"),
        manufacturer: text("manufacturer"),
        model: text("model"),
        sw_version: text("sw_version"),
    }
}

/// The first connection's value (`[["mac", "DC:4F:..."]]`), for devices without
/// identifiers.
fn connection_id(device: Option<&Value>) -> Option<String> {
    let pair = device?
        .get("connections")?
        .as_array()?
        .first()?
        .as_array()?;
    pair.get(1)?.as_str().map(str::to_owned)
}

/// A `value_template` as Hearth understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueTemplate {
    /// `{{ value }}`: the payload itself.
    Value,
    /// `{{ value_json.a.b }}`, `{{ value_json['a'] }}`: a path into a JSON payload.
    Json(Vec<String>),
    /// Anything else (filters, conditions, arithmetic), kept as written.
    Unsupported(String),
}

impl ValueTemplate {
    /// The path as the layouts' dotted form (`ENERGY.Power`).
    pub fn dotted(&self) -> Option<String> {
        match self {
            ValueTemplate::Json(path) => Some(path.join(".")),
            _ => None,
        }
    }
}

/// Reads the common forms of a `value_template` (see [`ValueTemplate`]).
pub fn parse_value_template(template: &str) -> ValueTemplate {
    let unsupported = || ValueTemplate::Unsupported(template.to_owned());
    let Some(inner) = template
        .trim()
        .strip_prefix("{{")
        .and_then(|rest| rest.strip_suffix("}}"))
    else {
        return unsupported();
    };
    let inner = inner.trim();
    if inner == "value" {
        return ValueTemplate::Value;
    }
    let Some(mut rest) = inner.strip_prefix("value_json") else {
        return unsupported();
    };
    let mut path = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if end == 0 {
                return unsupported();
            }
            path.push(after[..end].to_owned());
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let after = after.trim_start();
            let quote = match after.chars().next() {
                Some(q @ ('\'' | '"')) => q,
                _ => return unsupported(),
            };
            let body = &after[1..];
            let Some(end) = body.find(quote) else {
                return unsupported();
            };
            let key = &body[..end];
            if key.is_empty() || key.contains('.') {
                return unsupported();
            }
            path.push(key.to_owned());
            let Some(after) = body[end + 1..].trim_start().strip_prefix(']') else {
                return unsupported();
            };
            rest = after;
        } else {
            return unsupported();
        }
    }
    if path.is_empty() {
        return unsupported();
    }
    ValueTemplate::Json(path)
}

/// One availability topic with its payloads (defaults `online` / `offline`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityTopic {
    pub topic: String,
    pub payload_available: String,
    pub payload_not_available: String,
    pub value_template: Option<String>,
}

/// A component's availability: its topics and how they combine (`latest`, `all`,
/// `any`; HA's default is `latest`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Availability {
    pub topics: Vec<AvailabilityTopic>,
    pub mode: String,
}

/// Scalar config values as text (`true`, `ON`, `1`): payloads may be given as JSON
/// booleans or numbers (Zigbee2MQTT's binary sensors: `payload_on: true`).
pub fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The availability of an (expanded) component config: `availability_topic` with the
/// root payloads, or the `availability` list, each entry with its own payloads.
pub fn availability(config: &Value) -> Availability {
    let text = |key: &str, default: &str| {
        config
            .get(key)
            .and_then(as_text)
            .unwrap_or_else(|| default.to_owned())
    };
    let mut topics = Vec::new();
    if let Some(topic) = config.get("availability_topic").and_then(Value::as_str) {
        topics.push(AvailabilityTopic {
            topic: topic.to_owned(),
            payload_available: text("payload_available", "online"),
            payload_not_available: text("payload_not_available", "offline"),
            value_template: config
                .get("availability_template")
                .and_then(Value::as_str)
                .map(str::to_owned),
        });
    }
    if let Some(Value::Array(entries)) = config.get("availability") {
        for entry in entries {
            let Some(topic) = entry.get("topic").and_then(Value::as_str) else {
                continue;
            };
            let own = |key: &str, default: &str| {
                entry
                    .get(key)
                    .and_then(as_text)
                    .unwrap_or_else(|| default.to_owned())
            };
            topics.push(AvailabilityTopic {
                topic: topic.to_owned(),
                payload_available: own("payload_available", "online"),
                payload_not_available: own("payload_not_available", "offline"),
                value_template: entry
                    .get("value_template")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            });
        }
    }
    Availability {
        topics,
        mode: text("availability_mode", "latest"),
    }
}

/// What an availability message says under `topic`'s rules: `Some(true)` available,
/// `Some(false)` not, `None` neither (or a template Hearth does not read). A
/// `value_template` of the common forms (`{{ value_json.state }}`, as Zigbee2MQTT's JSON
/// availability) picks the word first.
pub fn availability_word(topic: &AvailabilityTopic, payload: &[u8]) -> Option<bool> {
    let text = String::from_utf8_lossy(payload).trim().to_owned();
    let word = match topic.value_template.as_deref().map(parse_value_template) {
        None | Some(ValueTemplate::Value) => text,
        Some(ValueTemplate::Json(path)) => {
            let value: Value = serde_json::from_str(&text).ok()?;
            let found = path.iter().try_fold(&value, |at, step| at.get(step))?;
            as_text(found)?
        }
        Some(ValueTemplate::Unsupported(_)) => return None,
    };
    if word == topic.payload_available {
        Some(true)
    } else if word == topic.payload_not_available {
        Some(false)
    } else {
        None
    }
}
