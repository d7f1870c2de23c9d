//! Range functions answered from rollups against the same functions over raw samples: a storage
//! that builds whole windows from its samples (leaving some out, as a database does for windows
//! a late write or the head made incomplete) and returns raw samples only where the contract
//! requires them, on random data with gaps, counter resets, NaNs and stale markers.

use foresight_promql::{
    Engine, EngineOptions, LabelMatcher, Labels, MemStorage, RollupSeries, RollupWindow, Samples, Storage,
    StorageError, Value, stale_nan,
};
use foresight_sketch::RELATIVE_ERROR;
use proptest::prelude::*;

/// Rollups of `len` ms computed from a [`MemStorage`]; a window is left out when its start's
/// hash says so (`drop_one_in`), or when it holds a NaN or a stale marker.
struct RollupMem {
    mem: MemStorage,
    len: i64,
    drop_one_in: u64,
}

fn window(len: i64, part: &[(i64, f64)]) -> Option<RollupWindow> {
    if part.iter().any(|p| !p.1.is_finite()) {
        return None;
    }
    RollupWindow::of(len, part)
}

impl Storage for RollupMem {
    fn select(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<foresight_promql::Series>, StorageError> {
        self.mem.select(matchers, mint, maxt)
    }

    fn rollup_lengths(&self) -> Vec<i64> {
        vec![self.len]
    }

    fn select_rollups(
        &self,
        matchers: &[LabelMatcher],
        len: i64,
        mint: i64,
        maxt: i64,
        raw: &[(i64, i64)],
    ) -> Result<Vec<RollupSeries>, StorageError> {
        assert_eq!(len, self.len);
        assert!(
            raw.windows(2).all(|w| w[0].1 < w[1].0),
            "raw spans sorted and disjoint: {raw:?}"
        );
        let mut out = Vec::new();
        for s in self.mem.select(matchers, mint, maxt)? {
            let mut windows = Vec::new();
            let mut i = 0;
            while let Some(&(t, _)) = s.samples.get(i) {
                let start = t.div_euclid(len) * len;
                let j = i + s.samples[i..].partition_point(|p| p.0 < start + len);
                let keep = start >= mint
                    && start + len - 1 <= maxt
                    && (self.drop_one_in == 0 || (start / len).unsigned_abs() % self.drop_one_in != 1);
                if keep && let Some(w) = window(len, &s.samples[i..j]) {
                    windows.push(w);
                }
                i = j;
            }
            let in_raw = |t: i64| raw.iter().any(|r| r.0 <= t && t <= r.1);
            let in_window = |t: i64| windows.iter().any(|w: &RollupWindow| w.start <= t && t < w.start + len);
            let samples: Samples = s
                .samples
                .iter()
                .copied()
                .filter(|p| in_raw(p.0) || !in_window(p.0))
                .collect();
            out.push(RollupSeries {
                labels: s.labels,
                windows,
                samples,
            });
        }
        Ok(out)
    }
}

const LEN: i64 = 60_000;

fn data() -> impl Strategy<Value = Vec<Vec<(i64, f64)>>> {
    let series = proptest::collection::vec(
        (
            prop_oneof![6 => 1_000i64..15_000, 1 => 60_000i64..400_000],
            prop_oneof![
                12 => (0i64..5_000).prop_map(|m| m as f64 / 100.0),
                2 => Just(0.0),
                1 => Just(f64::NAN),
                1 => Just(stale_nan()),
                1 => (-5_000i64..0).prop_map(|m| m as f64 / 10.0),
            ],
            any::<bool>(),
        ),
        1..600,
    )
    .prop_map(|steps| {
        let (mut t, mut c) = (-200_000i64, 0.0);
        steps
            .into_iter()
            .map(|(d, v, counter)| {
                t += d;
                // Half the samples climb as a counter (with resets when `v` is small).
                if counter && v.is_finite() && !foresight_promql::is_stale_nan(v) {
                    c = if v < 1.0 { v } else { c + v };
                    (t, c)
                } else {
                    (t, v)
                }
            })
            .collect()
    });
    proptest::collection::vec(series, 1..4)
}

fn storage(data: &[Vec<(i64, f64)>], drop_one_in: u64) -> RollupMem {
    let mut mem = MemStorage::new();
    for (i, s) in data.iter().enumerate() {
        mem.add(
            Labels::new([("__name__", "x"), ("i", i.to_string().as_str())]),
            s.iter().copied(),
        );
    }
    RollupMem {
        mem,
        len: LEN,
        drop_one_in,
    }
}

/// Whether `got` agrees with `want` for `func`: bit for bit, up to float rounding of sums, or
/// within the sketch's bound (relative to the larger neighbouring rank's magnitude).
fn agrees(func: &str, got: f64, want: f64, bound: f64) -> bool {
    if got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()) || got == want {
        return true;
    }
    match func {
        "sum_over_time" | "avg_over_time" | "increase" | "rate" => {
            (got - want).abs() <= 1e-9 * want.abs().max(got.abs()).max(1.0)
        }
        "quantile_over_time" => (got - want).abs() <= bound * (1.0 + 1e-9) + 1e-12,
        _ => false,
    }
}

/// The sketch's bound for `quantile_over_time(q, ...)` of these values: the relative error of
/// the larger of the two ranks interpolated.
fn quantile_bound(q: f64, mut values: Vec<f64>) -> f64 {
    // Prometheus' order: NaN first, then ascending.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.total_cmp(b),
    });
    if values.is_empty() || !(0.0..=1.0).contains(&q) {
        return 0.0;
    }
    let rank = q * (values.len() - 1) as f64;
    let lo = values[rank.floor() as usize].abs();
    let hi = values[(rank.floor() as usize + 1).min(values.len() - 1)].abs();
    if lo.is_nan() || hi.is_nan() {
        return 0.0;
    }
    RELATIVE_ERROR * lo.max(hi)
}

