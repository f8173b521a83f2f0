//! `hearth bench automations` (issue 14): what the automation engine costs ingest, and
//! how long a reading takes to become a command, with and without a large set of
//! automations, in one run.
//!
//! 1. Two hubs in this process (`Hub::start`, as `hearth serve` wires them; SQLite in
//!    temporary directories, no HTTP), each with `--devices` devices plus a sensor and an
//!    actuator. Hub "none" has no automations; hub "with" gets `--per-device` enabled
//!    automations for every device, created through `Automations::create` (the checks
//!    the API runs) and loaded by `Engine::reload`.
//! 2. Throughput: the ingest fleet of `hearth bench ingest` (every device on its own MQTT
//!    connection, `--window` QoS 1 readings in flight; a PUBACK means committed) runs
//!    `--seconds` against each hub, alternating for `--rounds` rounds, so that both
//!    share the machine's slow and quiet moments and write into tables of the same size.
//!    Reported: acknowledged msg/s, the process's CPU per message, and the engine's
//!    counters over the round (evaluation time, runs, `lagged`: reports the engine lost
//!    because it fell behind).
//! 3. Latency (`hearth_bench::trigger_latency`): on each hub, an automation reads the
//!    sensor's `motion` and commands the actuator; `--triggers` times the sensor
//!    publishes `true` (then `false`, to re-arm the trigger) and the actuator acks.
//!
//! The automations of a device (see [`background_automation`]) read the fields the
//! fleet publishes (`temperature` 15.0–34.9, `humidity` 30–79), with thresholds the
//! load never reaches, some with `for` or `hysteresis`; plus event triggers (the fleet
//! sends no events) and a presence trigger (`offline` for an hour). One device in a
//! hundred has a threshold the load does cross (temperature above 34.85, hysteresis 1:
//! once per sweep of its readings), so that a few runs and commands happen during the
//! load. Every action is a command to the next device.

use anyhow::Context;
use clap::Args;
use hearth_bench::devices::{FleetOptions, FleetProgress, run_fleet};
use hearth_bench::histogram::Histogram;
use hearth_bench::report::{format_count, format_value};
use hearth_bench::trigger_latency::{TriggerLatencyOptions, measure};
use hearth_bench::{CpuSample, report::median};
use hearth_model::AutomationSpec;
use hearth_services::automations::Automations;
use hearth_services::automations::engine::EngineConfig;
use hearth_services::registry::DeviceSpec;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::config::HearthConfig;
use crate::hub::Hub;

const SENSOR: &str = "bench-sensor";
const ACTUATOR: &str = "bench-actuator";
const ADMIN_PASSWORD: &str = "bench-password";

