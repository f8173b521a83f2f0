//! The index from a device to the triggers that watch it, and each trigger's edge state.

use super::conditions::{left_by, passes};
use hearth_model::{Automation, Comparison, Millis, Trigger};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// One trigger of one loaded automation (indices into the engine's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TriggerRef {
    pub automation: usize,
    pub trigger: usize,
}

/// What watches one device.
#[derive(Debug, Default)]
pub struct DeviceWatchers {
    /// By metric: a data message is looked up once per metric watched, not per field.
    pub metrics: HashMap<String, Vec<TriggerRef>>,
    pub events: Vec<TriggerRef>,
    pub presence: Vec<TriggerRef>,
    pub commands: Vec<TriggerRef>,
}

/// Triggers by device, and command triggers that name no device.
#[derive(Debug, Default)]
pub struct Index {
    pub devices: HashMap<Arc<str>, DeviceWatchers>,
    pub any_command: Vec<TriggerRef>,
}

impl Index {
    /// The index of the enabled automations among `automations`, but for those in
    /// `stale` (which name a device no longer in their group).
    pub fn build<T>(automations: &[Arc<Automation>], stale: &HashMap<String, T>) -> Index {
        let mut index = Index::default();
        for (automation_idx, automation) in automations.iter().enumerate() {
            if !automation.spec.enabled || stale.contains_key(&automation.id) {
                continue;
            }
            for (trigger_idx, trigger) in automation.spec.triggers.iter().enumerate() {
                let at = TriggerRef {
                    automation: automation_idx,
                    trigger: trigger_idx,
                };
                match trigger {
                    Trigger::Reading { device, metric, .. } => index
                        .devices
                        .entry(device.as_str().into())
                        .or_default()
                        .metrics
                        .entry(metric.clone())
                        .or_default()
                        .push(at),
                    Trigger::Event { device, .. } => index
                        .devices
                        .entry(device.as_str().into())
                        .or_default()
                        .events
                        .push(at),
                    Trigger::Presence { device, .. } => index
                        .devices
                        .entry(device.as_str().into())
                        .or_default()
                        .presence
                        .push(at),
                    Trigger::Command {
                        device: Some(device),
                        ..
                    } => index
                        .devices
                        .entry(device.as_str().into())
                        .or_default()
                        .commands
                        .push(at),
                    Trigger::Command { device: None, .. } => index.any_command.push(at),
                    // Time, sun and webhook triggers are not run yet; manual needs no index.
                    _ => {}
                }
            }
        }
        index
    }
}

/// A trigger's memory between messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TriggerState {
    /// It may fire when its test next becomes true.
    pub armed: bool,
    /// Its test became true at this time and must hold for its `for` (stored).
    pub holding_since: Option<Millis>,
}

impl Default for TriggerState {
    fn default() -> TriggerState {
        TriggerState {
            armed: true,
            holding_since: None,
        }
    }
}

/// What a new value does to a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// Fire now.
    Fire,
    /// Start holding: fire at this deadline unless the value leaves first.
    Hold {
        due_at_ms: Millis,
    },
    /// A `for` that was holding is over without firing.
    Cancel,
}

/// A reading trigger's edge: fires when `test` becomes true (after holding `for_secs`),
/// then waits until the value leaves — by `hysteresis` when given — before it re-arms.
pub fn reading_step(
    state: &mut TriggerState,
    test: &Comparison,
    hysteresis: Option<f64>,
    for_secs: Option<u32>,
    value: &Value,
    now_ms: Millis,
) -> Step {
    if passes(test, value) {
        if !state.armed || state.holding_since.is_some() {
            return Step::Nothing;
        }
        match for_secs {
            Some(secs) if secs > 0 => {
                state.holding_since = Some(now_ms);
                Step::Hold {
                    due_at_ms: now_ms + Millis::from(secs) * 1000,
                }
            }
            _ => {
                state.armed = false;
                Step::Fire
            }
        }
    } else {
        let rearm = match hysteresis {
            Some(margin) if margin > 0.0 => left_by(test, value, margin),
            _ => true,
        };
        if rearm {
            state.armed = true;
        }
        if state.holding_since.take().is_some() {
            Step::Cancel
        } else {
            Step::Nothing
        }
    }
}

/// A presence trigger's edge: fires when the device's presence becomes `online`
/// (after holding `for_secs`); the opposite change cancels a hold.
pub fn presence_step(
    state: &mut TriggerState,
    wanted_online: bool,
    for_secs: Option<u32>,
    online: bool,
    now_ms: Millis,
) -> Step {
    if online == wanted_online {
        if state.holding_since.is_some() {
            return Step::Nothing;
        }
        match for_secs {
            Some(secs) if secs > 0 => {
                state.holding_since = Some(now_ms);
                Step::Hold {
                    due_at_ms: now_ms + Millis::from(secs) * 1000,
                }
            }
            _ => Step::Fire,
        }
    } else if state.holding_since.take().is_some() {
        Step::Cancel
    } else {
        Step::Nothing
    }
}

/// Whether an event's payload has every field of `matches`.
pub fn event_matches(matches: &serde_json::Map<String, Value>, payload: &Value) -> bool {
    matches
        .iter()
        .all(|(field, expected)| payload.get(field) == Some(expected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_value_hovering_at_the_threshold_fires_once() {
        let test = Comparison {
            gt: Some(30.0),
            ..Comparison::default()
        };
        let mut state = TriggerState::default();
        let steps: Vec<Step> = [30.1, 29.9, 30.2, 29.8, 30.3, 29.4, 30.1]
            .iter()
            .map(|value| reading_step(&mut state, &test, Some(0.5), None, &json!(value), 0))
            .collect();
        assert_eq!(steps[0], Step::Fire);
        assert!(
            steps[1..5].iter().all(|step| *step == Step::Nothing),
            "{steps:?}"
        );
        // 29.4 left by more than 0.5: the next crossing fires again.
        assert_eq!(steps[6], Step::Fire);
    }

    #[test]
    fn for_holds_then_cancels_when_the_value_leaves() {
        let test = Comparison {
            eq: Some(json!(true)),
            ..Comparison::default()
        };
        let mut state = TriggerState::default();
        assert_eq!(
            reading_step(&mut state, &test, None, Some(60), &json!(true), 1000),
            Step::Hold { due_at_ms: 61_000 }
        );
        assert_eq!(
            reading_step(&mut state, &test, None, Some(60), &json!(true), 2000),
            Step::Nothing
        );
        assert_eq!(
            reading_step(&mut state, &test, None, Some(60), &json!(false), 3000),
            Step::Cancel
        );
        assert!(event_matches(
            json!({"action": "press"}).as_object().unwrap(),
            &json!({"action": "press", "n": 2})
        ));
        assert!(!event_matches(
            json!({"action": "press"}).as_object().unwrap(),
            &json!({"action": "hold"})
        ));
    }
}
