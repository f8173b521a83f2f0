//! Round trips of hand-picked edge cases, the choice of modes, sizes on sensor-like data
//! and the errors of malformed blocks. Property tests and the corruption loops are in
//! `tests_props`.

use super::points::{
    TIME_DELTA_OF_DELTA, TIME_STRIDE, VALUE_DECIMAL_DELTA, VALUE_DECIMAL_DELTA_OF_DELTA, VALUE_XOR,
    find_decimals, modes,
};
use super::*;

/// Encodes, decodes, checks bit-exactness and returns the block.
pub(super) fn round_trip_points(points: &[(Millis, f64)]) -> Vec<u8> {
    let data = encode_points(points);
    let decoded = decode_points(&data).expect("decodes");
    assert_eq!(decoded.len(), points.len());
    for (index, (expected, got)) in points.iter().zip(&decoded).enumerate() {
        assert_eq!(expected.0, got.0, "time {index}");
        assert_eq!(
            expected.1.to_bits(),
            got.1.to_bits(),
            "value {index}: {expected:?} {got:?}"
        );
    }
    data
}

/// The (time mode, value mode) the encoder chose for `points`.
fn modes_of(points: &[(Millis, f64)]) -> (u8, u8) {
    let data = encode_points(points);
    let body = envelope::open(POINTS_V1, &data).expect("envelope");
    modes(&body).expect("modes")
}

/// A seeded generator (splitmix64), so sizes asserted below are the same on every run.
pub(super) struct Random(pub(super) u64);

