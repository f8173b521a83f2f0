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
    /// Numeric fields (booleans as 0 and 1), dotted for nested objects.
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
        if key.is_empty() || key.len() > 64 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
