//! `/metrics`: Prometheus text exposition, written by hand.
//!
//! Why not the `metrics` facade with `metrics-exporter-prometheus`: the facade has one
//! global recorder per process, while tests run several hubs in one process and want
//! each one's numbers; and the exporter (even with default features off) adds
//! `metrics-util`, `quanta`, `sketches-ddsketch` and friends for what is here a few
//! counters, one fixed-bucket histogram and gauges read at scrape time. The text
//! format is simple and stable.
//!
//! The API counts its own requests (by method, matched route and status) and their
//! latency. Everything else is read at scrape time from collectors that `serve.rs`
//! registers with [`Metrics::add_collector`]. The names the hub is expected to use:
//!
//! | name | type | labels |
//! |---|---|---|
//! | `hearth_mqtt_connections` | gauge | |
//! | `hearth_mqtt_messages_received_total` / `_sent_total` | counter | |
//! | `hearth_ingest_stored_total` | counter | |
//! | `hearth_ingest_lag_seconds` | gauge | |
//! | `hearth_denied_actions_total` | counter | `source` (`mqtt`, `api`) |
//! | `hearth_commands_total` | counter | `status` (`sent`, `acked`, `failed`, `timeout`) |
//! | `hearth_commands_failures_total` | counter | `what` (`store`, `publish`) |
//! | `hearth_commands_superseded_total` | counter | |
//! | `hearth_commands_open` | gauge | |

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Writes one scrape's worth of samples; handed to every collector.
pub struct MetricsWriter {
    text: String,
    declared: std::collections::HashSet<String>,
}

impl MetricsWriter {
    fn declare(&mut self, name: &str, kind: &str, help: &str) {
        if self.declared.insert(name.to_owned()) {
            let _ = writeln!(self.text, "# HELP {name} {help}");
            let _ = writeln!(self.text, "# TYPE {name} {kind}");
        }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (key, label)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                let escaped = label
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.text, "{key}=\"{escaped}\"");
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// A counter (only ever grows; name it `..._total`).
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.declare(name, "counter", help);
        self.sample(name, labels, value);
    }

    /// A gauge (a current value).
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.declare(name, "gauge", help);
        self.sample(name, labels, value);
    }
}

type Collector = Box<dyn Fn(&mut MetricsWriter) + Send + Sync>;

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    /// (method, route, status) → requests.
    requests: BTreeMap<(String, String, u16), u64>,
    /// (method, route) → latency.
    latency: BTreeMap<(String, String), Histogram>,
    /// API requests answered 403.
    denied: u64,
}

/// The hub's metrics. Cheap to clone. One mutex: an HTTP request takes it once for a
/// few map operations, and a scrape once to copy the numbers out.
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Mutex<Inner>>,
    collectors: Arc<Mutex<Vec<Collector>>>,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Registers a closure that writes samples at every scrape (connections, ingest
    /// lag...). Collectors run in registration order, on the scraping request's task:
    /// keep them cheap and non-blocking.
    pub fn add_collector(&self, collector: impl Fn(&mut MetricsWriter) + Send + Sync + 'static) {
        self.collectors.lock().push(Box::new(collector));
    }

    /// Records one answered HTTP request.
    pub fn record_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut inner = self.inner.lock();
        *inner
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        if status == 403 {
            inner.denied += 1;
        }
        let histogram = inner
            .latency
            .entry((method.to_owned(), route.to_owned()))
            .or_default();
        histogram.count += 1;
        histogram.sum += seconds;
        for (index, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                histogram.buckets[index] += 1;
            }
        }
    }

    /// The exposition text of everything, for `/metrics`.
    pub fn render(&self) -> String {
        let mut writer = MetricsWriter {
            text: String::new(),
            declared: Default::default(),
        };
        {
            let inner = self.inner.lock();
            for ((method, route, status), count) in &inner.requests {
                writer.counter(
                    "hearth_http_requests_total",
                    "HTTP requests answered, by method, route and status.",
                    &[
                        ("method", method),
                        ("route", route),
                        ("status", &status.to_string()),
                    ],
                    *count as f64,
                );
            }
            writer.counter(
                "hearth_api_denied_total",
                "HTTP API requests refused for lack of permission (403).",
                &[],
                inner.denied as f64,
            );
            for ((method, route), histogram) in &inner.latency {
                let name = "hearth_http_request_duration_seconds";
                writer.declare(
                    name,
                    "histogram",
                    "HTTP request latency, by method and route.",
                );
                let labels = [("method", method.as_str()), ("route", route.as_str())];
                for (index, bound) in BUCKETS.iter().enumerate() {
                    let le = bound.to_string();
                    writer.sample(
                        &format!("{name}_bucket"),
                        &[labels[0], labels[1], ("le", &le)],
                        histogram.buckets[index] as f64,
                    );
                }
                writer.sample(
                    &format!("{name}_bucket"),
                    &[labels[0], labels[1], ("le", "+Inf")],
                    histogram.count as f64,
                );
                writer.sample(&format!("{name}_sum"), &labels, histogram.sum);
                writer.sample(&format!("{name}_count"), &labels, histogram.count as f64);
            }
        }
        for collector in self.collectors.lock().iter() {
            collector(&mut writer);
        }
        writer.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_histograms_and_collectors_render() {
        let metrics = Metrics::new();
        metrics.record_request("GET", "/api/v1/devices", 200, Duration::from_millis(7));
        metrics.record_request("GET", "/api/v1/devices", 403, Duration::from_millis(70));
        metrics.add_collector(|writer| {
            writer.gauge(
                "hearth_mqtt_connections",
                "Open MQTT connections.",
                &[],
                3.0,
            );
        });
        let text = metrics.render();
        assert!(text.contains(
            "hearth_http_requests_total{method=\"GET\",route=\"/api/v1/devices\",status=\"200\"} 1"
        ));
        assert!(text.contains("le=\"0.01\"} 1"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 2"), "{text}");
        assert!(text.contains("hearth_api_denied_total 1"));
        assert!(text.contains("# TYPE hearth_mqtt_connections gauge\nhearth_mqtt_connections 3"));
    }
}
