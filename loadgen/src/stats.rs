//! Latency percentiles and error tallies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::http::snippet;

/// How many distinct error texts a report keeps.
const KEPT_ERRORS: usize = 5;

/// The `p`-quantile (0 <= p <= 1) of `sorted` by the nearest-rank method: the smallest value with at
/// least `p * n` values at or below it. `None` for no values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (p.clamp(0.0, 1.0) * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

/// Summary of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Requests measured.
    pub count: u64,
    /// Median.
    pub p50_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// Largest.
    pub max_ms: Option<f64>,
    /// Smallest.
    pub min_ms: Option<f64>,
    /// Arithmetic mean.
    pub mean_ms: Option<f64>,
}

impl LatencySummary {
    /// Summarises latencies given in seconds.
    pub fn from_secs(latencies: &[f64]) -> Self {
        let mut v: Vec<f64> = latencies.iter().map(|s| s * 1000.0).filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        LatencySummary {
            count: v.len() as u64,
            p50_ms: percentile(&v, 0.5).map(round),
            p99_ms: percentile(&v, 0.99).map(round),
            max_ms: v.last().copied().map(round),
            min_ms: v.first().copied().map(round),
            mean_ms: (!v.is_empty()).then(|| round(v.iter().sum::<f64>() / v.len() as f64)),
        }
    }
}

/// Failed requests: HTTP statuses outside 2xx, transport failures, and the first distinct texts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorTally {
    /// Responses by HTTP status (every status, 2xx included, so the mix is visible).
    pub status_counts: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer (refused, reset, timed out).
    pub transport_errors: u64,
    /// Requests that failed (non-2xx, transport failure, or an error in a 2xx body).
    pub failed: u64,
    /// The first few distinct error texts (status and the start of the body).
    pub first: Vec<String>,
}

impl ErrorTally {
    /// Records a response; a non-2xx status counts as a failure with the body's start kept.
    pub(crate) fn status(&mut self, status: u16, body: &[u8]) {
        *self.status_counts.entry(status).or_insert(0) += 1;
        if !(200..300).contains(&status) {
            self.failed += 1;
            self.keep(format!("HTTP {status}: {}", snippet(body, 300)));
        }
    }

    /// Records a request that got no answer.
    pub(crate) fn transport(&mut self, what: &str) {
        self.transport_errors += 1;
        self.failed += 1;
        self.keep(format!("transport: {what}"));
    }

    /// Records a 2xx answer whose content says it failed.
    pub(crate) fn bad_answer(&mut self, what: String) {
        self.failed += 1;
        self.keep(what);
    }

    fn keep(&mut self, text: String) {
        if self.first.len() < KEPT_ERRORS && !self.first.contains(&text) {
            self.first.push(text);
        }
    }

    /// Adds another tally into this one.
    pub(crate) fn merge(&mut self, other: &ErrorTally) {
        for (s, n) in &other.status_counts {
            *self.status_counts.entry(*s).or_insert(0) += n;
        }
        self.transport_errors += other.transport_errors;
        self.failed += other.failed;
        for t in &other.first {
            self.keep(t.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[3.0], 0.99), Some(3.0));
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&v, 1.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.5), Some(3.0));
    }

    #[test]
    fn summary_in_milliseconds() {
        let s = LatencySummary::from_secs(&[0.003, 0.001, 0.002, f64::NAN]);
        assert_eq!(s.count, 3);
        assert_eq!(s.p50_ms, Some(2.0));
        assert_eq!(s.p99_ms, Some(3.0));
        assert_eq!(s.max_ms, Some(3.0));
        assert_eq!(s.min_ms, Some(1.0));
        assert_eq!(s.mean_ms, Some(2.0));
        assert_eq!(LatencySummary::from_secs(&[]).p50_ms, None);
    }

    #[test]
    fn errors_are_tallied_and_deduplicated() {
        let mut a = ErrorTally::default();
        a.status(204, b"");
        a.status(400, b"line 3: bad\n");
        a.status(400, b"line 3: bad\n");
        a.transport("connection refused");
        let mut b = ErrorTally::default();
        b.status(503, b"busy");
        a.merge(&b);
        assert_eq!(a.status_counts[&400], 2);
        assert_eq!(a.status_counts[&204], 1);
        assert_eq!(a.failed, 4);
        assert_eq!(a.transport_errors, 1);
        assert_eq!(
            a.first,
            [
                "HTTP 400: line 3: bad",
                "transport: connection refused",
                "HTTP 503: busy"
            ]
        );
    }
}