const FUNCS: [&str; 12] = [
    "count_over_time",
    "sum_over_time",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "last_over_time",
    "present_over_time",
    "resets",
    "delta",
    "increase",
    "rate",
    "quantile_over_time",
];

fn query(func: &str, range_s: i64, q: f64) -> String {
    if func == "quantile_over_time" {
        format!("{func}({q}, x[{range_s}s])")
    } else {
        format!("{func}(x[{range_s}s])")
    }
}

fn series_values(v: Value) -> Vec<(String, Vec<(i64, f64)>)> {
    match v {
        Value::Vector(v) => v
            .into_iter()
            .map(|s| (s.labels.to_string(), vec![(s.t, s.v)]))
            .collect(),
        Value::Matrix(m) => m
            .into_iter()
            .map(|s| (s.labels.to_string(), s.samples.to_vec()))
            .collect(),
        other => panic!("unexpected {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn rollup_answers_match_raw_answers(
        data in data(),
        drop_one_in in 0u64..4,
        range_windows in 4i64..40,
        range_extra in prop_oneof![Just(0i64), 0i64..LEN],
        at in 0i64..2_000_000,
        q in prop_oneof![Just(0.99), Just(0.5), 0.0f64..1.0, Just(1.0), Just(0.0)],
        range_steps in 0i64..6,
        step_windows in 1i64..3,
    ) {
        let st = storage(&data, drop_one_in);
        let rollups = Engine::new(EngineOptions::default());
        let raw = Engine::new(EngineOptions { rollups: false, ..EngineOptions::default() });
        let range_ms = range_windows * LEN + range_extra / 1000 * 1000;
        let range_s = range_ms / 1000;
        let at = at / 1000 * 1000;
        for func in FUNCS {
            let text = query(func, range_s, q);
            let (got, want) = if range_steps == 0 {
                (rollups.instant_query(&st, &text, at).unwrap(), raw.instant_query(&st, &text, at).unwrap())
            } else {
                let (start, end, step) = (at, at + range_steps * step_windows * LEN, step_windows * LEN);
                (
                    rollups.range_query(&st, &text, start, end, step).unwrap(),
                    raw.range_query(&st, &text, start, end, step).unwrap(),
                )
            };
            let sketched = !got.infos.is_empty();
            prop_assert!(want.infos.is_empty());
            prop_assert!(!sketched || func == "quantile_over_time", "{} has infos {:?}", text, got.infos);
            let (got, want) = (series_values(got.value), series_values(want.value));
            prop_assert_eq!(got.len(), want.len(), "{}: {:?} vs {:?}", text, got, want);
            for ((gl, gs), (wl, ws)) in got.iter().zip(&want) {
                prop_assert_eq!(gl, wl);
                prop_assert_eq!(gs.len(), ws.len(), "{} {}: {:?} vs {:?}", text, gl, gs, ws);
                for (&(gt, gv), &(wt, wv)) in gs.iter().zip(ws) {
                    prop_assert_eq!(gt, wt);
                    let bound = if func == "quantile_over_time" {
                        let i: usize = gl.trim_start_matches("{i=\"").trim_end_matches("\"}").parse().unwrap();
                        let vals: Vec<f64> = data[i]
                            .iter()
                            .filter(|p| p.0 > gt - range_ms && p.0 <= gt && !foresight_promql::is_stale_nan(p.1))
                            .map(|p| p.1)
                            .collect();
                        quantile_bound(q, vals)
                    } else {
                        0.0
                    };
                    prop_assert!(agrees(func, gv, wv, bound), "{} at {} for {}: rollups {} raw {} (bound {})", text, gt, gl, gv, wv, bound);
                }
            }
        }
    }
}

#[test]
fn raw_option_and_short_ranges_read_samples_only() {
    let data: Vec<Vec<(i64, f64)>> = vec![(0..2_000).map(|i| (i * 10_000, (i % 97) as f64 + 1.0)).collect()];
    let st = storage(&data, 0);
    let e = Engine::new(EngineOptions::default());
    let r = e
        .instant_query(&st, "quantile_over_time(0.9, x[3h])", 19_990_000)
        .unwrap();
    assert_eq!(r.infos.len(), 1, "sketches used: {:?}", r.infos);
    assert!(r.infos[0].contains("0.54%"));
    assert!(r.stats.samples_scanned < 200, "windows and edges only: {:?}", r.stats);
    let c = e.instant_query(&st, "count_over_time(x[3h])", 19_990_000).unwrap();
    assert!(c.infos.is_empty(), "exact answers carry no info");
    assert_eq!(series_values(c.value)[0].1[0].1, 1_080.0);
    let raw = Engine::new(EngineOptions {
        rollups: false,
        ..EngineOptions::default()
    });
    let r = raw
        .instant_query(&st, "quantile_over_time(0.9, x[3h])", 19_990_000)
        .unwrap();
    assert!(r.infos.is_empty());
    assert_eq!(r.stats.samples_scanned, 1_080);
    let short = e
        .instant_query(&st, "quantile_over_time(0.9, x[3m])", 19_990_000)
        .unwrap();
    assert!(short.infos.is_empty(), "3 windows: raw");
}
