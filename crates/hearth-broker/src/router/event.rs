//! What connections and handles tell the router.

use hearth_bus::{Envelope, Interceptor, Principal, Subscription};
use hearth_mqtt::{
    ByteStr, ConnAck, ProtocolVersion, Publish, ReasonCode, SubscriptionOptions, Will,
};
use std::sync::Arc;
use tokio::sync::oneshot;

use crate::connection::queue::Outbound;
use crate::stats::StatsSnapshot;

/// Identifies one network connection (not a session: a session outlives connections).
pub(crate) type ConnId = u64;

/// Events from connection tasks. They travel on a bounded channel: when the router falls
/// behind, connections wait to send and so stop reading their sockets, which slows
/// publishers down through TCP instead of growing memory.
// Publish is large (its properties), but boxing it would cost an allocation per message
// while moving it costs a short copy.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Event {
    Connect(Box<ConnectEvent>),
    Publish {
        conn: ConnId,
        publish: Publish,
    },
    PubAck {
        conn: ConnId,
        packet_id: u16,
    },
    PubRec {
        conn: ConnId,
        packet_id: u16,
        reason: ReasonCode,
    },
    PubRel {
        conn: ConnId,
        packet_id: u16,
    },
    PubComp {
        conn: ConnId,
        packet_id: u16,
    },
    Subscribe {
        conn: ConnId,
        packet_id: u16,
        requests: Vec<SubscribeRequest>,
        subscription_id: Option<u32>,
    },
    Unsubscribe {
        conn: ConnId,
        packet_id: u16,
        filters: Vec<ByteStr>,
    },
    /// The client sent DISCONNECT. `publish_will` is true only for v5 reason 0x04.
    Disconnect {
        conn: ConnId,
        publish_will: bool,
        session_expiry: Option<u32>,
    },
    /// The connection ended (after a DISCONNECT, an error, a timeout or end of stream).
    Closed {
        conn: ConnId,
    },
}

/// Events that must never wait: acknowledgements from interceptors (called from
/// synchronous code) and requests from in-process handles. They travel on an unbounded
/// channel, which is bounded in practice by the bounded work that produces them.
pub(crate) enum Control {
    AckReady {
        session: u64,
        conn: ConnId,
        packet_id: u16,
        qos2: bool,
        /// Success, or the first specific refusal reason among the holders.
        reason: hearth_mqtt::ReasonCode,
    },
    LocalPublish {
        envelope: Envelope,
    },
    /// A connection whose queue had publishers paused has written everything out.
    Drained {
        conn: ConnId,
    },
    LocalSubscribe {
        filter: String,
        capacity: usize,
        /// Deliver the retained messages matching `filter` at once, as to a client.
        retained: bool,
        reply: oneshot::Sender<Subscription>,
    },
    Intercept {
        filter: String,
        interceptor: Arc<dyn Interceptor>,
    },
    Kick {
        client_id: String,
        reason: ReasonCode,
        reply: oneshot::Sender<bool>,
    },
    Stats {
        reply: oneshot::Sender<StatsSnapshot>,
    },
    Shutdown,
}

/// A CONNECT that passed authentication, with everything the router needs to attach
/// it to a session.
#[derive(Debug)]
pub(crate) struct ConnectEvent {
    pub conn: ConnId,
    pub client_id: Arc<str>,
    pub protocol: ProtocolVersion,
    pub clean_start: bool,
    /// Seconds; 0 ends the session with the connection, `u32::MAX` never.
    pub session_expiry: u32,
    pub will: Option<Will>,
    pub principal: Principal,
    /// The client's Receive Maximum: QoS 1/2 messages it accepts in flight.
    pub receive_maximum: u16,
    /// The client's Maximum Packet Size.
    pub max_packet_size: u32,
    /// The CONNACK to send, complete but for Session Present.
    pub connack: ConnAck,
    pub outbound: Arc<Outbound>,
    /// The router's answer: `Ok` once the connection holds its session (the CONNACK is
    /// queued), or the reason it may not have it. The connection waits for it before it
    /// announces itself to the authorizer, so a refused client is never "connected".
    pub verdict: oneshot::Sender<Result<(), ReasonCode>>,
}

/// One filter of a SUBSCRIBE, already checked by the connection.
#[derive(Debug)]
pub(crate) struct SubscribeRequest {
    /// As the client wrote it, `$share/group/` prefix included.
    pub filter: ByteStr,
    /// Options, or the failure reason (invalid filter, not authorized).
    pub verdict: Result<SubscriptionOptions, ReasonCode>,
    /// The authorizer granted it as `SubscribeVerdict::Filtered`: every delivery on it
    /// is checked with `Authorizer::may_receive`.
    pub filtered: bool,
}
