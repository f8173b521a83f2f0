//! Reading device payloads (SPEC §4): pure functions, so that every odd payload a real
//! device sends can be pinned down in a unit test. Status payloads are read with
//! `hearth_model::DevicePresence`, the vocabulary the web app shares.

use serde_json::Value;

/// Most metrics taken from one data message; a device that sends a huge object gets its
/// message stored whole but only this many points.
pub const MAX_POINTS_PER_MESSAGE: usize = 64;

/// How deep nested objects are flattened into dotted metric names.
const MAX_DEPTH: usize = 3;

/// What a `data` payload holds.
#[derive(Debug, Clone, PartialEq)]
pub struct DataReading {
    /// The payload was a JSON object (stored as the device's `last_report_data`).
    pub object: bool,
    /// Numeric fields (booleans as 0 and 1), dotted for nested objects; not `ts`.
    pub metrics: Vec<(String, f64)>,
}

/// Parses a payload as JSON; `None` when it is not (the message is then stored raw and
/// flagged).
pub fn json(payload: &[u8]) -> Option<Value> {
    serde_json::from_slice(payload).ok()
}

/// The readings of a data message.
pub fn data_reading(value: &Value) -> DataReading {
    let mut metrics = Vec::new();
    if let Value::Object(_) = value {
        flatten("", value, 0, &mut metrics);
    }
    DataReading {
        object: value.is_object(),
        metrics,
    }
}

fn flatten(prefix: &str, value: &Value, depth: usize, out: &mut Vec<(String, f64)>) {
    let Value::Object(map) = value else {
        return;
    };
    for (key, value) in map {
        if out.len() >= MAX_POINTS_PER_MESSAGE {
            return;
        }
        // The top-level `ts` is the reading's time (see `device_time`), not a metric.
        if key.is_empty() || key.len() > 64 || (depth == 0 && key == "ts") {
            continue;
        }
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Number(number) => {
                if let Some(number) = number.as_f64().filter(|n| n.is_finite()) {
                    out.push((name, number));
                }
            }
            Value::Bool(flag) => out.push((name, f64::from(u8::from(*flag)))),
            Value::Object(_) if depth + 1 < MAX_DEPTH => flatten(&name, value, depth + 1, out),
            _ => {}
        }
    }
}

/// Numbers at or above this are milliseconds since the epoch, below it seconds: 1e11
/// seconds is the year 5138, 1e11 milliseconds is March 1973, so no time a device can
/// mean (1973 to 5138) is ambiguous.
pub const TS_MILLIS_FROM: f64 = 1e11;

/// What the `ts` of a payload gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceTime {
    /// No `ts` (or the payload is not an object): the receive time is the time.
    Absent,
    /// A time within the window, in epoch milliseconds.
    At(hearth_model::Millis),
    /// A `ts` outside the window or unreadable: the receive time is used and the
    /// message is flagged.
    Clamped,
}

