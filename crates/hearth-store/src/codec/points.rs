//! Numeric points: one series' `(time, value)` pairs of a closed range, Gorilla-style.
//!
//! # Body (before the optional deflate of [`super::envelope`])
//! ```text
//! varint   count                                   (nothing follows when 0)
//! byte     time mode: 0 = delta-of-delta, 1 = fixed stride
//! svarint  first time (ms)
//! svarint  reference delta: the first delta (mode 0) or the stride (mode 1)
//! 4 bytes  bucket widths of the time residuals
//! bits     count - 1 time residuals, zero-padded to a byte
//! byte     value mode: 0 = XOR, 1 = decimal deltas, 2 = decimal delta-of-deltas
//! mode 0:  bits: first value's 64 bits, then count - 1 XOR codes, padded
//! mode 1/2: byte k (decimals), svarint first n, 4 bytes bucket widths,
//!           bits: count - 1 residuals of n, padded
//! ```
//! All arithmetic on times and integers wraps, so any i64 sequence round-trips (also
//! unsorted ones, and a jump from `i64::MIN` to `i64::MAX`).
//!
//! # Why these modes
//! - Times: delta-of-delta is Gorilla's choice and is best when the spacing drifts
//!   slowly; a device that reports on a fixed grid with independent jitter is coded
//!   better against a fixed stride (the residual is the jitter of one reading, not the
//!   difference of two). The encoder measures both and keeps the smaller.
//! - Values: sensors report decimal numbers (21.37, 45.2), whose binary fractions have
//!   noisy low mantissa bits that Gorilla's XOR codes poorly. Like ALP ("Adaptive
//!   Lossless floating-Point compression", Afroozeh et al., SIGMOD 2023), the decimal
//!   mode finds the fewest decimals `k` at which every value is exactly `n / 10^k`, and
//!   codes the integers `n`. Anything else (values from a division, NaN payloads, -0.0,
//!   infinities) takes the XOR mode, which keeps every bit pattern.

use super::CodecError;
use super::bits::{BitReader, BitWriter, Buckets, ByteReader, put_signed, put_varint};
use super::bits::{unzigzag, zigzag};
use hearth_model::Millis;

/// The most decimals the decimal mode tries. Sensors rarely report more than three;
/// beyond nine the integers grow and XOR usually measures better anyway.
const MAX_DECIMALS: usize = 9;

/// Powers of ten up to 10^9, all exact in f64, so that decoding divides by an exact
/// power and gets the correctly rounded quotient the encoder checked against.
const POWERS_OF_TEN: [f64; MAX_DECIMALS + 1] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Decimal integers must stay below 2^53 in magnitude: then `n as f64` is exact.
const MAX_DECIMAL_INTEGER: f64 = 9_007_199_254_740_992.0;

pub(crate) const TIME_DELTA_OF_DELTA: u8 = 0;
pub(crate) const TIME_STRIDE: u8 = 1;
pub(crate) const VALUE_XOR: u8 = 0;
pub(crate) const VALUE_DECIMAL_DELTA: u8 = 1;
pub(crate) const VALUE_DECIMAL_DELTA_OF_DELTA: u8 = 2;

