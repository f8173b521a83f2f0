//! PUBLISH (v5 §3.3, 3.1.1 §3.3): the hot path in both directions.
//!
//! Decoding costs no allocation unless the packet carries user properties or
//! subscription identifiers: the topic and payload are slices of the received packet
//! and the properties live inline. Encoding copies the topic and payload into the
//! output buffer once, after a single reservation.

use bytes::{BufMut, Bytes, BytesMut};

use super::BodyLen;
use super::primitives::{
    check_topic_name, prefixed_len, read_packet_id, read_string, write_prefixed,
};
use super::properties::{self, Context};
use crate::{DecodeError, EncodeError, Properties, ProtocolVersion, Publish, QoS};

/// `flags` are the low four bits of the fixed header, already checked by
/// `header::parse` (no QoS 3, no DUP on QoS 0).
pub(super) fn decode(
    flags: u8,
    mut body: Bytes,
    version: ProtocolVersion,
) -> Result<Publish, DecodeError> {
    let qos =
        QoS::from_u8((flags >> 1) & 0b11).ok_or(DecodeError::Malformed("PUBLISH with QoS 3"))?;
    let topic = read_string(&mut body)?;
    let packet_id = if qos == QoS::AtMostOnce {
        0
    } else {
        read_packet_id(&mut body)?
    };
    let properties = if version.is_v5() {
        properties::read(&mut body, Context::Publish)?
    } else {
        Properties::default()
    };
    check_topic_name(&topic, version, properties.topic_alias.is_some())?;
    Ok(Publish {
        dup: flags & 0b1000 != 0,
        qos,
        retain: flags & 0b0001 != 0,
        topic,
        packet_id,
        properties,
        payload: body,
    })
}

pub(super) fn measure(publish: &Publish, version: ProtocolVersion) -> Result<BodyLen, EncodeError> {
    let mut body = BodyLen::default();
    let mut remaining = prefixed_len("topic", publish.topic.len())?;
    if publish.qos != QoS::AtMostOnce {
        remaining += 2;
    }
    if version.is_v5() {
        body.properties = properties::measure(&publish.properties, Context::Publish)?;
        remaining += properties::block_len(body.properties);
    }
    body.remaining = remaining + publish.payload.len();
    Ok(body)
}

