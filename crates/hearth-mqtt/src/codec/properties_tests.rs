//! Unit tests of the property block, kept beside `properties.rs` so that each file stays
//! readable on its own.

use super::*;

const ALL_CONTEXTS: [Context; 11] = [
    Context::Connect,
    Context::Will,
    Context::ConnAck,
    Context::Publish,
    Context::PubResponse,
    Context::Subscribe,
    Context::SubAck,
    Context::Unsubscribe,
    Context::UnsubAck,
    Context::Disconnect,
    Context::Auth,
];

/// v5 §2.2.2.2 table 2-4, written out independently of [`allowed_in`], with a valid
/// encoded value for each property.
fn spec_table() -> Vec<(u8, &'static [u8], Vec<Context>)> {
    use Context::*;
    let message = vec![Publish, Will];
    vec![
        (0x01, &[0x01], message.clone()),
        (0x02, &[0, 0, 0, 9], message.clone()),
        (0x03, b"\x00\x01x", message.clone()),
        (0x08, b"\x00\x01x", message.clone()),
        (0x09, &[0, 1, 0xFF], message),
        (0x0B, &[0x07], vec![Publish, Subscribe]),
        (0x11, &[0, 0, 0, 9], vec![Connect, ConnAck, Disconnect]),
        (0x12, b"\x00\x01x", vec![ConnAck]),
        (0x13, &[0, 5], vec![ConnAck]),
        (0x15, b"\x00\x01x", vec![Connect, ConnAck, Auth]),
        (0x16, &[0, 1, 0xFF], vec![Connect, ConnAck, Auth]),
        (0x17, &[0x01], vec![Connect]),
        (0x18, &[0, 0, 0, 9], vec![Will]),
        (0x19, &[0x01], vec![Connect]),
        (0x1A, b"\x00\x01x", vec![ConnAck]),
        (0x1C, b"\x00\x01x", vec![ConnAck, Disconnect]),
        (
            0x1F,
            b"\x00\x01x",
            vec![ConnAck, PubResponse, SubAck, UnsubAck, Disconnect, Auth],
        ),
        (0x21, &[0, 5], vec![Connect, ConnAck]),
        (0x22, &[0, 5], vec![Connect, ConnAck]),
        (0x23, &[0, 5], vec![Publish]),
        (0x24, &[0x01], vec![ConnAck]),
        (0x25, &[0x01], vec![ConnAck]),
        (0x26, b"\x00\x01k\x00\x01v", ALL_CONTEXTS.to_vec()),
        (0x27, &[0, 0, 0, 9], vec![Connect, ConnAck]),
        (0x28, &[0x01], vec![ConnAck]),
        (0x29, &[0x01], vec![ConnAck]),
        (0x2A, &[0x01], vec![ConnAck]),
    ]
}

/// A property block holding `entries` back to back, followed by `after` (bytes of the
/// packet that come after the block).
fn block(entries: &[&[u8]], after: &[u8]) -> Bytes {
    let content: Vec<u8> = entries.concat();
    let mut out = BytesMut::new();
    write_varint(&mut out, content.len());
    out.extend_from_slice(&content);
    out.extend_from_slice(after);
    out.freeze()
}

fn entry(id: u8, value: &[u8]) -> Vec<u8> {
    let mut bytes = vec![id];
    bytes.extend_from_slice(value);
    bytes
}

#[test]
fn each_property_is_accepted_exactly_where_the_specification_allows_it() {
    for (id, value, contexts) in spec_table() {
        for context in ALL_CONTEXTS {
            let mut bytes = block(&[&entry(id, value)], b"rest");
            let result = read(&mut bytes, context);
            if contexts.contains(&context) {
                let properties =
                    result.unwrap_or_else(|e| panic!("0x{id:02X} in {context:?}: {e}"));
                assert!(!properties.is_empty());
                assert_eq!(
                    &bytes[..],
                    b"rest",
                    "the cursor stops at the end of the block"
                );
            } else {
                assert_eq!(
                    result,
                    Err(DecodeError::Malformed(
                        "property not allowed in this packet"
                    )),
                    "0x{id:02X} in {context:?}"
                );
            }
        }
    }
}

