//! Unit tests of CONNECT, with packets captured from mosquitto_pub 2.0.11 for each version.

use bytes::Bytes;

use crate::codec::test_util::{decode_one, encode_one, hex, roundtrip};
use crate::{ByteStr, Connect, DecodeError, Packet, Properties, ProtocolVersion, QoS, Will};

/// `mosquitto_pub -V mqttv31 -i hearth-v31 -u alice -P secret --will-topic devices/d1/status
/// --will-payload offline --will-retain --will-qos 1 ...`
const V3_1_CONNECT: &str =
    "104300064d514973647003ee003c000a6865617274682d7633310011646576696365732f64312f737461
    7475730007 6f66666c696e650005616c6963650006736563726574";
/// `mosquitto_pub -V mqttv311 -i hearth-v311 -k 30 ...`
const V3_1_1_CONNECT: &str = "101700044d5154540402001e000b6865617274682d76333131";
/// `mosquitto_pub -V mqttv5 -i hearth-v5 -u dev3 -P pw --will-topic devices/d3/status
/// --will-payload offline -D will will-delay-interval 10 -D connect session-expiry-interval 3600
/// -D connect receive-maximum 20 -D connect user-property k v ...`
const V5_CONNECT: &str =
    "105100044d51545405c6003c0f1100000e102100142600016b00017600096865617274682d763505180000000a
    0011646576696365732f64332f73746174757300076f66666c696e6500046465763300027077";

fn connect(packet: Packet) -> Connect {
    match packet {
        Packet::Connect(connect) => *connect,
        other => panic!("expected CONNECT, got {}", other.kind()),
    }
}

/// Decodes a CONNECT body (everything after the fixed header) built by the test.
fn decode_body(body: &[u8]) -> Result<Packet, DecodeError> {
    let mut bytes = vec![0x10, body.len() as u8];
    bytes.extend_from_slice(body);
    decode_one(&bytes, None)
}

#[test]
fn mosquitto_v3_1_connect() {
    let bytes = hex(V3_1_CONNECT);
    let decoded = connect(decode_one(&bytes, None).unwrap());
    let expected = Connect {
        protocol: ProtocolVersion::V3_1,
        clean_start: true,
        keep_alive: 60,
        client_id: "hearth-v31".into(),
        will: Some(Will {
            topic: "devices/d1/status".into(),
            payload: Bytes::from_static(b"offline"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Properties::default(),
        }),
        username: Some("alice".into()),
        password: Some(Bytes::from_static(b"secret")),
        properties: Properties::default(),
    };
    assert_eq!(decoded, expected);
    assert_eq!(
        encode_one(&Packet::Connect(Box::new(expected)), ProtocolVersion::V3_1),
        bytes
    );
}

#[test]
fn mosquitto_v3_1_1_connect() {
    let bytes = hex(V3_1_1_CONNECT);
    let decoded = connect(decode_one(&bytes, None).unwrap());
    assert_eq!(decoded.protocol, ProtocolVersion::V3_1_1);
    assert_eq!((decoded.clean_start, decoded.keep_alive), (true, 30));
    assert_eq!(decoded.client_id.as_str(), "hearth-v311");
    assert_eq!(
        (&decoded.will, &decoded.username, &decoded.password),
        (&None, &None, &None)
    );
    assert_eq!(
        encode_one(&Packet::Connect(Box::new(decoded)), ProtocolVersion::V3_1_1),
        bytes
    );
}

#[test]
fn mosquitto_v5_connect() {
    let bytes = hex(V5_CONNECT);
    let decoded = connect(decode_one(&bytes, None).unwrap());
    let expected = Connect {
        protocol: ProtocolVersion::V5,
        clean_start: true,
        keep_alive: 60,
        client_id: "hearth-v5".into(),
        will: Some(Will {
            topic: "devices/d3/status".into(),
            payload: Bytes::from_static(b"offline"),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: Properties {
                will_delay_interval: Some(10),
                ..Properties::default()
            },
        }),
        username: Some("dev3".into()),
        password: Some(Bytes::from_static(b"pw")),
        properties: Properties {
            session_expiry_interval: Some(3600),
            receive_maximum: Some(20),
            user_properties: vec![("k".into(), "v".into())],
            ..Properties::default()
        },
    };
    assert_eq!(decoded, expected);
    assert_eq!(
        encode_one(&Packet::Connect(Box::new(expected)), ProtocolVersion::V5),
        bytes
    );
}

#[test]
fn strings_share_the_received_buffer() {
    let bytes = hex(V3_1_CONNECT);
    let mut buf = bytes::BytesMut::from(&bytes[..]);
    let start = buf.as_ptr() as usize;
    let range = start..start + bytes.len();
    let decoded = connect(crate::decode(&mut buf, None, 1000).unwrap().unwrap());
    let will = decoded.will.unwrap();
    for pointer in [
        decoded.client_id.as_bytes().as_ptr(),
        will.topic.as_bytes().as_ptr(),
        will.payload.as_ptr(),
    ] {
        assert!(
            range.contains(&(pointer as usize)),
            "copied instead of shared"
        );
    }
}

/// The v3.1.1 vector with its connect flags replaced.
fn v3_1_1_with_flags(flags: u8) -> Vec<u8> {
    let mut bytes = hex(V3_1_1_CONNECT);
    bytes[9] = flags;
    bytes
}

#[test]
fn connect_flag_rules() {
    let malformed = |flags: u8, message: &'static str| {
        assert_eq!(
            decode_one(&v3_1_1_with_flags(flags), None),
            Err(DecodeError::Malformed(message)),
            "{flags:#04x}"
        );
    };
    malformed(0x03, "CONNECT reserved flag is set");
    malformed(0x0A, "will QoS or retain set without a will");
    malformed(0x12, "will QoS or retain set without a will");
    malformed(0x22, "will QoS or retain set without a will");
    malformed(0x1E, "will QoS 3");
    malformed(0x42, "password without user name");
}

