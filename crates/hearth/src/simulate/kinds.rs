//! What each kind of simulated device reports and how it answers commands: plausible
//! readings (a random walk around a per-device base, with noise), state that changes
//! only when a command says so, batteries that drain, rare alarms. Commands follow
//! Hearth's capability vocabulary (`hearth_model::capability`, docs/capabilities.md), and
//! each kind declares its capabilities ([`Kind::capabilities`]) on
//! `devices/{id}/capabilities` when it connects.

use hearth_device::SplitMix;
use hearth_model::capability::{Capability, ColorMode};
use serde_json::{Value, json};

/// The kinds of device the simulator can be. The registry's `kind` (what the web app
/// shows) is [`Kind::registry_kind`]; the simulator remembers which of its kinds a
/// device is in the device's metadata (`{"simulated": "<kind>"}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Temperature and humidity sensor.
    Temperature,
    /// On/off switch with power metering.
    Switch,
    /// Relay (on/off).
    Relay,
    /// Dimmable light: on/off and brightness 0..100.
    Dimmer,
    /// Thermostat: a setpoint, and a temperature that approaches it.
    Thermostat,
    /// Door lock: lock/unlock, a battery that drains.
    Lock,
    /// Smoke detector: rare alarms, a battery.
    Smoke,
    /// Motion sensor: motion events.
    Motion,
    /// Camera: a small JPEG snapshot every period on `devices/{id}/snapshot`
    /// (retained), and now and then motion (`{"motion": true}`, then `false`).
    Camera,
    /// Colour light: on/off, brightness, RGB colour and colour temperature.
    ColorLight,
    /// Blind: a position 0..100 (100 = open), open, close, stop.
    Cover,
}

impl Kind {
    /// The kinds `--create` cycles through, in that order, and the demo home has. A
    /// camera is asked for by name (`--kind camera`, the CSV, the simulation file): its
    /// snapshots weigh a kilobyte and more where a reading weighs tens of bytes.
    pub const ALL: [Kind; 10] = [
        Kind::Temperature,
        Kind::Switch,
        Kind::Relay,
        Kind::Dimmer,
        Kind::Thermostat,
        Kind::Lock,
        Kind::Smoke,
        Kind::Motion,
        Kind::ColorLight,
        Kind::Cover,
    ];

    /// The simulator's name of the kind (`--kind`, the CSV's third column, metadata).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Temperature => "temperature",
            Kind::Switch => "switch",
            Kind::Relay => "relay",
            Kind::Dimmer => "dimmer",
            Kind::Thermostat => "thermostat",
            Kind::Lock => "lock",
            Kind::Smoke => "smoke",
            Kind::Motion => "motion",
            Kind::Camera => "camera",
            Kind::ColorLight => "color-light",
            Kind::Cover => "cover",
        }
    }

    /// Parses [`Kind::name`].
    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .chain([Kind::Camera])
            .find(|kind| kind.name() == text.trim())
    }

    /// The registry's kind, one of those the web app knows (a dimmer is a `light`, so
    /// that the home page shows its switch).
    pub fn registry_kind(self) -> &'static str {
        match self {
            Kind::Temperature | Kind::Motion => "sensor",
            Kind::Switch => "switch",
            Kind::Relay => "relay",
            Kind::Dimmer | Kind::ColorLight => "light",
            Kind::Thermostat => "thermostat",
            Kind::Lock => "lock",
            Kind::Smoke => "smoke",
            Kind::Camera => "camera",
            Kind::Cover => "cover",
        }
    }

    /// What the kind declares on `devices/{id}/capabilities`: its controls and its
    /// readings with units and device classes.
    pub fn capabilities(self) -> Vec<Capability> {
        let sensor = |key: &str, unit: &str, class: &str| Capability::Sensor {
            key: key.into(),
            unit: Some(unit.into()),
            device_class: Some(class.into()),
        };
        let binary = |key: &str| Capability::BinarySensor {
            key: key.into(),
            device_class: Some(key.into()),
        };
        let battery = sensor("battery", "%", "battery");
        match self {
            Kind::Temperature => vec![
                sensor("temperature", "°C", "temperature"),
                sensor("humidity", "%", "humidity"),
            ],
            Kind::Switch => vec![Capability::Switch, sensor("power_w", "W", "power")],
            Kind::Relay => vec![Capability::Switch],
            Kind::Dimmer => vec![Capability::Switch, Capability::Dimmer],
            Kind::ColorLight => vec![
                Capability::Switch,
                Capability::Dimmer,
                Capability::Color {
                    modes: vec![ColorMode::Rgb, ColorMode::Temp],
                },
            ],
            Kind::Thermostat => vec![Capability::Thermostat {
                min: Some(5.0),
                max: Some(30.0),
                step: Some(0.5),
                modes: THERMOSTAT_MODES
                    .iter()
                    .map(|mode| mode.to_string())
                    .collect(),
            }],
            Kind::Cover => vec![Capability::Cover],
            Kind::Lock => vec![Capability::Lock, battery],
            Kind::Smoke => vec![binary("smoke"), battery],
            Kind::Motion => vec![binary("motion"), battery],
            Kind::Camera => vec![
                Capability::Camera {
                    mjpeg: None,
                    hls: None,
                    snapshot: Some("mqtt".into()),
                },
                binary("motion"),
            ],
        }
    }
}

