//! Tests of the entry points: buffering, limits and sequencing, across every packet
//! captured between mosquitto 2.0.11 and its clients.

use bytes::BytesMut;

use super::*;
use crate::codec::test_util::{MAX, decode_one, encode_one, hex};
use crate::{Publish, QoS};
use ProtocolVersion::*;

/// Every distinct packet seen on the wire between mosquitto and mosquitto_pub/sub, with
/// the version of its connection (`None` for CONNECT, which is decoded before one is
/// known).
const CAPTURED: [(Option<ProtocolVersion>, &str); 24] = [
    (
        None,
        "104300064d514973647003ee003c000a6865617274682d7633310011646576696365732f64312f73746174757300076f66666c696e650005616c6963650006736563726574",
    ),
    (None, "101700044d5154540402001e000b6865617274682d76333131"),
    (
        None,
        "105100044d51545405c6003c0f1100000e102100142600016b00017600096865617274682d763505180000000a0011646576696365732f64332f73746174757300076f66666c696e6500046465763300027077",
    ),
    (None, "101500064d51497364700302003c00077375622d763331"),
    (None, "101600044d5154540502003c0321000100067375622d7635"),
    (Some(V3_1), "20020000"),
    (Some(V5), "200900000622000a210014"),
    (
        Some(V3_1),
        "321d000f646576696365732f64312f6461746100017b2274223a32352e357d",
    ),
    (
        Some(V3_1_1),
        "351b0011646576696365732f64322f73746174757300016f6e6c696e65",
    ),
    (
        Some(V5),
        "325d000f646576696365732f64332f646174610001410300106170706c69636174696f6e2f6a736f6e020000003c260004756e6974000763656c73697573080010646576696365732f64332f7265706c790900036162637b2274223a32317d",
    ),
    (
        Some(V5),
        "351e0011646576696365732f64322f7374617475730001020b076f6e6c696e65",
    ),
    (Some(V3_1_1), "40020001"),
    (Some(V5), "4003000110"),
    (Some(V3_1_1), "50020001"),
    (Some(V3_1), "62020001"),
    (Some(V5), "70020001"),
    (
        Some(V3_1_1),
        "821500010010646576696365732f2b2f73746174757301",
    ),
    (
        Some(V5),
        "821e0001020b070010646576696365732f2b2f737461747573020003612f2302",
    ),
    (Some(V5), "90050001000202"),
    (Some(V3_1_1), "a21400020010646576696365732f2b2f737461747573"),
    (Some(V5), "a20f000207260001610001620003782f79"),
    (Some(V5), "b00400020000"),
    (Some(V3_1_1), "e000"),
    (Some(V5), "e00104"),
];

#[test]
fn every_captured_packet_decodes_and_reencodes_to_the_same_packet() {
    for (version, vector) in CAPTURED {
        let bytes = hex(vector);
        let packet = decode_one(&bytes, version).unwrap_or_else(|e| panic!("{vector}: {e}"));
        let encode_version = match &packet {
            Packet::Connect(connect) => connect.protocol,
            _ => version.unwrap(),
        };
        let again = encode_one(&packet, encode_version);
        assert_eq!(decode_one(&again, version).unwrap(), packet, "{vector}");
    }
}

#[test]
fn incomplete_input_at_every_split_point_consumes_nothing() {
    let large_publish = Packet::Publish(Publish {
        qos: QoS::AtLeastOnce,
        topic: "big".into(),
        packet_id: 3,
        payload: vec![7; 20_000].into(),
        ..Publish::default()
    });
    let large = encode_one(&large_publish, V5);
    assert_eq!(
        &large[..4],
        [0x32, 0xA8, 0x9C, 0x01],
        "a three-byte remaining length"
    );
    let cases = CAPTURED
        .iter()
        .map(|(version, vector)| (*version, hex(vector)))
        .chain([(Some(V5), large)]);
    for (version, bytes) in cases {
        for split in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..split]);
            assert_eq!(
                decode(&mut buf, version, MAX),
                Ok(None),
                "{} of {:02x?}",
                split,
                &bytes[..4.min(bytes.len())]
            );
            assert_eq!(&buf[..], &bytes[..split], "nothing consumed");
            // The rest arrives: the same buffer now yields the packet.
            buf.extend_from_slice(&bytes[split..]);
            assert!(decode(&mut buf, version, MAX).unwrap().is_some());
            assert!(buf.is_empty());
        }
    }
}

