//! `hearth bench history`: a month of a home's readings in a fresh store, compacted as a
//! live hub compacts them, and what that costs on disk and in query time (issue 19).
//!
//! 1. A fresh store: SQLite in `--data-dir` (default a temporary directory), or with
//!    `--postgres URL` a scratch database created on that server (and dropped after).
//!    `--devices` sensors registered through the registry, as `hearth device add` does.
//! 2. `--days` days of 10 s readings with three metrics each (`bench_history_data.rs`),
//!    written day by day through `write_batch` in chunks of `--chunk` device reports,
//!    with the raw JSON messages for the last `--message-days` days (the default raw
//!    retention). After each day the store compacts everything before that day's end,
//!    as the hub's compaction task would.
//! 3. Sizes (`bench_history_measure.rs`): the tables and indexes that hold the points,
//!    those that hold the messages, and the whole database, per reading and per payload
//!    byte; the store's own count of block bytes.
//! 4. Query times, median and p95 over `--samples` random device/metric picks: charts of
//!    an hour (raw points), a day, a month and a year with the bucket the web app picks,
//!    the newest points of a device and a page of the device list.
//!
//! Everything is deterministic from `--seed` except the time stamps' anchor (the data
//! ends at the last UTC midnight), so two runs store the same history.

#[path = "bench_history_data.rs"]
mod data;
#[path = "bench_history_measure.rs"]
mod measure;

use anyhow::Context;
use clap::Args;
use data::{DAY_MS, Fleet, INTERVAL_MS, METRICS, SimDevice};
use hearth_model::{DeviceId, Millis, now_millis};
use hearth_services::Registry;
use hearth_services::registry::DeviceSpec;
use hearth_store::{CompactRequest, CompactStats, HistorySize, Store};
use measure::Sizes;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// The targets, printed beside the numbers.
const TARGET_BYTES_PER_READING: f64 = 4.0;
const TARGET_MESSAGE_RATIO: f64 = 0.25;
const TARGET_CHART_MS: f64 = 50.0;
const TARGET_LATEST_MS: f64 = 5.0;
/// The home of the issue: 100 sensors, three readings every 10 s, for a year.
const HOME_DEVICES: f64 = 100.0;
const YEAR_MS: Millis = 365 * DAY_MS;

