//! The fourteen MQTT control packets (fifteen with v5's AUTH) as plain data.
//!
//! One set of types serves every protocol version: fields that only v5 carries
//! (properties, most reason codes) are simply left at their defaults for v3, and the
//! encoder leaves them out. The broker therefore reasons in v5 terms everywhere and
//! only the codec knows how each version spells things.

use bytes::Bytes;

use crate::properties::Properties;
use crate::types::{ByteStr, ProtocolVersion, QoS, ReasonCode, RetainHandling};

/// Any control packet.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    Connect(Box<Connect>),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck(PubResponse),
    PubRec(PubResponse),
    PubRel(PubResponse),
    PubComp(PubResponse),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    PingReq,
    PingResp,
    Disconnect(Disconnect),
    /// v5 only: extended authentication exchange.
    Auth(Auth),
}

impl Packet {
    /// Name used in logs and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Packet::Connect(_) => "CONNECT",
            Packet::ConnAck(_) => "CONNACK",
            Packet::Publish(_) => "PUBLISH",
            Packet::PubAck(_) => "PUBACK",
            Packet::PubRec(_) => "PUBREC",
            Packet::PubRel(_) => "PUBREL",
            Packet::PubComp(_) => "PUBCOMP",
            Packet::Subscribe(_) => "SUBSCRIBE",
            Packet::SubAck(_) => "SUBACK",
            Packet::Unsubscribe(_) => "UNSUBSCRIBE",
            Packet::UnsubAck(_) => "UNSUBACK",
            Packet::PingReq => "PINGREQ",
            Packet::PingResp => "PINGRESP",
            Packet::Disconnect(_) => "DISCONNECT",
            Packet::Auth(_) => "AUTH",
        }
    }
}

/// CONNECT: the first packet of every connection. Boxed inside [`Packet`] because it is
/// large and rare.
#[derive(Debug, Clone, PartialEq)]
pub struct Connect {
    pub protocol: ProtocolVersion,
    /// "Clean session" in 3.x, "clean start" in 5.0.
    pub clean_start: bool,
    /// Seconds; 0 disables keep-alive.
    pub keep_alive: u16,
    /// May be empty: the server then assigns one (v5) or, for 3.1.1 with clean session,
    /// makes one up.
    pub client_id: ByteStr,
    pub will: Option<Will>,
    pub username: Option<ByteStr>,
    pub password: Option<Bytes>,
    pub properties: Properties,
}

/// The last will carried in CONNECT.
#[derive(Debug, Clone, PartialEq)]
pub struct Will {
    pub topic: ByteStr,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// Will properties (v5): will delay interval, message expiry, content type, response
    /// topic, correlation data, payload format indicator, user properties.
    pub properties: Properties,
}

/// CONNACK. `reason` is always a v5 reason code; the encoder maps it to a 3.x return
/// code for older clients (see [`ReasonCode::to_v3_connack`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnAck {
    pub session_present: bool,
    pub reason: ReasonCode,
    pub properties: Properties,
}

/// PUBLISH in either direction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Publish {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    /// May be empty in v5 when a topic alias stands in for it.
    pub topic: ByteStr,
    /// 0 for QoS 0; never 0 otherwise (the decoder rejects it).
    pub packet_id: u16,
    pub properties: Properties,
    pub payload: Bytes,
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape. For v3 only `packet_id` is
/// encoded. A v5 encoder omits the reason code and properties when the reason is
/// success and there are no properties, as the specification allows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PubResponse {
    pub packet_id: u16,
    pub reason: ReasonCode,
    pub properties: Properties,
}

impl PubResponse {
    pub fn new(packet_id: u16, reason: ReasonCode) -> PubResponse {
        PubResponse {
            packet_id,
            reason,
            properties: Properties::default(),
        }
    }
}

/// Per-filter options of a SUBSCRIBE. v3 only has `qos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscriptionOptions {
    pub qos: QoS,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: RetainHandling,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubscribeFilter {
    /// Validated as UTF-8 only; whether it is a valid topic filter is the broker's call,
    /// so that one bad filter fails only itself (v5 reason 0x8F).
    pub filter: ByteStr,
    pub options: SubscriptionOptions,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subscribe {
    pub packet_id: u16,
    /// Never empty (the decoder rejects an empty list as a protocol error).
    pub filters: Vec<SubscribeFilter>,
    /// Subscription identifier and user properties.
    pub properties: Properties,
}

/// SUBACK: one reason code per requested filter. For v3 the encoder writes 0x80 for any
/// failure code and the granted QoS otherwise.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubAck {
    pub packet_id: u16,
    pub reasons: Vec<ReasonCode>,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Unsubscribe {
    pub packet_id: u16,
    /// Never empty.
    pub filters: Vec<ByteStr>,
    pub properties: Properties,
}

/// UNSUBACK: v3 carries only the packet id; v5 one reason code per filter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UnsubAck {
    pub packet_id: u16,
    pub reasons: Vec<ReasonCode>,
    pub properties: Properties,
}

/// DISCONNECT in either direction (server-sent only in v5). v3 encodes no body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Disconnect {
    pub reason: ReasonCode,
    pub properties: Properties,
}

/// AUTH (v5 only).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Auth {
    pub reason: ReasonCode,
    pub properties: Properties,
}
