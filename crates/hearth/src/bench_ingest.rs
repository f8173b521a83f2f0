//! `hearth bench ingest`: durable device messages per second, end to end, beside the
//! store's own ceiling for the same rows, in one run.
//!
//! 1. A hub in this process: the store (`--database`, or SQLite in a temporary
//!    directory), the registry with `--devices` devices, the broker on a loopback port
//!    and ingest, as `hearth serve` wires them.
//! 2. The fleet (`hearth_bench::devices`): every device connects with its own secret
//!    and keeps `--window` QoS 1 readings in flight. A PUBACK means "committed", so
//!    acknowledged messages per second is the durable rate. Load generator and hub
//!    share this machine's cores, as the issue asks.
//! 3. Checks that the store holds at least every acknowledged message.
//! 4. The ceiling: the same number of messages (at most a million), shaped as ingest shapes them (one
//!    message row, two points, one live update per device per batch), written straight
//!    to a fresh store of the same backend (the same devices registered) with
//!    `write_batch` in batches of `--ceiling-batch`, as fast as it goes. The end-to-end
//!    run also started on a fresh store, so both write into tables of the same size.
//!
//! The resident memory of the process is sampled while the fleet runs, to show that it
//! stays flat under sustained load.

use anyhow::Context;
use clap::Args;
use hearth_bench::devices::{FleetOptions, FleetProgress, reading, run_fleet};
use hearth_broker::{Broker, BrokerConfig};
use hearth_bus::Bus;
use hearth_model::{DeviceId, MessageKind, Point, now_millis};
use hearth_services::ingest::{Ingest, IngestConfig};
use hearth_services::registry::DeviceSpec;
use hearth_services::{Registry, RegistryAuthorizer};
use hearth_store::{IngestBatch, LiveUpdate, NewMessage, Store};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// `--hub`: the fleet against a hub in another process.
mod external;

/// Most messages written when measuring the ceiling (about 600 MB of prepared batches).
const CEILING_MAX_MESSAGES: u64 = 1_000_000;

#[derive(Debug, Args)]
pub struct IngestBenchArgs {
    /// Database URL (default: SQLite in a temporary directory, deleted afterwards).
    #[arg(long)]
    pub database: Option<String>,
    /// Simulated devices, each on its own MQTT connection.
    #[arg(long, default_value_t = 1_000)]
    pub devices: usize,
    /// QoS 1 messages in flight per device.
    #[arg(long, default_value_t = 16)]
    pub window: u16,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Fresh database for the ceiling when `--database` is given (default: the same).
    #[arg(long)]
    pub ceiling_database: Option<String>,
    /// Messages per batch when measuring the store's own ceiling (ingest's default
    /// largest batch).
    #[arg(long, default_value_t = 20_000)]
    pub ceiling_batch: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Load a hub running in another process (`hearth serve`, loopback only) instead of
    /// one in this process; no ceiling is measured (`bench/memory-soak.sh`).
    #[arg(long, value_name = "ADDR")]
    pub hub: Option<std::net::SocketAddr>,
    /// With `--hub`: the devices' `id,secret` rows (`hearth device import --output`);
    /// the first `--devices` of them publish.
    #[arg(long, value_name = "FILE", requires = "hub")]
    pub credentials: Option<std::path::PathBuf>,
    /// With `--hub`: the hub's process id, whose VmRSS is sampled every second.
    #[arg(long, requires = "hub")]
    pub hub_pid: Option<u32>,
    /// With `--hub`: stop publishing once this many messages are acknowledged (0: run
    /// for `--seconds`, which stays the upper bound).
    #[arg(long, default_value_t = 0, requires = "hub")]
    pub messages: u64,
    /// With `--hub`: seconds to keep sampling the hub's memory after the load stopped.
    #[arg(long, default_value_t = 0, requires = "hub")]
    pub after_secs: u64,
}

#[derive(Debug, serde::Serialize)]
struct IngestBenchReport {
    backend: &'static str,
    devices: usize,
    window: u16,
    acked: u64,
    refused: u64,
    stored: u64,
    end_to_end_per_sec: f64,
    batches: u64,
    mean_batch: f64,
    ceiling_batch: usize,
    ceiling_per_sec: f64,
    ratio: f64,
    rss_mib_samples: Vec<f64>,
}