pub(super) fn write(
    publish: &Publish,
    version: ProtocolVersion,
    body: &BodyLen,
    out: &mut BytesMut,
) {
    write_prefixed(out, publish.topic.as_bytes());
    if publish.qos != QoS::AtMostOnce {
        out.put_u16(publish.packet_id);
    }
    if version.is_v5() {
        properties::write(&publish.properties, Context::Publish, body.properties, out);
    }
    out.put_slice(&publish.payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Packet;
    use crate::codec::test_util::{MAX, decode_one, encode_one, hex, roundtrip};
    use ProtocolVersion::*;

    fn publish(packet: Packet) -> Publish {
        match packet {
            Packet::Publish(publish) => publish,
            other => panic!("expected PUBLISH, got {}", other.kind()),
        }
    }

    #[test]
    fn mosquitto_v3_publishes() {
        // mosquitto_pub -V mqttv31 -t devices/d1/data -m '{"t":25.5}' -q 1
        let bytes = hex("321d000f646576696365732f64312f6461746100017b2274223a32352e357d");
        let expected = Publish {
            qos: QoS::AtLeastOnce,
            topic: "devices/d1/data".into(),
            packet_id: 1,
            payload: Bytes::from_static(br#"{"t":25.5}"#),
            ..Publish::default()
        };
        assert_eq!(publish(decode_one(&bytes, Some(V3_1)).unwrap()), expected);
        assert_eq!(encode_one(&Packet::Publish(expected), V3_1), bytes);
        // mosquitto_pub -V mqttv311 -t devices/d2/status -m online -q 2 -r
        let bytes = hex("351b0011646576696365732f64322f73746174757300016f6e6c696e65");
        let decoded = publish(decode_one(&bytes, Some(V3_1_1)).unwrap());
        assert_eq!(
            (decoded.qos, decoded.retain, decoded.dup),
            (QoS::ExactlyOnce, true, false)
        );
        assert_eq!(
            (decoded.topic.as_str(), &decoded.payload[..]),
            ("devices/d2/status", &b"online"[..])
        );
        assert_eq!(encode_one(&Packet::Publish(decoded), V3_1_1), bytes);
    }

    #[test]
    fn mosquitto_v5_publishes() {
        // mosquitto_pub -V mqttv5 -D publish content-type application/json -D publish
        // message-expiry-interval 60 -D publish user-property unit celsius -D publish
        // response-topic devices/d3/reply -D publish correlation-data abc -q 1
        let bytes = hex(
            "325d000f646576696365732f64332f646174610001410300106170706c69636174696f6e2f6a736f6e
             020000003c260004756e6974000763656c73697573080010646576696365732f64332f7265706c79
             0900036162637b2274223a32317d",
        );
        let expected = Publish {
            qos: QoS::AtLeastOnce,
            topic: "devices/d3/data".into(),
            packet_id: 1,
            properties: Properties {
                content_type: Some("application/json".into()),
                message_expiry_interval: Some(60),
                user_properties: vec![("unit".into(), "celsius".into())],
                response_topic: Some("devices/d3/reply".into()),
                correlation_data: Some(Bytes::from_static(b"abc")),
                ..Properties::default()
            },
            payload: Bytes::from_static(br#"{"t":21}"#),
            ..Publish::default()
        };
        assert_eq!(publish(decode_one(&bytes, Some(V5)).unwrap()), expected);
        // Mosquitto orders the properties differently; the packet is the same.
        let ours = roundtrip(&Packet::Publish(expected), V5);
        assert_eq!(ours.len(), bytes.len());
        // Retained message delivered by mosquitto with subscription identifier 7.
        let bytes = hex("351e0011646576696365732f64322f7374617475730001020b076f6e6c696e65");
        let decoded = publish(decode_one(&bytes, Some(V5)).unwrap());
        assert_eq!(decoded.properties.subscription_identifiers, vec![7]);
        assert_eq!(encode_one(&Packet::Publish(decoded), V5), bytes);
    }

    #[test]
    fn topic_and_payload_share_the_received_buffer() {
        let bytes = hex("321d000f646576696365732f64312f6461746100017b2274223a32352e357d");
        let mut buf = BytesMut::from(&bytes[..]);
        let start = buf.as_ptr() as usize;
        let decoded = publish(crate::decode(&mut buf, Some(V3_1_1), MAX).unwrap().unwrap());
        assert_eq!(decoded.topic.as_bytes().as_ptr() as usize, start + 4);
        assert_eq!(decoded.payload.as_ptr() as usize, start + 21);
    }

    #[test]
    fn packet_id_zero_is_a_protocol_error() {
        for version in [V3_1, V3_1_1, V5] {
            let bytes: &[u8] = if version.is_v5() {
                b"\x32\x06\x00\x01t\x00\x00\x00"
            } else {
                b"\x32\x05\x00\x01t\x00\x00"
            };
            assert_eq!(
                decode_one(bytes, Some(version)),
                Err(DecodeError::Protocol("packet identifier 0"))
            );
        }
    }

    #[test]
    fn topic_rules() {
        let wildcard_v3 = b"\x30\x05\x00\x03a/+";
        assert_eq!(
            decode_one(wildcard_v3, Some(V3_1_1)),
            Err(DecodeError::Malformed("wildcard in topic name"))
        );
        let wildcard_v5 = b"\x30\x04\x00\x01#\x00";
        assert_eq!(
            decode_one(wildcard_v5, Some(V5)),
            Err(DecodeError::Protocol("wildcard in topic name"))
        );
        assert_eq!(
            decode_one(b"\x30\x02\x00\x00", Some(V3_1)),
            Err(DecodeError::Malformed("empty topic name"))
        );
        assert_eq!(
            decode_one(b"\x30\x03\x00\x00\x00", Some(V5)),
            Err(DecodeError::Protocol("empty topic name"))
        );
        assert!(
            matches!(
                decode_one(b"\x30\x03\x00\x01\x00", Some(V3_1_1)),
                Err(DecodeError::Malformed(_))
            ),
            "NUL"
        );
        assert!(
            matches!(
                decode_one(b"\x30\x03\x00\x01\xFF", Some(V3_1_1)),
                Err(DecodeError::Malformed(_))
            ),
            "UTF-8"
        );
        // An empty topic with a topic alias (0x23) is how v5 reuses an alias.
        let aliased = publish(decode_one(b"\x30\x06\x00\x00\x03\x23\x00\x05", Some(V5)).unwrap());
        assert_eq!(
            (aliased.topic.as_str(), aliased.properties.topic_alias),
            ("", Some(5))
        );
    }

    #[test]
    fn flag_rules() {
        assert_eq!(
            decode_one(b"\x38\x03\x00\x01t", Some(V3_1_1)),
            Err(DecodeError::Malformed("DUP set on a QoS 0 PUBLISH"))
        );
        assert_eq!(
            decode_one(b"\x36\x05\x00\x01t\x00\x01", Some(V5)),
            Err(DecodeError::Malformed("PUBLISH with QoS 3"))
        );
        let dup = publish(decode_one(b"\x3B\x05\x00\x01t\x00\x09", Some(V3_1_1)).unwrap());
        assert_eq!(
            (dup.dup, dup.qos, dup.retain, dup.packet_id),
            (true, QoS::AtLeastOnce, true, 9)
        );
    }

    #[test]
    fn v5_property_rules() {
        // Session expiry (0x11) does not belong in a PUBLISH.
        let bytes = b"\x30\x09\x00\x01t\x05\x11\x00\x00\x00\x01";
        assert_eq!(
            decode_one(bytes, Some(V5)),
            Err(DecodeError::Malformed(
                "property not allowed in this packet"
            ))
        );
        let bytes = b"\x30\x07\x00\x01t\x03\x23\x00\x00";
        assert_eq!(
            decode_one(bytes, Some(V5)),
            Err(DecodeError::Protocol("topic alias 0"))
        );
        let bytes = b"\x30\x05\x00\x01t\x09\x01";
        assert!(
            matches!(decode_one(bytes, Some(V5)), Err(DecodeError::Malformed(_))),
            "property length past the end"
        );
    }

    #[test]
    fn encoding_drops_dup_on_qos_0_and_properties_on_v3() {
        let packet = Publish {
            dup: true,
            topic: "t".into(),
            packet_id: 77,
            properties: Properties {
                message_expiry_interval: Some(1),
                ..Properties::default()
            },
            payload: Bytes::from_static(b"p"),
            ..Publish::default()
        };
        assert_eq!(
            encode_one(&Packet::Publish(packet.clone()), V3_1_1),
            b"\x30\x04\x00\x01tp"
        );
        assert_eq!(
            encode_one(&Packet::Publish(packet), V5),
            b"\x30\x0A\x00\x01t\x05\x02\x00\x00\x00\x01p"
        );
    }

    #[test]
    fn empty_and_large_payloads_roundtrip() {
        for version in [V3_1, V3_1_1, V5] {
            for payload in [Bytes::new(), Bytes::from(vec![0xA5; 300_000])] {
                let packet = Publish {
                    qos: QoS::ExactlyOnce,
                    topic: "a/b".into(),
                    packet_id: 65_535,
                    payload,
                    ..Publish::default()
                };
                roundtrip(&Packet::Publish(packet), version);
            }
        }
    }

    #[test]
    fn too_long_topic_is_refused_and_nothing_is_written() {
        let packet = Packet::Publish(Publish {
            topic: "x".repeat(65_536).into(),
            ..Publish::default()
        });
        let mut out = BytesMut::from(&b"kept"[..]);
        assert_eq!(
            crate::encode(&packet, V5, &mut out),
            Err(EncodeError::TooLong {
                field: "topic",
                len: 65_536
            })
        );
        assert_eq!(&out[..], b"kept");
        assert_eq!(crate::encoded_len(&packet, V5), 0);
    }
}
