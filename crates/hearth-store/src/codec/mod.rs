//! The block codec of compacted history: one series' points or one device's raw messages
//! of a closed time range become one byte string (the `data` of `point_blocks` and
//! `message_blocks`), and back, bit-exact.
//!
//! This module is pure (no I/O, no database): the store compacts plain rows into blocks
//! with [`encode_points`] / [`encode_messages`] and reads them with [`decode_points`] /
//! [`decode_messages`]. Decoding never panics, whatever the bytes: a corrupt, truncated
//! or unknown block is a [`CodecError`], and counts read from a block are checked against
//! its length before anything is allocated for them.
//!
//! # Envelope
//! ```text
//! byte    format: 0x11 = points version 1, 0x21 = messages version 1
//! byte    flags: bit 0 = the body is deflated; other bits must be 0
//! varint  body length (only when deflated)
//! ...     the body (see `points` and `messages`), raw deflate if flagged
//! ```
//! A body is deflated only when that makes the block smaller ("compressed if it helps"):
//! decimal-mode points rarely shrink further; XOR-mode points do (their sign and
//! exponent bits repeat: an hour of a two-decimal temperature in XOR mode is 6.6 bytes a
//! point before deflate, 4.7 after), and message payloads (JSON) always do.
//!
//! # Why our own format, not a crate
//! - Gorilla's encoding (Pelkonen et al., VLDB 2015: delta-of-delta times, XOR values) is
//!   a few hundred lines. The crates that implement it fit our blocks poorly: `tsz`
//!   (0.1.4, 2023, Rust 2015 edition, barely maintained) takes unsigned times with
//!   Gorilla's buckets for second-resolution spacing; `gortsz` takes u32 times and a
//!   fixed buffer. Neither has a decimal mode or rejects corrupt input without panicking
//!   by contract.
//! - Sensor values are decimals, which XOR codes poorly; the decimal mode (what ALP does)
//!   stores such a series in a third of the bytes (that hour: 1.6 bytes a point, times
//!   included), and no maintained Rust crate offers it for a single small block.
//! - The block format is stored for years, so it must be ours to version: the first byte
//!   names the format, and a new version is added beside the old one, never in its place.
//!
//! # Why deflate through zlib-rs
//! flate2 is already in the build (backups); its `zlib-rs` backend is pure Rust (no C
//! toolchain for the Raspberry Pi cross build, no unsafe C parser of stored bytes) and
//! about as fast as zlib-ng by its authors' benchmarks. zstd would compress messages
//! somewhat better, but needs C code and another dependency; deflate already meets the
//! target (messages at ≤ 25 % of their payload bytes, measured ~17 %).
//!
//! # Layout
//! - `bits`: varints, zigzag, bit writer/reader and the bucket code.
//! - `points`: the points body (times, decimal and XOR values).
//! - `messages`: the messages body (columns and payloads).

mod bits;
mod messages;
mod points;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_props;

use hearth_model::Millis;

/// Why a block could not be decoded. A block the store wrote never fails; these mean the
/// stored bytes were damaged or written by a newer version of Hearth.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The block ends in the middle of a value.
    #[error("history block is truncated")]
    Truncated,
    /// The first byte names no format this version knows (or the wrong kind of block:
    /// messages given to [`decode_points`] or the other way round).
    #[error("unknown history block format {0:#04x}")]
    UnknownFormat(u8),
    /// The block contradicts itself (a count larger than its data, an unknown mode...).
    #[error("corrupt history block: {0}")]
    Corrupt(&'static str),
    /// The deflated body is not valid deflate data or not of its stated length.
    #[error("corrupt compressed history block: {0}")]
    Deflate(String),
}

/// One raw message in a messages block: the columns of the `messages` table that a block
/// keeps (the device is the block's, so it is not repeated per message).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockMessage {
    /// The message's id in the history (kept, so that paging by seq works on blocks).
    pub seq: i64,
    /// The message kind as the store numbers it (telemetry, event...).
    pub kind: u8,
    /// When the hub received it (or the device's clamped `ts`), ms since the epoch.
    pub received_at_ms: Millis,
    /// The payload bytes, exactly as received.
    pub payload: Vec<u8>,
    /// Whether the payload parsed as JSON.
    pub json_ok: bool,
    /// Whether the device's `ts` was outside the allowed skew and clamped.
    pub ts_clamped: bool,
}

/// The format byte of points blocks, version 1.
const POINTS_V1: u8 = 0x11;
/// The format byte of messages blocks, version 1.
const MESSAGES_V1: u8 = 0x21;
const FLAG_DEFLATED: u8 = 1;

/// Points blocks are bit-packed already; deflate rarely finds more, so a fast level.
const POINTS_DEFLATE_LEVEL: u32 = 6;
/// Messages are mostly JSON text. Measured with `examples/codec_ratio.rs` on an hour of
/// typical sensor JSON (360 messages of ~68 bytes): level 1 gives 26.7 % of the payload
/// bytes, 6 gives 18.0 %, 9 gives 17.1 % at ~1 M messages/s encoding on one x86 core
/// (0.7x of level 6's speed). Compaction runs in the background over closed ranges, so
/// the smallest size wins; decoding is as fast at any level.
const MESSAGES_DEFLATE_LEVEL: u32 = 9;

