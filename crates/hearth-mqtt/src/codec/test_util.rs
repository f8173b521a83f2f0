//! Helpers for the codec's unit tests: hex vectors in, packets out, and the checks every
//! test wants after a decode or an encode.

use bytes::BytesMut;

use crate::{DecodeError, Packet, ProtocolVersion, decode, encode, encoded_len};

/// Large enough for every test vector; the size limit has its own tests.
pub(super) const MAX: usize = 1 << 20;

pub(super) fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// Decodes `bytes` as exactly one packet, checking that a success consumed all of it.
pub(super) fn decode_one(
    bytes: &[u8],
    version: Option<ProtocolVersion>,
) -> Result<Packet, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    match decode(&mut buf, version, MAX)? {
        Some(packet) => {
            assert!(
                buf.is_empty(),
                "{} left {} bytes behind",
                packet.kind(),
                buf.len()
            );
            Ok(packet)
        }
        None => panic!("incomplete packet: {bytes:02x?}"),
    }
}

/// Encodes `packet`, checking `encoded_len` against what was written.
pub(super) fn encode_one(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(packet, version, &mut out).unwrap_or_else(|e| panic!("encoding {}: {e}", packet.kind()));
    assert_eq!(
        encoded_len(packet, version),
        out.len(),
        "encoded_len of {}",
        packet.kind()
    );
    out.to_vec()
}

/// Encodes and decodes again, checking that the packet survives unchanged.
pub(super) fn roundtrip(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let bytes = encode_one(packet, version);
    let decode_version = if matches!(packet, Packet::Connect(_)) {
        None
    } else {
        Some(version)
    };
    assert_eq!(
        &decode_one(&bytes, decode_version).unwrap(),
        packet,
        "roundtrip of {bytes:02x?}"
    );
    bytes
}
