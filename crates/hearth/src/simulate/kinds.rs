//! What each kind of simulated device reports and how it answers commands: plausible
//! readings (a random walk around a per-device base, with noise), state that changes
//! only when a command says so, batteries that drain, rare alarms.

use hearth_device::SplitMix;
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
}

impl Kind {
    /// The kinds `--create` cycles through, in that order, and the demo home has. A
    /// camera is asked for by name (`--kind camera`, the CSV, the simulation file): its
    /// snapshots weigh a kilobyte and more where a reading weighs tens of bytes.
    pub const ALL: [Kind; 8] = [
        Kind::Temperature,
        Kind::Switch,
        Kind::Relay,
        Kind::Dimmer,
        Kind::Thermostat,
        Kind::Lock,
        Kind::Smoke,
        Kind::Motion,
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
            Kind::Dimmer => "light",
            Kind::Thermostat => "thermostat",
            Kind::Lock => "lock",
            Kind::Smoke => "smoke",
            Kind::Camera => "camera",
        }
    }
}

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
            Kind::Thermostat => json!({
                "temperature": round1(self.temperature),
                "setpoint": self.setpoint,
                "heating": self.setpoint > self.temperature + 0.2,
            }),
            Kind::Lock => json!({ "locked": self.locked, "battery": self.battery.floor() }),
            Kind::Smoke => json!({ "smoke": self.alarm, "battery": self.battery.floor() }),
            Kind::Motion => json!({ "battery": self.battery.floor() }),
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
                let step = (self.setpoint - self.temperature) * 0.15;
                self.temperature += step + noise;
            }
            Kind::Lock | Kind::Smoke | Kind::Motion => {
                self.battery = (self.battery - self.random.range(0.0, 0.05)).max(0.0);
            }
            Kind::Relay | Kind::Dimmer | Kind::Camera => {}
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
            Kind::Motion if self.random.chance(0.15) => {
                tick.events
                    .push(json!({"type": "motion", "action": "detected"}));
            }
            Kind::Camera => self.camera_frame(&mut tick),
            _ => {}
        }
        tick.data = Some(self.state());
        tick
    }

    /// Applies a command; the new state, or why not (the ack's error).
    ///
    /// Switches, relays and dimmers take `switch {on}` (the web app's) and `set`;
    /// a dimmer also `brightness {brightness}`; a thermostat `setpoint {setpoint}`; a
    /// lock `lock`, `unlock` and `set {locked}`; a smoke detector `test`. `None` for a
    /// command this kind does not know, so that another handler may take it.
    pub fn apply(&mut self, name: &str, params: &Value) -> Option<Result<Value, String>> {
        let result = match (self.kind, name) {
            (Kind::Switch | Kind::Relay | Kind::Dimmer, "switch" | "set" | "on" | "off") => {
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
            (Kind::Dimmer, "brightness") => match params.get("brightness") {
                Some(value) => self.set_brightness(value),
                None => Err("missing parameter brightness (0..100)".into()),
            },
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
mod tests {
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
}
