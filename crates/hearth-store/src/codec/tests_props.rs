//! Property tests (any sorted i64 times, any f64 bit patterns, any messages) and the
//! corruption loops: every prefix and every bit flip of valid blocks decodes to an error
//! or to some value, never a panic.

use proptest::prelude::*;

use super::tests::{Random, round_trip_points, temperature_hour};
use super::*;

fn sorted_points() -> impl Strategy<Value = Vec<(Millis, f64)>> {
    prop::collection::vec((any::<i64>(), any::<u64>()), 0..300).prop_map(|mut pairs| {
        pairs.sort_by_key(|&(time, _)| time);
        pairs
            .into_iter()
            .map(|(time, bits)| (time, f64::from_bits(bits)))
            .collect()
    })
}

/// Times close together (10 s with jitter, ties) and decimal values of up to 4 decimals,
/// to exercise the decimal mode and the small buckets rather than only the widest.
fn sensor_like_points() -> impl Strategy<Value = Vec<(Millis, f64)>> {
    (
        0u32..=4,
        prop::collection::vec((0i64..20_100, -100_000i64..100_000), 1..400),
    )
        .prop_map(|(decimals, steps)| {
            let power = 10f64.powi(decimals as i32);
            let mut time = 1_765_090_000_000i64;
            steps
                .into_iter()
                .map(|(step, integer)| {
                    time += step;
                    (time, integer as f64 / power)
                })
                .collect()
        })
}

fn messages() -> impl Strategy<Value = Vec<BlockMessage>> {
    let one = (
        any::<i64>(),
        any::<u8>(),
        any::<i64>(),
        prop::collection::vec(any::<u8>(), 0..200),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(seq, kind, received_at_ms, payload, json_ok, ts_clamped)| BlockMessage {
                seq,
                kind,
                received_at_ms,
                payload,
                json_ok,
                ts_clamped,
            },
        );
    prop::collection::vec(one, 0..60)
}

proptest! {
    #[test]
    fn any_sorted_times_and_any_bit_patterns_round_trip(points in sorted_points()) {
        round_trip_points(&points);
    }

    #[test]
    fn sensor_like_points_round_trip(points in sensor_like_points()) {
        round_trip_points(&points);
    }

    #[test]
    fn any_messages_round_trip(messages in messages()) {
        let data = encode_messages(&messages);
        prop_assert_eq!(decode_messages(&data).expect("decodes"), messages);
    }

    #[test]
    fn overwritten_bytes_of_valid_blocks_never_panic(
        points in sensor_like_points(),
        messages in messages(),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut points_block = encode_points(&points);
        let mut messages_block = encode_messages(&messages);
        for (index, byte) in &damage {
            let at = index.index(points_block.len());
            points_block[at] = *byte;
            let at = index.index(messages_block.len());
            messages_block[at] = *byte;
        }
        let _ = decode_points(&points_block);
        let _ = decode_messages(&messages_block);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode_points(&data);
        let _ = decode_messages(&data);
        // The same bytes behind each valid header, to get past the format check.
        for header in [[POINTS_V1, 0], [POINTS_V1, FLAG_DEFLATED]] {
            let mut block = header.to_vec();
            block.extend_from_slice(&data);
            let _ = decode_points(&block);
        }
        for header in [[MESSAGES_V1, 0], [MESSAGES_V1, FLAG_DEFLATED]] {
            let mut block = header.to_vec();
            block.extend_from_slice(&data);
            let _ = decode_messages(&block);
        }
    }
}

/// Valid blocks of every kind the corruption loops damage: each mode of times and values,
/// deflated and not.
fn sample_blocks() -> Vec<(&'static str, Vec<u8>)> {
    let mut random = Random(9);
    let temperature = temperature_hour(&mut random);
    let odd: Vec<(Millis, f64)> = temperature
        .iter()
        .map(|&(time, value)| (time, value / 3.0))
        .collect();
    let constant: Vec<(Millis, f64)> = (0..500).map(|index| (index * 1_000, 7.0)).collect();
    let extremes = vec![
        (i64::MIN, f64::NAN),
        (0, -0.0),
        (0, f64::INFINITY),
        (i64::MAX, 1.0e300),
    ];
    let messages: Vec<BlockMessage> = temperature
        .iter()
        .take(40)
        .enumerate()
        .map(|(index, &(at, value))| BlockMessage {
            seq: index as i64 * 3,
            kind: (index % 3) as u8,
            received_at_ms: at,
            payload: format!(r#"{{"temperature":{value},"ts":{at}}}"#).into_bytes(),
            json_ok: index % 5 != 0,
            ts_clamped: index % 7 == 0,
        })
        .collect();
    let raw_messages = vec![BlockMessage {
        seq: 1,
        kind: 1,
        received_at_ms: 2,
        payload: vec![1, 2, 3],
        json_ok: false,
        ts_clamped: false,
    }];
    vec![
        ("decimal points", encode_points(&temperature)),
        ("xor points", encode_points(&odd)),
        ("constant points", encode_points(&constant)),
        ("extreme points", encode_points(&extremes)),
        ("deflated messages", encode_messages(&messages)),
        ("plain messages", encode_messages(&raw_messages)),
    ]
}

fn decode_any(name: &str, data: &[u8]) -> bool {
    if name.ends_with("points") {
        decode_points(data).is_ok()
    } else {
        decode_messages(data).is_ok()
    }
}

#[test]
fn the_samples_cover_plain_and_deflated_blocks() {
    let blocks = sample_blocks();
    let flags: Vec<u8> = blocks.iter().map(|(_, data)| data[1]).collect();
    assert!(
        flags.contains(&0) && flags.contains(&FLAG_DEFLATED),
        "{flags:?}"
    );
    for (name, data) in &blocks {
        assert!(decode_any(name, data), "{name} decodes");
    }
}

#[test]
fn every_truncation_of_a_valid_block_is_an_error() {
    for (name, data) in sample_blocks() {
        for length in 0..data.len() {
            assert!(
                !decode_any(name, &data[..length]),
                "{name} cut to {length} of {} bytes decoded",
                data.len()
            );
        }
    }
}

#[test]
fn every_bit_flip_of_a_valid_block_decodes_or_fails_without_panicking() {
    let mut n_errors = 0;
    let mut n_flips = 0;
    for (name, data) in sample_blocks() {
        let mut damaged = data.clone();
        for bit in 0..data.len() * 8 {
            damaged[bit / 8] ^= 1 << (bit % 8);
            if !decode_any(name, &damaged) {
                n_errors += 1;
            }
            n_flips += 1;
            damaged[bit / 8] ^= 1 << (bit % 8);
        }
    }
    // Most flips land in value bits and decode to other values; the headers' flips
    // must be caught. (The count is here so that a decoder that accepts everything
    // fails this test.)
    assert!(
        n_errors > 0 && n_errors < n_flips,
        "{n_errors} of {n_flips}"
    );
}
