//! CONNACK (v5 §3.2, 3.1.1 §3.2): acknowledge flags, a reason (v5) or return code (3.x),
//! and in v5 the server's properties.
//!
//! The packet always holds a v5 reason code; 3.x return codes are mapped on the way in
//! and out ([`ReasonCode::from_v3_connack`], [`ReasonCode::to_v3_connack`]) so the broker
//! never needs to know which one the client speaks.

use bytes::{BufMut, Bytes, BytesMut};

use super::BodyLen;
use super::primitives::{expect_end, read_u8};
use super::properties::{self, Context};
use crate::{ConnAck, DecodeError, EncodeError, Properties, ProtocolVersion, ReasonCode};

const SESSION_PRESENT: u8 = 0x01;

pub(super) fn decode(mut body: Bytes, version: ProtocolVersion) -> Result<ConnAck, DecodeError> {
    let flags = read_u8(&mut body)?;
    let code = read_u8(&mut body)?;
    // MQTT 3.1 had no session present flag: the byte was reserved and unused, so it is
    // ignored rather than judged.
    let session_present = match version {
        ProtocolVersion::V3_1 => false,
        _ if flags & !SESSION_PRESENT != 0 => {
            return Err(DecodeError::Malformed("CONNACK reserved flags are set"));
        }
        _ => flags & SESSION_PRESENT != 0,
    };
    let (reason, properties) = if version.is_v5() {
        (
            ReasonCode(code),
            properties::read(&mut body, Context::ConnAck)?,
        )
    } else {
        let reason = ReasonCode::from_v3_connack(code)
            .ok_or(DecodeError::Malformed("reserved CONNACK return code"))?;
        (reason, Properties::default())
    };
    expect_end(&body)?;
    Ok(ConnAck {
        session_present,
        reason,
        properties,
    })
}

pub(super) fn measure(connack: &ConnAck, version: ProtocolVersion) -> Result<BodyLen, EncodeError> {
    if !version.is_v5() {
        return Ok(BodyLen::remaining(2));
    }
    let properties = properties::measure(&connack.properties, Context::ConnAck)?;
    Ok(BodyLen {
        remaining: 2 + properties::block_len(properties),
        properties,
        will_properties: 0,
    })
}

