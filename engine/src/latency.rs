//! A lock-free latency histogram with fixed bucket bounds, shared by the engine (WAL fsync) and
//! the server (request latencies), so every latency foresight exports has the same buckets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency buckets; one more bucket, `+Inf`, follows them.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

/// Counts of observations per bucket and their sum; safe to update from many threads.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    counts: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_ns: AtomicU64,
}

/// A copy of a [`LatencyHistogram`] at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencySnapshot {
    /// Non-cumulative counts per bucket of [`LATENCY_BUCKETS`]; the last one is `+Inf`.
    pub counts: [u64; LATENCY_BUCKETS.len() + 1],
    /// Sum of the observations, seconds.
    pub sum_secs: f64,
}

impl LatencyHistogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn snapshot(&self) -> LatencySnapshot {
        let mut s = LatencySnapshot::default();
        for (out, c) in s.counts.iter_mut().zip(&self.counts) {
            *out = c.load(Ordering::Relaxed);
        }
        // Nanoseconds to seconds: precision beyond f64's 53 bits does not matter here.
        #[allow(clippy::cast_precision_loss)]
        let secs = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        s.sum_secs = secs;
        s
    }
}

impl LatencySnapshot {
    /// Observations recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Adds one observation (for callers that keep a snapshot under their own lock).
    pub fn observe(&mut self, secs: f64) {
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.counts[i] += 1;
        self.sum_secs += secs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_sum() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(100));
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(100));
        let s = h.snapshot();
        assert_eq!(s.counts[0], 2, "<= 0.5 ms, the bound itself included");
        assert_eq!(s.counts[3], 1, "<= 5 ms");
        assert_eq!(s.counts[LATENCY_BUCKETS.len()], 1, "+Inf");
        assert_eq!(s.count(), 4);
        assert!((s.sum_secs - 100.0036).abs() < 1e-9);
        let mut m = LatencySnapshot::default();
        for d in [0.0001, 0.0005, 0.003, 100.0] {
            m.observe(d);
        }
        assert_eq!(m.counts, s.counts);
    }
}
