//! Functions over range vectors, computed for every step in one sweep of each series' samples:
//! the window `(end - range, end]` is tracked with two pointers as the steps advance.

use rayon::prelude::*;

use super::mathx::{kahan_inc, quantile_select};
use super::{RangeArg, StepSeries};

/// A function of a range vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeFn {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    Deriv,
    PredictLinear,
    Resets,
    Changes,
    Avg,
    Min,
    Max,
    Sum,
    Count,
    Last,
    Present,
    Stddev,
    Stdvar,
    Quantile,
    Mad,
}

impl RangeFn {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "rate" => Self::Rate,
            "increase" => Self::Increase,
            "delta" => Self::Delta,
            "irate" => Self::Irate,
            "idelta" => Self::Idelta,
            "deriv" => Self::Deriv,
            "predict_linear" => Self::PredictLinear,
            "resets" => Self::Resets,
            "changes" => Self::Changes,
            "avg_over_time" => Self::Avg,
            "min_over_time" => Self::Min,
            "max_over_time" => Self::Max,
            "sum_over_time" => Self::Sum,
            "count_over_time" => Self::Count,
            "last_over_time" => Self::Last,
            "present_over_time" => Self::Present,
            "stddev_over_time" => Self::Stddev,
            "stdvar_over_time" => Self::Stdvar,
            "quantile_over_time" => Self::Quantile,
            "mad_over_time" => Self::Mad,
            _ => return None,
        })
    }

    /// Functions that keep the metric name.
    pub(crate) fn keeps_name(self) -> bool {
        matches!(self, Self::Last)
    }
}

/// Evaluates `f` over every series of `arg`. `param` is the per-step scalar argument
/// (`q` of quantile_over_time, `t` of predict_linear); `eval_times` are the step times.
pub(crate) fn apply(
    f: RangeFn,
    arg: RangeArg,
    param: Option<&[f64]>,
    eval_times: &[i64],
    expired: &(dyn Fn() -> bool + Sync),
) -> Vec<StepSeries> {
    let range = arg.range;
    let ends = &arg.ends;
    let steps = arg.steps;
    let broadcast = arg.broadcast();
    arg.series
        .into_par_iter()
        .filter_map(|s| {
            // Past the deadline, skip the remaining work; the caller reports the timeout.
            if expired() {
                return None;
            }
            let labels = if f.keeps_name() {
                s.labels
            } else {
                s.labels.without_metric_name()
            };
            let samples = super::without_stale(&s.samples);
            let vals = if f == RangeFn::Quantile && !broadcast {
                quantile_sweep(&samples, ends, range, param.unwrap_or(&[]))
            } else {
                sweep(&samples, ends, range, steps, broadcast, |k, w, end| {
                    window_value(
                        f,
                        w,
                        end,
                        range,
                        param.and_then(|p| p.get(k).copied()),
                        (if broadcast {
                            eval_times.first()
                        } else {
                            eval_times.get(k)
                        })
                        .copied()
                        .unwrap_or(end),
                    )
                })
            };
            vals.iter().any(Option::is_some).then_some(StepSeries { labels, vals })
        })
        .collect()
}

/// Calls `f(step, window, window_end)` for each step's non-empty window.
pub(crate) fn sweep(
    samples: &[(i64, f64)],
    ends: &[i64],
    range: i64,
    steps: usize,
    broadcast: bool,
    mut f: impl FnMut(usize, &[(i64, f64)], i64) -> Option<f64>,
) -> Vec<Option<f64>> {
    let mut out = Vec::with_capacity(steps);
    if broadcast {
        let end = ends.first().copied().unwrap_or(0);
        let w = window(samples, 0, 0, end, range);
        let w = samples.get(w.0..w.1).unwrap_or(&[]);
        for k in 0..steps {
            out.push(if w.is_empty() { None } else { f(k, w, end) });
        }
        return out;
    }
    let (mut lo, mut hi) = (0usize, 0usize);
    for (k, &end) in ends.iter().enumerate() {
        (lo, hi) = window(samples, lo, hi, end, range);
        let w = samples.get(lo..hi).unwrap_or(&[]);
        out.push(if w.is_empty() { None } else { f(k, w, end) });
    }
    out
}