pub(super) fn write(
    connack: &ConnAck,
    version: ProtocolVersion,
    body: &BodyLen,
    out: &mut BytesMut,
) {
    let session_present = connack.session_present && version != ProtocolVersion::V3_1;
    out.put_u8(u8::from(session_present));
    if version.is_v5() {
        out.put_u8(connack.reason.0);
        properties::write(&connack.properties, Context::ConnAck, body.properties, out);
    } else {
        out.put_u8(connack.reason.to_v3_connack());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Packet;
    use crate::codec::test_util::{decode_one, encode_one, hex, roundtrip};
    use ProtocolVersion::*;

    fn connack(packet: Packet) -> ConnAck {
        match packet {
            Packet::ConnAck(connack) => connack,
            other => panic!("expected CONNACK, got {}", other.kind()),
        }
    }

    #[test]
    fn mosquitto_connacks() {
        for version in [V3_1, V3_1_1] {
            let decoded = connack(decode_one(&hex("20020000"), Some(version)).unwrap());
            assert_eq!(decoded, ConnAck::default());
            roundtrip(&Packet::ConnAck(decoded), version);
        }
        // Mosquitto 2.0.11 answering a v5 client: topic alias maximum 10, receive maximum 20.
        let bytes = hex("200900000622000a210014");
        let decoded = connack(decode_one(&bytes, Some(V5)).unwrap());
        let expected = ConnAck {
            session_present: false,
            reason: ReasonCode::SUCCESS,
            properties: Properties {
                topic_alias_maximum: Some(10),
                receive_maximum: Some(20),
                ..Properties::default()
            },
        };
        assert_eq!(decoded, expected);
        // Mosquitto writes 0x22 before 0x21; ours come in identifier order.
        assert_eq!(
            roundtrip(&Packet::ConnAck(expected), V5),
            hex("200900000621001422000a")
        );
    }

    #[test]
    fn v3_return_codes_map_to_reason_codes_and_back() {
        let table = [
            (0x00, ReasonCode::SUCCESS),
            (0x01, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION),
            (0x02, ReasonCode::CLIENT_IDENTIFIER_NOT_VALID),
            (0x03, ReasonCode::SERVER_UNAVAILABLE),
            (0x04, ReasonCode::BAD_USER_NAME_OR_PASSWORD),
            (0x05, ReasonCode::NOT_AUTHORIZED),
        ];
        for (code, reason) in table {
            let decoded = connack(decode_one(&[0x20, 0x02, 0x01, code], Some(V3_1_1)).unwrap());
            assert_eq!((decoded.session_present, decoded.reason), (true, reason));
            assert_eq!(
                encode_one(&Packet::ConnAck(decoded), V3_1_1),
                [0x20, 0x02, 0x01, code]
            );
        }
        assert_eq!(
            decode_one(&[0x20, 0x02, 0x00, 0x06], Some(V3_1_1)),
            Err(DecodeError::Malformed("reserved CONNACK return code"))
        );
    }

    #[test]
    fn v3_encoding_maps_every_reason_code() {
        let banned = ConnAck {
            reason: ReasonCode::BANNED,
            ..ConnAck::default()
        };
        assert_eq!(
            encode_one(&Packet::ConnAck(banned), V3_1_1),
            [0x20, 0x02, 0x00, 0x05]
        );
        let quota = ConnAck {
            reason: ReasonCode::QUOTA_EXCEEDED,
            properties: Properties {
                reason_string: Some("full".into()),
                ..Properties::default()
            },
            ..ConnAck::default()
        };
        assert_eq!(
            encode_one(&Packet::ConnAck(quota), V3_1),
            [0x20, 0x02, 0x00, 0x03],
            "no properties on v3"
        );
    }

    #[test]
    fn reserved_flags() {
        for version in [V3_1_1, V5] {
            let bytes: &[u8] = if version.is_v5() {
                &[0x20, 0x03, 0x02, 0x00, 0x00]
            } else {
                &[0x20, 0x02, 0x02, 0x00]
            };
            assert_eq!(
                decode_one(bytes, Some(version)),
                Err(DecodeError::Malformed("CONNACK reserved flags are set"))
            );
        }
        // 3.1 never defined the byte, so a 3.1 client reads it as nothing.
        let decoded = connack(decode_one(&[0x20, 0x02, 0xFF, 0x00], Some(V3_1)).unwrap());
        assert!(!decoded.session_present);
        let present = ConnAck {
            session_present: true,
            ..ConnAck::default()
        };
        assert_eq!(
            encode_one(&Packet::ConnAck(present), V3_1),
            [0x20, 0x02, 0x00, 0x00]
        );
    }

    #[test]
    fn length_rules() {
        assert!(matches!(
            decode_one(&[0x20, 0x03, 0x00, 0x00, 0x00], Some(V3_1_1)),
            Err(DecodeError::Malformed(_))
        ));
        assert!(
            matches!(
                decode_one(&[0x20, 0x02, 0x00, 0x00], Some(V5)),
                Err(DecodeError::Malformed(_))
            ),
            "no properties"
        );
        assert!(matches!(
            decode_one(&[0x20, 0x01, 0x00], Some(V3_1)),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn v5_roundtrip_with_properties() {
        let packet = ConnAck {
            session_present: true,
            reason: ReasonCode::USE_ANOTHER_SERVER,
            properties: Properties {
                server_reference: Some("backup:1883".into()),
                assigned_client_identifier: Some("auto-7".into()),
                maximum_qos: Some(1),
                retain_available: Some(false),
                shared_subscription_available: Some(true),
                ..Properties::default()
            },
        };
        roundtrip(&Packet::ConnAck(packet), V5);
        let not_allowed = hex("2005000002 2301");
        assert_eq!(
            decode_one(&[&not_allowed[..], &[0x00]].concat(), Some(V5)),
            Err(DecodeError::Malformed(
                "property not allowed in this packet"
            ))
        );
    }
}
