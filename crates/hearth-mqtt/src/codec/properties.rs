//! The v5 property block (v5 §2.2.2): a variable byte integer length, then identifier and
//! value pairs.
//!
//! Which properties a packet may carry is one table ([`allowed_in`]) used both ways: the
//! decoder rejects a property outside it as malformed (v5 §2.2.2.2), and the encoder
//! leaves such a property out, the same way it leaves out every v5 field on a v3
//! connection, so a `Properties` reused from another packet never produces bytes a peer
//! would refuse. Measuring and writing share one visitor for the same reason: the two
//! passes cannot disagree about which properties are written.

use bytes::{BufMut, Bytes, BytesMut};

use super::primitives::{
    has_wildcard, prefixed_len, read_binary, read_string, read_u8, read_u16, read_u32, read_varint,
    varint_len, write_prefixed, write_varint,
};
use crate::{ByteStr, DecodeError, EncodeError, MAX_REMAINING_LENGTH, Properties};

/// The places a property block can appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Context {
    Connect,
    Will,
    ConnAck,
    Publish,
    /// PUBACK, PUBREC, PUBREL and PUBCOMP.
    PubResponse,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth,
}

impl Context {
    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
const CONTENT_TYPE: u8 = 0x03;
const RESPONSE_TOPIC: u8 = 0x08;
const CORRELATION_DATA: u8 = 0x09;
const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
const SERVER_KEEP_ALIVE: u8 = 0x13;
const AUTHENTICATION_METHOD: u8 = 0x15;
const AUTHENTICATION_DATA: u8 = 0x16;
const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
const WILL_DELAY_INTERVAL: u8 = 0x18;
const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
const RESPONSE_INFORMATION: u8 = 0x1A;
const SERVER_REFERENCE: u8 = 0x1C;
const REASON_STRING: u8 = 0x1F;
const RECEIVE_MAXIMUM: u8 = 0x21;
const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
const TOPIC_ALIAS: u8 = 0x23;
const MAXIMUM_QOS: u8 = 0x24;
const RETAIN_AVAILABLE: u8 = 0x25;
const USER_PROPERTY: u8 = 0x26;
const MAXIMUM_PACKET_SIZE: u8 = 0x27;
const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;

/// The contexts (as a bit set of [`Context::bit`]) where property `id` may appear, from
/// v5 §2.2.2.2 table 2-4; 0 for identifiers the specification does not define.
const fn allowed_in(id: u8) -> u16 {
    use Context::*;
    const MESSAGE: u16 = Publish.bit() | Will.bit();
    const SESSION: u16 = Connect.bit() | ConnAck.bit();
    const AUTHENTICATION: u16 = Connect.bit() | ConnAck.bit() | Auth.bit();
    match id {
        PAYLOAD_FORMAT_INDICATOR
        | MESSAGE_EXPIRY_INTERVAL
        | CONTENT_TYPE
        | RESPONSE_TOPIC
        | CORRELATION_DATA => MESSAGE,
        SUBSCRIPTION_IDENTIFIER => Publish.bit() | Subscribe.bit(),
        SESSION_EXPIRY_INTERVAL => SESSION | Disconnect.bit(),
        AUTHENTICATION_METHOD | AUTHENTICATION_DATA => AUTHENTICATION,
        REQUEST_PROBLEM_INFORMATION | REQUEST_RESPONSE_INFORMATION => Connect.bit(),
        WILL_DELAY_INTERVAL => Will.bit(),
        SERVER_REFERENCE => ConnAck.bit() | Disconnect.bit(),
        REASON_STRING => {
            ConnAck.bit()
                | PubResponse.bit()
                | SubAck.bit()
                | UnsubAck.bit()
                | Disconnect.bit()
                | Auth.bit()
        }
        RECEIVE_MAXIMUM | TOPIC_ALIAS_MAXIMUM | MAXIMUM_PACKET_SIZE => SESSION,
        TOPIC_ALIAS => Publish.bit(),
        ASSIGNED_CLIENT_IDENTIFIER
        | SERVER_KEEP_ALIVE
        | RESPONSE_INFORMATION
        | MAXIMUM_QOS
        | RETAIN_AVAILABLE
        | WILDCARD_SUBSCRIPTION_AVAILABLE
        | SUBSCRIPTION_IDENTIFIER_AVAILABLE
        | SHARED_SUBSCRIPTION_AVAILABLE => ConnAck.bit(),
        USER_PROPERTY => u16::MAX,
        _ => 0,
    }
}

/// Reads a property block (length prefix included) for a packet of kind `context`.
///
/// Costs no allocation unless the block holds user properties or subscription
/// identifiers, the only properties that live in a `Vec`.
pub(super) fn read(buf: &mut Bytes, context: Context) -> Result<Properties, DecodeError> {
    let len = read_varint(buf)? as usize;
    if len > buf.len() {
        return Err(DecodeError::Malformed(
            "property length runs past the end of the packet",
        ));
    }
    let mut properties = Properties::default();
    if len == 0 {
        return Ok(properties);
    }
    let mut block = buf.split_to(len);
    while !block.is_empty() {
        let id = u8::try_from(read_varint(&mut block)?).unwrap_or(0);
        let allowed = allowed_in(id);
        if allowed == 0 {
            return Err(DecodeError::Malformed("unknown property identifier"));
        }
        if allowed & context.bit() == 0 {
            return Err(DecodeError::Malformed(
                "property not allowed in this packet",
            ));
        }
        read_value(id, &mut block, context, &mut properties)?;
    }
    Ok(properties)
}

fn read_value(
    id: u8,
    block: &mut Bytes,
    context: Context,
    properties: &mut Properties,
) -> Result<(), DecodeError> {
    let p = properties;
    match id {
        PAYLOAD_FORMAT_INDICATOR => {
            set_once(&mut p.payload_format_indicator, read_zero_or_one(block)?)
        }
        MESSAGE_EXPIRY_INTERVAL => set_once(&mut p.message_expiry_interval, read_u32(block)?),
        CONTENT_TYPE => set_once(&mut p.content_type, read_string(block)?),
        RESPONSE_TOPIC => {
            let topic = read_string(block)?;
            if has_wildcard(&topic) {
                return Err(DecodeError::Protocol("wildcard in response topic"));
            }
            set_once(&mut p.response_topic, topic)
        }
        CORRELATION_DATA => set_once(&mut p.correlation_data, read_binary(block)?),
        SUBSCRIPTION_IDENTIFIER => {
            let value = read_varint(block)?;
            if value == 0 {
                return Err(DecodeError::Protocol("subscription identifier 0"));
            }
            // A server may tag a delivered PUBLISH with one per matching subscription,
            // but a SUBSCRIBE creates exactly one subscription (v5 §3.8.2.1.2).
            if context == Context::Subscribe && !p.subscription_identifiers.is_empty() {
                return Err(DecodeError::Protocol("property appears more than once"));
            }
            p.subscription_identifiers.push(value);
            Ok(())
        }
        SESSION_EXPIRY_INTERVAL => set_once(&mut p.session_expiry_interval, read_u32(block)?),
        ASSIGNED_CLIENT_IDENTIFIER => {
            set_once(&mut p.assigned_client_identifier, read_string(block)?)
        }
        SERVER_KEEP_ALIVE => set_once(&mut p.server_keep_alive, read_u16(block)?),
        AUTHENTICATION_METHOD => set_once(&mut p.authentication_method, read_string(block)?),
        AUTHENTICATION_DATA => set_once(&mut p.authentication_data, read_binary(block)?),
        REQUEST_PROBLEM_INFORMATION => {
            set_once(&mut p.request_problem_information, read_zero_or_one(block)?)
        }
        WILL_DELAY_INTERVAL => set_once(&mut p.will_delay_interval, read_u32(block)?),
        REQUEST_RESPONSE_INFORMATION => set_once(
            &mut p.request_response_information,
            read_zero_or_one(block)?,
        ),
        RESPONSE_INFORMATION => set_once(&mut p.response_information, read_string(block)?),
        SERVER_REFERENCE => set_once(&mut p.server_reference, read_string(block)?),
        REASON_STRING => set_once(&mut p.reason_string, read_string(block)?),
        RECEIVE_MAXIMUM => set_once(
            &mut p.receive_maximum,
            read_nonzero_u16(block, "receive maximum 0")?,
        ),
        TOPIC_ALIAS_MAXIMUM => set_once(&mut p.topic_alias_maximum, read_u16(block)?),
        TOPIC_ALIAS => set_once(
            &mut p.topic_alias,
            read_nonzero_u16(block, "topic alias 0")?,
        ),
        MAXIMUM_QOS => set_once(&mut p.maximum_qos, read_zero_or_one(block)?),
        RETAIN_AVAILABLE => set_once(&mut p.retain_available, read_zero_or_one(block)? == 1),
        USER_PROPERTY => {
            let name = read_string(block)?;
            let value = read_string(block)?;
            p.user_properties.push((name, value));
            Ok(())
        }
        MAXIMUM_PACKET_SIZE => {
            let value = read_u32(block)?;
            if value == 0 {
                return Err(DecodeError::Protocol("maximum packet size 0"));
            }
            set_once(&mut p.maximum_packet_size, value)
        }
        WILDCARD_SUBSCRIPTION_AVAILABLE => set_once(
            &mut p.wildcard_subscription_available,
            read_zero_or_one(block)? == 1,
        ),
        SUBSCRIPTION_IDENTIFIER_AVAILABLE => set_once(
            &mut p.subscription_identifier_available,
            read_zero_or_one(block)? == 1,
        ),
        SHARED_SUBSCRIPTION_AVAILABLE => set_once(
            &mut p.shared_subscription_available,
            read_zero_or_one(block)? == 1,
        ),
        _ => Err(DecodeError::Malformed("unknown property identifier")),
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::Protocol("property appears more than once"));
    }
    *slot = Some(value);
    Ok(())
}