#[test]
fn password_without_user_name_is_allowed_in_v5_only() {
    let mut connect = Connect {
        protocol: ProtocolVersion::V5,
        clean_start: false,
        keep_alive: 0,
        client_id: ByteStr::default(),
        will: None,
        username: None,
        password: Some(Bytes::from_static(b"token")),
        properties: Properties::default(),
    };
    let v5 = roundtrip(
        &Packet::Connect(Box::new(connect.clone())),
        ProtocolVersion::V5,
    );
    assert_eq!(v5[9], 0x40, "password flag alone");
    connect.protocol = ProtocolVersion::V3_1;
    let v3 = encode_one(&Packet::Connect(Box::new(connect)), ProtocolVersion::V3_1);
    assert_eq!(
        decode_one(&v3, None),
        Err(DecodeError::Malformed("password without user name"))
    );
}

#[test]
fn unknown_protocols_are_reported_whatever_follows() {
    let cases: [(&[u8], &str, u8); 5] = [
        (b"\x00\x04MQTT\x06\xFF\xFF", "MQTT", 6),
        (b"\x00\x04MQTT\x03", "MQTT", 3),
        (b"\x00\x06MQIsdp\x04\x02\x00\x3c", "MQIsdp", 4),
        (b"\x00\x04MQTT\x84\x02\x00\x3c\x00\x00", "MQTT", 0x84),
        (b"\x00\x02\xFF\xFEgarbage", "\u{FFFD}\u{FFFD}", b'g'),
    ];
    for (body, name, level) in cases {
        assert_eq!(
            decode_body(body),
            Err(DecodeError::UnsupportedProtocol {
                name: name.to_owned(),
                level
            })
        );
    }
    assert!(
        matches!(decode_body(b"\x00\x04MQ"), Err(DecodeError::Malformed(_))),
        "no level to report"
    );
}

