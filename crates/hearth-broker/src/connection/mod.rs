//! One task per network connection: reads and decodes packets, checks what the protocol
//! and the authorizer require, hands the rest to the router, and writes what the router
//! queues for it.
//!
//! Reading and writing share one task (a `select!` over the two halves) rather than two
//! tasks: half the memory per idle connection, and no deadlock when a client writes
//! while not reading, because the task keeps reading while a write is pending.
//!
//! # Layout
//! - `handshake`: CONNECT, authentication, CONNACK properties.
//! - `inbound`: every packet after CONNECT.
//! - `encode`: turning queued items into bytes (topic aliases, size limits).
//! - `queue`: the router-to-connection queue.
//! - `linger`: closing a connection the broker ended without losing its DISCONNECT.

mod encode;
mod handshake;
mod inbound;
mod linger;
pub(crate) mod queue;
mod throttle;

use bytes::BytesMut;
use hearth_bus::{Authorizer, Principal, Transport};
use hearth_mqtt::{ByteStr, DecodeError, ProtocolVersion, ReasonCode};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::Limits;
use crate::router::event::{ConnId, Control, Event};
use crate::stats::SharedStats;
use crate::transport::ByteStream;
use queue::{OutItem, Outbound};

/// What every connection task shares: the way to the router, the authorizer, limits.
pub(crate) struct ConnectionContext {
    pub events: mpsc::Sender<Event>,
    /// For reports that must not wait behind client events (a drained queue).
    pub control: mpsc::UnboundedSender<Control>,
    pub authorizer: Arc<dyn Authorizer>,
    pub limits: Limits,
    pub stats: Arc<SharedStats>,
    pub next_conn_id: AtomicU64,
    /// Where connections announce that they began and ended (presence).
    pub client_events: Arc<hearth_bus::ClientEvents>,
    /// Budgets per principal and connection rates per address.
    pub rate_limiter: crate::rate_limit::RateLimiter,
}

/// Why a connection ended. Logged by the accept loop at debug level: clients
/// disconnecting is ordinary.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectionError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("no CONNECT within {0:?}")]
    ConnectTimeout(Duration),
    #[error("keep-alive of {0}s expired")]
    KeepAlive(u16),
    #[error("protocol violation ({reason}): {detail}")]
    Protocol {
        reason: ReasonCode,
        detail: &'static str,
    },
    #[error("connection refused ({0})")]
    Refused(ReasonCode),
    #[error("closed by the broker ({0})")]
    ClosedByBroker(ReasonCode),
    #[error("the broker is shutting down")]
    RouterGone,
}

/// Initial read buffer: enough for a CONNECT, small enough that ten thousand idle
/// connections cost little. It doubles while reads fill it.
const INITIAL_READ_CAPACITY: usize = 128;
/// Read buffer of a connection between bursts: a PINGREQ is 2 bytes, and the buffer
/// grows again (doubling) as soon as reads fill it.
const IDLE_READ_CAPACITY: usize = 32;
/// A write buffer larger than this is released after use instead of kept.
const KEEP_WRITE_CAPACITY: usize = 16 * 1024;

