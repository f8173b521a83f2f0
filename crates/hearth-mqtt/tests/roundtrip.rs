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

mod common;

use ProtocolVersion::*;
use bytes::{Bytes, BytesMut};
use hearth_mqtt::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

/// Where a property block sits, for choosing which properties to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Connect,
    Will,
    ConnAck,
    Publish,
    PubResponse,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth,
}

fn text() -> impl Strategy<Value = ByteStr> + Clone {
    "\\PC{0,12}".prop_map(ByteStr::from)
}

fn topic_name() -> impl Strategy<Value = ByteStr> + Clone {
    "[^+#\\x00]{1,24}".prop_map(ByteStr::from)
}

fn binary(max_len: usize) -> impl Strategy<Value = Bytes> + Clone {
    vec(any::<u8>(), 0..max_len).prop_map(Bytes::from)
}

fn qos() -> impl Strategy<Value = QoS> + Clone {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn packet_id() -> impl Strategy<Value = u16> + Clone {
    1..=u16::MAX
}

/// Any valid value for every property, before [`keep`] trims them to a place.
fn every_property() -> impl Strategy<Value = Properties> {
    let message = (
        option::of(0u8..=1),
        option::of(any::<u32>()),
        option::of(text()),
        option::of(topic_name()),
        option::of(binary(16)),
        vec(1u32..=268_435_455, 0..3),
        option::of(1u16..),
        option::of(any::<u32>()),
    );
    let session = (
        option::of(any::<u32>()),
        option::of(text()),
        option::of(any::<u16>()),
        option::of(text()),
        option::of(binary(16)),
        option::of(0u8..=1),
        option::of(0u8..=1),
        option::of(text()),
        option::of(text()),
        option::of(text()),
        option::of(1u16..),
        option::of(any::<u16>()),
    );
    let server = (
        option::of(0u8..=1),
        option::of(any::<bool>()),
        option::of(1u32..),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        vec((text(), text()), 0..3),
    );
    (message, session, server).prop_map(|(message, session, server)| Properties {
        payload_format_indicator: message.0,
        message_expiry_interval: message.1,
        content_type: message.2,
        response_topic: message.3,
        correlation_data: message.4,
        subscription_identifiers: message.5,
        topic_alias: message.6,
        will_delay_interval: message.7,
        session_expiry_interval: session.0,
        assigned_client_identifier: session.1,
        server_keep_alive: session.2,
        authentication_method: session.3,
        authentication_data: session.4,
        request_problem_information: session.5,
        request_response_information: session.6,
        response_information: session.7,
        server_reference: session.8,
        reason_string: session.9,
        receive_maximum: session.10,
        topic_alias_maximum: session.11,
        maximum_qos: server.0,
        retain_available: server.1,
        maximum_packet_size: server.2,
        wildcard_subscription_available: server.3,
        subscription_identifier_available: server.4,
        shared_subscription_available: server.5,
        user_properties: server.6,
    })
}

/// The properties `place` may carry (v5 §2.2.2.2), the rest left unset.
fn keep(all: Properties, place: Place) -> Properties {
    let user_properties = all.user_properties.clone();
    let base = Properties {
        user_properties,
        ..Properties::default()
    };
    match place {
        Place::Publish | Place::Will => Properties {
            payload_format_indicator: all.payload_format_indicator,
            message_expiry_interval: all.message_expiry_interval,
            content_type: all.content_type,
            response_topic: all.response_topic,
            correlation_data: all.correlation_data,
            subscription_identifiers: if place == Place::Publish {
                all.subscription_identifiers
            } else {
                Vec::new()
            },
            topic_alias: all.topic_alias.filter(|_| place == Place::Publish),
            will_delay_interval: all.will_delay_interval.filter(|_| place == Place::Will),
            ..base
        },
        Place::Connect => Properties {
            session_expiry_interval: all.session_expiry_interval,
            // Authentication data needs a method (v5 §3.1.2.11.10).
            authentication_method: all
                .authentication_method
                .or_else(|| all.authentication_data.as_ref().map(|_| "m".into())),
            authentication_data: all.authentication_data,
            request_problem_information: all.request_problem_information,
            request_response_information: all.request_response_information,
            receive_maximum: all.receive_maximum,
            topic_alias_maximum: all.topic_alias_maximum,
            maximum_packet_size: all.maximum_packet_size,
            ..base
        },
        Place::ConnAck => Properties {
            session_expiry_interval: all.session_expiry_interval,
            assigned_client_identifier: all.assigned_client_identifier,
            server_keep_alive: all.server_keep_alive,
            authentication_method: all.authentication_method,
            authentication_data: all.authentication_data,
            response_information: all.response_information,
            server_reference: all.server_reference,
            reason_string: all.reason_string,
            receive_maximum: all.receive_maximum,
            topic_alias_maximum: all.topic_alias_maximum,
            maximum_qos: all.maximum_qos,
            retain_available: all.retain_available,
            maximum_packet_size: all.maximum_packet_size,
            wildcard_subscription_available: all.wildcard_subscription_available,
            subscription_identifier_available: all.subscription_identifier_available,
            shared_subscription_available: all.shared_subscription_available,
            ..base
        },
        Place::PubResponse | Place::SubAck | Place::UnsubAck => Properties {
            reason_string: all.reason_string,
            ..base
        },
        Place::Subscribe => Properties {
            subscription_identifiers: all.subscription_identifiers.into_iter().take(1).collect(),
            ..base
        },
        Place::Unsubscribe => base,
        Place::Disconnect => Properties {
            session_expiry_interval: all.session_expiry_interval,
            server_reference: all.server_reference,
            reason_string: all.reason_string,
            ..base
        },
        Place::Auth => Properties {
            authentication_method: all.authentication_method,
            authentication_data: all.authentication_data,
            reason_string: all.reason_string,
            ..base
        },
    }
}

/// Properties for `place`, or none at all before v5.
fn properties(version: ProtocolVersion, place: Place) -> BoxedStrategy<Properties> {
    if version.is_v5() {
        every_property()
            .prop_map(move |all| keep(all, place))
            .boxed()
    } else {
        Just(Properties::default()).boxed()
    }
}

fn reason(choices: &'static [u8]) -> impl Strategy<Value = ReasonCode> + Clone {
    proptest::sample::select(choices).prop_map(ReasonCode)
}

fn any_reason() -> impl Strategy<Value = ReasonCode> + Clone {
    any::<u8>().prop_map(ReasonCode)
}

fn connect(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let will = (
        topic_name(),
        binary(64),
        qos(),
        any::<bool>(),
        properties(version, Place::Will),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        });
    (
        any::<bool>(),
        any::<u16>(),
        text(),
        option::of(will),
        option::of(text()),
        option::of(binary(32)),
        properties(version, Place::Connect),
    )
        .prop_map(
            move |(clean_start, keep_alive, client_id, will, username, password, properties)| {
                // 3.x refuses a password without a user name.
                let password = if version.is_v5() || username.is_some() {
                    password
                } else {
                    None
                };
                let connect = Connect {
                    protocol: version,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                };
                Packet::Connect(Box::new(connect))
            },
        )
        .boxed()
}

