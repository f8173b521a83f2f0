//! The primitives every block format is built from: LEB128 varints, zigzag, a bit writer
//! and a bounds-checked bit reader, and the bucket code for signed integers.
//!
//! The readers never index past their input: every read checks the remaining length and
//! returns [`CodecError::Truncated`], so a corrupt block is an error, not a panic.

use super::CodecError;

/// Maps signed to unsigned so that small magnitudes of either sign get small codes
/// (0, -1, 1, -2 ... become 0, 1, 2, 3 ...), as protobuf does.
pub(crate) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub(crate) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Appends `value` as an unsigned LEB128 varint (7 bits a byte, high bit = more follows).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a signed value as a zigzag varint.
pub(crate) fn put_signed(out: &mut Vec<u8>, value: i64) {
    put_varint(out, zigzag(value));
}

/// Reads bytes and varints from a slice, front to back.
pub(crate) struct ByteReader<'a> {
    data: &'a [u8],
    position: usize,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> ByteReader<'a> {
        ByteReader { data, position: 0 }
    }

    #[cfg(test)]
    pub(crate) fn position(&self) -> usize {
        self.position
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.position
    }

    /// The bytes not read yet (for handing the rest to a [`BitReader`]).
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.data[self.position..]
    }

    pub(crate) fn byte(&mut self) -> Result<u8, CodecError> {
        let byte = *self.data.get(self.position).ok_or(CodecError::Truncated)?;
        self.position += 1;
        Ok(byte)
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Result<&'a [u8], CodecError> {
        if len > self.remaining() {
            return Err(CodecError::Truncated);
        }
        let slice = &self.data[self.position..self.position + len];
        self.position += len;
        Ok(slice)
    }

    /// An unsigned LEB128 varint of at most 10 bytes whose value fits in 64 bits.
    pub(crate) fn varint(&mut self) -> Result<u64, CodecError> {
        let mut value = 0u64;
        for index in 0..10 {
            let byte = self.byte()?;
            let low = u64::from(byte & 0x7f);
            if index == 9 && low > 1 {
                return Err(CodecError::Corrupt("varint overflows 64 bits"));
            }
            value |= low << (7 * index);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(CodecError::Corrupt("varint longer than 10 bytes"))
    }

    pub(crate) fn signed(&mut self) -> Result<i64, CodecError> {
        Ok(unzigzag(self.varint()?))
    }

    /// A varint used as a count or a length, which must fit in `usize`.
    pub(crate) fn length(&mut self) -> Result<usize, CodecError> {
        usize::try_from(self.varint()?).map_err(|_| CodecError::Corrupt("length too large"))
    }
}

/// Packs bits most significant first into bytes; the last byte is padded with zeros.
#[derive(Default)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    /// Bits waiting to be flushed, right-aligned.
    pending: u64,
    n_pending: u32,
}

impl BitWriter {
    /// Writes the low `n_bits` bits of `value` (`n_bits` at most 64).
    pub(crate) fn write(&mut self, value: u64, n_bits: u32) {
        debug_assert!(n_bits <= 64);
        if n_bits == 0 {
            return;
        }
        if n_bits > 32 {
            self.write(value >> 32, n_bits - 32);
            self.write(value & 0xffff_ffff, 32);
            return;
        }
        let value = value & ((1u64 << n_bits) - 1);
        self.pending = (self.pending << n_bits) | value;
        self.n_pending += n_bits;
        while self.n_pending >= 8 {
            self.n_pending -= 8;
            self.bytes.push((self.pending >> self.n_pending) as u8);
        }
        self.pending &= (1u64 << self.n_pending) - 1;
    }

    pub(crate) fn bit(&mut self, bit: bool) {
        self.write(u64::from(bit), 1);
    }

    /// The bytes, the last one padded with zero bits.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        if self.n_pending > 0 {
            let pad = 8 - self.n_pending;
            self.write(0, pad);
        }
        self.bytes
    }
}

/// Reads what a [`BitWriter`] wrote; every read checks the length.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    position: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> BitReader<'a> {
        BitReader { data, position: 0 }
    }

    pub(crate) fn remaining_bits(&self) -> usize {
        self.data.len() * 8 - self.position
    }

    /// Reads `n_bits` (at most 64) most significant first.
    pub(crate) fn read(&mut self, n_bits: u32) -> Result<u64, CodecError> {
        if n_bits as usize > self.remaining_bits() {
            return Err(CodecError::Truncated);
        }
        let mut value = 0u64;
        let mut left = n_bits;
        while left > 0 {
            let byte = self.data[self.position / 8];
            let offset = (self.position % 8) as u32;
            let available = 8 - offset;
            let take = available.min(left);
            let chunk = (u64::from(byte) >> (available - take)) & ((1u64 << take) - 1);
            // `take` is at most 8 and `value` has at most 64 - take significant bits here.
            value = (value << take) | chunk;
            left -= take;
            self.position += take as usize;
        }
        Ok(value)
    }

    pub(crate) fn bit(&mut self) -> Result<bool, CodecError> {
        Ok(self.read(1)? == 1)
    }
}

