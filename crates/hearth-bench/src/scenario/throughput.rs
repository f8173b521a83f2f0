//! Publishers → subscribers as fast as the broker goes: fan-in (QoS 0 and 1) and
//! fan-out.
//!
//! Every publisher runs in its own task and writes batches of pre-encoded PUBLISH
//! packets (see [`PublishTemplate`]); at QoS 1 it keeps up to `window` messages
//! unacknowledged, topping the window up after each read of PUBACKs, so the broker
//! always has work queued and never waits for a round trip. Every subscriber runs in
//! its own task, decodes what arrives, acknowledges QoS 1 deliveries in one write per
//! read, and records each message's (publisher, sequence) in a bitmap: that is what
//! tells a loss from a duplicate, and an acknowledged message that never arrived.
//!
//! Subscribers connect and subscribe before any publisher connects; the clock starts
//! when every connection is up, so connection set-up is not part of the rate.

use hearth_mqtt::{Packet, QoS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::subscriber::{self, Deliveries, Drained, Progress};
use super::{BenchOptions, client_id, secs};
use crate::client::{Conn, PublishTemplate};
use crate::error::BenchError;
use crate::payload::Stamp;
use crate::result::ThroughputResult;
use crate::seqset::{Insert, SeqSet};

/// Keep-alive of every load connection, as in the issue.
const KEEP_ALIVE_SECS: u16 = 60;
/// QoS 0 messages per write: about 5 KB, large enough that system calls are not the
/// generator's limit, small enough that the broker sees a steady stream.
const QOS0_BATCH: u64 = 64;
/// Marks a free packet id slot of a QoS 1 publisher.
const FREE: u64 = u64::MAX;

/// Who publishes what to whom.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    tag: &'static str,
    publishers: u32,
    subscribers: u32,
    qos: QoS,
    /// Unacknowledged QoS 1 messages per publisher.
    window: usize,
    /// All publishers together.
    messages: u64,
    /// All publishers on one topic instead of `bench/{i}`.
    one_topic: bool,
}

impl Shape {
    /// 8 publishers on `bench/{i}` → 1 subscriber on `bench/#`.
    pub fn fanin(qos: u8, messages: u64) -> Shape {
        let qos = if qos == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        let tag = if qos == QoS::AtMostOnce {
            "fanin0"
        } else {
            "fanin1"
        };
        Shape {
            tag,
            publishers: 8,
            subscribers: 1,
            qos,
            window: 64,
            messages,
            one_topic: false,
        }
    }

    /// 1 publisher → 50 subscribers of `bench/fanout`.
    pub fn fanout(messages: u64) -> Shape {
        Shape {
            tag: "fanout",
            publishers: 1,
            subscribers: 50,
            qos: QoS::AtMostOnce,
            window: 64,
            messages,
            one_topic: true,
        }
    }

    fn topic(&self, publisher: u32) -> String {
        if self.one_topic {
            "bench/fanout".to_owned()
        } else {
            format!("bench/{publisher}")
        }
    }

    fn filter(&self) -> &'static str {
        if self.one_topic {
            "bench/fanout"
        } else {
            "bench/#"
        }
    }

    /// Messages of one publisher: an even share, the remainder to the first ones.
    fn count_of(&self, publisher: u32) -> u64 {
        let publishers = u64::from(self.publishers);
        self.messages / publishers + u64::from(u64::from(publisher) < self.messages % publishers)
    }
}

struct PublisherTally {
    sent: u64,
    /// Acknowledged sequence numbers (QoS 1).
    acked: SeqSet,
    timed_out: bool,
    finished: Instant,
}

/// One subscriber's view: which message of which publisher arrived.
struct Received {
    /// Per publisher.
    sets: Vec<SeqSet>,
    unique: u64,
    duplicates: u64,
}

impl Received {
    fn new(shape: &Shape) -> Received {
        let sets = (0..shape.publishers)
            .map(|publisher| SeqSet::with_capacity(shape.count_of(publisher)))
            .collect();
        Received {
            sets,
            unique: 0,
            duplicates: 0,
        }
    }
}

impl Deliveries for Received {
    fn record(&mut self, payload: &[u8]) {
        let Some(stamp) = Stamp::read(payload) else {
            return;
        };
        let Some(set) = self.sets.get_mut(stamp.publisher as usize) else {
            return;
        };
        match set.insert(stamp.seq) {
            Insert::New => self.unique += 1,
            Insert::Duplicate => self.duplicates += 1,
            Insert::Foreign => {}
        }
    }

    fn unique(&self) -> u64 {
        self.unique
    }
}

