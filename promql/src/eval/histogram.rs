//! histogram_quantile over classic `le` buckets.

use std::collections::HashMap;

use super::StepSeries;
use super::mathx::almost_equal;
use crate::labels::Labels;

/// Tolerance under which bucket count differences are treated as float noise (as Prometheus).
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// Parses an `le` value the way Go's `strconv.ParseFloat` accepts the common spellings.
fn parse_le(s: &str) -> Option<f64> {
    let t = s.trim();
    match t {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => t.parse::<f64>().ok(),
    }
}

/// Groups the input by its labels without `le` and `__name__` and computes, per step, the
/// `q`-quantile of each group's buckets.
pub(crate) fn histogram_quantile(q: &[f64], v: Vec<StepSeries>, steps: usize) -> Vec<StepSeries> {
    let mut groups: HashMap<Labels, usize> = HashMap::new();
    let mut members: Vec<(Labels, Vec<(f64, usize)>)> = Vec::new();
    for (si, s) in v.iter().enumerate() {
        // Series without a parsable `le` are ignored (Prometheus adds an annotation).
        let Some(le) = s.labels.get("le").and_then(parse_le) else {
            continue;
        };
        let key = s.labels.filter(|n| n != "le" && n != crate::labels::METRIC_NAME);
        let gi = *groups.entry(key.clone()).or_insert_with(|| {
            members.push((key, Vec::new()));
            members.len() - 1
        });
        if let Some(m) = members.get_mut(gi) {
            m.1.push((le, si));
        }
    }
    let mut out = Vec::with_capacity(members.len());
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for (labels, mut ms) in members {
        ms.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        let mut vals = Vec::with_capacity(steps);
        for i in 0..steps {
            buckets.clear();
            for &(le, si) in &ms {
                if let Some(c) = v.get(si).and_then(|s| s.vals.get(i).copied().flatten()) {
                    buckets.push((le, c));
                }
            }
            if buckets.is_empty() {
                vals.push(None);
                continue;
            }
            vals.push(Some(bucket_quantile(
                q.get(i).copied().unwrap_or(f64::NAN),
                &mut buckets,
            )));
        }
        if vals.iter().any(Option::is_some) {
            out.push(StepSeries { labels, vals });
        }
    }
    out
}

/// Prometheus' `BucketQuantile` for `(upper bound, cumulative count)` pairs sorted by bound.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    match buckets.last() {
        Some(b) if b.0 == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    // Coalesce buckets with the same bound.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(le, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == le => last.1 += c,
            _ => merged.push((le, c)),
        }
    }
    // Force monotonicity, ignoring float noise.
    if let Some(&(_, first)) = merged.first() {
        let mut prev = first;
        for b in merged.iter_mut().skip(1) {
            let curr = b.1;
            if curr == prev {
                continue;
            }
            if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) || curr < prev {
                b.1 = prev;
                continue;
            }
            prev = curr;
        }
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let n = merged.len();
    let observations = merged.get(n - 1).map_or(0.0, |b| b.1);
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    // First bucket (among all but +Inf) whose count reaches the rank.
    let b = merged.get(..n - 1).map_or(0, |s| s.partition_point(|x| x.1 < rank));
    if b == n - 1 {
        return merged.get(n - 2).map_or(f64::NAN, |x| x.0);
    }
    let (end, mut count) = merged.get(b).copied().unwrap_or((f64::NAN, f64::NAN));
    if b == 0 && end <= 0.0 {
        return end;
    }
    let mut start = 0.0;
    if b > 0 {
        let (pe, pc) = merged.get(b - 1).copied().unwrap_or((f64::NAN, f64::NAN));
        start = pe;
        count -= pc;
        rank -= pc;
    }
    start + (end - start) * (rank / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_inside_bucket() {
        let mut b = vec![(0.1, 10.0), (0.5, 50.0), (1.0, 90.0), (f64::INFINITY, 100.0)];
        // rank 50 -> reaches bucket 0.5 exactly.
        assert_eq!(bucket_quantile(0.5, &mut b), 0.5);
        // rank 90 -> bucket 1.0, (90-50)/(90-50) -> 1.0
        assert_eq!(bucket_quantile(0.9, &mut b), 1.0);
        // rank 99 -> +Inf bucket -> upper bound of the previous one.
        assert_eq!(bucket_quantile(0.99, &mut b), 1.0);
        assert!(bucket_quantile(f64::NAN, &mut b).is_nan());
        let mut no_inf = vec![(0.1, 1.0), (0.5, 2.0)];
        assert!(bucket_quantile(0.5, &mut no_inf).is_nan());
    }
}
