//! The fixed header (v5 §2.1, 3.1.1 §2.2): packet type, flags and remaining length.
//!
//! Everything that can be judged from these few bytes is judged here, before the body is
//! waited for: a peer announcing a 200 MB packet, an unknown type or a PUBLISH before
//! CONNECT is refused on its first bytes instead of after the broker has buffered the
//! rest.

use super::primitives::parse_varint;
use crate::{DecodeError, Packet, ProtocolVersion, QoS};

/// The packet types, numbered as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
    Auth = 15,
}

impl Kind {
    #[cfg(test)]
    const ALL: [Kind; 15] = [
        Kind::Connect,
        Kind::ConnAck,
        Kind::Publish,
        Kind::PubAck,
        Kind::PubRec,
        Kind::PubRel,
        Kind::PubComp,
        Kind::Subscribe,
        Kind::SubAck,
        Kind::Unsubscribe,
        Kind::UnsubAck,
        Kind::PingReq,
        Kind::PingResp,
        Kind::Disconnect,
        Kind::Auth,
    ];

    fn from_number(number: u8) -> Option<Kind> {
        let kind = match number {
            1 => Kind::Connect,
            2 => Kind::ConnAck,
            3 => Kind::Publish,
            4 => Kind::PubAck,
            5 => Kind::PubRec,
            6 => Kind::PubRel,
            7 => Kind::PubComp,
            8 => Kind::Subscribe,
            9 => Kind::SubAck,
            10 => Kind::Unsubscribe,
            11 => Kind::UnsubAck,
            12 => Kind::PingReq,
            13 => Kind::PingResp,
            14 => Kind::Disconnect,
            15 => Kind::Auth,
            _ => return None,
        };
        Some(kind)
    }

    pub(super) fn of(packet: &Packet) -> Kind {
        match packet {
            Packet::Connect(_) => Kind::Connect,
            Packet::ConnAck(_) => Kind::ConnAck,
            Packet::Publish(_) => Kind::Publish,
            Packet::PubAck(_) => Kind::PubAck,
            Packet::PubRec(_) => Kind::PubRec,
            Packet::PubRel(_) => Kind::PubRel,
            Packet::PubComp(_) => Kind::PubComp,
            Packet::Subscribe(_) => Kind::Subscribe,
            Packet::SubAck(_) => Kind::SubAck,
            Packet::Unsubscribe(_) => Kind::Unsubscribe,
            Packet::UnsubAck(_) => Kind::UnsubAck,
            Packet::PingReq => Kind::PingReq,
            Packet::PingResp => Kind::PingResp,
            Packet::Disconnect(_) => Kind::Disconnect,
            Packet::Auth(_) => Kind::Auth,
        }
    }

    /// The flags every packet but PUBLISH must carry (3.1.1 §2.2.2, v5 §2.1.3): PUBREL,
    /// SUBSCRIBE and UNSUBSCRIBE keep the QoS 1 bit that MQTT 3.1 gave them.
    fn fixed_flags(self) -> u8 {
        match self {
            Kind::PubRel | Kind::Subscribe | Kind::Unsubscribe => 0b0010,
            _ => 0,
        }
    }
}

/// What the fixed header says about the packet that follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FixedHeader {
    pub kind: Kind,
    pub flags: u8,
    /// Bytes the fixed header itself takes (2 to 5).
    pub header_len: usize,
    pub remaining_len: usize,
}

impl FixedHeader {
    pub(super) fn packet_len(&self) -> usize {
        self.header_len + self.remaining_len
    }
}

/// Reads the fixed header at the front of `bytes` without consuming anything. `Ok(None)`
/// while the remaining length is still incomplete.
pub(super) fn parse(
    bytes: &[u8],
    version: Option<ProtocolVersion>,
    max_packet_size: usize,
) -> Result<Option<FixedHeader>, DecodeError> {
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    let kind = check_kind(first >> 4, version)?;
    let flags = first & 0x0F;
    check_flags(kind, flags, version)?;
    let Some((remaining_len, varint_len)) = parse_varint(&bytes[1..])? else {
        return Ok(None);
    };
    let header = FixedHeader {
        kind,
        flags,
        header_len: 1 + varint_len,
        remaining_len: remaining_len as usize,
    };
    if header.packet_len() > max_packet_size {
        return Err(DecodeError::TooLarge {
            size: header.packet_len(),
            max: max_packet_size,
        });
    }
    Ok(Some(header))
}

