//! CONNECT (v5 §3.1, 3.1.1 §3.1, 3.1 §3.1): the packet that picks the dialect.
//!
//! The protocol name and level are read first and judged before anything else, so that a
//! client speaking a version we do not know gets [`DecodeError::UnsupportedProtocol`]
//! (and the broker can answer with CONNACK 0x01 / 0x84) however the rest of its CONNECT
//! is laid out.

use bytes::{BufMut, Bytes, BytesMut};

use super::BodyLen;
use super::primitives::{
    check_topic_name, expect_end, prefixed_len, read_binary, read_string, read_u8, read_u16,
    write_prefixed,
};
use super::properties::{self, Context};
use crate::{Connect, DecodeError, EncodeError, Properties, ProtocolVersion, QoS, Will};

const RESERVED: u8 = 0x01;
const CLEAN_START: u8 = 0x02;
const WILL: u8 = 0x04;
const WILL_QOS_SHIFT: u8 = 3;
const WILL_RETAIN: u8 = 0x20;
const PASSWORD: u8 = 0x40;
const USERNAME: u8 = 0x80;

pub(super) fn decode(mut body: Bytes) -> Result<Connect, DecodeError> {
    let protocol = read_protocol(&mut body)?;
    let flags = read_u8(&mut body)?;
    if flags & RESERVED != 0 {
        return Err(DecodeError::Malformed("CONNECT reserved flag is set"));
    }
    let has_will = flags & WILL != 0;
    let will_qos = QoS::from_u8((flags >> WILL_QOS_SHIFT) & 0b11)
        .ok_or(DecodeError::Malformed("will QoS 3"))?;
    let will_retain = flags & WILL_RETAIN != 0;
    if !has_will && (will_qos != QoS::AtMostOnce || will_retain) {
        return Err(DecodeError::Malformed(
            "will QoS or retain set without a will",
        ));
    }
    let has_username = flags & USERNAME != 0;
    let has_password = flags & PASSWORD != 0;
    // v5 allows a password alone (v5 §3.1.2.9), for tokens that carry no user name.
    if has_password && !has_username && !protocol.is_v5() {
        return Err(DecodeError::Malformed("password without user name"));
    }
    let keep_alive = read_u16(&mut body)?;
    let properties = read_properties(&mut body, protocol, Context::Connect)?;
    if properties.authentication_data.is_some() && properties.authentication_method.is_none() {
        return Err(DecodeError::Protocol(
            "authentication data without authentication method",
        ));
    }

    let client_id = read_string(&mut body)?;
    let will = if has_will {
        let properties = read_properties(&mut body, protocol, Context::Will)?;
        let topic = read_string(&mut body)?;
        check_topic_name(&topic, protocol, false)?;
        let payload = read_binary(&mut body)?;
        Some(Will {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties,
        })
    } else {
        None
    };
    let username = if has_username {
        Some(read_string(&mut body)?)
    } else {
        None
    };
    // Binary in v5 and 3.1.1; MQTT 3.1 called it a string, which has the same layout.
    let password = if has_password {
        Some(read_binary(&mut body)?)
    } else {
        None
    };
    expect_end(&body)?;
    Ok(Connect {
        protocol,
        clean_start: flags & CLEAN_START != 0,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

fn read_protocol(body: &mut Bytes) -> Result<ProtocolVersion, DecodeError> {
    // Read as raw bytes: an unknown name is reported, not judged as UTF-8.
    let name = read_binary(body)?;
    let level = read_u8(body)?;
    match (&name[..], level) {
        (b"MQIsdp", 3) => Ok(ProtocolVersion::V3_1),
        (b"MQTT", 4) => Ok(ProtocolVersion::V3_1_1),
        (b"MQTT", 5) => Ok(ProtocolVersion::V5),
        _ => Err(DecodeError::UnsupportedProtocol {
            name: String::from_utf8_lossy(&name).into_owned(),
            level,
        }),
    }
}

fn read_properties(
    body: &mut Bytes,
    protocol: ProtocolVersion,
    context: Context,
) -> Result<Properties, DecodeError> {
    if protocol.is_v5() {
        properties::read(body, context)
    } else {
        Ok(Properties::default())
    }
}

fn protocol_name(protocol: ProtocolVersion) -> (&'static [u8], u8) {
    match protocol {
        ProtocolVersion::V3_1 => (b"MQIsdp", 3),
        ProtocolVersion::V3_1_1 => (b"MQTT", 4),
        ProtocolVersion::V5 => (b"MQTT", 5),
    }
}

pub(super) fn measure(connect: &Connect) -> Result<BodyLen, EncodeError> {
    let v5 = connect.protocol.is_v5();
    let (name, _) = protocol_name(connect.protocol);
    // Name, level, flags, keep alive.
    let mut remaining = 2 + name.len() + 1 + 1 + 2;
    let mut body = BodyLen::default();
    if v5 {
        body.properties = properties::measure(&connect.properties, Context::Connect)?;
        remaining += properties::block_len(body.properties);
    }
    remaining += prefixed_len("client identifier", connect.client_id.len())?;
    if let Some(will) = &connect.will {
        if v5 {
            body.will_properties = properties::measure(&will.properties, Context::Will)?;
            remaining += properties::block_len(body.will_properties);
        }
        remaining += prefixed_len("will topic", will.topic.len())?;
        remaining += prefixed_len("will payload", will.payload.len())?;
    }
    if let Some(username) = &connect.username {
        remaining += prefixed_len("user name", username.len())?;
    }
    if let Some(password) = &connect.password {
        remaining += prefixed_len("password", password.len())?;
    }
    body.remaining = remaining;
    Ok(body)
}

pub(super) fn write(connect: &Connect, body: &BodyLen, out: &mut BytesMut) {
    let v5 = connect.protocol.is_v5();
    let (name, level) = protocol_name(connect.protocol);
    write_prefixed(out, name);
    out.put_u8(level);
    let mut flags = 0;
    if connect.clean_start {
        flags |= CLEAN_START;
    }
    if let Some(will) = &connect.will {
        flags |= WILL | ((will.qos as u8) << WILL_QOS_SHIFT);
        if will.retain {
            flags |= WILL_RETAIN;
        }
    }
    if connect.username.is_some() {
        flags |= USERNAME;
    }
    if connect.password.is_some() {
        flags |= PASSWORD;
    }
    out.put_u8(flags);
    out.put_u16(connect.keep_alive);
    if v5 {
        properties::write(&connect.properties, Context::Connect, body.properties, out);
    }
    write_prefixed(out, connect.client_id.as_bytes());
    if let Some(will) = &connect.will {
        if v5 {
            properties::write(&will.properties, Context::Will, body.will_properties, out);
        }
        write_prefixed(out, will.topic.as_bytes());
        write_prefixed(out, &will.payload);
    }
    if let Some(username) = &connect.username {
        write_prefixed(out, username.as_bytes());
    }
    if let Some(password) = &connect.password {
        write_prefixed(out, password);
    }
}

#[cfg(test)]
#[path = "connect_tests.rs"]
mod tests;