fn connack(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    // The v5 codes that 3.x return codes map to, and back.
    let reasons = if version.is_v5() {
        any_reason().boxed()
    } else {
        reason(&[0x00, 0x84, 0x85, 0x88, 0x86, 0x87]).boxed()
    };
    (any::<bool>(), reasons, properties(version, Place::ConnAck))
        .prop_map(move |(session_present, reason, properties)| {
            // MQTT 3.1 has no session present flag.
            let session_present = session_present && version != V3_1;
            Packet::ConnAck(ConnAck {
                session_present,
                reason,
                properties,
            })
        })
        .boxed()
}

fn publish(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        any::<bool>(),
        packet_id(),
        properties(version, Place::Publish),
        binary(300),
    )
        .prop_map(
            |(qos, dup, retain, topic, use_alias, packet_id, properties, payload)| {
                let at_most_once = qos == QoS::AtMostOnce;
                // An aliased v5 PUBLISH may leave its topic empty.
                let topic = if use_alias && properties.topic_alias.is_some() {
                    ByteStr::default()
                } else {
                    topic
                };
                Packet::Publish(Publish {
                    dup: dup && !at_most_once,
                    qos,
                    retain,
                    topic,
                    packet_id: if at_most_once { 0 } else { packet_id },
                    properties,
                    payload,
                })
            },
        )
        .boxed()
}

