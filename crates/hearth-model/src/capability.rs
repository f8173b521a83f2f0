//! What a device can do, so that the web app (and discovery) know which controls and
//! readings to show and which command parameters to send.
//!
//! A device declares its capabilities as a JSON list, either in its registry metadata
//! (`metadata.capabilities`, checked by [`parse_capabilities`] when set) or itself, as a
//! retained message on `devices/{id}/capabilities` ([`capabilities_topic`]); metadata
//! wins when both exist. Without either, the device's `kind` implies them
//! ([`implied_capabilities`]). The commands each capability answers are Hearth's own
//! vocabulary (docs/capabilities.md): `switch {"on"}`, `brightness {"brightness"}`,
//! `color {"r","g","b"}` or `{"color_temp_k"}`, `setpoint {"setpoint"}`, `mode {"mode"}`,
//! `position {"position"}`, `open`, `close`, `stop`, `lock`, `unlock`.

use crate::DeviceId;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One thing a device can do or report. Serialized tagged by `type`
/// (`{"type": "dimmer"}`, `{"type": "sensor", "key": "temperature", ...}`); fields a
/// type does not know are ignored, so that a newer device's declaration still reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Capability {
    /// On and off: command `switch {"on": bool}`, state key `on`.
    Switch,
    /// Brightness in percent: command `brightness {"brightness": 0..100}`, state key
    /// `brightness`.
    Dimmer,
    /// Colour: command `color {"r","g","b"}` (0..255 each) for `rgb`, or
    /// `color {"color_temp_k": 2000..6500}` for `temp`; state keys `color` ({r,g,b}) and
    /// `color_temp_k`.
    Color {
        /// Which of the two the device takes; `["rgb"]` when absent.
        #[serde(default = "default_color_modes")]
        modes: Vec<ColorMode>,
    },
    /// A heating or cooling controller: commands `setpoint {"setpoint": number}` and
    /// `mode {"mode": text}`; state keys `setpoint`, `mode`, `temperature`.
    Thermostat {
        /// Lowest setpoint (°C); 5 when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// Highest setpoint (°C); 30 when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
        /// Setpoint step (°C); 0.5 when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<f64>,
        /// The modes it takes (`heat`, `cool`, `auto`, `off`...); none means no mode
        /// control.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        modes: Vec<String>,
    },
    /// A blind, shutter or garage door: `position {"position": 0..100}` (100 = open),
    /// `open`, `close`, `stop`; state key `position`.
    Cover,
    /// A lock: `lock`, `unlock`; state key `locked` (bool).
    Lock,
    /// A numeric reading under state key `key`, with its unit and device class
    /// (`temperature`, `humidity`, `power`, `energy`, `battery`, `illuminance`...).
    Sensor {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_class: Option<String>,
    },
    /// A yes/no reading under state key `key` (true = detected, open): `motion`,
    /// `smoke`, `door`, `occupancy`...
    BinarySensor {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_class: Option<String>,
    },
    /// A camera's picture: any of an MJPEG URL, an HLS playlist URL, and snapshots
    /// (`"mqtt"`: published by the camera on `devices/{id}/snapshot`; an http(s) URL:
    /// fetched by the viewer's browser, never by the hub, docs/cameras.md).
    Camera {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mjpeg: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hls: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        snapshot: Option<String>,
    },
}

/// How a colour light takes its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorMode {
    /// Red, green and blue, 0..255 each.
    Rgb,
    /// White colour temperature in kelvin (2000..6500).
    Temp,
}

fn default_color_modes() -> Vec<ColorMode> {
    vec![ColorMode::Rgb]
}

/// The capability types, as spelled in `type`.
pub const CAPABILITY_TYPES: [&str; 9] = [
    "switch",
    "dimmer",
    "color",
    "thermostat",
    "cover",
    "lock",
    "sensor",
    "binary_sensor",
    "camera",
];

/// At most this many capabilities per device: a control panel, not a database.
pub const MAX_CAPABILITIES: usize = 64;

/// `devices/{id}/capabilities`: where a device may declare its capabilities itself
/// (retained). Not history: ingest leaves it alone, the broker keeps the retained copy.
pub fn capabilities_topic(device: &DeviceId) -> String {
    format!("devices/{device}/capabilities")
}