/// A deadline that never comes in practice, for a keep-alive of 0.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// Serves one accepted stream until it closes. Never panics on client input: every
/// protocol problem ends as a `ConnectionError` for this connection alone.
/// `client_cert`: the verified client certificate of a TLS connection, if it presented
/// one (see `hearth_bus::ConnectRequest::client_cert`).
pub(crate) async fn serve<S: ByteStream>(
    stream: S,
    peer: Option<SocketAddr>,
    transport: Transport,
    client_cert: Option<bytes::Bytes>,
    context: Arc<ConnectionContext>,
) -> Result<(), ConnectionError> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut read_buf = BytesMut::with_capacity(INITIAL_READ_CAPACITY);
    // Everything but the steady-state loop is boxed: a future's size is the largest state
    // it ever has, and the task keeps that size for the whole connection. Unboxed, the
    // handshake and packet handling made an idle connection cost ~5 KiB.
    let accepted = Box::pin(handshake::accept(
        &mut reader,
        &mut writer,
        &mut read_buf,
        peer,
        transport,
        client_cert,
        &context,
    ))
    .await?;
    if read_buf.is_empty() {
        // The CONNECT's buffer is released (unless its will or credentials still point
        // into it); the connection idles on a small one.
        read_buf = BytesMut::with_capacity(IDLE_READ_CAPACITY);
    }
    let conn_id = context.next_conn_id.fetch_add(1, Ordering::Relaxed);
    SharedStats::add(&context.stats.connections_current, 1);
    SharedStats::add(&context.stats.connections_total, 1);
    let (mut connection, connect_event, verdict) =
        Connection::new(conn_id, accepted, context.clone());
    // Only whether it was sent is kept: holding the `Result` itself across `run` would
    // keep the unsent event's space (~500 bytes) in every connection's task.
    let sent = Box::pin(context.events.send(Event::Connect(connect_event)))
        .await
        .is_ok();
    let result = if !sent {
        Err(ConnectionError::RouterGone)
    } else if let Err(reason) = verdict.await.unwrap_or(Err(ReasonCode::SERVER_UNAVAILABLE)) {
        SharedStats::add(&context.stats.connect_refused, 1);
        handshake::refuse(&mut writer, connection.version, reason).await;
        Err(ConnectionError::Refused(reason))
    } else {
        connection.announce(true);
        let result = connection
            .run(&mut reader, &mut writer, &mut read_buf)
            .await;
        connection.announce(false);
        result
    };
    connection.outbound.close();
    let _ = Box::pin(context.events.send(Event::Closed { conn: conn_id })).await;
    if connection.closed_by_broker {
        // The session is already released; the socket (and its connection slot) is kept
        // only until the client has read the end, within linger's bounds.
        Box::pin(linger::linger(&mut reader, &mut writer, &mut read_buf)).await;
    } else {
        let _ = writer.shutdown().await;
    }
    context
        .stats
        .connections_current
        .fetch_sub(1, Ordering::Relaxed);
    result
}

/// State of one connection after CONNECT.
pub(crate) struct Connection {
    id: ConnId,
    context: Arc<ConnectionContext>,
    outbound: Arc<Outbound>,
    version: ProtocolVersion,
    client_id: Arc<str>,
    principal: Principal,
    /// Seconds; 0 disables the check.
    keep_alive: u16,
    last_read: Instant,
    /// Session expiry from CONNECT, to check a DISCONNECT that changes it.
    session_expiry: u32,
    /// Topic aliases the client set for its publishes (index = alias - 1).
    /// Boxed and created on first use, like `outbound_aliases`.
    #[allow(clippy::box_collection)]
    inbound_aliases: Option<Box<Vec<Option<ByteStr>>>>,
    /// Topic aliases the broker set for publishes to the client; boxed and created on
    /// first use, as most clients never ask for aliases (8 bytes per connection instead
    /// of an empty map's 48).
    #[allow(clippy::box_collection)]
    outbound_aliases: Option<Box<HashMap<ByteStr, u16>>>,
    /// The client's Topic Alias Maximum: aliases the broker may use towards it.
    client_alias_maximum: u16,
    /// The client's Maximum Packet Size.
    client_max_packet_size: u32,
    /// QoS 1/2 publishes received and not yet acknowledged (checked against the Receive
    /// Maximum the broker announced).
    inflight_in: u32,
    /// Items drained from the queue, waiting to be encoded.
    pending: VecDeque<OutItem>,
    write_buf: BytesMut,
    /// Set once a DISCONNECT was received or a Close item written: the loop ends when
    /// the write buffer is empty.
    closing: Option<Box<ConnectionError>>,
    /// Set once a Close item was written (the broker ended the connection, with a
    /// DISCONNECT on v5): the client may still be sending, so the socket lingers.
    closed_by_broker: bool,
    /// The principal's share of `[mqtt.rate_limits]`; `None` when it is unlimited.
    budget: Option<Arc<crate::rate_limit::Budget>>,
    /// Set while the connection pays a rate-limit debt: nothing is read until then.
    throttled_until: Option<Instant>,
}