pub(crate) async fn run(
    shape: &Shape,
    options: &BenchOptions,
) -> Result<ThroughputResult, BenchError> {
    let addr = options.addr;
    let mut subscribers = Vec::new();
    for idx in 0..shape.subscribers {
        let mut conn = Conn::connect(
            addr,
            &client_id(&format!("{}s", shape.tag), idx.into()),
            KEEP_ALIVE_SECS,
        )
        .await?;
        conn.subscribe(shape.filter(), shape.qos).await?;
        subscribers.push(conn);
    }
    let mut publishers = Vec::new();
    for idx in 0..shape.publishers {
        let template = PublishTemplate::new(&shape.topic(idx), shape.qos)?;
        let conn = Conn::connect(
            addr,
            &client_id(&format!("{}p", shape.tag), idx.into()),
            KEEP_ALIVE_SECS,
        )
        .await?;
        publishers.push((conn, template));
    }

    let progress = Progress::new(shape.publishers);
    let start = Instant::now();
    let deadline = start + options.duration;
    let hard_stop = deadline + options.duration;
    let subscriber_tasks: Vec<_> = subscribers
        .into_iter()
        .map(|conn| {
            tokio::spawn(subscriber::receive(
                conn,
                Received::new(shape),
                progress.clone(),
                hard_stop,
            ))
        })
        .collect();
    let publisher_tasks: Vec<_> = publishers
        .into_iter()
        .zip(0..)
        .map(|((mut conn, template), publisher)| {
            let (progress, shape) = (progress.clone(), shape.clone());
            tokio::spawn(async move {
                let count = shape.count_of(publisher);
                let tally = if shape.qos == QoS::AtMostOnce {
                    publish_qos0(&mut conn, &template, publisher, count, start, deadline).await
                } else {
                    let limits = (shape.window, deadline, hard_stop);
                    publish_qos1(&mut conn, &template, publisher, count, start, limits).await
                };
                // Even a failed publisher is done: the subscribers must not wait for it.
                progress.publisher_done(tally.as_ref().map_or(0, |tally| tally.sent));
                tally.map(|tally| (conn, tally))
            })
        })
        .collect();
    let publishers = join_all(publisher_tasks).await;
    let subscribers = join_all(subscriber_tasks).await;
    let (publishers, subscribers) = (publishers?, subscribers?);

    let result = tally(shape, start, &publishers, &subscribers);
    let subscribers = subscribers.into_iter().map(|drained| drained.conn);
    for conn in publishers
        .into_iter()
        .map(|(conn, _)| conn)
        .chain(subscribers)
    {
        conn.disconnect().await;
    }
    Ok(result)
}

fn tally(
    shape: &Shape,
    start: Instant,
    publishers: &[(Conn, PublisherTally)],
    subscribers: &[Drained<Received>],
) -> ThroughputResult {
    let sent: u64 = publishers.iter().map(|(_, tally)| tally.sent).sum();
    let acked: u64 = publishers.iter().map(|(_, tally)| tally.acked.len()).sum();
    let expected = sent * u64::from(shape.subscribers);
    let received: u64 = subscribers
        .iter()
        .map(|drained| drained.deliveries.unique)
        .sum();
    let lost = if shape.qos == QoS::AtMostOnce {
        expected.saturating_sub(received)
    } else {
        subscribers
            .iter()
            .flat_map(|drained| {
                let sets = &drained.deliveries.sets;
                publishers
                    .iter()
                    .zip(sets)
                    .map(|((_, publisher), got)| publisher.acked.missing_from(got))
            })
            .sum()
    };
    let last_receive = subscribers
        .iter()
        .filter_map(|drained| drained.last_receive)
        .max()
        .unwrap_or(start);
    let elapsed = secs(last_receive - start);
    let published_by = publishers
        .iter()
        .map(|(_, tally)| tally.finished)
        .max()
        .unwrap_or(start);
    let published = if shape.qos == QoS::AtMostOnce {
        sent
    } else {
        acked
    };
    ThroughputResult {
        publishers: shape.publishers,
        subscribers: shape.subscribers,
        qos: shape.qos as u8,
        sent,
        acked,
        expected,
        received,
        duplicates: subscribers
            .iter()
            .map(|drained| drained.deliveries.duplicates)
            .sum(),
        lost,
        elapsed_secs: elapsed,
        rate: received as f64 / elapsed,
        publish_rate: published as f64 / secs(published_by - start),
        timed_out: publishers.iter().any(|(_, tally)| tally.timed_out)
            || subscribers.iter().any(|drained| drained.hit_hard_stop),
        cpu: Default::default(),
    }
}