/// The number of bits needed to write `value` (0 for 0).
pub(crate) fn bit_width(value: u64) -> u32 {
    64 - value.leading_zeros()
}

/// A prefix code for zigzag'd signed integers with four buckets of chosen widths, in the
/// spirit of Gorilla's delta-of-delta buckets: prefix `0` then `widths[0]` bits, `10` then
/// `widths[1]`, `110` then `widths[2]`, `111` then `widths[3]` bits.
///
/// Gorilla fixes its widths (7, 9, 12, 32) for second-resolution times; ours are chosen
/// per block by [`Buckets::best`] from the widths that actually occur, because the same
/// code serves millisecond times with jitter, decimal value deltas that are mostly zero
/// and deltas that are mostly a few hundred, and the best widths differ for each. The
/// four widths are stored in the block header (four bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Buckets {
    pub(crate) widths: [u8; 4],
}

const PREFIX_BITS: [u32; 4] = [1, 2, 3, 3];
const PREFIX_CODES: [u64; 4] = [0b0, 0b10, 0b110, 0b111];

impl Buckets {
    /// The widths that minimise the encoded size of `values` (zigzag'd), and that size in
    /// bits. The last bucket is always as wide as the widest value, so every value fits.
    pub(crate) fn best(values: &[u64]) -> (Buckets, u64) {
        let mut histogram = [0u64; 65];
        for &value in values {
            histogram[bit_width(value) as usize] += 1;
        }
        let widest = (0..=64).rev().find(|&w| histogram[w] > 0).unwrap_or(0);
        // below[w] = how many values need at most w bits.
        let mut below = [0u64; 65];
        let mut running = 0;
        for width in 0..=64 {
            running += histogram[width];
            below[width] = running;
        }
        let total = running;
        let cost = |w0: usize, w1: usize, w2: usize| -> u64 {
            let n0 = below[w0];
            let n1 = below[w1] - below[w0];
            let n2 = below[w2] - below[w1];
            let n3 = total - below[w2];
            n0 * (1 + w0 as u64)
                + n1 * (2 + w1 as u64)
                + n2 * (3 + w2 as u64)
                + n3 * (3 + widest as u64)
        };
        let mut best = ([widest as u8; 4], cost(widest, widest, widest));
        // Only widths that occur are worth a bucket boundary; at most 65 of them, so the
        // search is at most ~45,000 cheap evaluations and usually far fewer.
        let occurring: Vec<usize> = (0..=widest).filter(|&w| histogram[w] > 0).collect();
        for (i0, &w0) in occurring.iter().enumerate() {
            for (i1, &w1) in occurring.iter().enumerate().skip(i0) {
                for &w2 in occurring.iter().skip(i1) {
                    let size = cost(w0, w1, w2);
                    if size < best.1 {
                        best = ([w0 as u8, w1 as u8, w2 as u8, widest as u8], size);
                    }
                }
            }
        }
        (Buckets { widths: best.0 }, best.1)
    }

    pub(crate) fn write_header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.widths);
    }

    pub(crate) fn read_header(reader: &mut ByteReader<'_>) -> Result<Buckets, CodecError> {
        let mut widths = [0u8; 4];
        for width in &mut widths {
            *width = reader.byte()?;
            if *width > 64 {
                return Err(CodecError::Corrupt("bucket wider than 64 bits"));
            }
        }
        Ok(Buckets { widths })
    }

    /// Writes one zigzag'd value; it must fit the widest bucket (as it does for the values
    /// [`Buckets::best`] was given).
    pub(crate) fn write(&self, writer: &mut BitWriter, value: u64) {
        let width = bit_width(value);
        let bucket = (0..4)
            .find(|&b| width <= u32::from(self.widths[b]))
            .unwrap_or(3);
        writer.write(PREFIX_CODES[bucket], PREFIX_BITS[bucket]);
        writer.write(value, u32::from(self.widths[bucket]));
    }

    pub(crate) fn read(&self, reader: &mut BitReader<'_>) -> Result<u64, CodecError> {
        let bucket = if !reader.bit()? {
            0
        } else if !reader.bit()? {
            1
        } else if !reader.bit()? {
            2
        } else {
            3
        };
        reader.read(u32::from(self.widths[bucket]))
    }

    /// The fewest bits one value takes (for bounding counts read from corrupt headers).
    pub(crate) fn min_bits(&self) -> usize {
        (0..4)
            .map(|b| PREFIX_BITS[b] as usize + self.widths[b] as usize)
            .min()
            .unwrap_or(1)
    }
}