/// The device's own time of a reading: `ts` as epoch seconds or milliseconds (told apart
/// by [`TS_MILLIS_FROM`], fractions allowed) or an RFC 3339 string, accepted when it
/// lies within `max_past_ms` before and `max_future_ms` after `now_ms`.
pub fn device_time(
    value: &Value,
    now_ms: hearth_model::Millis,
    max_past_ms: hearth_model::Millis,
    max_future_ms: hearth_model::Millis,
) -> DeviceTime {
    let Some(ts) = value.as_object().and_then(|map| map.get("ts")) else {
        return DeviceTime::Absent;
    };
    let at_ms = match ts {
        Value::Number(number) => number.as_f64().filter(|n| n.is_finite()).map(|n| {
            let ms = if n.abs() >= TS_MILLIS_FROM {
                n
            } else {
                n * 1000.0
            };
            // Saturating: an absurd number is simply far outside the window.
            ms.round() as i64
        }),
        Value::String(text) => text
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|at| at.as_millisecond()),
        _ => None,
    };
    match at_ms {
        Some(at_ms)
            if at_ms >= now_ms.saturating_sub(max_past_ms)
                && at_ms <= now_ms.saturating_add(max_future_ms) =>
        {
            DeviceTime::At(at_ms)
        }
        _ => DeviceTime::Clamped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_780_000_000_000;
    const DAY: i64 = 86_400_000;

    fn at(value: Value) -> DeviceTime {
        device_time(&value, NOW, 7 * DAY, 60_000)
    }

    #[test]
    fn ts_in_seconds_milliseconds_and_rfc3339_are_the_same_time() {
        let hour_ago = NOW - 3_600_000;
        assert_eq!(at(json!({"ts": hour_ago / 1000})), DeviceTime::At(hour_ago));
        assert_eq!(at(json!({"ts": hour_ago})), DeviceTime::At(hour_ago));
        assert_eq!(
            at(json!({"ts": (hour_ago as f64 + 250.0) / 1000.0})),
            DeviceTime::At(hour_ago + 250)
        );
        let text = jiff::Timestamp::from_millisecond(hour_ago)
            .unwrap()
            .to_string();
        assert_eq!(at(json!({"ts": text})), DeviceTime::At(hour_ago));
        assert_eq!(
            at(json!({"ts": "2026-05-28T21:26:40+02:00"})),
            DeviceTime::At(1_779_996_400_000)
        );
    }

    #[test]
    fn ts_outside_the_window_or_unreadable_is_clamped() {
        assert_eq!(
            at(json!({"ts": (NOW - 8 * DAY) / 1000})),
            DeviceTime::Clamped
        );
        assert_eq!(at(json!({"ts": NOW + 61_000})), DeviceTime::Clamped);
        assert_eq!(at(json!({"ts": 0})), DeviceTime::Clamped);
        assert_eq!(at(json!({"ts": -5})), DeviceTime::Clamped);
        assert_eq!(at(json!({"ts": 1e300})), DeviceTime::Clamped);
        assert_eq!(at(json!({"ts": "yesterday"})), DeviceTime::Clamped);
        assert_eq!(at(json!({"ts": true})), DeviceTime::Clamped);
        assert_eq!(at(json!({"ts": null})), DeviceTime::Clamped);
        assert_eq!(at(json!({"t": 1})), DeviceTime::Absent);
        assert_eq!(at(json!([1, 2])), DeviceTime::Absent);
        // The edges belong to the window.
        assert_eq!(
            at(json!({"ts": NOW + 60_000})),
            DeviceTime::At(NOW + 60_000)
        );
        assert_eq!(
            at(json!({"ts": NOW - 7 * DAY})),
            DeviceTime::At(NOW - 7 * DAY)
        );
    }

    #[test]
    fn numeric_and_boolean_fields_become_metrics_and_the_rest_is_kept_only_raw() {
        let value = json!({
            "temperature": 25.5,
            "humidity": 60,
            "relay": true,
            "label": "kitchen",
            "list": [1, 2],
            "env": {"co2": 415, "deep": {"deeper": {"too_deep": 1}, "ok": 2}},
            "nothing": null
        });
        let reading = data_reading(&value);
        assert!(reading.object);
        let mut metrics = reading.metrics.clone();
        metrics.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            metrics,
            vec![
                ("env.co2".to_owned(), 415.0),
                ("env.deep.ok".to_owned(), 2.0),
                ("humidity".to_owned(), 60.0),
                ("relay".to_owned(), 1.0),
                ("temperature".to_owned(), 25.5),
            ]
        );
    }

    #[test]
    fn non_objects_give_no_metrics() {
        for value in [json!(21.5), json!("hot"), json!([1, 2]), json!(null)] {
            let reading = data_reading(&value);
            assert!(!reading.object);
            assert!(reading.metrics.is_empty());
        }
    }

    #[test]
    fn a_huge_object_gives_a_bounded_number_of_points() {
        let map: serde_json::Map<String, Value> =
            (0..500).map(|i| (format!("m{i}"), json!(i))).collect();
        assert_eq!(
            data_reading(&Value::Object(map)).metrics.len(),
            MAX_POINTS_PER_MESSAGE
        );
    }

    #[test]
    fn broken_json_is_recognised() {
        assert!(json(b"{\"temperature\": 2").is_none());
        assert!(json(&[0xff, 0xfe]).is_none());
        assert!(json(b"{\"t\": 1}").is_some());
    }
}
