//! Range functions over long windows answered from rollups (see [`Storage::select_rollups`]):
//! each step's window `(end - range, end]` is split into the whole rollup windows it covers and
//! raw samples at its two unaligned edges (and wherever the storage has no whole window), as
//! Thanos does with its downsampled blocks.
//!
//! - `count_over_time`, `min_over_time`, `max_over_time`, `last_over_time`,
//!   `present_over_time`, `resets` and `delta` give the raw answer exactly.
//! - `sum_over_time`, `avg_over_time`, `increase` and `rate` add per-window sums instead of
//!   samples: the same value up to float rounding (relative differences of about 1e-15).
//! - `quantile_over_time` merges the windows' sketches: within the sketch's relative error
//!   ([`foresight_sketch::RELATIVE_ERROR`], 0.54 %) of every rank's value; the query's answer
//!   says so in its `infos`.
//!
//! Everything else (and any range shorter than [`MIN_WINDOWS`] windows) reads raw samples.
//!
//! [`Storage::select_rollups`]: crate::Storage::select_rollups

use foresight_sketch::{Merger, Sketch};
use promql_parser::parser::{Expr, MatrixSelector};
use rayon::prelude::*;

use super::mathx::{QuantilePlan, kahan_inc, quantile_plan};
use super::range_fns::{RangeFn, extrapolate};
use super::{Evaluator, Grid, Result, StepSeries, duration_ms, offset_ms, unparen};
use crate::parse::selector_matchers;
use crate::storage::{RollupSeries, RollupWindow, is_stale_nan};

/// Fewest whole windows a range must span before rollups are used: below that, the raw edges
/// are most of the work anyway.
pub(crate) const MIN_WINDOWS: i64 = 4;

/// The text of the `infos` entry of a query answered from sketches.
pub(crate) const SKETCH_INFO: &str = "PromQL info: quantile_over_time was answered from rollup sketches, \
     within 0.54% relative error of the exact value (add raw=true to read raw samples)";

/// Whether the rollup path answers `f`.
fn supported(f: RangeFn) -> bool {
    matches!(
        f,
        RangeFn::Count
            | RangeFn::Sum
            | RangeFn::Avg
            | RangeFn::Min
            | RangeFn::Max
            | RangeFn::Last
            | RangeFn::Present
            | RangeFn::Resets
            | RangeFn::Rate
            | RangeFn::Increase
            | RangeFn::Delta
            | RangeFn::Quantile
    )
}

/// First multiple of `len` at or after `t`.
fn ceil_to(t: i64, len: i64) -> i64 {
    t.div_euclid(len)
        .saturating_mul(len)
        .saturating_add(if t.rem_euclid(len) == 0 { 0 } else { len })
}

/// Last multiple of `len` at or before `t`.
fn floor_to(t: i64, len: i64) -> i64 {
    t.div_euclid(len).saturating_mul(len)
}

/// The whole windows `[a, b)` of the step window `(end - range, end]`: `a` the first window
/// start inside it, `b` the end of the last window inside it (`a >= b` when there is none).
fn inner_span(end: i64, range: i64, len: i64) -> (i64, i64) {
    (
        ceil_to(end.saturating_sub(range).saturating_add(1), len),
        floor_to(end.saturating_add(1), len),
    )
}

/// The raw spans (inclusive, sorted, merged) the steps need: each step's two unaligned edges.
fn edge_spans(ends: &[i64], range: i64, len: i64) -> Vec<(i64, i64)> {
    let mut spans: Vec<(i64, i64)> = Vec::with_capacity(ends.len() * 2);
    for &end in ends {
        let lo = end.saturating_sub(range).saturating_add(1);
        let (a, b) = inner_span(end, range, len);
        if a >= b {
            spans.push((lo, end));
            continue;
        }
        if lo < a {
            spans.push((lo, a - 1));
        }
        if b <= end {
            spans.push((b, end));
        }
    }
    crate::storage::merge_spans(spans)
}

/// A window's running summary, fed samples and whole rollup windows in time order.
struct Acc {
    count: u64,
    sum: f64,
    c: f64,
    min: f64,
    max: f64,
    first: Option<(i64, f64)>,
    last: (i64, f64),
    /// Sum of the values before each reset, as `increase` adds them to `last - first`.
    reset_sum: f64,
    resets: u64,
    sketch: Option<Merger>,
    /// NaN and infinite raw samples, by kind: NaN, -Inf, +Inf (the sketch holds finite values).
    non_finite: [u64; 3],
    windows: u64,
}

impl Acc {
    fn new(with_sketch: bool) -> Self {
        Acc {
            count: 0,
            sum: 0.0,
            c: 0.0,
            min: f64::NAN,
            max: f64::NAN,
            first: None,
            last: (0, f64::NAN),
            reset_sum: 0.0,
            resets: 0,
            sketch: with_sketch.then(Merger::new),
            non_finite: [0; 3],
            windows: 0,
        }
    }

