//! Rollups: per series, per aligned window of [`RESOLUTIONS`] (5 min and 1 h), the summary that
//! answers the `*_over_time` functions over long ranges without decoding every sample: count, sum,
//! sum of squares, minimum, maximum, first and last sample (with their timestamps), counter
//! increase and resets, and a quantile sketch ([`foresight_sketch::Sketch`]).
//!
//! Every block (version 3) stores its series' rollups right after the series' sample chunks in the
//! data section, so they share the block's checksum, its publication by rename and its removal at
//! compaction or retention, and a snapshot that links the block files takes them along. Windows
//! are aligned to the epoch; a window's summary covers the samples of the block inside it, so a
//! window is whole only where no other block or the head holds samples of it (the reader checks).
//!
//! Per series (docs/format.md, "Rollups"):
//! ```text
//! uvarint n_resolutions, then per resolution:
//!   uvarint window (ms) | uvarint byte length | uvarint n_windows
//!   timestamps column: window starts            timestamps column: sample counts
//!   timestamps column: first_t - start          timestamps column: last_t - start
//!   timestamps column: resets
//!   values columns: sum, sum of squares, min, max, first, last, increase
//!   n_windows sketches (foresight_sketch encoding; min and max from the columns above)
//! ```
//! Columns reuse the block codecs (`crate::column`): a day of 5 min windows of a regular series
//! costs a few bytes per window.

use foresight_sketch::Sketch;

use crate::column;
use crate::format::{Reader, put_uvarint};
use crate::model::Labels;

/// Window lengths of the rollups a block may hold, finest first: 5 min and 1 h
/// (`Options::rollup_windows_ms` chooses; 1 h by default).
pub const RESOLUTIONS: [i64; 2] = [300_000, 3_600_000];

/// The summary of one series' samples in one aligned window: PromQL's own
/// [`foresight_promql::RollupWindow`], so the evaluator reads the windows without a copy. Its
/// `min` and `max` ignore NaNs unless all are NaN (as `min_over_time`); `increase` is reset-adjusted
/// as Prometheus' `increase`, without extrapolation.
pub use foresight_promql::RollupWindow as Window;

/// Whether the window holds NaNs or infinities, which its sketch does not represent (a query
/// reads such windows raw).
pub(crate) fn has_non_finite(w: &Window) -> bool {
    w.sketch.non_finite() > 0
}

/// One series' whole rollup windows, as [`crate::Db::rollups`] returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupSeries {
    /// The series.
    pub labels: Labels,
    /// Its whole windows, ascending by start.
    pub windows: Vec<Window>,
}

/// One series as [`crate::Db::select_rollups`] returns it: whole windows, and raw samples where
/// they do not answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupSelection {
    /// The series.
    pub labels: Labels,
    /// Its whole windows holding only finite values, ascending by start.
    pub windows: Vec<Window>,
    /// Raw samples, ascending (see [`crate::Db::select_rollups`]).
    pub samples: Vec<(i64, f64)>,
}

/// An inclusive time span (ms).
pub(crate) type Span = (i64, i64);

/// The windows of length `len` of `samples` (ascending, unique timestamps).
pub(crate) fn windows(samples: &[(i64, f64)], len: i64) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    let mut i = 0;
    while let Some(&(t, _)) = samples.get(i) {
        let end = t.div_euclid(len).saturating_mul(len).saturating_add(len);
        let j = i + samples[i..].partition_point(|s| s.0 < end);
        if let Some(mut w) = Window::of(len, &samples[i..j]) {
            exact_decimal_sums(&mut w, &samples[i..j]);
            out.push(w);
        }
        i = j;
    }
    out
}

/// Largest decimal scale of the values whose sums are computed exactly.
const MAX_SUM_SCALE: usize = 9;

/// When every value of the window is a short decimal (the usual case), replaces the sum, the sum
/// of squares and the increase by their exact values, rounded once: those are short decimals too,
/// which the value columns store as small scaled integers, where float accumulation leaves
/// 17-digit values costing 8 bytes each. Leaves them as accumulated on overflow.
fn exact_decimal_sums(w: &mut Window, part: &[(i64, f64)]) {
    let mut ms: Vec<(usize, i64)> = Vec::with_capacity(part.len());
    for &(_, v) in part {
        match column::as_decimal(v) {
            Some((e, m)) if e <= MAX_SUM_SCALE => ms.push((e, m)),
            _ => return,
        }
    }
    let e = ms.iter().map(|m| m.0).max().unwrap_or(0);
    let scaled: Vec<i128> = ms
        .iter()
        .map(|&(s, m)| i128::from(m) * 10i128.pow((e - s) as u32))
        .collect();
    let exact = || -> Option<(f64, f64, f64)> {
        let (mut sum, mut sumsq, mut inc) = (0i128, 0i128, 0i128);
        for (k, &m) in scaled.iter().enumerate() {
            sum = sum.checked_add(m)?;
            sumsq = sumsq.checked_add(m.checked_mul(m)?)?;
            if let Some(&prev) = k.checked_sub(1).and_then(|p| scaled.get(p)) {
                inc = inc.checked_add(if m < prev { m } else { m - prev })?;
            }
        }
        Some((to_f64(sum, e)?, to_f64(sumsq, 2 * e)?, to_f64(inc, e)?))
    };
    if let Some((sum, sumsq, inc)) = exact() {
        (w.sum, w.sumsq, w.increase) = (sum, sumsq, inc);
    }
}

