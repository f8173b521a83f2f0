//! Wire format: the three entry points and the dispatch to one module per packet.
//!
//! Decoding checks the fixed header straight from the caller's buffer, so a packet that
//! is too large or makes no sense is refused before its body is buffered. Only once the
//! whole packet is there are its bytes split off and frozen, and every string, binary
//! field and payload in the result is a slice of that one buffer.
//!
//! Encoding measures, then writes. `measure` validates every length and returns the
//! sizes the writer needs for its length prefixes, so `encode` reserves once and never
//! fails halfway through, and `encoded_len` is exact by construction.
//!
//! Each packet module has `decode` (body only: the fixed header is gone), `measure`
//! and `write` (body only, given what `measure` returned).

mod ack;
mod connack;
mod connect;
mod disconnect;
mod header;
mod primitives;
mod properties;
mod publish;
mod subscribe;
#[cfg(test)]
mod test_util;
mod unsubscribe;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use self::header::Kind;
use self::primitives::{expect_end, varint_len, write_varint};
use crate::{DecodeError, EncodeError, MAX_REMAINING_LENGTH, Packet, ProtocolVersion};

/// Decodes one packet from the front of `buf`.
///
/// - `Ok(None)`: `buf` holds no complete packet yet; nothing is consumed.
/// - `Ok(Some(packet))`: the packet's bytes were split off `buf` (zero-copy).
/// - `Err(_)`: the connection must be closed with `err.reason_code()`.
///
/// `version` is `None` until CONNECT has been received: then only CONNECT is accepted
/// (anything else is a protocol error) and the CONNECT itself says which version to
/// use from then on. A second CONNECT is a protocol error. `max_packet_size` bounds
/// the whole packet (fixed header included); it is checked as soon as the remaining
/// length is known.
///
/// Protocol choices where the specifications leave room: a PUBLISH or will topic with
/// wildcards, or empty without a topic alias, is malformed on 3.x and a protocol error
/// on v5 (which defines the difference); an unknown protocol name or level in CONNECT is
/// reported as [`DecodeError::UnsupportedProtocol`] before anything after the level is
/// looked at; non-minimal variable byte integers are accepted. For old MQTT 3.1 peers,
/// DUP on a resent PUBREL, SUBSCRIBE or UNSUBSCRIBE is accepted (3.1 allowed it) and the
/// CONNACK byte that later became "session present" is ignored (3.1 left it unused).
/// Subscription identifiers in a PUBLISH are accepted in either direction; refusing one
/// from a client (v5 §3.3.4) is the broker's call.
pub fn decode(
    buf: &mut BytesMut,
    version: Option<ProtocolVersion>,
    max_packet_size: usize,
) -> Result<Option<Packet>, DecodeError> {
    let Some(header) = header::parse(buf, version, max_packet_size)? else {
        return Ok(None);
    };
    if buf.len() < header.packet_len() {
        return Ok(None);
    }
    let mut body = buf.split_to(header.packet_len()).freeze();
    body.advance(header.header_len);
    decode_body(header.kind, header.flags, body, version).map(Some)
}

fn decode_body(
    kind: Kind,
    flags: u8,
    body: Bytes,
    version: Option<ProtocolVersion>,
) -> Result<Packet, DecodeError> {
    // `header::parse` has already matched CONNECT with the absence of a version.
    let Some(version) = version else {
        return Ok(Packet::Connect(Box::new(connect::decode(body)?)));
    };
    let packet = match kind {
        Kind::Connect => return Err(DecodeError::Protocol("second CONNECT")),
        Kind::ConnAck => Packet::ConnAck(connack::decode(body, version)?),
        Kind::Publish => Packet::Publish(publish::decode(flags, body, version)?),
        Kind::PubAck => Packet::PubAck(ack::decode(body, version)?),
        Kind::PubRec => Packet::PubRec(ack::decode(body, version)?),
        Kind::PubRel => Packet::PubRel(ack::decode(body, version)?),
        Kind::PubComp => Packet::PubComp(ack::decode(body, version)?),
        Kind::Subscribe => Packet::Subscribe(subscribe::decode(body, version)?),
        Kind::SubAck => Packet::SubAck(subscribe::decode_ack(body, version)?),
        Kind::Unsubscribe => Packet::Unsubscribe(unsubscribe::decode(body, version)?),
        Kind::UnsubAck => Packet::UnsubAck(unsubscribe::decode_ack(body, version)?),
        Kind::PingReq => {
            expect_end(&body)?;
            Packet::PingReq
        }
        Kind::PingResp => {
            expect_end(&body)?;
            Packet::PingResp
        }
        Kind::Disconnect => Packet::Disconnect(disconnect::decode(body, version)?),
        Kind::Auth => Packet::Auth(disconnect::decode_auth(body)?),
    };
    Ok(packet)
}