/// Writes the body of a points block (see the module docs).
pub(crate) fn encode_body(points: &[(Millis, f64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + points.len() * 2);
    put_varint(&mut out, points.len() as u64);
    let Some(&(first_time, _)) = points.first() else {
        return out;
    };
    encode_times(&mut out, first_time, points);
    encode_values(&mut out, points);
    out
}

/// Reads the body of a points block.
pub(crate) fn decode_body(body: &[u8]) -> Result<Vec<(Millis, f64)>, CodecError> {
    let mut reader = ByteReader::new(body);
    let count = reader.length()?;
    if count == 0 {
        return if reader.remaining() == 0 {
            Ok(Vec::new())
        } else {
            Err(CodecError::Corrupt("bytes after an empty block"))
        };
    }
    let (times, rest) = decode_times(&mut reader, count)?;
    let mut reader = ByteReader::new(rest);
    let values = decode_values(&mut reader, count)?;
    if reader.remaining() != 0 {
        return Err(CodecError::Corrupt("bytes after the values"));
    }
    Ok(times.into_iter().zip(values).collect())
}

/// The time residuals against a reference delta: the previous delta when `stride` is
/// None (delta-of-delta, the reference starting at `start`), else the fixed stride.
fn time_residuals(points: &[(Millis, f64)], start: i64, stride: Option<i64>) -> Vec<u64> {
    let mut reference = stride.unwrap_or(start);
    points
        .windows(2)
        .map(|pair| {
            let delta = pair[1].0.wrapping_sub(pair[0].0);
            let residual = delta.wrapping_sub(reference);
            if stride.is_none() {
                reference = delta;
            }
            zigzag(residual)
        })
        .collect()
}

fn encode_times(out: &mut Vec<u8>, first_time: Millis, points: &[(Millis, f64)]) {
    let mut deltas: Vec<i64> = points
        .windows(2)
        .map(|pair| pair[1].0.wrapping_sub(pair[0].0))
        .collect();
    let first_delta = deltas.first().copied().unwrap_or(0);
    let by_delta_of_delta = time_residuals(points, first_delta, None);
    let (dod_buckets, dod_bits) = Buckets::best(&by_delta_of_delta);
    // The median delta is the stride that makes most residuals small.
    deltas.sort_unstable();
    let stride = deltas.get(deltas.len() / 2).copied().unwrap_or(0);
    let by_stride = time_residuals(points, stride, Some(stride));
    let (stride_buckets, stride_bits) = Buckets::best(&by_stride);

    let (mode, reference, buckets, residuals) = if stride_bits < dod_bits {
        (TIME_STRIDE, stride, stride_buckets, by_stride)
    } else {
        (
            TIME_DELTA_OF_DELTA,
            first_delta,
            dod_buckets,
            by_delta_of_delta,
        )
    };
    out.push(mode);
    put_signed(out, first_time);
    put_signed(out, reference);
    buckets.write_header(out);
    let mut writer = BitWriter::default();
    for residual in residuals {
        buckets.write(&mut writer, residual);
    }
    out.extend_from_slice(&writer.finish());
}

/// Reads the times and returns them with the bytes after the time section.
fn decode_times<'a>(
    reader: &mut ByteReader<'a>,
    count: usize,
) -> Result<(Vec<Millis>, &'a [u8]), CodecError> {
    let mode = reader.byte()?;
    if mode != TIME_DELTA_OF_DELTA && mode != TIME_STRIDE {
        return Err(CodecError::Corrupt("unknown time mode"));
    }
    let first_time = reader.signed()?;
    let mut reference = reader.signed()?;
    let buckets = Buckets::read_header(reader)?;
    let mut bits = BitReader::new(reader.rest());
    check_count(count, buckets.min_bits(), bits.remaining_bits())?;
    let mut times = Vec::with_capacity(count.min(1 << 16));
    times.push(first_time);
    let mut time = first_time;
    for _ in 1..count {
        let delta = reference.wrapping_add(unzigzag(buckets.read(&mut bits)?));
        if mode == TIME_DELTA_OF_DELTA {
            reference = delta;
        }
        time = time.wrapping_add(delta);
        times.push(time);
    }
    let used_bytes = reader.rest().len() - bits.remaining_bits() / 8;
    Ok((times, &reader.rest()[used_bytes..]))
}

/// Rejects a count that the remaining bits cannot hold, before allocating for it.
fn check_count(count: usize, min_bits: usize, remaining_bits: usize) -> Result<(), CodecError> {
    let needed = (count - 1).checked_mul(min_bits);
    match needed {
        Some(needed) if needed <= remaining_bits => Ok(()),
        _ => Err(CodecError::Corrupt("count larger than the data")),
    }
}

