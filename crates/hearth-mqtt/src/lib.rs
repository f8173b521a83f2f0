//! MQTT 3.1, 3.1.1 and 5.0 control packets and their wire format.
//!
//! This crate does no I/O. [`decode`] takes bytes from a read buffer and gives back at
//! most one [`Packet`], sharing the buffer's memory for topics and payloads
//! ([`bytes::Bytes`]) instead of copying them, and checking every limit (maximum packet
//! size, string lengths, flags) while it reads rather than after. [`encode`] appends a
//! packet to a write buffer in the dialect of the connection.
//!
//! # Layout
//! - `types`: protocol version, QoS, reason codes, [`ByteStr`].
//! - `properties`: the v5 property set.
//! - `packet`: the packet structs.
//! - `codec`: entry points [`decode`] / [`encode`] / [`encoded_len`]; `codec/` has one file
//!   per packet and the primitives (variable byte integers, strings, properties).
//! - `error`: [`DecodeError`] with its reason code, [`EncodeError`].

mod codec;
mod error;
mod packet;
mod properties;
mod types;

pub use codec::{decode, encode, encoded_len};
pub use error::{DecodeError, EncodeError};
pub use packet::*;
pub use properties::Properties;
pub use types::{ByteStr, ProtocolVersion, QoS, ReasonCode, RetainHandling};

/// Largest remaining length the variable byte integer can express (v5 §1.5.5).
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;
