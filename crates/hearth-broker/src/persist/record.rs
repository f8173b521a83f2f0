//! Record formats: how a session and a message become bytes for a [`BrokerStore`].
//!
//! Hand-written rather than serde because the message body already has a compact,
//! versioned, well-tested encoding: an MQTT 5 PUBLISH from our own codec, which carries
//! every forwarded property. Each record starts with a format byte so that a later
//! version can read older files.
//!
//! [`BrokerStore`]: super::BrokerStore

use bytes::{Buf, BufMut, Bytes, BytesMut};
use hearth_bus::{Principal, PrincipalKind};
use hearth_mqtt::{
    Packet, ProtocolVersion, Publish, QoS, RetainHandling, SubscriptionOptions, Will,
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

use crate::message::Message;

const FORMAT: u8 = 1;
/// Session records: format 2 added the session's owner; format 1 records (no owner)
/// still read.
const SESSION_FORMAT: u8 = 2;
const SESSION_FORMAT_WITHOUT_OWNER: u8 = 1;

/// Wall-clock milliseconds since the Unix epoch: records outlive the process, so they
/// cannot use `Instant`.
pub(crate) fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// Turns a monotonic deadline into wall-clock milliseconds (and back, below).
fn deadline_to_unix_ms(deadline: Instant, now: Instant, now_ms: u64) -> u64 {
    now_ms + deadline.saturating_duration_since(now).as_millis() as u64
}

fn unix_ms_to_deadline(unix_ms: u64, now: Instant, now_ms: u64) -> Instant {
    now + Duration::from_millis(unix_ms.saturating_sub(now_ms))
}

/// A queued message as stored: the message plus how it is owed to its session.
#[derive(Debug)]
pub(crate) struct MessageRecord {
    pub message: Message,
    pub qos: QoS,
    pub retain: bool,
    pub subscription_ids: Vec<u32>,
}

pub(crate) fn encode_message(
    message: &Message,
    qos: QoS,
    retain: bool,
    subscription_ids: &[u32],
) -> Bytes {
    let now = Instant::now();
    let expires_ms = message.expires_at.map_or(0, |deadline| {
        deadline_to_unix_ms(deadline, now, now_unix_ms())
    });
    let publish = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: message.retain,
        topic: message.topic.clone(),
        packet_id: 0,
        properties: message.properties.clone(),
        payload: message.payload.clone(),
    });
    let mut out = BytesMut::with_capacity(
        16 + 4 * subscription_ids.len() + message.payload.len() + message.topic.len() + 8,
    );
    out.put_u8(FORMAT);
    out.put_u8(qos as u8 | (message.qos as u8) << 2);
    out.put_u8(u8::from(retain));
    out.put_u64(expires_ms);
    out.put_u8(subscription_ids.len().min(255) as u8);
    for id in subscription_ids.iter().take(255) {
        out.put_u32(*id);
    }
    // Encoding a message that was decoded or built by the broker cannot fail.
    let _ = hearth_mqtt::encode(&publish, ProtocolVersion::V5, &mut out);
    out.freeze()
}

pub(crate) fn decode_message(mut record: Bytes) -> Option<MessageRecord> {
    if record.remaining() < 12 || record.get_u8() != FORMAT {
        return None;
    }
    let qos_byte = record.get_u8();
    let qos = QoS::from_u8(qos_byte & 0b11)?;
    let message_qos = QoS::from_u8((qos_byte >> 2) & 0b11)?;
    let retain = record.get_u8() != 0;
    let expires_ms = record.get_u64();
    let n_ids = usize::from(record.get_u8());
    if record.remaining() < 4 * n_ids {
        return None;
    }
    let subscription_ids = (0..n_ids).map(|_| record.get_u32()).collect();
    let mut body = BytesMut::from(&record[..]);
    let Ok(Some(Packet::Publish(publish))) =
        hearth_mqtt::decode(&mut body, Some(ProtocolVersion::V5), usize::MAX)
    else {
        return None;
    };
    let now = Instant::now();
    let mut message = Message::from_publish(publish, None, None, None, now);
    message.qos = message_qos;
    message.expires_at =
        (expires_ms != 0).then(|| unix_ms_to_deadline(expires_ms, now, now_unix_ms()));
    Some(MessageRecord {
        message,
        qos,
        retain,
        subscription_ids,
    })
}

/// A persistent session as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SessionRecord {
    pub protocol: ProtocolVersion,
    pub expiry: u32,
    /// When its client went away; 0 while connected (after a crash: "unknown", treated
    /// as "at start-up").
    pub disconnected_at_ms: u64,
    /// The principal that created the session: only it may resume the session, and its
    /// will is checked against its rights when sent. `None` for records written before
    /// owners were kept.
    pub owner: Option<Principal>,
    pub subscriptions: Vec<(String, SubscriptionOptions, Option<u32>)>,
    /// The will of the last connection, kept so that a crash does not swallow it.
    pub will: Option<Will>,
}