impl Connection {
    fn new(
        id: ConnId,
        accepted: handshake::Accepted,
        context: Arc<ConnectionContext>,
    ) -> (
        Connection,
        Box<crate::router::event::ConnectEvent>,
        tokio::sync::oneshot::Receiver<Result<(), ReasonCode>>,
    ) {
        let handshake::Accepted {
            mut event,
            keep_alive,
            client_alias_maximum,
            client_max_packet_size,
            verdict,
        } = accepted;
        event.conn = id;
        let connection = Connection {
            id,
            outbound: event.outbound.clone(),
            version: event.protocol,
            client_id: event.client_id.clone(),
            principal: event.principal.clone(),
            keep_alive,
            last_read: Instant::now(),
            session_expiry: event.session_expiry,
            inbound_aliases: None,
            outbound_aliases: None,
            client_alias_maximum,
            client_max_packet_size,
            inflight_in: 0,
            pending: VecDeque::new(),
            write_buf: BytesMut::new(),
            closing: None,
            closed_by_broker: false,
            budget: context.rate_limiter.budget(&event.principal),
            throttled_until: None,
            context,
        };
        (connection, event, verdict)
    }

    /// Tells every service that cares (presence, revocation) that this connection
    /// began or ended.
    fn announce(&self, connected: bool) {
        self.context.client_events.publish(hearth_bus::ClientEvent {
            principal: self.principal.clone(),
            client_id: self.client_id.clone(),
            connection: self.id,
            connected,
        });
    }

    fn keep_alive_deadline(&self) -> Option<Instant> {
        (self.keep_alive > 0)
            .then(|| self.last_read + Duration::from_millis(u64::from(self.keep_alive) * 1500))
    }

