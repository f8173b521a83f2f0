//! `hearth bench ingest --hub ADDR`: the fleet against a hub running in another process
//! (`hearth serve`, as `bench/memory-soak.sh` starts it), so that the hub's resident
//! memory is its own and not the load generator's.
//!
//! Every second it samples the messages acknowledged so far and, with `--hub-pid`, the
//! hub's VmRSS; it keeps sampling for `--after-secs` once the load stopped, to show
//! whether the memory goes back down. It reports the rate over time and per million
//! messages (`--messages` runs by count: the rate as the store grows to, say, 10 million).

use super::IngestBenchArgs;
use anyhow::Context;
use hearth_bench::devices::{FleetOptions, FleetProgress, run_fleet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often the fleet's progress and the hub's memory are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// The last this many seconds of the load give the "level" the memory settled at.
const LEVEL_WINDOW_SECS: usize = 60;

/// One sample.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sample {
    /// Seconds since the fleet started publishing.
    pub t: f64,
    /// Messages acknowledged (= stored) so far.
    pub acked: u64,
    /// Hub VmRSS in MiB (when `--hub-pid` was given).
    pub rss_mib: Option<f64>,
    /// CPU seconds (user + system) the hub used so far: on a shared machine the CPU
    /// per message varies much less than the rate.
    pub hub_cpu_secs: Option<f64>,
    /// Whether the fleet was still running.
    pub loaded: bool,
}

/// What `--hub` reports.
#[derive(Debug, serde::Serialize)]
pub struct ExternalReport {
    pub devices: usize,
    pub window: u16,
    pub acked: u64,
    pub refused: u64,
    pub load_secs: f64,
    pub acked_per_sec: f64,
    /// Hub RSS before the first message, MiB.
    pub rss_before_mib: Option<f64>,
    /// Highest hub RSS while loaded.
    pub rss_peak_mib: Option<f64>,
    /// Median hub RSS over the last minute of the load (the level it settled at).
    pub rss_level_mib: Option<f64>,
    /// Hub RSS at the last sample, `--after-secs` after the load stopped.
    pub rss_after_mib: Option<f64>,
    /// Messages per second in each 10 s of the load.
    pub rate_per_10s: Vec<f64>,
    /// Messages per second for each million acknowledged (the first million, the
    /// second, ...): the rate as the store grows.
    pub rate_per_million: Vec<f64>,
    /// The hub's CPU microseconds per message for each million.
    pub hub_cpu_us_per_million: Vec<f64>,
    pub samples: Vec<Sample>,
}

/// Runs the fleet against `hub` and samples as it goes.
pub async fn bench(args: &IngestBenchArgs, hub: SocketAddr) -> anyhow::Result<ExternalReport> {
    anyhow::ensure!(
        hub.ip().is_loopback(),
        "--hub must be a loopback address (the benchmark never loads another machine)"
    );
    let path = args.credentials.as_deref().context(
        "--hub needs --credentials FILE (the id,secret rows of `hearth device import --output`)",
    )?;
    let mut devices = read_credentials(path)?;
    if args.devices < devices.len() {
        devices.truncate(args.devices);
    }
    let rss = || args.hub_pid.and_then(rss_mib);
    let rss_before = rss();
    let progress = Arc::new(FleetProgress::default());
    eprintln!(
        "{} devices publishing to {hub} ({} in flight each)...",
        devices.len(),
        args.window
    );
    let fleet = tokio::spawn(run_fleet(
        FleetOptions {
            addr: hub,
            devices: devices.clone(),
            window: args.window,
            duration: Duration::from_secs(args.seconds),
        },
        progress.clone(),
    ));
    // The fleet's clock starts once every device is connected; ours starts here, which
    // adds the connection time to the first samples only.
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut next = started + SAMPLE_EVERY;
    while !fleet.is_finished() {
        tokio::time::sleep_until(next.into()).await;
        next += SAMPLE_EVERY;
        let acked = progress.acked.load(Ordering::Relaxed);
        if args.messages > 0 && acked >= args.messages {
            progress.stop.store(true, Ordering::Relaxed);
        }
        samples.push(Sample {
            t: started.elapsed().as_secs_f64(),
            acked,
            rss_mib: rss(),
            hub_cpu_secs: args.hub_pid.and_then(cpu_secs),
            loaded: true,
        });
        if samples.len() % 10 == 0 {
            let last = samples.last().expect("just pushed");
            eprintln!(
                "{:>5.0} s  {:>10} acked  RSS {}",
                last.t,
                last.acked,
                last.rss_mib
                    .map_or_else(|| "-".to_string(), |rss| format!("{rss:.0} MiB"))
            );
        }
    }
    let fleet = fleet.await??;
    let load_secs = started.elapsed().as_secs_f64();
    if args.after_secs > 0 {
        eprintln!("load stopped; sampling for {} s more...", args.after_secs);
    }
    let after_until = Instant::now() + Duration::from_secs(args.after_secs);
    while Instant::now() < after_until {
        tokio::time::sleep_until(next.into()).await;
        next += SAMPLE_EVERY;
        samples.push(Sample {
            t: started.elapsed().as_secs_f64(),
            acked: fleet.acked,
            rss_mib: rss(),
            hub_cpu_secs: args.hub_pid.and_then(cpu_secs),
            loaded: false,
        });
    }
    Ok(summarize(
        devices.len(),
        args.window,
        fleet.acked,
        fleet.refused,
        load_secs,
        rss_before,
        samples,
    ))
}

