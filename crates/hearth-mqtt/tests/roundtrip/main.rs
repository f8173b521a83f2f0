//! Property tests of the codec as a whole.
//!
//! - Every packet type, in every version where it exists: an arbitrary valid packet
//!   encodes to `encoded_len` bytes and decodes back to itself, and no strict prefix of
//!   its encoding decodes.
//! - Arbitrary bytes, and valid packets with one byte changed, never make `decode` panic,
//!   and whatever it accepts re-encodes to the same packet.
//!
//! The strategies generate only what the protocol allows (e.g. no DUP on QoS 0, only the
//! properties a packet may carry, 3.x CONNACK codes that 3.x can express), since the
//! codec is entitled to refuse or drop anything else.

#[path = "../common/mod.rs"]
mod common;
mod strategies;

use ProtocolVersion::*;
use bytes::{Bytes, BytesMut};
use hearth_mqtt::*;
use proptest::collection::vec;
use proptest::prelude::*;

use strategies::*;

fn decode_version(packet: &Packet, version: ProtocolVersion) -> Option<ProtocolVersion> {
    if matches!(packet, Packet::Connect(_)) {
        None
    } else {
        Some(version)
    }
}

/// Encodes `packet`, checks `encoded_len`, and decodes it back.
fn assert_roundtrip(version: ProtocolVersion, packet: &Packet) -> Result<(), TestCaseError> {
    let mut out = BytesMut::new();
    encode(packet, version, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(out.len(), encoded_len(packet, version));
    let decoded = decode(
        &mut out,
        decode_version(packet, version),
        common::MAX_PACKET_SIZE,
    );
    prop_assert_eq!(decoded, Ok(Some(packet.clone())));
    prop_assert!(out.is_empty());
    Ok(())
}

proptest! {
    #[test]
    fn connect_roundtrips((version, packet) in in_versions(connect, ALL)) {
        assert_roundtrip(version, &packet)?;
    }

    #[test]
    fn connack_roundtrips((version, packet) in in_versions(connack, ALL)) {
        assert_roundtrip(version, &packet)?;
    }

    #[test]
    fn publish_roundtrips((version, packet) in in_versions(publish, ALL)) {
        assert_roundtrip(version, &packet)?;
    }

    #[test]
    fn puback_pubrec_pubrel_pubcomp_roundtrip((version, packet) in in_versions(pub_response, ALL)) {
        assert_roundtrip(version, &packet)?;
    }

    #[test]
    fn subscribe_roundtrips((version, packet) in in_versions(subscribe, ALL)) {
        assert_roundtrip(version, &packet)?;
    }

    #[test]
    fn suback_roundtrips((version, packet) in in_versions(suback, ALL)) {
        assert_roundtrip(version, &packet)?;
    }

    #[test]
    fn unsubscribe_roundtrips((version, packet) in in_versions(unsubscribe, ALL)) {
        assert_roundtrip(version, &packet)?;
    }

    #[test]
    fn unsuback_roundtrips((version, packet) in in_versions(unsuback, ALL)) {
        assert_roundtrip(version, &packet)?;
    }

    #[test]
    fn pingreq_pingresp_roundtrip((version, packet) in in_versions(ping, ALL)) {
        assert_roundtrip(version, &packet)?;
    }

    #[test]
    fn disconnect_roundtrips((version, packet) in in_versions(disconnect, ALL)) {
        assert_roundtrip(version, &packet)?;
    }

    #[test]
    fn auth_roundtrips((version, packet) in in_versions(auth, &[V5])) {
        assert_roundtrip(version, &packet)?;
    }

    #[test]
    fn no_strict_prefix_of_a_packet_decodes((version, packet) in any_packet()) {
        let mut out = BytesMut::new();
        encode(&packet, version, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for len in 0..out.len() {
            let mut prefix = BytesMut::from(&out[..len]);
            prop_assert_eq!(decode(&mut prefix, decode_version(&packet, version), common::MAX_PACKET_SIZE), Ok(None));
            prop_assert_eq!(prefix.len(), len);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic_and_decoded_packets_reencode(data in vec(any::<u8>(), 0..512)) {
        for version in [None, Some(V3_1), Some(V3_1_1), Some(V5)] {
            common::replay(&data, version);
        }
    }

    /// Random bytes rarely get past the fixed header; a plausible header in front of a
    /// random body reaches the packet decoders.
    #[test]
    fn random_bodies_behind_a_valid_header(first in any::<u8>(), body in vec(any::<u8>(), 0..100)) {
        let mut data = vec![first, body.len() as u8];
        data.extend_from_slice(&body);
        for version in [None, Some(V3_1), Some(V3_1_1), Some(V5)] {
            common::replay(&data, version);
        }
    }

    /// One byte changed in a valid packet: decoding must fail cleanly or give a packet
    /// that survives its own roundtrip.
    #[test]
    fn mutated_packets(
        (version, packet) in any_packet(),
        position in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        let mut out = BytesMut::new();
        encode(&packet, version, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut data = out.to_vec();
        let index = position.index(data.len());
        data[index] = value;
        common::replay(&data, decode_version(&packet, version));
    }
}

#[test]
fn replay_follows_a_session_across_the_connect() {
    // CONNECT v5, then a PUBLISH that only parses with properties, then PINGREQ.
    let mut stream = BytesMut::new();
    let connect = Connect {
        protocol: V5,
        clean_start: true,
        keep_alive: 30,
        client_id: "c".into(),
        will: None,
        username: None,
        password: None,
        properties: Properties::default(),
    };
    encode(&Packet::Connect(Box::new(connect)), V5, &mut stream).unwrap();
    let publish = Publish {
        topic: "t".into(),
        payload: Bytes::from_static(b"x"),
        ..Publish::default()
    };
    encode(&Packet::Publish(publish), V5, &mut stream).unwrap();
    encode(&Packet::PingReq, V5, &mut stream).unwrap();
    let packets = common::replay(&stream, None);
    assert_eq!(packets.len(), 3);
    assert!(matches!(packets[1], Packet::Publish(ref publish) if &publish.payload[..] == b"x"));
}