#[test]
fn single_valued_properties_may_not_repeat() {
    for (id, value, contexts) in spec_table() {
        let twice = entry(id, value);
        let result = read(&mut block(&[&twice, &twice], b""), contexts[0]);
        match id {
            0x26 => assert_eq!(result.unwrap().user_properties.len(), 2),
            0x0B => assert_eq!(
                result.unwrap().subscription_identifiers,
                vec![7, 7],
                "PUBLISH may carry several"
            ),
            _ => assert_eq!(
                result,
                Err(DecodeError::Protocol("property appears more than once")),
                "0x{id:02X}"
            ),
        }
    }
    let two_ids = block(&[&[0x0B, 0x01], &[0x0B, 0x02]], b"");
    assert_eq!(
        read(&mut two_ids.clone(), Context::Subscribe),
        Err(DecodeError::Protocol("property appears more than once"))
    );
}

#[test]
fn zero_where_the_specification_forbids_it_is_a_protocol_error() {
    let cases: [(&[u8], Context); 4] = [
        (&[0x21, 0, 0], Context::Connect),
        (&[0x27, 0, 0, 0, 0], Context::ConnAck),
        (&[0x23, 0, 0], Context::Publish),
        (&[0x0B, 0x00], Context::Subscribe),
    ];
    for (bytes, context) in cases {
        assert!(
            matches!(
                read(&mut block(&[bytes], b""), context),
                Err(DecodeError::Protocol(_))
            ),
            "{bytes:?}"
        );
    }
}

#[test]
fn flags_other_than_zero_or_one_are_a_protocol_error() {
    for (id, context) in [
        (0x01, Context::Publish),
        (0x17, Context::Connect),
        (0x24, Context::ConnAck),
        (0x2A, Context::ConnAck),
    ] {
        let result = read(&mut block(&[&[id, 2]], b""), context);
        assert_eq!(
            result,
            Err(DecodeError::Protocol("property value must be 0 or 1")),
            "0x{id:02X}"
        );
    }
}

#[test]
fn unknown_identifiers_are_malformed() {
    for bytes in [
        &[0x04, 0x00][..],
        &[0x2B, 0x00],
        &[0x7F],
        &[0x80, 0x01, 0x00],
        &[0x00],
    ] {
        let result = read(&mut block(&[bytes], b""), Context::Publish);
        assert_eq!(
            result,
            Err(DecodeError::Malformed("unknown property identifier")),
            "{bytes:?}"
        );
    }
}

