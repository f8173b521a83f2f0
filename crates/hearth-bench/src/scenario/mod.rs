//! The five broker scenarios (fan-in at QoS 0 and 1, fan-out, latency, idle connections) and what they share: options, names, limits.
//!
//! Every scenario is bounded twice: by a message (or connection) count and by time.
//! Publishing stops at [`BenchOptions::duration`]; the subscribers then wait for what is
//! still in flight until nothing has arrived for [`DRAIN_IDLE`], and never longer than
//! the duration again. A run that hit a limit says so (`timed_out`) instead of failing,
//! so a slow broker still gets a row in the table.
//!
//! # Layout
//! - `throughput`: publishers → subscribers as fast as possible (fan-in, fan-out).
//! - `latency`: one paced publisher, one subscriber, a histogram.
//! - `connections`: many idle connections, connect rate and broker memory.

mod connections;
mod latency;
mod subscriber;
mod throughput;

use std::net::SocketAddr;
use std::time::Duration;

use crate::cpu::CpuSample;
use crate::error::BenchError;
use crate::result::ScenarioResult;

/// After publishing ends, subscribers stop once nothing has arrived for this long.
pub const DRAIN_IDLE: Duration = Duration::from_secs(2);

/// One scenario of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// 8 publishers on `bench/{i}` → 1 subscriber on `bench/#`, QoS 0.
    FaninQos0,
    /// The same at QoS 1 on both sides, 64 unacknowledged messages per publisher.
    FaninQos1,
    /// 1 publisher → 50 subscribers of one topic, QoS 0.
    Fanout,
    /// One publisher at 5,000 msg/s, one subscriber; latency percentiles.
    Latency,
    /// Many idle connections with keep-alive; connects/s and broker RSS.
    Connections,
}

impl Scenario {
    /// Every scenario in the order `all` runs them. Connections come last: ten thousand
    /// connections closing at once should not disturb another measurement.
    pub const ALL: [Scenario; 5] = [
        Scenario::FaninQos0,
        Scenario::FaninQos1,
        Scenario::Fanout,
        Scenario::Latency,
        Scenario::Connections,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::FaninQos0 => "fanin-qos0",
            Scenario::FaninQos1 => "fanin-qos1",
            Scenario::Fanout => "fanout",
            Scenario::Latency => "latency",
            Scenario::Connections => "connections",
        }
    }

    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL
            .into_iter()
            .find(|scenario| scenario.name() == name)
    }

    /// Messages published when `--messages` is not given: about a second of load for a
    /// broker at the targets and ten to twenty for Mosquitto on the development
    /// machine, so that a comparison of three runs per broker takes minutes.
    pub fn default_messages(self) -> u64 {
        match self {
            Scenario::FaninQos0 => 1_000_000,
            Scenario::FaninQos1 => 500_000,
            // 50 subscribers: 2.5 million deliveries.
            Scenario::Fanout => 50_000,
            // Ten seconds at 5,000 msg/s.
            Scenario::Latency => 50_000,
            Scenario::Connections => 0,
        }
    }
}

/// What a run is pointed at and how far it may go.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The broker; must be a loopback address.
    pub addr: SocketAddr,
    /// Time limit of each scenario's load phase.
    pub duration: Duration,
    /// Messages per scenario (all publishers together); `None` for each scenario's
    /// default.
    pub messages: Option<u64>,
    /// Idle connections of the connections scenario.
    pub connections: u64,
    /// The broker's process id, to read its memory from /proc.
    pub broker_pid: Option<u32>,
    /// Messages per second of the latency scenario.
    pub latency_rate: u32,
}

impl BenchOptions {
    pub fn new(addr: SocketAddr) -> BenchOptions {
        BenchOptions {
            addr,
            duration: Duration::from_secs(30),
            messages: None,
            connections: 10_000,
            broker_pid: None,
            latency_rate: 5_000,
        }
    }

    fn messages_for(&self, scenario: Scenario) -> u64 {
        self.messages
            .unwrap_or_else(|| scenario.default_messages())
            .max(1)
    }
}

/// Runs one scenario against the broker at `options.addr`.
pub async fn run(scenario: Scenario, options: &BenchOptions) -> Result<ScenarioResult, BenchError> {
    if !options.addr.ip().is_loopback() {
        return Err(BenchError::NotLoopback(options.addr));
    }
    let messages = options.messages_for(scenario);
    let cpu = CpuSample::take(options.broker_pid);
    let mut result = match scenario {
        Scenario::FaninQos0 => ScenarioResult::FaninQos0(
            throughput::run(&throughput::Shape::fanin(0, messages), options).await?,
        ),
        Scenario::FaninQos1 => ScenarioResult::FaninQos1(
            throughput::run(&throughput::Shape::fanin(1, messages), options).await?,
        ),
        Scenario::Fanout => ScenarioResult::Fanout(
            throughput::run(&throughput::Shape::fanout(messages), options).await?,
        ),
        Scenario::Latency => ScenarioResult::Latency(latency::run(messages, options).await?),
        Scenario::Connections => ScenarioResult::Connections(connections::run(options).await?),
    };
    result.set_cpu(cpu.since());
    Ok(result)
}

/// A client id unique to this process and scenario, so that two runs (or a leftover
/// session) never take each other's connections over.
pub(crate) fn client_id(tag: &str, idx: u64) -> String {
    format!("hb{}-{tag}-{idx}", std::process::id())
}

/// Seconds as a float, never zero (rates divide by it).
pub(crate) fn secs(duration: Duration) -> f64 {
    duration.as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for scenario in Scenario::ALL {
            assert_eq!(Scenario::from_name(scenario.name()), Some(scenario));
        }
        assert_eq!(Scenario::from_name("fan-in"), None);
    }

    #[tokio::test]
    async fn only_loopback_is_loaded() {
        let options = BenchOptions::new("192.0.2.1:1883".parse().unwrap());
        let error = run(Scenario::FaninQos0, &options).await.unwrap_err();
        assert!(matches!(error, BenchError::NotLoopback(_)), "{error}");
    }
}
