//! Raw messages: one device's messages of a closed range, as columns.
//!
//! # Body (before the deflate of [`super::envelope`])
//! ```text
//! varint   count
//! count x  svarint seq delta          (the first against 0; wrapping)
//! count x  svarint time delta (ms)    (the first against 0; wrapping)
//! count    bytes: kind
//! count    bytes: flags (bit 0 = json_ok, bit 1 = ts_clamped; other bits must be 0)
//! count x  varint payload length
//! the payloads, concatenated
//! ```
//! Columns rather than rows because deflate then sees long runs of alike bytes (the
//! same kind and flags, deltas of similar size) and, above all, the payloads back to
//! back, where one message's JSON keys and most of its digits repeat the previous one's
//! within deflate's 32 KiB window.

use super::BlockMessage;
use super::CodecError;
use super::bits::{ByteReader, put_signed, put_varint};

const FLAG_JSON_OK: u8 = 1;
const FLAG_TS_CLAMPED: u8 = 2;

/// Writes the body of a messages block (see the module docs).
pub(crate) fn encode_body(messages: &[BlockMessage]) -> Vec<u8> {
    let payload_bytes: usize = messages.iter().map(|message| message.payload.len()).sum();
    let mut out = Vec::with_capacity(16 + messages.len() * 8 + payload_bytes);
    put_varint(&mut out, messages.len() as u64);
    let mut previous_seq = 0i64;
    for message in messages {
        put_signed(&mut out, message.seq.wrapping_sub(previous_seq));
        previous_seq = message.seq;
    }
    let mut previous_time = 0i64;
    for message in messages {
        put_signed(&mut out, message.received_at_ms.wrapping_sub(previous_time));
        previous_time = message.received_at_ms;
    }
    out.extend(messages.iter().map(|message| message.kind));
    out.extend(messages.iter().map(|message| {
        let mut flags = 0;
        if message.json_ok {
            flags |= FLAG_JSON_OK;
        }
        if message.ts_clamped {
            flags |= FLAG_TS_CLAMPED;
        }
        flags
    }));
    for message in messages {
        put_varint(&mut out, message.payload.len() as u64);
    }
    for message in messages {
        out.extend_from_slice(&message.payload);
    }
    out
}

/// Reads the body of a messages block.
pub(crate) fn decode_body(body: &[u8]) -> Result<Vec<BlockMessage>, CodecError> {
    let mut reader = ByteReader::new(body);
    let count = reader.length()?;
    // Every message takes at least five bytes (two deltas, kind, flags, length), so a
    // count beyond that is corrupt and must not size an allocation.
    if count > reader.remaining() / 5 {
        return Err(CodecError::Corrupt("count larger than the data"));
    }
    let mut seqs = Vec::with_capacity(count);
    let mut seq = 0i64;
    for _ in 0..count {
        seq = seq.wrapping_add(reader.signed()?);
        seqs.push(seq);
    }
    let mut times = Vec::with_capacity(count);
    let mut time = 0i64;
    for _ in 0..count {
        time = time.wrapping_add(reader.signed()?);
        times.push(time);
    }
    let kinds = reader.bytes(count)?;
    let flags = reader.bytes(count)?;
    if flags
        .iter()
        .any(|flag| flag & !(FLAG_JSON_OK | FLAG_TS_CLAMPED) != 0)
    {
        return Err(CodecError::Corrupt("unknown message flag"));
    }
    let mut lengths = Vec::with_capacity(count);
    for _ in 0..count {
        lengths.push(reader.length()?);
    }
    let mut messages = Vec::with_capacity(count);
    for index in 0..count {
        let payload = reader.bytes(lengths[index])?.to_vec();
        messages.push(BlockMessage {
            seq: seqs[index],
            kind: kinds[index],
            received_at_ms: times[index],
            payload,
            json_ok: flags[index] & FLAG_JSON_OK != 0,
            ts_clamped: flags[index] & FLAG_TS_CLAMPED != 0,
        });
    }
    if reader.remaining() != 0 {
        return Err(CodecError::Corrupt("bytes after the payloads"));
    }
    Ok(messages)
}
