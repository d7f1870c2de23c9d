//! Property: a range query at step s gives, at every step, exactly what an instant query at that
//! step gives.

use std::collections::BTreeMap;

use foresight_promql::{Engine, Labels, MemStorage, Value, stale_nan};
use proptest::prelude::*;

const QUERIES: &[&str] = &[
    "m",
    "m offset 1m",
    "rate(m[2m])",
    "increase(m[90s])",
    "delta(m[3m])",
    "irate(m[2m])",
    "idelta(m[2m])",
    "deriv(m[3m])",
    "predict_linear(m[3m], 60)",
    "resets(m[5m])",
    "changes(m[5m])",
    "avg_over_time(m[3m])",
    "sum_over_time(m[2m])",
    "min_over_time(m[1m])",
    "max_over_time(m[4m])",
    "count_over_time(m[2m])",
    "last_over_time(m[2m])",
    "stddev_over_time(m[5m])",
    "quantile_over_time(0.7, m[4m])",
    "quantile_over_time(0.25, m[30s])",
    "quantile_over_time(0.99, m[10m])",
    "quantile_over_time(0.01, m[7m])",
    "quantile_over_time(0.5, m[10m])",
    "mad_over_time(m[3m])",
    "absent_over_time(m{g=\"a\"}[1m])",
    "sum by (g) (m)",
    "avg without (i) (m)",
    "quantile(0.3, m)",
    "stddev(m)",
    "topk(2, m)",
    "bottomk by (g) (1, m)",
    "count_values(\"v\", round(m))",
    "m > 0.5",
    "m > bool 0.5",
    "sum(m) - min(m)",
    "m * on(g) group_left max by (g) (m)",
    "m and m > 0.3",
    "m unless m < 0.3",
    "m or vector(1)",
    "max_over_time(rate(m[2m])[5m:30s])",
    "sum_over_time(m[3m:1m] offset 30s)",
    "timestamp(m)",
    "label_replace(m, \"x\", \"$1\", \"g\", \"(.)\")",
    "absent(m{g=\"zz\"})",
    "scalar(sum(m)) + 1",
    "clamp(m, 0.2, 0.8)",
    "histogram_quantile(0.9, label_replace(m, \"le\", \"$1\", \"i\", \"(.*)\"))",
];

fn arb_series() -> impl Strategy<Value = Vec<(i64, f64)>> {
    // Irregular timestamps (10 s .. 100 s apart), values in [0, 1) with occasional resets to 0,
    // stale markers and NaN.
    prop::collection::vec((1i64..10, 0u32..100, 0u32..100), 0..40).prop_map(|steps| {
        let mut t = 0i64;
        let mut out = Vec::new();
        for (dt, v, kind) in steps {
            t += dt * 10_000;
            let v = match kind {
                0..=3 => stale_nan(),
                4 => f64::NAN,
                5..=8 => 0.0,
                _ => f64::from(v) / 100.0,
            };
            out.push((t, v));
        }
        out
    })
}

fn check(v: &Value, t: i64) -> Result<BTreeMap<Labels, f64>, String> {
    match v {
        Value::Vector(s) => Ok(s.iter().map(|x| (x.labels.clone(), x.v)).collect()),
        Value::Scalar { v, .. } => Ok([(Labels::empty(), *v)].into_iter().collect()),
        other => Err(format!("unexpected instant result at {t}: {other:?}")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn range_equals_instants(
        series in prop::collection::vec(arb_series(), 1..5),
        qi in 0usize..QUERIES.len(),
        start in 0i64..300,
        step in prop::sample::select(vec![5i64, 15, 30, 60, 90, 240]),
        steps in 1i64..40,
    ) {
        let mut db = MemStorage::new();
        for (i, s) in series.into_iter().enumerate() {
            let g = if i % 2 == 0 { "a" } else { "b" };
            db.add(Labels::new([("__name__", "m".to_string()), ("g", g.to_string()), ("i", i.to_string())]), s);
        }
        let q = QUERIES[qi];
        let engine = Engine::default();
        let (start, step) = (start * 1000, step * 1000);
        let end = start + (steps - 1) * step;
        let range = engine.range_query(&db, q, start, end, step);
        let range = match range {
            Ok(r) => r,
            Err(e) => {
                // Errors (e.g. duplicate label sets) must then also occur at some instant.
                let any_err = (0..steps).any(|k| engine.instant_query(&db, q, start + k * step).is_err());
                prop_assert!(any_err, "range failed with {e} but every instant succeeded for {q}");
                return Ok(());
            }
        };
        let Value::Matrix(m) = range.value else {
            return Err(TestCaseError::fail("range query did not give a matrix"));
        };
        for k in 0..steps {
            let t = start + k * step;
            let inst = engine.instant_query(&db, q, t).map_err(|e| TestCaseError::fail(format!("{q} at {t}: {e}")))?;
            let want = check(&inst.value, t).map_err(TestCaseError::fail)?;
            let got: BTreeMap<Labels, f64> = m
                .iter()
                .filter_map(|s| s.samples.iter().find(|p| p.0 == t).map(|p| (s.labels.clone(), p.1)))
                .collect();
            prop_assert_eq!(want.len(), got.len(), "{} at {}: instant {:?} range {:?}", q, t, want, got);
            for (l, w) in &want {
                let g = got.get(l);
                prop_assert!(
                    g.is_some_and(|g| g == w || (g.is_nan() && w.is_nan())),
                    "{} at {}: {} instant {} range {:?}", q, t, l, w, g
                );
            }
        }
    }
}
