//! A fleet of simulated devices publishing QoS 1 readings, for `hearth bench ingest`.
//!
//! Each device is one connection that logs in with its own credentials (as SPEC §4
//! devices do) and keeps `window` QoS 1 publishes of a small JSON object in flight on
//! `devices/{id}/data`, counting PUBACKs. A PUBACK from Hearth means "stored", so the
//! count over time is the durable ingest rate. The load is closed-loop: a device sends
//! again only when an acknowledgement frees its window, so a hub that stores slowly is
//! measured as slow rather than buried.

use crate::client::Conn;
use crate::error::BenchError;
use bytes::Bytes;
use hearth_mqtt::{ByteStr, Packet, Publish, QoS};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What the fleet does.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub addr: SocketAddr,
    /// (device id, secret) of every device.
    pub devices: Vec<(String, String)>,
    /// QoS 1 publishes in flight per device.
    pub window: u16,
    /// How long the fleet publishes (then waits for the last acknowledgements).
    pub duration: Duration,
}

/// What the fleet saw.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FleetResult {
    /// PUBACKs with success.
    pub acked: u64,
    /// PUBACKs with a failure code (none expected).
    pub refused: u64,
    /// From the first publish to the last acknowledgement.
    pub elapsed_secs: f64,
    pub acked_per_sec: f64,
}

/// Acknowledged messages so far, readable while the fleet runs (for progress and for
/// sampling memory under load), and a way to end the publishing before its deadline
/// (`hearth bench ingest --messages`: a run sized by a count, not a time).
#[derive(Debug, Default)]
pub struct FleetProgress {
    pub acked: AtomicU64,
    /// Set to stop sending new messages; those in flight are still awaited.
    pub stop: AtomicBool,
}

/// Runs the fleet until `duration` has passed and every in-flight message is answered.
pub async fn run_fleet(
    options: FleetOptions,
    progress: Arc<FleetProgress>,
) -> Result<FleetResult, BenchError> {
    let mut connections = Vec::with_capacity(options.devices.len());
    for (id, secret) in &options.devices {
        let conn =
            Conn::connect_as(options.addr, id, 60, Some((id.as_str(), secret.as_str()))).await?;
        connections.push((id.clone(), conn));
    }
    let started = Instant::now();
    let deadline = started + options.duration;
    let mut tasks = Vec::with_capacity(connections.len());
    for (index, (id, conn)) in connections.into_iter().enumerate() {
        let progress = progress.clone();
        let window = options.window.max(1);
        tasks.push(tokio::spawn(device_loop(
            conn, id, index, window, deadline, progress,
        )));
    }
    let mut result = FleetResult::default();
    for task in tasks {
        let (acked, refused) = task.await??;
        result.acked += acked;
        result.refused += refused;
    }
    result.elapsed_secs = started.elapsed().as_secs_f64();
    result.acked_per_sec = result.acked as f64 / result.elapsed_secs.max(1e-9);
    Ok(result)
}

/// The readings a simulated sensor sends; `seq` varies them so that no two are equal.
pub fn reading(index: usize, seq: u64) -> String {
    format!(
        r#"{{"temperature":{:.1},"humidity":{}}}"#,
        15.0 + ((index as u64 * 7 + seq) % 200) as f64 / 10.0,
        30 + (seq + index as u64) % 50
    )
}

async fn device_loop(
    mut conn: Conn,
    id: String,
    index: usize,
    window: u16,
    deadline: Instant,
    progress: Arc<FleetProgress>,
) -> Result<(u64, u64), BenchError> {
    let topic = ByteStr::from(format!("devices/{id}/data").as_str());
    let mut in_flight = 0u16;
    let mut next_packet_id = 1u16;
    let (mut seq, mut acked, mut refused) = (0u64, 0u64, 0u64);
    loop {
        let sending = Instant::now() < deadline && !progress.stop.load(Ordering::Relaxed);
        if sending {
            while in_flight < window {
                let publish = Publish {
                    qos: QoS::AtLeastOnce,
                    topic: topic.clone(),
                    packet_id: next_packet_id,
                    payload: Bytes::from(reading(index, seq)),
                    ..Publish::default()
                };
                conn.queue(&Packet::Publish(publish))?;
                next_packet_id = next_packet_id.checked_add(1).unwrap_or(1);
                in_flight += 1;
                seq += 1;
            }
            conn.flush().await?;
        }
        if in_flight == 0 {
            break;
        }
        let fill = tokio::time::timeout(Duration::from_secs(30), conn.fill()).await;
        match fill {
            Ok(result) => result?,
            Err(_) => return Err(BenchError::Timeout(Duration::from_secs(30), "PUBACK")),
        }
        while let Some(packet) = conn.try_decode()? {
            match packet {
                Packet::PubAck(ack) => {
                    in_flight = in_flight.saturating_sub(1);
                    if ack.reason.is_error() {
                        refused += 1;
                    } else {
                        acked += 1;
                        progress.acked.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Packet::Publish(_) => {}
                other => return Err(BenchError::Unexpected(other.kind())),
            }
        }
    }
    conn.disconnect().await;
    Ok((acked, refused))
}
