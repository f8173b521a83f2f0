//! One publisher at a steady rate, one subscriber, and the time in between.
//!
//! Both clients run on threads of their own with blocking sockets, not on the async
//! runtime:
//! - tokio's timers have a resolution of one millisecond, which would send the 5,000
//!   messages of a second in bursts of five and make every fifth message wait for four
//!   others inside the broker; a thread that sleeps until each message is due keeps
//!   them 200 µs apart (within the kernel's timer slack, about 50 µs);
//! - a thread blocked in `read` takes the arrival time the moment the kernel hands the
//!   message over, with one wake-up per message, where a runtime worker would add a
//!   scheduler hop and wake its idle siblings (measured: about 50 µs of CPU per
//!   message, a quarter of a core at 5,000 msg/s, taken from the broker on a
//!   two-core machine).
//!
//! Each payload carries the moment it was written, in nanoseconds since a start
//! `Instant` both threads share; the subscriber records "now minus that" for every
//! message in a [`Histogram`]. A message sent late (the thread woke up late) carries
//! its real send time, so lateness never counts as broker latency; the worst lateness
//! is reported as `max_schedule_lag_us` so a starved generator shows.

use bytes::BytesMut;
use hearth_mqtt::{ByteStr, Packet, QoS, Subscribe, SubscribeFilter, SubscriptionOptions};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::subscriber::Progress;
use super::{BenchOptions, DRAIN_IDLE, client_id};
use crate::client::{PublishTemplate, VERSION, connect_packet};
use crate::error::BenchError;
use crate::histogram::Histogram;
use crate::payload::Stamp;
use crate::result::LatencyResult;
use crate::seqset::{Insert, SeqSet};

const TOPIC: &str = "bench/latency";
const KEEP_ALIVE_SECS: u16 = 60;
/// For connecting and for every answer of the broker during set-up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the subscriber blocks in `read` before it looks at the clock.
const POLL: Duration = Duration::from_millis(50);
const PING_EVERY: Duration = Duration::from_secs(30);

pub(crate) async fn run(
    messages: u64,
    options: &BenchOptions,
) -> Result<LatencyResult, BenchError> {
    let addr = options.addr;
    let rate = options.latency_rate.max(1);
    let (duration, progress) = (options.duration, Progress::new(1));
    let subscriber = BlockingConn::connect(addr, &client_id("lat-s", 0))?.subscribed(TOPIC)?;
    let start = Instant::now();
    let deadline = start + duration;
    let receiver = {
        let progress = progress.clone();
        tokio::task::spawn_blocking(move || {
            receive(subscriber, messages, start, deadline + duration, &progress)
        })
    };
    let publisher = tokio::task::spawn_blocking(move || {
        let paced = publish_paced(addr, messages, rate, (start, deadline));
        progress.publisher_done(paced.as_ref().map_or(0, |paced| paced.sent));
        paced
    });
    let (paced, received) = (publisher.await?, receiver.await?);
    let (paced, received) = (paced?, received?);
    let histogram = &received.nanos;
    let micros = |nanos: u64| nanos as f64 / 1_000.0;
    Ok(LatencyResult {
        target_rate: rate,
        sent: paced.sent,
        received: histogram.len(),
        lost: paced.sent.saturating_sub(histogram.len()),
        p50_us: micros(histogram.value_at(0.50)),
        p99_us: micros(histogram.value_at(0.99)),
        p999_us: micros(histogram.value_at(0.999)),
        max_us: micros(histogram.max()),
        mean_us: histogram.mean() / 1_000.0,
        max_schedule_lag_us: paced.max_lag.as_secs_f64() * 1e6,
        timed_out: paced.timed_out || received.hit_hard_stop,
        cpu: Default::default(),
    })
}

struct Paced {
    sent: u64,
    max_lag: Duration,
    timed_out: bool,
}

struct Received {
    nanos: Histogram,
    hit_hard_stop: bool,
}

fn nanos_since(start: Instant, now: Instant) -> u64 {
    u64::try_from((now - start).as_nanos()).unwrap_or(u64::MAX)
}

/// The publisher: one message every `1/rate` seconds, each written with its own system
/// call as soon as it is due.
fn publish_paced(
    addr: SocketAddr,
    messages: u64,
    rate: u32,
    (start, deadline): (Instant, Instant),
) -> Result<Paced, BenchError> {
    let mut conn = BlockingConn::connect(addr, &client_id("lat-p", 0))?;
    let template = PublishTemplate::new(TOPIC, QoS::AtMostOnce)?;
    let interval_nanos = 1_000_000_000 / u64::from(rate);
    let begin = Instant::now();
    let mut paced = Paced {
        sent: 0,
        max_lag: Duration::ZERO,
        timed_out: false,
    };
    for seq in 0..messages {
        let due = begin + Duration::from_nanos(interval_nanos * seq);
        let now = Instant::now();
        if now >= deadline {
            paced.timed_out = true;
            break;
        }
        if due > now {
            std::thread::sleep(due - now);
        }
        let now = Instant::now();
        paced.max_lag = paced.max_lag.max(now.saturating_duration_since(due));
        let stamp = Stamp {
            sent_nanos: nanos_since(start, now),
            publisher: 0,
            seq,
        };
        template.append(&mut conn.write_buf, &stamp, 0);
        conn.flush()?;
        paced.sent += 1;
    }
    let _ = conn.send(&Packet::Disconnect(Default::default()));
    Ok(paced)
}

