//! Round trips of hand-picked edge cases; the property tests and the corruption loops are
//! in `tests_props`.

use super::*;

fn round_trip_points(points: &[(Millis, f64)]) -> Vec<u8> {
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

#[test]
fn empty_and_single_points_round_trip() {
    round_trip_points(&[]);
    round_trip_points(&[(0, 0.0)]);
    round_trip_points(&[(i64::MIN, f64::NAN)]);
    round_trip_points(&[(i64::MAX, -0.0)]);
}