fn pub_response(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let reasons = if version.is_v5() {
        any_reason().boxed()
    } else {
        Just(ReasonCode::SUCCESS).boxed()
    };
    (
        0..4usize,
        packet_id(),
        reasons,
        properties(version, Place::PubResponse),
    )
        .prop_map(|(kind, packet_id, reason, properties)| {
            let response = PubResponse {
                packet_id,
                reason,
                properties,
            };
            match kind {
                0 => Packet::PubAck(response),
                1 => Packet::PubRec(response),
                2 => Packet::PubRel(response),
                _ => Packet::PubComp(response),
            }
        })
        .boxed()
}

fn subscribe(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let handling = prop_oneof![
        Just(RetainHandling::SendAtSubscribe),
        Just(RetainHandling::SendAtSubscribeIfNew),
        Just(RetainHandling::DoNotSend)
    ];
    let options = (qos(), any::<bool>(), any::<bool>(), handling).prop_map(
        move |(qos, no_local, retain_as_published, retain_handling)| {
            if version.is_v5() {
                SubscriptionOptions {
                    qos,
                    no_local,
                    retain_as_published,
                    retain_handling,
                }
            } else {
                SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                }
            }
        },
    );
    let filter =
        (text(), options).prop_map(|(filter, options)| SubscribeFilter { filter, options });
    (
        packet_id(),
        vec(filter, 1..5),
        properties(version, Place::Subscribe),
    )
        .prop_map(|(packet_id, filters, properties)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                filters,
                properties,
            })
        })
        .boxed()
}

fn suback(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let reasons = if version.is_v5() {
        any_reason().boxed()
    } else {
        reason(&[0x00, 0x01, 0x02, 0x80]).boxed()
    };
    (
        packet_id(),
        vec(reasons, 1..6),
        properties(version, Place::SubAck),
    )
        .prop_map(|(packet_id, reasons, properties)| {
            Packet::SubAck(SubAck {
                packet_id,
                reasons,
                properties,
            })
        })
        .boxed()
}

fn unsubscribe(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    (
        packet_id(),
        vec(text(), 1..5),
        properties(version, Place::Unsubscribe),
    )
        .prop_map(|(packet_id, filters, properties)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters,
                properties,
            })
        })
        .boxed()
}

fn unsuback(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    // A 3.x UNSUBACK carries nothing but the packet identifier.
    let reasons = if version.is_v5() {
        vec(any_reason(), 1..6).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (packet_id(), reasons, properties(version, Place::UnsubAck))
        .prop_map(|(packet_id, reasons, properties)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                reasons,
                properties,
            })
        })
        .boxed()
}

fn ping(_version: ProtocolVersion) -> BoxedStrategy<Packet> {
    prop_oneof![Just(Packet::PingReq), Just(Packet::PingResp)].boxed()
}

fn disconnect(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let reasons = if version.is_v5() {
        any_reason().boxed()
    } else {
        Just(ReasonCode::SUCCESS).boxed()
    };
    (reasons, properties(version, Place::Disconnect))
        .prop_map(|(reason, properties)| Packet::Disconnect(Disconnect { reason, properties }))
        .boxed()
}

fn auth(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    assert!(version.is_v5(), "AUTH exists only in v5");
    (any_reason(), properties(version, Place::Auth))
        .prop_map(|(reason, properties)| Packet::Auth(Auth { reason, properties }))
        .boxed()
}

type PacketStrategy = fn(ProtocolVersion) -> BoxedStrategy<Packet>;

/// `packet` in each version from `versions`, with the version it is meant for.
fn in_versions(
    packet: PacketStrategy,
    versions: &'static [ProtocolVersion],
) -> BoxedStrategy<(ProtocolVersion, Packet)> {
    proptest::sample::select(versions)
        .prop_flat_map(move |version| (Just(version), packet(version)))
        .boxed()
}

const ALL: &[ProtocolVersion] = &[V3_1, V3_1_1, V5];

/// Any packet of any version.
fn any_packet() -> BoxedStrategy<(ProtocolVersion, Packet)> {
    let every: [PacketStrategy; 11] = [
        connect,
        connack,
        publish,
        pub_response,
        subscribe,
        suback,
        unsubscribe,
        unsuback,
        ping,
        disconnect,
        auth,
    ];
    (0..every.len(), proptest::sample::select(ALL))
        .prop_flat_map(move |(index, version)| {
            // AUTH exists only in v5.
            let version = if index == every.len() - 1 {
                V5
            } else {
                version
            };
            (Just(version), every[index](version))
        })
        .boxed()
}

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
