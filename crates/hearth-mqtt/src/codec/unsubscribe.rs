//! UNSUBSCRIBE and UNSUBACK (v5 §3.10-3.11, 3.1.1 §3.10-3.11).
//!
//! A 3.x UNSUBACK is only a packet identifier; v5 added one reason code per filter. The
//! encoder therefore drops `reasons` for 3.x, and the decoder gives 3.x an empty list.

use bytes::{BufMut, Bytes, BytesMut};

use super::BodyLen;
use super::primitives::{expect_end, prefixed_len, read_packet_id, read_string, write_prefixed};
use super::properties::{self, Context};
use crate::{
    DecodeError, EncodeError, Properties, ProtocolVersion, ReasonCode, UnsubAck, Unsubscribe,
};

pub(super) fn decode(
    mut body: Bytes,
    version: ProtocolVersion,
) -> Result<Unsubscribe, DecodeError> {
    let packet_id = read_packet_id(&mut body)?;
    let properties = if version.is_v5() {
        properties::read(&mut body, Context::Unsubscribe)?
    } else {
        Properties::default()
    };
    let mut filters = Vec::new();
    while !body.is_empty() {
        filters.push(read_string(&mut body)?);
    }
    if filters.is_empty() {
        return Err(DecodeError::Protocol("UNSUBSCRIBE without topic filters"));
    }
    Ok(Unsubscribe {
        packet_id,
        filters,
        properties,
    })
}

pub(super) fn measure(
    unsubscribe: &Unsubscribe,
    version: ProtocolVersion,
) -> Result<BodyLen, EncodeError> {
    let mut body = BodyLen::default();
    let mut remaining = 2;
    if version.is_v5() {
        body.properties = properties::measure(&unsubscribe.properties, Context::Unsubscribe)?;
        remaining += properties::block_len(body.properties);
    }
    for filter in &unsubscribe.filters {
        remaining += prefixed_len("topic filter", filter.len())?;
    }
    body.remaining = remaining;
    Ok(body)
}

pub(super) fn write(
    unsubscribe: &Unsubscribe,
    version: ProtocolVersion,
    body: &BodyLen,
    out: &mut BytesMut,
) {
    out.put_u16(unsubscribe.packet_id);
    if version.is_v5() {
        properties::write(
            &unsubscribe.properties,
            Context::Unsubscribe,
            body.properties,
            out,
        );
    }
    for filter in &unsubscribe.filters {
        write_prefixed(out, filter.as_bytes());
    }
}

pub(super) fn decode_ack(
    mut body: Bytes,
    version: ProtocolVersion,
) -> Result<UnsubAck, DecodeError> {
    let packet_id = read_packet_id(&mut body)?;
    if !version.is_v5() {
        expect_end(&body)?;
        return Ok(UnsubAck {
            packet_id,
            ..UnsubAck::default()
        });
    }
    let properties = properties::read(&mut body, Context::UnsubAck)?;
    if body.is_empty() {
        return Err(DecodeError::Protocol("UNSUBACK without reason codes"));
    }
    let reasons = body.iter().map(|&code| ReasonCode(code)).collect();
    Ok(UnsubAck {
        packet_id,
        reasons,
        properties,
    })
}

pub(super) fn measure_ack(
    unsuback: &UnsubAck,
    version: ProtocolVersion,
) -> Result<BodyLen, EncodeError> {
    if !version.is_v5() {
        return Ok(BodyLen::remaining(2));
    }
    let properties = properties::measure(&unsuback.properties, Context::UnsubAck)?;
    Ok(BodyLen {
        remaining: 2 + properties::block_len(properties) + unsuback.reasons.len(),
        properties,
        will_properties: 0,
    })
}