    /// The step from the previous value to `v`, as `increase` and `resets` count it.
    fn join(&mut self, t: i64, v: f64, min: f64, max: f64) {
        if self.first.is_none() {
            self.first = Some((t, v));
            (self.min, self.max) = (min, max);
            return;
        }
        let prev = self.last.1;
        if v < prev {
            self.resets += 1;
            self.reset_sum += prev;
        }
        // As `min_over_time` and `max_over_time`: the first of equal values, NaN replaced.
        if min < self.min || self.min.is_nan() {
            self.min = min;
        }
        if max > self.max || self.max.is_nan() {
            self.max = max;
        }
    }

    fn sample(&mut self, t: i64, v: f64) {
        self.join(t, v, v, v);
        self.count += 1;
        (self.sum, self.c) = kahan_inc(v, self.sum, self.c);
        self.last = (t, v);
        if let Some(sk) = &mut self.sketch {
            if v.is_finite() {
                sk.add(v);
            } else if v.is_nan() {
                self.non_finite[0] += 1;
            } else if v < 0.0 {
                self.non_finite[1] += 1;
            } else {
                self.non_finite[2] += 1;
            }
        }
    }

    fn window(&mut self, w: &RollupWindow) {
        self.join(w.first.0, w.first.1, w.min, w.max);
        self.count += w.count;
        (self.sum, self.c) = kahan_inc(w.sum, self.sum, self.c);
        // The window's own resets: its increase is `last - first` plus the values before them.
        self.reset_sum += w.increase - (w.last.1 - w.first.1);
        self.resets += w.resets;
        self.last = w.last;
        if let Some(sk) = &mut self.sketch {
            sk.merge(&w.sketch);
        }
        self.windows += 1;
    }

    /// The value at rank `r` (0-based) in Prometheus' quantile order: NaN, -Inf, the finite
    /// values (from the sketch), +Inf.
    fn at_rank(&self, sk: &Sketch, r: u64) -> f64 {
        let [nan, neg, _] = self.non_finite;
        if r < nan {
            f64::NAN
        } else if r < nan + neg {
            f64::NEG_INFINITY
        } else if r - nan - neg < sk.count() {
            sk.value_at_rank(r - nan - neg)
        } else {
            f64::INFINITY
        }
    }

    fn value(&mut self, f: RangeFn, q: f64, span: (i64, i64, i64)) -> Option<f64> {
        let first = self.first?;
        let sum = || {
            if self.sum.is_infinite() {
                self.sum
            } else {
                self.sum + self.c
            }
        };
        Some(match f {
            RangeFn::Count => self.count as f64,
            RangeFn::Sum => sum(),
            RangeFn::Avg => sum() / self.count as f64,
            RangeFn::Min => self.min,
            RangeFn::Max => self.max,
            RangeFn::Last => self.last.1,
            RangeFn::Present => 1.0,
            RangeFn::Resets => self.resets as f64,
            RangeFn::Rate | RangeFn::Increase | RangeFn::Delta => {
                if self.count < 2 {
                    return None;
                }
                let counter = f != RangeFn::Delta;
                let mut result = self.last.1 - first.1;
                if counter {
                    result += self.reset_sum;
                }
                extrapolate(self.count, first, self.last, result, span, counter, f == RangeFn::Rate)
            }
            RangeFn::Quantile => {
                let sk = self.sketch.take()?.finish();
                let n = usize::try_from(self.count).ok()?;
                match quantile_plan(q, n) {
                    QuantilePlan::Done(v) => v,
                    QuantilePlan::Interpolate { lower, upper, weight } => {
                        let lo = self.at_rank(&sk, lower as u64);
                        let hi = self.at_rank(&sk, upper as u64);
                        lo * (1.0 - weight) + hi * weight
                    }
                }
            }
            _ => return None,
        })
    }
}

/// One series' value at each step. Returns the values and whether a sketch was used.
fn series_steps(
    f: RangeFn,
    s: &RollupSeries,
    ends: &[i64],
    steps: usize,
    range: i64,
    len: i64,
    qs: Option<&[f64]>,
) -> (Vec<Option<f64>>, bool) {
    let broadcast = ends.len() == 1 && steps != 1;
    let mut out = Vec::with_capacity(steps);
    let mut sketched = false;
    let samples = &s.samples[..];
    let windows = &s.windows[..];
    for k in 0..steps {
        let Some(&end) = ends.get(if broadcast { 0 } else { k }) else {
            out.push(None);
            continue;
        };
        let q = qs.and_then(|q| q.get(k).copied()).unwrap_or(f64::NAN);
        let lo_t = end.saturating_sub(range);
        let (a, b) = inner_span(end, range, len);
        let used = if a < b {
            let i0 = windows.partition_point(|w| w.start < a);
            let i1 = windows.partition_point(|w| w.start < b);
            windows.get(i0..i1).unwrap_or(&[])
        } else {
            &[]
        };
        let mut acc = Acc::new(f == RangeFn::Quantile);
        let s0 = samples.partition_point(|p| p.0 <= lo_t);
        let s1 = samples.partition_point(|p| p.0 <= end);
        let mut wi = 0usize;
        for &(t, v) in samples.get(s0..s1).unwrap_or(&[]) {
            // Windows starting before this sample come first.
            while let Some(w) = used.get(wi).filter(|w| w.start <= t) {
                if t < w.start.saturating_add(len) {
                    break;
                }
                acc.window(w);
                wi += 1;
            }
            let inside = used
                .get(wi)
                .is_some_and(|w| w.start <= t && t < w.start.saturating_add(len));
            if !inside && !is_stale_nan(v) {
                acc.sample(t, v);
            }
        }
        for w in used.get(wi..).unwrap_or(&[]) {
            acc.window(w);
        }
        if f == RangeFn::Quantile && acc.windows > 0 {
            sketched = true;
        }
        out.push(acc.value(f, q, (lo_t, end, range)));
    }
    (out, sketched)
}

