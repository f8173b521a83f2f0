//! SUBSCRIBE and SUBACK (v5 §3.8-3.9, 3.1.1 §3.8-3.9).
//!
//! Filters are checked only as UTF-8 here: whether one is a valid topic filter is the
//! broker's call, so that one bad filter fails alone with its own SUBACK code instead of
//! closing the connection. The options byte, on the other hand, is grammar, and a bad one
//! makes the packet malformed.

use bytes::{BufMut, Bytes, BytesMut};

use super::BodyLen;
use super::primitives::{prefixed_len, read_packet_id, read_string, read_u8, write_prefixed};
use super::properties::{self, Context};
use crate::{
    DecodeError, EncodeError, Properties, ProtocolVersion, QoS, ReasonCode, RetainHandling, SubAck,
    Subscribe, SubscribeFilter, SubscriptionOptions,
};

const NO_LOCAL: u8 = 0x04;
const RETAIN_AS_PUBLISHED: u8 = 0x08;
const RETAIN_HANDLING_SHIFT: u8 = 4;

pub(super) fn decode(mut body: Bytes, version: ProtocolVersion) -> Result<Subscribe, DecodeError> {
    let packet_id = read_packet_id(&mut body)?;
    let properties = if version.is_v5() {
        properties::read(&mut body, Context::Subscribe)?
    } else {
        Properties::default()
    };
    let mut filters = Vec::new();
    while !body.is_empty() {
        let filter = read_string(&mut body)?;
        let options = decode_options(read_u8(&mut body)?, version)?;
        filters.push(SubscribeFilter { filter, options });
    }
    if filters.is_empty() {
        return Err(DecodeError::Protocol("SUBSCRIBE without topic filters"));
    }
    Ok(Subscribe {
        packet_id,
        filters,
        properties,
    })
}

fn decode_options(byte: u8, version: ProtocolVersion) -> Result<SubscriptionOptions, DecodeError> {
    let reserved = if version.is_v5() { 0xC0 } else { 0xFC };
    if byte & reserved != 0 {
        return Err(DecodeError::Malformed(
            "reserved subscription option bits are set",
        ));
    }
    let qos = QoS::from_u8(byte & 0b11).ok_or(DecodeError::Malformed("subscription with QoS 3"))?;
    let retain_handling = match (byte >> RETAIN_HANDLING_SHIFT) & 0b11 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendAtSubscribeIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return Err(DecodeError::Malformed("retain handling 3")),
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: byte & NO_LOCAL != 0,
        retain_as_published: byte & RETAIN_AS_PUBLISHED != 0,
        retain_handling,
    })
}

fn encode_options(options: &SubscriptionOptions, version: ProtocolVersion) -> u8 {
    let qos = options.qos as u8;
    if !version.is_v5() {
        return qos;
    }
    let mut byte = qos | ((options.retain_handling as u8) << RETAIN_HANDLING_SHIFT);
    if options.no_local {
        byte |= NO_LOCAL;
    }
    if options.retain_as_published {
        byte |= RETAIN_AS_PUBLISHED;
    }
    byte
}

pub(super) fn measure(
    subscribe: &Subscribe,
    version: ProtocolVersion,
) -> Result<BodyLen, EncodeError> {
    let mut body = BodyLen::default();
    let mut remaining = 2;
    if version.is_v5() {
        body.properties = properties::measure(&subscribe.properties, Context::Subscribe)?;
        remaining += properties::block_len(body.properties);
    }
    for filter in &subscribe.filters {
        remaining += prefixed_len("topic filter", filter.filter.len())? + 1;
    }
    body.remaining = remaining;
    Ok(body)
}

pub(super) fn write(
    subscribe: &Subscribe,
    version: ProtocolVersion,
    body: &BodyLen,
    out: &mut BytesMut,
) {
    out.put_u16(subscribe.packet_id);
    if version.is_v5() {
        properties::write(
            &subscribe.properties,
            Context::Subscribe,
            body.properties,
            out,
        );
    }
    for filter in &subscribe.filters {
        write_prefixed(out, filter.filter.as_bytes());
        out.put_u8(encode_options(&filter.options, version));
    }
}

pub(super) fn decode_ack(mut body: Bytes, version: ProtocolVersion) -> Result<SubAck, DecodeError> {
    let packet_id = read_packet_id(&mut body)?;
    let properties = if version.is_v5() {
        properties::read(&mut body, Context::SubAck)?
    } else {
        Properties::default()
    };
    if body.is_empty() {
        return Err(DecodeError::Protocol("SUBACK without return codes"));
    }
    // 3.x defines only the granted QoS and 0x80; v5 codes are kept as they come so that
    // a client can report ones it does not know.
    if !version.is_v5() && body.iter().any(|code| !matches!(code, 0 | 1 | 2 | 0x80)) {
        return Err(DecodeError::Malformed("reserved SUBACK return code"));
    }
    let reasons = body.iter().map(|&code| ReasonCode(code)).collect();
    Ok(SubAck {
        packet_id,
        reasons,
        properties,
    })
}

pub(super) fn measure_ack(
    suback: &SubAck,
    version: ProtocolVersion,
) -> Result<BodyLen, EncodeError> {
    let mut body = BodyLen::remaining(2 + suback.reasons.len());
    if version.is_v5() {
        body.properties = properties::measure(&suback.properties, Context::SubAck)?;
        body.remaining += properties::block_len(body.properties);
    }
    Ok(body)
}

pub(super) fn write_ack(
    suback: &SubAck,
    version: ProtocolVersion,
    body: &BodyLen,
    out: &mut BytesMut,
) {
    out.put_u16(suback.packet_id);
    if version.is_v5() {
        properties::write(&suback.properties, Context::SubAck, body.properties, out);
    }
    for reason in &suback.reasons {
        // 3.x has a single failure code (3.1.1 §3.9.3).
        let code = if reason.is_error() && !version.is_v5() {
            0x80
        } else {
            reason.0
        };
        out.put_u8(code);
    }
}

#[cfg(test)]
#[path = "subscribe_tests.rs"]
mod tests;