#[test]
fn a_block_or_a_value_running_past_its_end_is_malformed() {
    let mut past_packet = Bytes::from_static(&[0x05, 0x01, 0x01]);
    assert_eq!(
        read(&mut past_packet, Context::Publish),
        Err(DecodeError::Malformed(
            "property length runs past the end of the packet"
        ))
    );
    // Message expiry needs four bytes; the packet has them, the block does not.
    let mut past_block = Bytes::from_static(&[0x03, 0x02, 0x00, 0x00, 0x00, 0x00]);
    assert!(matches!(
        read(&mut past_block, Context::Publish),
        Err(DecodeError::Malformed(_))
    ));
    let mut no_length = Bytes::new();
    assert!(matches!(
        read(&mut no_length, Context::Publish),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn response_topic_may_not_hold_wildcards() {
    let result = read(&mut block(&[b"\x08\x00\x03a/#"], b""), Context::Publish);
    assert_eq!(
        result,
        Err(DecodeError::Protocol("wildcard in response topic"))
    );
}

fn every_property() -> Properties {
    Properties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(60),
        content_type: Some("application/json".into()),
        response_topic: Some("reply/here".into()),
        correlation_data: Some(Bytes::from_static(b"\x00\x01")),
        subscription_identifiers: vec![1, 300, 268_435_455],
        session_expiry_interval: Some(3600),
        assigned_client_identifier: Some("auto-1".into()),
        server_keep_alive: Some(30),
        authentication_method: Some("SCRAM-SHA-1".into()),
        authentication_data: Some(Bytes::from_static(b"data")),
        request_problem_information: Some(0),
        will_delay_interval: Some(10),
        request_response_information: Some(1),
        response_information: Some("resp".into()),
        server_reference: Some("other:1883".into()),
        reason_string: Some("because".into()),
        receive_maximum: Some(20),
        topic_alias_maximum: Some(10),
        topic_alias: Some(3),
        maximum_qos: Some(1),
        retain_available: Some(false),
        user_properties: vec![("k".into(), "v".into()), ("k".into(), "w".into())],
        maximum_packet_size: Some(1 << 20),
        wildcard_subscription_available: Some(true),
        subscription_identifier_available: Some(false),
        shared_subscription_available: Some(true),
    }
}

/// Whether property `id` is present in `p`.
fn has(p: &Properties, id: u8) -> bool {
    match id {
        0x01 => p.payload_format_indicator.is_some(),
        0x02 => p.message_expiry_interval.is_some(),
        0x03 => p.content_type.is_some(),
        0x08 => p.response_topic.is_some(),
        0x09 => p.correlation_data.is_some(),
        0x0B => !p.subscription_identifiers.is_empty(),
        0x11 => p.session_expiry_interval.is_some(),
        0x12 => p.assigned_client_identifier.is_some(),
        0x13 => p.server_keep_alive.is_some(),
        0x15 => p.authentication_method.is_some(),
        0x16 => p.authentication_data.is_some(),
        0x17 => p.request_problem_information.is_some(),
        0x18 => p.will_delay_interval.is_some(),
        0x19 => p.request_response_information.is_some(),
        0x1A => p.response_information.is_some(),
        0x1C => p.server_reference.is_some(),
        0x1F => p.reason_string.is_some(),
        0x21 => p.receive_maximum.is_some(),
        0x22 => p.topic_alias_maximum.is_some(),
        0x23 => p.topic_alias.is_some(),
        0x24 => p.maximum_qos.is_some(),
        0x25 => p.retain_available.is_some(),
        0x26 => !p.user_properties.is_empty(),
        0x27 => p.maximum_packet_size.is_some(),
        0x28 => p.wildcard_subscription_available.is_some(),
        0x29 => p.subscription_identifier_available.is_some(),
        0x2A => p.shared_subscription_available.is_some(),
        _ => panic!("no property 0x{id:02X}"),
    }
}

fn encode_block(properties: &Properties, context: Context) -> BytesMut {
    let len = measure(properties, context).unwrap();
    let mut out = BytesMut::new();
    write(properties, context, len, &mut out);
    assert_eq!(out.len(), block_len(len), "measure agrees with write");
    out
}

#[test]
fn encoding_keeps_only_what_the_packet_may_carry() {
    let all = every_property();
    for context in ALL_CONTEXTS {
        let decoded = read(&mut encode_block(&all, context).freeze(), context).unwrap();
        for (id, _, contexts) in spec_table() {
            assert_eq!(
                has(&decoded, id),
                contexts.contains(&context),
                "0x{id:02X} in {context:?}"
            );
        }
    }
    let connack = read(
        &mut encode_block(&all, Context::ConnAck).freeze(),
        Context::ConnAck,
    )
    .unwrap();
    assert_eq!(connack.maximum_packet_size, Some(1 << 20));
    assert_eq!(
        connack.assigned_client_identifier,
        all.assigned_client_identifier
    );
    assert_eq!(connack.retain_available, Some(false));
    let publish = read(
        &mut encode_block(&all, Context::Publish).freeze(),
        Context::Publish,
    )
    .unwrap();
    assert_eq!(
        publish.subscription_identifiers,
        all.subscription_identifiers
    );
    assert_eq!(publish.correlation_data, all.correlation_data);
    let subscribe = read(
        &mut encode_block(&all, Context::Subscribe).freeze(),
        Context::Subscribe,
    )
    .unwrap();
    assert_eq!(
        subscribe.subscription_identifiers,
        vec![1],
        "a SUBSCRIBE carries one identifier"
    );
}

#[test]
fn empty_properties_are_a_single_zero_byte() {
    assert_eq!(
        &encode_block(&Properties::default(), Context::Publish)[..],
        &[0x00]
    );
    let reason_only = Properties {
        content_type: Some("x".into()),
        ..Properties::default()
    };
    assert_eq!(
        measure(&reason_only, Context::PubResponse),
        Ok(0),
        "left out where not allowed"
    );
}

#[test]
fn values_that_do_not_fit_are_refused() {
    let huge = Properties {
        subscription_identifiers: vec![268_435_456],
        ..Properties::default()
    };
    assert!(matches!(
        measure(&huge, Context::Publish),
        Err(EncodeError::Unrepresentable(_))
    ));
    let long = ByteStr::from("x".repeat(70_000));
    let too_long = Properties {
        reason_string: Some(long),
        ..Properties::default()
    };
    assert_eq!(
        measure(&too_long, Context::Disconnect),
        Err(EncodeError::TooLong {
            field: "reason string",
            len: 70_000
        })
    );
}

#[test]
fn encoding_matches_hand_written_bytes() {
    let properties = Properties {
        message_expiry_interval: Some(60),
        user_properties: vec![("unit".into(), "celsius".into())],
        ..Properties::default()
    };
    let expected = b"\x15\x02\x00\x00\x00\x3c\x26\x00\x04unit\x00\x07celsius";
    assert_eq!(
        &encode_block(&properties, Context::Publish)[..],
        &expected[..]
    );
}