pub fn run(args: IngestBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.devices >= 1, "--devices must be at least 1");
    let runtime = tokio::runtime::Runtime::new().context("starting a runtime")?;
    if let Some(hub) = args.hub {
        let report = runtime.block_on(external::bench(&args, hub))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            external::print_table(&report);
        }
        return Ok(());
    }
    let directory = tempfile::tempdir().context("creating a temporary directory")?;
    let ceiling_directory = tempfile::tempdir().context("creating a temporary directory")?;
    let (url, ceiling_url) = match &args.database {
        Some(url) => (
            url.clone(),
            args.ceiling_database.clone().unwrap_or_else(|| url.clone()),
        ),
        None => (
            hearth_store::sqlite_url(directory.path()),
            hearth_store::sqlite_url(ceiling_directory.path()),
        ),
    };
    let report = runtime.block_on(bench(&args, &url, &ceiling_url))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

async fn bench(
    args: &IngestBenchArgs,
    url: &str,
    ceiling_url: &str,
) -> anyhow::Result<IngestBenchReport> {
    let store = hearth_store::open(url).await.context("opening the store")?;
    let registry = Registry::new(store.clone());
    registry.ensure_owner(Some("bench-password".into())).await?;
    eprintln!("registering {} devices...", args.devices);
    let run_tag = now_millis() % 1_000_000;
    let app: hearth_model::AppId = "default".parse()?;
    let specs = (0..args.devices)
        .map(|index| {
            Ok(DeviceSpec {
                app: Some(app.clone()),
                ..DeviceSpec::new(format!("bench-{run_tag}-{index:05}").parse()?)
            })
        })
        .collect::<Result<Vec<_>, hearth_model::IdError>>()?;
    let devices: Vec<(String, String)> = registry
        .add_devices("bench", specs, &|_| {})
        .await?
        .into_iter()
        .map(|(id, secret)| (id.to_string(), secret))
        .collect();

    let authorizer = RegistryAuthorizer::load(store.clone(), false, None).await?;
    let client_events = Arc::new(hearth_bus::ClientEvents::new());
    let connections = Some(client_events.subscribe());
    let mut broker_config = BrokerConfig::ephemeral();
    broker_config.limits.max_connections =
        broker_config.limits.max_connections.max(args.devices + 16);
    // The benchmark measures what ingest can take from devices at full speed, which
    // the default per-device rate limit (docs/limits.md) would cap.
    broker_config.rate_limits.enabled = false;
    let broker =
        Broker::start_with_events(broker_config, authorizer.clone(), None, client_events).await?;
    let bus: Arc<dyn Bus> = Arc::new(broker.handle());
    let config = IngestConfig {
        publish_presence: false,
        ..IngestConfig::default()
    };
    let ingest = Ingest::start(store.clone(), bus, connections, config).await?;
    let addr = broker
        .local_addrs()
        .mqtt
        .context("the broker's TCP listener")?;
    let stored_before = store.message_count(None).await?;

    eprintln!(
        "{} devices publishing for {} s ({} in flight each)...",
        args.devices, args.seconds, args.window
    );
    let progress = Arc::new(FleetProgress::default());
    let fleet = tokio::spawn(run_fleet(
        FleetOptions {
            addr,
            devices: devices.clone(),
            window: args.window,
            duration: Duration::from_secs(args.seconds),
        },
        progress.clone(),
    ));
    let mut rss_mib_samples = Vec::new();
    while !fleet.is_finished() {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Some(rss) = rss_mib() {
            rss_mib_samples.push(rss);
        }
    }
    let fleet = fleet.await??;
    let counters = ingest.counters().clone();
    ingest.shutdown().await;
    broker.shutdown().await;
    let stored = store.message_count(None).await? - stored_before;
    anyhow::ensure!(
        stored >= fleet.acked,
        "LOST: {} messages acknowledged but only {stored} stored",
        fleet.acked
    );
    let batches = counters.batches.load(Ordering::Relaxed);
    let mean_batch = counters.stored.load(Ordering::Relaxed) as f64 / batches.max(1) as f64;

    let backend = store.backend();
    store.close().await;
    eprintln!("writing the same rows straight to a fresh store (the ceiling)...");
    let ceiling_store = if ceiling_url == url {
        // A server database (PostgreSQL) given on the command line: the same one.
        hearth_store::open(url).await?
    } else {
        let fresh = hearth_store::open(ceiling_url).await?;
        let registry = Registry::new(fresh.clone());
        registry.ensure_owner(Some("bench-password".into())).await?;
        let specs = devices
            .iter()
            .map(|(id, _)| {
                Ok(DeviceSpec {
                    app: Some(app.clone()),
                    ..DeviceSpec::new(id.parse()?)
                })
            })
            .collect::<Result<Vec<_>, hearth_model::IdError>>()?;
        registry.add_devices("bench", specs, &|_| {}).await?;
        fresh
    };
    // At most a million: the batches are built in memory before the clock starts.
    let ceiling_messages = fleet.acked.min(CEILING_MAX_MESSAGES);
    let ceiling_per_sec = ceiling(
        &ceiling_store,
        &devices,
        ceiling_messages,
        args.ceiling_batch.max(1),
    )
    .await?;
    ceiling_store.close().await;
    Ok(IngestBenchReport {
        backend,
        ceiling_batch: args.ceiling_batch,
        devices: args.devices,
        window: args.window,
        acked: fleet.acked,
        refused: fleet.refused,
        stored,
        end_to_end_per_sec: fleet.acked_per_sec,
        batches,
        mean_batch,
        ceiling_per_sec,
        ratio: fleet.acked_per_sec / ceiling_per_sec.max(1e-9),
        rss_mib_samples,
    })
}