/// Flags and the maximum QoS, whose other values v5 calls a protocol error.
fn read_zero_or_one(block: &mut Bytes) -> Result<u8, DecodeError> {
    match read_u8(block)? {
        value @ (0 | 1) => Ok(value),
        _ => Err(DecodeError::Protocol("property value must be 0 or 1")),
    }
}

fn read_nonzero_u16(block: &mut Bytes, error: &'static str) -> Result<u16, DecodeError> {
    match read_u16(block)? {
        0 => Err(DecodeError::Protocol(error)),
        value => Ok(value),
    }
}

/// Content length of the block for `context` (without its length prefix), checking that
/// every value fits its field.
pub(super) fn measure(properties: &Properties, context: Context) -> Result<usize, EncodeError> {
    let mut counter = Counter(0);
    visit(properties, context, &mut counter)?;
    Ok(counter.0)
}

/// Bytes the block takes on the wire, length prefix included.
pub(super) fn block_len(content_len: usize) -> usize {
    varint_len(content_len) + content_len
}

/// Writes the length prefix and the block; `content_len` is what [`measure`] returned.
pub(super) fn write(
    properties: &Properties,
    context: Context,
    content_len: usize,
    out: &mut BytesMut,
) {
    write_varint(out, content_len);
    if content_len > 0 {
        let written = visit(properties, context, &mut Writer(out));
        debug_assert!(written.is_ok(), "measure accepted these properties");
    }
}

