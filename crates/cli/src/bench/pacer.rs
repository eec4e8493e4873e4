//! Open-loop pacing: the schedule of intended start times that spreads a total request
//! rate evenly over N connections.
//!
//! Connection `i` of `n` sends its `k`-th request at `(i + k·n) / rate` seconds after
//! the phase starts, so the union of all connections is one evenly spaced stream at
//! `rate`. Latency is measured from that intended time, not from when the request was
//! actually written: a request that has to wait because the previous one on its
//! connection is slow is charged the wait (no coordinated omission).

use std::time::Duration;

/// One connection's share of an evenly spaced request stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// This connection's index, `0..connections`.
    pub index: u64,
    pub connections: u64,
    /// Total requests per second over all connections.
    pub rate: f64,
}

impl Schedule {
    /// The schedule of connection `index` of `connections` at `rate` requests/s in total.
    pub fn new(index: u64, connections: u64, rate: f64) -> Self {
        let connections = connections.max(1);
        Self { index: index.min(connections - 1), connections, rate: if rate > 0.0 { rate } else { 1.0 } }
    }

    /// When this connection's `k`-th request (from 0) is due, after the phase start.
    pub fn due(&self, k: u64) -> Duration {
        let slot = self.index as f64 + k as f64 * self.connections as f64;
        Duration::from_secs_f64(slot / self.rate)
    }

    /// Requests per second for this one connection.
    pub fn per_connection_rate(&self) -> f64 {
        self.rate / self.connections as f64
    }

    /// How many of this connection's requests are due strictly before `window` ends.
    pub fn count_within(&self, window: Duration) -> u64 {
        // slot / rate < w  ⇔  index + k·n < w·rate
        let limit = window.as_secs_f64() * self.rate;
        if limit <= self.index as f64 {
            return 0;
        }
        let k = ((limit - self.index as f64) / self.connections as f64).ceil() as u64;
        // Guard against floating-point rounding at the edge.
        if k > 0 && self.due(k - 1) >= window { k - 1 } else { k }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_connections_together_form_one_even_stream() {
        let (n, rate) = (8u64, 1_000.0);
        let mut times: Vec<Duration> =
            (0..n).flat_map(|i| (0..50).map(move |k| Schedule::new(i, n, rate).due(k))).collect();
        times.sort();
        for (j, t) in times.iter().enumerate() {
            let expected = Duration::from_secs_f64(j as f64 / rate);
            let diff = t.abs_diff(expected);
            assert!(diff < Duration::from_nanos(10), "slot {j}: {t:?} vs {expected:?}");
        }
    }

    #[test]
    fn each_connection_runs_at_its_share_of_the_rate() {
        let s = Schedule::new(3, 64, 7_500.0);
        assert!((s.per_connection_rate() - 117.1875).abs() < 1e-9);
        let gap = s.due(11) - s.due(10);
        assert!(gap.abs_diff(Duration::from_secs_f64(64.0 / 7_500.0)) < Duration::from_nanos(10));
        assert_eq!(s.due(0), Duration::from_secs_f64(3.0 / 7_500.0));
    }

    #[test]
    fn a_window_holds_rate_times_seconds_requests() {
        let (n, rate) = (64u64, 7_500.0);
        let window = Duration::from_secs(10);
        let total: u64 = (0..n).map(|i| Schedule::new(i, n, rate).count_within(window)).sum();
        assert_eq!(total, 75_000);
        for i in 0..n {
            let s = Schedule::new(i, n, rate);
            let k = s.count_within(window);
            assert!(s.due(k) >= window && (k == 0 || s.due(k - 1) < window), "connection {i}");
        }
        assert_eq!(Schedule::new(5, 10, 1.0).count_within(Duration::from_secs(5)), 0);
        assert_eq!(Schedule::new(5, 10, 1.0).count_within(Duration::from_secs(6)), 1);
    }

    #[test]
    fn nonsense_inputs_are_tamed() {
        let s = Schedule::new(9, 0, 0.0);
        assert_eq!((s.index, s.connections, s.rate), (0, 1, 1.0));
        assert_eq!(s.due(2), Duration::from_secs(2));
    }
}