/// `m / 10^e` correctly rounded, when `m` is exact as a float (|m| <= 2^53).
fn to_f64(m: i128, e: usize) -> Option<f64> {
    const POW10: [f64; 19] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
    ];
    (m.unsigned_abs() <= 1 << 53).then_some(m as f64 / *POW10.get(e)?)
}

/// Appends the rollups of one series, windows of each length of `lens`, to `out`.
pub(crate) fn encode_series(samples: &[(i64, f64)], lens: &[i64], out: &mut Vec<u8>) {
    put_uvarint(out, lens.len() as u64);
    let mut body = Vec::new();
    for &len in lens {
        body.clear();
        encode_windows(&windows(samples, len), &mut body);
        put_uvarint(out, len as u64);
        put_uvarint(out, body.len() as u64);
        out.extend_from_slice(&body);
    }
}

fn encode_windows(ws: &[Window], out: &mut Vec<u8>) {
    put_uvarint(out, ws.len() as u64);
    let ints = |f: &dyn Fn(&Window) -> i64, out: &mut Vec<u8>| {
        let col: Vec<i64> = ws.iter().map(f).collect();
        column::encode_timestamps(&col, out);
    };
    ints(&|w| w.start, out);
    ints(&|w| w.count as i64, out);
    ints(&|w| w.first.0 - w.start, out);
    ints(&|w| w.last.0 - w.start, out);
    ints(&|w| w.resets as i64, out);
    for f in VALUE_FIELDS {
        let col: Vec<f64> = ws.iter().map(|w| *f(w)).collect();
        column::encode_values(&col, out);
    }
    for w in ws {
        w.sketch.encode(out);
    }
}

type Field = fn(&Window) -> &f64;
const VALUE_FIELDS: [Field; 7] = [
    |w| &w.sum,
    |w| &w.sumsq,
    |w| &w.min,
    |w| &w.max,
    |w| &w.first.1,
    |w| &w.last.1,
    |w| &w.increase,
];

/// Decodes the windows of length `len` from one series' rollups (as [`encode_series`] wrote
/// them); an empty vector when the series has no rollups of that length.
pub(crate) fn decode_series(bytes: &[u8], len: i64) -> Result<Vec<Window>, String> {
    let mut r = Reader::new(bytes);
    let n = r.uvarint().map_err(str::to_owned)?;
    for _ in 0..n {
        let l = r.uvarint().map_err(str::to_owned)?;
        let body = r.len_bytes().map_err(str::to_owned)?;
        if l == len as u64 {
            return decode_windows(body).map_err(|e| format!("rollup of {len} ms: {e}"));
        }
    }
    Ok(Vec::new())
}