/// Receives each property the packet will carry: [`Counter`] sizes and validates them,
/// [`Writer`] puts them on the wire. Identifiers are all below 0x80, so each one is a
/// single byte.
trait Sink {
    fn byte(&mut self, id: u8, value: u8);
    fn two_bytes(&mut self, id: u8, value: u16);
    fn four_bytes(&mut self, id: u8, value: u32);
    fn varint(&mut self, id: u8, value: u32) -> Result<(), EncodeError>;
    fn prefixed(&mut self, id: u8, field: &'static str, value: &[u8]) -> Result<(), EncodeError>;
    fn pair(&mut self, id: u8, name: &[u8], value: &[u8]) -> Result<(), EncodeError>;
}

struct Counter(usize);

impl Sink for Counter {
    fn byte(&mut self, _id: u8, _value: u8) {
        self.0 += 2;
    }
    fn two_bytes(&mut self, _id: u8, _value: u16) {
        self.0 += 3;
    }
    fn four_bytes(&mut self, _id: u8, _value: u32) {
        self.0 += 5;
    }
    fn varint(&mut self, _id: u8, value: u32) -> Result<(), EncodeError> {
        if value as usize > MAX_REMAINING_LENGTH {
            return Err(EncodeError::Unrepresentable(
                "subscription identifier above 268,435,455",
            ));
        }
        self.0 += 1 + varint_len(value as usize);
        Ok(())
    }
    fn prefixed(&mut self, _id: u8, field: &'static str, value: &[u8]) -> Result<(), EncodeError> {
        self.0 += 1 + prefixed_len(field, value.len())?;
        Ok(())
    }
    fn pair(&mut self, _id: u8, name: &[u8], value: &[u8]) -> Result<(), EncodeError> {
        self.0 += 1
            + prefixed_len("user property name", name.len())?
            + prefixed_len("user property value", value.len())?;
        Ok(())
    }
}

struct Writer<'a>(&'a mut BytesMut);