/// Appends `packet` to `out` as `version` spells it.
///
/// A CONNECT is always written in the dialect its own `protocol` field names, whatever
/// `version` says: it is the packet that chooses the dialect. Fields a version cannot
/// carry (properties and most reason codes on 3.x, properties a packet type may not
/// hold, DUP on QoS 0) are left out rather than refused. On error nothing is appended.
pub fn encode(
    packet: &Packet,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let version = dialect(packet, version);
    let body = measure(packet, version)?;
    let packet_len = packet_len(body.remaining)?;
    out.reserve(packet_len);
    let start = out.len();
    out.put_u8(header::first_byte(packet));
    write_varint(out, body.remaining);
    write_body(packet, version, &body, out);
    debug_assert_eq!(
        out.len() - start,
        packet_len,
        "measure and write disagree on {}",
        packet.kind()
    );
    Ok(())
}

/// Bytes `encode` would append (fixed header included), so the broker can respect a
/// client's maximum packet size without encoding first. 0 for a packet that `encode`
/// refuses, since it appends nothing then.
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> usize {
    let version = dialect(packet, version);
    measure(packet, version)
        .and_then(|body| packet_len(body.remaining))
        .unwrap_or(0)
}

/// Sizes found by a packet's `measure`, kept so that writing does not measure again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct BodyLen {
    /// The remaining length: everything after the fixed header.
    remaining: usize,
    /// Content of the packet's property block, without its length prefix.
    properties: usize,
    /// Content of the will's property block in a v5 CONNECT.
    will_properties: usize,
}

impl BodyLen {
    fn remaining(remaining: usize) -> BodyLen {
        BodyLen {
            remaining,
            ..BodyLen::default()
        }
    }
}

fn dialect(packet: &Packet, version: ProtocolVersion) -> ProtocolVersion {
    match packet {
        Packet::Connect(connect) => connect.protocol,
        _ => version,
    }
}

fn packet_len(remaining: usize) -> Result<usize, EncodeError> {
    if remaining > MAX_REMAINING_LENGTH {
        return Err(EncodeError::TooLong {
            field: "packet",
            len: remaining,
        });
    }
    Ok(1 + varint_len(remaining) + remaining)
}

fn measure(packet: &Packet, version: ProtocolVersion) -> Result<BodyLen, EncodeError> {
    match packet {
        Packet::Connect(connect) => connect::measure(connect),
        Packet::ConnAck(connack) => connack::measure(connack, version),
        Packet::Publish(publish) => publish::measure(publish, version),
        Packet::PubAck(response)
        | Packet::PubRec(response)
        | Packet::PubRel(response)
        | Packet::PubComp(response) => ack::measure(response, version),
        Packet::Subscribe(subscribe) => subscribe::measure(subscribe, version),
        Packet::SubAck(suback) => subscribe::measure_ack(suback, version),
        Packet::Unsubscribe(unsubscribe) => unsubscribe::measure(unsubscribe, version),
        Packet::UnsubAck(unsuback) => unsubscribe::measure_ack(unsuback, version),
        Packet::PingReq | Packet::PingResp => Ok(BodyLen::remaining(0)),
        Packet::Disconnect(disconnect) => disconnect::measure(disconnect, version),
        Packet::Auth(auth) => disconnect::measure_auth(auth, version),
    }
}

fn write_body(packet: &Packet, version: ProtocolVersion, body: &BodyLen, out: &mut BytesMut) {
    match packet {
        Packet::Connect(connect) => connect::write(connect, body, out),
        Packet::ConnAck(connack) => connack::write(connack, version, body, out),
        Packet::Publish(publish) => publish::write(publish, version, body, out),
        Packet::PubAck(response)
        | Packet::PubRec(response)
        | Packet::PubRel(response)
        | Packet::PubComp(response) => ack::write(response, version, body, out),
        Packet::Subscribe(subscribe) => subscribe::write(subscribe, version, body, out),
        Packet::SubAck(suback) => subscribe::write_ack(suback, version, body, out),
        Packet::Unsubscribe(unsubscribe) => unsubscribe::write(unsubscribe, version, body, out),
        Packet::UnsubAck(unsuback) => unsubscribe::write_ack(unsuback, version, body, out),
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(disconnect) => disconnect::write(disconnect, version, body, out),
        Packet::Auth(auth) => disconnect::write_auth(auth, body, out),
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