fn summarize(
    devices: usize,
    window: u16,
    acked: u64,
    refused: u64,
    load_secs: f64,
    rss_before_mib: Option<f64>,
    samples: Vec<Sample>,
) -> ExternalReport {
    let loaded: Vec<&Sample> = samples.iter().filter(|sample| sample.loaded).collect();
    let loaded_rss: Vec<f64> = loaded.iter().filter_map(|sample| sample.rss_mib).collect();
    let rss_peak_mib = loaded_rss.iter().copied().reduce(f64::max);
    let rss_level_mib = median(&loaded_rss[loaded_rss.len().saturating_sub(LEVEL_WINDOW_SECS)..]);
    let rss_after_mib = samples
        .iter()
        .rev()
        .find(|sample| !sample.loaded)
        .and_then(|sample| sample.rss_mib);
    ExternalReport {
        devices,
        window,
        acked,
        refused,
        load_secs,
        acked_per_sec: acked as f64 / load_secs.max(1e-9),
        rss_before_mib,
        rss_peak_mib,
        rss_level_mib,
        rss_after_mib,
        rate_per_10s: rate_per_window(&loaded, 10),
        rate_per_million: rate_per_count(&loaded, 1_000_000),
        hub_cpu_us_per_million: cpu_per_count(&loaded, 1_000_000),
        samples,
    }
}

/// Messages per second over each `secs` of samples (one sample a second).
fn rate_per_window(samples: &[&Sample], secs: usize) -> Vec<f64> {
    let mut rates = Vec::new();
    let mut previous = (0.0, 0u64);
    for chunk in samples.chunks(secs) {
        let last = chunk.last().expect("chunks are never empty");
        let elapsed = last.t - previous.0;
        rates.push((last.acked - previous.1) as f64 / elapsed.max(1e-9));
        previous = (last.t, last.acked);
    }
    rates
}

/// Messages per second for each whole `step` of messages acknowledged, from the
/// (interpolated) times at which the count crossed each multiple of `step`.
pub fn rate_per_count(samples: &[&Sample], step: u64) -> Vec<f64> {
    let mut crossings = vec![0.0];
    let mut previous = (0.0, 0u64);
    for sample in samples {
        while sample.acked >= step * crossings.len() as u64 {
            let target = step * crossings.len() as u64;
            let span = (sample.acked - previous.1).max(1) as f64;
            let fraction = (target - previous.1) as f64 / span;
            crossings.push(previous.0 + fraction * (sample.t - previous.0));
        }
        previous = (sample.t, sample.acked);
    }
    crossings
        .windows(2)
        .map(|pair| step as f64 / (pair[1] - pair[0]).max(1e-9))
        .collect()
}

