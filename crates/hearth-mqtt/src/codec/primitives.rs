//! Wire primitives shared by every packet (v5 §1.5, 3.1.1 §1.5): big-endian integers,
//! variable byte integers, length-prefixed strings and binary data, plus the topic name
//! rules that PUBLISH, wills and response topics share.
//!
//! Readers advance a `Bytes` cursor over one complete packet, so strings and binary data
//! come out as slices of the received buffer rather than copies, and a field that runs
//! past the end always means a malformed packet, never "wait for more bytes".

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{ByteStr, DecodeError, EncodeError, ProtocolVersion};

/// Every reader reports running out of bytes the same way: the length the peer declared
/// was too small for the fields it then sent.
const TRUNCATED: DecodeError = DecodeError::Malformed("a field runs past the end of the packet");

pub(super) fn read_u8(buf: &mut Bytes) -> Result<u8, DecodeError> {
    if buf.is_empty() {
        return Err(TRUNCATED);
    }
    Ok(buf.get_u8())
}

pub(super) fn read_u16(buf: &mut Bytes) -> Result<u16, DecodeError> {
    if buf.len() < 2 {
        return Err(TRUNCATED);
    }
    Ok(buf.get_u16())
}

pub(super) fn read_u32(buf: &mut Bytes) -> Result<u32, DecodeError> {
    if buf.len() < 4 {
        return Err(TRUNCATED);
    }
    Ok(buf.get_u32())
}

/// A packet identifier where one is required: zero is reserved for "none", so a peer
/// sending it has broken the protocol rather than the grammar.
pub(super) fn read_packet_id(buf: &mut Bytes) -> Result<u16, DecodeError> {
    match read_u16(buf)? {
        0 => Err(DecodeError::Protocol("packet identifier 0")),
        packet_id => Ok(packet_id),
    }
}

/// Decodes a variable byte integer from the start of `bytes`, giving the value and the
/// number of bytes it took. `Ok(None)` means `bytes` ends inside the integer, which for
/// the fixed header only means that more bytes are on their way.
///
/// Non-minimal encodings (0x80 0x00 for zero) are accepted: they are unambiguous, and
/// refusing them would protect nothing.
pub(super) fn parse_varint(bytes: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value = 0u32;
    for (index, &byte) in bytes.iter().take(4).enumerate() {
        value |= u32::from(byte & 0x7F) << (7 * index);
        if byte & 0x80 == 0 {
            return Ok(Some((value, index + 1)));
        }
    }
    if bytes.len() >= 4 {
        Err(DecodeError::Malformed(
            "variable byte integer longer than four bytes",
        ))
    } else {
        Ok(None)
    }
}

/// A variable byte integer inside a complete packet, where running out is malformed.
pub(super) fn read_varint(buf: &mut Bytes) -> Result<u32, DecodeError> {
    match parse_varint(buf)? {
        Some((value, len)) => {
            buf.advance(len);
            Ok(value)
        }
        None => Err(TRUNCATED),
    }
}

/// Two-byte length followed by that many bytes, shared with the packet (no copy).
pub(super) fn read_binary(buf: &mut Bytes) -> Result<Bytes, DecodeError> {
    let len = usize::from(read_u16(buf)?);
    if buf.len() < len {
        return Err(TRUNCATED);
    }
    Ok(buf.split_to(len))
}

pub(super) fn read_string(buf: &mut Bytes) -> Result<ByteStr, DecodeError> {
    ByteStr::from_bytes(read_binary(buf)?).ok_or(DecodeError::Malformed(
        "string is not valid UTF-8 or contains U+0000",
    ))
}

/// For packets whose fields leave no room for anything after them.
pub(super) fn expect_end(buf: &Bytes) -> Result<(), DecodeError> {
    if buf.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::Malformed(
            "unexpected bytes after the last field",
        ))
    }
}

/// Applies the topic name rules (v5 §4.7.3, 3.1.1 §4.7.3) to the topic of a PUBLISH or a
/// will: no wildcards, and not empty unless a v5 topic alias stands in for it.
///
/// A v3 peer only learns that its connection was closed, so the choice matters for v5
/// only, where the bytes parse fine but the protocol forbids them: a protocol error by
/// v5's own definition (§1.2), where 3.x calls every such packet malformed.
pub(super) fn check_topic_name(
    topic: &ByteStr,
    version: ProtocolVersion,
    has_alias: bool,
) -> Result<(), DecodeError> {
    let error = |message| {
        if version.is_v5() {
            DecodeError::Protocol(message)
        } else {
            DecodeError::Malformed(message)
        }
    };
    if topic.is_empty() && !has_alias {
        return Err(error("empty topic name"));
    }
    if has_wildcard(topic) {
        return Err(error("wildcard in topic name"));
    }
    Ok(())
}

pub(super) fn has_wildcard(topic: &str) -> bool {
    topic.bytes().any(|byte| byte == b'+' || byte == b'#')
}

/// Bytes a variable byte integer takes. Values above the four-byte maximum are caught
/// by the callers before anything is written.
pub(super) fn varint_len(value: usize) -> usize {
    match value {
        0..=0x7F => 1,
        0x80..=0x3FFF => 2,
        0x4000..=0x1F_FFFF => 3,
        _ => 4,
    }
}