/// The fewest decimals `k` at which every value is exactly `n / 10^k` with `|n| < 2^53`,
/// and those integers; None if no `k` up to [`MAX_DECIMALS`] fits every value.
pub(crate) fn find_decimals(points: &[(Millis, f64)]) -> Option<(u8, Vec<i64>)> {
    'decimals: for (k, &power) in POWERS_OF_TEN.iter().enumerate() {
        let mut integers = Vec::with_capacity(points.len());
        for &(_, value) in points {
            let scaled = (value * power).round();
            // Also rejects NaN and infinities.
            if scaled.is_nan() || scaled.abs() >= MAX_DECIMAL_INTEGER {
                continue 'decimals;
            }
            let integer = scaled as i64;
            // Bit-exact: -0.0 never passes (0 / 10^k is +0.0), NaN never equals.
            if ((integer as f64) / power).to_bits() != value.to_bits() {
                continue 'decimals;
            }
            integers.push(integer);
        }
        return Some((k as u8, integers));
    }
    None
}

fn decimal_residuals(integers: &[i64], delta_of_delta: bool) -> Vec<u64> {
    let mut previous_delta = 0i64;
    integers
        .windows(2)
        .map(|pair| {
            let delta = pair[1].wrapping_sub(pair[0]);
            let residual = if delta_of_delta {
                delta.wrapping_sub(previous_delta)
            } else {
                delta
            };
            previous_delta = delta;
            zigzag(residual)
        })
        .collect()
}

fn encode_values(out: &mut Vec<u8>, points: &[(Millis, f64)]) {
    let xor = encode_xor(points);
    if let Some((decimals, integers)) = find_decimals(points) {
        let by_delta = decimal_residuals(&integers, false);
        let by_dod = decimal_residuals(&integers, true);
        let (delta_buckets, delta_bits) = Buckets::best(&by_delta);
        let (dod_buckets, dod_bits) = Buckets::best(&by_dod);
        let (mode, buckets, residuals, bits) = if dod_bits < delta_bits {
            (VALUE_DECIMAL_DELTA_OF_DELTA, dod_buckets, by_dod, dod_bits)
        } else {
            (VALUE_DECIMAL_DELTA, delta_buckets, by_delta, delta_bits)
        };
        // Header: mode, k, first n, widths; then the padded bits.
        let mut first = Vec::with_capacity(10);
        put_signed(&mut first, integers[0]);
        let decimal_bytes = 2 + first.len() + 4 + bits.div_ceil(8) as usize;
        if decimal_bytes < xor.len() {
            out.push(mode);
            out.push(decimals);
            out.extend_from_slice(&first);
            buckets.write_header(out);
            let mut writer = BitWriter::default();
            for residual in residuals {
                buckets.write(&mut writer, residual);
            }
            out.extend_from_slice(&writer.finish());
            return;
        }
    }
    out.push(VALUE_XOR);
    out.extend_from_slice(&xor);
}

fn decode_values(reader: &mut ByteReader<'_>, count: usize) -> Result<Vec<f64>, CodecError> {
    let mode = reader.byte()?;
    match mode {
        VALUE_XOR => decode_xor(reader, count),
        VALUE_DECIMAL_DELTA | VALUE_DECIMAL_DELTA_OF_DELTA => {
            let decimals = reader.byte()? as usize;
            let power = *POWERS_OF_TEN
                .get(decimals)
                .ok_or(CodecError::Corrupt("too many decimals"))?;
            let mut integer = reader.signed()?;
            let buckets = Buckets::read_header(reader)?;
            let rest = reader.rest();
            let mut bits = BitReader::new(rest);
            check_count(count, buckets.min_bits(), bits.remaining_bits())?;
            let mut values = Vec::with_capacity(count.min(1 << 16));
            values.push(integer as f64 / power);
            let mut delta = 0i64;
            for _ in 1..count {
                let residual = unzigzag(buckets.read(&mut bits)?);
                delta = if mode == VALUE_DECIMAL_DELTA_OF_DELTA {
                    delta.wrapping_add(residual)
                } else {
                    residual
                };
                integer = integer.wrapping_add(delta);
                values.push(integer as f64 / power);
            }
            reader.bytes(rest.len() - bits.remaining_bits() / 8)?;
            Ok(values)
        }
        _ => Err(CodecError::Corrupt("unknown value mode")),
    }
}

