//! A latency histogram with fixed log-linear buckets, in the spirit of HdrHistogram:
//! values are microseconds, each power of two is split into 128 sub-buckets, so every
//! recorded value is known to within 1/128 (< 0.8 %), exactly below 256 µs, in a fixed
//! 34 KiB however many values are recorded. Histograms of several connections merge.

use serde::Serialize;

/// Sub-buckets per power of two, as bits.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Largest value kept; larger ones are clamped (2^40 µs is about 12 days).
pub const MAX_VALUE: u64 = (1 << 40) - 1;
const BUCKETS: usize = (SUB as usize) * (40 - SUB_BITS as usize + 2);

/// A fixed-size histogram of microsecond values.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    count: u64,
    min: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

/// The bucket a value falls in.
fn index_of(value: u64) -> usize {
    let v = value.min(MAX_VALUE);
    if v < 2 * SUB {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb - SUB_BITS;
    (SUB * (u64::from(shift) + 1) + ((v >> shift) - SUB)) as usize
}

/// The smallest and largest value of a bucket.
fn bounds_of(index: usize) -> (u64, u64) {
    let i = index as u64;
    if i < 2 * SUB {
        return (i, i);
    }
    let shift = i / SUB - 1;
    let low = (i % SUB + SUB) << shift;
    (low, low + (1 << shift) - 1)
}

impl Histogram {
    pub fn new() -> Self {
        Self { counts: vec![0; BUCKETS].into_boxed_slice(), count: 0, min: u64::MAX, max: 0, sum: 0 }
    }

    /// Records one value (µs).
    pub fn record(&mut self, micros: u64) {
        let v = micros.min(MAX_VALUE);
        if let Some(c) = self.counts.get_mut(index_of(v)) {
            *c += 1;
        }
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += u128::from(v);
    }

    /// Adds every value recorded in `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn min(&self) -> u64 {
        if self.count == 0 { 0 } else { self.min }
    }

    pub fn mean(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.sum as f64 / self.count as f64 }
    }

    /// The value at percentile `p` (0-100): the top of the bucket holding the
    /// ceil(p% × count)-th smallest value, never above the largest value recorded.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((p.clamp(0.0, 100.0) / 100.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bounds_of(i).1.min(self.max).max(self.min());
            }
        }
        self.max
    }

    /// The usual summary, in milliseconds.
    pub fn summary(&self) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            count: self.count,
            p50_ms: ms(self.percentile(50.0)),
            p90_ms: ms(self.percentile(90.0)),
            p99_ms: ms(self.percentile(99.0)),
            p999_ms: ms(self.percentile(99.9)),
            max_ms: ms(self.max),
            mean_ms: self.mean() / 1000.0,
        }
    }
}

/// Latency percentiles of a phase, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_once_and_in_order() {
        let mut last = 0usize;
        for v in 0..5_000u64 {
            let i = index_of(v);
            assert!(i >= last, "buckets go up with the value");
            last = i;
        }
        for v in (0..5_000u64).chain((1..40).map(|s| 1u64 << s)).chain([MAX_VALUE]) {
            let i = index_of(v);
            assert!(i < BUCKETS, "{v} -> {i}");
            let (lo, hi) = bounds_of(i);
            assert!(lo <= v && v <= hi, "{v} not in bucket {i} = [{lo}, {hi}]");
            assert!((hi - lo) as f64 <= lo as f64 / 128.0 + 1.0, "bucket {i} too wide");
        }
        // Consecutive buckets touch.
        for i in 1..BUCKETS {
            assert_eq!(bounds_of(i - 1).1 + 1, bounds_of(i).0, "gap before bucket {i}");
        }
    }

    #[test]
    fn percentiles_are_within_one_percent() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v);
        }
        assert_eq!(h.count(), 100_000);
        for (p, exact) in [(50.0, 50_000.0), (99.0, 99_000.0), (99.9, 99_900.0), (100.0, 100_000.0)] {
            let got = h.percentile(p) as f64;
            assert!((got - exact).abs() / exact < 0.01, "p{p}: {got} vs {exact}");
        }
        assert_eq!(h.max(), 100_000);
        assert_eq!(h.min(), 1);
        assert!((h.mean() - 50_000.5).abs() < 1e-6);
    }

    #[test]
    fn small_values_are_exact_and_huge_ones_clamped() {
        let mut h = Histogram::new();
        for v in [3, 3, 3, 200] {
            h.record(v);
        }
        assert_eq!(h.percentile(50.0), 3);
        assert_eq!(h.percentile(75.0), 3);
        assert_eq!(h.percentile(76.0), 200);
        assert_eq!(h.percentile(0.0), 3);
        h.record(u64::MAX);
        assert_eq!(h.max(), MAX_VALUE);
        assert_eq!(Histogram::new().percentile(99.0), 0);
    }

    #[test]
    fn merged_histograms_equal_one_that_saw_everything() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for v in 0..10_000u64 {
            let x = v * v % 77_777;
            if v % 3 == 0 {
                a.record(x)
            } else {
                b.record(x)
            }
            all.record(x);
        }
        a.merge(&b);
        assert_eq!(a.count(), all.count());
        for p in [1.0, 50.0, 90.0, 99.0, 99.99] {
            assert_eq!(a.percentile(p), all.percentile(p));
        }
        assert_eq!((a.min(), a.max()), (all.min(), all.max()));
    }

    #[test]
    fn the_summary_is_in_milliseconds() {
        let mut h = Histogram::new();
        h.record(1_500);
        let s = h.summary();
        assert_eq!(s.count, 1);
        assert!((s.p50_ms - 1.5).abs() < 0.02 && (s.max_ms - 1.5).abs() < 1e-9);
    }
}