/// Advances `[lo, hi)` to the samples in `(end - range, end]`; ends must not decrease.
fn window(samples: &[(i64, f64)], mut lo: usize, mut hi: usize, end: i64, range: i64) -> (usize, usize) {
    let start = end.saturating_sub(range);
    while samples.get(hi).is_some_and(|p| p.0 <= end) {
        hi += 1;
    }
    while lo < hi && samples.get(lo).is_some_and(|p| p.0 <= start) {
        lo += 1;
    }
    (lo, hi)
}

fn window_value(f: RangeFn, w: &[(i64, f64)], end: i64, range: i64, param: Option<f64>, eval_time: i64) -> Option<f64> {
    let first = w.first()?;
    let last = w.last()?;
    Some(match f {
        RangeFn::Rate => extrapolated_rate(w, end.saturating_sub(range), end, range, true, true)?,
        RangeFn::Increase => extrapolated_rate(w, end.saturating_sub(range), end, range, true, false)?,
        RangeFn::Delta => extrapolated_rate(w, end.saturating_sub(range), end, range, false, false)?,
        RangeFn::Irate => instant_value(w, true)?,
        RangeFn::Idelta => instant_value(w, false)?,
        RangeFn::Deriv => {
            if w.len() < 2 {
                return None;
            }
            linear_regression(w, first.0).0
        }
        RangeFn::PredictLinear => {
            if w.len() < 2 {
                return None;
            }
            let (slope, intercept) = linear_regression(w, eval_time);
            slope * param.unwrap_or(f64::NAN) + intercept
        }
        RangeFn::Resets => w.windows(2).filter(|p| p[1].1 < p[0].1).count() as f64,
        RangeFn::Changes => w
            .windows(2)
            .filter(|p| p[1].1 != p[0].1 && !(p[1].1.is_nan() && p[0].1.is_nan()))
            .count() as f64,
        RangeFn::Avg => avg(w),
        RangeFn::Min => {
            let mut m = first.1;
            for p in w {
                if p.1 < m || m.is_nan() {
                    m = p.1;
                }
            }
            m
        }
        RangeFn::Max => {
            let mut m = first.1;
            for p in w {
                if p.1 > m || m.is_nan() {
                    m = p.1;
                }
            }
            m
        }
        RangeFn::Sum => {
            let (mut sum, mut c) = (0.0, 0.0);
            for p in w {
                (sum, c) = kahan_inc(p.1, sum, c);
            }
            if sum.is_infinite() { sum } else { sum + c }
        }
        RangeFn::Count => w.len() as f64,
        RangeFn::Last => last.1,
        RangeFn::Present => 1.0,
        RangeFn::Stddev => variance(w).sqrt(),
        RangeFn::Stdvar => variance(w),
        RangeFn::Quantile => {
            let mut v: Vec<f64> = w.iter().map(|p| p.1).collect();
            quantile_select(param.unwrap_or(f64::NAN), &mut v)
        }
        RangeFn::Mad => {
            let mut v: Vec<f64> = w.iter().map(|p| p.1).collect();
            let median = quantile_select(0.5, &mut v);
            let mut dev: Vec<f64> = w.iter().map(|p| (p.1 - median).abs()).collect();
            quantile_select(0.5, &mut dev)
        }
    })
}

/// Prometheus' `double_exponential_smoothing` (2.x: `holt_winters`) of one window: the level
/// starts at the first value and the trend at the difference of the first two; each later
/// value moves the level by `sf` and, from the third on, the trend by `tf`; the answer is the
/// last level. `None` below two samples. The operations are Prometheus', in its order and
/// unfused (Go does not fuse multiply-adds on amd64), so the results agree bit for bit.
pub(crate) fn double_exponential_smoothing(w: &[(i64, f64)], sf: f64, tf: f64) -> Option<f64> {
    let [(_, first), (_, second), ..] = w else {
        return None;
    };
    let (mut prev_level, mut level, mut trend) = (0.0, *first, second - first);
    for (i, &(_, v)) in w.iter().enumerate().skip(1) {
        if i > 1 {
            trend = tf * (level - prev_level) + (1.0 - tf) * trend;
        }
        let next = sf * v + (1.0 - sf) * (level + trend);
        (prev_level, level) = (level, next);
    }
    Some(level)
}

