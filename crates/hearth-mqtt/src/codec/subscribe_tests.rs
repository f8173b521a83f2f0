//! Unit tests of SUBSCRIBE and SUBACK, with packets captured between mosquitto_sub and
//! mosquitto 2.0.11.

use super::*;
use crate::codec::test_util::{decode_one, encode_one, hex, roundtrip};
use crate::{ByteStr, Packet};
use ProtocolVersion::*;

fn filter(text: &str, options: SubscriptionOptions) -> SubscribeFilter {
    SubscribeFilter {
        filter: text.into(),
        options,
    }
}

fn qos(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions {
        qos,
        ..SubscriptionOptions::default()
    }
}

#[test]
fn mosquitto_subscribes() {
    let cases = [
        // mosquitto_sub -V mqttv311 -t 'devices/+/status' -q 1
        (
            V3_1_1,
            "821500010010646576696365732f2b2f73746174757301",
            Subscribe {
                packet_id: 1,
                filters: vec![filter("devices/+/status", qos(QoS::AtLeastOnce))],
                properties: Properties::default(),
            },
        ),
        // mosquitto_sub -V mqttv31 -t 'devices/#' -q 2
        (
            V3_1,
            "820e00010009646576696365732f2302",
            Subscribe {
                packet_id: 1,
                filters: vec![filter("devices/#", qos(QoS::ExactlyOnce))],
                properties: Properties::default(),
            },
        ),
        // mosquitto_sub -V mqttv5 -t 'devices/+/status' -t 'a/#' -q 2 -D subscribe subscription-identifier 7
        (
            V5,
            "821e0001020b070010646576696365732f2b2f737461747573020003612f2302",
            Subscribe {
                packet_id: 1,
                filters: vec![
                    filter("devices/+/status", qos(QoS::ExactlyOnce)),
                    filter("a/#", qos(QoS::ExactlyOnce)),
                ],
                properties: Properties {
                    subscription_identifiers: vec![7],
                    ..Properties::default()
                },
            },
        ),
    ];
    for (version, vector, expected) in cases {
        let bytes = hex(vector);
        let packet = Packet::Subscribe(expected);
        assert_eq!(decode_one(&bytes, Some(version)).unwrap(), packet);
        assert_eq!(encode_one(&packet, version), bytes);
    }
}

#[test]
fn mosquitto_subacks() {
    let cases = [
        (V3_1_1, "9003000101", vec![ReasonCode::GRANTED_QOS_1]),
        (V3_1, "9003000102", vec![ReasonCode::GRANTED_QOS_2]),
        (
            V5,
            "90050001000202",
            vec![ReasonCode::GRANTED_QOS_2, ReasonCode::GRANTED_QOS_2],
        ),
        (V5, "900400010000", vec![ReasonCode::GRANTED_QOS_0]),
    ];
    for (version, vector, reasons) in cases {
        let bytes = hex(vector);
        let packet = Packet::SubAck(SubAck {
            packet_id: 1,
            reasons,
            properties: Properties::default(),
        });
        assert_eq!(decode_one(&bytes, Some(version)).unwrap(), packet);
        assert_eq!(encode_one(&packet, version), bytes);
    }
}

#[test]
fn empty_subscribe_is_a_protocol_error() {
    let error = Err(DecodeError::Protocol("SUBSCRIBE without topic filters"));
    assert_eq!(decode_one(&[0x82, 0x02, 0x00, 0x01], Some(V3_1_1)), error);
    assert_eq!(decode_one(&[0x82, 0x03, 0x00, 0x01, 0x00], Some(V5)), error);
}

/// A SUBSCRIBE for `a` with options byte `options`.
fn with_options(options: u8, version: ProtocolVersion) -> Result<Packet, DecodeError> {
    let bytes: &[u8] = if version.is_v5() {
        &[0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b'a', options]
    } else {
        &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', options]
    };
    decode_one(bytes, Some(version))
}

#[test]
fn option_byte_rules() {
    let reserved = Err(DecodeError::Malformed(
        "reserved subscription option bits are set",
    ));
    for byte in [0x40, 0x80, 0xC1] {
        assert_eq!(with_options(byte, V5), reserved, "{byte:#04x}");
    }
    assert_eq!(
        with_options(0x30, V5),
        Err(DecodeError::Malformed("retain handling 3"))
    );
    for version in [V3_1, V3_1_1, V5] {
        assert_eq!(
            with_options(0x03, version),
            Err(DecodeError::Malformed("subscription with QoS 3"))
        );
    }
    // Bits that are options in v5 are reserved in 3.x.
    for version in [V3_1, V3_1_1] {
        for byte in [0x04, 0x08, 0x10, 0x80] {
            assert_eq!(with_options(byte, version), reserved, "{byte:#04x}");
        }
    }
    let Packet::Subscribe(subscribe) = with_options(0x2E, V5).unwrap() else {
        panic!("not a SUBSCRIBE")
    };
    let expected = SubscriptionOptions {
        qos: QoS::ExactlyOnce,
        no_local: true,
        retain_as_published: true,
        retain_handling: RetainHandling::DoNotSend,
    };
    assert_eq!(subscribe.filters[0].options, expected);
    assert_eq!(
        encode_one(&Packet::Subscribe(subscribe.clone()), V5)[8],
        0x2E
    );
    assert_eq!(
        encode_one(&Packet::Subscribe(subscribe), V3_1_1)[7],
        0x02,
        "only the QoS on 3.x"
    );
}