fn decode_windows(body: &[u8]) -> Result<Vec<Window>, String> {
    let mut r = Reader::new(body);
    let n = r.usize().map_err(str::to_owned)?;
    if n > body.len() {
        return Err("more windows than bytes".to_owned());
    }
    let mut at = body.len() - r.rest().len();
    let mut ints: Vec<Vec<i64>> = Vec::with_capacity(5);
    for _ in 0..5 {
        let mut col = Vec::with_capacity(n);
        at += column::decode_timestamps(body.get(at..).unwrap_or_default(), &mut col).map_err(|e| e.to_string())?;
        if col.len() != n {
            return Err("integer column length differs from the window count".to_owned());
        }
        ints.push(col);
    }
    let mut vals: Vec<Vec<f64>> = Vec::with_capacity(VALUE_FIELDS.len());
    for _ in VALUE_FIELDS {
        let mut col = Vec::with_capacity(n);
        at += column::decode_values(body.get(at..).unwrap_or_default(), &mut col).map_err(|e| e.to_string())?;
        if col.len() != n {
            return Err("value column length differs from the window count".to_owned());
        }
        vals.push(col);
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (min, max) = (vals[2][i], vals[3][i]);
        let (sketch, used) = Sketch::decode(body.get(at..).unwrap_or_default(), min, max).map_err(|e| e.to_string())?;
        at += used;
        let count = u64::try_from(ints[1][i]).map_err(|_| "negative sample count".to_owned())?;
        if count == 0 || sketch.count() + sketch.non_finite() != count {
            return Err("sketch count differs from the window's sample count".to_owned());
        }
        let start = ints[0][i];
        out.push(Window {
            start,
            count,
            sum: vals[0][i],
            sumsq: vals[1][i],
            min,
            max,
            first: (start.wrapping_add(ints[2][i]), vals[4][i]),
            last: (start.wrapping_add(ints[3][i]), vals[5][i]),
            increase: vals[6][i],
            resets: u64::try_from(ints[4][i]).map_err(|_| "negative reset count".to_owned())?,
            sketch,
        });
    }
    if at != body.len() {
        return Err("bytes after the last sketch".to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn windows_follow_prometheus_counter_semantics() {
        // A counter with a reset inside the second 5 min window.
        let s = [(0, 1.0), (100_000, 5.0), (300_000, 7.0), (400_000, 2.0), (500_000, 4.0)];
        let w = windows(&s, 300_000);
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].start, w[0].count, w[0].increase, w[0].resets), (0, 2, 4.0, 0));
        assert_eq!(
            (w[1].start, w[1].count, w[1].increase, w[1].resets),
            (300_000, 3, 4.0, 1)
        );
        assert_eq!(
            (w[1].first, w[1].last, w[1].min, w[1].max),
            ((300_000, 7.0), (500_000, 4.0), 2.0, 7.0)
        );
        assert_eq!((w[1].sum, w[1].sumsq), (13.0, 69.0));
        let h = windows(&s, 3_600_000);
        assert_eq!(
            (h.len(), h[0].increase, h[0].resets),
            (1, 8.0 + 2.0, 1),
            "5-1, 7-5, reset to 2, 4-2"
        );
    }

    #[test]
    fn decimal_sums_are_exact() {
        let w = &windows(&[(0, 0.1), (1, 0.2), (2, 0.15)], 300_000)[0];
        // Float accumulation gives 0.45000000000000007: 8 bytes in a column instead of 1.
        assert_eq!(
            (w.sum, w.sumsq, w.increase),
            (0.45, 0.0725, 0.25),
            "0.1, then reset to 0.15"
        );
        let w = &windows(&[(0, 0.1), (1, f64::NAN)], 300_000)[0];
        assert!(w.sum.is_nan(), "non-decimals keep the accumulated sums");
        let w = &windows(&[(0, 1e300), (1, 1e300)], 300_000)[0];
        assert_eq!(w.sum, 2e300, "too large for exact integers: accumulated");
    }

    #[test]
    fn negative_times_align_to_the_epoch() {
        let w = windows(&[(-1, 1.0), (0, 2.0)], 300_000);
        assert_eq!((w[0].start, w[1].start), (-300_000, 0));
    }

    fn series() -> impl Strategy<Value = Vec<(i64, f64)>> {
        proptest::collection::vec(
            (
                1i64..200_000,
                prop_oneof![
                    8 => (-100_000i64..100_000).prop_map(|m| m as f64 / 100.0),
                    1 => any::<f64>(),
                ],
            ),
            1..400,
        )
        .prop_map(|steps| {
            let mut t = -3_600_000;
            steps
                .into_iter()
                .map(|(d, v)| {
                    t += d;
                    (t, v)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn rollups_round_trip(samples in series()) {
            let mut b = Vec::new();
            encode_series(&samples, &RESOLUTIONS, &mut b);
            for len in RESOLUTIONS {
                let want = windows(&samples, len);
                let got = decode_series(&b, len).unwrap();
                prop_assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(&want) {
                    // NaN != NaN: compare printed fields, and sketches by their bytes (the decoded
                    // sketch takes the window's min and max, which may differ in the sign of a zero
                    // or by an infinity the sketch does not hold).
                    let fields = |w: &Window| format!("{:?}", (w.start, w.count, w.sum, w.sumsq, w.min, w.max, w.first, w.last, w.increase, w.resets));
                    prop_assert_eq!(fields(g), fields(w));
                    let (mut gb, mut wb) = (Vec::new(), Vec::new());
                    g.sketch.encode(&mut gb);
                    w.sketch.encode(&mut wb);
                    prop_assert_eq!(gb, wb);
                }
                let n: u64 = got.iter().map(|w| w.count).sum();
                prop_assert_eq!(n, samples.len() as u64);
            }
            prop_assert!(decode_series(&b, 60_000).unwrap().is_empty());
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            for len in RESOLUTIONS {
                let _ = decode_series(&bytes, len);
            }
        }
    }
}