/// The modes a simulated thermostat takes (`mode {"mode"}`).
pub const THERMOSTAT_MODES: [&str; 4] = ["heat", "cool", "auto", "off"];

/// One simulated device's state.
#[derive(Debug)]
pub struct Sim {
    kind: Kind,
    random: SplitMix,
    on: bool,
    brightness: f64,
    temperature: f64,
    humidity: f64,
    /// Where the temperature drifts around (sensors) or which it approaches (thermostats).
    base: f64,
    setpoint: f64,
    locked: bool,
    battery: f64,
    alarm: bool,
    /// A motion sensor saw someone this period.
    motion: bool,
    /// A thermostat's mode (one of [`THERMOSTAT_MODES`]).
    mode: &'static str,
    /// A colour light's colour and colour temperature.
    color: [u8; 3],
    color_temp_k: f64,
    /// A cover's position (100 = open).
    position: f64,
    /// Snapshots taken so far (a camera's frame counter).
    frames: u64,
    /// Where a camera's passer-by stands while there is motion.
    figure: Option<usize>,
}

/// What a tick produced: readings to publish as data, events to publish.
#[derive(Debug, Default, PartialEq)]
pub struct Tick {
    pub data: Option<Value>,
    pub events: Vec<Value>,
    /// A camera's JPEG, for `devices/{id}/snapshot` (retained).
    pub snapshot: Option<Vec<u8>>,
}