/// Messages per second that `write_batch` alone sustains for `total` messages shaped
/// like the fleet's, in batches of `batch_len`.
async fn ceiling(
    store: &Arc<dyn Store>,
    devices: &[(String, String)],
    total: u64,
    batch_len: usize,
) -> anyhow::Result<f64> {
    let ids: Vec<DeviceId> = devices
        .iter()
        .map(|(id, _)| DeviceId::new(id))
        .collect::<Result<_, _>>()?;
    let mut batches = Vec::new();
    let mut seq = 0u64;
    let mut remaining = total.max(1);
    while remaining > 0 {
        let len = (batch_len as u64).min(remaining);
        let mut batch = IngestBatch::default();
        let at_ms = now_millis();
        let mut live = std::collections::HashMap::new();
        for offset in 0..len {
            let index = ((seq + offset) % ids.len() as u64) as usize;
            let payload = reading(index, seq + offset);
            batch.points.push(Point {
                device: ids[index].clone(),
                metric: "temperature".into(),
                at_ms,
                value: 20.0,
            });
            batch.points.push(Point {
                device: ids[index].clone(),
                metric: "humidity".into(),
                at_ms,
                value: 50.0,
            });
            live.insert(
                index,
                LiveUpdate {
                    device: Some(ids[index].clone()),
                    last_seen_ms: Some(at_ms),
                    last_report_data: Some(payload.clone()),
                    ..LiveUpdate::default()
                },
            );
            batch.messages.push(NewMessage {
                device: ids[index].clone(),
                kind: MessageKind::Data,
                received_at_ms: at_ms,
                payload: payload.into(),
                json_ok: true,
                ts_clamped: false,
            });
        }
        batch.live = live.into_values().collect();
        batches.push(batch);
        seq += len;
        remaining -= len;
    }
    let started = Instant::now();
    for batch in &batches {
        store.write_batch(batch).await?;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

/// Resident memory of this process, MiB.
fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn print_table(report: &IngestBenchReport) {
    println!(
        "| {} · {} devices · window {} | value |",
        report.backend, report.devices, report.window
    );
    println!("|---|---:|");
    println!("| acknowledged (= stored) messages | {} |", report.acked);
    println!("| refused | {} |", report.refused);
    println!("| found in the store | {} |", report.stored);
    println!(
        "| end to end, durable msg/s | {:.0} |",
        report.end_to_end_per_sec
    );
    println!(
        "| batches, mean size | {}, {:.0} |",
        report.batches, report.mean_batch
    );
    println!(
        "| store ceiling, same rows, msg/s | {:.0} |",
        report.ceiling_per_sec
    );
    println!("| end to end / ceiling | {:.2} |", report.ratio);
    let samples: Vec<String> = report
        .rss_mib_samples
        .iter()
        .map(|rss| format!("{rss:.0}"))
        .collect();
    println!("| RSS MiB every 2 s | {} |", samples.join(" "));
}