/// Prometheus' error for smoothing factors outside `0 < x < 1` (the smoothing factor is
/// checked first), its numbers formatted as Go's `%f`. NaN passes, as in Prometheus.
pub(crate) fn smoothing_factors_error(sf: f64, tf: f64) -> Option<String> {
    let go_f = |x: f64| {
        if x.is_infinite() {
            if x > 0.0 {
                "+Inf".to_string()
            } else {
                "-Inf".to_string()
            }
        } else {
            format!("{x:.6}")
        }
    };
    if sf <= 0.0 || sf >= 1.0 {
        return Some(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
            go_f(sf)
        ));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Some(format!("invalid trend factor. Expected: 0 < tf < 1, got: {}", go_f(tf)));
    }
    None
}

/// rate/increase/delta with Prometheus' extrapolation to the window edges.
pub(crate) fn extrapolated_rate(
    w: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    range: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let first = *w.first()?;
    let last = *w.last()?;
    let mut result = last.1 - first.1;
    if is_counter {
        for p in w.windows(2) {
            if p[1].1 < p[0].1 {
                result += p[0].1;
            }
        }
    }
    Some(extrapolate(
        w.len() as u64,
        first,
        last,
        result,
        (range_start, range_end, range),
        is_counter,
        is_rate,
    ))
}

