//! What each scenario measured, as plain serde data.
//!
//! Results are written as JSON by `hearth bench broker --json` and read back by
//! `hearth bench compare`, so the comparison script never parses human-readable text.
//! Each result lists its headline numbers as [`Metric`]s, which carry whether higher or
//! lower is better: the comparison table needs that to put every ratio the same way up.

use serde::{Deserialize, Serialize};

use crate::cpu::CpuUsage;
use crate::scenario::Scenario;

/// The numbers of one scenario run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scenario", rename_all = "kebab-case")]
pub enum ScenarioResult {
    FaninQos0(ThroughputResult),
    FaninQos1(ThroughputResult),
    Fanout(ThroughputResult),
    Latency(LatencyResult),
    Connections(ConnectionsResult),
}

/// Publishers push as fast as the broker takes messages; subscribers count what
/// arrives. Used by both fan-in scenarios and fan-out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThroughputResult {
    pub publishers: u32,
    pub subscribers: u32,
    /// QoS of the publishes and of the subscriptions.
    pub qos: u8,
    /// PUBLISH packets written by the publishers.
    pub sent: u64,
    /// PUBACKs the publishers received (QoS 1; 0 for QoS 0).
    pub acked: u64,
    /// Deliveries that should have arrived: `sent` times the number of subscribers.
    pub expected: u64,
    /// Distinct messages that arrived, summed over subscribers.
    pub received: u64,
    /// Messages that arrived more than once (allowed for QoS 1, counted anyway).
    pub duplicates: u64,
    /// QoS 0: expected but never received. QoS 1: acknowledged to the publisher but
    /// never received, which the broker must not do.
    pub lost: u64,
    /// From the start signal to the last delivery.
    pub elapsed_secs: f64,
    /// Distinct deliveries per second at the subscribers: the headline number.
    pub rate: f64,
    /// Messages per second the publishers got written (acknowledged, for QoS 1).
    pub publish_rate: f64,
    /// The time limit cut the run short: the counts are partial.
    pub timed_out: bool,
    /// CPU used by generator and broker during the scenario.
    #[serde(default)]
    pub cpu: CpuUsage,
}

/// One publisher paced at `target_rate`, one subscriber; latency from the send
/// timestamp in each payload to the moment the subscriber read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyResult {
    pub target_rate: u32,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
    /// How far the publisher fell behind its schedule at worst: a large value means the
    /// generator, not the broker, was the limit.
    pub max_schedule_lag_us: f64,
    pub timed_out: bool,
    #[serde(default)]
    pub cpu: CpuUsage,
}

/// Many idle connections held open at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionsResult {
    pub requested: u64,
    pub connected: u64,
    /// CONNECTs refused or connections that failed.
    pub failed: u64,
    pub keep_alive_secs: u16,
    /// Connections (TCP connect plus CONNECT/CONNACK) per second.
    pub connects_per_sec: f64,
    /// Broker VmRSS before the first connection, when its pid was given.
    pub rss_before_kib: Option<u64>,
    /// Broker VmRSS with every connection open.
    pub rss_after_kib: Option<u64>,
    pub kib_per_connection: Option<f64>,
    /// The first failure, when connections failed.
    #[serde(default)]
    pub first_error: Option<String>,
    pub timed_out: bool,
    #[serde(default)]
    pub cpu: CpuUsage,
}

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// One headline number of a result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub value: f64,
    pub better: Better,
}

impl ScenarioResult {
    pub fn scenario(&self) -> Scenario {
        match self {
            ScenarioResult::FaninQos0(_) => Scenario::FaninQos0,
            ScenarioResult::FaninQos1(_) => Scenario::FaninQos1,
            ScenarioResult::Fanout(_) => Scenario::Fanout,
            ScenarioResult::Latency(_) => Scenario::Latency,
            ScenarioResult::Connections(_) => Scenario::Connections,
        }
    }

    /// The numbers the comparison table shows, in order.
    pub fn metrics(&self) -> Vec<Metric> {
        let higher = |name, value| Metric {
            name,
            value,
            better: Better::Higher,
        };
        let lower = |name, value| Metric {
            name,
            value,
            better: Better::Lower,
        };
        match self {
            ScenarioResult::FaninQos0(result) | ScenarioResult::FaninQos1(result) => {
                let mut metrics = vec![higher("msg/s at subscriber", result.rate)];
                metrics.extend(
                    broker_cpu_per_delivery(result)
                        .map(|micros| lower("broker CPU µs per msg", micros)),
                );
                metrics
            }
            ScenarioResult::Fanout(result) => {
                let mut metrics = vec![higher("deliveries/s", result.rate)];
                metrics.extend(
                    broker_cpu_per_delivery(result)
                        .map(|micros| lower("broker CPU µs per delivery", micros)),
                );
                metrics
            }
            ScenarioResult::Latency(result) => vec![
                lower("p50 µs", result.p50_us),
                lower("p99 µs", result.p99_us),
                lower("p99.9 µs", result.p999_us),
                lower("max µs", result.max_us),
            ],
            ScenarioResult::Connections(result) => {
                let mut metrics = vec![higher("connects/s", result.connects_per_sec)];
                if let Some(kib) = result.kib_per_connection {
                    metrics.push(lower("KiB RSS per connection", kib));
                }
                metrics
            }
        }
    }

    /// Messages (or connections) the run lost; 0 is the only good answer.
    pub fn lost(&self) -> u64 {
        match self {
            ScenarioResult::FaninQos0(result)
            | ScenarioResult::FaninQos1(result)
            | ScenarioResult::Fanout(result) => result.lost,
            ScenarioResult::Latency(result) => result.lost,
            ScenarioResult::Connections(result) => result.failed,
        }
    }

    pub fn cpu(&self) -> CpuUsage {
        match self {
            ScenarioResult::FaninQos0(result)
            | ScenarioResult::FaninQos1(result)
            | ScenarioResult::Fanout(result) => result.cpu,
            ScenarioResult::Latency(result) => result.cpu,
            ScenarioResult::Connections(result) => result.cpu,
        }
    }

    pub(crate) fn set_cpu(&mut self, cpu: CpuUsage) {
        match self {
            ScenarioResult::FaninQos0(result)
            | ScenarioResult::FaninQos1(result)
            | ScenarioResult::Fanout(result) => result.cpu = cpu,
            ScenarioResult::Latency(result) => result.cpu = cpu,
            ScenarioResult::Connections(result) => result.cpu = cpu,
        }
    }

    pub fn timed_out(&self) -> bool {
        match self {
            ScenarioResult::FaninQos0(result)
            | ScenarioResult::FaninQos1(result)
            | ScenarioResult::Fanout(result) => result.timed_out,
            ScenarioResult::Latency(result) => result.timed_out,
            ScenarioResult::Connections(result) => result.timed_out,
        }
    }
}

/// Broker CPU microseconds per message delivered: how much work the broker did for
/// each, which a busy machine disturbs far less than the rate.
fn broker_cpu_per_delivery(result: &ThroughputResult) -> Option<f64> {
    let broker_secs = result.cpu.broker_secs?;
    (result.received > 0).then(|| broker_secs * 1e6 / result.received as f64)
}

/// Everything one `hearth bench broker` invocation measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// The broker address that was loaded.
    pub target: String,
    pub results: Vec<ScenarioResult>,
}

impl BenchReport {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results serialise")
    }

    pub fn from_json(text: &str) -> Result<BenchReport, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn result(&self, scenario: Scenario) -> Option<&ScenarioResult> {
        self.results
            .iter()
            .find(|result| result.scenario() == scenario)
    }
}
