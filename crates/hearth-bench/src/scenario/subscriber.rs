//! The receiving side shared by every message scenario: read, decode, acknowledge,
//! record, and decide when the run is over.
//!
//! A subscriber stops when it has every message the publishers sent, or, once they
//! have all finished, when nothing has arrived for [`DRAIN_IDLE`] (whatever is missing
//! then is lost), or at the hard stop (the time limit; the result says `timed_out`).

use hearth_mqtt::{Packet, PubResponse, QoS, ReasonCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use super::DRAIN_IDLE;
use crate::client::Conn;
use crate::error::BenchError;

/// Subscribers send PINGREQ this often, since a QoS 0 subscriber otherwise never
/// writes and the broker would close it after 1.5 keep-alives.
const PING_EVERY: Duration = Duration::from_secs(30);
/// How often a subscriber checks whether the run is over.
const TICK: Duration = Duration::from_millis(50);

/// What the publishers have done so far, for the subscribers to know when to stop.
pub(crate) struct Progress {
    publishers_left: AtomicU32,
    sent: AtomicU64,
}

impl Progress {
    pub fn new(publishers: u32) -> Arc<Progress> {
        Arc::new(Progress {
            publishers_left: AtomicU32::new(publishers),
            sent: AtomicU64::new(0),
        })
    }

    pub fn publisher_done(&self, sent: u64) {
        self.sent.fetch_add(sent, Ordering::Release);
        self.publishers_left.fetch_sub(1, Ordering::AcqRel);
    }

    /// `Some(messages sent)` once every publisher has finished.
    pub fn all_sent(&self) -> Option<u64> {
        (self.publishers_left.load(Ordering::Acquire) == 0)
            .then(|| self.sent.load(Ordering::Acquire))
    }
}

/// What a scenario keeps about the messages one subscriber receives.
pub(crate) trait Deliveries: Send + 'static {
    /// One received payload.
    fn record(&mut self, payload: &[u8]);
    /// Distinct messages recorded so far.
    fn unique(&self) -> u64;
}

/// A subscriber after its loop ended.
pub(crate) struct Drained<T> {
    pub conn: Conn,
    pub deliveries: T,
    pub last_receive: Option<Instant>,
    pub hit_hard_stop: bool,
}

/// Receives until the run is over (see the module docs).
pub(crate) async fn receive<T: Deliveries>(
    mut conn: Conn,
    mut deliveries: T,
    progress: Arc<Progress>,
    hard_stop: Instant,
) -> Result<Drained<T>, BenchError> {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut idle_ticks = 0u32;
    let mut last_ping = Instant::now();
    let mut last_receive = None;
    let mut hit_hard_stop = false;
    loop {
        if progress
            .all_sent()
            .is_some_and(|sent| deliveries.unique() >= sent)
        {
            break;
        }
        conn.reserve_read();
        tokio::select! {
            read = conn.reader.read_buf(&mut conn.read_buf) => {
                if read? == 0 {
                    return Err(BenchError::Closed);
                }
                let now = Instant::now();
                while let Some(packet) = conn.try_decode()? {
                    match packet {
                        Packet::Publish(publish) => {
                            deliveries.record(&publish.payload);
                            if publish.qos != QoS::AtMostOnce {
                                let ack = PubResponse::new(publish.packet_id, ReasonCode::SUCCESS);
                                conn.queue(&Packet::PubAck(ack))?;
                            }
                        }
                        Packet::PingResp => {}
                        other => return Err(BenchError::Unexpected(other.kind())),
                    }
                }
                last_receive = Some(now);
                idle_ticks = 0;
                if !conn.write_buf.is_empty() {
                    conn.flush().await?;
                }
            }
            _ = ticker.tick() => {
                let now = Instant::now();
                if now >= hard_stop {
                    hit_hard_stop = true;
                    break;
                }
                if progress.all_sent().is_some() {
                    idle_ticks += 1;
                    if TICK * idle_ticks >= DRAIN_IDLE {
                        break;
                    }
                }
                if now - last_ping >= PING_EVERY {
                    conn.queue(&Packet::PingReq)?;
                    conn.flush().await?;
                    last_ping = now;
                }
            }
        }
    }
    Ok(Drained {
        conn,
        deliveries,
        last_receive,
        hit_hard_stop,
    })
}
