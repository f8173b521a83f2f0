//! Fan-out with logins: one publisher → many subscribers of one filter, every client
//! with its own user name and password, so that a broker's authorizer decides what each
//! subscriber receives. `hearth bench auth` runs it twice in one process, once
//! with subscribers whose subscription the registry filters per delivery (applications
//! on `devices/+/data`) and once with subscribers it does not (administrators), to
//! measure what the per-delivery check costs.
//!
//! QoS 0, messages published in batches of 64 as in the `fanout` scenario; each
//! subscriber counts what it receives and stops when it has every message or nothing
//! arrived for [`DRAIN_IDLE`].

use hearth_mqtt::{Packet, QoS};
use std::net::SocketAddr;
use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use crate::client::{Conn, PublishTemplate};
use crate::error::BenchError;
use crate::payload::Stamp;
use crate::scenario::DRAIN_IDLE;

const KEEP_ALIVE_SECS: u16 = 60;
const BATCH: u64 = 64;

/// One client's CONNECT identity.
#[derive(Debug, Clone)]
pub struct Login {
    pub client_id: String,
    pub username: String,
    pub password: String,
}

/// What one run delivered and how long it took.
#[derive(Debug, Clone, Copy)]
pub struct LoginFanoutRun {
    /// Messages received by all subscribers together.
    pub deliveries: u64,
    /// From the first message sent to the last one received.
    pub secs: f64,
}

/// Connects `subscribers` (each subscribes to `filter` at QoS 0), then `publisher`, which
/// publishes `messages` QoS 0 messages on `topic`; returns when every subscriber has them
/// all or has waited [`DRAIN_IDLE`] for more.
pub async fn run(
    addr: SocketAddr,
    publisher: &Login,
    topic: &str,
    subscribers: &[Login],
    filter: &str,
    messages: u64,
) -> Result<LoginFanoutRun, BenchError> {
    if !addr.ip().is_loopback() {
        return Err(BenchError::NotLoopback(addr));
    }
    let mut connections = Vec::with_capacity(subscribers.len());
    for login in subscribers {
        let mut conn = connect(addr, login).await?;
        conn.subscribe(filter, QoS::AtMostOnce).await?;
        connections.push(conn);
    }
    let template = PublishTemplate::new(topic, QoS::AtMostOnce)?;
    let mut publisher = connect(addr, publisher).await?;
    let start = Instant::now();
    let receivers: Vec<_> = connections
        .into_iter()
        .map(|conn| tokio::spawn(receive(conn, messages)))
        .collect();
    let mut seq = 0;
    while seq < messages {
        let batch_end = (seq + BATCH).min(messages);
        for batch_seq in seq..batch_end {
            let stamp = Stamp {
                sent_nanos: 0,
                publisher: 0,
                seq: batch_seq,
            };
            template.append(&mut publisher.write_buf, &stamp, 0);
        }
        seq = batch_end;
        publisher.flush().await?;
    }
    let mut deliveries = 0;
    let mut last = start;
    for receiver in receivers {
        let (received, last_receive, conn) = receiver.await.map_err(|_| BenchError::Closed)??;
        deliveries += received;
        last = last.max(last_receive);
        conn.disconnect().await;
    }
    publisher.disconnect().await;
    Ok(LoginFanoutRun {
        deliveries,
        secs: (last - start).as_secs_f64(),
    })
}

async fn connect(addr: SocketAddr, login: &Login) -> Result<Conn, BenchError> {
    Conn::connect_as(
        addr,
        &login.client_id,
        KEEP_ALIVE_SECS,
        Some((&login.username, &login.password)),
    )
    .await
}

/// Counts PUBLISH packets until `expected` arrived or none did for [`DRAIN_IDLE`].
async fn receive(mut conn: Conn, expected: u64) -> Result<(u64, Instant, Conn), BenchError> {
    let mut received = 0;
    let mut last_receive = Instant::now();
    while received < expected {
        conn.reserve_read();
        match tokio::time::timeout(DRAIN_IDLE, conn.reader.read_buf(&mut conn.read_buf)).await {
            Err(_) => break,
            Ok(read) => {
                if read? == 0 {
                    return Err(BenchError::Closed);
                }
            }
        }
        while let Some(packet) = conn.try_decode()? {
            if let Packet::Publish(_) = packet {
                received += 1;
            }
        }
        last_receive = Instant::now();
    }
    Ok((received, last_receive, conn))
}
