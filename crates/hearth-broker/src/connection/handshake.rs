//! The first packet: CONNECT, checked, authenticated and turned into a [`ConnectEvent`].

use bytes::BytesMut;
use hearth_bus::{ConnectRequest, Transport};
use hearth_mqtt::{
    ByteStr, ConnAck, Connect, DecodeError, Packet, Properties, ProtocolVersion, ReasonCode,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::queue::Outbound;
use super::{ConnectionContext, ConnectionError};
use crate::router::event::ConnectEvent;
use crate::stats::SharedStats;

/// A CONNECT the broker accepted, minus the CONNACK (the router sends it once it knows
/// whether a session was present).
pub(super) struct Accepted {
    pub event: Box<ConnectEvent>,
    pub keep_alive: u16,
    pub client_alias_maximum: u16,
    pub client_max_packet_size: u32,
    /// The router's verdict on the session (see [`ConnectEvent::verdict`]).
    pub verdict: tokio::sync::oneshot::Receiver<Result<(), ReasonCode>>,
}

/// Reads CONNECT within the connect timeout and decides whether the client may stay.
/// Refusals are answered with a CONNACK in the client's dialect before the error returns.
pub(super) async fn accept<R, W>(
    reader: &mut R,
    writer: &mut W,
    read_buf: &mut BytesMut,
    peer: Option<SocketAddr>,
    transport: Transport,
    client_cert: Option<bytes::Bytes>,
    context: &ConnectionContext,
) -> Result<Accepted, ConnectionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let timeout = context.limits.connect_timeout();
    let connect = match tokio::time::timeout(timeout, read_connect(reader, read_buf, context)).await
    {
        Err(_) => return Err(ConnectionError::ConnectTimeout(timeout)),
        Ok(Err(ConnectionError::Decode(DecodeError::UnsupportedProtocol { name, level }))) => {
            SharedStats::add(&context.stats.connect_refused, 1);
            tracing::debug!(?peer, %name, level, "unsupported protocol version");
            let version = if level == 5 {
                ProtocolVersion::V5
            } else {
                ProtocolVersion::V3_1_1
            };
            refuse(writer, version, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION).await;
            return Err(ConnectionError::Refused(
                ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
            ));
        }
        Ok(Err(error)) => {
            SharedStats::add(&context.stats.protocol_errors, 1);
            return Err(error);
        }
        Ok(Ok(connect)) => connect,
    };
    let version = connect.protocol;
    match check_connect(&connect, context) {
        Ok(()) => {}
        Err(reason) => {
            SharedStats::add(&context.stats.connect_refused, 1);
            refuse(writer, version, reason).await;
            return Err(ConnectionError::Refused(reason));
        }
    }
    // Before authentication, which may hash a password: a flood of CONNECTs from one
    // address costs as little as possible.
    if let Some(peer) = peer
        && !context.rate_limiter.admit_connection(peer.ip())
    {
        SharedStats::add(&context.stats.connect_refused, 1);
        tracing::debug!(?peer, "connection refused: connection rate exceeded");
        let reason = ReasonCode::CONNECTION_RATE_EXCEEDED;
        refuse(writer, version, reason).await;
        return Err(ConnectionError::Refused(reason));
    }
    let (client_id, assigned) = match client_id_for(&connect) {
        Ok(found) => found,
        Err(reason) => {
            SharedStats::add(&context.stats.connect_refused, 1);
            refuse(writer, version, reason).await;
            return Err(ConnectionError::Refused(reason));
        }
    };
    let request = ConnectRequest {
        client_id: client_id.clone(),
        username: connect.username.as_deref().map(Arc::from),
        password: connect.password.clone(),
        remote_addr: peer,
        transport,
        protocol_level: match version {
            ProtocolVersion::V3_1 => 3,
            ProtocolVersion::V3_1_1 => 4,
            ProtocolVersion::V5 => 5,
        },
        client_cert,
    };
    let principal = match context.authorizer.authenticate(&request).await {
        Ok(principal) => principal,
        Err(error) => {
            SharedStats::add(&context.stats.connect_refused, 1);
            tracing::info!(%client_id, ?peer, %error, "connection refused");
            let reason = ReasonCode(error.reason);
            refuse(writer, version, reason).await;
            return Err(ConnectionError::Refused(reason));
        }
    };
    // A will is a publish by this principal that the broker makes later on its behalf:
    // it must pass the same rule as a PUBLISH, and a client learns at once that it
    // does not (SPEC §5). It is checked again when it is sent.
    if let Some(will) = &connect.will
        && !context.authorizer.authorize(
            &principal,
            &client_id,
            hearth_bus::Action::Publish,
            &will.topic,
        )
    {
        SharedStats::add(&context.stats.connect_refused, 1);
        SharedStats::add(&context.stats.publish_denied, 1);
        tracing::info!(%client_id, ?peer, topic = %will.topic, "connection refused: will not authorized");
        refuse(writer, version, ReasonCode::NOT_AUTHORIZED).await;
        return Err(ConnectionError::Refused(ReasonCode::NOT_AUTHORIZED));
    }
    Ok(build_accepted(
        *connect, client_id, assigned, principal, context,
    ))
}