/// What a device of `kind` can do when nothing declares it: switch, relay, plug →
/// switch; light, dimmer → switch and dimmer; thermostat; lock; cover, blind → cover;
/// camera; smoke → a smoke binary sensor. Other kinds (sensors) show their readings as
/// they come.
pub fn implied_capabilities(kind: &str) -> Vec<Capability> {
    match kind {
        "switch" | "relay" | "plug" => vec![Capability::Switch],
        "light" | "dimmer" => vec![Capability::Switch, Capability::Dimmer],
        "thermostat" => vec![Capability::Thermostat {
            min: None,
            max: None,
            step: None,
            modes: Vec::new(),
        }],
        "lock" => vec![Capability::Lock],
        "cover" | "blind" => vec![Capability::Cover],
        "camera" => vec![Capability::Camera {
            mjpeg: None,
            hls: None,
            snapshot: None,
        }],
        "smoke" => vec![Capability::BinarySensor {
            key: "smoke".into(),
            device_class: Some("smoke".into()),
        }],
        _ => Vec::new(),
    }
}

/// Why a capability list was refused: `path` is relative to the list (`[2].type`,
/// `[0].min`, or empty for the list itself), so that the registry can blame
/// `metadata.capabilities[2].type`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct CapabilityError {
    pub path: String,
    pub message: String,
}

fn refuse(path: impl Into<String>, message: impl Into<String>) -> CapabilityError {
    CapabilityError {
        path: path.into(),
        message: message.into(),
    }
}

/// Checks a declared capability list (a device's `metadata.capabilities` or the payload
/// of its `devices/{id}/capabilities`) and reads it. Each entry's `type` must be known,
/// and the fields it has must have their type and range, blamed one by one.
pub fn parse_capabilities(value: &Value) -> Result<Vec<Capability>, CapabilityError> {
    let Value::Array(entries) = value else {
        return Err(refuse("", "must be a list of capability objects"));
    };
    if entries.len() > MAX_CAPABILITIES {
        return Err(refuse(
            "",
            format!("at most {MAX_CAPABILITIES} capabilities"),
        ));
    }
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| check_entry(&format!("[{index}]"), entry))
        .collect()
}

fn check_entry(at: &str, entry: &Value) -> Result<Capability, CapabilityError> {
    let Value::Object(fields) = entry else {
        return Err(refuse(at, "must be an object with a \"type\""));
    };
    let kind = match fields.get("type") {
        Some(Value::String(kind)) if CAPABILITY_TYPES.contains(&kind.as_str()) => kind.as_str(),
        Some(Value::String(kind)) => {
            return Err(refuse(
                format!("{at}.type"),
                format!(
                    "{kind:?} is not a capability: use one of {}",
                    CAPABILITY_TYPES.join(", ")
                ),
            ));
        }
        Some(_) => return Err(refuse(format!("{at}.type"), "must be a string")),
        None => return Err(refuse(format!("{at}.type"), "is missing")),
    };
    let check = Fields { at, fields };
    match kind {
        "color" => {
            if let Some(modes) = check.list("modes")? {
                if modes.is_empty() {
                    return Err(refuse(format!("{at}.modes"), "must name rgb, temp or both"));
                }
                for (index, mode) in modes.iter().enumerate() {
                    if !matches!(mode.as_str(), Some("rgb" | "temp")) {
                        return Err(refuse(
                            format!("{at}.modes[{index}]"),
                            "must be \"rgb\" or \"temp\"",
                        ));
                    }
                }
            }
        }
        "thermostat" => {
            let min = check.number("min")?.unwrap_or(5.0);
            let max = check.number("max")?.unwrap_or(30.0);
            if min >= max {
                return Err(refuse(
                    format!("{at}.max"),
                    format!("must be above min ({min})"),
                ));
            }
            if let Some(step) = check.number("step")?
                && (step <= 0.0 || step > max - min)
            {
                return Err(refuse(
                    format!("{at}.step"),
                    "must be above 0 and at most max - min",
                ));
            }
            if let Some(modes) = check.list("modes")? {
                for (index, mode) in modes.iter().enumerate() {
                    if !mode.as_str().is_some_and(|mode| word(mode, 32)) {
                        return Err(refuse(
                            format!("{at}.modes[{index}]"),
                            "must be a word such as heat, cool, auto or off",
                        ));
                    }
                }
            }
        }
        "sensor" | "binary_sensor" => {
            check.text("key", 64, true)?;
            check.text("device_class", 32, false)?;
            if kind == "sensor" {
                check.text("unit", 16, false)?;
            }
        }
        "camera" => {
            check.url("mjpeg", false)?;
            check.url("hls", false)?;
            check.url("snapshot", true)?;
        }
        _ => {}
    }
    serde_json::from_value(entry.clone()).map_err(|error| refuse(at, error.to_string()))
}