pub(super) fn write_varint(out: &mut BytesMut, value: usize) {
    debug_assert!(value <= crate::MAX_REMAINING_LENGTH);
    let mut rest = value;
    loop {
        let low_bits = (rest & 0x7F) as u8;
        rest >>= 7;
        if rest == 0 {
            out.put_u8(low_bits);
            return;
        }
        out.put_u8(low_bits | 0x80);
    }
}

/// Encoded size of a length-prefixed string or binary field, refusing what the two-byte
/// prefix cannot express (`ByteStr` itself does not cap its length).
pub(super) fn prefixed_len(field: &'static str, len: usize) -> Result<usize, EncodeError> {
    if len > usize::from(u16::MAX) {
        return Err(EncodeError::TooLong { field, len });
    }
    Ok(2 + len)
}

/// Writes a field whose length [`prefixed_len`] has already accepted.
pub(super) fn write_prefixed(out: &mut BytesMut, bytes: &[u8]) {
    debug_assert!(bytes.len() <= usize::from(u16::MAX));
    out.put_u16(bytes.len() as u16);
    out.put_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Boundary values and their encodings from v5 §1.5.5 (table 1-1).
    const VARINTS: [(usize, &[u8]); 8] = [
        (0, &[0x00]),
        (127, &[0x7F]),
        (128, &[0x80, 0x01]),
        (16_383, &[0xFF, 0x7F]),
        (16_384, &[0x80, 0x80, 0x01]),
        (2_097_151, &[0xFF, 0xFF, 0x7F]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
        (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
    ];

    #[test]
    fn varint_matches_the_specification_table() {
        for (value, bytes) in VARINTS {
            let mut out = BytesMut::new();
            write_varint(&mut out, value);
            assert_eq!(&out[..], bytes, "encoding {value}");
            assert_eq!(varint_len(value), bytes.len());
            assert_eq!(parse_varint(bytes), Ok(Some((value as u32, bytes.len()))));
        }
    }

    #[test]
    fn varint_cut_short_is_incomplete_but_a_fifth_byte_is_malformed() {
        assert_eq!(parse_varint(&[]), Ok(None));
        assert_eq!(parse_varint(&[0x80, 0x80, 0x80]), Ok(None));
        assert!(matches!(
            parse_varint(&[0x80, 0x80, 0x80, 0x80]),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            parse_varint(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            Err(DecodeError::Malformed(_))
        ));
        let mut inside_packet = Bytes::from_static(&[0x80]);
        assert!(matches!(
            read_varint(&mut inside_packet),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn non_minimal_varint_is_accepted() {
        assert_eq!(parse_varint(&[0x80, 0x00]), Ok(Some((0, 2))));
    }

    #[test]
    fn strings_are_slices_of_the_packet() {
        let packet = Bytes::from_static(b"\x00\x03a/b\x00\x01x");
        let mut cursor = packet.clone();
        let topic = read_string(&mut cursor).unwrap();
        assert_eq!(topic.as_str(), "a/b");
        assert_eq!(topic.as_bytes().as_ptr(), packet[2..].as_ptr());
        assert_eq!(&read_binary(&mut cursor).unwrap()[..], b"x");
        assert!(expect_end(&cursor).is_ok());
    }

    #[test]
    fn bad_strings_are_malformed() {
        for bytes in [
            &b"\x00\x02\xC3\x28"[..],
            b"\x00\x03a\x00b",
            b"\x00\x05abc",
            b"\x00",
        ] {
            let mut cursor = Bytes::copy_from_slice(bytes);
            assert!(
                matches!(read_string(&mut cursor), Err(DecodeError::Malformed(_))),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn integers_and_packet_ids() {
        let mut cursor = Bytes::from_static(&[0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x00]);
        assert_eq!(read_u16(&mut cursor), Ok(0x1234));
        assert_eq!(read_u32(&mut cursor), Ok(0xDEAD_BEEF));
        assert_eq!(
            read_packet_id(&mut cursor),
            Err(DecodeError::Protocol("packet identifier 0"))
        );
        assert_eq!(read_u8(&mut cursor), Err(TRUNCATED));
        assert!(matches!(
            expect_end(&Bytes::from_static(b"x")),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn topic_name_rules_depend_on_version() {
        let wildcard = ByteStr::from("a/+");
        let empty = ByteStr::default();
        let v3 = ProtocolVersion::V3_1_1;
        let v5 = ProtocolVersion::V5;
        assert!(matches!(
            check_topic_name(&wildcard, v3, false),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            check_topic_name(&wildcard, v5, true),
            Err(DecodeError::Protocol(_))
        ));
        assert!(matches!(
            check_topic_name(&ByteStr::from("a/#"), v5, false),
            Err(DecodeError::Protocol(_))
        ));
        assert!(matches!(
            check_topic_name(&empty, v3, false),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            check_topic_name(&empty, v5, false),
            Err(DecodeError::Protocol(_))
        ));
        assert_eq!(check_topic_name(&empty, v5, true), Ok(()));
        assert_eq!(
            check_topic_name(&ByteStr::from("a/b c/$x"), v3, false),
            Ok(())
        );
    }

    #[test]
    fn prefixed_fields_are_capped_at_two_byte_lengths() {
        assert_eq!(prefixed_len("topic", 65_535), Ok(65_537));
        assert_eq!(
            prefixed_len("topic", 65_536),
            Err(EncodeError::TooLong {
                field: "topic",
                len: 65_536
            })
        );
        let mut out = BytesMut::new();
        write_prefixed(&mut out, b"ab");
        assert_eq!(&out[..], b"\x00\x02ab");
    }
}