#[test]
fn field_rules() {
    assert_eq!(
        decode_one(
            &[0x82, 0x06, 0x00, 0x00, 0x00, 0x01, b'a', 0x00],
            Some(V3_1_1)
        ),
        Err(DecodeError::Protocol("packet identifier 0"))
    );
    assert!(
        matches!(
            decode_one(&[0x82, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'], Some(V3_1_1)),
            Err(DecodeError::Malformed(_))
        ),
        "no options"
    );
    assert!(
        matches!(
            decode_one(
                &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0xC0, 0x00],
                Some(V3_1_1)
            ),
            Err(DecodeError::Malformed(_))
        ),
        "UTF-8"
    );
    let two_ids = [
        0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, b'a', 0x00,
    ];
    assert_eq!(
        decode_one(&two_ids, Some(V5)),
        Err(DecodeError::Protocol("property appears more than once"))
    );
    let id_zero = [
        0x82, 0x09, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, b'a', 0x00,
    ];
    assert_eq!(
        decode_one(&id_zero, Some(V5)),
        Err(DecodeError::Protocol("subscription identifier 0"))
    );
    // Filters are the broker's to judge: an empty one and a misplaced wildcard decode.
    let Packet::Subscribe(odd) = decode_one(
        &[
            0x82, 0x0A, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x02, b'a', b'#', 0x00,
        ],
        Some(V3_1_1),
    )
    .unwrap() else {
        panic!("not a SUBSCRIBE")
    };
    assert_eq!(
        odd.filters
            .iter()
            .map(|f| f.filter.as_str())
            .collect::<Vec<_>>(),
        ["", "a#"]
    );
}

#[test]
fn v3_suback_has_one_failure_code() {
    let suback = SubAck {
        packet_id: 5,
        reasons: vec![
            ReasonCode::GRANTED_QOS_1,
            ReasonCode::NOT_AUTHORIZED,
            ReasonCode::UNSPECIFIED_ERROR,
        ],
        properties: Properties {
            reason_string: Some("no".into()),
            ..Properties::default()
        },
    };
    for version in [V3_1, V3_1_1] {
        assert_eq!(
            encode_one(&Packet::SubAck(suback.clone()), version),
            [0x90, 0x05, 0x00, 0x05, 0x01, 0x80, 0x80]
        );
    }
    roundtrip(&Packet::SubAck(suback), V5);
    let reserved = decode_one(&[0x90, 0x03, 0x00, 0x01, 0x03], Some(V3_1_1));
    assert_eq!(
        reserved,
        Err(DecodeError::Malformed("reserved SUBACK return code"))
    );
    let unknown_v5 = decode_one(&[0x90, 0x04, 0x00, 0x01, 0x00, 0x03], Some(V5)).unwrap();
    assert_eq!(
        unknown_v5,
        Packet::SubAck(SubAck {
            packet_id: 1,
            reasons: vec![ReasonCode(3)],
            properties: Properties::default()
        })
    );
}

#[test]
fn empty_suback_is_a_protocol_error() {
    let error = Err(DecodeError::Protocol("SUBACK without return codes"));
    assert_eq!(decode_one(&[0x90, 0x02, 0x00, 0x01], Some(V3_1_1)), error);
    assert_eq!(decode_one(&[0x90, 0x03, 0x00, 0x01, 0x00], Some(V5)), error);
}

#[test]
fn every_option_roundtrips_in_v5() {
    let handlings = [
        RetainHandling::SendAtSubscribe,
        RetainHandling::SendAtSubscribeIfNew,
        RetainHandling::DoNotSend,
    ];
    let mut filters = Vec::new();
    for (index, retain_handling) in handlings.into_iter().enumerate() {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let options = SubscriptionOptions {
                qos,
                no_local: index == 1,
                retain_as_published: index != 1,
                retain_handling,
            };
            filters.push(SubscribeFilter {
                filter: ByteStr::from(format!("$share/g/{index}/{}", qos as u8)),
                options,
            });
        }
    }
    let subscribe = Subscribe {
        packet_id: 42,
        filters,
        properties: Properties {
            subscription_identifiers: vec![268_435_455],
            user_properties: vec![("a".into(), "b".into())],
            ..Properties::default()
        },
    };
    roundtrip(&Packet::Subscribe(subscribe), V5);
}
