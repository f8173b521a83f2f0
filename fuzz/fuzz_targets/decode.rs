//! Feeds arbitrary bytes to `hearth_mqtt::decode` as a connection would: before CONNECT
//! and in each protocol version, packet after packet.
//!
//! Beyond "never panics", every packet that decodes must encode without error to exactly
//! `encoded_len` bytes and decode from those bytes to the same packet, and the bytes it
//! came from must be reported incomplete when the last one is missing.

#![no_main]

use bytes::BytesMut;
use hearth_mqtt::{Packet, ProtocolVersion, decode, encode, encoded_len};
use libfuzzer_sys::fuzz_target;

const MAX_PACKET_SIZE: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    for version in [
        None,
        Some(ProtocolVersion::V3_1),
        Some(ProtocolVersion::V3_1_1),
        Some(ProtocolVersion::V5),
    ] {
        replay(data, version);
    }
});

fn replay(data: &[u8], mut version: Option<ProtocolVersion>) {
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.clone();
        let packet = match decode(&mut buf, version, MAX_PACKET_SIZE) {
            Ok(Some(packet)) => packet,
            Ok(None) | Err(_) => return,
        };
        let consumed = before.len() - buf.len();
        let mut short = BytesMut::from(&before[..consumed - 1]);
        assert_eq!(
            decode(&mut short, version, MAX_PACKET_SIZE),
            Ok(None),
            "a prefix decoded"
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
        assert_eq!(out.len(), encoded_len(&packet, dialect));
        let again = decode(&mut out, version, usize::MAX).expect("re-encoded packet decodes");
        assert_eq!(again.as_ref(), Some(&packet));
        assert!(out.is_empty());
        if let Packet::Connect(connect) = &packet {
            version = Some(connect.protocol);
        }
    }
}
