//! `hearth bench`: the MQTT load generator of crate `hearth-bench` on the command line.
//!
//! - `hearth bench broker` loads a broker on a loopback address (Hearth, Mosquitto or
//!   any other) and prints a table, or JSON for scripts.
//! - `hearth bench ceiling` runs the same scenarios through a do-nothing in-process
//!   relay: the generator's own limit on this machine.
//! - `hearth bench compare` turns the JSON of several runs of two brokers into one
//!   Markdown table of medians and ratios (used by `bench/broker-vs-mosquitto.sh`).
//! - `hearth bench automations` (`bench_automations.rs`): ingest with and without
//!   automations, and trigger-to-command latency.
//! - `hearth bench history` (`bench_history.rs`): a month of a home's readings in a
//!   fresh store, compacted; bytes per reading and chart query times
//!   (docs/history-performance.md).
//! - `hearth bench login-fleet` and `hearth bench logins` (`bench_logins.rs`): logins
//!   per second with registry credentials (used by `bench/logins.sh`).

#[path = "bench_logins.rs"]
mod logins;

use anyhow::Context;
use clap::{Args, Subcommand};
use hearth_bench::report::{Side, comparison_table, single_table};
use hearth_bench::{BenchOptions, BenchReport, Relay, Scenario, ScenarioResult};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Load an MQTT broker on a loopback address and report what it sustained.
    Broker(BrokerArgs),
    /// Run the scenarios through a do-nothing in-process relay: the generator's ceiling.
    Ceiling(CeilingArgs),
    /// One Markdown table of medians and ratios from the JSON of two brokers' runs.
    Compare(CompareArgs),
    /// What the registry's MQTT authorization costs per check, beside a no-op check.
    Auth(crate::bench_auth::AuthBenchArgs),
    /// Durable device messages per second end to end, beside the store's own ceiling.
    Ingest(crate::bench_ingest::IngestBenchArgs),
    /// Ingest with 10,000 automations against none, and trigger-to-command latency.
    Automations(crate::bench_automations::AutomationsBenchArgs),
    /// A month of 100 sensors' readings in a fresh store: bytes per reading, chart times.
    History(crate::bench_history::HistoryBenchArgs),
    /// Prepare a hub data directory with registered devices and write their secrets.
    LoginFleet(logins::LoginFleetArgs),
    /// Log every user of a `user:password` file in once; logins per second and CPU.
    Logins(logins::LoginsArgs),
}

#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// Broker host; only loopback addresses are accepted.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Broker MQTT port.
    #[arg(long)]
    pub port: u16,
    /// Scenarios, comma-separated: all, fanin-qos0, fanin-qos1, fanout, latency, connections.
    #[arg(long, default_value = "all")]
    pub scenario: String,
    /// Process id of the broker, to measure its memory per idle connection.
    #[arg(long)]
    pub broker_pid: Option<u32>,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Debug, Args)]