impl Sink for Writer<'_> {
    fn byte(&mut self, id: u8, value: u8) {
        self.0.put_u8(id);
        self.0.put_u8(value);
    }
    fn two_bytes(&mut self, id: u8, value: u16) {
        self.0.put_u8(id);
        self.0.put_u16(value);
    }
    fn four_bytes(&mut self, id: u8, value: u32) {
        self.0.put_u8(id);
        self.0.put_u32(value);
    }
    fn varint(&mut self, id: u8, value: u32) -> Result<(), EncodeError> {
        self.0.put_u8(id);
        write_varint(self.0, value as usize);
        Ok(())
    }
    fn prefixed(&mut self, id: u8, _field: &'static str, value: &[u8]) -> Result<(), EncodeError> {
        self.0.put_u8(id);
        write_prefixed(self.0, value);
        Ok(())
    }
    fn pair(&mut self, id: u8, name: &[u8], value: &[u8]) -> Result<(), EncodeError> {
        self.0.put_u8(id);
        write_prefixed(self.0, name);
        write_prefixed(self.0, value);
        Ok(())
    }
}

fn text(value: &Option<ByteStr>) -> Option<&[u8]> {
    value.as_ref().map(|text| &text.as_bytes()[..])
}

/// Passes on to the sink only the present properties that `mask` allows.
struct Filter<'a, S> {
    sink: &'a mut S,
    mask: u16,
}

impl<S: Sink> Filter<'_, S> {
    fn allowed(&self, id: u8) -> bool {
        allowed_in(id) & self.mask != 0
    }
    fn byte(&mut self, id: u8, value: Option<u8>) {
        if let Some(value) = value
            && self.allowed(id)
        {
            self.sink.byte(id, value);
        }
    }
    fn flag(&mut self, id: u8, value: Option<bool>) {
        self.byte(id, value.map(u8::from));
    }
    fn two_bytes(&mut self, id: u8, value: Option<u16>) {
        if let Some(value) = value
            && self.allowed(id)
        {
            self.sink.two_bytes(id, value);
        }
    }
    fn four_bytes(&mut self, id: u8, value: Option<u32>) {
        if let Some(value) = value
            && self.allowed(id)
        {
            self.sink.four_bytes(id, value);
        }
    }
    fn prefixed(
        &mut self,
        id: u8,
        field: &'static str,
        value: Option<&[u8]>,
    ) -> Result<(), EncodeError> {
        match value {
            Some(value) if self.allowed(id) => self.sink.prefixed(id, field, value),
            _ => Ok(()),
        }
    }
}