impl Evaluator<'_> {
    /// `f` over a matrix selector from rollups, when the storage has them and the range covers
    /// enough whole windows; `None` to evaluate from raw samples.
    pub(crate) fn rollup_range(
        &self,
        f: RangeFn,
        e: &Expr,
        g: &Grid,
        param: Option<&[f64]>,
    ) -> Result<Option<Vec<StepSeries>>> {
        if !self.opts.rollups || !supported(f) {
            return Ok(None);
        }
        let Expr::MatrixSelector(ms) = unparen(e) else {
            return Ok(None);
        };
        let n = g.len();
        let range = duration_ms(&ms.range);
        let Some(len) = self
            .storage
            .rollup_lengths()
            .into_iter()
            .filter(|&l| l > 0 && range / l >= MIN_WINDOWS)
            .max()
        else {
            return Ok(None);
        };
        let ends = self.selector_times(&ms.vs.at, offset_ms(&ms.vs.offset), g);
        let (Some(&first), Some(&last)) = (ends.first(), ends.last()) else {
            return Ok(None);
        };
        if n == 0 {
            return Ok(None);
        }
        let (mint, maxt) = (first.saturating_sub(range).saturating_add(1), last);
        let raw = edge_spans(&ends, range, len);
        // When the steps' edges cover most of the range (steps shorter than a window), raw
        // samples are cheaper.
        let raw_len: i64 = raw.iter().map(|s| s.1 - s.0 + 1).sum();
        if raw_len.saturating_mul(2) > maxt.saturating_sub(mint) {
            return Ok(None);
        }
        let series = self.select_rollups(ms, len, mint, maxt, &raw)?;
        let steps = n;
        let results: Vec<(StepSeries, bool)> = series
            .into_par_iter()
            .filter_map(|s| {
                if self.expired() {
                    return None;
                }
                let (vals, sketched) = series_steps(f, &s, &ends, steps, range, len, param);
                vals.iter().any(Option::is_some).then(|| {
                    (
                        StepSeries {
                            labels: if f.keeps_name() {
                                s.labels
                            } else {
                                s.labels.without_metric_name()
                            },
                            vals,
                        },
                        sketched,
                    )
                })
            })
            .collect();
        self.check_deadline()?;
        if results.iter().any(|r| r.1) {
            self.add_info(SKETCH_INFO);
        }
        Ok(Some(results.into_iter().map(|r| r.0).collect()))
    }

    /// Reads a selector's rollups, once, sorted by labels (as `select` does for samples).
    fn select_rollups(
        &self,
        ms: &MatrixSelector,
        len: i64,
        mint: i64,
        maxt: i64,
        raw: &[(i64, i64)],
    ) -> Result<Vec<RollupSeries>> {
        let groups = selector_matchers(&ms.vs)?;
        let mut out: Vec<RollupSeries> = Vec::new();
        for m in &groups {
            out.append(&mut self.storage.select_rollups(m, len, mint, maxt, raw)?);
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        if groups.len() > 1 {
            out.dedup_by(|a, b| a.labels == b.labels);
        }
        let n: usize = out.iter().map(|s| s.samples.len() + s.windows.len()).sum();
        self.count_selected(out.len() as u64, n as u64)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_split_each_step_into_whole_windows_and_edges() {
        assert_eq!(inner_span(10_000, 10_000, 1_000), (1_000, 10_000));
        assert_eq!(inner_span(9_999, 10_000, 1_000), (0, 10_000));
        assert_eq!(inner_span(10_500, 10_000, 1_000), (1_000, 10_000));
        assert_eq!(edge_spans(&[10_500], 10_000, 1_000), vec![(501, 999), (10_000, 10_500)]);
        assert_eq!(edge_spans(&[9_999], 10_000, 1_000), vec![], "aligned: no edges");
        assert_eq!(
            edge_spans(&[10_500, 11_500], 10_000, 1_000),
            vec![(501, 999), (1_501, 1_999), (10_000, 10_500), (11_000, 11_500)]
        );
        assert_eq!(edge_spans(&[500], 800, 1_000), vec![(-299, 500)], "no whole window");
        assert_eq!((ceil_to(-1, 1_000), floor_to(-1, 1_000)), (0, -1_000));
    }
}
