//! Logins with credentials: how many full CONNECT → CONNACK handshakes with a user name
//! and password a broker completes per second, and the CPU it spends on them.
//!
//! Every user logs in once (client id = user name, as a Hearth device must), a fixed
//! number of handshakes in flight at a time, and stays connected until all have
//! answered, so that each login is a first one for its user: a broker that remembers
//! verified passwords gets no help. The broker's CPU is read from `/proc` once every
//! login has answered and [`SETTLE`] has passed, so work a broker defers after the
//! CONNACK (Hearth's rehash of an argon2 hash) is counted too.

use crate::client::Conn;
use crate::cpu::{CpuSample, CpuUsage};
use crate::error::BenchError;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Pause after the last CONNACK before the CPU reading.
pub const SETTLE: Duration = Duration::from_secs(1);
const KEEP_ALIVE_SECS: u16 = 60;

/// What a login run needs besides the credentials.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    pub addr: SocketAddr,
    /// Handshakes in flight at once.
    pub concurrency: usize,
    /// The broker's process, for its CPU time.
    pub broker_pid: Option<u32>,
    /// Time limit of the whole run; logins not tried by then count as failed.
    pub duration: Duration,
}

/// One run's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginsResult {
    pub attempted: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    pub timed_out: bool,
    /// From the first TCP connect to the last CONNACK.
    pub secs: f64,
    pub logins_per_sec: f64,
    /// Up to [`SETTLE`] after the last CONNACK.
    pub cpu: CpuUsage,
    /// Broker CPU seconds per 1,000 successful logins.
    pub broker_cpu_secs_per_1000: Option<f64>,
}

/// Logs every `(user name, password)` in once, `options.concurrency` at a time.
pub async fn run_logins(
    options: &LoginOptions,
    credentials: Arc<Vec<(String, String)>>,
) -> Result<LoginsResult, BenchError> {
    if !options.addr.ip().is_loopback() {
        return Err(BenchError::NotLoopback(options.addr));
    }
    let cpu = CpuSample::take(options.broker_pid);
    let start = Instant::now();
    let deadline = start + options.duration;
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..options.concurrency.clamp(1, credentials.len().max(1)))
        .map(|_| {
            let (next, credentials, addr) = (next.clone(), credentials.clone(), options.addr);
            tokio::spawn(async move {
                let mut worker = Worker::default();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some((username, password)) = credentials.get(index) else {
                        break;
                    };
                    let login = Conn::connect_as(
                        addr,
                        username,
                        KEEP_ALIVE_SECS,
                        Some((username, password)),
                    );
                    match tokio::time::timeout_at(deadline, login).await {
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
    let secs = start.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let cpu = cpu.since();
    let succeeded = all.conns.len() as u64;
    for conn in all.conns {
        conn.disconnect().await;
    }
    let attempted = credentials.len() as u64;
    Ok(LoginsResult {
        attempted,
        succeeded,
        failed: attempted - succeeded,
        first_error: all.first_error,
        timed_out: all.timed_out,
        secs,
        logins_per_sec: succeeded as f64 / secs,
        broker_cpu_secs_per_1000: cpu
            .broker_secs
            .filter(|_| succeeded > 0)
            .map(|broker| broker * 1000.0 / succeeded as f64),
        cpu,
    })
}

#[derive(Default)]
struct Worker {
    conns: Vec<Conn>,
    failed: u64,
    first_error: Option<String>,
    timed_out: bool,
}