pub struct CeilingArgs {
    /// Scenarios, comma-separated. Connections are left out by default: relay and
    /// clients share this process's open-file limit.
    #[arg(long, default_value = "fanin-qos0,fanin-qos1,fanout,latency")]
    pub scenario: String,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// Bounds shared by `broker` and `ceiling`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Time limit of each scenario's publishing, in seconds; draining may take as long again.
    #[arg(long, default_value_t = 30)]
    pub duration_secs: u64,
    /// Messages per scenario, all publishers together (default: 1,000,000 fan-in QoS 0,
    /// 500,000 fan-in QoS 1, 50,000 fan-out, 50,000 latency).
    #[arg(long)]
    pub messages: Option<u64>,
    /// Idle connections opened by the connections scenario.
    #[arg(long, default_value_t = 10_000)]
    pub connections: u64,
    /// Print the results as JSON (for `hearth bench compare`) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Name of the baseline broker in the table.
    #[arg(long, default_value = "Mosquitto")]
    pub baseline_name: String,
    /// Name of the candidate broker in the table.
    #[arg(long, default_value = "Hearth")]
    pub candidate_name: String,
    /// JSON results of the baseline, one file per run.
    #[arg(long, num_args = 1.., required = true)]
    pub baseline: Vec<PathBuf>,
    /// JSON results of the candidate, one file per run.
    #[arg(long, num_args = 1.., required = true)]
    pub candidate: Vec<PathBuf>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Broker(args) => {
            let addr = resolve(&args.host, args.port)?;
            let scenarios = parse_scenarios(&args.scenario)?;
            load(addr, &scenarios, args.broker_pid, &args.load)
        }
        BenchCommand::Ceiling(args) => {
            let scenarios = parse_scenarios(&args.scenario)?;
            let relay = Relay::start().context("starting the relay")?;
            eprintln!("relay listening on {}", relay.addr());
            load(relay.addr(), &scenarios, None, &args.load)
        }
        BenchCommand::Auth(args) => crate::bench_auth::run(args),
        BenchCommand::Ingest(args) => crate::bench_ingest::run(args),
        BenchCommand::Automations(args) => crate::bench_automations::run(args),
        BenchCommand::History(args) => crate::bench_history::run(args),
        BenchCommand::LoginFleet(args) => logins::fleet(args),
        BenchCommand::Logins(args) => logins::logins(args),
        BenchCommand::Compare(args) => {
            let baseline = read_reports(&args.baseline)?;
            let candidate = read_reports(&args.candidate)?;
            print!(
                "{}",
                comparison_table(
                    Side {
                        name: &args.baseline_name,
                        runs: &baseline
                    },
                    Side {
                        name: &args.candidate_name,
                        runs: &candidate
                    },
                )
            );
            Ok(())
        }
    }
}

fn load(
    addr: SocketAddr,
    scenarios: &[Scenario],
    broker_pid: Option<u32>,
    args: &LoadArgs,
) -> anyhow::Result<()> {
    let options = BenchOptions {
        duration: Duration::from_secs(args.duration_secs.max(1)),
        messages: args.messages,
        connections: args.connections,
        broker_pid,
        ..BenchOptions::new(addr)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime
        .block_on(hearth_bench::run_all(scenarios, &options, print_progress))
        .with_context(|| format!("benchmarking {addr}"))?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", single_table(&report));
    }
    Ok(())
}

/// One line per finished scenario on stderr, so a long run shows it is alive.
fn print_progress(result: &ScenarioResult) {
    let metrics: Vec<String> = result
        .metrics()
        .iter()
        .map(|metric| {
            format!(
                "{} {}",
                hearth_bench::report::format_value(metric.value),
                metric.name
            )
        })
        .collect();
    let timed_out = if result.timed_out() {
        ", hit the time limit"
    } else {
        ""
    };
    eprintln!(
        "{}: {}; lost {}{timed_out}",
        result.scenario().name(),
        metrics.join(", "),
        result.lost()
    );
}

fn parse_scenarios(list: &str) -> anyhow::Result<Vec<Scenario>> {
    if list == "all" {
        return Ok(Scenario::ALL.to_vec());
    }
    list.split(',')
        .map(|name| {
            Scenario::from_name(name.trim()).with_context(|| {
                let known: Vec<_> = Scenario::ALL
                    .iter()
                    .map(|scenario| scenario.name())
                    .collect();
                format!(
                    "unknown scenario {name:?}; known: all, {}",
                    known.join(", ")
                )
            })
        })
        .collect()
}

fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let mut addrs = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?;
    addrs
        .find(|addr| addr.ip().is_loopback())
        .with_context(|| format!("{host} is not a loopback address"))
}

fn read_reports(paths: &[PathBuf]) -> anyhow::Result<Vec<BenchReport>> {
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            BenchReport::from_json(&text).with_context(|| format!("parsing {}", path.display()))
        })
        .collect()
}
