//! Automations: what makes the hub act on its own (SPEC §2, seeds 001 and 004).
//!
//! An automation is triggers → conditions → actions, in one group. The types here are
//! the document a person sends (`POST /api/v1/automations`, `hearth automation add
//! FILE`), stored as it is and read back by the engine; [`AutomationSpec::check`] (in
//! `automation_check`) says what is wrong with one, naming the field
//! (`triggers[0].metric`).
//!
//! JSON shape: every trigger, condition and action is an object with a `type`; comparisons
//! are one of `eq`, `ne`, `gt`, `lt`, `between` beside the other fields:
//!
//! ```json
//! {"group": "home", "name": "Hall light on motion after dark",
//!  "triggers": [{"type": "reading", "device": "hall-motion", "metric": "motion", "eq": true}],
//!  "conditions": [{"type": "time", "after": "20:00", "before": "06:00"}],
//!  "actions": [{"type": "command", "device": "hall-lamp", "name": "switch", "params": {"on": true}}]}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{CommandStatus, DeviceId, GroupId, Millis, Role, UserName};

/// What a person writes: an automation without the hub's bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomationSpec {
    pub group: GroupId,
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub triggers: Vec<Trigger>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    /// What happens when it triggers while a run is still going.
    #[serde(default)]
    pub mode: RunMode,
    /// Runs that may wait or go at once under `queued` / `parallel` (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runs: Option<u32>,
}

fn yes() -> bool {
    true
}

fn minor() -> crate::Severity {
    crate::Severity::Minor
}

fn is_minor(severity: &crate::Severity) -> bool {
    *severity == crate::Severity::Minor
}

/// A stored automation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Automation {
    /// Assigned by the hub (`a-` and random characters): names may repeat and change.
    pub id: String,
    #[serde(flatten)]
    pub spec: AutomationSpec,
    /// Who created it (`user:alice`, `cli:root`), for the audit log and the web app.
    pub created_by: String,
    pub created_at_ms: Millis,
    pub updated_at_ms: Millis,
    /// Runs that failed in a row, up to the last one (0 after a run that went well): an
    /// automation that fails repeatedly is flagged ([`Automation::FLAGGED_AFTER`]),
    /// never silently dead.
    #[serde(default)]
    pub failures_in_row: u32,
}

impl Automation {
    /// Failed runs in a row from which the web app and the API flag an automation.
    pub const FLAGGED_AFTER: u32 = 3;

    pub fn flagged(&self) -> bool {
        self.failures_in_row >= Self::FLAGGED_AFTER
    }
}

/// What happens when an automation triggers while one of its runs is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// The new trigger is ignored (and the run record says so).
    #[default]
    Single,
    /// The running run is stopped and a new one starts.
    Restart,
    /// The new run waits for the others, up to `max_runs` waiting.
    Queued,
    /// Runs go at once, up to `max_runs` at a time.
    Parallel,
}

/// A test on a value: exactly one of the fields is set. `eq`/`ne` compare JSON values
/// (`true`, `"open"`, `21.5`), the others numbers. In documents the fields sit beside the
/// trigger's or condition's own (serde's `flatten` cannot refuse unknown fields, so they
/// are spelled out there); [`Trigger::comparison`] and [`Condition::comparison`] gather
/// them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eq: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ne: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<f64>,
    /// Inclusive bounds, low first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between: Option<[f64; 2]>,
}

/// When an automation starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// A device's reading (a field of its `data`) starts to pass the test, and keeps
    /// passing for `for` seconds. With `hysteresis`, a numeric test must first fail by
    /// that margin before it can trigger again (a temperature hovering at a threshold
    /// triggers once).
    Reading {
        device: DeviceId,
        metric: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        eq: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ne: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gt: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lt: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        between: Option<[f64; 2]>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hysteresis: Option<f64>,
        #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
        for_secs: Option<u32>,
    },
    /// A message on `devices/{device}/events` whose fields include every field of
    /// `matches` (`{"type": "button", "action": "press"}`).
    Event {
        device: DeviceId,
        #[serde(default)]
        matches: serde_json::Map<String, Value>,
    },
    /// A device comes online or goes offline, and stays so for `for` seconds.
    Presence {
        device: DeviceId,
        online: bool,
        #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
        for_secs: Option<u32>,
    },
    /// A cron expression (minute hour day-of-month month day-of-week) in the group's
    /// time zone.
    Time { cron: String },
    /// Sunrise or sunset at the group's place, moved by `offset_secs`.
    Sun {
        event: SunEvent,
        #[serde(default)]
        offset_secs: i32,
    },
    /// A command reaches a final status (`acked`, `failed`, `timeout`).
    Command {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<DeviceId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        status: CommandStatus,
    },
    /// A person presses "run" in the web app, or calls the API.
    Manual,
    /// A call to the automation's secret URL (the hub makes the secret).
    Webhook,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SunEvent {
    Sunrise,
    Sunset,
}

