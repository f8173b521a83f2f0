//! Tests on values, time windows and conditions, each with the trace of what it saw.

use hearth_model::{Comparison, Condition, Millis, Weekday};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// What conditions read: the latest data object and presence of each device.
#[derive(Default)]
pub struct Latest {
    pub data: HashMap<Arc<str>, Arc<Value>>,
    pub online: HashMap<Arc<str>, bool>,
}

impl Latest {
    /// A device's latest value of `metric` (dotted for nested objects).
    pub fn reading(&self, device: &str, metric: &str) -> Option<&Value> {
        metric_of(self.data.get(device)?, metric)
    }
}

/// The value of `metric` in a data object (`a.b` reads `{"a": {"b": ...}}`).
pub fn metric_of<'a>(data: &'a Value, metric: &str) -> Option<&'a Value> {
    if let Some(value) = data.get(metric) {
        return Some(value);
    }
    metric
        .split('.')
        .try_fold(data, |value, part| value.get(part))
}

/// Whether `value` passes `test`: `eq`/`ne` on JSON values (numbers by value, so `1`
/// equals `1.0`), the others on numbers (booleans as 0 and 1, as history stores them).
pub fn passes(test: &Comparison, value: &Value) -> bool {
    if let Some(expected) = &test.eq {
        return same(expected, value);
    }
    if let Some(unexpected) = &test.ne {
        return !same(unexpected, value);
    }
    let Some(number) = number(value) else {
        return false;
    };
    if let Some(bound) = test.gt {
        return number > bound;
    }
    if let Some(bound) = test.lt {
        return number < bound;
    }
    if let Some([low, high]) = test.between {
        return number >= low && number <= high;
    }
    false
}

/// Whether `value` is at least `margin` away from passing `test` (a trigger with
/// hysteresis re-arms only then). Non-numeric tests re-arm as soon as they fail.
pub fn left_by(test: &Comparison, value: &Value, margin: f64) -> bool {
    let Some(number) = number(value) else {
        return !passes(test, value);
    };
    if let Some(bound) = test.gt {
        return number <= bound - margin;
    }
    if let Some(bound) = test.lt {
        return number >= bound + margin;
    }
    if let Some([low, high]) = test.between {
        return number <= low - margin || number >= high + margin;
    }
    if let Some(expected) = test.eq.as_ref().and_then(self::number) {
        return (number - expected).abs() >= margin;
    }
    !passes(test, value)
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::Bool(flag) => Some(f64::from(u8::from(*flag))),
        _ => None,
    }
}

fn same(expected: &Value, value: &Value) -> bool {
    match (expected, value) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => expected == value,
    }
}

fn hh_mm(text: &str) -> Option<u32> {
    let (hours, minutes) = text.split_once(':')?;
    let (hours, minutes): (u32, u32) = (hours.parse().ok()?, minutes.parse().ok()?);
    (hours < 24 && minutes < 60).then_some(hours * 60 + minutes)
}

/// A zone's name for traces: the IANA name, else its offset now.
fn zone_name(zone: &jiff::tz::TimeZone) -> String {
    match zone.iana_name() {
        Some(name) => name.to_owned(),
        None => zone.to_offset(jiff::Timestamp::now()).to_string(),
    }
}

fn weekday_name(day: Weekday) -> Value {
    serde_json::to_value(day).unwrap_or(Value::Null)
}