pub(crate) fn encode_session(session: &SessionRecord) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(SESSION_FORMAT);
    out.put_u8(match session.protocol {
        ProtocolVersion::V3_1 => 3,
        ProtocolVersion::V3_1_1 => 4,
        ProtocolVersion::V5 => 5,
    });
    out.put_u32(session.expiry);
    out.put_u64(session.disconnected_at_ms);
    match &session.owner {
        Some(owner) => {
            out.put_u8(principal_kind_code(owner.kind));
            let name = &owner.name.as_bytes()[..owner.name.len().min(usize::from(u16::MAX))];
            out.put_u16(name.len() as u16);
            out.put_slice(name);
        }
        None => out.put_u8(0),
    }
    out.put_u32(session.subscriptions.len() as u32);
    for (filter, options, id) in &session.subscriptions {
        out.put_u16(filter.len() as u16);
        out.put_slice(filter.as_bytes());
        let options_byte = options.qos as u8
            | u8::from(options.no_local) << 2
            | u8::from(options.retain_as_published) << 3
            | (options.retain_handling as u8) << 4;
        out.put_u8(options_byte);
        out.put_u32(id.unwrap_or(0));
    }
    // An optional trailing section, so that records written without it still read.
    if let Some(will) = &session.will {
        let mut publish = crate::message::will_publish(will.clone());
        // A QoS 1/2 PUBLISH needs a packet id to encode; the number itself is not kept.
        publish.packet_id = u16::from(will.qos != QoS::AtMostOnce);
        let publish = Packet::Publish(publish);
        let mut body = BytesMut::new();
        if hearth_mqtt::encode(&publish, ProtocolVersion::V5, &mut body).is_ok() {
            out.put_u32(will.properties.will_delay_interval.unwrap_or(0));
            out.put_u32(body.len() as u32);
            out.put_slice(&body);
        }
    }
    out.freeze()
}

pub(crate) fn decode_session(mut record: Bytes) -> Option<SessionRecord> {
    if record.remaining() < 18 {
        return None;
    }
    let format = record.get_u8();
    if format != SESSION_FORMAT && format != SESSION_FORMAT_WITHOUT_OWNER {
        return None;
    }
    let protocol = match record.get_u8() {
        3 => ProtocolVersion::V3_1,
        4 => ProtocolVersion::V3_1_1,
        5 => ProtocolVersion::V5,
        _ => return None,
    };
    let expiry = record.get_u32();
    let disconnected_at_ms = record.get_u64();
    let owner = if format == SESSION_FORMAT {
        if record.remaining() < 1 {
            return None;
        }
        match record.get_u8() {
            0 => None,
            code => {
                let kind = principal_kind_from_code(code)?;
                if record.remaining() < 2 {
                    return None;
                }
                let len = usize::from(record.get_u16());
                if record.remaining() < len {
                    return None;
                }
                let name = std::str::from_utf8(&record.split_to(len)).ok()?.to_owned();
                Some(Principal::new(kind, name))
            }
        }
    } else {
        None
    };
    if record.remaining() < 4 {
        return None;
    }
    let n = record.get_u32() as usize;
    let mut subscriptions = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        if record.remaining() < 2 {
            return None;
        }
        let len = usize::from(record.get_u16());
        if record.remaining() < len + 5 {
            return None;
        }
        let filter = String::from_utf8(record.split_to(len).to_vec()).ok()?;
        let options_byte = record.get_u8();
        let options = SubscriptionOptions {
            qos: QoS::from_u8(options_byte & 0b11)?,
            no_local: options_byte & 0b100 != 0,
            retain_as_published: options_byte & 0b1000 != 0,
            retain_handling: match (options_byte >> 4) & 0b11 {
                0 => RetainHandling::SendAtSubscribe,
                1 => RetainHandling::SendAtSubscribeIfNew,
                _ => RetainHandling::DoNotSend,
            },
        };
        let id = record.get_u32();
        subscriptions.push((filter, options, (id != 0).then_some(id)));
    }
    let will = if record.has_remaining() {
        if record.remaining() < 8 {
            return None;
        }
        let delay = record.get_u32();
        let len = record.get_u32() as usize;
        if record.remaining() < len {
            return None;
        }
        let mut body = BytesMut::from(&record.split_to(len)[..]);
        let Ok(Some(Packet::Publish(publish))) =
            hearth_mqtt::decode(&mut body, Some(ProtocolVersion::V5), usize::MAX)
        else {
            return None;
        };
        let mut properties = publish.properties;
        properties.will_delay_interval = (delay > 0).then_some(delay);
        Some(Will {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            properties,
        })
    } else {
        None
    };
    Some(SessionRecord {
        protocol,
        expiry,
        disconnected_at_ms,
        owner,
        subscriptions,
        will,
    })
}

/// Stable codes for [`PrincipalKind`] on disk (0 means "no owner").
fn principal_kind_code(kind: PrincipalKind) -> u8 {
    match kind {
        PrincipalKind::Device => 1,
        PrincipalKind::Application => 2,
        PrincipalKind::User => 3,
        PrincipalKind::Admin => 4,
        PrincipalKind::ConfigUser => 5,
        PrincipalKind::Anonymous => 6,
        PrincipalKind::Service => 7,
        PrincipalKind::Site => 8,
    }
}