    async fn run<R, W>(
        &mut self,
        reader: &mut R,
        writer: &mut W,
        read_buf: &mut BytesMut,
    ) -> Result<(), ConnectionError>
    where
        R: tokio::io::AsyncRead + Unpin,
        W: tokio::io::AsyncWrite + Unpin,
    {
        // The keep-alive timer is re-armed only when it fires, not on every packet:
        // resetting a timer per packet would cost a timer-wheel update per message.
        let timer = tokio::time::sleep_until(self.keep_alive_deadline().unwrap_or_else(far_future));
        tokio::pin!(timer);
        // Packets that arrived with the CONNECT.
        Box::pin(self.process_read_buf(read_buf)).await?;
        self.arm_throttle(timer.as_mut());
        let mut reading_paused = false;
        loop {
            if self.write_buf.is_empty() {
                // Everything queued before has reached the socket: if publishers were
                // paused for this queue, they may go on. Then take what is queued now.
                if self.outbound.take_pressured() {
                    let _ = self
                        .context
                        .control
                        .send(Control::Drained { conn: self.id });
                }
                if self.outbound.has_queued() {
                    self.outbound.drain_into(&mut self.pending);
                    self.encode_pending();
                }
            }
            if self.write_buf.is_empty() {
                if let Some(reason) = self.closing.take() {
                    writer.flush().await?;
                    return match *reason {
                        ConnectionError::ClosedByBroker(_) | ConnectionError::Refused(_) => Ok(()),
                        other => Err(other),
                    };
                }
                if self.write_buf.capacity() > KEEP_WRITE_CAPACITY {
                    self.write_buf = BytesMut::new();
                }
            }
            if read_buf.capacity() == read_buf.len() {
                read_buf.reserve(read_buf.capacity().clamp(INITIAL_READ_CAPACITY, 64 * 1024));
            }
            let paused = self.outbound.is_paused() || self.throttled_until.is_some();
            if reading_paused && !paused {
                // Resumed: the packets left in the buffer come first.
                self.last_read = Instant::now();
                Box::pin(self.process_read_buf(read_buf)).await?;
                self.arm_throttle(timer.as_mut());
                // What they queued (or a close they caused) is handled at the top.
                reading_paused = false;
                continue;
            }
            reading_paused = paused;
            let writing = !self.write_buf.is_empty();
            tokio::select! {
                biased;
                written = writer.write_buf(&mut self.write_buf), if writing => {
                    let n = written?;
                    if n == 0 {
                        return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
                    }
                    SharedStats::add(&self.context.stats.bytes_sent, n as u64);
                    if self.write_buf.is_empty() {
                        writer.flush().await?;
                    }
                }
                // A wake-up only: something was queued, or reading was resumed; the top
                // of the loop does the work.
                () = self.outbound.wait(), if !writing || paused => {}
                read = reader.read_buf(read_buf), if self.closing.is_none() && !paused => {
                    let n = read?;
                    if n == 0 {
                        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
                    }
                    SharedStats::add(&self.context.stats.bytes_received, n as u64);
                    self.last_read = Instant::now();
                    Box::pin(self.process_read_buf(read_buf)).await?;
                    self.arm_throttle(timer.as_mut());
                    // A small read into a big empty buffer means the burst is over: give
                    // the memory back (a busy connection keeps its buffer).
                    if read_buf.is_empty() && read_buf.capacity() > 1024 && n < read_buf.capacity() / 8 {
                        *read_buf = BytesMut::with_capacity(IDLE_READ_CAPACITY);
                    }
                }
                () = &mut timer => {
                    if paused {
                        // Not reading is the broker's doing, not the client's silence.
                        self.last_read = Instant::now();
                    }
                    if self.throttled_until.is_some_and(|until| until <= Instant::now()) {
                        // The debt is paid: the top of the loop reads again.
                        self.throttled_until = None;
                    }
                    match self.keep_alive_deadline() {
                        Some(deadline) if deadline <= Instant::now() => {
                            self.begin_close(ReasonCode::KEEP_ALIVE_TIMEOUT, ConnectionError::KeepAlive(self.keep_alive));
                        }
                        Some(deadline) => timer.as_mut().reset(deadline),
                        None => timer.as_mut().reset(far_future()),
                    }
                    self.arm_throttle(timer.as_mut());
                }
            }
        }
    }

    /// Decodes and handles every complete packet in `read_buf`.
    async fn process_read_buf(&mut self, read_buf: &mut BytesMut) -> Result<(), ConnectionError> {
        // A paused client's remaining packets wait in the buffer until it is resumed.
        while self.closing.is_none() && !self.outbound.is_paused() && self.throttled_until.is_none()
        {
            let max = self.context.limits.max_packet_size as usize;
            match hearth_mqtt::decode(read_buf, Some(self.version), max) {
                Ok(Some(packet)) => {
                    SharedStats::add(&self.context.stats.packets_received, 1);
                    self.handle_packet(packet).await?;
                }
                Ok(None) => break,
                Err(error) => {
                    SharedStats::add(&self.context.stats.protocol_errors, 1);
                    tracing::debug!(client_id = %self.client_id, %error, "closing connection after a bad packet");
                    let reason = error.reason_code();
                    self.begin_close(reason, ConnectionError::Decode(error));
                }
            }
        }
        Ok(())
    }

    /// Queues a DISCONNECT (v5) and stops reading; the loop ends once it is written.
    fn begin_close(&mut self, reason: ReasonCode, error: ConnectionError) {
        if self.closing.is_some() {
            return;
        }
        self.closing = Some(Box::new(error));
        self.pending.push_back(OutItem::Close(reason));
        self.encode_pending();
    }

    /// Sends an item for this connection's own socket (PINGRESP, refusals).
    fn send_now(&mut self, item: OutItem) {
        self.pending.push_back(item);
        self.encode_pending();
    }

    async fn to_router(&self, event: Event) -> Result<(), ConnectionError> {
        self.context
            .events
            .send(event)
            .await
            .map_err(|_| ConnectionError::RouterGone)
    }
}