impl Sim {
    /// A device of `kind` whose readings follow from `seed` (the same seed, the same
    /// run).
    pub fn new(kind: Kind, seed: SplitMix) -> Sim {
        let mut random = seed;
        let base = random.range(19.0, 24.0);
        Sim {
            kind,
            on: random.chance(0.5),
            brightness: (random.range(20.0, 100.0)).round(),
            temperature: base,
            humidity: random.range(35.0, 60.0),
            base,
            setpoint: 21.0,
            locked: true,
            battery: random.range(60.0, 100.0),
            alarm: false,
            motion: false,
            mode: "heat",
            color: [255, 180, 100],
            color_temp_k: 2700.0,
            position: 100.0,
            frames: 0,
            figure: None,
            random,
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The state as the device reports it (data, and the `state` of its acks).
    pub fn state(&self) -> Value {
        match self.kind {
            Kind::Temperature => json!({
                "temperature": round1(self.temperature),
                "humidity": round1(self.humidity),
            }),
            Kind::Switch => json!({
                "on": self.on,
                "power_w": if self.on { round1(40.0 + self.temperature - self.base) } else { 0.0 },
            }),
            Kind::Relay => json!({ "on": self.on }),
            Kind::Dimmer => json!({ "on": self.on, "brightness": self.brightness }),
            Kind::ColorLight => json!({
                "on": self.on,
                "brightness": self.brightness,
                "color": {"r": self.color[0], "g": self.color[1], "b": self.color[2]},
                "color_temp_k": self.color_temp_k,
            }),
            Kind::Thermostat => json!({
                "temperature": round1(self.temperature),
                "setpoint": self.setpoint,
                "mode": self.mode,
                "heating": self.mode != "off" && self.setpoint > self.temperature + 0.2,
            }),
            Kind::Cover => json!({ "position": self.position }),
            Kind::Lock => json!({ "locked": self.locked, "battery": self.battery.floor() }),
            Kind::Smoke => json!({ "smoke": self.alarm, "battery": self.battery.floor() }),
            Kind::Motion => json!({ "motion": self.motion, "battery": self.battery.floor() }),
            Kind::Camera => json!({ "motion": self.figure.is_some() }),
        }
    }

    /// One reporting period passes: readings drift, batteries drain, alarms and motion
    /// happen (rarely).
    pub fn tick(&mut self) -> Tick {
        let mut tick = Tick::default();
        let noise = self.random.range(-0.15, 0.15);
        match self.kind {
            Kind::Temperature | Kind::Switch => {
                // A random walk pulled back towards the base: plausible, never runaway.
                self.temperature += (self.base - self.temperature) * 0.05 + noise;
                self.humidity = (self.humidity + self.random.range(-0.6, 0.6)).clamp(20.0, 90.0);
            }
            Kind::Thermostat => {
                // Off, the room drifts back to where it would be on its own.
                let target = if self.mode == "off" {
                    self.base
                } else {
                    self.setpoint
                };
                let step = (target - self.temperature) * 0.15;
                self.temperature += step + noise;
            }
            Kind::Lock | Kind::Smoke | Kind::Motion => {
                self.battery = (self.battery - self.random.range(0.0, 0.05)).max(0.0);
            }
            Kind::Relay | Kind::Dimmer | Kind::Camera | Kind::ColorLight | Kind::Cover => {}
        }
        match self.kind {
            Kind::Smoke => {
                if self.alarm {
                    self.alarm = false;
                    tick.events
                        .push(json!({"type": "smoke", "action": "clear"}));
                } else if self.random.chance(0.002) {
                    self.alarm = true;
                    tick.events
                        .push(json!({"type": "smoke", "action": "alarm"}));
                }
            }
            Kind::Motion => {
                self.motion = self.random.chance(0.15);
                if self.motion {
                    tick.events
                        .push(json!({"type": "motion", "action": "detected"}));
                }
            }
            Kind::Camera => self.camera_frame(&mut tick),
            _ => {}
        }
        tick.data = Some(self.state());
        tick
    }

    /// Applies a command; the new state, or why not (the ack's error).
    ///
    /// Switches, relays and lights take `switch {on}` (the web app's) and `set`;
    /// lights also `brightness {brightness}`; a colour light `color {r,g,b}` or
    /// `color {color_temp_k}`; a thermostat `setpoint {setpoint}` and `mode {mode}`; a
    /// cover `position {position}`, `open`, `close`, `stop`; a lock `lock`, `unlock`
    /// and `set {locked}`; a smoke detector `test`. `None` for a command this kind does
    /// not know, so that another handler may take it.
    pub fn apply(&mut self, name: &str, params: &Value) -> Option<Result<Value, String>> {
        let result = match (self.kind, name) {
            (
                Kind::Switch | Kind::Relay | Kind::Dimmer | Kind::ColorLight,
                "switch" | "set" | "on" | "off",
            ) => {
                let on = match name {
                    "on" => Some(true),
                    "off" => Some(false),
                    _ => params.get("on").and_then(Value::as_bool),
                };
                let brightness = params.get("brightness");
                if on.is_none() && brightness.is_none() {
                    return Some(Err("missing parameter on (true or false)".into()));
                }
                if let Some(on) = on {
                    self.on = on;
                }
                if let Some(brightness) = brightness
                    && let Err(error) = self.set_brightness(brightness)
                {
                    return Some(Err(error));
                }
                Ok(())
            }
            (Kind::Dimmer | Kind::ColorLight, "brightness") => match params.get("brightness") {
                Some(value) => self.set_brightness(value),
                None => Err("missing parameter brightness (0..100)".into()),
            },
            (Kind::ColorLight, "color") => self.set_color(params),
            (Kind::Thermostat, "mode") => {
                let mode = params.get("mode").and_then(Value::as_str);
                match THERMOSTAT_MODES.iter().find(|known| Some(**known) == mode) {
                    Some(known) => {
                        self.mode = known;
                        Ok(())
                    }
                    None => Err(format!(
                        "mode must be one of {}",
                        THERMOSTAT_MODES.join(", ")
                    )),
                }
            }
            (Kind::Cover, "position" | "open" | "close" | "stop") => {
                let position = match name {
                    "open" => Some(100.0),
                    "close" => Some(0.0),
                    // The simulated blind moves at once, so there is nothing to stop.
                    "stop" => Some(self.position),
                    _ => params.get("position").and_then(Value::as_f64),
                };
                match position {
                    Some(position) if (0.0..=100.0).contains(&position) => {
                        self.position = position.round();
                        Ok(())
                    }
                    _ => Err("position must be a number from 0 to 100".into()),
                }
            }
            (Kind::Thermostat, "setpoint" | "set") => {
                match params.get("setpoint").and_then(Value::as_f64) {
                    Some(value) if (5.0..=30.0).contains(&value) => {
                        self.setpoint = (value * 2.0).round() / 2.0;
                        Ok(())
                    }
                    _ => Err("setpoint must be a number from 5 to 30".into()),
                }
            }
            (Kind::Lock, "lock" | "unlock" | "set") => {
                let locked = match name {
                    "lock" => Some(true),
                    "unlock" => Some(false),
                    _ => params.get("locked").and_then(Value::as_bool),
                };
                match locked {
                    Some(_) if self.battery < 1.0 => Err("battery empty".into()),
                    Some(locked) => {
                        self.locked = locked;
                        self.battery = (self.battery - 0.2).max(0.0);
                        Ok(())
                    }
                    None => Err("missing parameter locked (true or false)".into()),
                }
            }
            (Kind::Smoke, "test") => Ok(()),
            _ => return None,
        };
        Some(result.map(|()| self.state()))
    }

    /// A camera's period: someone walks by now and then (motion while they are in
    /// the picture: an event when they appear and one when they have gone), and a
    /// snapshot of the scene.
    fn camera_frame(&mut self, tick: &mut Tick) {
        self.frames += 1;
        self.figure = match self.figure {
            None if self.random.chance(0.1) => {
                tick.events.push(json!({"motion": true}));
                Some(0)
            }
            Some(column) if column >= 11 => {
                tick.events.push(json!({"motion": false}));
                None
            }
            Some(column) => Some(column + 3),
            None => None,
        };
        tick.snapshot = Some(super::snapshot::jpeg(super::snapshot::Scene {
            frame: self.frames,
            figure: self.figure,
        }));
    }

    /// `color {"r","g","b"}` (0..255 each) or `color {"color_temp_k": 2000..6500}`.
    fn set_color(&mut self, params: &Value) -> Result<(), String> {
        if let Some(kelvin) = params.get("color_temp_k") {
            return match kelvin.as_f64() {
                Some(kelvin) if (2000.0..=6500.0).contains(&kelvin) => {
                    self.color_temp_k = kelvin.round();
                    Ok(())
                }
                _ => Err("color_temp_k must be a number from 2000 to 6500".into()),
            };
        }
        let part = |name: &str| {
            params
                .get(name)
                .and_then(Value::as_u64)
                .and_then(|value| u8::try_from(value).ok())
        };
        match (part("r"), part("g"), part("b")) {
            (Some(r), Some(g), Some(b)) => {
                self.color = [r, g, b];
                Ok(())
            }
            _ => Err("color needs r, g and b from 0 to 255, or color_temp_k".into()),
        }
    }

    fn set_brightness(&mut self, value: &Value) -> Result<(), String> {
        match value.as_f64() {
            Some(level) if (0.0..=100.0).contains(&level) => {
                self.brightness = level.round();
                self.on = level > 0.0;
                Ok(())
            }
            _ => Err("brightness must be a number from 0 to 100".into()),
        }
    }
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests;
