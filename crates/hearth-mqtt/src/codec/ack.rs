//! PUBACK, PUBREC, PUBREL and PUBCOMP (v5 §3.4-3.7, 3.1.1 §3.4-3.7): a packet
//! identifier, and in v5 a reason code and properties that may each be left off.
//!
//! v5 lets the sender drop the reason code when it is success and nothing follows, and
//! the property length when there are no properties (v5 §3.4.2.1). The encoder uses the
//! shortest form, which is also the only form a 3.x peer understands for success, and
//! the decoder accepts all three.

use bytes::{BufMut, Bytes, BytesMut};

use super::BodyLen;
use super::primitives::{expect_end, read_packet_id, read_u8};
use super::properties::{self, Context};
use crate::{DecodeError, EncodeError, ProtocolVersion, PubResponse, ReasonCode};

pub(super) fn decode(
    mut body: Bytes,
    version: ProtocolVersion,
) -> Result<PubResponse, DecodeError> {
    let packet_id = read_packet_id(&mut body)?;
    let mut response = PubResponse::new(packet_id, ReasonCode::SUCCESS);
    if version.is_v5() && !body.is_empty() {
        response.reason = ReasonCode(read_u8(&mut body)?);
        if !body.is_empty() {
            response.properties = properties::read(&mut body, Context::PubResponse)?;
        }
    }
    expect_end(&body)?;
    Ok(response)
}

pub(super) fn measure(
    response: &PubResponse,
    version: ProtocolVersion,
) -> Result<BodyLen, EncodeError> {
    if !version.is_v5() {
        return Ok(BodyLen::remaining(2));
    }
    let properties = properties::measure(&response.properties, Context::PubResponse)?;
    let remaining = match (response.reason, properties) {
        (ReasonCode::SUCCESS, 0) => 2,
        (_, 0) => 3,
        (_, properties) => 3 + properties::block_len(properties),
    };
    Ok(BodyLen {
        remaining,
        properties,
        will_properties: 0,
    })
}

pub(super) fn write(
    response: &PubResponse,
    version: ProtocolVersion,
    body: &BodyLen,
    out: &mut BytesMut,
) {
    out.put_u16(response.packet_id);
    if body.remaining >= 3 {
        out.put_u8(response.reason.0);
    }
    if body.remaining >= 4 {
        debug_assert!(version.is_v5());
        properties::write(
            &response.properties,
            Context::PubResponse,
            body.properties,
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::{decode_one, encode_one, roundtrip};
    use crate::{Packet, Properties};
    use ProtocolVersion::*;

    const ALL: [ProtocolVersion; 3] = [V3_1, V3_1_1, V5];

    /// Wraps `response` as each of the four packet types, with its first byte.
    fn each_kind(response: PubResponse) -> [(Packet, u8); 4] {
        [
            (Packet::PubAck(response.clone()), 0x40),
            (Packet::PubRec(response.clone()), 0x50),
            (Packet::PubRel(response.clone()), 0x62),
            (Packet::PubComp(response), 0x70),
        ]
    }

    #[test]
    fn captured_short_forms() {
        // Mosquitto sends these to every version: packet id 1, nothing else.
        for version in ALL {
            for (packet, first) in each_kind(PubResponse::new(1, ReasonCode::SUCCESS)) {
                let bytes = [first, 0x02, 0x00, 0x01];
                assert_eq!(decode_one(&bytes, Some(version)).unwrap(), packet);
                assert_eq!(encode_one(&packet, version), bytes);
            }
        }
        // Mosquitto's v5 PUBACK when nobody subscribed: reason 0x10, no property length.
        let bytes = [0x40, 0x03, 0x00, 0x01, 0x10];
        let expected = Packet::PubAck(PubResponse::new(1, ReasonCode::NO_MATCHING_SUBSCRIBERS));
        assert_eq!(decode_one(&bytes, Some(V5)).unwrap(), expected);
        assert_eq!(encode_one(&expected, V5), bytes);
    }

    #[test]
    fn v5_long_forms() {
        // Success with an explicit empty property block decodes like the short form.
        let packet = decode_one(&[0x50, 0x04, 0x12, 0x34, 0x00, 0x00], Some(V5)).unwrap();
        assert_eq!(
            packet,
            Packet::PubRec(PubResponse::new(0x1234, ReasonCode::SUCCESS))
        );
        assert_eq!(encode_one(&packet, V5), [0x50, 0x02, 0x12, 0x34]);
        let with_reason_string = PubResponse {
            packet_id: 9,
            reason: ReasonCode::SUCCESS,
            properties: Properties {
                reason_string: Some("ok".into()),
                ..Properties::default()
            },
        };
        for (packet, first) in each_kind(with_reason_string) {
            assert_eq!(
                roundtrip(&packet, V5),
                [
                    first, 0x09, 0x00, 0x09, 0x00, 0x05, 0x1F, 0x00, 0x02, b'o', b'k'
                ]
            );
        }
    }

    #[test]
    fn v3_writes_only_the_packet_id() {
        let failure = PubResponse {
            packet_id: 2,
            reason: ReasonCode::PACKET_IDENTIFIER_NOT_FOUND,
            properties: Properties {
                reason_string: Some("gone".into()),
                ..Properties::default()
            },
        };
        for version in [V3_1, V3_1_1] {
            for (packet, first) in each_kind(failure.clone()) {
                assert_eq!(encode_one(&packet, version), [first, 0x02, 0x00, 0x02]);
            }
        }
        // Properties a response may not carry are left out, so success stays short.
        let odd = PubResponse {
            properties: Properties {
                content_type: Some("x".into()),
                ..Properties::default()
            },
            ..PubResponse::new(3, ReasonCode::SUCCESS)
        };
        assert_eq!(
            encode_one(&Packet::PubAck(odd), V5),
            [0x40, 0x02, 0x00, 0x03]
        );
    }

    #[test]
    fn validation() {
        for version in ALL {
            for (_, first) in each_kind(PubResponse::default()) {
                assert_eq!(
                    decode_one(&[first, 0x02, 0x00, 0x00], Some(version)),
                    Err(DecodeError::Protocol("packet identifier 0"))
                );
                assert!(matches!(
                    decode_one(&[first, 0x01, 0x05], Some(version)),
                    Err(DecodeError::Malformed(_))
                ));
            }
        }
        for version in [V3_1, V3_1_1] {
            let trailing = decode_one(&[0x40, 0x03, 0x00, 0x01, 0x00], Some(version));
            assert_eq!(
                trailing,
                Err(DecodeError::Malformed(
                    "unexpected bytes after the last field"
                ))
            );
        }
        let not_allowed = [0x40, 0x06, 0x00, 0x01, 0x00, 0x02, 0x23, 0x01];
        assert_eq!(
            decode_one(&not_allowed, Some(V5)),
            Err(DecodeError::Malformed(
                "property not allowed in this packet"
            ))
        );
        let past_block = [0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00];
        assert_eq!(
            decode_one(&past_block, Some(V5)),
            Err(DecodeError::Malformed(
                "unexpected bytes after the last field"
            ))
        );
    }
}