#[derive(Debug, Args)]
pub struct AutomationsBenchArgs {
    /// Devices publishing readings, each on its own MQTT connection.
    #[arg(long, default_value_t = 1_000)]
    pub devices: usize,
    /// Automations per device on the hub that has them.
    #[arg(long, default_value_t = 10)]
    pub per_device: usize,
    /// QoS 1 messages in flight per device.
    #[arg(long, default_value_t = 16)]
    pub window: u16,
    /// Seconds of publishing per throughput round.
    #[arg(long, default_value_t = 15)]
    pub seconds: u64,
    /// Throughput rounds per hub, alternated.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Triggers timed per hub (trigger-to-command latency).
    #[arg(long, default_value_t = 2_000)]
    pub triggers: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One throughput round on one hub.
#[derive(Debug, Clone, serde::Serialize)]
struct Round {
    acked: u64,
    refused: u64,
    per_sec: f64,
    cpu_us_per_msg: f64,
    evaluation_ns: u64,
    runs: u64,
    skipped: u64,
    lagged: u64,
}

/// One hub's results.
#[derive(Debug, Clone, serde::Serialize)]
struct Side {
    automations: usize,
    rounds: Vec<Round>,
    median_per_sec: f64,
    median_cpu_us_per_msg: f64,
    latency_triggers: u64,
    latency_missed: u64,
    latency_p50_us: f64,
    latency_p90_us: f64,
    latency_p99_us: f64,
    latency_max_us: f64,
    /// The sensor's PUBACK for a value that fires nothing: one ingest commit.
    puback_p50_us: f64,
    puback_p99_us: f64,
}

#[derive(Debug, serde::Serialize)]
struct AutomationsBenchReport {
    devices: usize,
    window: u16,
    seconds: u64,
    created_per_sec: f64,
    none: Side,
    with: Side,
    /// with ÷ none, of the median rates.
    throughput_ratio: f64,
}

pub fn run(args: AutomationsBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.devices >= 2, "--devices must be at least 2");
    anyhow::ensure!(args.rounds >= 1, "--rounds must be at least 1");
    let runtime = tokio::runtime::Runtime::new().context("starting a runtime")?;
    let report = runtime.block_on(bench(&args))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// A hub in a temporary directory and the MQTT secrets of its devices.
struct BenchHub {
    hub: Hub,
    fleet: Vec<(String, String)>,
    sensor: (String, String),
    actuator: (String, String),
    automations: usize,
    rounds: Vec<Round>,
    _directory: tempfile::TempDir,
}

async fn bench(args: &AutomationsBenchArgs) -> anyhow::Result<AutomationsBenchReport> {
    eprintln!("starting two hubs with {} devices each...", args.devices);
    let mut none = start_hub(args.devices).await?;
    let mut with = start_hub(args.devices).await?;
    let total = args.devices * args.per_device;
    eprintln!("creating {total} automations...");
    let started = Instant::now();
    create_background(&with.hub, &with.fleet, args.per_device).await?;
    let created_per_sec = total as f64 / started.elapsed().as_secs_f64().max(1e-9);
    with.hub.engine().reload().await?;
    with.automations = total;

    for round in 0..args.rounds {
        // Alternate who goes first, so that neither always follows the other's tail.
        let order: [&mut BenchHub; 2] = if round % 2 == 0 {
            [&mut none, &mut with]
        } else {
            [&mut with, &mut none]
        };
        for side in order {
            let result = throughput(side, args).await?;
            eprintln!(
                "round {}, {} automations: {:.0} msg/s, {:.1} µs CPU/msg, lagged {}",
                round + 1,
                side.automations,
                result.per_sec,
                result.cpu_us_per_msg,
                result.lagged
            );
            side.rounds.push(result);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    let none_latency = latency(&none, args).await?;
    let with_latency = latency(&with, args).await?;
    let none_side = side(&none, none_latency);
    let with_side = side(&with, with_latency);
    let throughput_ratio = with_side.median_per_sec / none_side.median_per_sec.max(1e-9);
    none.hub.shutdown().await;
    with.hub.shutdown().await;
    Ok(AutomationsBenchReport {
        devices: args.devices,
        window: args.window,
        seconds: args.seconds,
        created_per_sec,
        none: none_side,
        with: with_side,
        throughput_ratio,
    })
}

async fn start_hub(devices: usize) -> anyhow::Result<BenchHub> {
    let directory = tempfile::tempdir().context("creating a temporary directory")?;
    let mut mqtt = hearth_broker::BrokerConfig::ephemeral();
    mqtt.ws_listen = None;
    mqtt.limits.max_connections = mqtt.limits.max_connections.max(devices + 16);
    // The devices send closed-loop at full speed (the durable ingest rate is measured),
    // which the default per-device rate limit (docs/limits.md) would cap.
    mqtt.rate_limits.enabled = false;
    let config = HearthConfig {
        data_dir: directory.path().to_owned(),
        database: None,
        http: None,
        mqtt,
        // The latency automation fires thousands of times a minute on purpose; the
        // default of 30 would refuse it as a loop after the first 30.
        automations: EngineConfig {
            max_runs_per_minute: u32::MAX,
            ..EngineConfig::default()
        },
        ..HearthConfig::default()
    };
    let hub = Hub::start(config, Some(ADMIN_PASSWORD.into())).await?;
    let mut ids: Vec<String> = (0..devices).map(device_id).collect();
    ids.push(SENSOR.into());
    ids.push(ACTUATOR.into());
    let specs = ids
        .iter()
        .map(|id| Ok(DeviceSpec::new(id.parse()?)))
        .collect::<Result<Vec<_>, hearth_model::IdError>>()?;
    let mut secrets: Vec<(String, String)> = hub
        .registry()
        .add_devices("cli:bench", specs, &|_| {})
        .await?
        .into_iter()
        .map(|(id, secret)| (id.to_string(), secret))
        .collect();
    hub.authorizer().refresh(hub.bus().as_ref()).await?;
    let actuator = secrets.pop().context("the actuator's secret")?;
    let sensor = secrets.pop().context("the sensor's secret")?;
    Ok(BenchHub {
        hub,
        fleet: secrets,
        sensor,
        actuator,
        automations: 0,
        rounds: Vec::new(),
        _directory: directory,
    })
}

fn device_id(index: usize) -> String {
    format!("bench-{index:05}")
}

/// Creates `per_device` automations for every device of the fleet, four at a time
/// (SQLite takes one writer; the checks read in parallel).
async fn create_background(
    hub: &Hub,
    fleet: &[(String, String)],
    per_device: usize,
) -> anyhow::Result<()> {
    const WORKERS: usize = 4;
    let n_devices = fleet.len();
    let mut tasks = Vec::new();
    for worker in 0..WORKERS {
        let automations = Automations::new(hub.store());
        tasks.push(tokio::spawn(async move {
            let mut device_idx = worker;
            while device_idx < n_devices {
                for slot in 0..per_device {
                    let spec = background_automation(device_idx, n_devices, slot)?;
                    automations
                        .create("cli:bench", spec)
                        .await
                        .with_context(|| format!("automation {slot} of device {device_idx}"))?;
                }
                device_idx += WORKERS;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// The `slot`-th automation of device `device_idx`: a trigger on that device, a command
/// to the next device.
fn background_automation(
    device_idx: usize,
    n_devices: usize,
    slot: usize,
) -> anyhow::Result<AutomationSpec> {
    let device = device_id(device_idx);
    let target = device_id((device_idx + 1) % n_devices);
    let reading = |metric: &str, test: serde_json::Value| {
        let mut trigger = json!({"type": "reading", "device": device, "metric": metric});
        if let (Some(trigger), Some(test)) = (trigger.as_object_mut(), test.as_object()) {
            trigger.extend(test.clone());
        }
        trigger
    };
    let trigger = match slot % 10 {
        0 if device_idx.is_multiple_of(100) => {
            reading("temperature", json!({"gt": 34.85, "hysteresis": 1.0}))
        }
        0 => reading("temperature", json!({"gt": 60.0})),
        1 => reading("temperature", json!({"lt": -10.0, "hysteresis": 1.0})),
        2 => reading("temperature", json!({"between": [45.0, 55.0], "for": 300})),
        3 => reading("humidity", json!({"gt": 95.0, "hysteresis": 2.0})),
        4 => reading("humidity", json!({"lt": 5.0, "for": 600})),
        5 => reading("humidity", json!({"eq": 100})),
        6 => json!({"type": "event", "device": device, "matches": {"type": "smoke"}}),
        7 => {
            json!({"type": "event", "device": device, "matches": {"type": "button", "action": "press"}})
        }
        8 => json!({"type": "presence", "device": device, "online": false, "for": 3600}),
        _ => reading("temperature", json!({"gt": 50.0, "hysteresis": 0.5})),
    };
    let conditions = if slot % 10 >= 5 {
        json!([{"type": "reading", "device": device, "metric": "temperature", "gt": 0}])
    } else {
        json!([])
    };
    let document = json!({
        "group": "home",
        "name": format!("bench {device} {slot}"),
        "triggers": [trigger],
        "conditions": conditions,
        "actions": [{"type": "command", "device": target, "name": "switch",
            "params": {"on": true}, "wait": false}],
    });
    serde_json::from_value(document).context("a background automation")
}

/// One throughput round: the fleet against the hub, with the engine's counters.
async fn throughput(side: &BenchHub, args: &AutomationsBenchArgs) -> anyhow::Result<Round> {
    let addr = side.hub.addrs().mqtt.context("the hub's MQTT listener")?;
    let counters = side.hub.engine().counters().clone();
    let read = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let before = (
        read(&counters.evaluation_ns),
        read(&counters.runs),
        read(&counters.skipped),
        read(&counters.lagged),
    );
    let cpu = CpuSample::take(None);
    let fleet = run_fleet(
        FleetOptions {
            addr,
            devices: side.fleet.clone(),
            window: args.window,
            duration: Duration::from_secs(args.seconds.max(1)),
        },
        Arc::new(FleetProgress::default()),
    )
    .await?;
    let cpu_secs = cpu.since().generator_secs;
    Ok(Round {
        acked: fleet.acked,
        refused: fleet.refused,
        per_sec: fleet.acked_per_sec,
        cpu_us_per_msg: cpu_secs * 1e6 / fleet.acked.max(1) as f64,
        evaluation_ns: read(&counters.evaluation_ns) - before.0,
        runs: read(&counters.runs) - before.1,
        skipped: read(&counters.skipped) - before.2,
        lagged: read(&counters.lagged) - before.3,
    })
}

/// Trigger-to-command latency on one hub: its automation from the sensor to the
/// actuator, created now and loaded before the first trigger.
async fn latency(
    side: &BenchHub,
    args: &AutomationsBenchArgs,
) -> anyhow::Result<hearth_bench::trigger_latency::TriggerLatency> {
    let spec: AutomationSpec = serde_json::from_value(json!({
        "group": "home",
        "name": "bench: motion switches the actuator",
        "mode": "parallel",
        "max_runs": 100,
        "triggers": [{"type": "reading", "device": SENSOR, "metric": "motion", "eq": true}],
        "actions": [{"type": "command", "device": ACTUATOR, "name": "switch",
            "params": {"on": true}}],
    }))?;
    Automations::new(side.hub.store())
        .create("cli:bench", spec)
        .await?;
    side.hub.engine().reload().await?;
    eprintln!(
        "{} triggers, {} automations...",
        args.triggers, side.automations
    );
    let addr = side.hub.addrs().mqtt.context("the hub's MQTT listener")?;
    let result = measure(&TriggerLatencyOptions {
        addr,
        sensor: side.sensor.clone(),
        actuator: side.actuator.clone(),
        metric: "motion".into(),
        triggers: args.triggers,
        warmup: (args.triggers / 20).clamp(1, 100),
        timeout: Duration::from_secs(2),
    })
    .await?;
    Ok(result)
}

fn side(hub: &BenchHub, latency: hearth_bench::trigger_latency::TriggerLatency) -> Side {
    let rates: Vec<f64> = hub.rounds.iter().map(|round| round.per_sec).collect();
    let cpu: Vec<f64> = hub
        .rounds
        .iter()
        .map(|round| round.cpu_us_per_msg)
        .collect();
    let micros = |histogram: &Histogram, quantile: f64| histogram.value_at(quantile) as f64 / 1e3;
    Side {
        automations: hub.automations,
        rounds: hub.rounds.clone(),
        median_per_sec: median(&rates).unwrap_or(0.0),
        median_cpu_us_per_msg: median(&cpu).unwrap_or(0.0),
        latency_triggers: latency.histogram.len(),
        latency_missed: latency.missed,
        latency_p50_us: micros(&latency.histogram, 0.5),
        latency_p90_us: micros(&latency.histogram, 0.9),
        latency_p99_us: micros(&latency.histogram, 0.99),
        latency_max_us: latency.histogram.max() as f64 / 1e3,
        puback_p50_us: micros(&latency.puback, 0.5),
        puback_p99_us: micros(&latency.puback, 0.99),
    }
}

fn print_table(report: &AutomationsBenchReport) {
    let (none, with) = (&report.none, &report.with);
    println!(
        "| SQLite · {} devices · window {} · {} s rounds | no automations | {} automations | with ÷ none |",
        report.devices,
        report.window,
        report.seconds,
        format_count(with.automations as u64)
    );
    println!("|---|--:|--:|--:|");
    let rounds = |side: &Side| {
        side.rounds
            .iter()
            .map(|round| format_value(round.per_sec))
            .collect::<Vec<_>>()
            .join(" · ")
    };
    println!(
        "| durable msg/s, median of {} | {} | {} | {:.2} |",
        none.rounds.len(),
        format_value(none.median_per_sec),
        format_value(with.median_per_sec),
        report.throughput_ratio
    );
    println!(
        "| msg/s, each round | {} | {} | |",
        rounds(none),
        rounds(with)
    );
    println!(
        "| process CPU µs per message, median | {} | {} | {:.2} |",
        format_value(none.median_cpu_us_per_msg),
        format_value(with.median_cpu_us_per_msg),
        with.median_cpu_us_per_msg / none.median_cpu_us_per_msg.max(1e-9)
    );
    let sum =
        |side: &Side, field: fn(&Round) -> u64| -> u64 { side.rounds.iter().map(field).sum() };
    let acked = |side: &Side| sum(side, |round| round.acked);
    let per_msg_ns =
        |side: &Side| sum(side, |round| round.evaluation_ns) as f64 / acked(side).max(1) as f64;
    println!(
        "| engine evaluation, ms in all rounds (ns per message) | {} ({}) | {} ({}) | |",
        format_count(sum(none, |round| round.evaluation_ns) / 1_000_000),
        format_value(per_msg_ns(none)),
        format_count(sum(with, |round| round.evaluation_ns) / 1_000_000),
        format_value(per_msg_ns(with)),
    );
    println!(
        "| runs started / skipped, all rounds | {} / {} | {} / {} | |",
        format_count(sum(none, |round| round.runs)),
        format_count(sum(none, |round| round.skipped)),
        format_count(sum(with, |round| round.runs)),
        format_count(sum(with, |round| round.skipped)),
    );
    println!(
        "| engine `lagged` (reports lost) | {} | {} | |",
        format_count(sum(none, |round| round.lagged)),
        format_count(sum(with, |round| round.lagged)),
    );
    println!(
        "| refused PUBACKs | {} | {} | |",
        format_count(sum(none, |round| round.refused)),
        format_count(sum(with, |round| round.refused)),
    );
    println!(
        "| trigger → command, triggers timed (missed) | {} ({}) | {} ({}) | |",
        format_count(none.latency_triggers),
        format_count(none.latency_missed),
        format_count(with.latency_triggers),
        format_count(with.latency_missed),
    );
    for (name, pick) in [
        (
            "trigger → command p50",
            (|side: &Side| side.latency_p50_us) as fn(&Side) -> f64,
        ),
        ("trigger → command p90", |side: &Side| side.latency_p90_us),
        ("trigger → command p99", |side: &Side| side.latency_p99_us),
        ("trigger → command max", |side: &Side| side.latency_max_us),
        ("sensor's PUBACK (one ingest commit) p50", |side: &Side| {
            side.puback_p50_us
        }),
        ("sensor's PUBACK (one ingest commit) p99", |side: &Side| {
            side.puback_p99_us
        }),
    ] {
        println!(
            "| {name}, µs | {} | {} | {:.2} |",
            format_value(pick(none)),
            format_value(pick(with)),
            pick(with) / pick(none).max(1e-9)
        );
    }
    println!(
        "| automations created per second (`Automations::create`) | | {} | |",
        format_value(report.created_per_sec)
    );
}