async fn read_connect<R: AsyncRead + Unpin>(
    reader: &mut R,
    read_buf: &mut BytesMut,
    context: &ConnectionContext,
) -> Result<Box<Connect>, ConnectionError> {
    let max = context.limits.max_packet_size as usize;
    loop {
        if let Some(packet) = hearth_mqtt::decode(read_buf, None, max)? {
            return match packet {
                Packet::Connect(connect) => Ok(connect),
                _ => Err(ConnectionError::Protocol {
                    reason: ReasonCode::PROTOCOL_ERROR,
                    detail: "first packet was not CONNECT",
                }),
            };
        }
        if read_buf.len() == read_buf.capacity() {
            read_buf.reserve(read_buf.capacity().max(256));
        }
        let n = reader.read_buf(read_buf).await?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        SharedStats::add(&context.stats.bytes_received, n as u64);
    }
}

/// Checks that do not need the authorizer.
fn check_connect(connect: &Connect, context: &ConnectionContext) -> Result<(), ReasonCode> {
    // Enhanced authentication (AUTH exchanges) is not offered: a client asking for a
    // method must be refused with 0x8C rather than silently let in.
    if connect.properties.authentication_method.is_some() {
        return Err(ReasonCode::BAD_AUTHENTICATION_METHOD);
    }
    if context.stats.connections_current.load(Ordering::Relaxed) as usize
        >= context.limits.max_connections
    {
        return Err(ReasonCode::SERVER_UNAVAILABLE);
    }
    if let Some(will) = &connect.will {
        if crate::topic::validate_topic_name(&will.topic).is_err() {
            return Err(ReasonCode::TOPIC_NAME_INVALID);
        }
        if will.retain && !context.limits.retain_available {
            return Err(ReasonCode::RETAIN_NOT_SUPPORTED);
        }
    }
    Ok(())
}

/// The client id to use, and whether the broker made it up.
fn client_id_for(connect: &Connect) -> Result<(Arc<str>, bool), ReasonCode> {
    if !connect.client_id.is_empty() {
        return Ok((Arc::from(connect.client_id.as_str()), false));
    }
    // 3.1 requires an id; 3.1.1 allows an empty one only with a clean session; 5.0
    // always allows it and tells the client what was assigned.
    let may_assign = match connect.protocol {
        ProtocolVersion::V3_1 => false,
        ProtocolVersion::V3_1_1 => connect.clean_start,
        ProtocolVersion::V5 => true,
    };
    if !may_assign {
        return Err(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
    }
    Ok((Arc::from(generate_client_id()), true))
}

fn generate_client_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::AtomicU64;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded from the OS once per process; mixing in a counter makes
    // every id unique within the process and unpredictable across restarts.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("hearth-{:016x}", hasher.finish())
}

fn build_accepted(
    connect: Connect,
    client_id: Arc<str>,
    assigned: bool,
    principal: hearth_bus::Principal,
    context: &ConnectionContext,
) -> Accepted {
    let limits = &context.limits;
    let v5 = connect.protocol.is_v5();
    let mut connack = ConnAck::default();
    let mut keep_alive = connect.keep_alive;
    if v5 {
        let max = limits.max_keep_alive_secs;
        if max > 0 && (keep_alive == 0 || keep_alive > max) {
            keep_alive = max;
            connack.properties.server_keep_alive = Some(max);
        }
    }
    let session_expiry = if v5 {
        let asked = connect.properties.session_expiry_interval.unwrap_or(0);
        let granted = asked.min(limits.max_session_expiry_secs);
        if granted != asked {
            connack.properties.session_expiry_interval = Some(granted);
        }
        granted
    } else if connect.clean_start {
        0
    } else {
        u32::MAX
    };
    if v5 {
        let properties: &mut Properties = &mut connack.properties;
        properties.receive_maximum = Some(limits.receive_maximum);
        properties.maximum_packet_size = Some(limits.max_packet_size);
        properties.topic_alias_maximum = Some(limits.topic_alias_maximum);
        if !limits.retain_available {
            properties.retain_available = Some(false);
        }
        if assigned {
            properties.assigned_client_identifier = Some(ByteStr::from(&*client_id));
        }
    }
    let client_alias_maximum = if v5 {
        connect.properties.topic_alias_maximum.unwrap_or(0)
    } else {
        0
    };
    let client_max_packet_size = connect.properties.maximum_packet_size.unwrap_or(u32::MAX);
    let (verdict_sender, verdict) = tokio::sync::oneshot::channel();
    let event = Box::new(ConnectEvent {
        conn: 0,
        client_id,
        protocol: connect.protocol,
        clean_start: connect.clean_start,
        session_expiry,
        will: connect.will,
        principal,
        receive_maximum: connect.properties.receive_maximum.unwrap_or(u16::MAX),
        max_packet_size: client_max_packet_size,
        connack,
        outbound: Outbound::new(),
        verdict: verdict_sender,
    });
    Accepted {
        event,
        keep_alive,
        client_alias_maximum,
        client_max_packet_size,
        verdict,
    }
}

/// Best-effort CONNACK with a refusal; the connection closes right after.
pub(super) async fn refuse<W: AsyncWrite + Unpin>(
    writer: &mut W,
    version: ProtocolVersion,
    reason: ReasonCode,
) {
    let connack = Packet::ConnAck(ConnAck {
        session_present: false,
        reason,
        properties: Properties::default(),
    });
    let mut buf = BytesMut::new();
    if hearth_mqtt::encode(&connack, version, &mut buf).is_ok() {
        let _ = writer.write_all(&buf).await;
        let _ = writer.flush().await;
    }
}