/// The hub's CPU microseconds per message over each whole `step` of messages (from the
/// first sample at or past each multiple of `step`).
fn cpu_per_count(samples: &[&Sample], step: u64) -> Vec<f64> {
    let mut marks: Vec<(u64, f64)> = Vec::new();
    let mut next = 0;
    for sample in samples {
        let Some(cpu) = sample.hub_cpu_secs else {
            return Vec::new();
        };
        if marks.is_empty() || sample.acked >= next {
            marks.push((sample.acked, cpu));
            next = (sample.acked / step + 1) * step;
        }
    }
    marks
        .windows(2)
        .map(|pair| (pair[1].1 - pair[0].1) * 1e6 / (pair[1].0 - pair[0].0).max(1) as f64)
        .collect()
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied()
}

/// The `id,secret` rows `hearth device import --output` writes.
fn read_credentials(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let devices: Vec<(String, String)> = text
        .lines()
        .filter(|line| !line.is_empty() && *line != "id,secret")
        .map(|line| {
            let (id, secret) = line
                .split_once(',')
                .with_context(|| format!("{}: not an id,secret row: {line}", path.display()))?;
            Ok((id.to_string(), secret.to_string()))
        })
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(!devices.is_empty(), "{}: no devices", path.display());
    Ok(devices)
}

/// VmRSS of process `pid`, MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// User plus system CPU seconds of process `pid` (`/proc/PID/stat`, 100 ticks a second).
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn mib(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |mib| format!("{mib:.0}"))
}

fn rates(values: &[f64]) -> String {
    values
        .iter()
        .map(|rate| format!("{:.0}k", rate / 1000.0))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn print_table(report: &ExternalReport) {
    println!(
        "| external hub · {} devices · window {} | value |",
        report.devices, report.window
    );
    println!("|---|---:|");
    println!("| acknowledged messages | {} |", report.acked);
    println!("| refused | {} |", report.refused);
    println!(
        "| durable msg/s over {:.0} s | {:.0} |",
        report.load_secs, report.acked_per_sec
    );
    println!("| msg/s per 10 s | {} |", rates(&report.rate_per_10s));
    println!(
        "| msg/s per million | {} |",
        rates(&report.rate_per_million)
    );
    println!(
        "| hub RSS MiB: before, peak, level (last minute of load), after | {}, {}, {}, {} |",
        mib(report.rss_before_mib),
        mib(report.rss_peak_mib),
        mib(report.rss_level_mib),
        mib(report.rss_after_mib)
    );
    let every_10: Vec<String> = report
        .samples
        .iter()
        .step_by(10)
        .map(|sample| mib(sample.rss_mib))
        .collect();
    println!("| hub RSS MiB every 10 s | {} |", every_10.join(" "));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: f64, acked: u64) -> Sample {
        Sample {
            t,
            acked,
            rss_mib: None,
            hub_cpu_secs: Some(t),
            loaded: true,
        }
    }

    #[test]
    fn rate_per_count_interpolates_the_crossings() {
        // 100 messages at 0..1 s, then 50 a second: the first hundred at 100/s, the
        // second hundred at 50/s.
        let samples = [
            sample(1.0, 100),
            sample(2.0, 150),
            sample(3.0, 200),
            sample(4.0, 250),
        ];
        let refs: Vec<&Sample> = samples.iter().collect();
        let rates = rate_per_count(&refs, 100);
        assert_eq!(rates.len(), 2);
        assert!((rates[0] - 100.0).abs() < 1e-6, "{rates:?}");
        assert!((rates[1] - 50.0).abs() < 1e-6, "{rates:?}");
    }

    #[test]
    fn rate_per_window_takes_each_chunk_from_the_previous_one() {
        let samples = [sample(1.0, 10), sample(2.0, 30), sample(3.0, 40)];
        let refs: Vec<&Sample> = samples.iter().collect();
        assert_eq!(rate_per_window(&refs, 2), vec![15.0, 10.0]);
    }

    #[test]
    fn cpu_per_count_divides_by_the_messages_between_marks() {
        // One CPU second per sample (see `sample`): 100 messages in the first second,
        // then 50 a second.
        let samples = [sample(1.0, 100), sample(2.0, 150), sample(3.0, 200)];
        let refs: Vec<&Sample> = samples.iter().collect();
        let cpu = cpu_per_count(&refs, 100);
        assert_eq!(cpu.len(), 1, "{cpu:?}");
        // From the first sample (1 s, 100 acked) to the mark at 200 (3 s).
        assert!((cpu[0] - 2e6 / 100.0).abs() < 1e-6, "{cpu:?}");
    }
}
