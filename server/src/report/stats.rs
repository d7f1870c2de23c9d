//! The figures of a period report, pure over values: percentiles (exact, or from merged rollup
//! sketches), mean and extremes, the change from the previous period, the least-squares trend and
//! SLA-style availability. No I/O, no HTTP: the module's tests compute them on known data.

use foresight_engine::promql::RollupWindow;
use foresight_sketch::{Merger, Sketch};

/// Milliseconds in a day, the unit of the reported slope.
pub(crate) const DAY_MS: f64 = 86_400_000.0;

/// What a period's values come to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Summary {
    /// Finite values counted.
    pub(crate) values: u64,
    pub(crate) p50: f64,
    pub(crate) p95: f64,
    pub(crate) p99: f64,
    pub(crate) mean: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

/// Prometheus' quantile of sorted values (`quantile_over_time`: rank `q·(n-1)`, linear
/// interpolation between the neighbouring ranks); NaN when empty. The tests' oracle.
#[cfg(test)]
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let rank = q * (n - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let w = rank - lo as f64;
    let (a, b) = (sorted[lo.min(n - 1)], sorted[hi]);
    if w == 0.0 { a } else { a * (1.0 - w) + b * w }
}

/// The `qs` (ascending) quantiles of `values` as Prometheus computes them (rank `q·(n-1)`,
/// linear interpolation between the neighbouring ranks), by selection instead of a sort: O(n) per quantile (a month of 10 s samples of a group is millions of values).
/// Reorders `values`.
pub(crate) fn quantiles_unsorted<const N: usize>(values: &mut [f64], qs: [f64; N]) -> [f64; N] {
    let n = values.len();
    let mut out = [f64::NAN; N];
    if n == 0 {
        return out;
    }
    // Every value before `done` is at most every value from `done` on.
    let mut done = 0;
    for (slot, q) in out.iter_mut().zip(qs) {
        let rank = q * (n - 1) as f64;
        let lo = (rank.floor() as usize).min(n - 1);
        if lo >= done {
            values[done..].select_nth_unstable_by(lo - done, f64::total_cmp);
            done = lo + 1;
        }
        let a = values[lo];
        let w = rank - lo as f64;
        *slot = if w == 0.0 || lo + 1 >= n {
            a
        } else {
            // The next rank: the smallest value after `lo`.
            let b = values[lo + 1..].iter().copied().fold(f64::INFINITY, f64::min);
            a * (1.0 - w) + b * w
        };
    }
    out
}

/// Collects one group's values in one period, from raw values and whole rollup windows.
///
/// Without windows the percentiles are exact (the values are sorted). With windows, their
/// sketches and the raw values are merged into one sketch, so each percentile is within
/// [`foresight_sketch::RELATIVE_ERROR`] of the exact one over the same values; the count, sum,
/// minimum and maximum stay exact either way.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    raw: Vec<f64>,
    windows: Vec<Sketch>,
    count: u64,
    sum: f64,
    compensation: f64,
    min: f64,
    max: f64,
}

impl Collector {
    /// Adds one value; non-finite values are not counted (a gap, not a measurement).
    pub(crate) fn value(&mut self, v: f64) {
        if v.is_finite() {
            self.raw.push(v);
            self.account(1, v, v, v);
        }
    }

    /// Adds a whole rollup window (its values are finite by the storage's contract).
    pub(crate) fn window(&mut self, w: &RollupWindow) {
        if w.count == 0 {
            return;
        }
        self.windows.push(w.sketch.clone());
        self.account(w.count, w.sum, w.min, w.max);
    }

    fn account(&mut self, n: u64, sum: f64, min: f64, max: f64) {
        if self.count == 0 {
            (self.min, self.max) = (min, max);
        } else {
            self.min = self.min.min(min);
            self.max = self.max.max(max);
        }
        self.count += n;
        // Kahan: a month of values sums to millions of terms.
        let y = sum - self.compensation;
        let t = self.sum + y;
        self.compensation = (t - self.sum) - y;
        self.sum = t;
    }

    /// Whether a sketch answers the percentiles (some window was used).
    pub(crate) fn approximate(&self) -> bool {
        !self.windows.is_empty()
    }

    /// The summary; `None` without any value.
    pub(crate) fn finish(mut self) -> Option<Summary> {
        if self.count == 0 {
            return None;
        }
        let (p50, p95, p99) = if self.windows.is_empty() {
            let [a, b, c] = quantiles_unsorted(&mut self.raw, [0.5, 0.95, 0.99]);
            (a, b, c)
        } else {
            let mut m = Merger::new();
            for s in &self.windows {
                m.merge(s);
            }
            for &v in &self.raw {
                m.add(v);
            }
            let s = m.finish();
            (s.quantile(0.5), s.quantile(0.95), s.quantile(0.99))
        };
        Some(Summary {
            values: self.count,
            p50,
            p95,
            p99,
            mean: self.sum / self.count as f64,
            min: self.min,
            max: self.max,
        })
    }
}

