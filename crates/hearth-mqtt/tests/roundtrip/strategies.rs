//! Proptest strategies for every packet in every version, generating only what the
//! protocol allows (the codec is entitled to refuse or drop anything else).

use ProtocolVersion::*;
use bytes::Bytes;
use hearth_mqtt::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

/// Where a property block sits, for choosing which properties to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
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

pub(crate) fn text() -> impl Strategy<Value = ByteStr> + Clone {
    "\\PC{0,12}".prop_map(ByteStr::from)
}

pub(crate) fn topic_name() -> impl Strategy<Value = ByteStr> + Clone {
    "[^+#\\x00]{1,24}".prop_map(ByteStr::from)
}

pub(crate) fn binary(max_len: usize) -> impl Strategy<Value = Bytes> + Clone {
    vec(any::<u8>(), 0..max_len).prop_map(Bytes::from)
}

pub(crate) fn qos() -> impl Strategy<Value = QoS> + Clone {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

pub(crate) fn packet_id() -> impl Strategy<Value = u16> + Clone {
    1..=u16::MAX
}

/// Any valid value for every property, before [`keep`] trims them to a place.
pub(crate) fn every_property() -> impl Strategy<Value = Properties> {
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
pub(crate) fn keep(all: Properties, place: Place) -> Properties {
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
pub(crate) fn properties(version: ProtocolVersion, place: Place) -> BoxedStrategy<Properties> {
    if version.is_v5() {
        every_property()
            .prop_map(move |all| keep(all, place))
            .boxed()
    } else {
        Just(Properties::default()).boxed()
    }
}

pub(crate) fn reason(choices: &'static [u8]) -> impl Strategy<Value = ReasonCode> + Clone {
    proptest::sample::select(choices).prop_map(ReasonCode)
}

pub(crate) fn any_reason() -> impl Strategy<Value = ReasonCode> + Clone {
    any::<u8>().prop_map(ReasonCode)
}

pub(crate) fn connect(version: ProtocolVersion) -> BoxedStrategy<Packet> {
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

pub(crate) fn connack(version: ProtocolVersion) -> BoxedStrategy<Packet> {
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

pub(crate) fn publish(version: ProtocolVersion) -> BoxedStrategy<Packet> {
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

pub(crate) fn pub_response(version: ProtocolVersion) -> BoxedStrategy<Packet> {
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

pub(crate) fn subscribe(version: ProtocolVersion) -> BoxedStrategy<Packet> {
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

pub(crate) fn suback(version: ProtocolVersion) -> BoxedStrategy<Packet> {
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

pub(crate) fn unsubscribe(version: ProtocolVersion) -> BoxedStrategy<Packet> {
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

pub(crate) fn unsuback(version: ProtocolVersion) -> BoxedStrategy<Packet> {
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

pub(crate) fn ping(_version: ProtocolVersion) -> BoxedStrategy<Packet> {
    prop_oneof![Just(Packet::PingReq), Just(Packet::PingResp)].boxed()
}

pub(crate) fn disconnect(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let reasons = if version.is_v5() {
        any_reason().boxed()
    } else {
        Just(ReasonCode::SUCCESS).boxed()
    };
    (reasons, properties(version, Place::Disconnect))
        .prop_map(|(reason, properties)| Packet::Disconnect(Disconnect { reason, properties }))
        .boxed()
}

pub(crate) fn auth(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    assert!(version.is_v5(), "AUTH exists only in v5");
    (any_reason(), properties(version, Place::Auth))
        .prop_map(|(reason, properties)| Packet::Auth(Auth { reason, properties }))
        .boxed()
}

type PacketStrategy = fn(ProtocolVersion) -> BoxedStrategy<Packet>;

/// `packet` in each version from `versions`, with the version it is meant for.
pub(crate) fn in_versions(
    packet: PacketStrategy,
    versions: &'static [ProtocolVersion],
) -> BoxedStrategy<(ProtocolVersion, Packet)> {
    proptest::sample::select(versions)
        .prop_flat_map(move |version| (Just(version), packet(version)))
        .boxed()
}

pub(crate) const ALL: &[ProtocolVersion] = &[V3_1, V3_1_1, V5];

/// Any packet of any version.
pub(crate) fn any_packet() -> BoxedStrategy<(ProtocolVersion, Packet)> {
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
