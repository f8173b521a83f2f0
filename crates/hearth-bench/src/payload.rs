//! The 64-byte payload every benchmark message carries.
//!
//! The payload says who sent the message, its sequence number and when it was sent, so
//! that the receiving side can count losses and duplicates per publisher and measure
//! latency without any shared state with the sender. The send time is in nanoseconds
//! since an `Instant` shared by the publisher and the subscriber of one run (both live
//! in this process), so no wall clock is involved.
//!
//! Layout, little-endian:
//! - bytes 0..8: send time, nanoseconds since the run's start;
//! - bytes 8..12: publisher index;
//! - bytes 12..20: sequence number within that publisher;
//! - bytes 20..24: the magic `HBv1`, so a stray message (say a retained one left by
//!   another tool) is recognised and not counted;
//! - bytes 24..64: filler.

/// Payload size of every scenario, as the issue asks.
pub const PAYLOAD_LEN: usize = 64;

const MAGIC: [u8; 4] = *b"HBv1";

/// A payload with the magic in place and zeros where the stamp goes, used to build
/// packet templates that [`Stamp::write`] then patches.
pub static BLANK_PAYLOAD: [u8; PAYLOAD_LEN] = blank();

const fn blank() -> [u8; PAYLOAD_LEN] {
    let mut payload = [b'.'; PAYLOAD_LEN];
    let mut idx = 0;
    while idx < 20 {
        payload[idx] = 0;
        idx += 1;
    }
    payload[20] = MAGIC[0];
    payload[21] = MAGIC[1];
    payload[22] = MAGIC[2];
    payload[23] = MAGIC[3];
    payload
}

/// What a payload says about its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Nanoseconds between the run's start and the moment the message was written.
    pub sent_nanos: u64,
    pub publisher: u32,
    pub seq: u64,
}

impl Stamp {
    /// Writes the stamp over the first 24 bytes of `payload` (the magic included), so
    /// that a template's payload becomes this message's payload without a copy of the
    /// rest. Panics if `payload` is shorter than [`PAYLOAD_LEN`].
    pub fn write(&self, payload: &mut [u8]) {
        let payload = &mut payload[..PAYLOAD_LEN];
        payload[0..8].copy_from_slice(&self.sent_nanos.to_le_bytes());
        payload[8..12].copy_from_slice(&self.publisher.to_le_bytes());
        payload[12..20].copy_from_slice(&self.seq.to_le_bytes());
        payload[20..24].copy_from_slice(&MAGIC);
    }

    /// Reads a payload written by [`Stamp::write`]; `None` for anything else (wrong
    /// length or no magic).
    pub fn read(payload: &[u8]) -> Option<Stamp> {
        if payload.len() != PAYLOAD_LEN || payload[20..24] != MAGIC {
            return None;
        }
        let u64_at =
            |at: usize| u64::from_le_bytes(payload[at..at + 8].try_into().expect("8 bytes"));
        Some(Stamp {
            sent_nanos: u64_at(0),
            publisher: u32::from_le_bytes(payload[8..12].try_into().expect("4 bytes")),
            seq: u64_at(12),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_round_trips_through_a_payload() {
        let stamp = Stamp {
            sent_nanos: 123_456_789_012,
            publisher: 7,
            seq: u64::MAX - 1,
        };
        let mut payload = BLANK_PAYLOAD;
        stamp.write(&mut payload);
        assert_eq!(Stamp::read(&payload), Some(stamp));
        // The filler is left alone.
        assert!(payload[24..].iter().all(|&byte| byte == b'.'));
    }

    #[test]
    fn the_blank_payload_reads_as_the_zero_stamp() {
        assert_eq!(
            Stamp::read(&BLANK_PAYLOAD),
            Some(Stamp {
                sent_nanos: 0,
                publisher: 0,
                seq: 0
            })
        );
    }

    #[test]
    fn foreign_payloads_are_not_stamps() {
        assert_eq!(Stamp::read(b"21.5"), None);
        assert_eq!(Stamp::read(&[0; PAYLOAD_LEN]), None);
        let mut longer = BLANK_PAYLOAD.to_vec();
        longer.push(0);
        assert_eq!(Stamp::read(&longer), None);
    }
}