/// The change from a previous figure to the current one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Change {
    pub(crate) absolute: f64,
    /// `absolute / |previous|`; `None` when the previous figure is 0.
    pub(crate) relative: Option<f64>,
}

pub(crate) fn change(current: f64, previous: f64) -> Change {
    let absolute = current - previous;
    Change {
        absolute,
        relative: (previous != 0.0 && previous.is_finite()).then(|| absolute / previous.abs()),
    }
}

/// A least-squares line `value = intercept + slope · (t - t0)`, `t` in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Line {
    pub(crate) t0: i64,
    pub(crate) intercept: f64,
    /// Per millisecond.
    pub(crate) slope: f64,
}

impl Line {
    pub(crate) fn at(&self, t: i64) -> f64 {
        self.intercept + self.slope * (t - self.t0) as f64
    }

    pub(crate) fn per_day(&self) -> f64 {
        self.slope * DAY_MS
    }
}

/// The least-squares line through the finite points; `None` under two distinct times.
pub(crate) fn least_squares(points: impl Iterator<Item = (i64, f64)> + Clone) -> Option<Line> {
    let pts = points.filter(|p| p.1.is_finite());
    let t0 = pts.clone().next()?.0;
    let (mut n, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (t, v) in pts.clone() {
        n += 1.0;
        sx += (t - t0) as f64;
        sy += v;
    }
    let (mx, my) = (sx / n, sy / n);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (t, v) in pts {
        let dx = (t - t0) as f64 - mx;
        sxx += dx * dx;
        sxy += dx * (v - my);
    }
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    Some(Line {
        t0,
        intercept: my - slope * mx,
        slope,
    })
}

/// Which values count as good for availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparison {
    Le,
    Lt,
    Ge,
    Gt,
}

impl Comparison {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "<=" | "le" => Some(Comparison::Le),
            "<" | "lt" => Some(Comparison::Lt),
            ">=" | "ge" => Some(Comparison::Ge),
            ">" | "gt" => Some(Comparison::Gt),
            _ => None,
        }
    }

    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Comparison::Le => "<=",
            Comparison::Lt => "<",
            Comparison::Ge => ">=",
            Comparison::Gt => ">",
        }
    }

    pub(crate) fn good(self, v: f64, threshold: f64) -> bool {
        match self {
            Comparison::Le => v <= threshold,
            Comparison::Lt => v < threshold,
            Comparison::Ge => v >= threshold,
            Comparison::Gt => v > threshold,
        }
    }
}

/// Good steps over steps with data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Availability {
    pub(crate) good: usize,
    pub(crate) steps: usize,
}

impl Availability {
    /// `good / steps`; NaN without data.
    pub(crate) fn ratio(self) -> f64 {
        if self.steps == 0 {
            f64::NAN
        } else {
            self.good as f64 / self.steps as f64
        }
    }
}

pub(crate) fn availability(values: &[f64], threshold: f64, cmp: Comparison) -> Availability {
    let finite = values.iter().filter(|v| v.is_finite());
    Availability {
        good: finite.clone().filter(|&&v| cmp.good(v, threshold)).count(),
        steps: finite.count(),
    }
}