/// Awaits every task, then returns the first error: returning at the first one would
/// leave the others running against the broker.
async fn join_all<T>(tasks: Vec<JoinHandle<Result<T, BenchError>>>) -> Result<Vec<T>, BenchError> {
    let mut outputs = Vec::with_capacity(tasks.len());
    let mut first_error = None;
    for task in tasks {
        match task
            .await
            .map_err(BenchError::from)
            .and_then(|output| output)
        {
            Ok(output) => outputs.push(output),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    first_error.map_or(Ok(outputs), Err)
}

fn nanos_since(start: Instant, now: Instant) -> u64 {
    u64::try_from((now - start).as_nanos()).unwrap_or(u64::MAX)
}

async fn publish_qos0(
    conn: &mut Conn,
    template: &PublishTemplate,
    publisher: u32,
    count: u64,
    start: Instant,
    deadline: Instant,
) -> Result<PublisherTally, BenchError> {
    let mut seq = 0;
    let mut timed_out = false;
    while seq < count {
        let now = Instant::now();
        if now >= deadline {
            timed_out = true;
            break;
        }
        let sent_nanos = nanos_since(start, now);
        let batch_end = (seq + QOS0_BATCH).min(count);
        for batch_seq in seq..batch_end {
            template.append(
                &mut conn.write_buf,
                &Stamp {
                    sent_nanos,
                    publisher,
                    seq: batch_seq,
                },
                0,
            );
        }
        // Counted as sent before the write completes: if the time limit cuts a write
        // short, its messages count as lost rather than vanish from the books.
        seq = batch_end;
        match tokio::time::timeout_at(deadline, conn.flush()).await {
            Ok(written) => written?,
            Err(_) => {
                timed_out = true;
                break;
            }
        }
    }
    Ok(PublisherTally {
        sent: seq,
        acked: SeqSet::default(),
        timed_out,
        finished: Instant::now(),
    })
}

/// Keeps `window` messages unacknowledged until `count` are acknowledged. Stops sending
/// at `deadline` and waiting for acknowledgements at `hard_stop`.
async fn publish_qos1(
    conn: &mut Conn,
    template: &PublishTemplate,
    publisher: u32,
    count: u64,
    start: Instant,
    (window, deadline, hard_stop): (usize, Instant, Instant),
) -> Result<PublisherTally, BenchError> {
    let mut acked = SeqSet::with_capacity(count);
    // Sequence number in flight under each packet id.
    let mut in_flight = vec![FREE; usize::from(u16::MAX) + 1];
    let mut n_in_flight = 0;
    let mut next_seq = 0;
    let mut packet_id: u16 = 0;
    let mut timed_out = false;
    let stop = tokio::time::sleep_until(deadline);
    tokio::pin!(stop);
    loop {
        if !timed_out && n_in_flight < window && next_seq < count {
            let sent_nanos = nanos_since(start, Instant::now());
            while n_in_flight < window && next_seq < count {
                packet_id = packet_id.checked_add(1).unwrap_or(1);
                template.append(
                    &mut conn.write_buf,
                    &Stamp {
                        sent_nanos,
                        publisher,
                        seq: next_seq,
                    },
                    packet_id,
                );
                in_flight[usize::from(packet_id)] = next_seq;
                next_seq += 1;
                n_in_flight += 1;
            }
        }
        if n_in_flight == 0 && (next_seq == count || timed_out) {
            break;
        }
        conn.reserve_read();
        let writing = !conn.write_buf.is_empty();
        tokio::select! {
            biased;
            read = conn.reader.read_buf(&mut conn.read_buf) => {
                if read? == 0 {
                    return Err(BenchError::Closed);
                }
                while let Some(packet) = conn.try_decode()? {
                    if let Packet::PubAck(ack) = packet {
                        let slot = &mut in_flight[usize::from(ack.packet_id)];
                        if *slot != FREE {
                            acked.insert(*slot);
                            *slot = FREE;
                            n_in_flight -= 1;
                        }
                    }
                }
            }
            written = conn.writer.write_buf(&mut conn.write_buf), if writing => {
                if written? == 0 {
                    return Err(BenchError::Closed);
                }
            }
            () = &mut stop => {
                if timed_out {
                    break;
                }
                timed_out = true;
                stop.as_mut().reset(hard_stop);
            }
        }
    }
    Ok(PublisherTally {
        sent: next_seq,
        acked,
        timed_out,
        finished: Instant::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_shared_evenly_between_publishers() {
        let shape = Shape::fanin(0, 803);
        let counts: Vec<u64> = (0..8).map(|publisher| shape.count_of(publisher)).collect();
        assert_eq!(counts, [101, 101, 101, 100, 100, 100, 100, 100]);
        assert_eq!(Shape::fanout(20_000).count_of(0), 20_000);
    }

    #[test]
    fn topics_match_the_issue() {
        let fanin = Shape::fanin(1, 8);
        assert_eq!(fanin.topic(7), "bench/7");
        assert_eq!(fanin.filter(), "bench/#");
        assert_eq!(fanin.qos, QoS::AtLeastOnce);
        let fanout = Shape::fanout(1);
        assert_eq!(fanout.topic(0), fanout.filter());
    }
}
