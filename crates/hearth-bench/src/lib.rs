//! The MQTT load generator behind `hearth bench broker`.
//!
//! It speaks MQTT 3.1.1 over real TCP sockets to any broker on a loopback address,
//! runs five scenarios (fan-in at QoS 0 and 1, fan-out, latency, idle
//! connections) and returns serde-serialisable results, so that Hearth and Mosquitto can
//! be measured by the same client in the same way and compared in one table
//! (`bench/broker-vs-mosquitto.sh`). Every scenario is bounded by a message or
//! connection count and by time.
//!
//! The generator must not be the bottleneck: it batches writes, pipelines QoS 1 with a
//! window, encodes no PUBLISH twice and allocates nothing per message. [`Relay`] is a
//! broker that does nothing, to measure how far the generator itself goes
//! (`hearth bench ceiling`).
//!
//! # Layout
//! - `client`: one MQTT connection (CONNECT, SUBSCRIBE, PUBLISH templates).
//! - `payload`: the 64-byte payload with publisher, sequence number and send time.
//! - `seqset`, `histogram`: counting messages and latencies.
//! - `cpu`: CPU time of generator and broker from `/proc`.
//! - `scenario/`: the scenarios, their options and limits.
//! - `result`: result types; `report`: Markdown tables, medians and ratios.
//! - `devices`: a fleet of registered devices publishing QoS 1 readings (ingest).
//! - `logins`: logins with credentials per second, each user once.
//! - `relay`: the do-nothing broker for the generator's own ceiling.
//! - `trigger_latency`: a sensor's reading to an automation's command at an actuator
//!   (`hearth bench automations`).
//! - `login_fanout`: fan-out with a login per client, for the authorizer's
//!   per-delivery check (`hearth bench auth`).
//! - `error`: [`BenchError`].

mod client;
mod cpu;
pub mod devices;
mod error;
pub mod histogram;
pub mod login_fanout;
pub mod logins;
pub mod payload;
mod relay;
pub mod report;
pub mod result;
mod scenario;
mod seqset;
pub mod trigger_latency;

pub use cpu::{CpuSample, CpuUsage};
pub use error::BenchError;
pub use relay::Relay;
pub use result::{
    BenchReport, Better, ConnectionsResult, LatencyResult, Metric, ScenarioResult, ThroughputResult,
};
pub use scenario::{BenchOptions, DRAIN_IDLE, Scenario, run};

use std::time::Duration;

/// Pause between two scenarios, so that the connections of one have been closed and
/// cleaned up by the broker before the next starts measuring.
pub const PAUSE_BETWEEN_SCENARIOS: Duration = Duration::from_secs(1);

/// Runs `scenarios` one after the other, calling `on_result` after each (to show
/// progress), and gathers the results.
pub async fn run_all(
    scenarios: &[Scenario],
    options: &BenchOptions,
    mut on_result: impl FnMut(&ScenarioResult),
) -> Result<BenchReport, BenchError> {
    let mut results = Vec::with_capacity(scenarios.len());
    for (idx, scenario) in scenarios.iter().enumerate() {
        if idx > 0 {
            tokio::time::sleep(PAUSE_BETWEEN_SCENARIOS).await;
        }
        let result = run(*scenario, options).await?;
        on_result(&result);
        results.push(result);
    }
    Ok(BenchReport {
        target: options.addr.to_string(),
        results,
    })
}