impl Random {
    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Roughly normal with standard deviation 1 (sum of 12 uniforms minus 6).
    fn normal(&mut self) -> f64 {
        (0..12)
            .map(|_| (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
            .sum::<f64>()
            - 6.0
    }
}

/// An hour of 10 s readings with jitter: a temperature random walk with two decimals.
pub(super) fn temperature_hour(random: &mut Random) -> Vec<(Millis, f64)> {
    let mut walk = 21.0;
    (0..360)
        .map(|index| {
            walk += random.normal() * 0.02;
            let time = 1_765_090_000_000 + index * 10_000 + (random.normal() * 15.0) as i64;
            let value = ((walk + random.normal() * 0.03) * 100.0).round() / 100.0;
            (time, value)
        })
        .collect()
}

#[test]
fn empty_and_single_points_round_trip() {
    round_trip_points(&[]);
    round_trip_points(&[(0, 0.0)]);
    round_trip_points(&[(i64::MIN, f64::NAN)]);
    round_trip_points(&[(i64::MAX, -0.0)]);
    round_trip_points(&[(-1, f64::from_bits(u64::MAX))]);
}

#[test]
fn extreme_and_equal_times_round_trip() {
    let value = 1.5;
    round_trip_points(&[(i64::MIN, value), (i64::MAX, value)]);
    round_trip_points(&[(i64::MIN, value), (0, value), (i64::MAX, value)]);
    round_trip_points(&[(5, value), (5, value), (5, value), (6, value), (6, value)]);
    round_trip_points(&[
        (-10_000, value),
        (0, value),
        (10_000, value),
        (10_000_000_000_000, value),
        (10_000_000_010_000, value),
        (i64::MAX - 1, value),
        (i64::MAX, value),
    ]);
    // Unsorted input is outside the contract, but wrapping arithmetic keeps it exact.
    round_trip_points(&[
        (100, value),
        (-100, value),
        (i64::MAX, value),
        (i64::MIN, value),
    ]);
    // Many equal times in a row, then a jump: the code for zero must be cheap and exact.
    let mut ties: Vec<(Millis, f64)> = (0..100).map(|_| (42, value)).collect();
    ties.push((1_765_090_000_000, value));
    round_trip_points(&ties);
}

#[test]
fn special_floats_round_trip_in_xor_mode() {
    let specials = [
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        f64::from_bits(0x7ff8_0000_dead_beef), // quiet NaN with a payload
        f64::from_bits(0x7ff0_0000_0000_0001), // signalling NaN
        f64::from_bits(0xfff8_0000_0000_0000), // negative NaN
        f64::MIN_POSITIVE,
        f64::from_bits(1), // smallest subnormal
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        1.0 / 3.0,
    ];
    let points: Vec<(Millis, f64)> = specials
        .iter()
        .enumerate()
        .map(|(index, &value)| (index as i64 * 10_000, value))
        .collect();
    round_trip_points(&points);
    assert_eq!(modes_of(&points).1, VALUE_XOR);
    // Each special alone among an hour of decimals (which alone take the decimal mode),
    // so it must force the fallback.
    let mut random = Random(4);
    let hour = temperature_hour(&mut random);
    assert_ne!(modes_of(&hour).1, VALUE_XOR);
    for special in specials {
        let mut points = hour.clone();
        points[180].1 = special;
        round_trip_points(&points);
        // +0.0 is the decimal 0; every other special is no short decimal.
        let decimal = special.to_bits() == 0;
        assert_eq!(modes_of(&points).1 != VALUE_XOR, decimal, "{special:?}");
    }
}

#[test]
fn decimal_detection_finds_the_fewest_decimals() {
    let at =
        |values: &[f64]| -> Vec<(Millis, f64)> { values.iter().map(|&value| (0, value)).collect() };
    assert_eq!(
        find_decimals(&at(&[21.37, 45.2, 12.0])),
        Some((2, vec![2137, 4520, 1200]))
    );
    assert_eq!(
        find_decimals(&at(&[3.0, -7.0, 0.0])),
        Some((0, vec![3, -7, 0]))
    );
    assert_eq!(
        find_decimals(&at(&[0.1, 0.2, 0.3])),
        Some((1, vec![1, 2, 3]))
    );
    assert_eq!(find_decimals(&at(&[-0.001])), Some((3, vec![-1])));
    // 0.1 + 0.2 is not the double nearest to 0.3: no short decimal gives its bits.
    assert_eq!(find_decimals(&at(&[0.1 + 0.2])), None);
    assert_eq!(find_decimals(&at(&[21.37, 1.0 / 3.0])), None);
    assert_eq!(find_decimals(&at(&[21.37, -0.0])), None);
    assert_eq!(find_decimals(&at(&[21.37, f64::NAN])), None);
    assert_eq!(find_decimals(&at(&[f64::INFINITY])), None);
    // At the edge of exact integers: 2^53 - 1 is decimal, 2^53 is not taken.
    assert_eq!(
        find_decimals(&at(&[9_007_199_254_740_991.0])),
        Some((0, vec![9_007_199_254_740_991]))
    );
    assert_eq!(find_decimals(&at(&[9_007_199_254_740_992.0])), None);
}

#[test]
fn sensor_series_take_the_decimal_mode_and_fall_back_to_xor_for_one_odd_value() {
    let mut random = Random(1);
    let mut points = temperature_hour(&mut random);
    let (time_mode, value_mode) = modes_of(&points);
    assert!(time_mode == TIME_STRIDE || time_mode == TIME_DELTA_OF_DELTA);
    assert!(
        value_mode == VALUE_DECIMAL_DELTA || value_mode == VALUE_DECIMAL_DELTA_OF_DELTA,
        "{value_mode}"
    );
    let decimal = round_trip_points(&points);
    // The goal of the decimal mode: an hour of readings in ~1.5 bytes each, where the
    // XOR mode needs several.
    assert!(decimal.len() < 2 * points.len(), "{} bytes", decimal.len());

    points[100].1 = 21.0 + 1.0 / 3.0;
    assert_eq!(modes_of(&points).1, VALUE_XOR);
    let xor = round_trip_points(&points);
    assert!(
        xor.len() > decimal.len() * 2,
        "{} vs {}",
        xor.len(),
        decimal.len()
    );
}

#[test]
fn times_on_a_grid_take_the_stride_mode_and_drifting_times_delta_of_delta() {
    // Independent jitter around a fixed grid: the stride residual is one jitter.
    let mut random = Random(2);
    let grid: Vec<(Millis, f64)> = (0..360)
        .map(|index| (index * 10_000 + (random.normal() * 30.0) as i64, 1.0))
        .collect();
    assert_eq!(modes_of(&grid).0, TIME_STRIDE);
    round_trip_points(&grid);
    // A slowly changing interval: delta-of-delta is mostly zero.
    let mut time = 0;
    let drifting: Vec<(Millis, f64)> = (0..360)
        .map(|index| {
            time += 10_000 + index / 10;
            (time, 1.0)
        })
        .collect();
    assert_eq!(modes_of(&drifting).0, TIME_DELTA_OF_DELTA);
    round_trip_points(&drifting);
}

#[test]
fn constant_series_cost_about_two_bits_a_point() {
    let points: Vec<(Millis, f64)> = (0..8_640).map(|index| (index * 10_000, 1.0)).collect();
    let data = round_trip_points(&points);
    assert!(data.len() < 8_640 / 4, "{} bytes", data.len());
}

fn message(seq: i64, at: Millis, payload: &[u8]) -> BlockMessage {
    BlockMessage {
        seq,
        kind: 0,
        received_at_ms: at,
        payload: payload.to_vec(),
        json_ok: true,
        ts_clamped: false,
    }
}

#[test]
fn messages_round_trip_with_every_field() {
    assert_eq!(decode_messages(&encode_messages(&[])).expect("decodes"), []);
    let messages = vec![
        message(i64::MIN, i64::MIN, b""),
        BlockMessage {
            kind: 255,
            json_ok: false,
            ts_clamped: true,
            ..message(-1, -5, &[0, 255, 0x80, 0xc3])
        },
        BlockMessage {
            kind: 3,
            ts_clamped: true,
            ..message(7, 0, br#"{"a":1}"#)
        },
        message(7, 0, br#"{"a":1}"#),
        message(i64::MAX, i64::MAX, &[b'x'; 70_000]),
    ];
    let data = encode_messages(&messages);
    assert_eq!(decode_messages(&data).expect("decodes"), messages);
}

#[test]
fn typical_sensor_messages_shrink_below_a_quarter_of_their_payload() {
    let mut random = Random(3);
    let points = temperature_hour(&mut random);
    let messages: Vec<BlockMessage> = points
        .iter()
        .enumerate()
        .map(|(index, &(at, temperature))| {
            let payload = format!(
                r#"{{"temperature":{temperature},"humidity":{},"power":{},"ts":{at}}}"#,
                45.2 + (index % 7) as f64 / 10.0,
                12.3 + (index % 13) as f64 / 10.0,
            );
            message(1_000 + index as i64 * 97, at + 12, payload.as_bytes())
        })
        .collect();
    let payload_bytes: usize = messages.iter().map(|m| m.payload.len()).sum();
    let data = encode_messages(&messages);
    assert_eq!(decode_messages(&data).expect("decodes"), messages);
    assert!(
        data.len() * 4 <= payload_bytes,
        "{} of {payload_bytes}",
        data.len()
    );
}

#[test]
fn malformed_blocks_are_errors() {
    assert_eq!(decode_points(&[]), Err(CodecError::Truncated));
    assert_eq!(decode_messages(&[]), Err(CodecError::Truncated));
    assert_eq!(
        decode_points(&[0x12, 0]),
        Err(CodecError::UnknownFormat(0x12))
    );
    // The wrong kind of block is refused by its format byte.
    let messages = encode_messages(&[message(1, 2, b"{}")]);
    assert_eq!(
        decode_points(&messages),
        Err(CodecError::UnknownFormat(0x21))
    );
    let points = encode_points(&[(1, 2.0)]);
    assert_eq!(
        decode_messages(&points),
        Err(CodecError::UnknownFormat(0x11))
    );
    assert!(matches!(
        decode_points(&[0x11, 4, 0]),
        Err(CodecError::Corrupt(_))
    ));
    // A count of 2^63 with no data behind it is refused before any allocation.
    let mut huge = vec![0x11, 0];
    bits::put_varint(&mut huge, 1 << 63);
    huge.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    assert!(decode_points(&huge).is_err());
    let mut huge = vec![0x21, 0];
    bits::put_varint(&mut huge, 1 << 40);
    assert!(decode_messages(&huge).is_err());
    // A deflated body whose stated length is larger than the limit or than what inflates.
    let mut lying = vec![0x21, FLAG_DEFLATED];
    bits::put_varint(&mut lying, MAX_BODY_BYTES + 1);
    assert!(matches!(
        decode_messages(&lying),
        Err(CodecError::Corrupt(_))
    ));
    let valid = encode_messages(&[message(1, 2, &[b'a'; 1_000])]);
    assert_eq!(valid[1], FLAG_DEFLATED, "1,000 equal bytes deflate");
    let mut longer = valid.clone();
    longer[2] = longer[2].wrapping_add(1);
    assert!(matches!(
        decode_messages(&longer),
        Err(CodecError::Deflate(_))
    ));
    // Bytes after a complete block are refused, not ignored.
    let mut trailing = encode_points(&[(1, 2.0), (3, 4.0)]);
    trailing.push(0);
    assert!(decode_points(&trailing).is_err());
}
