//! Wire format. TO BE WRITTEN: see the crate docs for the contract.

use bytes::BytesMut;

use crate::{DecodeError, EncodeError, Packet, ProtocolVersion};

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
pub fn decode(
    buf: &mut BytesMut,
    version: Option<ProtocolVersion>,
    max_packet_size: usize,
) -> Result<Option<Packet>, DecodeError> {
    let _ = (buf, version, max_packet_size);
    todo!()
}

/// Appends `packet` to `out` as `version` spells it.
pub fn encode(packet: &Packet, version: ProtocolVersion, out: &mut BytesMut) -> Result<(), EncodeError> {
    let _ = (packet, version, out);
    todo!()
}

/// Bytes `encode` would append (fixed header included), so the broker can respect a
/// client's maximum packet size without encoding first.
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> usize {
    let _ = (packet, version);
    todo!()
}