#[derive(Debug, Args)]
pub struct HistoryBenchArgs {
    /// Days of history to generate.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Sensors, each reporting three metrics every 10 s.
    #[arg(long, default_value_t = 100)]
    pub devices: usize,
    /// Raw messages are kept for the last this many days (the default raw retention).
    #[arg(long, default_value_t = 7)]
    pub message_days: u32,
    /// Device reports per `write_batch` (ingest's largest batch by default).
    #[arg(long, default_value_t = 20_000)]
    pub chunk: usize,
    /// Seed of the generated readings.
    #[arg(long, default_value_t = 19)]
    pub seed: u64,
    /// Standard deviation of the reporting jitter, milliseconds.
    #[arg(long, default_value_t = 25.0)]
    pub jitter_ms: f64,
    /// Width of a compacted block: `1h` (the default) or `1d`.
    #[arg(long, default_value = "1h", value_parser = parse_span)]
    pub block: Millis,
    /// Aggregate tiers, comma-separated widths.
    #[arg(long, default_value = "1h,1d", value_delimiter = ',', value_parser = parse_span)]
    pub tiers: Vec<Millis>,
    /// Compact every this much simulated time (`1h`: as often as the hub's task runs),
    /// instead of once after each day (the default, `1d`).
    #[arg(long, default_value = "1d", value_parser = parse_span)]
    pub compact_every: Millis,
    /// Series (and devices) per compaction transaction.
    #[arg(long, default_value_t = 64)]
    pub batch_series: u32,
    /// Timed queries of each kind (random devices and metrics).
    #[arg(long, default_value_t = 50)]
    pub samples: usize,
    /// Benchmark PostgreSQL: a scratch database is created on this server and dropped
    /// afterwards (the user needs CREATEDB).
    #[arg(long, conflicts_with = "data_dir")]
    pub postgres: Option<String>,
    /// Keep the SQLite database in this directory (it must not hold one yet) instead of
    /// a temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Median and 95th percentile of one kind of query, milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct QueryTimes {
    pub name: String,
    pub range_ms: Millis,
    pub bucket_ms: Option<Millis>,
    pub samples: usize,
    /// Points or buckets returned, averaged (shows the chart got what it asked for).
    pub mean_rows: f64,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub target_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct HistoryBenchReport {
    pub backend: &'static str,
    pub days: u32,
    pub devices: usize,
    pub message_days: u32,
    pub seed: u64,
    pub block_ms: Millis,
    pub compact_every_ms: Millis,
    pub tiers_ms: Vec<Millis>,
    pub readings: u64,
    pub messages: u64,
    pub payload_bytes: u64,
    /// Bytes of the point tables and their indexes (plain points, blocks, tiers, series)
    /// per reading: the "bytes per reading including indexes".
    pub bytes_per_reading: f64,
    pub target_bytes_per_reading: f64,
    /// The point tables without the plain rows (blocks, tiers, series): what grows with
    /// the history, per reading. The plain rows are a constant (about a day of them).
    pub compacted_bytes_per_reading: f64,
    /// The whole database (registry and messages included) per reading.
    pub database_bytes_per_reading: f64,
    /// Encoded block bytes per point, as the store counts them (no row or index costs).
    pub block_bytes_per_point: f64,
    /// Bytes of the message tables and their indexes over the payload bytes they hold.
    pub message_bytes_ratio: f64,
    /// Encoded message block bytes over the payloads in them, as the store counts them.
    pub message_block_ratio: f64,
    pub target_message_ratio: f64,
    pub sizes: Sizes,
    pub history: HistorySize,
    pub compacted: CompactTotals,
    pub ingest_secs: f64,
    pub ingest_readings_per_sec: f64,
    pub compact_secs: f64,
    /// The slowest day's compaction (all its rounds).
    pub compact_max_day_secs: f64,
    /// Bytes this process wrote to storage while ingesting and compacting, per simulated
    /// day (SQLite only: PostgreSQL's server does its own writing), with the WAL and
    /// every rewrite: what an SD card wears by.
    pub disk_write_bytes_per_day: Option<f64>,
    /// Of those, what the compaction rounds wrote (the rest is ingest's rows and WAL).
    pub disk_write_compact_bytes_per_day: Option<f64>,
    pub queries: Vec<QueryTimes>,
    /// Readings a year of the home (100 sensors x 3 metrics every 10 s).
    pub year_readings_100_devices: f64,
    /// Their point storage, GB (10^9): this run's compacted bytes per reading for every
    /// reading of the year, plus the plain rows (scaled to 100 sensors), which do not grow.
    pub year_point_gb_100_devices: f64,
    /// Plus the raw messages of `message_days` (a constant, not growing with time), GB.
    pub year_total_gb_100_devices: f64,
    pub rss_mib: f64,
    pub peak_rss_mib: f64,
}

/// The sum of every compaction round.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CompactTotals {
    pub points: u64,
    pub point_blocks: u64,
    pub messages: u64,
    pub message_blocks: u64,
}

impl CompactTotals {
    fn add(&mut self, stats: CompactStats) {
        self.points += stats.points;
        self.point_blocks += stats.point_blocks;
        self.messages += stats.messages;
        self.message_blocks += stats.message_blocks;
    }
}