pub(super) fn write_ack(
    unsuback: &UnsubAck,
    version: ProtocolVersion,
    body: &BodyLen,
    out: &mut BytesMut,
) {
    out.put_u16(unsuback.packet_id);
    if version.is_v5() {
        properties::write(
            &unsuback.properties,
            Context::UnsubAck,
            body.properties,
            out,
        );
        for reason in &unsuback.reasons {
            out.put_u8(reason.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Packet;
    use crate::codec::test_util::{decode_one, encode_one, hex, roundtrip};
    use ProtocolVersion::*;

    #[test]
    fn mosquitto_unsubscribes() {
        // mosquitto_sub -V mqttv311 ... -U 'devices/+/status'
        let bytes = hex("a21400020010646576696365732f2b2f737461747573");
        let expected = Packet::Unsubscribe(Unsubscribe {
            packet_id: 2,
            filters: vec!["devices/+/status".into()],
            properties: Properties::default(),
        });
        assert_eq!(decode_one(&bytes, Some(V3_1_1)).unwrap(), expected);
        assert_eq!(encode_one(&expected, V3_1_1), bytes);
        // mosquitto_sub -V mqttv5 ... -U 'x/y' -D unsubscribe user-property a b
        let bytes = hex("a20f000207260001610001620003782f79");
        let expected = Packet::Unsubscribe(Unsubscribe {
            packet_id: 2,
            filters: vec!["x/y".into()],
            properties: Properties {
                user_properties: vec![("a".into(), "b".into())],
                ..Properties::default()
            },
        });
        assert_eq!(decode_one(&bytes, Some(V5)).unwrap(), expected);
        assert_eq!(encode_one(&expected, V5), bytes);
    }

    #[test]
    fn mosquitto_unsubacks() {
        let v3 = Packet::UnsubAck(UnsubAck {
            packet_id: 2,
            ..UnsubAck::default()
        });
        assert_eq!(decode_one(&hex("b0020002"), Some(V3_1_1)).unwrap(), v3);
        let bytes = hex("b00400020000");
        let v5 = Packet::UnsubAck(UnsubAck {
            packet_id: 2,
            reasons: vec![ReasonCode::SUCCESS],
            properties: Properties::default(),
        });
        assert_eq!(decode_one(&bytes, Some(V5)).unwrap(), v5);
        assert_eq!(encode_one(&v5, V5), bytes);
    }

    #[test]
    fn v3_unsuback_has_no_payload() {
        let unsuback = UnsubAck {
            packet_id: 7,
            reasons: vec![ReasonCode::NO_SUBSCRIPTION_EXISTED],
            properties: Properties {
                reason_string: Some("none".into()),
                ..Properties::default()
            },
        };
        for version in [V3_1, V3_1_1] {
            assert_eq!(
                encode_one(&Packet::UnsubAck(unsuback.clone()), version),
                [0xB0, 0x02, 0x00, 0x07]
            );
            let trailing = decode_one(&[0xB0, 0x03, 0x00, 0x07, 0x00], Some(version));
            assert_eq!(
                trailing,
                Err(DecodeError::Malformed(
                    "unexpected bytes after the last field"
                ))
            );
        }
        roundtrip(&Packet::UnsubAck(unsuback), V5);
    }

    #[test]
    fn validation() {
        let empty = Err(DecodeError::Protocol("UNSUBSCRIBE without topic filters"));
        assert_eq!(decode_one(&[0xA2, 0x02, 0x00, 0x01], Some(V3_1)), empty);
        assert_eq!(decode_one(&[0xA2, 0x03, 0x00, 0x01, 0x00], Some(V5)), empty);
        assert_eq!(
            decode_one(&[0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, b'a'], Some(V3_1_1)),
            Err(DecodeError::Protocol("packet identifier 0"))
        );
        assert!(matches!(
            decode_one(&[0xA2, 0x05, 0x00, 0x01, 0x00, 0x02, b'a'], Some(V3_1_1)),
            Err(DecodeError::Malformed(_))
        ));
        let empty_ack = decode_one(&[0xB0, 0x03, 0x00, 0x01, 0x00], Some(V5));
        assert_eq!(
            empty_ack,
            Err(DecodeError::Protocol("UNSUBACK without reason codes"))
        );
        // Subscription identifiers (0x0B) belong to SUBSCRIBE only.
        let not_allowed = [0xA2, 0x08, 0x00, 0x01, 0x02, 0x0B, 0x01, 0x00, 0x01, b'a'];
        assert_eq!(
            decode_one(&not_allowed, Some(V5)),
            Err(DecodeError::Malformed(
                "property not allowed in this packet"
            ))
        );
    }

    #[test]
    fn several_filters_roundtrip() {
        for version in [V3_1, V3_1_1, V5] {
            let unsubscribe = Unsubscribe {
                packet_id: 65_535,
                filters: vec!["a".into(), "".into(), "$SYS/#".into(), "\u{1F600}/+".into()],
                properties: Properties::default(),
            };
            roundtrip(&Packet::Unsubscribe(unsubscribe), version);
        }
    }
}
