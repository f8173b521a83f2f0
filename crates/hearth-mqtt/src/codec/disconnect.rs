//! DISCONNECT and AUTH (v5 §3.14-3.15, 3.1.1 §3.14): a reason code and properties, both
//! optional on the wire.
//!
//! A 3.x DISCONNECT is empty. In v5 the sender may stop after the reason code, or send
//! nothing at all when the reason is success (v5 §3.14.2.1). AUTH allows only the
//! second shortening (v5 §3.15.2.1), so a one-byte AUTH is malformed.

use bytes::{BufMut, Bytes, BytesMut};

use super::BodyLen;
use super::primitives::{expect_end, read_u8};
use super::properties::{self, Context};
use crate::{Auth, DecodeError, Disconnect, EncodeError, ProtocolVersion, ReasonCode};

pub(super) fn decode(mut body: Bytes, version: ProtocolVersion) -> Result<Disconnect, DecodeError> {
    let mut disconnect = Disconnect::default();
    if version.is_v5() && !body.is_empty() {
        disconnect.reason = ReasonCode(read_u8(&mut body)?);
        if !body.is_empty() {
            disconnect.properties = properties::read(&mut body, Context::Disconnect)?;
        }
    }
    expect_end(&body)?;
    Ok(disconnect)
}

pub(super) fn measure(
    disconnect: &Disconnect,
    version: ProtocolVersion,
) -> Result<BodyLen, EncodeError> {
    if !version.is_v5() {
        return Ok(BodyLen::remaining(0));
    }
    let properties = properties::measure(&disconnect.properties, Context::Disconnect)?;
    let remaining = match (disconnect.reason, properties) {
        (ReasonCode::NORMAL_DISCONNECTION, 0) => 0,
        (_, 0) => 1,
        (_, properties) => 1 + properties::block_len(properties),
    };
    Ok(BodyLen {
        remaining,
        properties,
        will_properties: 0,
    })
}

pub(super) fn write(
    disconnect: &Disconnect,
    version: ProtocolVersion,
    body: &BodyLen,
    out: &mut BytesMut,
) {
    if body.remaining >= 1 {
        out.put_u8(disconnect.reason.0);
    }
    if body.remaining >= 2 {
        debug_assert!(version.is_v5());
        properties::write(
            &disconnect.properties,
            Context::Disconnect,
            body.properties,
            out,
        );
    }
}

/// `header::parse` has already refused AUTH on a 3.x connection.
pub(super) fn decode_auth(mut body: Bytes) -> Result<Auth, DecodeError> {
    let mut auth = Auth::default();
    if !body.is_empty() {
        auth.reason = ReasonCode(read_u8(&mut body)?);
        auth.properties = properties::read(&mut body, Context::Auth)?;
    }
    expect_end(&body)?;
    Ok(auth)
}

pub(super) fn measure_auth(auth: &Auth, version: ProtocolVersion) -> Result<BodyLen, EncodeError> {
    if !version.is_v5() {
        return Err(EncodeError::Unrepresentable("AUTH before MQTT 5"));
    }
    let properties = properties::measure(&auth.properties, Context::Auth)?;
    let remaining = match (auth.reason, properties) {
        (ReasonCode::SUCCESS, 0) => 0,
        (_, properties) => 1 + properties::block_len(properties),
    };
    Ok(BodyLen {
        remaining,
        properties,
        will_properties: 0,
    })
}