/// The largest body a block may inflate to (1 GiB): a bound against a damaged length
/// field, far above a day of one device's messages.
const MAX_BODY_BYTES: u64 = 1 << 30;

/// Encodes one series' points of a range. `points` are sorted by time (ties allowed);
/// any i64 times and any f64 bit patterns round-trip through [`decode_points`].
pub fn encode_points(points: &[(Millis, f64)]) -> Vec<u8> {
    envelope::seal(POINTS_V1, points::encode_body(points), POINTS_DEFLATE_LEVEL)
}

/// Decodes a block written by [`encode_points`].
pub fn decode_points(data: &[u8]) -> Result<Vec<(Millis, f64)>, CodecError> {
    let body = envelope::open(POINTS_V1, data)?;
    points::decode_body(&body)
}

/// Encodes one device's raw messages of a range, sorted by (`received_at_ms`, `seq`).
/// The order is kept as given; sorted input just compresses best.
pub fn encode_messages(messages: &[BlockMessage]) -> Vec<u8> {
    envelope::seal(
        MESSAGES_V1,
        messages::encode_body(messages),
        MESSAGES_DEFLATE_LEVEL,
    )
}

/// Decodes a block written by [`encode_messages`].
pub fn decode_messages(data: &[u8]) -> Result<Vec<BlockMessage>, CodecError> {
    let body = envelope::open(MESSAGES_V1, data)?;
    messages::decode_body(&body)
}

/// The two-byte header and the optional deflate around a body.
mod envelope {
    use std::borrow::Cow;
    use std::io::{Read, Write};

    use flate2::Compression;
    use flate2::bufread::DeflateDecoder;
    use flate2::write::DeflateEncoder;

    use super::bits::{ByteReader, put_varint};
    use super::{CodecError, FLAG_DEFLATED, MAX_BODY_BYTES};

    /// The block: format byte, flags and the body, deflated if that is smaller.
    pub(super) fn seal(format: u8, body: Vec<u8>, level: u32) -> Vec<u8> {
        let mut length = Vec::with_capacity(10);
        put_varint(&mut length, body.len() as u64);
        let deflated =
            deflate(&body, level).filter(|deflated| deflated.len() + length.len() < body.len());
        if let Some(deflated) = deflated {
            let mut out = Vec::with_capacity(2 + length.len() + deflated.len());
            out.extend_from_slice(&[format, FLAG_DEFLATED]);
            out.extend_from_slice(&length);
            out.extend_from_slice(&deflated);
            out
        } else {
            let mut out = Vec::with_capacity(2 + body.len());
            out.extend_from_slice(&[format, 0]);
            out.extend_from_slice(&body);
            out
        }
    }

    /// The body of a block of the given format, inflated if it was deflated.
    pub(super) fn open(format: u8, data: &[u8]) -> Result<Cow<'_, [u8]>, CodecError> {
        let mut reader = ByteReader::new(data);
        let found = reader.byte()?;
        if found != format {
            return Err(CodecError::UnknownFormat(found));
        }
        let flags = reader.byte()?;
        match flags {
            0 => Ok(Cow::Borrowed(reader.rest())),
            FLAG_DEFLATED => {
                let length = reader.varint()?;
                if length > MAX_BODY_BYTES {
                    return Err(CodecError::Corrupt("body length too large"));
                }
                let mut body = Vec::with_capacity((length as usize).min(1 << 20));
                let mut decoder = DeflateDecoder::new(reader.rest());
                // One byte more than stated, to notice a body that is longer.
                (&mut decoder)
                    .take(length + 1)
                    .read_to_end(&mut body)
                    .map_err(|error| CodecError::Deflate(error.to_string()))?;
                if body.len() as u64 != length {
                    return Err(CodecError::Deflate(format!(
                        "inflated to {} bytes, not {length}",
                        body.len()
                    )));
                }
                if !decoder.into_inner().is_empty() {
                    return Err(CodecError::Corrupt("bytes after the deflated body"));
                }
                Ok(Cow::Owned(body))
            }
            _ => Err(CodecError::Corrupt("unknown flags")),
        }
    }

    /// Raw deflate, without zlib's header and Adler-32: blocks, like the plain rows they
    /// replace, rely on the database for integrity, and the stated length catches most
    /// damage anyway. None only if the encoder fails, which writing into a Vec does not.
    fn deflate(body: &[u8], level: u32) -> Option<Vec<u8>> {
        let mut encoder =
            DeflateEncoder::new(Vec::with_capacity(body.len() / 2), Compression::new(level));
        encoder.write_all(body).ok()?;
        encoder.finish().ok()
    }
}