/// What must hold when a trigger fires for the actions to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// A device's latest reading passes the test.
    Reading {
        device: DeviceId,
        metric: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        eq: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ne: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gt: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lt: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        between: Option<[f64; 2]>,
    },
    /// A device is online (or offline).
    Presence {
        device: DeviceId,
        online: bool,
    },
    /// The time of day (in the group's time zone) is within `after`..`before`
    /// (`"HH:MM"`; a window may cross midnight: 20:00..06:00), on the given weekdays.
    Time {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        weekdays: Vec<Weekday>,
    },
    All {
        conditions: Vec<Condition>,
    },
    Any {
        conditions: Vec<Condition>,
    },
    Not {
        condition: Box<Condition>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Sends a device a command. With `wait` (the default) the run waits for its final
    /// status and, if it did not succeed, runs `on_failure` instead of going on.
    Command {
        device: DeviceId,
        name: String,
        #[serde(default = "empty_object")]
        params: Value,
        #[serde(default = "yes")]
        wait: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        on_failure: Vec<Action>,
    },
    /// Applies a scene of the same group.
    Scene { scene: String },
    /// Tells the group's people: in the web app, and by e-mail and Web Push as each
    /// person's preferences say for this `severity` (default `minor`), through the
    /// alerts' channels.
    Notify {
        message: String,
        #[serde(default = "minor", skip_serializing_if = "is_minor")]
        severity: crate::Severity,
    },
    /// Publishes an MQTT message to one of the group's devices (`devices/{id}/...`).
    Publish {
        topic: String,
        payload: Value,
        #[serde(default)]
        retain: bool,
    },
    /// Calls a URL (POST of the run's context unless `body` is given).
    Webhook {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<Value>,
        #[serde(default = "webhook_timeout")]
        timeout_secs: u32,
        #[serde(default)]
        retries: u32,
    },
    /// Waits (the wait survives a restart of the hub).
    Delay { seconds: u32 },
    /// Waits until `trigger` fires, or `timeout_secs` pass (then the run stops unless
    /// `continue_on_timeout`).
    WaitFor {
        trigger: Trigger,
        timeout_secs: u32,
        #[serde(default)]
        continue_on_timeout: bool,
    },
    /// Goes on only if `people` distinct people (of `users`, or with one of `roles`, or
    /// any member who may control the devices the run acts on) confirm within
    /// `within_secs`. Seed 004's door lock: two people within 35 seconds.
    Confirm {
        #[serde(default = "two")]
        people: u32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        users: Vec<UserName>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        roles: Vec<Role>,
        #[serde(default = "thirty_five")]
        within_secs: u32,
        /// What the people are asked ("Open the front door?").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prompt: Option<String>,
    },
}

impl Trigger {
    /// The test of a `reading` trigger.
    pub fn comparison(&self) -> Option<Comparison> {
        match self {
            Trigger::Reading {
                eq,
                ne,
                gt,
                lt,
                between,
                ..
            } => Some(Comparison::of(eq, ne, gt, lt, between)),
            _ => None,
        }
    }
}

impl Condition {
    /// The test of a `reading` condition.
    pub fn comparison(&self) -> Option<Comparison> {
        match self {
            Condition::Reading {
                eq,
                ne,
                gt,
                lt,
                between,
                ..
            } => Some(Comparison::of(eq, ne, gt, lt, between)),
            _ => None,
        }
    }
}

impl Comparison {
    fn of(
        eq: &Option<Value>,
        ne: &Option<Value>,
        gt: &Option<f64>,
        lt: &Option<f64>,
        between: &Option<[f64; 2]>,
    ) -> Comparison {
        Comparison {
            eq: eq.clone(),
            ne: ne.clone(),
            gt: *gt,
            lt: *lt,
            between: *between,
        }
    }
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

fn webhook_timeout() -> u32 {
    10
}

fn two() -> u32 {
    2
}

fn thirty_five() -> u32 {
    35
}

/// A named set of device states, applied at once (seed 001's reading, relax, party,
/// sleep).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SceneSpec {
    pub group: GroupId,
    pub name: String,
    pub targets: Vec<SceneTarget>,
}