fn principal_kind_from_code(code: u8) -> Option<PrincipalKind> {
    Some(match code {
        1 => PrincipalKind::Device,
        2 => PrincipalKind::Application,
        3 => PrincipalKind::User,
        4 => PrincipalKind::Admin,
        5 => PrincipalKind::ConfigUser,
        6 => PrincipalKind::Anonymous,
        7 => PrincipalKind::Service,
        8 => PrincipalKind::Site,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_mqtt::{ByteStr, Properties};

    #[test]
    fn message_round_trip_keeps_properties_qos_and_expiry() {
        let now = Instant::now();
        let properties = Properties {
            content_type: Some(ByteStr::from("application/json")),
            correlation_data: Some(Bytes::from_static(b"c-1")),
            user_properties: vec![(ByteStr::from("k"), ByteStr::from("v"))],
            ..Properties::default()
        };
        let message = Message {
            topic: ByteStr::from("devices/a/data"),
            payload: Bytes::from_static(b"{\"t\":21}"),
            qos: QoS::ExactlyOnce,
            retain: true,
            properties: properties.clone(),
            expires_at: Some(now + Duration::from_secs(60)),
            origin: None,
            client_id: None,
            principal: None,
        };
        let record = encode_message(&message, QoS::AtLeastOnce, true, &[7, 9]);
        let decoded = decode_message(record).unwrap();
        assert_eq!(decoded.qos, QoS::AtLeastOnce);
        assert!(decoded.retain);
        assert_eq!(decoded.subscription_ids, vec![7, 9]);
        assert_eq!(decoded.message.topic, message.topic);
        assert_eq!(decoded.message.payload, message.payload);
        assert_eq!(decoded.message.qos, QoS::ExactlyOnce);
        assert!(decoded.message.retain);
        assert_eq!(decoded.message.properties, properties);
        let left = decoded.message.remaining_expiry(Instant::now()).unwrap();
        assert!((58..=60).contains(&left), "{left}");
    }

    #[test]
    fn session_round_trip_keeps_every_subscription_option() {
        let session = SessionRecord {
            protocol: ProtocolVersion::V3_1_1,
            expiry: u32::MAX,
            disconnected_at_ms: 1_700_000_000_000,
            owner: Some(Principal::new(PrincipalKind::Application, "app-1")),
            subscriptions: vec![
                (
                    "a/+/b".into(),
                    SubscriptionOptions {
                        qos: QoS::AtLeastOnce,
                        ..Default::default()
                    },
                    None,
                ),
                (
                    "$share/g/x/#".into(),
                    SubscriptionOptions {
                        qos: QoS::ExactlyOnce,
                        no_local: true,
                        retain_as_published: true,
                        retain_handling: RetainHandling::DoNotSend,
                    },
                    Some(42),
                ),
            ],
            will: Some(Will {
                topic: ByteStr::from("devices/a/status"),
                payload: Bytes::from_static(b"offline"),
                qos: QoS::AtLeastOnce,
                retain: true,
                properties: Properties {
                    will_delay_interval: Some(30),
                    content_type: Some(ByteStr::from("text/plain")),
                    ..Properties::default()
                },
            }),
        };
        assert_eq!(decode_session(encode_session(&session)), Some(session));
        let without_will = SessionRecord {
            will: None,
            ..session_without_subscriptions()
        };
        assert_eq!(
            decode_session(encode_session(&without_will)),
            Some(without_will)
        );
    }

    #[test]
    fn damaged_records_are_rejected_not_misread() {
        assert!(decode_message(Bytes::from_static(b"\x02garbage-of-another-format")).is_none());
        assert!(decode_session(Bytes::from_static(b"\x01\x05")).is_none());
        let session = SessionRecord {
            protocol: ProtocolVersion::V5,
            expiry: 1,
            disconnected_at_ms: 0,
            owner: None,
            subscriptions: vec![("t".into(), SubscriptionOptions::default(), None)],
            will: None,
        };
        let record = encode_session(&session);
        assert!(decode_session(record.slice(..record.len() - 1)).is_none());
    }

    #[test]
    fn sessions_written_before_owners_were_kept_still_read_without_one() {
        let session = session_without_subscriptions();
        let record = encode_session(&session);
        // Format 1: the same bytes without the owner section.
        let owner_len = 1 + 2 + "lamp".len();
        let mut old = BytesMut::new();
        old.put_u8(SESSION_FORMAT_WITHOUT_OWNER);
        old.put_slice(&record[1..14]);
        old.put_slice(&record[14 + owner_len..]);
        let decoded = decode_session(old.freeze()).unwrap();
        assert_eq!(decoded.owner, None);
        assert_eq!(decoded.expiry, session.expiry);
        assert_eq!(decoded.subscriptions, session.subscriptions);
    }

    fn session_without_subscriptions() -> SessionRecord {
        SessionRecord {
            protocol: ProtocolVersion::V5,
            expiry: 60,
            disconnected_at_ms: 0,
            owner: Some(Principal::new(PrincipalKind::Device, "lamp")),
            subscriptions: Vec::new(),
            will: None,
        }
    }
}
