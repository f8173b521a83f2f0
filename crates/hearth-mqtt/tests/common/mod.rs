//! The check shared by the property tests and the fuzz corpus replay (and mirrored by the
//! fuzz target): whatever `decode` accepts, `encode` must reproduce.

use bytes::BytesMut;
use hearth_mqtt::{Packet, ProtocolVersion, decode, encode, encoded_len};

pub const MAX_PACKET_SIZE: usize = 1 << 20;

/// Decodes `data` the way a connection would, starting in `version` (switching to the
/// CONNECT's version after one is decoded), until it runs out or hits an error. Every
/// decoded packet must be reported incomplete without its last byte, encode to exactly
/// `encoded_len` bytes, and decode from those to the same packet. Returns the packets.
pub fn replay(data: &[u8], mut version: Option<ProtocolVersion>) -> Vec<Packet> {
    let mut packets = Vec::new();
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.clone();
        let packet = match decode(&mut buf, version, MAX_PACKET_SIZE) {
            Ok(Some(packet)) => packet,
            Ok(None) | Err(_) => return packets,
        };
        let consumed = before.len() - buf.len();
        let mut short = BytesMut::from(&before[..consumed - 1]);
        assert_eq!(
            decode(&mut short, version, MAX_PACKET_SIZE),
            Ok(None),
            "a prefix of {packet:?} decoded"
        );
        assert_eq!(
            short.len(),
            consumed - 1,
            "an incomplete packet was consumed"
        );

        let dialect = match &packet {
            Packet::Connect(connect) => connect.protocol,
            _ => version.expect("only CONNECT decodes without a version"),
        };
        let mut out = BytesMut::new();
        encode(&packet, dialect, &mut out).expect("a decoded packet encodes");
        assert_eq!(
            out.len(),
            encoded_len(&packet, dialect),
            "encoded_len of {packet:?}"
        );
        let again = decode(&mut out, version, usize::MAX).expect("the re-encoded packet decodes");
        assert_eq!(again.as_ref(), Some(&packet), "re-encoded as {out:02x?}");
        assert!(out.is_empty(), "re-encoding left bytes behind");
        if let Packet::Connect(connect) = &packet {
            version = Some(connect.protocol);
        }
        packets.push(packet);
    }
}
