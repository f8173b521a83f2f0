//! A log-linear latency histogram in the manner of HdrHistogram.
//!
//! Written here rather than taken from the `hdrhistogram` crate because the benchmark
//! needs only recording, merging and percentiles, which fit in a hundred lines, and an
//! extra dependency costs every CI run.
//!
//! Values below 128 get a bucket each. Above that, every power of two is split into 64
//! equal buckets, so a reported value is never more than 1/64 (1.6 %) above the true
//! one, from nanoseconds up to `u64::MAX`, in a fixed 3,776 counters (30 KiB).

/// Values below this get an exact bucket each.
const EXACT: u64 = 128;
/// Buckets per power of two above [`EXACT`].
const PER_OCTAVE: u64 = 64;
/// log2 of [`PER_OCTAVE`].
const OCTAVE_BITS: u32 = 6;
const BUCKETS: usize = (EXACT + (64 - 7) * PER_OCTAVE) as usize;

#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram::default()
    }

    pub fn record(&mut self, value: u64) {
        self.counts[bucket_of(value)] += 1;
        self.total += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += u128::from(value);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The exact largest value recorded (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The exact smallest value recorded (0 when empty).
    pub fn min(&self) -> u64 {
        if self.is_empty() { 0 } else { self.min }
    }

    pub fn mean(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The value at or below which `quantile` (0.0 to 1.0) of the recorded values lie,
    /// reported as the top of its bucket (never above the true maximum) so that it errs
    /// on the slow side. 0 when empty.
    pub fn value_at(&self, quantile: f64) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let rank =
            ((quantile.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return top_of(bucket).min(self.max);
            }
        }
        self.max
    }
}

fn bucket_of(value: u64) -> usize {
    if value < EXACT {
        return value as usize;
    }
    let highest_bit = 63 - value.leading_zeros();
    // Shift so that the value keeps its top 7 bits: 64..=127 within the octave.
    let shift = highest_bit - OCTAVE_BITS;
    let within = (value >> shift) - PER_OCTAVE;
    (EXACT + u64::from(shift - 1) * PER_OCTAVE + within) as usize
}

/// The largest value that lands in `bucket`.
fn top_of(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < EXACT {
        return bucket;
    }
    let shift = (bucket - EXACT) / PER_OCTAVE + 1;
    let within = (bucket - EXACT) % PER_OCTAVE + PER_OCTAVE;
    let top = (u128::from(within + 1) << shift) - 1;
    u64::try_from(top).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut histogram = Histogram::new();
        for value in 0..100 {
            histogram.record(value);
        }
        assert_eq!(histogram.value_at(0.5), 49);
        assert_eq!(histogram.value_at(0.99), 98);
        assert_eq!(histogram.value_at(1.0), 99);
        assert_eq!(histogram.min(), 0);
        assert_eq!(histogram.mean(), 49.5);
    }

    #[test]
    fn percentiles_of_a_uniform_range_are_within_the_bucket_error() {
        let mut histogram = Histogram::new();
        for value in 1..=1_000_000u64 {
            histogram.record(value);
        }
        for (quantile, expected) in [(0.5, 500_000.0), (0.99, 990_000.0), (0.999, 999_000.0)] {
            let reported = histogram.value_at(quantile) as f64;
            assert!(
                reported >= expected,
                "p{quantile}: {reported} below {expected}"
            );
            assert!(
                reported <= expected * (1.0 + 1.0 / 64.0),
                "p{quantile}: {reported} too far above {expected}"
            );
        }
        assert_eq!(histogram.value_at(1.0), 1_000_000);
        assert_eq!(histogram.max(), 1_000_000);
    }

    #[test]
    fn one_outlier_shows_in_the_tail_only() {
        let mut histogram = Histogram::new();
        for _ in 0..9_990 {
            histogram.record(70_000);
        }
        for _ in 0..10 {
            histogram.record(5_000_000);
        }
        assert!((70_000..=71_200).contains(&histogram.value_at(0.5)));
        assert!((70_000..=71_200).contains(&histogram.value_at(0.99)));
        assert!((70_000..=71_200).contains(&histogram.value_at(0.999)));
        assert_eq!(histogram.value_at(0.9991), 5_000_000);
        assert_eq!(histogram.max(), 5_000_000);
    }

    #[test]
    fn buckets_cover_the_whole_range_in_order() {
        assert_eq!(bucket_of(127), 127);
        assert_eq!(bucket_of(128), 128);
        assert_eq!(top_of(128), 129);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(top_of(BUCKETS - 1), u64::MAX);
        let mut previous = 0;
        for value in (0..20).flat_map(|bit| [(1u64 << (bit * 3)).saturating_sub(1), 1 << (bit * 3)])
        {
            let bucket = bucket_of(value);
            assert!(bucket >= previous);
            assert!(
                top_of(bucket) >= value,
                "{value} is above the top of its bucket"
            );
            previous = bucket;
        }
    }

    #[test]
    fn merging_adds_counts() {
        let mut first = Histogram::new();
        let mut second = Histogram::new();
        first.record(10);
        second.record(1_000);
        second.record(3);
        first.merge(&second);
        assert_eq!(first.len(), 3);
        assert_eq!(first.min(), 3);
        assert_eq!(first.max(), 1_000);
        assert_eq!(first.value_at(0.5), 10);
    }

    #[test]
    fn an_empty_histogram_reports_zero() {
        let histogram = Histogram::new();
        assert!(histogram.is_empty());
        assert_eq!(histogram.value_at(0.99), 0);
        assert_eq!(histogram.min(), 0);
        assert_eq!(histogram.mean(), 0.0);
    }
}
