//! Many idle connections: how fast the broker accepts them and what each one costs it.
//!
//! A fixed number of tasks connect one client after another (TCP connect, CONNECT,
//! CONNACK), so the broker always has that many handshakes in progress. Once all are
//! up, the scenario waits [`SETTLE`] for the broker to finish its bookkeeping, reads
//! the broker's resident memory (VmRSS in `/proc/<pid>/status`) and compares it with
//! the reading taken before the first connection. The kernel's socket buffers are not
//! in RSS, so the figure is what the broker's own data structures cost.
//!
//! Each connection needs a file descriptor in this process and in the broker; the
//! limit is checked first (from `/proc/self/limits`, which needs no `libc`) so that a
//! low `ulimit -n` gives a clear message instead of a pile of EMFILE errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

use super::{BenchOptions, client_id, secs};
use crate::client::Conn;
use crate::error::BenchError;
use crate::result::ConnectionsResult;

/// Handshakes in progress at once: enough to keep a broker busy, well below the
/// listen backlog of either broker.
const CONCURRENCY: u64 = 64;
const KEEP_ALIVE_SECS: u16 = 60;
/// Pause between the last CONNACK and the memory reading.
const SETTLE: Duration = Duration::from_secs(2);
/// File descriptors this process needs besides the connections.
const SPARE_FILES: u64 = 64;

pub(crate) async fn run(options: &BenchOptions) -> Result<ConnectionsResult, BenchError> {
    let requested = options.connections;
    let limit = open_file_limit()?;
    if requested + SPARE_FILES > limit {
        return Err(BenchError::FileLimit {
            needed: requested + SPARE_FILES,
            limit,
        });
    }
    let rss_before_kib = options.broker_pid.map(rss_kib).transpose()?;

    let start = Instant::now();
    let deadline = start + options.duration;
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..CONCURRENCY.min(requested))
        .map(|_| {
            let (next, addr) = (next.clone(), options.addr);
            tokio::spawn(async move {
                let mut worker = Worker::default();
                loop {
                    let idx = next.fetch_add(1, Ordering::Relaxed);
                    if idx >= requested {
                        break;
                    }
                    let id = client_id("idle", idx);
                    let connect = Conn::connect(addr, &id, KEEP_ALIVE_SECS);
                    match tokio::time::timeout_at(deadline, connect).await {
                        Ok(Ok(conn)) => worker.conns.push(conn),
                        Ok(Err(error)) => {
                            worker.failed += 1;
                            worker.first_error.get_or_insert_with(|| error.to_string());
                        }
                        Err(_) => {
                            worker.timed_out = true;
                            break;
                        }
                    }
                }
                worker
            })
        })
        .collect();
    let mut all = Worker::default();
    for worker in workers {
        let worker = worker.await?;
        all.conns.extend(worker.conns);
        all.failed += worker.failed;
        all.timed_out |= worker.timed_out;
        all.first_error = all.first_error.or(worker.first_error);
    }
    let connect_secs = secs(start.elapsed());
    let connected = all.conns.len() as u64;

    tokio::time::sleep(SETTLE).await;
    let rss_after_kib = options.broker_pid.map(rss_kib).transpose()?;
    for conn in all.conns {
        conn.disconnect().await;
    }
    let kib_per_connection = match (rss_before_kib, rss_after_kib) {
        (Some(before), Some(after)) if connected > 0 => {
            Some(after.saturating_sub(before) as f64 / connected as f64)
        }
        _ => None,
    };
    Ok(ConnectionsResult {
        requested,
        connected,
        // Refused, broken, or never tried because time ran out.
        failed: requested - connected,
        keep_alive_secs: KEEP_ALIVE_SECS,
        connects_per_sec: connected as f64 / connect_secs,
        rss_before_kib,
        rss_after_kib,
        kib_per_connection,
        first_error: all.first_error,
        timed_out: all.timed_out,
        cpu: Default::default(),
    })
}

#[derive(Default)]
struct Worker {
    conns: Vec<Conn>,
    failed: u64,
    first_error: Option<String>,
    timed_out: bool,
}

/// The resident memory of process `pid` in KiB.
pub fn rss_kib(pid: u32) -> Result<u64, BenchError> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|error| BenchError::Proc {
        path: path.clone(),
        detail: error.to_string(),
    })?;
    parse_vm_rss(&status).ok_or_else(|| BenchError::Proc {
        path,
        detail: "no VmRSS line".to_owned(),
    })
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The soft limit on open files of this process.
fn open_file_limit() -> Result<u64, BenchError> {
    let path = "/proc/self/limits";
    let limits = std::fs::read_to_string(path).map_err(|error| BenchError::Proc {
        path: path.to_owned(),
        detail: error.to_string(),
    })?;
    parse_open_files(&limits).ok_or_else(|| BenchError::Proc {
        path: path.to_owned(),
        detail: "no \"Max open files\" line".to_owned(),
    })
}

fn parse_open_files(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    match line.split_whitespace().nth(3)? {
        "unlimited" => Some(u64::MAX),
        soft => soft.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status =
            "Name:\tmosquitto\nVmPeak:\t   20000 kB\nVmRSS:\t    7312 kB\nRssAnon:\t    1000 kB\n";
        assert_eq!(parse_vm_rss(status), Some(7_312));
        assert_eq!(parse_vm_rss("Name:\tzombie\n"), None);
    }

    #[test]
    fn the_soft_open_file_limit_is_the_first_column() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 20000                files     \n";
        assert_eq!(parse_open_files(limits), Some(1_024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_files(unlimited), Some(u64::MAX));
    }

    #[test]
    fn this_process_has_a_readable_limit() {
        assert!(open_file_limit().unwrap() > 0);
    }
}