fn check_kind(number: u8, version: Option<ProtocolVersion>) -> Result<Kind, DecodeError> {
    let Some(kind) = Kind::from_number(number) else {
        return Err(DecodeError::Malformed("reserved packet type 0"));
    };
    match (version, kind) {
        (None, Kind::Connect) => Ok(kind),
        (None, _) => Err(DecodeError::Protocol("first packet is not CONNECT")),
        (Some(_), Kind::Connect) => Err(DecodeError::Protocol("second CONNECT")),
        (Some(version), Kind::Auth) if !version.is_v5() => Err(DecodeError::Malformed(
            "reserved packet type 15 before MQTT 5",
        )),
        (Some(_), _) => Ok(kind),
    }
}

fn check_flags(kind: Kind, flags: u8, version: Option<ProtocolVersion>) -> Result<(), DecodeError> {
    if kind == Kind::Publish {
        let qos = QoS::from_u8((flags >> 1) & 0b11)
            .ok_or(DecodeError::Malformed("PUBLISH with QoS 3"))?;
        if qos == QoS::AtMostOnce && flags & 0b1000 != 0 {
            return Err(DecodeError::Malformed("DUP set on a QoS 0 PUBLISH"));
        }
        return Ok(());
    }
    let expected = kind.fixed_flags();
    // MQTT 3.1 let a client set DUP when it resent one of these (3.1 §2.1), which 3.1.1
    // turned into a reserved bit; old clients still do it.
    let resent_v3_1 =
        version == Some(ProtocolVersion::V3_1) && expected != 0 && flags == expected | 0b1000;
    if flags == expected || resent_v3_1 {
        Ok(())
    } else {
        Err(DecodeError::Malformed("reserved fixed header flags"))
    }
}