pub fn run(args: HistoryBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.days >= 1, "--days must be at least 1");
    anyhow::ensure!(args.devices >= 1, "--devices must be at least 1");
    anyhow::ensure!(args.samples >= 1, "--samples must be at least 1");
    let runtime = tokio::runtime::Runtime::new().context("starting a runtime")?;
    let report = runtime.block_on(async {
        match &args.postgres {
            Some(server) => {
                let scratch = measure::PostgresScratch::create(server).await?;
                let result = bench(&args, scratch.url()).await;
                scratch.drop_database().await?;
                result
            }
            None => {
                let temporary = tempfile::tempdir().context("creating a temporary directory")?;
                let directory = match &args.data_dir {
                    Some(directory) => {
                        std::fs::create_dir_all(directory)
                            .with_context(|| format!("creating {}", directory.display()))?;
                        anyhow::ensure!(
                            !directory.join("hearth.db").exists(),
                            "{} already holds a database",
                            directory.display()
                        );
                        directory.clone()
                    }
                    None => temporary.path().to_owned(),
                };
                bench(&args, &hearth_store::sqlite_url(&directory)).await
            }
        }
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

async fn bench(args: &HistoryBenchArgs, url: &str) -> anyhow::Result<HistoryBenchReport> {
    let store = hearth_store::open(url).await.context("opening the store")?;
    let ids = register(&store, args.devices).await?;
    // The data ends at the last UTC midnight: every day is whole, and "now" for the
    // charts is that midnight.
    let end_ms = now_millis().div_euclid(DAY_MS) * DAY_MS;
    let start_ms = end_ms - args.days as Millis * DAY_MS;
    let mut fleet = Fleet {
        devices: ids
            .iter()
            .enumerate()
            .map(|(index, id)| SimDevice::new(id.clone(), index, args.seed, args.jitter_ms))
            .collect(),
        start_ms,
        days: args.days,
        message_days: args.message_days.min(args.days),
    };
    let request = |before_ms| CompactRequest {
        before_ms,
        block_ms: args.block,
        tiers: args.tiers.clone(),
        batch_series: args.batch_series.max(1),
    };

    let (mut readings, mut messages, mut payload_bytes) = (0u64, 0u64, 0u64);
    let (mut ingest_secs, mut compact_secs, mut compact_max_day_secs) = (0.0f64, 0.0f64, 0.0f64);
    let mut compacted = CompactTotals::default();
    let written_before = measure::proc_io("write_bytes");
    let mut written_compacting = 0u64;
    let mut compacted_before = start_ms;
    for day in 0..args.days {
        let (mut day_compact_secs, mut day_points, mut day_blocks) = (0.0f64, 0u64, 0u64);
        for (batch, counts) in fleet.day_chunks(day, args.chunk.max(1)) {
            let started = Instant::now();
            store.write_batch(&batch).await.context("write_batch")?;
            ingest_secs += started.elapsed().as_secs_f64();
            readings += counts.readings;
            messages += counts.messages;
            payload_bytes += counts.payload_bytes;
            // A live hub compacts what is closed: here every `--compact-every` of
            // simulated time, and always at the end of the day.
            let closed = counts.until_ms.div_euclid(args.compact_every) * args.compact_every;
            let day_end = start_ms + (day as Millis + 1) * DAY_MS;
            let before_ms = if counts.until_ms >= day_end {
                day_end
            } else {
                closed
            };
            if before_ms <= compacted_before {
                continue;
            }
            compacted_before = before_ms;
            let started = Instant::now();
            let written = measure::proc_io("write_bytes").unwrap_or(0);
            let stats = store
                .compact(&request(before_ms))
                .await
                .context("compact")?;
            day_compact_secs += started.elapsed().as_secs_f64();
            written_compacting +=
                measure::proc_io("write_bytes").map_or(0, |after| after.saturating_sub(written));
            compacted.add(stats);
            day_points += stats.points;
            day_blocks += stats.point_blocks;
        }
        compact_secs += day_compact_secs;
        compact_max_day_secs = compact_max_day_secs.max(day_compact_secs);
        eprintln!(
            "day {}/{}: {} readings, {} messages so far; compacted {day_points} points into {day_blocks} blocks in {day_compact_secs:.1} s",
            day + 1,
            args.days,
            readings,
            messages,
        );
    }

    let disk_write_bytes_per_day = match (url.starts_with("sqlite://"), written_before) {
        (true, Some(before)) => measure::proc_io("write_bytes")
            .map(|after| after.saturating_sub(before) as f64 / args.days as f64),
        _ => None,
    };
    let disk_write_compact_bytes_per_day =
        disk_write_bytes_per_day.map(|_| written_compacting as f64 / args.days as f64);
    let history = store.history_size().await.context("history_size")?;
    let backend = store.backend();
    let sizes = measure::sizes(url)
        .await
        .context("measuring the database")?;
    eprintln!("timing queries...");
    let queries = measure::time_queries(&store, &ids, end_ms, args).await?;
    store.close().await;

    let readings_f = readings.max(1) as f64;
    let bytes_per_reading = sizes.point_bytes as f64 / readings_f;
    let year_readings = HOME_DEVICES * METRICS.len() as f64 * (YEAR_MS / INTERVAL_MS) as f64;
    let compacted_bytes_per_reading =
        (sizes.point_bytes - sizes.plain_point_bytes) as f64 / readings_f;
    let to_home = HOME_DEVICES / args.devices as f64;
    let year_point_gb = (compacted_bytes_per_reading * year_readings
        + sizes.plain_point_bytes as f64 * to_home)
        / 1e9;
    // The messages kept are `message_days` of this run, scaled to the home's size.
    let year_total_gb = year_point_gb + sizes.message_bytes as f64 * to_home / 1e9;
    Ok(HistoryBenchReport {
        backend,
        days: args.days,
        devices: args.devices,
        message_days: fleet.message_days,
        seed: args.seed,
        block_ms: args.block,
        compact_every_ms: args.compact_every,
        tiers_ms: args.tiers.clone(),
        readings,
        messages,
        payload_bytes,
        bytes_per_reading,
        target_bytes_per_reading: TARGET_BYTES_PER_READING,
        compacted_bytes_per_reading,
        database_bytes_per_reading: sizes.database_bytes as f64 / readings_f,
        block_bytes_per_point: ratio(history.point_block_bytes, history.block_points),
        message_bytes_ratio: ratio(sizes.message_bytes, payload_bytes),
        message_block_ratio: ratio(
            history.message_block_bytes,
            history.block_message_payload_bytes,
        ),
        target_message_ratio: TARGET_MESSAGE_RATIO,
        sizes,
        history,
        compacted,
        ingest_secs,
        ingest_readings_per_sec: readings as f64 / ingest_secs.max(1e-9),
        compact_secs,
        compact_max_day_secs,
        disk_write_bytes_per_day,
        disk_write_compact_bytes_per_day,
        queries,
        year_readings_100_devices: year_readings,
        year_point_gb_100_devices: year_point_gb,
        year_total_gb_100_devices: year_total_gb,
        rss_mib: measure::proc_status_mib("VmRSS:").unwrap_or(0.0),
        peak_rss_mib: measure::proc_status_mib("VmHWM:").unwrap_or(0.0),
    })
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Registers the sensors through the registry (so the device list holds real rows),
/// spread over a home's rooms.
async fn register(store: &Arc<dyn Store>, devices: usize) -> anyhow::Result<Vec<DeviceId>> {
    const ROOMS: [&str; 8] = [
        "Living room",
        "Kitchen",
        "Bedroom",
        "Bathroom",
        "Office",
        "Hall",
        "Garage",
        "Garden",
    ];
    let registry = Registry::new(store.clone());
    registry.ensure_owner(Some("bench-password".into())).await?;
    let app: hearth_model::AppId = "default".parse()?;
    let specs = (0..devices)
        .map(|index| {
            Ok(DeviceSpec {
                app: Some(app.clone()),
                name: Some(format!("Sensor {}", index + 1)),
                kind: Some("sensor".into()),
                room: Some(ROOMS[index % ROOMS.len()].into()),
                ..DeviceSpec::new(format!("sensor-{:04}", index + 1).parse()?)
            })
        })
        .collect::<Result<Vec<_>, hearth_model::IdError>>()?;
    Ok(registry
        .add_devices("bench", specs, &|_| {})
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

/// The bucket the web app asks for over a range (web/src/api/history.ts `bucketFor`:
/// about 300 buckets, rounded up to whole minutes, hours or days).
pub fn bucket_for(range_ms: Millis) -> Millis {
    let seconds = 30.max((range_ms as f64 / 1000.0 / 300.0).ceil() as Millis);
    if seconds < 60 {
        30_000
    } else if seconds < 3_600 {
        (seconds as f64 / 60.0).ceil() as Millis * 60_000
    } else if seconds < 86_400 {
        (seconds as f64 / 3_600.0).ceil() as Millis * 3_600_000
    } else {
        (seconds as f64 / 86_400.0).ceil() as Millis * DAY_MS
    }
}

/// "1h", "1d", "5m", "30s" (or plain milliseconds) as milliseconds.
fn parse_span(text: &str) -> Result<Millis, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let number: Millis = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a number and s, m, h or d"))?;
    let unit_ms = match unit {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => DAY_MS,
        _ => return Err(format!("{text:?}: unit must be s, m, h or d")),
    };
    match number.checked_mul(unit_ms) {
        Some(ms) if ms > 0 => Ok(ms),
        _ => Err(format!("{text:?}: must be positive")),
    }
}

fn print_table(report: &HistoryBenchReport) {
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "| {} · {} devices x {} metrics · {} days ({} with raw messages) | value | target |",
        report.backend,
        report.devices,
        METRICS.len(),
        report.days,
        report.message_days
    );
    println!("|---|---:|---|");
    println!("| readings | {} | |", report.readings);
    println!(
        "| bytes per reading (point tables and indexes) | {:.2} | ≤ {} B: {} |",
        report.bytes_per_reading,
        report.target_bytes_per_reading,
        verdict(report.bytes_per_reading <= report.target_bytes_per_reading)
    );
    println!(
        "| of which compacted (blocks, tiers): grows with history | {:.2} | |",
        report.compacted_bytes_per_reading
    );
    println!(
        "| plain rows not yet compacted (constant), MB | {:.1} | |",
        report.sizes.plain_point_bytes as f64 / 1e6
    );
    println!(
        "| whole database per reading; in use / on disk, MB | {:.2}; {:.1} / {:.1} | |",
        report.database_bytes_per_reading,
        report.sizes.database_bytes as f64 / 1e6,
        report.sizes.allocated_bytes as f64 / 1e6
    );
    println!(
        "| encoded block bytes per point | {:.2} | |",
        report.block_bytes_per_point
    );
    println!(
        "| raw messages: stored / payload bytes | {:.1} % ({} msgs, {} payload B) | ≤ {:.0} %: {} |",
        report.message_bytes_ratio * 100.0,
        report.messages,
        report.payload_bytes,
        report.target_message_ratio * 100.0,
        verdict(report.message_bytes_ratio <= report.target_message_ratio)
    );
    println!(
        "| message blocks / their payload | {:.1} % | |",
        report.message_block_ratio * 100.0
    );
    println!(
        "| ingest (write_batch only) | {:.1} s, {:.0} readings/s | |",
        report.ingest_secs, report.ingest_readings_per_sec
    );
    println!(
        "| compaction, all days (slowest day) | {:.1} s ({:.1} s) | |",
        report.compact_secs, report.compact_max_day_secs
    );
    if let (Some(bytes), Some(compacting)) = (
        report.disk_write_bytes_per_day,
        report.disk_write_compact_bytes_per_day,
    ) {
        println!(
            "| written to disk per simulated day, of which compacting | {:.0} MB, {:.0} MB | |",
            bytes / 1e6,
            compacting / 1e6
        );
    }
    for query in &report.queries {
        let bucket = query
            .bucket_ms
            .map(|bucket| format!(", {} min buckets", bucket / 60_000))
            .unwrap_or_default();
        println!(
            "| {}{bucket}: median / p95 ms ({:.0} rows) | {:.2} / {:.2} | ≤ {} ms: {} |",
            query.name,
            query.mean_rows,
            query.median_ms,
            query.p95_ms,
            query.target_ms,
            verdict(query.p95_ms <= query.target_ms)
        );
    }
    println!(
        "| a year of 100 sensors: readings, point GB, with raw messages GB | {:.0}, {:.2}, {:.2} | |",
        report.year_readings_100_devices,
        report.year_point_gb_100_devices,
        report.year_total_gb_100_devices
    );
    println!(
        "| bench process RSS now / peak, MiB | {:.0} / {:.0} | |",
        report.rss_mib, report.peak_rss_mib
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_the_web_apps() {
        assert_eq!(bucket_for(DAY_MS), 5 * 60_000);
        assert_eq!(bucket_for(30 * DAY_MS), 3 * 3_600_000);
        assert_eq!(bucket_for(YEAR_MS), 2 * DAY_MS);
        assert_eq!(bucket_for(3_600_000), 30_000);
        assert_eq!(bucket_for(6 * 3_600_000), 2 * 60_000);
    }

    #[test]
    fn spans_parse() {
        assert_eq!(parse_span("1h"), Ok(3_600_000));
        assert_eq!(parse_span("1d"), Ok(DAY_MS));
        assert_eq!(parse_span("5m"), Ok(300_000));
        assert!(parse_span("0h").is_err());
        assert!(parse_span("1w").is_err());
        assert!(parse_span("h").is_err());
    }
}