/// A lowercase word: letters, digits, `_` or `-`, 1 to `max` bytes.
fn word(text: &str, max: usize) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-'
        })
}

/// One entry's fields, with the entry's path to blame.
struct Fields<'a> {
    at: &'a str,
    fields: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn present(&self, name: &str) -> Option<&Value> {
        self.fields.get(name).filter(|value| !value.is_null())
    }

    fn number(&self, name: &str) -> Result<Option<f64>, CapabilityError> {
        match self.present(name) {
            None => Ok(None),
            Some(value) => match value.as_f64() {
                Some(number) if number.is_finite() && number.abs() <= 1e6 => Ok(Some(number)),
                _ => Err(refuse(format!("{}.{name}", self.at), "must be a number")),
            },
        }
    }

    fn list(&self, name: &str) -> Result<Option<&Vec<Value>>, CapabilityError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Array(items)) if items.len() <= 16 => Ok(Some(items)),
            Some(_) => Err(refuse(
                format!("{}.{name}", self.at),
                "must be a list of at most 16 words",
            )),
        }
    }

    fn text(&self, name: &str, max: usize, required: bool) -> Result<(), CapabilityError> {
        match self.present(name) {
            None if required => Err(refuse(format!("{}.{name}", self.at), "is missing")),
            None => Ok(()),
            Some(Value::String(text)) if !text.trim().is_empty() && text.chars().count() <= max => {
                Ok(())
            }
            Some(_) => Err(refuse(
                format!("{}.{name}", self.at),
                format!("must be a non-empty text of at most {max} characters"),
            )),
        }
    }

    /// An http(s) URL (or, for snapshots, `"mqtt"`): the browser loads it, so nothing
    /// like `javascript:` may get in.
    fn url(&self, name: &str, mqtt_allowed: bool) -> Result<(), CapabilityError> {
        let Some(value) = self.present(name) else {
            return Ok(());
        };
        let ok = value.as_str().is_some_and(|text| {
            (mqtt_allowed && text == "mqtt")
                || (text.len() <= 2048
                    && !text.chars().any(char::is_whitespace)
                    && (text.starts_with("http://") || text.starts_with("https://"))
                    && text.len() > "https://".len())
        });
        if ok {
            Ok(())
        } else {
            let what = if mqtt_allowed {
                "\"mqtt\" or an http(s) URL"
            } else {
                "an http(s) URL"
            };
            Err(refuse(
                format!("{}.{name}", self.at),
                format!("must be {what}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_design_examples_read_and_write_back_the_same() {
        let declared = json!([
            {"type": "switch"},
            {"type": "dimmer"},
            {"type": "color", "modes": ["rgb", "temp"]},
            {"type": "thermostat", "min": 5.0, "max": 30.0, "step": 0.5, "modes": ["heat", "off"]},
            {"type": "cover"},
            {"type": "lock"},
            {"type": "sensor", "key": "temperature", "unit": "°C", "device_class": "temperature"},
            {"type": "binary_sensor", "key": "motion", "device_class": "motion"},
            {"type": "camera", "mjpeg": "http://cam.local/video", "hls": "http://cam.local/index.m3u8", "snapshot": "mqtt"},
        ]);
        let capabilities = parse_capabilities(&declared).expect("valid");
        assert_eq!(capabilities.len(), 9);
        assert_eq!(capabilities[1], Capability::Dimmer);
        assert_eq!(
            serde_json::to_value(&capabilities).expect("serializes"),
            declared
        );
    }

    #[test]
    fn absent_fields_take_their_defaults() {
        let capabilities =
            parse_capabilities(&json!([{"type": "color"}, {"type": "thermostat"}])).expect("valid");
        assert_eq!(
            capabilities[0],
            Capability::Color {
                modes: vec![ColorMode::Rgb]
            }
        );
        assert_eq!(
            serde_json::to_value(&capabilities[1]).expect("serializes"),
            json!({"type": "thermostat"})
        );
    }

    #[test]
    fn a_bad_entry_is_blamed_by_index_and_field() {
        let path = |value: Value| parse_capabilities(&value).expect_err("refused").path;
        assert_eq!(path(json!({"type": "switch"})), "");
        assert_eq!(
            path(json!([{"type": "switch"}, {"type": "dimmer"}, {"type": "toaster"}])),
            "[2].type"
        );
        assert_eq!(path(json!([{"kind": "switch"}])), "[0].type");
        assert_eq!(path(json!([{"type": 3}])), "[0].type");
        assert_eq!(path(json!(["switch"])), "[0]");
        assert_eq!(
            path(json!([{"type": "color", "modes": ["rgb", "hsv"]}])),
            "[0].modes[1]"
        );
        assert_eq!(
            path(json!([{"type": "thermostat", "min": 30, "max": 5}])),
            "[0].max"
        );
        assert_eq!(
            path(json!([{"type": "thermostat", "min": "cold"}])),
            "[0].min"
        );
        assert_eq!(path(json!([{"type": "thermostat", "step": 0}])), "[0].step");
        assert_eq!(
            path(json!([{"type": "thermostat", "modes": ["Heat!"]}])),
            "[0].modes[0]"
        );
        assert_eq!(path(json!([{"type": "sensor", "unit": "°C"}])), "[0].key");
        assert_eq!(
            path(json!([{"type": "sensor", "key": "t", "unit": 3}])),
            "[0].unit"
        );
        assert_eq!(
            path(json!([{"type": "binary_sensor", "key": ""}])),
            "[0].key"
        );
        assert_eq!(
            path(json!([{"type": "camera", "mjpeg": "javascript:alert(1)"}])),
            "[0].mjpeg"
        );
        assert_eq!(
            path(json!([{"type": "camera", "snapshot": "ftp://cam/snap.jpg"}])),
            "[0].snapshot"
        );
        let too_many: Vec<Value> = (0..=MAX_CAPABILITIES)
            .map(|_| json!({"type": "switch"}))
            .collect();
        assert_eq!(path(Value::Array(too_many)), "");
    }

    #[test]
    fn unknown_fields_are_ignored_for_newer_devices() {
        let capabilities =
            parse_capabilities(&json!([{"type": "dimmer", "min": 1, "note": "x"}])).expect("valid");
        assert_eq!(capabilities, vec![Capability::Dimmer]);
    }

    #[test]
    fn kinds_imply_their_capabilities() {
        assert_eq!(implied_capabilities("relay"), vec![Capability::Switch]);
        assert_eq!(implied_capabilities("plug"), vec![Capability::Switch]);
        assert_eq!(
            implied_capabilities("light"),
            vec![Capability::Switch, Capability::Dimmer]
        );
        assert_eq!(implied_capabilities("blind"), vec![Capability::Cover]);
        assert_eq!(implied_capabilities("lock"), vec![Capability::Lock]);
        assert!(matches!(
            implied_capabilities("thermostat")[..],
            [Capability::Thermostat { .. }]
        ));
        assert!(matches!(
            implied_capabilities("camera")[..],
            [Capability::Camera { .. }]
        ));
        assert!(implied_capabilities("sensor").is_empty());
        // What a kind implies is itself a valid declaration.
        for kind in [
            "switch",
            "light",
            "thermostat",
            "lock",
            "cover",
            "camera",
            "smoke",
        ] {
            let declared = serde_json::to_value(implied_capabilities(kind)).expect("serializes");
            assert_eq!(
                parse_capabilities(&declared).expect("valid"),
                implied_capabilities(kind),
                "{kind}"
            );
        }
    }

    #[test]
    fn the_topic_is_under_the_device() {
        let device: DeviceId = "lamp-1".parse().expect("an id");
        assert_eq!(capabilities_topic(&device), "devices/lamp-1/capabilities");
    }
}