/// The subscriber: reads until every sent message is in, or nothing has come for
/// [`DRAIN_IDLE`] after the publisher finished, or `hard_stop`.
fn receive(
    mut conn: BlockingConn,
    capacity: u64,
    start: Instant,
    hard_stop: Instant,
    progress: &Arc<Progress>,
) -> Result<Received, BenchError> {
    conn.stream.set_read_timeout(Some(POLL))?;
    let mut seen = SeqSet::with_capacity(capacity);
    let mut received = Received {
        nanos: Histogram::new(),
        hit_hard_stop: false,
    };
    let (mut last_read, mut last_ping) = (Instant::now(), Instant::now());
    loop {
        let now = Instant::now();
        match progress.all_sent() {
            Some(sent) if seen.len() >= sent => break,
            Some(_) if now - last_read >= DRAIN_IDLE => break,
            _ if now >= hard_stop => {
                received.hit_hard_stop = true;
                break;
            }
            _ => {}
        }
        if now - last_ping >= PING_EVERY {
            conn.send(&Packet::PingReq)?;
            last_ping = now;
        }
        if !conn.fill()? {
            continue;
        }
        let arrived = Instant::now();
        last_read = arrived;
        while let Some(packet) = conn.try_decode()? {
            let Packet::Publish(publish) = packet else {
                continue;
            };
            let Some(stamp) = Stamp::read(&publish.payload) else {
                continue;
            };
            if seen.insert(stamp.seq) == Insert::New {
                received
                    .nanos
                    .record(nanos_since(start, arrived).saturating_sub(stamp.sent_nanos));
            }
        }
    }
    let _ = conn.send(&Packet::Disconnect(Default::default()));
    Ok(received)
}

/// A blocking MQTT 3.1.1 connection for the two latency threads.
struct BlockingConn {
    stream: TcpStream,
    read_buf: BytesMut,
    write_buf: BytesMut,
}

impl BlockingConn {
    fn connect(addr: SocketAddr, client_id: &str) -> Result<BlockingConn, BenchError> {
        let stream = TcpStream::connect_timeout(&addr, HANDSHAKE_TIMEOUT)
            .map_err(|source| BenchError::Connect { addr, source })?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
        let mut conn = BlockingConn {
            stream,
            read_buf: BytesMut::new(),
            write_buf: BytesMut::new(),
        };
        conn.send(&connect_packet(client_id, KEEP_ALIVE_SECS))?;
        match conn.next_packet("CONNACK")? {
            Packet::ConnAck(connack) if connack.reason.is_error() => {
                Err(BenchError::Refused(connack.reason))
            }
            Packet::ConnAck(_) => Ok(conn),
            other => Err(BenchError::Unexpected(other.kind())),
        }
    }

    fn subscribed(mut self, filter: &str) -> Result<BlockingConn, BenchError> {
        let options = SubscriptionOptions {
            qos: QoS::AtMostOnce,
            ..Default::default()
        };
        let filters = vec![SubscribeFilter {
            filter: ByteStr::from(filter),
            options,
        }];
        let subscribe = Subscribe {
            packet_id: 1,
            filters,
            properties: Default::default(),
        };
        self.send(&Packet::Subscribe(subscribe))?;
        // A retained message may come before the SUBACK: skip it.
        let suback = loop {
            match self.next_packet("SUBACK")? {
                Packet::SubAck(suback) => break suback,
                Packet::Publish(_) => continue,
                other => return Err(BenchError::Unexpected(other.kind())),
            }
        };
        match suback.reasons.first() {
            Some(reason) if !reason.is_error() => Ok(self),
            reason => Err(BenchError::SubscribeRefused {
                filter: filter.to_owned(),
                reason: reason
                    .copied()
                    .unwrap_or(hearth_mqtt::ReasonCode::UNSPECIFIED_ERROR),
            }),
        }
    }

    fn send(&mut self, packet: &Packet) -> Result<(), BenchError> {
        hearth_mqtt::encode(packet, VERSION, &mut self.write_buf)?;
        self.flush()
    }

    fn flush(&mut self) -> Result<(), BenchError> {
        self.stream.write_all(&self.write_buf)?;
        self.write_buf.clear();
        Ok(())
    }

    /// Reads what is there; false when the read timeout passed with nothing.
    fn fill(&mut self) -> Result<bool, BenchError> {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(BenchError::Closed),
            Ok(n) => {
                self.read_buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Ok(false)
            }
            Err(error) => Err(error.into()),
        }
    }

    fn try_decode(&mut self) -> Result<Option<Packet>, BenchError> {
        Ok(hearth_mqtt::decode(
            &mut self.read_buf,
            Some(VERSION),
            1024 * 1024,
        )?)
    }

    /// The next packet during set-up, where the read timeout is the handshake's.
    fn next_packet(&mut self, awaited: &'static str) -> Result<Packet, BenchError> {
        loop {
            if let Some(packet) = self.try_decode()? {
                return Ok(packet);
            }
            if !self.fill()? {
                return Err(BenchError::Timeout(HANDSHAKE_TIMEOUT, awaited));
            }
        }
    }
}