pub(super) fn write_auth(auth: &Auth, body: &BodyLen, out: &mut BytesMut) {
    if body.remaining > 0 {
        out.put_u8(auth.reason.0);
        properties::write(&auth.properties, Context::Auth, body.properties, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_util::{decode_one, encode_one, roundtrip};
    use crate::{Packet, Properties};
    use ProtocolVersion::*;

    #[test]
    fn mosquitto_disconnects() {
        for version in [V3_1, V3_1_1, V5] {
            let packet = decode_one(&[0xE0, 0x00], Some(version)).unwrap();
            assert_eq!(packet, Packet::Disconnect(Disconnect::default()));
            assert_eq!(encode_one(&packet, version), [0xE0, 0x00]);
        }
        // mosquitto_sub -V mqttv5 leaving after -W: reason 0x04, no properties.
        let packet = decode_one(&[0xE0, 0x01, 0x04], Some(V5)).unwrap();
        let expected = Disconnect {
            reason: ReasonCode::DISCONNECT_WITH_WILL_MESSAGE,
            ..Disconnect::default()
        };
        assert_eq!(packet, Packet::Disconnect(expected));
        assert_eq!(encode_one(&packet, V5), [0xE0, 0x01, 0x04]);
    }

    #[test]
    fn v3_disconnect_is_empty() {
        for version in [V3_1, V3_1_1] {
            let trailing = decode_one(&[0xE0, 0x01, 0x00], Some(version));
            assert_eq!(
                trailing,
                Err(DecodeError::Malformed(
                    "unexpected bytes after the last field"
                ))
            );
            let shutting_down = Disconnect {
                reason: ReasonCode::SERVER_SHUTTING_DOWN,
                ..Disconnect::default()
            };
            assert_eq!(
                encode_one(&Packet::Disconnect(shutting_down), version),
                [0xE0, 0x00]
            );
        }
    }

    #[test]
    fn v5_disconnect_forms() {
        let long_success = decode_one(&[0xE0, 0x02, 0x00, 0x00], Some(V5)).unwrap();
        assert_eq!(long_success, Packet::Disconnect(Disconnect::default()));
        assert_eq!(encode_one(&long_success, V5), [0xE0, 0x00]);
        let full = Disconnect {
            reason: ReasonCode::SESSION_TAKEN_OVER,
            properties: Properties {
                session_expiry_interval: Some(0),
                server_reference: Some("elsewhere".into()),
                reason_string: Some("bye".into()),
                ..Properties::default()
            },
        };
        roundtrip(&Packet::Disconnect(full), V5);
        let not_allowed = [0xE0, 0x04, 0x81, 0x02, 0x01, 0x01];
        assert_eq!(
            decode_one(&not_allowed, Some(V5)),
            Err(DecodeError::Malformed(
                "property not allowed in this packet"
            ))
        );
        let trailing = [0xE0, 0x03, 0x00, 0x00, 0x00];
        assert_eq!(
            decode_one(&trailing, Some(V5)),
            Err(DecodeError::Malformed(
                "unexpected bytes after the last field"
            ))
        );
    }

    #[test]
    fn auth_forms() {
        let empty = decode_one(&[0xF0, 0x00], Some(V5)).unwrap();
        assert_eq!(empty, Packet::Auth(Auth::default()));
        assert_eq!(encode_one(&empty, V5), [0xF0, 0x00]);
        let continue_auth = Auth {
            reason: ReasonCode::CONTINUE_AUTHENTICATION,
            properties: Properties {
                authentication_method: Some("SCRAM-SHA-256".into()),
                authentication_data: Some(bytes::Bytes::from_static(b"\x00challenge")),
                ..Properties::default()
            },
        };
        roundtrip(&Packet::Auth(continue_auth), V5);
        let reason_only = Auth {
            reason: ReasonCode::RE_AUTHENTICATE,
            ..Auth::default()
        };
        assert_eq!(
            roundtrip(&Packet::Auth(reason_only), V5),
            [0xF0, 0x02, 0x19, 0x00]
        );
        assert!(
            matches!(
                decode_one(&[0xF0, 0x01, 0x18], Some(V5)),
                Err(DecodeError::Malformed(_))
            ),
            "no property length"
        );
        let session_expiry = [0xF0, 0x07, 0x18, 0x05, 0x11, 0x00, 0x00, 0x00, 0x01];
        assert_eq!(
            decode_one(&session_expiry, Some(V5)),
            Err(DecodeError::Malformed(
                "property not allowed in this packet"
            ))
        );
    }

    #[test]
    fn auth_cannot_be_sent_to_a_v3_client() {
        let packet = Packet::Auth(Auth::default());
        for version in [V3_1, V3_1_1] {
            let mut out = BytesMut::new();
            assert_eq!(
                crate::encode(&packet, version, &mut out),
                Err(EncodeError::Unrepresentable("AUTH before MQTT 5"))
            );
            assert!(out.is_empty());
            assert_eq!(crate::encoded_len(&packet, version), 0);
            assert_eq!(
                decode_one(&[0xF0, 0x00], Some(version)),
                Err(DecodeError::Malformed(
                    "reserved packet type 15 before MQTT 5"
                ))
            );
        }
    }
}
