//! Decoding errors, each mapped to the reason code the broker answers with.

use crate::types::ReasonCode;

/// Why bytes could not be turned into a packet. Not enough bytes yet is not an error:
/// [`crate::decode`] returns `Ok(None)` for that, so the hot path never builds an error
/// value for an ordinary short read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes break the packet grammar (bad remaining length, bad UTF-8, reserved
    /// flags set, a field running past the end of the packet...).
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    /// Well-formed bytes that the protocol forbids here (second CONNECT, packet id 0,
    /// property not allowed in this packet, empty SUBSCRIBE...).
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    /// The remaining length announces more than the configured maximum; reported as soon
    /// as the fixed header is read, before the body is buffered.
    #[error("packet of {size} bytes exceeds the maximum of {max}")]
    TooLarge { size: usize, max: usize },
    /// CONNECT named a protocol name or level this codec does not speak. Carries the
    /// level so the broker can answer in a dialect the client understands.
    #[error("unsupported protocol {name:?} level {level}")]
    UnsupportedProtocol { name: String, level: u8 },
}

impl DecodeError {
    /// The v5 reason code for the DISCONNECT (or CONNACK) the broker sends before closing.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            DecodeError::Malformed(_) => ReasonCode::MALFORMED_PACKET,
            DecodeError::Protocol(_) => ReasonCode::PROTOCOL_ERROR,
            DecodeError::TooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
            DecodeError::UnsupportedProtocol { .. } => ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
        }
    }
}

/// Why a packet could not be encoded. `encode` checks everything before writing, so on
/// error the output buffer is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A field (or the whole packet) does not fit its length prefix.
    #[error("{field} is {len} bytes, more than MQTT can carry")]
    TooLong { field: &'static str, len: usize },
    /// The packet or a value in it has no spelling in the requested version: AUTH on an
    /// MQTT 3 connection, a subscription identifier above 268,435,455. Both are caller
    /// bugs, but silently writing something else would hide them from the peer's logs
    /// only to surface as a disconnect.
    #[error("{0} cannot be encoded")]
    Unrepresentable(&'static str),
}