/// The extrapolation of [`extrapolated_rate`] from a window's summary: `n` (at least 2)
/// samples from `first` to `last` whose (reset-adjusted, for counters) difference is `result`;
/// `span` is `(range_start, range_end, range)`. Shared with the rollup path.
pub(crate) fn extrapolate(
    n: u64,
    (first_t, first_v): (i64, f64),
    (last_t, _): (i64, f64),
    result: f64,
    (range_start, range_end, range): (i64, i64, i64),
    is_counter: bool,
    is_rate: bool,
) -> f64 {
    let mut to_start = first_t.saturating_sub(range_start) as f64 / 1000.0;
    let mut to_end = range_end.saturating_sub(last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let avg_step = sampled / n.saturating_sub(1) as f64;
    let threshold = avg_step * 1.1;
    if to_start >= threshold {
        to_start = avg_step / 2.0;
    }
    if is_counter {
        let mut to_zero = to_start;
        if result > 0.0 && first_v >= 0.0 {
            to_zero = sampled * (first_v / result);
        }
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_step / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= range as f64 / 1000.0;
    }
    result * factor
}

/// irate/idelta from the last two samples.
fn instant_value(w: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (t1, v1) = *w.last()?;
    let (t0, v0) = *w.get(w.len() - 2)?;
    let interval = t1 - t0;
    if interval == 0 {
        return None;
    }
    let mut r = v1;
    if !is_rate || v1 >= v0 || v1.is_nan() || v0.is_nan() {
        r = v1 - v0;
    }
    if is_rate {
        r /= interval as f64 / 1000.0;
    }
    Some(r)
}

/// Least-squares fit of value over time (seconds relative to `intercept_time`).
pub(crate) fn linear_regression(w: &[(i64, f64)], intercept_time: i64) -> (f64, f64) {
    let init_y = w.first().map_or(f64::NAN, |p| p.1);
    let mut const_y = true;
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    for (i, &(t, v)) in w.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = t.saturating_sub(intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

fn avg(w: &[(i64, f64)]) -> f64 {
    let Some(first) = w.first() else {
        return f64::NAN;
    };
    let (mut sum, mut count) = (first.1, 1.0);
    let (mut mean, mut c) = (0.0, 0.0);
    let mut incremental = false;
    for (i, p) in w.iter().enumerate().skip(1) {
        count = (i + 1) as f64;
        if !incremental {
            let (ns, nc) = kahan_inc(p.1, sum, c);
            if !ns.is_infinite() {
                (sum, c) = (ns, nc);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(p.1 / count, q * mean, q * c);
    }
    if incremental { mean + c } else { sum / count + c / count }
}

fn variance(w: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in w {
        count += 1.0;
        let delta = p.1 - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (p.1 - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Maps a float to a `u64` whose order is Prometheus' quantile order (NaN first, then
/// ascending), so the sliding window works with cheap integer comparisons.
fn key(v: f64) -> u64 {
    if v.is_nan() {
        return 0;
    }
    let b = v.to_bits();
    if b >> 63 == 1 { !b } else { b | (1 << 63) }
}

fn unkey(k: u64) -> f64 {
    if k == 0 {
        f64::NAN
    } else if k >> 63 == 1 {
        f64::from_bits(k & !(1 << 63))
    } else {
        f64::from_bits(!k)
    }
}

/// Most samples entering plus leaving the window for which a step updates the sorted window in
/// place; beyond that, selection over the whole window is cheaper.
const INCREMENTAL_MAX_CHANGES: usize = 8;

/// quantile_over_time over all steps. When consecutive windows overlap and only a few samples
/// enter and leave per step (steps close to the scrape interval), a sorted copy of the window
/// (as order-preserving integer keys) is updated in place with binary-search inserts and
/// removals instead of re-sorting. Otherwise each window is answered by selection
/// (`select_nth_unstable`) in O(w); no window is ever fully sorted per step.
fn quantile_sweep(samples: &[(i64, f64)], ends: &[i64], range: i64, qs: &[f64]) -> Vec<Option<f64>> {
    let mut out = Vec::with_capacity(ends.len());
    let (mut lo, mut hi) = (0usize, 0usize);
    let mut sorted: Vec<u64> = Vec::new();
    let mut sorted_valid = false;
    let mut scratch: Vec<u64> = Vec::new();
    for (k, &end) in ends.iter().enumerate() {
        let (nlo, nhi) = window(samples, lo, hi, end, range);
        let q = qs.get(k).copied().unwrap_or(f64::NAN);
        let win = samples.get(nlo..nhi).unwrap_or(&[]);
        if win.is_empty() {
            out.push(None);
            sorted_valid = false;
            (lo, hi) = (nlo, nhi);
            continue;
        }
        let changes = (nlo.saturating_sub(lo)) + (nhi.saturating_sub(hi));
        if sorted_valid && nlo < hi && changes <= INCREMENTAL_MAX_CHANGES {
            for p in samples.get(lo..nlo).unwrap_or(&[]) {
                if let Ok(i) = sorted.binary_search(&key(p.1)) {
                    sorted.remove(i);
                }
            }
            for p in samples.get(hi..nhi).unwrap_or(&[]) {
                let kk = key(p.1);
                let i = sorted.partition_point(|&x| x < kk);
                sorted.insert(i, kk);
            }
            out.push(Some(quantile_keys(q, &sorted)));
        } else if next_step_is_small(samples, nhi, end, ends.get(k + 1).copied(), range) {
            sorted.clear();
            sorted.extend(win.iter().map(|p| key(p.1)));
            sorted.sort_unstable();
            sorted_valid = true;
            out.push(Some(quantile_keys(q, &sorted)));
        } else {
            let v = match quantile_extreme_rank(q, win) {
                Some(v) => v,
                None => {
                    scratch.clear();
                    scratch.extend(win.iter().map(|p| key(p.1)));
                    quantile_select_keys(q, &mut scratch)
                }
            };
            out.push(Some(v));
            sorted_valid = false;
        }
        (lo, hi) = (nlo, nhi);
    }
    out
}

/// Whether the next window overlaps this one and few samples arrive until it (so about as few
/// leave): then keeping a sorted window pays off.
fn next_step_is_small(samples: &[(i64, f64)], hi: usize, end: i64, next: Option<i64>, range: i64) -> bool {
    let Some(next) = next else { return false };
    if next.saturating_sub(range) >= end {
        return false;
    }
    let arriving = samples
        .get(hi..)
        .unwrap_or(&[])
        .iter()
        .take(INCREMENTAL_MAX_CHANGES / 2 + 1)
        .take_while(|p| p.0 <= next)
        .count();
    arriving <= INCREMENTAL_MAX_CHANGES / 2
}

/// Most order statistics kept by [`quantile_extreme_rank`].
const EXTREME_RANKS: usize = 16;

/// The quantile of a window whose ranks lie among the `EXTREME_RANKS` smallest or largest
/// values (e.g. 0.99 or 0.01 of a few hundred samples), in one pass keeping just those:
/// mostly one comparison per sample. `None` for ranks in the middle.
fn quantile_extreme_rank(q: f64, w: &[(i64, f64)]) -> Option<f64> {
    use super::mathx::{QuantilePlan, quantile_plan};
    let n = w.len();
    let (lower, upper, weight) = match quantile_plan(q, n) {
        QuantilePlan::Done(v) => return Some(v),
        QuantilePlan::Interpolate { lower, upper, weight } => (lower, upper, weight),
    };
    let mut buf = [0u64; EXTREME_RANKS];
    let mut len = 0usize;
    if n - lower <= EXTREME_RANKS {
        // The n-lower largest keys, ascending: buf[0] has rank `lower`.
        let m = n - lower;
        for p in w {
            let k = key(p.1);
            if len < m {
                let mut i = len;
                while i > 0 && buf[i - 1] > k {
                    buf[i] = buf[i - 1];
                    i -= 1;
                }
                buf[i] = k;
                len += 1;
            } else if k > buf[0] {
                let mut i = 0;
                while i + 1 < m && buf[i + 1] < k {
                    buf[i] = buf[i + 1];
                    i += 1;
                }
                buf[i] = k;
            }
        }
        let lo = unkey(*buf.first()?);
        let hi = unkey(*buf.get(upper - lower)?);
        return Some(lo * (1.0 - weight) + hi * weight);
    }
    if upper < EXTREME_RANKS {
        // The upper+1 smallest keys, ascending.
        let m = upper + 1;
        for p in w {
            let k = key(p.1);
            if len < m {
                let mut i = len;
                while i > 0 && buf[i - 1] > k {
                    buf[i] = buf[i - 1];
                    i -= 1;
                }
                buf[i] = k;
                len += 1;
            } else if k < buf[m - 1] {
                let mut i = m - 1;
                while i > 0 && buf[i - 1] > k {
                    buf[i] = buf[i - 1];
                    i -= 1;
                }
                buf[i] = k;
            }
        }
        let lo = unkey(*buf.get(lower)?);
        let hi = unkey(*buf.get(upper)?);
        return Some(lo * (1.0 - weight) + hi * weight);
    }
    None
}

/// Prometheus' quantile by selection over keys; reorders `keys`.
fn quantile_select_keys(q: f64, keys: &mut [u64]) -> f64 {
    use super::mathx::{QuantilePlan, quantile_plan};
    match quantile_plan(q, keys.len()) {
        QuantilePlan::Done(v) => v,
        QuantilePlan::Interpolate { lower, upper, weight } => {
            if lower >= keys.len() {
                return f64::NAN;
            }
            let (_, lo, rest) = keys.select_nth_unstable(lower);
            let lo = *lo;
            let hi = if upper == lower {
                lo
            } else {
                rest.iter().copied().min().unwrap_or(lo)
            };
            unkey(lo) * (1.0 - weight) + unkey(hi) * weight
        }
    }
}

/// Prometheus' quantile over sorted keys.
fn quantile_keys(q: f64, sorted: &[u64]) -> f64 {
    use super::mathx::{QuantilePlan, quantile_plan};
    match quantile_plan(q, sorted.len()) {
        QuantilePlan::Done(v) => v,
        QuantilePlan::Interpolate { lower, upper, weight } => {
            let lo = sorted.get(lower).map_or(f64::NAN, |&k| unkey(k));
            let hi = sorted.get(upper).map_or(f64::NAN, |&k| unkey(k));
            lo * (1.0 - weight) + hi * weight
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::mathx::{nan_first_cmp, quantile_sorted};
    use super::*;

    #[test]
    fn keys_preserve_order_and_value() {
        for v in [f64::NEG_INFINITY, -2.5, -0.0, 0.0, 1e-300, 3.0, f64::INFINITY] {
            assert_eq!(unkey(key(v)).to_bits(), v.to_bits());
        }
        assert!(key(f64::NAN) < key(f64::NEG_INFINITY));
        assert!(key(-1.0) < key(-0.5) && key(-0.5) < key(0.0) && key(0.0) < key(2.0));
    }

    #[test]
    fn smoothing_follows_prometheus_recurrence() {
        let w = |vals: &[f64]| -> Vec<(i64, f64)> { vals.iter().enumerate().map(|(i, &v)| (i as i64, v)).collect() };
        assert_eq!(double_exponential_smoothing(&w(&[5.0]), 0.5, 0.5), None);
        assert_eq!(double_exponential_smoothing(&[], 0.5, 0.5), None);
        // Two samples: level = sf*v1 + (1-sf)*(v0 + (v1-v0)), v1 up to rounding, which is
        // Prometheus' own (2.9999999999999996 here, as Go computes it).
        assert_eq!(double_exponential_smoothing(&w(&[1.0, 3.0]), 0.5, 0.7), Some(3.0));
        assert_eq!(
            double_exponential_smoothing(&w(&[1.0, 3.0]), 0.3, 0.7),
            Some(0.3 * 3.0 + 0.7 * (1.0 + 2.0))
        );
        // A straight line is followed exactly (the trend starts at its slope and stays).
        assert_eq!(
            double_exponential_smoothing(&w(&[0.0, 10.0, 20.0, 30.0]), 0.5, 0.5),
            Some(30.0)
        );
        // 1, 2, 4 with sf = tf = 0.5, by hand: level 2, trend 1; then trend
        // 0.5*(2-1) + 0.5*1 = 1 and level 0.5*4 + 0.5*(2+1) = 3.5.
        assert_eq!(double_exponential_smoothing(&w(&[1.0, 2.0, 4.0]), 0.5, 0.5), Some(3.5));
    }

    #[test]
    fn smoothing_factor_errors_read_as_prometheus() {
        assert_eq!(smoothing_factors_error(0.5, 0.5), None);
        assert_eq!(smoothing_factors_error(f64::NAN, f64::NAN), None);
        assert_eq!(
            smoothing_factors_error(1.0, 0.0).as_deref(),
            Some("invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000")
        );
        assert_eq!(
            smoothing_factors_error(0.5, -0.25).as_deref(),
            Some("invalid trend factor. Expected: 0 < tf < 1, got: -0.250000")
        );
        assert_eq!(
            smoothing_factors_error(f64::INFINITY, 0.5).as_deref(),
            Some("invalid smoothing factor. Expected: 0 < sf < 1, got: +Inf")
        );
    }

    #[test]
    fn quantile_sweep_equals_per_window() {
        let samples: Vec<(i64, f64)> = (0..200)
            .map(|i| {
                (
                    i * 10,
                    ((i * 7919) % 97) as f64 + if i % 13 == 0 { f64::NAN } else { 0.0 },
                )
            })
            .collect();
        for (step, range) in [(10, 100), (30, 100), (100, 100), (250, 100), (20, 1000), (10, 1500)] {
            let ends: Vec<i64> = (0..100).map(|k| 50 + k * step).collect();
            let qs: Vec<f64> = ends
                .iter()
                .enumerate()
                .map(|(k, _)| [0.0, 0.01, 0.1, 0.3, 0.5, 0.77, 0.9, 0.99, 1.0, 1.5, -1.0][k % 11])
                .collect();
            let fast = quantile_sweep(&samples, &ends, range, &qs);
            let slow = sweep(&samples, &ends, range, ends.len(), false, |k, w, _| {
                let mut v: Vec<f64> = w.iter().map(|p| p.1).collect();
                v.sort_by(nan_first_cmp);
                Some(quantile_sorted(qs[k], &v))
            });
            for (a, b) in fast.iter().zip(&slow) {
                match (a, b) {
                    (Some(x), Some(y)) => assert!(x == y || (x.is_nan() && y.is_nan()), "{x} {y}"),
                    (None, None) => {}
                    _ => panic!("presence differs"),
                }
            }
        }
    }
}