/// Gorilla's XOR coding: the first value's 64 bits, then per value the XOR with the
/// previous one: `0` if equal; `10` and the meaningful bits if they fit in the previous
/// window of leading/trailing zeros; else `11`, 6 bits of leading zeros, 6 bits of
/// (meaningful length - 1) and the meaningful bits. (Gorilla uses 5 bits for the
/// leading zeros and caps them at 31; 6 bits cost one bit and never cap.)
fn encode_xor(points: &[(Millis, f64)]) -> Vec<u8> {
    let mut writer = BitWriter::default();
    let mut previous = points[0].1.to_bits();
    writer.write(previous, 64);
    // The current window as (leading, trailing); None before the first `11` code.
    let mut window: Option<(u32, u32)> = None;
    for &(_, value) in &points[1..] {
        let bits = value.to_bits();
        let xor = bits ^ previous;
        previous = bits;
        if xor == 0 {
            writer.bit(false);
            continue;
        }
        let leading = xor.leading_zeros();
        let trailing = xor.trailing_zeros();
        match window {
            Some((window_leading, window_trailing))
                if leading >= window_leading && trailing >= window_trailing =>
            {
                writer.write(0b10, 2);
                writer.write(
                    xor >> window_trailing,
                    64 - window_leading - window_trailing,
                );
            }
            _ => {
                let meaningful = 64 - leading - trailing;
                writer.write(0b11, 2);
                writer.write(u64::from(leading), 6);
                writer.write(u64::from(meaningful - 1), 6);
                writer.write(xor >> trailing, meaningful);
                window = Some((leading, trailing));
            }
        }
    }
    writer.finish()
}

fn decode_xor(reader: &mut ByteReader<'_>, count: usize) -> Result<Vec<f64>, CodecError> {
    let rest = reader.rest();
    let mut bits = BitReader::new(rest);
    let mut previous = bits.read(64)?;
    // Every value after the first takes at least one bit.
    check_count(count, 1, bits.remaining_bits())?;
    let mut values = Vec::with_capacity(count.min(1 << 16));
    values.push(f64::from_bits(previous));
    let mut window: Option<(u32, u32)> = None;
    for _ in 1..count {
        if bits.bit()? {
            let (leading, trailing) = if bits.bit()? {
                let leading = bits.read(6)? as u32;
                let meaningful = bits.read(6)? as u32 + 1;
                if leading + meaningful > 64 {
                    return Err(CodecError::Corrupt("XOR window wider than 64 bits"));
                }
                let window_now = (leading, 64 - leading - meaningful);
                window = Some(window_now);
                window_now
            } else {
                window.ok_or(CodecError::Corrupt("XOR code reuses a window before any"))?
            };
            let meaningful = 64 - leading - trailing;
            previous ^= bits.read(meaningful)? << trailing;
        }
        values.push(f64::from_bits(previous));
    }
    reader.bytes(rest.len() - bits.remaining_bits() / 8)?;
    Ok(values)
}

/// The time mode and the value mode of a points body (for tests that check which mode
/// the encoder chose).
#[cfg(test)]
pub(crate) fn modes(body: &[u8]) -> Result<(u8, u8), CodecError> {
    let mut reader = ByteReader::new(body);
    let count = reader.length()?;
    let time_mode = *body.get(reader.position()).ok_or(CodecError::Truncated)?;
    let (_, rest) = decode_times(&mut reader, count)?;
    Ok((time_mode, *rest.first().ok_or(CodecError::Truncated)?))
}