#[test]
fn trailing_and_missing_bytes_are_malformed() {
    let mut bytes = hex(V3_1_1_CONNECT);
    bytes.push(0x00);
    bytes[1] += 1;
    assert_eq!(
        decode_one(&bytes, None),
        Err(DecodeError::Malformed(
            "unexpected bytes after the last field"
        ))
    );
    // User name flag set, but the packet ends after the client id.
    assert!(matches!(
        decode_one(&v3_1_1_with_flags(0x82), None),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn will_topic_follows_the_topic_name_rules() {
    let with_will_topic = |protocol: ProtocolVersion, topic: &str| {
        let will = Will {
            topic: topic.into(),
            payload: Bytes::new(),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: Properties::default(),
        };
        let packet = Connect {
            protocol,
            clean_start: true,
            keep_alive: 10,
            client_id: "c".into(),
            will: Some(will),
            username: None,
            password: None,
            properties: Properties::default(),
        };
        decode_one(
            &encode_one(&Packet::Connect(Box::new(packet)), protocol),
            None,
        )
    };
    assert_eq!(
        with_will_topic(ProtocolVersion::V3_1_1, "a/+"),
        Err(DecodeError::Malformed("wildcard in topic name"))
    );
    assert_eq!(
        with_will_topic(ProtocolVersion::V5, "a/#"),
        Err(DecodeError::Protocol("wildcard in topic name"))
    );
    assert_eq!(
        with_will_topic(ProtocolVersion::V3_1, ""),
        Err(DecodeError::Malformed("empty topic name"))
    );
    assert!(with_will_topic(ProtocolVersion::V5, "a/b").is_ok());
}

#[test]
fn v5_property_rules() {
    // Authentication data (0x16) without a method.
    let body = b"\x00\x04MQTT\x05\x02\x00\x3c\x04\x16\x00\x01x\x00\x00";
    assert_eq!(
        decode_body(body),
        Err(DecodeError::Protocol(
            "authentication data without authentication method"
        ))
    );
    // Topic alias (0x23) in the will's properties.
    let body = b"\x00\x04MQTT\x05\x06\x00\x3c\x00\x00\x00\x03\x23\x00\x01\x00\x01t\x00\x00";
    assert_eq!(
        decode_body(body),
        Err(DecodeError::Malformed(
            "property not allowed in this packet"
        ))
    );
    // Will delay (0x18) among the CONNECT properties rather than the will's.
    let body = b"\x00\x04MQTT\x05\x02\x00\x3c\x05\x18\x00\x00\x00\x01\x00\x00";
    assert_eq!(
        decode_body(body),
        Err(DecodeError::Malformed(
            "property not allowed in this packet"
        ))
    );
}

#[test]
fn the_connect_itself_chooses_the_dialect() {
    let packet = Packet::Connect(Box::new(connect(
        decode_one(&hex(V3_1_1_CONNECT), None).unwrap(),
    )));
    assert_eq!(
        encode_one(&packet, ProtocolVersion::V5),
        hex(V3_1_1_CONNECT)
    );
}

#[test]
fn every_field_roundtrips_in_every_version() {
    for protocol in [
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ] {
        let v5 = protocol.is_v5();
        let properties = |p: Properties| if v5 { p } else { Properties::default() };
        let packet = Connect {
            protocol,
            clean_start: false,
            keep_alive: 65_535,
            client_id: "\u{4e2d}-client".into(),
            will: Some(Will {
                topic: "devices/\u{e9}/status".into(),
                payload: Bytes::from_static(&[0, 1, 2, 0xFF]),
                qos: QoS::ExactlyOnce,
                retain: true,
                properties: properties(Properties {
                    message_expiry_interval: Some(5),
                    content_type: Some("text/plain".into()),
                    ..Properties::default()
                }),
            }),
            username: Some("user".into()),
            password: Some(Bytes::new()),
            properties: properties(Properties {
                authentication_method: Some("m".into()),
                authentication_data: Some(Bytes::from_static(b"d")),
                request_problem_information: Some(0),
                topic_alias_maximum: Some(0),
                maximum_packet_size: Some(1024),
                ..Properties::default()
            }),
        };
        roundtrip(&Packet::Connect(Box::new(packet)), protocol);
    }
}