#[test]
fn too_large_is_reported_when_only_the_fixed_header_has_arrived() {
    // A PUBLISH announcing 2,097,152 bytes of body; none of them has arrived.
    let mut buf = BytesMut::from(&[0x30, 0x80, 0x80, 0x80, 0x01][..]);
    let expected = DecodeError::TooLarge {
        size: 2_097_157,
        max: 1_000_000,
    };
    assert_eq!(decode(&mut buf, Some(V5), 1_000_000), Err(expected.clone()));
    assert_eq!(expected.reason_code(), crate::ReasonCode::PACKET_TOO_LARGE);
    // CONNECT is held to the same limit before any version is known.
    let mut connect = BytesMut::from(&[0x10, 0xFF, 0x7F][..]);
    assert_eq!(
        decode(&mut connect, None, 1024),
        Err(DecodeError::TooLarge {
            size: 16_386,
            max: 1024
        })
    );
    // A packet of exactly the maximum is fine.
    let bytes = hex("4003000110");
    assert!(
        decode(&mut BytesMut::from(&bytes[..]), Some(V5), 5)
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        decode(&mut BytesMut::from(&bytes[..]), Some(V5), 4),
        Err(DecodeError::TooLarge { size: 5, max: 4 })
    ));
}

#[test]
fn packets_are_split_off_one_at_a_time() {
    let mut stream = hex("101700044d5154540402001e000b6865617274682d76333131");
    stream.extend(hex(
        "351b0011646576696365732f64322f73746174757300016f6e6c696e65",
    ));
    stream.extend(hex("c000 e000 e0"));
    let mut buf = BytesMut::from(&stream[..]);
    let Some(Packet::Connect(connect)) = decode(&mut buf, None, MAX).unwrap() else {
        panic!("CONNECT first")
    };
    let version = Some(connect.protocol);
    assert!(matches!(
        decode(&mut buf, version, MAX),
        Ok(Some(Packet::Publish(_)))
    ));
    assert_eq!(decode(&mut buf, version, MAX), Ok(Some(Packet::PingReq)));
    assert!(matches!(
        decode(&mut buf, version, MAX),
        Ok(Some(Packet::Disconnect(_)))
    ));
    assert_eq!(decode(&mut buf, version, MAX), Ok(None));
    assert_eq!(&buf[..], [0xE0], "the partial packet stays");
}

#[test]
fn connect_must_come_first_and_only_once() {
    let mut publish =
        BytesMut::from(&hex("351b0011646576696365732f64322f73746174757300016f6e6c696e65")[..]);
    assert_eq!(
        decode(&mut publish, None, MAX),
        Err(DecodeError::Protocol("first packet is not CONNECT"))
    );
    let connect = hex("101700044d5154540402001e000b6865617274682d76333131");
    for version in [V3_1, V3_1_1, V5] {
        let result = decode(&mut BytesMut::from(&connect[..]), Some(version), MAX);
        assert_eq!(result, Err(DecodeError::Protocol("second CONNECT")));
    }
}

#[test]
fn pings_have_no_body() {
    for version in [V3_1, V3_1_1, V5] {
        for (packet, first) in [(Packet::PingReq, 0xC0), (Packet::PingResp, 0xD0)] {
            assert_eq!(encode_one(&packet, version), [first, 0x00]);
            assert_eq!(decode_one(&[first, 0x00], Some(version)), Ok(packet));
            let with_body = decode_one(&[first, 0x01, 0x00], Some(version));
            assert_eq!(
                with_body,
                Err(DecodeError::Malformed(
                    "unexpected bytes after the last field"
                ))
            );
        }
    }
}

#[test]
fn encode_reserves_exactly_once() {
    let packet = Packet::Publish(Publish {
        qos: QoS::ExactlyOnce,
        topic: "devices/d1/data".into(),
        packet_id: 10,
        properties: crate::Properties {
            user_properties: vec![("unit".into(), "celsius".into())],
            ..crate::Properties::default()
        },
        payload: vec![1; 5000].into(),
        ..Publish::default()
    });
    for version in [V3_1_1, V5] {
        // Growing a Vec-backed buffer piecemeal would overshoot; one exact reservation
        // leaves capacity equal to the length.
        let mut out = BytesMut::new();
        encode(&packet, version, &mut out).unwrap();
        assert_eq!(out.capacity(), out.len());
        assert_eq!(out.len(), encoded_len(&packet, version));
        // With room already there, nothing moves.
        let mut roomy = BytesMut::with_capacity(8192);
        let pointer = roomy.as_ptr();
        encode(&packet, version, &mut roomy).unwrap();
        assert_eq!(roomy.as_ptr(), pointer);
    }
}

#[test]
fn encode_appends_after_existing_bytes() {
    let mut out = BytesMut::from(&b"\xC0\x00"[..]);
    encode(&Packet::PingResp, V3_1_1, &mut out).unwrap();
    assert_eq!(&out[..], [0xC0, 0x00, 0xD0, 0x00]);
}

#[test]
fn oversized_packets_are_refused() {
    assert_eq!(
        packet_len(MAX_REMAINING_LENGTH),
        Ok(1 + 4 + MAX_REMAINING_LENGTH)
    );
    assert_eq!(
        packet_len(MAX_REMAINING_LENGTH + 1),
        Err(EncodeError::TooLong {
            field: "packet",
            len: MAX_REMAINING_LENGTH + 1
        })
    );
}