/// The mean of the finite values at each step over several series of one group (NaN where none
/// has a value): the group's series on the step grid.
pub(crate) fn mean_per_step<'a>(series: impl Iterator<Item = &'a [f64]>, steps: usize) -> Vec<f64> {
    let mut sum = vec![0.0; steps];
    let mut n = vec![0u32; steps];
    for s in series {
        for (i, v) in s.iter().enumerate().take(steps) {
            if v.is_finite() {
                sum[i] += v;
                n[i] += 1;
            }
        }
    }
    sum.iter()
        .zip(&n)
        .map(|(s, &c)| if c == 0 { f64::NAN } else { s / f64::from(c) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_summary_of_one_to_a_thousand() {
        let mut c = Collector::default();
        for i in (1..=1000).rev() {
            c.value(f64::from(i));
        }
        c.value(f64::NAN);
        assert!(!c.approximate());
        let s = c.finish().unwrap();
        // Prometheus' ranks: q·999 between i and i+1 (1-based values).
        assert_eq!(s.values, 1000);
        assert!((s.p50 - 500.5).abs() < 1e-9, "{}", s.p50);
        assert!((s.p95 - 950.05).abs() < 1e-9, "{}", s.p95);
        assert!((s.p99 - 990.01).abs() < 1e-9, "{}", s.p99);
        assert_eq!((s.mean, s.min, s.max), (500.5, 1.0, 1000.0));
        assert!(Collector::default().finish().is_none());
    }

    #[test]
    fn selection_gives_the_quantiles_of_the_sorted_values() {
        let mut x: u64 = 7;
        for n in [1usize, 2, 3, 10, 101, 1000, 4097] {
            let values: Vec<f64> = (0..n)
                .map(|_| {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    // Few distinct values: ties at the ranks.
                    ((x >> 33) % 50) as f64 - 10.0
                })
                .collect();
            let mut sorted = values.clone();
            sorted.sort_unstable_by(f64::total_cmp);
            let qs = [0.0, 0.25, 0.5, 0.5, 0.95, 0.99, 1.0];
            let got = quantiles_unsorted(&mut values.clone(), qs);
            for (g, q) in got.iter().zip(qs) {
                assert_eq!(*g, quantile_sorted(&sorted, q), "n {n} q {q}");
            }
        }
        assert!(quantiles_unsorted(&mut [], [0.5])[0].is_nan());
    }

    #[test]
    fn windows_give_percentiles_within_the_sketch_bound_and_exact_moments() {
        // Values 1..=1000 as ten windows of 100, plus 1001..=1010 raw.
        let mut c = Collector::default();
        for w in 0..10 {
            let mut sketch = Sketch::new();
            let vals: Vec<f64> = (1..=100).map(|i| f64::from(w * 100 + i)).collect();
            vals.iter().for_each(|&v| sketch.add(v));
            c.window(&RollupWindow {
                start: i64::from(w) * 1000,
                count: 100,
                sum: vals.iter().sum(),
                sumsq: vals.iter().map(|v| v * v).sum(),
                min: vals[0],
                max: vals[99],
                first: (0, vals[0]),
                last: (0, vals[99]),
                increase: 0.0,
                resets: 0,
                sketch,
            });
        }
        for i in 1001..=1010 {
            c.value(f64::from(i));
        }
        assert!(c.approximate());
        let s = c.finish().unwrap();
        let mut all: Vec<f64> = (1..=1010).map(f64::from).collect();
        all.sort_unstable_by(f64::total_cmp);
        for (got, q) in [(s.p50, 0.5), (s.p95, 0.95), (s.p99, 0.99)] {
            let exact = quantile_sorted(&all, q);
            assert!(
                (got - exact).abs() <= exact * foresight_sketch::RELATIVE_ERROR,
                "q{q}: {got} vs {exact}"
            );
        }
        assert_eq!(s.values, 1010);
        assert_eq!((s.min, s.max), (1.0, 1010.0));
        assert!((s.mean - 505.5).abs() < 1e-9);
    }

    #[test]
    fn change_slope_and_availability_by_hand() {
        assert_eq!(
            change(12.0, 10.0),
            Change {
                absolute: 2.0,
                relative: Some(0.2)
            }
        );
        assert_eq!(change(3.0, 0.0).relative, None);
        assert_eq!(change(-1.0, -2.0).relative, Some(0.5));

        // 2 a day plus noise +-+ -+ in fours, orthogonal to time: the slope is exactly 2 per day.
        let pts: Vec<(i64, f64)> = (0..48)
            .map(|h| {
                let t = 1_000 + h * 3_600_000;
                let noise = if h % 4 == 0 || h % 4 == 3 { 0.5 } else { -0.5 };
                (t, 7.0 + 2.0 * (h as f64 / 24.0) + noise)
            })
            .collect();
        let line = least_squares(pts.iter().copied()).unwrap();
        assert!((line.per_day() - 2.0).abs() < 1e-9, "{}", line.per_day());
        assert!((line.at(1_000 + 47 * 3_600_000) - (7.0 + 2.0 * 47.0 / 24.0)).abs() < 0.1);
        assert!(least_squares([(5, 1.0), (5, 2.0)].into_iter()).is_none());
        assert!(least_squares(std::iter::empty()).is_none());

        let v = [1.0, 2.0, f64::NAN, 3.0, 4.0];
        let a = availability(&v, 2.0, Comparison::Le);
        assert_eq!((a.good, a.steps), (2, 4));
        assert_eq!(a.ratio(), 0.5);
        assert_eq!(availability(&v, 2.0, Comparison::Gt).good, 2);
        assert_eq!(availability(&v, 2.0, Comparison::Ge).good, 3);
        assert_eq!(availability(&v, 2.0, Comparison::Lt).good, 1);
        assert!(availability(&[], 1.0, Comparison::Le).ratio().is_nan());
        assert_eq!(Comparison::parse(">="), Some(Comparison::Ge));
        assert_eq!(Comparison::parse("=="), None);
    }

    #[test]
    fn group_series_is_the_mean_per_step() {
        let a = [1.0, f64::NAN, 3.0];
        let b = [3.0, f64::NAN, f64::NAN];
        let m = mean_per_step([&a[..], &b[..]].into_iter(), 3);
        assert_eq!(m[0], 2.0);
        assert!(m[1].is_nan());
        assert_eq!(m[2], 3.0);
    }
}
