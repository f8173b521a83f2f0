//! MQTT 5 properties.
//!
//! One struct holds every property so that the broker can read any of them without
//! matching on packet type; the decoder rejects a property that is not allowed in the
//! packet it arrived in, and one that appears twice where the specification allows it
//! only once.

use bytes::Bytes;

use crate::types::ByteStr;

/// All v5 properties; `None`/empty means absent. Identifiers in comments.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Properties {
    /// 0x01, PUBLISH and will: 0 = unspecified bytes, 1 = UTF-8.
    pub payload_format_indicator: Option<u8>,
    /// 0x02, PUBLISH and will: seconds.
    pub message_expiry_interval: Option<u32>,
    /// 0x03, PUBLISH and will.
    pub content_type: Option<ByteStr>,
    /// 0x08, PUBLISH and will.
    pub response_topic: Option<ByteStr>,
    /// 0x09, PUBLISH and will.
    pub correlation_data: Option<Bytes>,
    /// 0x0B, variable byte integer 1..=268,435,455. SUBSCRIBE carries at most one; a
    /// PUBLISH sent to a subscriber may carry several (one per matching subscription).
    pub subscription_identifiers: Vec<u32>,
    /// 0x11, CONNECT, CONNACK, DISCONNECT: seconds.
    pub session_expiry_interval: Option<u32>,
    /// 0x12, CONNACK.
    pub assigned_client_identifier: Option<ByteStr>,
    /// 0x13, CONNACK: seconds.
    pub server_keep_alive: Option<u16>,
    /// 0x15, CONNECT, CONNACK, AUTH.
    pub authentication_method: Option<ByteStr>,
    /// 0x16, CONNECT, CONNACK, AUTH.
    pub authentication_data: Option<Bytes>,
    /// 0x17, CONNECT: 0 or 1.
    pub request_problem_information: Option<u8>,
    /// 0x18, will: seconds.
    pub will_delay_interval: Option<u32>,
    /// 0x19, CONNECT: 0 or 1.
    pub request_response_information: Option<u8>,
    /// 0x1A, CONNACK.
    pub response_information: Option<ByteStr>,
    /// 0x1C, CONNACK, DISCONNECT.
    pub server_reference: Option<ByteStr>,
    /// 0x1F, CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH.
    pub reason_string: Option<ByteStr>,
    /// 0x21, CONNECT, CONNACK: 1..=65,535 (0 is a protocol error).
    pub receive_maximum: Option<u16>,
    /// 0x22, CONNECT, CONNACK.
    pub topic_alias_maximum: Option<u16>,
    /// 0x23, PUBLISH: 1..=65,535 (0 is a protocol error).
    pub topic_alias: Option<u16>,
    /// 0x24, CONNACK: 0 or 1.
    pub maximum_qos: Option<u8>,
    /// 0x25, CONNACK.
    pub retain_available: Option<bool>,
    /// 0x26, every packet that has properties; order is kept and duplicates are allowed.
    pub user_properties: Vec<(ByteStr, ByteStr)>,
    /// 0x27, CONNECT, CONNACK: bytes, 1..=268,435,455 (0 is a protocol error).
    pub maximum_packet_size: Option<u32>,
    /// 0x28, CONNACK.
    pub wildcard_subscription_available: Option<bool>,
    /// 0x29, CONNACK.
    pub subscription_identifier_available: Option<bool>,
    /// 0x2A, CONNACK.
    pub shared_subscription_available: Option<bool>,
}

impl Properties {
    /// True when nothing is set, so encoders can write a zero-length property block and
    /// PUBACK-style packets can drop the block altogether.
    pub fn is_empty(&self) -> bool {
        *self == Properties::default()
    }
}