/// Evaluates `condition`; pushes one trace entry per leaf (with the value it saw).
pub fn evaluate(
    condition: &Condition,
    latest: &Latest,
    now_ms: Millis,
    zone: &jiff::tz::TimeZone,
    path: &str,
    trace: &mut Vec<Value>,
) -> bool {
    match condition {
        Condition::Reading { device, metric, .. } => {
            let seen = latest.reading(device.as_str(), metric);
            let test = condition.comparison().unwrap_or_default();
            let passed = seen.is_some_and(|value| passes(&test, value));
            trace.push(json!({"path": path, "type": "reading", "device": device,
                "metric": metric, "seen": seen, "passed": passed}));
            passed
        }
        Condition::Presence { device, online } => {
            let seen = latest.online.get(device.as_str()).copied().unwrap_or(false);
            let passed = seen == *online;
            trace.push(json!({"path": path, "type": "presence", "device": device,
                "seen": if seen { "online" } else { "offline" }, "passed": passed}));
            passed
        }
        Condition::Time {
            after,
            before,
            weekdays,
        } => {
            let (minute, weekday) = super::schedule::time_of_day(now_ms, zone);
            let after = after.as_deref().and_then(hh_mm);
            let before = before.as_deref().and_then(hh_mm);
            let in_window = match (after, before) {
                (Some(after), Some(before)) if after <= before => {
                    minute >= after && minute < before
                }
                // Across midnight: 20:00..06:00.
                (Some(after), Some(before)) => minute >= after || minute < before,
                (Some(after), None) => minute >= after,
                (None, Some(before)) => minute < before,
                (None, None) => true,
            };
            let on_day = weekdays.is_empty() || weekdays.contains(&weekday);
            let passed = in_window && on_day;
            trace.push(json!({"path": path, "type": "time",
                "seen": format!("{:02}:{:02}", minute / 60, minute % 60),
                "weekday": weekday_name(weekday), "time_zone": zone_name(zone),
                "passed": passed}));
            passed
        }
        Condition::All { conditions } => {
            let mut passed = true;
            for (index, condition) in conditions.iter().enumerate() {
                let path = format!("{path}.conditions[{index}]");
                passed &= evaluate(condition, latest, now_ms, zone, &path, trace);
            }
            passed
        }
        Condition::Any { conditions } => {
            let mut passed = false;
            for (index, condition) in conditions.iter().enumerate() {
                let path = format!("{path}.conditions[{index}]");
                passed |= evaluate(condition, latest, now_ms, zone, &path, trace);
            }
            passed
        }
        Condition::Not { condition } => {
            let path = format!("{path}.condition");
            !evaluate(condition, latest, now_ms, zone, &path, trace)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(after: &str, before: &str) -> Condition {
        Condition::Time {
            after: Some(after.into()),
            before: Some(before.into()),
            weekdays: Vec::new(),
        }
    }

    /// 1970-01-05 (a Monday) at `hours:minutes` UTC.
    fn monday_at(hours: i64, minutes: i64) -> Millis {
        (4 * 1440 + hours * 60 + minutes) * 60_000
    }

    #[test]
    fn windows_cross_midnight_in_the_hubs_offset() {
        let latest = Latest::default();
        let night = window("20:00", "06:00");
        let mut trace = Vec::new();
        assert!(evaluate(
            &night,
            &latest,
            monday_at(21, 0),
            &jiff::tz::TimeZone::UTC,
            "c",
            &mut trace
        ));
        assert!(evaluate(
            &night,
            &latest,
            monday_at(5, 59),
            &jiff::tz::TimeZone::UTC,
            "c",
            &mut trace
        ));
        assert!(!evaluate(
            &night,
            &latest,
            monday_at(6, 0),
            &jiff::tz::TimeZone::UTC,
            "c",
            &mut trace
        ));
        assert!(!evaluate(
            &night,
            &latest,
            monday_at(19, 59),
            &jiff::tz::TimeZone::UTC,
            "c",
            &mut trace
        ));
        // 19:30 UTC is 20:30 at UTC+1.
        assert!(evaluate(
            &night,
            &latest,
            monday_at(19, 30),
            &super::super::schedule::parse_zone("+01:00").unwrap(),
            "c",
            &mut trace
        ));
        assert_eq!(trace[0]["seen"], "21:00");
        assert_eq!(trace[0]["weekday"], "mon");
        let weekend = Condition::Time {
            after: None,
            before: None,
            weekdays: vec![Weekday::Sat, Weekday::Sun],
        };
        assert!(!evaluate(
            &weekend,
            &latest,
            monday_at(12, 0),
            &jiff::tz::TimeZone::UTC,
            "c",
            &mut trace
        ));
        assert!(evaluate(
            &weekend,
            &latest,
            monday_at(12, 0) - 86_400_000,
            &jiff::tz::TimeZone::UTC,
            "c",
            &mut trace
        ));
    }

    #[test]
    fn comparisons_and_hysteresis() {
        let gt = Comparison {
            gt: Some(30.0),
            ..Comparison::default()
        };
        assert!(passes(&gt, &json!(30.5)));
        assert!(!passes(&gt, &json!(30)));
        assert!(!passes(&gt, &json!("hot")));
        assert!(!left_by(&gt, &json!(29.8), 0.5));
        assert!(left_by(&gt, &json!(29.5), 0.5));
        let eq = Comparison {
            eq: Some(json!(true)),
            ..Comparison::default()
        };
        assert!(passes(&eq, &json!(true)));
        assert!(!passes(&eq, &json!(false)));
        let eq_number = Comparison {
            eq: Some(json!(1)),
            ..Comparison::default()
        };
        assert!(passes(&eq_number, &json!(1.0)));
        assert_eq!(metric_of(&json!({"a": {"b": 2}}), "a.b"), Some(&json!(2)));
    }
}