/// A stored scene.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// Assigned by the hub (`s-` and random characters), like an automation's.
    pub id: String,
    #[serde(flatten)]
    pub spec: SceneSpec,
    /// Who created it (`user:alice`, `cli:root`).
    pub created_by: String,
    pub created_at_ms: Millis,
    pub updated_at_ms: Millis,
}

/// One device's part of a scene: the command that puts it in its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SceneTarget {
    pub device: DeviceId,
    pub command: String,
    #[serde(default = "empty_object")]
    pub params: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issues_example_document_parses() {
        let text = r#"{"group": "home", "name": "Hall light on motion after dark",
         "triggers": [{"type": "reading", "device": "hall-motion", "metric": "motion", "eq": true}],
         "conditions": [{"type": "time", "after": "20:00", "before": "06:00"}],
         "actions": [{"type": "command", "device": "hall-lamp", "name": "switch", "params": {"on": true}}]}"#;
        let spec: AutomationSpec = serde_json::from_str(text).unwrap();
        assert!(spec.enabled);
        assert_eq!(spec.mode, RunMode::Single);
        match &spec.triggers[0] {
            trigger @ Trigger::Reading { device, metric, .. } => {
                assert_eq!(device.as_str(), "hall-motion");
                assert_eq!(metric, "motion");
                assert_eq!(trigger.comparison().unwrap().eq, Some(Value::Bool(true)));
            }
            other => panic!("{other:?}"),
        }
        match &spec.actions[0] {
            Action::Command { wait, params, .. } => {
                assert!(*wait);
                assert_eq!(params["on"], Value::Bool(true));
            }
            other => panic!("{other:?}"),
        }
        // What is stored reads back the same.
        let again: AutomationSpec =
            serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
        assert_eq!(again, spec);
    }

    #[test]
    fn every_kind_round_trips() {
        let text = r#"{"group": "home", "name": "Front door", "mode": "queued", "max_runs": 3,
          "triggers": [
            {"type": "event", "device": "door-bell", "matches": {"action": "press"}},
            {"type": "presence", "device": "door-lock", "online": false, "for": 300},
            {"type": "time", "cron": "0 7 * * mon-fri"},
            {"type": "sun", "event": "sunset", "offset_secs": -900},
            {"type": "command", "device": "door-lock", "status": "failed"},
            {"type": "reading", "device": "t1", "metric": "temperature", "gt": 30, "hysteresis": 0.5, "for": 60},
            {"type": "manual"}, {"type": "webhook"}],
          "conditions": [{"type": "any", "conditions": [
            {"type": "not", "condition": {"type": "presence", "device": "phone", "online": true}},
            {"type": "reading", "device": "t1", "metric": "temperature", "between": [18, 24]},
            {"type": "time", "weekdays": ["sat", "sun"]}]}],
          "actions": [
            {"type": "confirm", "prompt": "Open the front door?"},
            {"type": "command", "device": "door-lock", "name": "unlock", "on_failure": [
              {"type": "notify", "message": "The door did not open"}]},
            {"type": "delay", "seconds": 30},
            {"type": "wait_for", "trigger": {"type": "presence", "device": "door-lock", "online": true}, "timeout_secs": 60},
            {"type": "scene", "scene": "evening"},
            {"type": "publish", "topic": "devices/siren/commands/beep", "payload": {"n": 3}},
            {"type": "webhook", "url": "http://127.0.0.1:9/hook", "retries": 2}]}"#;
        let spec: AutomationSpec = serde_json::from_str(text).unwrap();
        assert_eq!(spec.mode, RunMode::Queued);
        assert!(matches!(
            spec.actions[0],
            Action::Confirm {
                people: 2,
                within_secs: 35,
                ..
            }
        ));
        let again: AutomationSpec =
            serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
        assert_eq!(again, spec);
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        for unknown_field in [
            r#"{"group": "home", "name": "x", "triggers": [{"type": "reading", "device": "t", "metric": "m", "eq": 1, "colour": 1}], "actions": []}"#,
            r#"{"group": "home", "name": "x", "triggers": [{"type": "manual"}], "actions": [{"type": "delay", "seconds": 1, "colour": 1}]}"#,
            r#"{"group": "home", "name": "x", "colour": 1, "triggers": [], "actions": []}"#,
        ] {
            assert!(
                serde_json::from_str::<AutomationSpec>(unknown_field).is_err(),
                "{unknown_field}"
            );
        }
        let unknown_kind =
            r#"{"group": "home", "name": "x", "triggers": [{"type": "telepathy"}], "actions": []}"#;
        assert!(serde_json::from_str::<AutomationSpec>(unknown_kind).is_err());
    }
}