/// Feeds every property `context` may carry to `sink`, in identifier order.
fn visit<S: Sink>(p: &Properties, context: Context, sink: &mut S) -> Result<(), EncodeError> {
    let mut out = Filter {
        sink,
        mask: context.bit(),
    };
    out.byte(PAYLOAD_FORMAT_INDICATOR, p.payload_format_indicator);
    out.four_bytes(MESSAGE_EXPIRY_INTERVAL, p.message_expiry_interval);
    out.prefixed(CONTENT_TYPE, "content type", text(&p.content_type))?;
    out.prefixed(RESPONSE_TOPIC, "response topic", text(&p.response_topic))?;
    out.prefixed(
        CORRELATION_DATA,
        "correlation data",
        p.correlation_data.as_deref(),
    )?;
    if out.allowed(SUBSCRIPTION_IDENTIFIER) {
        // A SUBSCRIBE carries at most one (see `read_value`).
        let limit = if context == Context::Subscribe {
            1
        } else {
            usize::MAX
        };
        for &value in p.subscription_identifiers.iter().take(limit) {
            out.sink.varint(SUBSCRIPTION_IDENTIFIER, value)?;
        }
    }
    out.four_bytes(SESSION_EXPIRY_INTERVAL, p.session_expiry_interval);
    out.prefixed(
        ASSIGNED_CLIENT_IDENTIFIER,
        "assigned client identifier",
        text(&p.assigned_client_identifier),
    )?;
    out.two_bytes(SERVER_KEEP_ALIVE, p.server_keep_alive);
    out.prefixed(
        AUTHENTICATION_METHOD,
        "authentication method",
        text(&p.authentication_method),
    )?;
    out.prefixed(
        AUTHENTICATION_DATA,
        "authentication data",
        p.authentication_data.as_deref(),
    )?;
    out.byte(REQUEST_PROBLEM_INFORMATION, p.request_problem_information);
    out.four_bytes(WILL_DELAY_INTERVAL, p.will_delay_interval);
    out.byte(REQUEST_RESPONSE_INFORMATION, p.request_response_information);
    out.prefixed(
        RESPONSE_INFORMATION,
        "response information",
        text(&p.response_information),
    )?;
    out.prefixed(
        SERVER_REFERENCE,
        "server reference",
        text(&p.server_reference),
    )?;
    out.prefixed(REASON_STRING, "reason string", text(&p.reason_string))?;
    out.two_bytes(RECEIVE_MAXIMUM, p.receive_maximum);
    out.two_bytes(TOPIC_ALIAS_MAXIMUM, p.topic_alias_maximum);
    out.two_bytes(TOPIC_ALIAS, p.topic_alias);
    out.byte(MAXIMUM_QOS, p.maximum_qos);
    out.flag(RETAIN_AVAILABLE, p.retain_available);
    for (name, value) in &p.user_properties {
        out.sink
            .pair(USER_PROPERTY, name.as_bytes(), value.as_bytes())?;
    }
    out.four_bytes(MAXIMUM_PACKET_SIZE, p.maximum_packet_size);
    out.flag(
        WILDCARD_SUBSCRIPTION_AVAILABLE,
        p.wildcard_subscription_available,
    );
    out.flag(
        SUBSCRIPTION_IDENTIFIER_AVAILABLE,
        p.subscription_identifier_available,
    );
    out.flag(
        SHARED_SUBSCRIPTION_AVAILABLE,
        p.shared_subscription_available,
    );
    Ok(())
}

#[cfg(test)]
#[path = "properties_tests.rs"]
mod tests;