/// The first byte of `packet` on the wire.
pub(super) fn first_byte(packet: &Packet) -> u8 {
    let kind = Kind::of(packet);
    let flags = match packet {
        Packet::Publish(publish) => {
            let qos = publish.qos as u8;
            // DUP means nothing on QoS 0 and a receiver must refuse it (v5 §3.3.1.1).
            let dup = publish.dup && qos > 0;
            (u8::from(dup) << 3) | (qos << 1) | u8::from(publish.retain)
        }
        _ => kind.fixed_flags(),
    };
    ((kind as u8) << 4) | flags
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProtocolVersion::*;

    const MAX: usize = 1 << 20;

    fn parse_first(
        bytes: &[u8],
        version: Option<ProtocolVersion>,
    ) -> Result<Option<FixedHeader>, DecodeError> {
        parse(bytes, version, MAX)
    }

    #[test]
    fn packet_numbers_match_the_specification() {
        for (index, kind) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(kind as u8, index as u8 + 1);
            assert_eq!(Kind::from_number(index as u8 + 1), Some(kind));
        }
        assert_eq!(Kind::from_number(0), None);
    }

    #[test]
    fn reads_type_flags_and_length() {
        let header = parse_first(&[0x35, 0xC1, 0x02], Some(V5)).unwrap().unwrap();
        assert_eq!(
            header,
            FixedHeader {
                kind: Kind::Publish,
                flags: 0x5,
                header_len: 3,
                remaining_len: 321
            }
        );
        assert_eq!(header.packet_len(), 324);
    }

    #[test]
    fn incomplete_header_is_not_an_error() {
        assert_eq!(parse_first(&[], None), Ok(None));
        assert_eq!(parse_first(&[0x10], None), Ok(None));
        assert_eq!(parse_first(&[0x30, 0x80, 0x80], Some(V3_1_1)), Ok(None));
    }

    #[test]
    fn remaining_length_of_five_bytes_is_malformed() {
        let result = parse_first(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], Some(V5));
        assert_eq!(
            result,
            Err(DecodeError::Malformed(
                "variable byte integer longer than four bytes"
            ))
        );
    }

    #[test]
    fn too_large_is_reported_from_the_header_alone() {
        // 0x30 0x80 0x80 0x01: PUBLISH of 16,384 bytes, of which none has arrived.
        let result = parse(&[0x30, 0x80, 0x80, 0x01], Some(V3_1_1), 1000);
        assert_eq!(
            result,
            Err(DecodeError::TooLarge {
                size: 16_388,
                max: 1000
            })
        );
        // The whole packet counts: 2 header bytes + 98 = 100 fits 100 but not 99.
        assert!(parse(&[0x30, 98], Some(V5), 100).unwrap().is_some());
        assert_eq!(
            parse(&[0x30, 98], Some(V5), 99),
            Err(DecodeError::TooLarge { size: 100, max: 99 })
        );
    }

    #[test]
    fn packet_type_rules() {
        assert_eq!(
            parse_first(&[0x00, 0x00], Some(V5)),
            Err(DecodeError::Malformed("reserved packet type 0"))
        );
        assert_eq!(
            parse_first(&[0x00], None),
            Err(DecodeError::Malformed("reserved packet type 0"))
        );
        for version in [V3_1, V3_1_1] {
            assert!(matches!(
                parse_first(&[0xF0, 0x00], Some(version)),
                Err(DecodeError::Malformed(_))
            ));
        }
        assert!(parse_first(&[0xF0, 0x00], Some(V5)).unwrap().is_some());
        for first in [0x20, 0x30, 0x82, 0xC0, 0xE0, 0xF0] {
            assert_eq!(
                parse_first(&[first], None),
                Err(DecodeError::Protocol("first packet is not CONNECT"))
            );
        }
        for version in [V3_1, V3_1_1, V5] {
            assert_eq!(
                parse_first(&[0x10], Some(version)),
                Err(DecodeError::Protocol("second CONNECT"))
            );
        }
    }

    #[test]
    fn reserved_flags_are_malformed() {
        for kind in Kind::ALL.into_iter().filter(|kind| *kind != Kind::Publish) {
            let valid = ((kind as u8) << 4) | kind.fixed_flags();
            let version = if kind == Kind::Connect {
                None
            } else {
                Some(V5)
            };
            assert!(
                parse_first(&[valid, 0], version).unwrap().is_some(),
                "{kind:?}"
            );
            for flags in (0..16u8).filter(|flags| *flags != kind.fixed_flags()) {
                let result = parse_first(&[((kind as u8) << 4) | flags], version);
                assert_eq!(
                    result,
                    Err(DecodeError::Malformed("reserved fixed header flags")),
                    "{kind:?} {flags:#06b}"
                );
            }
        }
    }

    #[test]
    fn mqtt_3_1_may_set_dup_on_resent_pubrel_subscribe_unsubscribe() {
        for first in [0x6A, 0x8A, 0xAA] {
            assert!(parse_first(&[first, 2], Some(V3_1)).unwrap().is_some());
            assert!(matches!(
                parse_first(&[first, 2], Some(V3_1_1)),
                Err(DecodeError::Malformed(_))
            ));
            assert!(matches!(
                parse_first(&[first, 2], Some(V5)),
                Err(DecodeError::Malformed(_))
            ));
        }
        assert!(
            matches!(
                parse_first(&[0x48, 2], Some(V3_1)),
                Err(DecodeError::Malformed(_))
            ),
            "not PUBACK"
        );
    }

    #[test]
    fn publish_flags() {
        assert_eq!(
            parse_first(&[0x36], Some(V5)),
            Err(DecodeError::Malformed("PUBLISH with QoS 3"))
        );
        assert_eq!(
            parse_first(&[0x38], Some(V3_1_1)),
            Err(DecodeError::Malformed("DUP set on a QoS 0 PUBLISH"))
        );
        for first in [0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x3A, 0x3B, 0x3C, 0x3D] {
            assert_eq!(parse_first(&[first], Some(V3_1)), Ok(None), "{first:#04x}");
        }
    }

    #[test]
    fn first_byte_of_every_packet() {
        use crate::*;
        let publish = Publish {
            dup: true,
            qos: QoS::ExactlyOnce,
            retain: true,
            ..Publish::default()
        };
        assert_eq!(first_byte(&Packet::Publish(publish)), 0x3D);
        let dup_qos0 = Publish {
            dup: true,
            retain: false,
            ..Publish::default()
        };
        assert_eq!(
            first_byte(&Packet::Publish(dup_qos0)),
            0x30,
            "DUP dropped on QoS 0"
        );
        assert_eq!(first_byte(&Packet::PubRel(PubResponse::default())), 0x62);
        assert_eq!(first_byte(&Packet::PingReq), 0xC0);
        assert_eq!(first_byte(&Packet::Auth(Auth::default())), 0xF0);
    }
}
